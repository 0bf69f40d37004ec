//! The regular expressions (ECMA-262, as JSON Schema's `pattern` reads them)
//! that say in the OpenAPI document what the server checks: exactly the
//! strings a rule in `service` accepts, no more and no fewer, so that a
//! client generated from the document — or a fuzzer — sends what the server
//! takes. Each is unit-tested against the rule it mirrors.

/// Unicode general category Cc, Rust's `char::is_control`: what
/// `service::text::TextRule` refuses everywhere.
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";

/// Unicode `White_Space`, what `str::trim` strips (and what makes a text
/// "blank"), less the characters already in [`CONTROL`].
const SPACE: &str = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// All of Unicode `White_Space`, control characters among them.
const WHITESPACE: &str = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// One character a text may hold: anything but a control character.
fn text_char() -> String {
    format!("[^{CONTROL}]")
}

/// One character that is neither a control character nor whitespace.
fn visible_char() -> String {
    format!(r"[^{CONTROL}{SPACE}]")
}

/// `TextRule::required`: not blank, no control characters (the length is
/// the schema's `maxLength`; nothing is trimmed).
pub fn required_text() -> String {
    let t = text_char();
    format!("^{t}*{}{t}*$", visible_char())
}

/// Text that may span lines (assignment instructions, feedback): no control
/// characters but tab, line feed and carriage return (may be empty).
pub fn multiline_text() -> String {
    r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$".to_owned()
}

/// `TextRule::optional`: no control characters (may be empty).
pub fn optional_text() -> String {
    format!("^{}*$", text_char())
}

/// A title as `service::projects::check_title` takes it: trimmed of
/// whitespace, then 1–`max` characters without control characters.
pub fn trimmed_text(max: usize) -> String {
    let w = format!("[{WHITESPACE}]");
    let v = visible_char();
    let inner = max.saturating_sub(2);
    format!("^{w}*{v}({}{{0,{inner}}}{v})?{w}*$", text_char())
}

/// Like [`trimmed_text`], but a blank value (taken as "none") is allowed.
pub fn trimmed_text_or_blank(max: usize) -> String {
    let w = format!("[{WHITESPACE}]");
    let v = visible_char();
    let inner = max.saturating_sub(2);
    format!("^{w}*({v}({}{{0,{inner}}}{v})?{w}*)?$", text_char())
}

/// A comma-separated list as the home page's login form reads its groups:
/// each item trimmed, blank items skipped, the others 1–`max` characters
/// without control characters (and without commas: they separate).
pub fn comma_list(max: usize) -> String {
    let w = format!("[{WHITESPACE}]");
    let v = format!(r"[^{CONTROL}{SPACE},]");
    let t = format!("[^{CONTROL},]");
    let inner = max.saturating_sub(2);
    let item = format!("{w}*({v}({t}{{0,{inner}}}{v})?{w}*)?");
    format!("^{item}(,{item})*$")
}

/// The decimal numbers 0..=`max`, with any number of leading zeros, as
/// `str::parse::<u64>()` reads them (without the sign).
pub fn decimal_up_to(max: u64) -> String {
    let digits: Vec<u32> = max
        .to_string()
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    let n = digits.len();
    let mut branches = Vec::new();
    if n > 1 {
        branches.push(format!("[0-9]{{1,{}}}", n - 1));
    }
    // Same length as `max`: a prefix of it, one smaller digit, then anything.
    let mut prefix = String::new();
    for (i, d) in digits.iter().enumerate() {
        let rest = n - i - 1;
        if *d > 0 {
            let smaller = if *d == 1 {
                "0".to_owned()
            } else {
                format!("[0-{}]", d - 1)
            };
            let tail = match rest {
                0 => String::new(),
                1 => "[0-9]".to_owned(),
                r => format!("[0-9]{{{r}}}"),
            };
            branches.push(format!("{prefix}{smaller}{tail}"));
        }
        prefix.push(char::from_digit(*d, 10).unwrap_or('0'));
    }
    branches.push(prefix);
    format!("0*({})", branches.join("|"))
}

/// A page cursor (`service::page::parse_cursor`): empty (the first page) or
/// a number 0..=2^63−1 as `i64` parses it (a `+` may lead, and zero may be
/// `-0`).
pub fn cursor() -> String {
    format!(r"^(\+?{}|-0+)?$", decimal_up_to(i64::MAX.unsigned_abs()))
}

/// `If-Match` as `extract::IfMatch` reads it: `*`, or a project version
/// (an `i32`), optionally quoted and optionally weak.
pub fn if_match() -> String {
    let positive = format!(r"\+?{}", decimal_up_to(i32::MAX.unsigned_abs().into()));
    let negative = format!("-{}", decimal_up_to(i32::MIN.unsigned_abs().into()));
    let version = format!("({positive}|{negative})");
    format!(r#"^[ \t]*(\*|(W/)?("{version}"|{version}))[ \t]*$"#)
}

/// `Idempotency-Key` (`service::idempotency::check_key`): 1–255 visible
/// ASCII characters (the header's surrounding blanks are not part of it).
pub fn idempotency_key() -> String {
    r"^[ \t]*[!-~]{1,255}[ \t]*$".to_owned()
}

/// One extension, matched case-insensitively (`jpg` → `[jJ][pP][gG]`).
fn any_case(ext: &str) -> String {
    ext.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `{md5}.{ext}` as `service::assets::AssetName` parses it, for the given
/// extensions (case-insensitive; the md5 is lowercase hex).
pub fn asset_name(exts: &[&str]) -> String {
    let exts: Vec<String> = exts.iter().map(|e| any_case(e)).collect();
    format!(r"^[0-9a-f]{{32}}\.({})$", exts.join("|"))
}

/// Canonical base64 (the standard alphabet, padded, no stray bits), as the
/// backpack decodes it: what follows a complete group.
const BASE64_TAIL: &str =
    "([A-Za-z0-9+/]{4})*([A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?";

/// A backpack `body`: base64, optionally after a `data:…;base64,` prefix,
/// with surrounding whitespace allowed.
pub fn base64() -> String {
    let w = format!("[{WHITESPACE}]");
    format!(r"^([\s\S]*;base64,)?{w}*{BASE64_TAIL}{w}*$")
}

/// A backpack `thumbnail`: base64 (as [`base64()`]) of bytes that start like a
/// JPEG (`FF D8 FF`) or a PNG (`89 50 4E 47 0D 0A 1A 0A`).
pub fn image_base64() -> String {
    let w = format!("[{WHITESPACE}]");
    // JPEG: the three magic bytes are exactly the group `/9j/`. PNG: eight
    // bytes are `iVBORw0KGg` and two more characters: `o=` when nothing
    // follows, else one of `o`–`r` (the next byte's top bits) and any
    // character, then whole groups.
    let jpeg = format!("/9j/{BASE64_TAIL}");
    let png = format!("iVBORw0KGg(o=|[o-r][A-Za-z0-9+/]{BASE64_TAIL})");
    format!(r"^([\s\S]*;base64,)?{w}*({jpeg}|{png}){w}*$")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use regex::Regex;

    fn re(pattern: &str) -> Regex {
        Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
    }

    /// Strings that probe every rule: blanks, controls at the edges and
    /// inside, Unicode spaces, lengths at and past the limits.
    fn texts() -> Vec<String> {
        let mut out: Vec<String> = [
            "",
            " ",
            "a",
            " a ",
            "\ta\n",
            "a\tb",
            "a\u{0}",
            "\u{0}",
            "\u{7f}",
            "\u{85}a",
            "\u{a0}",
            "\u{a0}a\u{3000}",
            "\u{2028}",
            "a\u{2009}b",
            "\u{feff}",
            "\u{200b}",
            "Ünïcødé 🐱",
            "\u{1b}[31m",
            "x\u{9f}",
            " \u{1680} ",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for n in [63, 64, 65, 198, 199, 200, 201, 254, 255, 256] {
            out.push("é".repeat(n));
            out.push(format!(" {} ", "x".repeat(n)));
            out.push(format!("\t{}\t", "x".repeat(n)));
        }
        out
    }

    #[test]
    fn text_patterns_accept_exactly_what_the_text_rules_accept() {
        use service::text::TextRule;
        for max in [64, 255] {
            let rule = TextRule::required("x", max);
            let pattern = re(&required_text());
            for t in texts() {
                let doc = pattern.is_match(&t) && t.chars().count() <= max;
                assert_eq!(doc, rule.check(&t).is_ok(), "required({max}) {t:?}");
            }
        }
        let rule = TextRule::optional("x", 255);
        let pattern = re(&optional_text());
        for t in texts() {
            let doc = pattern.is_match(&t) && t.chars().count() <= 255;
            assert_eq!(doc, rule.check(&t).is_ok(), "optional {t:?}");
        }
    }

    #[test]
    fn the_multiline_pattern_refuses_control_characters_but_line_breaks_and_tabs() {
        // The rule of `service::assignments` for instructions and feedback.
        let allowed = |t: &str| {
            t.chars()
                .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        };
        let pattern = re(&multiline_text());
        let mut samples = texts();
        samples.extend(
            [
                "line one\nline two",
                "a\tb\r\n",
                "bell\u{7}",
                "\u{b}",
                "\u{85}",
                "\u{9f}",
                "\u{a0}",
                "",
            ]
            .map(str::to_owned),
        );
        for t in samples {
            assert_eq!(pattern.is_match(&t), allowed(&t), "{t:?}");
        }
    }

    #[test]
    fn the_title_pattern_is_the_title_rule() {
        let title = re(&trimmed_text(200));
        let title_or_blank = re(&trimmed_text_or_blank(200));
        for t in texts() {
            let ok = service::projects::rules::check_title(&t).is_ok();
            assert_eq!(title.is_match(&t), ok, "{t:?}");
            let blank = t.trim().is_empty();
            assert_eq!(title_or_blank.is_match(&t), ok || blank, "{t:?}");
        }
    }

    #[test]
    fn the_group_list_pattern_is_the_forms_rule() {
        let rule = service::text::TextRule::required("x", 255);
        let pattern = re(&comma_list(255));
        let mut lists: Vec<String> = texts();
        for t in texts() {
            lists.push(format!("7b, {t}"));
            lists.push(format!("{t},,8a"));
        }
        for list in &lists {
            let ok = list
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .all(|g| rule.check(g).is_ok());
            assert_eq!(pattern.is_match(list), ok, "{list:?}");
        }
    }

    #[test]
    fn number_patterns_are_the_ranges_the_parsers_take() {
        let max = i64::MAX.unsigned_abs();
        let pattern = re(&format!("^({})$", decimal_up_to(max)));
        let mut cases: Vec<String> = vec![
            "0".into(),
            "7".into(),
            "000".into(),
            "0009223372036854775807".into(),
        ];
        for n in [
            max,
            max - 1,
            max + 1,
            max / 10,
            u64::MAX,
            9_213_372_036_854_775_807,
            9_223_372_036_854_775_800,
            9_223_372_036_854_775_810,
            1_000_000_000_000_000_000,
            9_999_999_999_999_999_999,
        ] {
            cases.push(n.to_string());
        }
        cases.push("99999999999999999999".into());
        cases.push("10000000000000000000".into());
        for c in &cases {
            let parsed = c.parse::<u64>().is_ok_and(|n| n <= max);
            assert_eq!(pattern.is_match(c), parsed, "{c}");
        }
        for max in [0u64, 1, 9, 10, 100, 2_147_483_647, 2_147_483_648] {
            let pattern = re(&format!("^({})$", decimal_up_to(max)));
            for n in (0..=max.min(300)).chain(max.saturating_sub(300)..=max.saturating_add(300)) {
                assert_eq!(pattern.is_match(&n.to_string()), n <= max, "{n} <= {max}");
            }
        }
    }

    #[test]
    fn the_cursor_pattern_is_the_cursor_parser() {
        let pattern = re(&cursor());
        for c in [
            "",
            "0",
            "42",
            "-1",
            "+1",
            "-0",
            "+0",
            "-000",
            "-01",
            "+-1",
            "1.0",
            " 1",
            "abc",
            "9223372036854775807",
            "9223372036854775808",
            "00000000000000000000001",
        ] {
            let ok = service::page::parse_cursor(Some(c)).is_ok();
            assert_eq!(pattern.is_match(c), ok, "{c:?}");
        }
    }

    #[test]
    fn the_if_match_pattern_is_the_if_match_parser() {
        let pattern = re(&if_match());
        for v in [
            "*",
            "3",
            "\"3\"",
            "W/\"3\"",
            "W/3",
            " \"12\" ",
            "+5",
            "-5",
            "\"-2147483648\"",
            "\"-2147483649\"",
            "2147483647",
            "2147483648",
            "0002147483647",
            "\"3",
            "3\"",
            "W/*",
            "\"\"",
            "",
            "abc",
            "\"3\", \"4\"",
            "W/ \"3\"",
        ] {
            let ok = crate::extract::IfMatch::parse(Some(v.as_bytes())).is_ok();
            assert_eq!(pattern.is_match(v), ok, "{v:?}");
        }
    }

    #[test]
    fn the_idempotency_key_pattern_is_the_key_rule() {
        let pattern = re(&idempotency_key());
        let long = "k".repeat(255);
        let too_long = "k".repeat(256);
        for k in [
            "a",
            "3f1c9a2e",
            "a b",
            "",
            "é",
            "~!",
            long.as_str(),
            too_long.as_str(),
        ] {
            let ok = service::idempotency::check_key(k).is_ok();
            assert_eq!(pattern.is_match(k), ok, "{k:?}");
        }
    }

    #[test]
    fn asset_name_patterns_are_the_name_parser() {
        use service::assets::{AssetName, UPLOADABLE_EXTS};
        let md5 = "0123456789abcdef0123456789abcdef";
        let upload = re(&asset_name(UPLOADABLE_EXTS));
        let mut any_exts = UPLOADABLE_EXTS.to_vec();
        any_exts.push("json");
        let any = re(&asset_name(&any_exts));
        let names = [
            format!("{md5}.svg"),
            format!("{md5}.SVG"),
            format!("{md5}.JpEg"),
            format!("{md5}.sprite3"),
            format!("{md5}.json"),
            format!("{md5}.exe"),
            format!("{md5}."),
            format!("{md5}.svg.svg"),
            format!("{}.svg", md5.to_uppercase()),
            "0123.svg".to_owned(),
            format!("../{md5}.svg"),
            format!("{md5}svg"),
        ];
        for n in &names {
            assert_eq!(
                upload.is_match(n),
                AssetName::parse_uploadable(n).is_ok(),
                "{n}"
            );
            assert_eq!(any.is_match(n), AssetName::parse_any(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn base64_patterns_are_what_the_backpack_decodes() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = re(&base64());
        let image = re(&image_base64());
        let png = b"\x89PNG\r\n\x1a\n";
        let mut cases: Vec<(String, Option<bool>)> = Vec::new();
        for len in 0..12 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            cases.push((b64.encode(&bytes), Some(false)));
            let mut jpeg = vec![0xFF, 0xD8, 0xFF];
            jpeg.extend(&bytes);
            cases.push((b64.encode(&jpeg), Some(true)));
            let mut p = png.to_vec();
            p.extend(&bytes);
            cases.push((b64.encode(&p), Some(true)));
            cases.push((
                format!("data:image/png;base64,{}", b64.encode(&p)),
                Some(true),
            ));
        }
        for bad in [
            "A",
            "AB",
            "ABC",
            "AB=",
            "AB==A",
            "AR==",
            "ABD=",
            "A===",
            "****",
            "iVBORw0KGgp=",
        ] {
            cases.push((bad.to_owned(), None));
        }
        cases.push((" /9j/ ".to_owned(), None));
        for (text, _) in &cases {
            let data = text
                .split_once(";base64,")
                .map_or(text.as_str(), |(_, d)| d);
            let decoded = b64.decode(data.trim());
            assert_eq!(body.is_match(text), decoded.is_ok(), "{text:?}");
            let is_image = decoded
                .as_ref()
                .is_ok_and(|b| b.starts_with(&[0xFF, 0xD8, 0xFF]) || b.starts_with(png));
            assert_eq!(image.is_match(text), is_image, "{text:?}");
        }
    }
}
