//! JSON text, valid or nearly, built token by token: what the parsers of untrusted bodies (the
//! hub's Look parser, the data plane's gateway) must survive. Strings carry every kind of
//! escape, lone and paired surrogates and a few invalid escapes; numbers include the ones
//! parsers disagree on; values nest, sometimes far beyond serde_json's recursion limit.

use proptest::prelude::*;

/// A valid piece of a JSON string's content: plain text and every kind of escape, surrogates
/// (lone, paired, or a high one before a non-low escape) included.
pub fn valid_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => "[a-zA-Z0-9 _,:{}\\[\\]é€😀-]{0,6}",
        2 => prop::sample::select(vec!["\\n", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\r", "\\t", "\\u0000"])
            .prop_map(str::to_owned),
        2 => (0u32..0x10000).prop_map(|u| format!("\\u{u:04x}")),
        3 => (0xD800u32..0xE000).prop_map(|u| format!("\\u{u:04X}")),
        1 => (0xD800u32..0xDC00, 0xDC00u32..0xE000).prop_map(|(h, l)| format!("\\u{h:04x}\\u{l:04x}")),
        1 => (0xD800u32..0xDC00).prop_map(|h| format!("\\u{h:04x}\\n\\u{h:04x}\\u0041")),
        1 => any::<char>().prop_filter("not a quote, backslash or control", |c| !matches!(c, '"' | '\\') && !c.is_control())
            .prop_map(|c| c.to_string()),
    ]
}

/// Any piece: valid ones, and invalid ones (a bad escape, raw control bytes, a cut `\u`, a
/// quote or backslash alone).
pub fn string_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => valid_piece(),
        1 => prop::sample::select(vec!["\\x", "\\u12", "\\u+fff", "\u{1}", "\\", "\""])
            .prop_map(str::to_owned),
    ]
}

/// A JSON string literal, nearly always valid.
pub fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => prop::collection::vec(valid_piece(), 0..6),
        1 => prop::collection::vec(string_piece(), 1..6),
    ]
    .prop_map(|p| format!("\"{}\"", p.concat()))
}

/// A JSON number, or a token that is nearly one (`01`, `1.`, `-`).
pub fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        prop::sample::select(vec![
            "0",
            "-0",
            "1.50",
            "1e400",
            "-1e400",
            "1e-400",
            "0.000001",
            "123456789012345678901234567890",
            "01",
            "1.",
            "-",
        ])
        .prop_map(str::to_owned),
    ]
}

/// JSON text: scalars, arrays and objects whose keys are random strings or one of `keys` (the
/// names the parser under test looks for, so duplicates and odd values of those are likely),
/// with a chance of very deep nesting.
pub fn value(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        string(),
        number(),
        prop::sample::select(vec!["true", "false", "null"]).prop_map(str::to_owned),
    ];
    let key = move || {
        prop_oneof![
            string(),
            prop::sample::select(keys).prop_map(|k| format!("\"{k}\"")),
        ]
    };
    let tree = leaf.prop_recursive(5, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((key(), inner), 0..5).prop_map(|m| {
                let members: Vec<String> = m.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    });
    prop_oneof![
        8 => tree,
        1 => (1usize..3000).prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n))),
        1 => (1usize..1000).prop_map(|n| format!("{}{}", "{\"value\":".repeat(n), "}".repeat(n))),
    ]
}

/// A document, then maybe damaged: cut short, a byte replaced, or a byte inserted.
pub fn mutated(doc: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    (doc, 0u8..5, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(d, how, at, byte)| {
        let mut b = d.into_bytes();
        let i = if b.is_empty() { 0 } else { at.index(b.len()) };
        match how {
            1 => b.truncate(i),
            2 if !b.is_empty() => b[i] = byte,
            3 => b.insert(i, byte),
            _ => {}
        }
        b
    })
}
