//! Edits of an event's raw JSON text, and gjson's view of an object's top-level entries.
//!
//! The gateway sets `type` on single-event bodies with `sjson.SetBytes`, which rewrites the
//! first occurrence of a key where it stands and appends new keys before the closing brace.
//! It then reads each event into a Go map (gjson keeps the first of duplicate keys), sets its
//! keys there and encodes the map: the stored event has each key once. [`Splice`] does both
//! on the raw text, so every other byte (number spelling, spacing) stays as the client sent
//! it. Only the rare events whose existing keys the gateway overwrites, or that repeat a key,
//! come here; the hot path splices its keys in `ingest.rs`.

use std::borrow::Cow;

use serde::Deserializer as _;
use serde_json::value::RawValue;

use crate::json_text::push_json_str;

/// `sjson.SetBytes` edits on one JSON object's raw text (string values only, which is all the
/// gateway sets).
pub(crate) struct Splice<'a> {
    text: &'a str,
    /// Top-level entries in order.
    entries: Vec<Entry<'a>>,
    /// Replacement values (already JSON-encoded) for ranges of `text`.
    replaced: Vec<(std::ops::Range<usize>, String)>,
    /// Keys appended before the closing brace, with their JSON-encoded values.
    appended: Vec<(String, String)>,
}

/// One top-level entry of a JSON object: its key and the byte range of its raw value.
pub(crate) type Entry<'a> = (Cow<'a, str>, std::ops::Range<usize>);

/// A JSON object's top-level entries in order (duplicate keys included, as gjson and sjson
/// see them).
pub(crate) fn object_entries(text: &str) -> Result<Vec<Entry<'_>>, serde_json::Error> {
    use serde::de::{MapAccess, Visitor};
    struct Entries<'t>(&'t str);
    impl<'de> Visitor<'de> for Entries<'de> {
        type Value = Vec<Entry<'de>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let base = self.0.as_ptr() as usize;
            let mut out = Vec::new();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                let raw: &'de RawValue = map.next_value()?;
                // A borrowed RawValue is a slice of the input: its offset is its address.
                let start = raw.get().as_ptr() as usize - base;
                out.push((key, start..start + raw.get().len()));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let entries = de.deserialize_map(Entries(text))?;
    de.end()?;
    Ok(entries)
}

/// gjson's `Get` on one object: the raw value of the first occurrence of `key`.
pub(crate) fn first_value<'a>(
    object: &'a str,
    key: &str,
) -> Result<Option<&'a str>, serde_json::Error> {
    Ok(first_of(object, &object_entries(object)?, key))
}

/// The raw value of the first of [`object_entries`] named `key`.
pub(crate) fn first_of<'a>(object: &'a str, entries: &[Entry<'_>], key: &str) -> Option<&'a str> {
    entries
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, r)| &object[r.clone()])
}

impl<'a> Splice<'a> {
    pub(crate) fn new(text: &'a str) -> Result<Splice<'a>, serde_json::Error> {
        Ok(Splice {
            text,
            entries: object_entries(text)?,
            replaced: Vec::new(),
            appended: Vec::new(),
        })
    }

    /// The raw value of the first occurrence of `key` (gjson's `Get`), as the client sent it.
    pub(crate) fn get(&self, key: &str) -> Option<&'a str> {
        first_of(self.text, &self.entries, key)
    }

    pub(crate) fn set(&mut self, key: &str, value: &str) {
        let mut encoded = String::with_capacity(value.len() + 2);
        push_json_str(&mut encoded, value);
        if let Some((_, range)) = self.entries.iter().find(|(k, _)| k == key) {
            let range = range.clone();
            self.replaced.retain(|(r, _)| *r != range);
            self.replaced.push((range, encoded));
        } else if let Some(slot) = self.appended.iter_mut().find(|(k, _)| k == key) {
            slot.1 = encoded;
        } else {
            self.appended.push((key.to_owned(), encoded));
        }
    }

    /// The edited text as the gateway stores the event: like [`Splice::finish`], and every
    /// repeated key (after its first occurrence) is left out, as in the Go map it encodes.
    /// Without that a reader that keeps the last of duplicate keys (serde_json, JavaScript)
    /// would see the client's `rudderId` or `messageId` instead of the gateway's.
    pub(crate) fn finish_as_map(mut self) -> String {
        for i in 1..self.entries.len() {
            if self.entries[..i]
                .iter()
                .any(|(k, _)| *k == self.entries[i].0)
            {
                // From the end of the previous value: the comma, the key and this value.
                let range = self.entries[i - 1].1.end..self.entries[i].1.end;
                self.replaced.push((range, String::new()));
            }
        }
        self.finish()
    }

    /// The edited text as `sjson.SetBytes` leaves it.
    pub(crate) fn finish(mut self) -> String {
        self.replaced.sort_by_key(|(r, _)| r.start);
        let mut out = String::with_capacity(self.text.len() + 200);
        let mut at = 0;
        for (range, value) in &self.replaced {
            out.push_str(&self.text[at..range.start]);
            out.push_str(value);
            at = range.end;
        }
        // The object's text ends with its closing brace (a RawValue has no trailing space).
        let close = self.text.rfind('}').unwrap_or(self.text.len());
        out.push_str(&self.text[at..close]);
        let mut empty = self.entries.is_empty();
        for (key, value) in &self.appended {
            if !empty {
                out.push(',');
            }
            empty = false;
            push_json_str(&mut out, key);
            out.push(':');
            out.push_str(value);
        }
        out.push_str(&self.text[close..]);
        out
    }
}
