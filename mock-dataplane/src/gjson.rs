//! How the gateway reads the fields it checks, reproduced on raw JSON text.
//!
//! rudder-server turns every event into a Go map with gjson (`v.Value().(map[string]any)`,
//! gw `handle.go` `getJobDataFromRequest`) and then derives the ids with
//! `strings.TrimSpace(sanitize.Unicode(stringify.Any(toSet["userId"])))`. Three details of that
//! chain decide whether a request is accepted, and serde_json does each one differently:
//!
//! - **Lone surrogates.** gjson's `unescape` (tidwall/gjson v1.19.0 `gjson.go`) decodes a
//!   `\uD800`-style escape that is not half of a valid pair to U+FFFD, and when a surrogate
//!   escape is followed by another `\u` escape it consumes both into one rune ("we expect it
//!   to be correct so just consume it"), so `"\ud800\u0041"` becomes one U+FFFD and the `A` is
//!   gone. serde_json refuses such strings outright. [`normalize_surrogates`] rewrites the
//!   escapes exactly as gjson decodes them, before any parsing, so both see the same text.
//! - **Numbers** become Go `float64`, and `stringify.Any` prints them with `encoding/json`
//!   (`1.50` → `1.5`, `1e3` → `1000`, huge integers in exponent form, overflow as `+Inf`).
//! - **`sanitize.Unicode`** (rudder-go-kit `sanitize/sanitize.go`) drops every rune Go's
//!   `unicode.IsPrint` rejects plus a list of invisible ones, so an id made only of zero-width
//!   spaces is no id.

use std::borrow::Cow;

/// Rewrites every surrogate escape of `text` the way gjson's `unescape` decodes it: a valid
/// pair stays, anything else becomes `\ufffd` (consuming a directly following `\u` escape,
/// as gjson does). Text without surrogate escapes is returned as is, without copying.
///
/// Outside strings valid JSON has no backslash, so scanning escapes from the start of the
/// text finds exactly the escapes inside strings; invalid JSON stays invalid.
pub(crate) fn normalize_surrogates(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    // Cheap pre-check: no `\uD` / `\ud` anywhere means nothing to do (the usual case).
    if !memchr::memmem::find_iter(bytes, b"\\u")
        .any(|i| matches!(bytes.get(i + 2), Some(b'd' | b'D')))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'\\', &bytes[i..]) {
        let at = i + off;
        match bytes.get(at + 1) {
            Some(b'u') => {}
            Some(_) => {
                i = at + 2;
                continue;
            }
            None => break,
        }
        let Some(first) = hex4(bytes, at + 2) else {
            // Not a valid escape: the JSON check refuses the body anyway.
            i = at + 2;
            continue;
        };
        if !is_surrogate(first) {
            i = at + 6;
            continue;
        }
        // gjson: a surrogate followed by `\u` consumes that escape too, whatever it is.
        let second = (bytes.get(at + 6) == Some(&b'\\') && bytes.get(at + 7) == Some(&b'u'))
            .then(|| hex4(bytes, at + 8))
            .flatten();
        let end = if second.is_some() { at + 12 } else { at + 6 };
        let valid_pair = (0xD800..0xDC00).contains(&first)
            && second.is_some_and(|s| (0xDC00..0xE000).contains(&s));
        if !valid_pair {
            out.push_str(&text[copied..at]);
            out.push_str("\\ufffd");
            copied = end;
        }
        i = end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = bytes.get(at..at + 4)?;
    let s = std::str::from_utf8(digits).ok()?;
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

fn is_surrogate(u: u32) -> bool {
    (0xD800..0xE000).contains(&u)
}

/// The decoded text of a raw JSON string token (Go's `value.(string)`), `None` for any other
/// kind of value. Expects text that went through [`normalize_surrogates`].
pub(crate) fn string_value(raw: Option<&str>) -> Option<Cow<'_, str>> {
    let raw = raw?;
    if !raw.starts_with('"') {
        return None;
    }
    serde_json::from_str::<Cow<'_, str>>(raw).ok()
}

/// rudder-go-kit `stringify.Any` of the value gjson's `Value()` makes of `raw`: absent and
/// `null` → "", strings decoded, numbers as `encoding/json` prints a `float64`, booleans as
/// written. Objects and arrays keep their raw text (Go would re-encode them with sorted keys;
/// nobody sends an object as an id).
pub(crate) fn stringify_any(raw: Option<&str>) -> Cow<'_, str> {
    match raw {
        None | Some("null") => Cow::Borrowed(""),
        Some(t) if t.starts_with('"') => string_value(Some(t)).unwrap_or(Cow::Borrowed("")),
        Some(t) if t.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) => {
            Cow::Owned(go_json_float(t))
        }
        Some(t) => Cow::Borrowed(t),
    }
}

/// gjson's `Result.String()` of a raw JSON value (the import handler's user key): like
/// [`stringify_any`], except that an integer keeps its text and other numbers are printed
/// with `strconv.FormatFloat(f, 'f', -1, 64)` (never in exponent form).
pub(crate) fn result_string(raw: Option<&str>) -> String {
    match raw {
        Some(n)
            if n.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
                && !n
                    .strip_prefix('-')
                    .unwrap_or(n)
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            match n.parse::<f64>() {
                Ok(f) if f.is_infinite() => if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned(),
                Ok(f) => format!("{f}"),
                Err(_) => n.to_owned(),
            }
        }
        Some(t) if t.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) => {
            t.to_owned()
        }
        other => stringify_any(other).into_owned(),
    }
}

/// A JSON number as Go prints it after `strconv.ParseFloat` (gjson) and `json.Marshal`
/// (`stringify.Any`): shortest round-trip digits, exponent form below 1e-6 and from 1e21,
/// `+Inf`/`-Inf` (via `fmt.Sprint`, as `json.Marshal` refuses infinities) on overflow.
fn go_json_float(raw: &str) -> String {
    let Ok(f) = raw.parse::<f64>() else {
        return raw.to_owned();
    };
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust writes `1e21` / `1e-7`; Go writes `1e+21` / `1e-07`, then trims `e-07` to `e-7`.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

/// Whether `text` (one event) holds a number literal that overflows `float64`. gjson parses
/// it to ±Inf (`strconv.ParseFloat`'s range error is ignored), and `json.Marshal`, which the
/// gateway runs on every event it stores, refuses infinities. Strings are skipped.
pub(crate) fn has_infinite_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                loop {
                    let Some(off) = memchr::memchr2(b'"', b'\\', &b[i..]) else {
                        return false;
                    };
                    if b[i + off] == b'\\' {
                        i += off + 2;
                    } else {
                        i += off + 1;
                        break;
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let token = &text[start..i];
                // Only an exponent or more digits than f64's range can reach infinity.
                if (token.len() > 308 || token.contains(['e', 'E']))
                    && token.parse::<f64>().is_ok_and(f64::is_infinite)
                {
                    return true;
                }
            }
            _ => i += 1,
        }
    }
    false
}

/// An id as the gateway checks it: `strings.TrimSpace(sanitize.Unicode(stringify.Any(v)))`.
pub(crate) fn id_text(raw: Option<&str>) -> Cow<'_, str> {
    trim_sanitized(stringify_any(raw))
}

/// `strings.TrimSpace(sanitize.Unicode(s))`.
pub(crate) fn trim_sanitized(s: Cow<'_, str>) -> Cow<'_, str> {
    match s {
        Cow::Borrowed(b) => match sanitize_unicode(b) {
            Cow::Borrowed(clean) => Cow::Borrowed(clean.trim()),
            Cow::Owned(clean) => Cow::Owned(clean.trim().to_owned()),
        },
        Cow::Owned(o) => Cow::Owned(sanitize_unicode(&o).trim().to_owned()),
    }
}

/// rudder-go-kit `sanitize.Unicode`: removes the runes Go's `unicode.IsPrint` rejects
/// (controls, format characters, unassigned and private-use code points, every space but
/// U+0020) and the listed invisible runes.
pub(crate) fn sanitize_unicode(s: &str) -> Cow<'_, str> {
    // Printable ASCII is kept as is: the usual id needs no copy.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Cow::Borrowed(s);
    }
    if s.chars().all(keeps) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().filter(|c| keeps(*c)).collect())
}

/// `!unicode.Is(invisibleRangeTable, r) && unicode.IsPrint(r)`.
fn keeps(c: char) -> bool {
    !INVISIBLE.contains(&c) && go_is_print(c)
}

/// The invisible runes of rudder-go-kit `sanitize.go` (<https://invisible-characters.com/>).
const INVISIBLE: &[char] = &[
    '\u{0000}', '\u{0009}', '\u{00A0}', '\u{00AD}', '\u{034F}', '\u{061C}', '\u{115F}', '\u{1160}',
    '\u{17B4}', '\u{17B5}', '\u{180E}', '\u{2000}', '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}',
    '\u{2005}', '\u{2006}', '\u{2007}', '\u{2008}', '\u{2009}', '\u{200A}', '\u{200B}', '\u{200C}',
    '\u{200D}', '\u{200E}', '\u{200F}', '\u{202F}', '\u{205F}', '\u{2060}', '\u{2061}', '\u{2062}',
    '\u{2063}', '\u{2064}', '\u{206A}', '\u{206B}', '\u{206C}', '\u{206D}', '\u{206E}', '\u{206F}',
    '\u{3000}', '\u{2800}', '\u{3164}', '\u{FEFF}', '\u{FFA0}',
];

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
fn go_is_print(c: char) -> bool {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    if c == ' ' {
        return true;
    }
    !matches!(
        get_general_category(c),
        G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
            | G::SpaceSeparator
            | G::LineSeparator
            | G::ParagraphSeparator
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrogates_are_rewritten_as_gjson_decodes_them() {
        let n = |s: &str| normalize_surrogates(s).into_owned();
        assert_eq!(n(r#""\ud800""#), r#""\ufffd""#);
        assert_eq!(n(r#""\udc00x""#), r#""\ufffdx""#);
        // A valid pair stays; a high surrogate followed by any other escape eats it.
        assert_eq!(n(r#""\ud83d\ude00""#), r#""\ud83d\ude00""#);
        assert_eq!(n(r#""\uD800\u0041B""#), r#""\ufffdB""#);
        assert_eq!(n(r#""\ud800\ud800""#), r#""\ufffd""#);
        assert_eq!(n(r#""\udc00\ud800""#), r#""\ufffd""#);
        // An escaped backslash before `ud800` is no escape.
        assert_eq!(n(r#""\\ud800""#), r#""\\ud800""#);
        assert_eq!(n(r#""\u00e9\n""#), r#""\u00e9\n""#);
        assert!(matches!(
            normalize_surrogates(r#"{"a":"\u0041"}"#),
            Cow::Borrowed(_)
        ));
    }

    /// tidwall/gjson v1.19.0 `unescape`, ported line by line: the reference the mock must
    /// agree with. `content` is a string token without its quotes.
    fn gjson_unescape(content: &[u8]) -> String {
        fn runeit(b: &[u8]) -> u32 {
            std::str::from_utf8(&b[..4])
                .ok()
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .unwrap_or(0)
        }
        fn decode_rune(r1: u32, r2: u32) -> u32 {
            if (0xD800..0xDC00).contains(&r1) && (0xDC00..0xE000).contains(&r2) {
                (((r1 - 0xD800) << 10) | (r2 - 0xDC00)) + 0x10000
            } else {
                0xFFFD
            }
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < content.len() {
            let c = content[i];
            if c < b' ' {
                break;
            }
            if c != b'\\' {
                out.push(c);
                i += 1;
                continue;
            }
            i += 1;
            let Some(&e) = content.get(i) else { break };
            let plain = match e {
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 8,
                b'f' => 12,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'"' => b'"',
                b'u' => {
                    if i + 5 > content.len() {
                        break;
                    }
                    let mut r = runeit(&content[i + 1..]);
                    i += 5;
                    if (0xD800..0xE000).contains(&r)
                        && content.len() - i >= 6
                        && content[i] == b'\\'
                        && content[i + 1] == b'u'
                    {
                        r = decode_rune(r, runeit(&content[i + 2..]));
                        i += 6;
                    }
                    let ch = char::from_u32(r).unwrap_or('\u{FFFD}');
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                    continue;
                }
                _ => break,
            };
            out.push(plain);
            i += 1;
        }
        String::from_utf8(out).expect("gjson writes UTF-8")
    }

    /// Differential: for any string token gjson's validator accepts, serde_json reading the
    /// normalised token yields exactly what gjson's `unescape` yields.
    #[test]
    fn normalised_strings_decode_exactly_like_gjson() {
        use proptest::prelude::*;
        let piece = prop_oneof![
            "[a-z0-9 ]{0,3}",
            any::<char>()
                .prop_filter("no raw quote, backslash or control", |c| {
                    *c >= ' ' && *c != '"' && *c != '\\'
                })
                .prop_map(|c| c.to_string()),
            prop::sample::select(vec![
                "\\n", "\\\"", "\\\\", "\\/", "\\t", "\\b", "\\f", "\\r"
            ])
            .prop_map(str::to_owned),
            (0u32..0x10000).prop_map(|u| format!("\\u{u:04x}")),
            (0xD800u32..0xE000).prop_map(|u| format!("\\u{u:04X}")),
        ];
        let token = prop::collection::vec(piece, 0..8).prop_map(|p| format!("\"{}\"", p.concat()));
        let cases = std::env::var("FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
            cases,
            failure_persistence: None,
            ..Default::default()
        });
        runner
            .run(&token, |t| {
                let want = gjson_unescape(&t.as_bytes()[1..t.len() - 1]);
                let normalised = normalize_surrogates(&t);
                let got: String = serde_json::from_str(&normalised)
                    .map_err(|e| TestCaseError::fail(format!("{t} -> {normalised}: {e}")))?;
                prop_assert_eq!(got, want, "token {}", t);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn ids_are_stringified_sanitised_and_trimmed_like_go() {
        let id = |raw: &str| id_text(Some(raw)).into_owned();
        assert_eq!(id(r#""\ufffd""#), "\u{FFFD}");
        assert_eq!(id(r#"" u1 ""#), "u1");
        assert_eq!(id(r#""\u200b\u200b""#), "");
        assert_eq!(id(r#""a\u0000b\tc""#), "abc");
        assert_eq!(id("null"), "");
        assert_eq!(id("5"), "5");
        assert_eq!(id("1.50"), "1.5");
        assert_eq!(id("1e3"), "1000");
        assert_eq!(id("-0"), "-0");
        assert_eq!(id("123456789012345678901234"), "1.2345678901234569e+23");
        assert_eq!(id("1e21"), "1e+21");
        assert_eq!(id("0.0000001"), "1e-7");
        assert_eq!(id("0.000001"), "0.000001");
        assert_eq!(id("1e400"), "+Inf");
        assert_eq!(id("-1e400"), "-Inf");
        assert_eq!(id("true"), "true");
        assert!(has_infinite_number(r#"{"a":[1,-1e400]}"#));
        assert!(has_infinite_number(&format!(
            r#"{{"a":{}}}"#,
            "9".repeat(400)
        )));
        assert!(!has_infinite_number(
            r#"{"a":"1e400","b\"1e999":1e-400,"c":1e308}"#
        ));
        assert_eq!(id(r#""é ü""#), "é ü");
    }
}
