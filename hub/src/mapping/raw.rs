//! Borrowed JSON helpers: a row's members without copying its values, and verbatim copies.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// An object key, borrowed when it has no escapes. A key holding a lone surrogate (`"\ud800"`,
/// valid JSON but not a Rust string) is kept with U+FFFD in its place instead of failing the
/// row: keys are only compared with field names, which never hold one.
#[derive(Debug, Default)]
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
            // serde_json hands strings over as bytes (WTF-8) when asked for bytes, lone
            // surrogates included.
            fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(Key(String::from_utf8_lossy(v)))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(String::from_utf8_lossy(v).into_owned())))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// An object's members: key and raw value.
pub type Entries<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// Members of a JSON object (in document order, duplicates kept), or `None` if `s` is not an
/// object. serde_json reads the raw values without recursion, so any nesting is fine here.
pub fn parse_entries(s: &str) -> Result<Option<Entries<'_>>, serde_json::Error> {
    if !s.trim_start().starts_with('{') {
        // Still validate that it is JSON.
        let _: &RawValue = serde_json::from_str(s)?;
        return Ok(None);
    }
    struct Obj<'a>(Entries<'a>);
    impl<'de> Deserialize<'de> for Obj<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Obj<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                    let mut v = Vec::with_capacity(m.size_hint().unwrap_or(8));
                    while let Some((k, val)) = m.next_entry::<Key<'de>, &'de RawValue>()? {
                        v.push((k.0, val));
                    }
                    Ok(Obj(v))
                }
            }
            d.deserialize_map(V)
        }
    }
    Ok(Some(serde_json::from_str::<Obj<'_>>(s)?.0))
}

/// Copies a JSON value, dropping insignificant whitespace.
pub(crate) fn write_compact(s: &str, out: &mut Vec<u8>) {
    let b = s.as_bytes();
    if !b.iter().any(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t')) {
        out.extend_from_slice(b);
        return;
    }
    let mut in_str = false;
    let mut esc = false;
    for &c in b {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
            out.push(c);
        } else if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            out.push(c);
        }
    }
}
