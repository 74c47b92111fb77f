//! Where a sign-in may send the browser next (`/login?next=…`): only a path on this server.
//!
//! Browsers are generous readers of a `Location`: they drop tab, CR and LF anywhere in it
//! (`/\t/evil.example` becomes `//evil.example`, another host), read `\` as `/`, and a proxy
//! or a later page may decode `%2F` / `%5C` once more. So a target is accepted only when it,
//! and every percent-decoding of it, is an origin-relative path: it starts with one `/` (not
//! `//`), and holds no `\` and no control character. Anything else goes to `/`. What is
//! returned is always a valid header value (CR/LF in `next=` once made the redirect fail with
//! a 500), with spaces and non-ASCII characters percent-encoded.

/// The longest `next` followed; longer ones go to `/`.
const MAX_LEN: usize = 2048;
/// Percent-decodings checked beyond the value as received.
const DECODE_ROUNDS: usize = 3;

/// `next` (already decoded once from the query or form) if it stays on this origin, else `/`.
pub fn safe_next(next: Option<&str>) -> String {
    let Some(next) = next.filter(|n| !n.is_empty() && n.len() <= MAX_LEN) else {
        return "/".to_owned();
    };
    let mut layer = next.to_owned();
    for _ in 0..=DECODE_ROUNDS {
        if !is_local_path(&layer) {
            return "/".to_owned();
        }
        let decoded = percent_decode_path(&layer);
        if decoded == layer {
            break;
        }
        layer = decoded;
    }
    encode_for_location(next)
}

/// One `/`, then anything but a second leading `/`, a `\` or a control character.
fn is_local_path(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/'))
        && !s.chars().any(|c| c == '\\' || c.is_control())
}

/// `%XX` → byte (a `+` stays a `+`: in a path it is no space); invalid escapes kept as sent.
fn percent_decode_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Printable ASCII stays (existing `%XX` escapes included); space, `"`, `<`, `>`, `` ` ``, `{`,
/// `|`, `}`, `^` and every non-ASCII byte are percent-encoded.
fn encode_for_location(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_graphic() && !b"\"<>`{|}^".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_kept() {
        for ok in [
            "/",
            "/jobs/0190c2a0-0000-7000-8000-000000000001",
            "/onboard?scope=tenant&x=a%26b",
            "/bulk#top",
            "/audit?q=50%25",
        ] {
            assert_eq!(safe_next(Some(ok)), ok, "{ok:?}");
        }
        assert_eq!(safe_next(Some("/a b/é")), "/a%20b/%C3%A9");
    }

    #[test]
    fn everything_else_goes_home() {
        for bad in [
            "",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example/x",
            "/\n/evil.example",
            "/\r\nSet-Cookie: x=1",
            "/ok\r\nLocation: https://evil.example",
            "/\u{0}/evil.example",
            "/\u{7f}x",
            "/\u{85}x",
            "https://evil.example",
            "http:/evil.example",
            "javascript:alert(1)",
            "evil.example",
            " /x",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%09/evil.example",
            "/%0d%0aSet-Cookie:x",
            "/%252F/evil.example",
            "/%25252F%25252Fevil.example",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(MAX_LEN)))), "/");
    }

    #[test]
    fn the_answer_is_always_a_header_value() {
        for s in ["/a\u{7f}", "/ä", "/\"<x>", "/x y"] {
            let next = safe_next(Some(s));
            assert!(axum::http::HeaderValue::from_str(&next).is_ok(), "{next:?}");
            assert!(next.starts_with('/') && !next.starts_with("//"));
        }
    }
}
