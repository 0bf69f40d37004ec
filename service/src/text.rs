//! The one set of rules for short texts people type: titles, names,
//! usernames, group names. Control characters are refused everywhere (they
//! break logs, headers and pages); lengths are counted in characters.

use crate::error::{Code, Error, Result};

/// How a text field may look.
#[derive(Clone, Copy, Debug)]
pub struct TextRule {
    /// The field's name in error messages (`title`, `groups[].name`, …).
    pub field: &'static str,
    pub max_chars: usize,
    /// Whether an empty (or all-blank) value is allowed.
    pub allow_empty: bool,
}

impl TextRule {
    pub const fn required(field: &'static str, max_chars: usize) -> Self {
        Self {
            field,
            max_chars,
            allow_empty: false,
        }
    }

    pub const fn optional(field: &'static str, max_chars: usize) -> Self {
        Self {
            field,
            max_chars,
            allow_empty: true,
        }
    }

    /// Checks `value`; the error is `invalid_input` naming the field.
    pub fn check(&self, value: &str) -> Result<()> {
        let field = self.field;
        if !self.allow_empty && value.trim().is_empty() {
            return Err(invalid(format!("{field} must not be empty")));
        }
        if value.chars().count() > self.max_chars {
            let max = self.max_chars;
            return Err(invalid(format!("{field} is longer than {max} characters")));
        }
        if value.chars().any(char::is_control) {
            return Err(invalid(format!("{field} contains control characters")));
        }
        Ok(())
    }
}

fn invalid(detail: String) -> Error {
    Error::invalid(Code::InvalidInput, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_text_refuses_empty_long_and_control_characters() {
        let rule = TextRule::required("title", 5);
        let cases: &[(&str, bool)] = &[
            ("Game", true),
            ("Spiel", true),
            ("ÄÖÜßé", true), // five characters, ten bytes
            ("", false),
            ("   ", false),
            ("Games!", false),
            ("a\nb", false),
            ("a\tb", false),
            ("a\u{0}b", false),
            ("a\u{7f}", false),
            ("\u{1b}[31m", false),
        ];
        for (value, ok) in cases {
            assert_eq!(rule.check(value).is_ok(), *ok, "{value:?}");
        }
    }

    #[test]
    fn optional_text_allows_empty_but_not_control_characters() {
        let rule = TextRule::optional("name", 3);
        assert!(rule.check("").is_ok());
        assert!(rule.check("abc").is_ok());
        assert!(rule.check("abcd").is_err());
        assert!(rule.check("\r").is_err());
    }

    #[test]
    fn the_error_names_the_field() {
        let err = TextRule::required("groups[].name", 3)
            .check("")
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidInput);
        assert_eq!(err.to_string(), "groups[].name must not be empty");
    }
}
