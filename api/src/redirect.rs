//! What a redirect target may be: a path on this site. One function decides
//! it for every `Location` cubby builds from input (`return_to`, logout's
//! `next`), so a browser is never sent to another origin.

/// Longest redirect target accepted.
const MAX_LEN: usize = 2000;

/// How many rounds of percent-decoding are checked (`%252F` is `%2F` after
/// one, `/` after two): a target must be safe in every one.
const DECODE_ROUNDS: usize = 3;

/// A path on this site: it starts with exactly one `/`, and neither it nor
/// any percent-decoding of it holds a `\`, a control character (tab, CR, LF
/// — which browsers strip, turning `/\t/evil` into `//evil`) or a space, or
/// starts with `//`. Everything else is refused, however a browser would
/// read it.
pub fn is_same_origin_path(target: &str) -> bool {
    if target.len() > MAX_LEN {
        return false;
    }
    let mut form = target.to_owned();
    for _ in 0..DECODE_ROUNDS {
        if !is_plain_local_path(&form) {
            return false;
        }
        let decoded = percent_decode(&form);
        if decoded == form {
            return true;
        }
        form = decoded;
    }
    is_plain_local_path(&form)
}

fn is_plain_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path
            .chars()
            .any(|c| c == '\\' || c == ' ' || c.is_control() || c.is_whitespace())
}

/// One round of `%XX` decoding; bytes that do not decode stay as they are,
/// and a result that is not UTF-8 is kept lossily (its replacement
/// characters are no separators).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_on_this_site_are_accepted() {
        for ok in [
            "/",
            "/editor?project=12",
            "/home/copy/3",
            "/a/b/c#frag",
            "/search?q=a%26b",
            "/%7Euser",
            "/caf%C3%A9",
        ] {
            assert!(is_same_origin_path(ok), "{ok:?}");
        }
    }

    #[test]
    fn hostile_targets_are_refused() {
        let long = format!("/{}", "a".repeat(MAX_LEN));
        for bad in [
            "",
            "editor",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "/\r\nSet-Cookie: x=1",
            "/%0d%0aSet-Cookie:%20x=1",
            "/%0A",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%252F/evil.example",
            "/%25252F/evil.example",
            "/%5Cevil.example",
            "/ /evil.example",
            "/%20/evil.example",
            "/\u{a0}x",
            "/\u{2028}x",
            "/\u{0}",
            "javascript:alert(1)",
            "https://evil.example/",
            " /editor",
            long.as_str(),
        ] {
            assert!(!is_same_origin_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn decoding_leaves_broken_escapes_alone() {
        assert_eq!(percent_decode("/a%2"), "/a%2");
        assert_eq!(percent_decode("/a%zz"), "/a%zz");
        assert_eq!(percent_decode("/a%41"), "/aA");
        assert!(is_same_origin_path("/a%zz"));
    }
}
