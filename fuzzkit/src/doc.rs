//! Structure-aware edits of YAML/JSON documents: real files (Looks, scenarios) mutated at the
//! structure level (a key deleted, a value of another type, deep nesting, huge numbers, strange
//! strings), then at the text level (truncated, bytes inserted, YAML and JSON oddities spliced
//! in). mock-looker's Look loader and the scenario loader are fuzzed with the same edits.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// One structural edit of a document, at the node chosen by `at` (modulo the node count, in
/// pre-order).
#[derive(Debug, Clone)]
pub enum Edit {
    /// Remove the node from its map or list.
    Delete(u64),
    /// Replace the node with another value (usually of another type).
    Replace(u64, Value),
    /// Wrap the node in `depth` lists (or maps).
    Nest(u64, usize, bool),
    /// Add a key (unknown, or an existing name) to the map at or above the node.
    AddKey(u64, String, Value),
    /// Copy one subtree over another.
    Copy(u64, u64),
    /// Replace a scalar by one of the same type (a string by an odd string, a number by a huge
    /// one): the document usually stays valid, so the values reach the code behind the parser.
    SameType(u64, Value),
}

/// One text edit of the serialised document.
#[derive(Debug, Clone)]
pub enum TextEdit {
    /// Keep the first `at` bytes (modulo the length).
    Truncate(u64),
    /// Insert bytes (as lossy UTF-8).
    Insert(u64, Vec<u8>),
    /// Insert a snippet that parsers treat specially.
    Splice(u64, &'static str),
}

/// Texts that YAML or JSON parsers treat specially.
pub const SNIPPETS: &[&str] = &[
    "1e999",
    "-1e999",
    "18446744073709551616",
    "-9223372036854775809",
    "340282366920938463463374607431768211456",
    "0x7fffffffffffffff",
    ".nan",
    ".inf",
    "~",
    "null",
    "!!binary aGVsbG8=",
    "!!str",
    "!!map",
    "!custom",
    "&a [*a]",
    "*undefined",
    "<<: *a",
    "? complex\n: key",
    "\t",
    "\u{feff}",
    "\"\\ud800\"",
    "\"\\udc00\\ud800\"",
    "\"\\u0000\"",
    "\"\\x\"",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "{",
    "}",
    "[",
    "]",
    ":",
    "- ",
    "\n  - \n",
    "'",
    "\"",
    "|\n  block\n",
    ">-\n  folded\n",
    "${dataplane.url}",
    "{match: uuid}",
    "{\"a\":",
    "2024-02-30",
    "9999-12-31",
    "yes",
    "on",
    "0o17",
];

/// Scalars at the edges: huge and tiny numbers, empty and odd strings.
pub fn edge_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(-1i64),
            Just(0i64),
            any::<i64>()
        ]
        .prop_map(|n| Value::Number(n.into())),
        prop_oneof![Just(u64::MAX), any::<u64>()].prop_map(|n| Value::Number(n.into())),
        prop_oneof![
            Just(f64::MAX),
            Just(f64::MIN),
            Just(f64::MIN_POSITIVE),
            Just(-0.0),
            Just(1e300),
            any::<f64>()
        ]
        .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        prop::collection::vec(any::<char>(), 0..24)
            .prop_map(|c| Value::String(c.into_iter().collect())),
        prop::sample::select(SNIPPETS).prop_map(|s| Value::String(s.to_owned())),
        (1usize..200_000).prop_map(|n| Value::String("x".repeat(n))),
    ]
}

/// Any value: edge scalars, and small lists and maps of them.
pub fn any_value() -> impl Strategy<Value = Value> {
    edge_scalar().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Map keys: names the loaders know (so a value lands where it is read), or anything.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KNOWN_KEYS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// Keys of the Look and scenario formats.
pub const KNOWN_KEYS: &[&str] = &[
    "id",
    "title",
    "model",
    "explore",
    "fields",
    "dimensions",
    "measures",
    "table_calculations",
    "pivots",
    "rows",
    "generate",
    "seed",
    "generator",
    "kind",
    "min",
    "max",
    "decimals",
    "start",
    "days",
    "values",
    "value",
    "prefix",
    "numeric",
    "domain",
    "null_ratio",
    "name",
    "tags",
    "label",
    "type",
    "vis_config",
    "hidden_fields",
    "links",
    "rendered",
    "html",
    "key",
    "data",
    "is_total",
    "limit",
    "ran_at",
    "sorted",
    "time_interval",
    "extra",
    "steps",
    "send",
    "action",
    "look",
    "looks",
    "file",
    "expect",
    "events",
    "items",
    "match",
    "where",
    "count",
    "hub",
    "dataplane",
    "faults",
    "write_keys",
    "params",
    "form",
    "raw",
    "path",
    "body",
    "body_text",
    "wait",
    "ms",
    "timeout_s",
    "timeout_ms",
    "columns",
    "writeback",
    "login",
    "user",
    "state",
    "download",
    "format",
    "looker_version",
    "each",
    "ordered",
    "success",
    "breaches",
];

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => any::<u64>().prop_map(Edit::Delete),
        4 => (any::<u64>(), any_value()).prop_map(|(a, v)| Edit::Replace(a, v)),
        1 => (any::<u64>(), prop_oneof![1usize..8, 100usize..300], any::<bool>())
            .prop_map(|(a, d, l)| Edit::Nest(a, d, l)),
        2 => (any::<u64>(), key(), any_value()).prop_map(|(a, k, v)| Edit::AddKey(a, k, v)),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Edit::Copy(a, b)),
        6 => (any::<u64>(), edge_scalar()).prop_map(|(a, v)| Edit::SameType(a, v)),
    ]
}

pub fn text_edit() -> impl Strategy<Value = TextEdit> {
    prop_oneof![
        any::<u64>().prop_map(TextEdit::Truncate),
        (any::<u64>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(a, b)| TextEdit::Insert(a, b)),
        (any::<u64>(), prop::sample::select(SNIPPETS)).prop_map(|(a, s)| TextEdit::Splice(a, s)),
    ]
}

/// JSON pointers of every node, in pre-order (the root is "").
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(x, format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

fn pick(v: &Value, at: u64) -> String {
    let mut all = Vec::new();
    pointers(v, String::new(), &mut all);
    all.swap_remove((at % all.len() as u64) as usize)
}

fn parent(p: &str) -> Option<(&str, String)> {
    let i = p.rfind('/')?;
    Some((&p[..i], p[i + 1..].replace("~1", "/").replace("~0", "~")))
}

/// Applies an edit; edits that do not apply (deleting the root) leave the document as it is.
pub fn apply(doc: &mut Value, e: &Edit) {
    match e {
        Edit::Delete(at) => {
            let p = pick(doc, *at);
            if let Some((up, last)) = parent(&p) {
                match doc.pointer_mut(up) {
                    Some(Value::Object(o)) => {
                        o.remove(&last);
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(i) = last.parse::<usize>()
                            && i < a.len()
                        {
                            a.remove(i);
                        }
                    }
                    _ => {}
                }
            }
        }
        Edit::Replace(at, v) => {
            let p = pick(doc, *at);
            if let Some(x) = doc.pointer_mut(&p) {
                *x = v.clone();
            }
        }
        Edit::Nest(at, depth, list) => {
            let p = pick(doc, *at);
            if let Some(x) = doc.pointer_mut(&p) {
                let mut v = x.take();
                for _ in 0..*depth {
                    v = if *list {
                        Value::Array(vec![v])
                    } else {
                        Value::Object(Map::from_iter([("k".to_owned(), v)]))
                    };
                }
                *x = v;
            }
        }
        Edit::AddKey(at, k, v) => {
            let mut p = pick(doc, *at);
            loop {
                if let Some(Value::Object(o)) = doc.pointer_mut(&p) {
                    o.insert(k.clone(), v.clone());
                    break;
                }
                match parent(&p) {
                    Some((up, _)) => p = up.to_owned(),
                    None => break,
                }
            }
        }
        Edit::SameType(at, v) => {
            let kind = |x: &Value| std::mem::discriminant(x);
            let mut all = Vec::new();
            pointers(doc, String::new(), &mut all);
            all.retain(|p| doc.pointer(p).is_some_and(|x| kind(x) == kind(v)));
            if !all.is_empty() {
                let p = all.swap_remove((at % all.len() as u64) as usize);
                if let Some(x) = doc.pointer_mut(&p) {
                    *x = v.clone();
                }
            }
        }
        Edit::Copy(from, to) => {
            let src = doc.pointer(&pick(doc, *from)).cloned();
            let p = pick(doc, *to);
            if let (Some(src), Some(x)) = (src, doc.pointer_mut(&p)) {
                *x = src;
            }
        }
    }
}

/// Applies a text edit on a character boundary.
pub fn apply_text(text: &mut String, e: &TextEdit) {
    let at = |a: u64, t: &str| {
        let mut i = (a % (t.len() as u64 + 1)) as usize;
        while !t.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match e {
        TextEdit::Truncate(a) => {
            let i = at(*a, text);
            text.truncate(i);
        }
        TextEdit::Insert(a, b) => {
            let i = at(*a, text);
            text.insert_str(i, &String::from_utf8_lossy(b));
        }
        TextEdit::Splice(a, s) => {
            let i = at(*a, text);
            text.insert_str(i, s);
        }
    }
}

/// Inputs no file would hold: very deep nesting, alias bombs, long lines.
pub fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..200_000).prop_map(|n| "[".repeat(n)),
        (1usize..50_000).prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n))),
        (1usize..50_000).prop_map(|n| "{a: ".repeat(n)),
        (1usize..20_000).prop_map(|n| "- ".repeat(n)),
        (1usize..20_000).prop_map(|n| format!("{}x", "  ".repeat(n))),
        Just(
            "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nsteps: [*g]\ntitle: *g\n"
                .to_owned()
        ),
        (1usize..1_000_000).prop_map(|n| format!("title: {}\n", "9".repeat(n))),
        prop::collection::vec(any::<u8>(), 0..4096)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// Serialises as YAML (or JSON when `json`, or when YAML cannot hold the value).
pub fn to_text(doc: &Value, json: bool) -> String {
    if !json && let Ok(y) = serde_norway::to_string(doc) {
        return y;
    }
    serde_json::to_string(doc).unwrap_or_default()
}
