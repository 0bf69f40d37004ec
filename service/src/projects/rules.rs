//! The pure rules of a project: what a title and a body may be, and how a
//! slug is made. No database, no files: unit-tested below.

use md5::{Digest, Md5};
use rand::Rng;
use serde::de::IgnoredAny;

use crate::error::{Code, Error, Result};
use crate::text::TextRule;
use crate::Ctx;

const TITLE: TextRule = TextRule::required("title", 200);
const MAX_SLUG_CHARS: usize = 60;

/// The title of a project created without one.
pub const DEFAULT_TITLE: &str = "Untitled";

/// A title, trimmed: 1–200 characters, no control characters.
pub fn check_title(title: &str) -> Result<String> {
    let title = title.trim();
    TITLE.check(title)?;
    Ok(title.to_owned())
}

/// A body within the configured size limit that is a JSON object (the
/// Scratch project). Checked without building a tree of the (up to 10 MiB)
/// document: `IgnoredAny` only validates the syntax.
pub fn check_body(ctx: &Ctx, body: &[u8]) -> Result<()> {
    if body.len() as u64 > ctx.settings.max_body_bytes {
        return Err(Error::TooLarge {
            limit: ctx.settings.max_body_bytes,
        });
    }
    check_project_json(body)
}

/// Is `body` one JSON object (and nothing else)?
pub fn check_project_json(body: &[u8]) -> Result<()> {
    let starts_with_brace = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if starts_with_brace && serde_json::from_slice::<IgnoredAny>(body).is_ok() {
        return Ok(());
    }
    Err(Error::invalid(
        Code::InvalidInput,
        "the body must be the Scratch project JSON (an object)",
    ))
}

pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// `My Game!` → `my-game`; never empty.
pub fn slug_base(title: &str) -> String {
    let mut slug = String::new();
    for c in title.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let mut slug: String = slug
        .trim_matches('-')
        .chars()
        .take(MAX_SLUG_CHARS)
        .collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        "project".to_owned()
    } else {
        slug
    }
}

/// The first try is the bare slug; later ones add a random suffix, so
/// racing creates with one title do not all fight over `-2`.
pub fn slug_candidate(base: &str, attempt: usize) -> String {
    if attempt == 0 {
        return base.to_owned();
    }
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let suffix: String = (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{base}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_ascii_words_joined_by_dashes() {
        let cases = [
            ("My Game!", "my-game"),
            ("  --Hello,   World--  ", "hello-world"),
            ("Pong 2", "pong-2"),
            ("Über Spiel", "ber-spiel"),
            ("日本語", "project"),
            ("", "project"),
            ("!!!", "project"),
            ("../../etc/passwd", "etc-passwd"),
            ("<script>alert(1)</script>", "script-alert-1-script"),
            ("a\u{0}b\nc", "a-b-c"),
        ];
        for (title, slug) in cases {
            assert_eq!(slug_base(title), slug, "{title:?}");
        }
    }

    #[test]
    fn slugs_are_at_most_sixty_characters_and_never_end_in_a_dash() {
        let long = "ab ".repeat(100);
        let slug = slug_base(&long);
        assert!(slug.len() <= MAX_SLUG_CHARS, "{slug}");
        assert!(!slug.ends_with('-'), "{slug}");
    }

    #[test]
    fn later_slug_candidates_add_a_six_letter_suffix() {
        assert_eq!(slug_candidate("game", 0), "game");
        let next = slug_candidate("game", 1);
        let suffix = next.strip_prefix("game-").unwrap_or_default();
        assert_eq!(suffix.len(), 6, "{next}");
        assert!(suffix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    }

    #[test]
    fn titles_are_trimmed_and_checked() {
        assert_eq!(check_title("  Pong  ").ok().as_deref(), Some("Pong"));
        for bad in ["", "   ", "a\nb", &"x".repeat(201)] {
            let err = check_title(bad).unwrap_err();
            assert_eq!(err.code(), Code::InvalidInput, "{bad:?}");
        }
        assert!(check_title(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn only_a_json_object_is_a_project_body() {
        let ok: &[&[u8]] = &[b"{}", b"  {\"targets\": []}\n", b"{\"a\": {\"b\": [1, 2]}}"];
        for body in ok {
            assert!(
                check_project_json(body).is_ok(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let bad: &[&[u8]] = &[
            b"",
            b"   ",
            b"[]",
            b"null",
            b"\"{}\"",
            b"42",
            b"{",
            b"{} {}",
            b"{}x",
            b"{\"a\": }",
            b"\xef\xbb\xbf{}", // a byte-order mark is not JSON
        ];
        for body in bad {
            let err = check_project_json(body).unwrap_err();
            assert_eq!(
                err.code(),
                Code::InvalidInput,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
