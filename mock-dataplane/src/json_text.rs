//! The one JSON string escaper of the crate: every string the mock writes into JSON text by
//! hand (enrichment keys spliced into events, the inspection API's event envelopes, SSE
//! frames) goes through [`push_json_str`].

/// Appends `value` as a JSON string literal. Ids, timestamps and IPs rarely need escaping:
/// they are copied straight in when they don't; otherwise serde_json's escaping is used
/// (`"`, `\`, control characters; everything else stays UTF-8, as Go's encoder leaves it
/// apart from its HTML escapes).
pub(crate) fn push_json_str(out: &mut String, value: &str) {
    if value.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(value.len() + 2);
        out.push('"');
        out.push_str(value);
        out.push('"');
    } else {
        // Serialising a &str cannot fail.
        out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_str(value: &str) -> String {
        let mut out = String::new();
        push_json_str(&mut out, value);
        out
    }

    #[test]
    fn escapes_only_what_json_requires() {
        assert_eq!(json_str("plain-id 1"), r#""plain-id 1""#);
        assert_eq!(json_str("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
        assert_eq!(json_str("é\u{FFFD}"), "\"é\u{FFFD}\"");
        for s in ["", "x\"", "\u{7f}\t", "\u{2028}"] {
            let back: String = serde_json::from_str(&json_str(s)).unwrap();
            assert_eq!(back, s);
        }
    }
}
