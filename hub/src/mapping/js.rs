//! `JSON.stringify(JSON.parse(v))`, emulated: what RudderStack's Node hub does to every value it
//! sends, so the RudderStack mode can send the same bytes.
//!
//! - numbers are doubles and written as `Number.prototype.toString()` writes them;
//! - strings are written with `JSON.stringify`'s escapes, lone surrogates included: Node (since
//!   ES2019's well-formed `JSON.stringify`) writes a lone `\ud800` as the escape `\ud800`, never
//!   as invalid UTF-8 or invalid JSON;
//! - object members are listed the way `for…in` lists them after `JSON.parse`: duplicate keys
//!   collapse (last value, first position), integer-like keys first in ascending order.
//!
//! A composite value is read once into a [`Tape`] (one node per value, without recursion), then
//! written from it with an explicit stack: time and memory are linear in the value, and no input
//! can overflow the thread's stack. Values nested deeper than [`MAX_DEPTH`] are refused with
//! [`RowError::Unsendable`] (a row error: the run goes on). Walkers that recurse over a tape
//! (the fork's `filterJson`, clean-mode pivots) are therefore bounded by [`MAX_DEPTH`] too.
//!
//! Strings are decoded to WTF-8 (UTF-8 that may also hold surrogate code points, 3 bytes each),
//! which is what a JavaScript string can hold; [`write_wtf8`] writes them back.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::value::RawValue;

use super::RowError;

/// The deepest nesting of arrays and objects the hub re-serialises in a value (a scalar is
/// depth 0, `[1]` depth 1). Looker cells nest 3 or 4 levels (`{value, links:[{…}]}`); Node's
/// `JSON.stringify` gives up somewhere in the thousands, with a `RangeError` from its stack.
/// 512 leaves room for any real data while keeping every walk of a value short.
pub const MAX_DEPTH: usize = 512;

/// The row error for a value nested deeper than [`MAX_DEPTH`].
pub(crate) fn too_deep() -> RowError {
    RowError::Unsendable(format!("value nested deeper than {MAX_DEPTH}"))
}

/// One value of a [`Tape`].
#[derive(Debug)]
pub(crate) enum Node<'a> {
    /// A string, number, `true`, `false` or `null`: its JSON text.
    Scalar(&'a str),
    /// An array: its elements' node ids.
    Array(Vec<usize>),
    /// An object: its members in document order (duplicates kept), keys decoded to WTF-8.
    Object(Vec<(Cow<'a, [u8]>, usize)>),
}

/// A JSON value read once into nodes, so that every walk over it is linear.
#[derive(Debug)]
pub(crate) struct Tape<'a> {
    nodes: Vec<Node<'a>>,
    /// The JSON text of each node.
    raw: Vec<&'a str>,
}

/// A container being read: its node, where its text starts, and the key of the member whose
/// value comes next (objects).
#[derive(Debug)]
struct Open<'a> {
    node: usize,
    start: usize,
    key: Option<Cow<'a, [u8]>>,
}

fn bad(what: &str) -> RowError {
    RowError::Malformed(format!("invalid JSON value: {what}"))
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// The end (exclusive) of the string literal starting at `b[start] == '"'`.
fn string_end(b: &[u8], start: usize) -> Result<usize, RowError> {
    let mut i = start + 1;
    loop {
        let k = memchr::memchr2(b'"', b'\\', &b[i..]).ok_or_else(|| bad("unterminated string"))?;
        i += k;
        if b[i] == b'"' {
            return Ok(i + 1);
        }
        i += 2;
        if i > b.len() {
            return Err(bad("unterminated string"));
        }
    }
}

impl<'a> Tape<'a> {
    /// Reads `text` (one JSON value). Fails on nesting deeper than [`MAX_DEPTH`].
    pub(crate) fn parse(text: &'a str) -> Result<Tape<'a>, RowError> {
        let b = text.as_bytes();
        let mut tape = Tape {
            nodes: Vec::new(),
            raw: Vec::new(),
        };
        let mut stack: Vec<Open<'a>> = Vec::new();
        let mut i = 0;
        let skip_ws = |i: &mut usize| {
            while *i < b.len() && is_ws(b[*i]) {
                *i += 1;
            }
        };
        loop {
            // A value (or, right after `[`/`{`, possibly the closing bracket).
            skip_ws(&mut i);
            let c = *b.get(i).ok_or_else(|| bad("unexpected end"))?;
            let id = tape.nodes.len();
            let mut closed_empty = false;
            match c {
                b'{' | b'[' => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(too_deep());
                    }
                    tape.nodes.push(if c == b'{' {
                        Node::Object(Vec::new())
                    } else {
                        Node::Array(Vec::new())
                    });
                    tape.raw.push("");
                    stack.push(Open {
                        node: id,
                        start: i,
                        key: None,
                    });
                    i += 1;
                    skip_ws(&mut i);
                    let close = if c == b'{' { b'}' } else { b']' };
                    if b.get(i) == Some(&close) {
                        closed_empty = true;
                    } else if c == b'{' {
                        i = tape.read_key(b, i, stack.last_mut().expect("pushed"))?;
                        continue;
                    } else {
                        continue;
                    }
                }
                b'"' => {
                    let end = string_end(b, i)?;
                    tape.push_scalar(&text[i..end]);
                    i = end;
                }
                _ => {
                    let start = i;
                    while i < b.len() && !matches!(b[i], b',' | b'}' | b']') && !is_ws(b[i]) {
                        i += 1;
                    }
                    if start == i {
                        return Err(bad("expected a value"));
                    }
                    tape.push_scalar(&text[start..i]);
                }
            }
            if !closed_empty {
                tape.attach(&mut stack, id)?;
            }
            // After a value: `,` or the closing bracket(s).
            loop {
                skip_ws(&mut i);
                let Some(&Open {
                    node: open, start, ..
                }) = stack.last()
                else {
                    return if i == b.len() {
                        Ok(tape)
                    } else {
                        Err(bad("data after the value"))
                    };
                };
                let is_obj = matches!(tape.nodes[open], Node::Object(_));
                match b.get(i) {
                    Some(b',') => {
                        i += 1;
                        if is_obj {
                            skip_ws(&mut i);
                            i = tape.read_key(b, i, stack.last_mut().expect("non-empty"))?;
                        }
                        break;
                    }
                    Some(b'}') if is_obj => {}
                    Some(b']') if !is_obj => {}
                    _ => return Err(bad("expected ',' or a closing bracket")),
                }
                i += 1;
                tape.raw[open] = &text[start..i];
                stack.pop();
                tape.attach(&mut stack, open)?;
            }
        }
    }

    fn push_scalar(&mut self, s: &'a str) {
        self.nodes.push(Node::Scalar(s));
        self.raw.push(s);
    }

    /// Reads `"key":` at `i` into the open object's frame; returns the position after `:`.
    fn read_key(
        &mut self,
        b: &'a [u8],
        mut i: usize,
        frame: &mut Open<'a>,
    ) -> Result<usize, RowError> {
        if b.get(i) != Some(&b'"') {
            return Err(bad("expected a key"));
        }
        let end = string_end(b, i)?;
        let lit = std::str::from_utf8(&b[i..end]).map_err(|_| bad("key is not UTF-8"))?;
        frame.key = Some(decode_str(lit)?);
        i = end;
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        if b.get(i) != Some(&b':') {
            return Err(bad("expected ':'"));
        }
        Ok(i + 1)
    }

    /// Makes node `id` a member of the innermost open container, if any.
    fn attach(&mut self, stack: &mut [Open<'a>], id: usize) -> Result<(), RowError> {
        let Some(Open {
            node: parent, key, ..
        }) = stack.last_mut()
        else {
            return Ok(());
        };
        match &mut self.nodes[*parent] {
            Node::Array(items) => items.push(id),
            Node::Object(members) => {
                let k = key.take().ok_or_else(|| bad("member without a key"))?;
                members.push((k, id));
            }
            Node::Scalar(_) => return Err(bad("scalar as a container")),
        }
        Ok(())
    }

    /// The root node.
    pub(crate) fn root(&self) -> usize {
        0
    }

    /// A node.
    pub(crate) fn node(&self, id: usize) -> &Node<'a> {
        &self.nodes[id]
    }

    /// A node's JSON text.
    pub(crate) fn raw(&self, id: usize) -> &'a str {
        self.raw[id]
    }

    /// A node's members as `for…in` lists them after `JSON.parse` (see the module docs); array
    /// elements get their index as key. `None` for scalars.
    pub(crate) fn js_entries(&self, id: usize) -> Option<Vec<(Cow<'_, [u8]>, usize)>> {
        match &self.nodes[id] {
            Node::Scalar(_) => None,
            Node::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| (Cow::Owned(i.to_string().into_bytes()), x))
                    .collect(),
            ),
            Node::Object(members) => {
                let mut out: Vec<(Cow<'_, [u8]>, usize)> = Vec::with_capacity(members.len());
                if members.len() <= 16 {
                    for (k, x) in members {
                        match out.iter_mut().find(|(dk, _)| dk.as_ref() == k.as_ref()) {
                            Some(e) => e.1 = *x,
                            None => out.push((Cow::Borrowed(k.as_ref()), *x)),
                        }
                    }
                } else {
                    let mut seen: HashMap<&[u8], usize> = HashMap::with_capacity(members.len());
                    for (k, x) in members {
                        match seen.get(k.as_ref()) {
                            Some(&at) => out[at].1 = *x,
                            None => {
                                seen.insert(k.as_ref(), out.len());
                                out.push((Cow::Borrowed(k.as_ref()), *x));
                            }
                        }
                    }
                }
                if out.iter().any(|(k, _)| array_index(k).is_some()) {
                    out.sort_by_key(|(k, _)| array_index(k).map_or((1, 0), |i| (0, i)));
                }
                Some(out)
            }
        }
    }

    /// Writes node `id` as `JSON.stringify` would, without recursion.
    pub(crate) fn write(&self, id: usize, out: &mut Vec<u8>) -> Result<(), RowError> {
        type Entries<'t> = std::vec::IntoIter<(Cow<'t, [u8]>, usize)>;
        // (members left to write, is an object, wrote one already)
        let mut stack: Vec<(Entries<'_>, bool, bool)> = Vec::new();
        let mut next = Some(id);
        loop {
            if let Some(n) = next.take() {
                match &self.nodes[n] {
                    Node::Scalar(s) => write_js_scalar(s, out)?,
                    Node::Array(_) | Node::Object(_) => {
                        let is_obj = matches!(self.nodes[n], Node::Object(_));
                        out.push(if is_obj { b'{' } else { b'[' });
                        let entries = self.js_entries(n).unwrap_or_default();
                        stack.push((entries.into_iter(), is_obj, false));
                    }
                }
            }
            let Some((entries, is_obj, wrote)) = stack.last_mut() else {
                return Ok(());
            };
            match entries.next() {
                Some((k, x)) => {
                    if *wrote {
                        out.push(b',');
                    }
                    *wrote = true;
                    if *is_obj {
                        write_wtf8(&k, out);
                        out.push(b':');
                    }
                    next = Some(x);
                }
                None => {
                    out.push(if *is_obj { b'}' } else { b']' });
                    stack.pop();
                }
            }
        }
    }
}

/// Writes a JSON value as `JSON.stringify(JSON.parse(v))` would: JavaScript number formatting
/// (numbers are doubles), `JSON.stringify` string escapes (lone surrogates as `\udXXX`),
/// JavaScript key order. Fails on values nested deeper than [`MAX_DEPTH`].
///
/// ```
/// let v: &serde_json::value::RawValue = serde_json::from_str(r#"{"b":1.50,"1":"\ud800"}"#).unwrap();
/// let mut out = Vec::new();
/// hub::mapping::write_js_value(v, &mut out).unwrap();
/// assert_eq!(out, br#"{"1":"\ud800","b":1.5}"#);
/// ```
pub fn write_js_value(v: &RawValue, out: &mut Vec<u8>) -> Result<(), RowError> {
    let s = v.get();
    match s.as_bytes().first() {
        Some(b'{' | b'[') => Tape::parse(s)?.write(0, out),
        _ => write_js_scalar(s, out),
    }
}

fn write_js_scalar(s: &str, out: &mut Vec<u8>) -> Result<(), RowError> {
    match s.as_bytes().first() {
        Some(b'"') => {
            if s.contains('\\') {
                write_wtf8(&decode_str(s)?, out);
            } else {
                out.extend_from_slice(s.as_bytes());
            }
        }
        Some(b't' | b'f' | b'n') => out.extend_from_slice(s.as_bytes()),
        _ => {
            let b = s.as_bytes();
            let digits = b.strip_prefix(b"-").unwrap_or(b);
            let simple = !digits.is_empty()
                && digits.len() <= 15
                && digits.iter().all(u8::is_ascii_digit)
                && (digits[0] != b'0' || digits.len() == 1)
                && s != "-0";
            if simple {
                out.extend_from_slice(b);
            } else {
                let f: f64 = s
                    .parse()
                    .map_err(|_| RowError::Malformed(format!("invalid number {s}")))?;
                write_js_number(f, out);
            }
        }
    }
    Ok(())
}

/// Decodes a JSON string literal (with its quotes) to WTF-8, as `JSON.parse` would to a
/// JavaScript string: a `\uXXXX` surrogate pair becomes its character, a lone surrogate stays a
/// surrogate (3 bytes, `ED A0..BF ..`). Borrowed when the literal has no escapes.
pub(crate) fn decode_str(lit: &str) -> Result<Cow<'_, [u8]>, RowError> {
    let inner = lit
        .as_bytes()
        .get(1..lit.len().saturating_sub(1))
        .filter(|_| lit.len() >= 2)
        .ok_or_else(|| bad("not a string"))?;
    if !inner.contains(&b'\\') {
        return Ok(Cow::Borrowed(inner));
    }
    let esc = |what: &str| RowError::Malformed(format!("invalid string escape: {what}"));
    let hex4 = |at: usize| -> Option<u32> {
        let h = inner.get(at..at + 4)?;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16)
            .ok()
            .filter(|_| h.iter().all(u8::is_ascii_hexdigit))
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let run = memchr::memchr(b'\\', &inner[i..]).map_or(inner.len(), |k| i + k);
        out.extend_from_slice(&inner[i..run]);
        i = run;
        if i >= inner.len() {
            break;
        }
        let e = *inner.get(i + 1).ok_or_else(|| esc("a lone backslash"))?;
        i += 2;
        let byte = match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let mut cp = hex4(i).ok_or_else(|| esc("\\u needs 4 hex digits"))?;
                i += 4;
                if (0xD800..0xDC00).contains(&cp)
                    && inner.get(i..i + 2) == Some(b"\\u")
                    && let Some(lo) = hex4(i + 2).filter(|lo| (0xDC00..0xE000).contains(lo))
                {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
                push_wtf8(cp, &mut out);
                continue;
            }
            other => return Err(esc(&format!("\\{}", char::from(other)))),
        };
        out.push(byte);
    }
    Ok(Cow::Owned(out))
}

/// Appends a code point (a surrogate too) in WTF-8.
fn push_wtf8(cp: u32, out: &mut Vec<u8>) {
    match char::from_u32(cp) {
        Some(c) => {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        }
        // A surrogate: the 3-byte form UTF-8 would give it if it were allowed.
        None => out.extend_from_slice(&[
            0xE0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]),
    }
}

/// Writes a WTF-8 string as a JSON string, escaped the way `JSON.stringify` escapes: `"`, `\`,
/// the short escapes, other control characters as `\u00XX` and lone surrogates as `\udXXX`.
pub(crate) fn write_wtf8(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            0xED if s.get(i + 1).is_some_and(|n| *n >= 0xA0) && i + 2 < s.len() => {
                out.extend_from_slice(&s[start..i]);
                let cp = (u32::from(b & 0x0F) << 12)
                    | (u32::from(s[i + 1] & 0x3F) << 6)
                    | u32::from(s[i + 2] & 0x3F);
                out.extend_from_slice(format!("\\u{cp:04x}").as_bytes());
                i += 3;
                start = i;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&s[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Writes a string as a JSON string, escaped the way `JSON.stringify` escapes.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    write_wtf8(s.as_bytes(), out);
}

/// `Some(n)` if `k` is a canonical array index (what JavaScript orders first).
pub(crate) fn array_index(k: &[u8]) -> Option<u64> {
    if k.is_empty() || k.len() > 10 || !k.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if k.len() > 1 && k[0] == b'0' {
        return None;
    }
    let n: u64 = std::str::from_utf8(k).ok()?.parse().ok()?;
    (n < u64::from(u32::MAX)).then_some(n)
}

/// `Number.prototype.toString()` for finite doubles (what `JSON.stringify` writes).
pub fn write_js_number(f: f64, out: &mut Vec<u8>) {
    if f == 0.0 {
        out.push(b'0');
        return;
    }
    if !f.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let mut buf = ryu::Buffer::new();
    let r = buf.format_finite(f.abs());
    let (mant, exp) = match r.find('e') {
        Some(i) => (&r[..i], r[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (r, 0),
    };
    let point = mant.find('.').unwrap_or(mant.len()) as i32;
    let mut digits: Vec<u8> = mant.bytes().filter(|c| *c != b'.').collect();
    let lead = digits.iter().take_while(|c| **c == b'0').count();
    digits.drain(..lead);
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    let n = point - lead as i32 + exp; // value = 0.d1d2… × 10^n
    let k = digits.len() as i32;
    if f < 0.0 {
        out.push(b'-');
    }
    if k <= n && n <= 21 {
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.extend_from_slice(&digits[..n as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-n) as usize));
        out.extend_from_slice(&digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        let e = n - 1;
        out.push(if e < 0 { b'-' } else { b'+' });
        let mut ib = itoa::Buffer::new();
        out.extend_from_slice(ib.format(e.unsigned_abs()).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(v: &str) -> Result<String, RowError> {
        let raw: &RawValue = serde_json::from_str(v).unwrap();
        let mut out = Vec::new();
        write_js_value(raw, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn lone_surrogates_are_written_as_escapes_and_pairs_as_characters() {
        assert_eq!(js(r#""\ud800""#).unwrap(), r#""\ud800""#);
        assert_eq!(js(r#""\uDC00x""#).unwrap(), r#""\udc00x""#);
        assert_eq!(js(r#""\ud83d\ude00""#).unwrap(), "\"\u{1F600}\"");
        assert_eq!(
            js(r#""\ud800\ud800\udc00""#).unwrap(),
            "\"\\ud800\u{10000}\""
        );
        assert_eq!(
            js(r#"{"\ud800":["\u0001"]}"#).unwrap(),
            r#"{"\ud800":["\u0001"]}"#
        );
    }

    #[test]
    fn nesting_is_limited_without_recursion_and_in_linear_time() {
        let ok = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(js(&ok).unwrap(), ok);
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(js(&deep), Err(too_deep()));
        // Far deeper than any stack allows a recursive walk (serde's RawValue reads it without
        // recursion): refused, not a crash.
        let n = 200_000;
        let huge = format!("{}{}", "[".repeat(n), "]".repeat(n));
        let raw: Box<RawValue> = RawValue::from_string(huge).unwrap();
        assert_eq!(write_js_value(&raw, &mut Vec::new()), Err(too_deep()));
    }

    #[test]
    fn javascript_key_order_with_many_duplicate_keys() {
        let mut v = String::from("{");
        for i in 0..40 {
            v.push_str(&format!("\"k{}\":{i},", i % 20));
        }
        v.push_str("\"7\":true}");
        let got = js(&v).unwrap();
        assert!(got.starts_with(r#"{"7":true,"k0":20,"k1":21,"#), "{got}");
        assert!(got.ends_with(r#""k19":39}"#), "{got}");
    }
}
