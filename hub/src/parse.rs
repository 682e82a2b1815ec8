//! Incremental parsers for Looker's `json_detail`, `json_detail_lite_stream` and `json` results.
//!
//! Looker results can be far larger than memory should allow, so the document is never held:
//! bytes are [`fed`](Parser::feed) as they arrive (from a pushed attachment or the download_url
//! response), and [`next_item`](Parser::next_item) hands out the root `fields`, `ran_at` and each
//! row of `data` as a borrowed slice of the input as soon as it is complete. Only the current,
//! not yet complete value stays buffered, and only up to a limit
//! ([`Parser::with_max_value_bytes`], [`DEFAULT_MAX_VALUE_BYTES`]): a larger row is skipped to
//! its end without being kept ([`Item::RowTooLarge`]). Nesting is counted, never recursed, so
//! no depth can exhaust the stack.
//!
//! The parser only tracks the document's structure (strings, nesting, the root keys); a row is
//! validated by whoever parses it (the mapping), and skipped root values are validated here.
//! Like the official hub (oboe paths `!.fields`, `!.ran_at`, `!.data.*`), only root-level keys
//! count: a nested `data` (e.g. in top-level `pivots`) is not mistaken for rows.

use std::fmt;

use serde::de::IgnoredAny;

use crate::mapping::{Field, Fields};

/// A result format the hub can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `json_detail`: `{…, "fields": {…}, "ran_at": …, "data": [row, …], …}`.
    JsonDetail,
    /// `json_detail_lite_stream`: the same paths, streamed by Looker ≥ 6.2.
    JsonDetailLiteStream,
    /// `json`: a root array of flat rows `[{"view.field": value}, …]`.
    Json,
}

impl Format {
    /// Looker's name of the format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JsonDetail => "json_detail",
            Self::JsonDetailLiteStream => "json_detail_lite_stream",
            Self::Json => "json",
        }
    }
    /// Parses a Looker format name; `inline_json` is read as `json`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "json_detail" => Some(Self::JsonDetail),
            "json_detail_lite_stream" => Some(Self::JsonDetailLiteStream),
            "json" | "inline_json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// What the parser found.
#[derive(Debug)]
pub enum Item<'a> {
    /// The root `fields` object.
    Fields(Fields),
    /// The root `ran_at` (null when it was null or not a string).
    RanAt(Option<String>),
    /// One row: the JSON text of the row object, borrowed from the parser's buffer.
    Row(&'a str),
    /// A row larger than the parser's limit ([`Parser::with_max_value_bytes`]): it was skipped
    /// without being buffered, so only its size is known. It counts as a row.
    RowTooLarge {
        /// The row's size in bytes.
        bytes: u64,
    },
}

/// The default limit of one row (and of any other root value), in bytes: twice the gateway's
/// 4,096,000-byte request limit, since a cell's `rendered` text can double a row whose event
/// would still fit in a request. A larger row could never be sent.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 8_192_000;

/// What happens to a value that grows past the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Oversize {
    /// Keep scanning its structure to find its end, dropping its bytes (rows, ignored keys).
    Skip,
    /// Fail at once, naming the value (`fields`, `ran_at`, root keys).
    Fail(&'static str),
}

/// A value [`Parser::scan_value`] finished.
#[derive(Debug, Clone, Copy)]
struct Scanned {
    /// Its end in the buffer.
    end: usize,
    /// Bytes of it that were dropped because it grew past the limit (0: it is whole).
    skipped: u64,
}

/// A parse failure, saying what went wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// What and where, ready for Looker's message.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the root value.
    Start,
    /// In the root object, before a key (`first`: no `,` expected).
    RootKey { first: bool },
    /// After a root key's `:`; `key` says what the value is.
    RootValue { key: RootKey },
    /// After a root value.
    RootAfter,
    /// In the row array (`data`, or the root array of `json`).
    Rows { expect: RowsExpect },
    /// After the closing `]` of a root array (json).
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowsExpect {
    /// Just after `[`: a row or `]`.
    FirstOrEnd,
    /// After `,`: a row.
    Value,
    /// After a row: `,` or `]`.
    CommaOrEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RootKey {
    Fields,
    RanAt,
    Data,
    Other,
}

/// Resumable scan of one JSON value: where it started and how far it has been scanned.
#[derive(Debug, Clone, Copy)]
struct Scan {
    start: usize,
    cursor: usize,
    depth: u32,
    in_str: bool,
    esc: bool,
    /// The value's first byte (its kind), kept because a skipped value's start is dropped.
    first: u8,
    /// Bytes already dropped from the front of an oversized value being skipped.
    skipped: u64,
}

/// The incremental parser. Feed bytes, pull items, call [`finish`](Parser::finish) at the end.
#[derive(Debug)]
pub struct Parser {
    format: Format,
    buf: Vec<u8>,
    /// Everything before `pos` has been consumed.
    pos: usize,
    /// Bytes drained from the front of `buf` so far (for byte offsets in errors).
    drained: u64,
    state: State,
    scan: Option<Scan>,
    eof: bool,
    rows: u64,
    /// Row slice handed out by the last `next_item`, consumed on the next call.
    pending: Option<usize>,
    /// Largest row (or other root value) kept in memory; larger rows are skipped.
    max_value: usize,
}

impl Parser {
    /// A parser for `format`.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            drained: 0,
            state: State::Start,
            scan: None,
            eof: false,
            rows: 0,
            pending: None,
            max_value: DEFAULT_MAX_VALUE_BYTES,
        }
    }

    /// Sets the largest row (or other root value) the parser buffers, in bytes. A larger row is
    /// skipped to its end without being kept and reported as [`Item::RowTooLarge`]; a larger
    /// `fields` or `ran_at` is an error; a larger value of another root key is skipped. So the
    /// parser never holds more than about `max` bytes plus one fed chunk.
    pub fn with_max_value_bytes(mut self, max: usize) -> Self {
        self.max_value = max.max(1);
        self
    }

    /// The format being read.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Rows handed out so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes held in the buffer now (consumed ones included until the next `feed` drops them).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends input. Consumed bytes are dropped first, so the buffer holds at most the value
    /// being read plus one chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        if let Some(end) = self.pending.take() {
            self.pos = end;
        }
        // A value being scanned keeps its bytes from its start on (a skipped one from where the
        // skip got to; whitespace peeked past it is not consumed yet).
        let keep = self.scan.map_or(self.pos, |s| s.start.min(self.pos));
        if keep > 0 && (keep >= self.buf.len() / 2 || self.buf.len() > 1 << 20) {
            let n = keep;
            self.buf.drain(..n);
            self.drained += n as u64;
            self.pos -= n;
            if let Some(s) = &mut self.scan {
                s.start -= n;
                s.cursor -= n;
            }
        }
        self.buf.extend_from_slice(chunk);
    }

    /// Marks the end of input: after this, `next_item` reports a truncated document instead of
    /// waiting for more.
    pub fn finish_input(&mut self) {
        self.eof = true;
    }

    /// Checks that the document was complete. Call after `finish_input` and after `next_item`
    /// returned `None`.
    pub fn finish(&mut self) -> Result<(), ParseError> {
        if let Some(end) = self.pending.take() {
            self.pos = end;
        }
        self.skip_ws();
        match self.state {
            State::End if self.pos == self.buf.len() => Ok(()),
            State::End => Err(self.err("unexpected data after the end of the document")),
            _ => Err(self.truncated()),
        }
    }

    fn truncated(&self) -> ParseError {
        if self.state == State::Start
            && self.drained == 0
            && self.buf.iter().all(u8::is_ascii_whitespace)
        {
            return ParseError {
                message: format!("the {} document is empty", self.format.as_str()),
            };
        }
        let place = match self.state {
            State::Rows { expect } if expect != RowsExpect::CommaOrEnd && self.scan.is_some() => {
                format!("in row {}", self.rows + 1)
            }
            State::RootValue {
                key: RootKey::Fields,
            } => "in `fields`".to_owned(),
            _ if self.rows > 0 => format!("after row {}", self.rows),
            _ => "before the first row".to_owned(),
        };
        ParseError {
            message: format!(
                "truncated {} document: the input ended {place} (after {} bytes)",
                self.format.as_str(),
                self.drained + self.buf.len() as u64
            ),
        }
    }

    fn err(&self, what: &str) -> ParseError {
        let place = match self.state {
            State::Rows { expect } if expect != RowsExpect::CommaOrEnd => {
                format!(" in row {}", self.rows + 1)
            }
            _ if self.rows > 0 => format!(" after row {}", self.rows),
            _ => String::new(),
        };
        ParseError {
            message: format!(
                "malformed {} document at byte {}{place}: {what}",
                self.format.as_str(),
                self.drained + self.pos as u64
            ),
        }
    }

    fn skip_ws(&mut self) {
        while self.pos < self.buf.len()
            && matches!(self.buf[self.pos], b' ' | b'\n' | b'\r' | b'\t')
        {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.buf.get(self.pos).copied()
    }

    /// Scans the value starting at `pos`; `Some` once complete. Iterative: nesting only moves a
    /// counter, so no input can exhaust the stack. A value growing past the limit is skipped
    /// (its scanned bytes are consumed, so `feed` drops them) or fails, as `oversize` says.
    fn scan_value(&mut self, oversize: Oversize) -> Result<Option<Scanned>, ParseError> {
        let mut s = self.scan.unwrap_or(Scan {
            start: self.pos,
            cursor: self.pos,
            depth: 0,
            in_str: false,
            esc: false,
            first: self.buf[self.pos],
            skipped: 0,
        });
        let buf = &self.buf;
        let first = s.first;
        let result = match first {
            b'{' | b'[' | b'"' => {
                let mut end = None;
                let mut i = s.cursor;
                while i < buf.len() {
                    let c = buf[i];
                    if s.in_str {
                        if s.esc {
                            s.esc = false;
                        } else if c == b'\\' {
                            s.esc = true;
                        } else if c == b'"' {
                            s.in_str = false;
                            if s.depth == 0 {
                                end = Some(i + 1);
                                break;
                            }
                        } else if c < 0x20 {
                            self.scan = None;
                            return Err(self.err("control character inside a string"));
                        }
                        i += 1;
                        continue;
                    }
                    match c {
                        b'"' => s.in_str = true,
                        b'{' | b'[' => s.depth += 1,
                        b'}' | b']' => {
                            s.depth -= 1;
                            if s.depth == 0 {
                                end = Some(i + 1);
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                s.cursor = i;
                end
            }
            b't' | b'f' | b'n' | b'-' | b'0'..=b'9' => {
                let mut i = s.cursor;
                while i < buf.len()
                    && !matches!(buf[i], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                {
                    i += 1;
                }
                s.cursor = i;
                if i < buf.len() || self.eof {
                    Some(i)
                } else {
                    None
                }
            }
            c => {
                return Err(self.err(&format!("expected a JSON value, found {:?}", char::from(c))));
            }
        };
        let len = s.cursor - s.start;
        if let Some(end) = result {
            self.scan = None;
            let whole = s.skipped == 0 && end - s.start <= self.max_value;
            if !whole && let Oversize::Fail(what) = oversize {
                return Err(self.too_large(what));
            }
            let skipped = if whole {
                0
            } else {
                s.skipped + (end - s.start) as u64
            };
            return Ok(Some(Scanned { end, skipped }));
        }
        if s.skipped > 0 || len > self.max_value {
            if let Oversize::Fail(what) = oversize {
                self.scan = None;
                return Err(self.too_large(what));
            }
            // Drop what was scanned: only the scan state is kept.
            s.skipped += len as u64;
            s.start = s.cursor;
            self.pos = s.cursor;
        }
        self.scan = Some(s);
        Ok(None)
    }

    fn too_large(&self, what: &str) -> ParseError {
        ParseError {
            message: format!(
                "{what} of the {} document is larger than {} bytes, the hub's limit of one value",
                self.format.as_str(),
                self.max_value
            ),
        }
    }

    fn expect_string_key(&mut self) -> Result<Option<(RootKey, usize)>, ParseError> {
        if self.buf[self.pos] != b'"' {
            return Err(self.err("expected a key string in the root object"));
        }
        let Some(Scanned { end, .. }) = self.scan_value(Oversize::Fail("a root key"))? else {
            return Ok(None);
        };
        // Need the ':' and the start of the value too.
        let mut j = end;
        while j < self.buf.len() && matches!(self.buf[j], b' ' | b'\n' | b'\r' | b'\t') {
            j += 1;
        }
        if j >= self.buf.len() {
            // Rescan the key later; keys are short.
            self.scan = None;
            return Ok(None);
        }
        if self.buf[j] != b':' {
            self.pos = j;
            return Err(self.err("expected ':' after a root key"));
        }
        let key: String = serde_json::from_slice(&self.buf[self.pos..end])
            .map_err(|e| self.err(&format!("invalid key: {e}")))?;
        let k = match key.as_str() {
            "fields" => RootKey::Fields,
            "ran_at" => RootKey::RanAt,
            "data" => RootKey::Data,
            _ => RootKey::Other,
        };
        Ok(Some((k, j + 1)))
    }

    /// The next complete item, or `None` when more input is needed (or the document is done;
    /// tell the two apart with [`finish`](Parser::finish) once input has ended).
    pub fn next_item(&mut self) -> Result<Option<Item<'_>>, ParseError> {
        if let Some(end) = self.pending.take() {
            self.pos = end;
        }
        loop {
            let Some(c) = self.peek() else {
                if self.eof && self.state != State::End {
                    return Err(self.truncated());
                }
                return Ok(None);
            };
            match self.state {
                State::Start => match (self.format, c) {
                    (Format::Json, b'[') => {
                        self.pos += 1;
                        self.state = State::Rows {
                            expect: RowsExpect::FirstOrEnd,
                        };
                    }
                    (Format::Json, _) => {
                        return Err(self.err("a json result must be an array of rows"));
                    }
                    (_, b'{') => {
                        self.pos += 1;
                        self.state = State::RootKey { first: true };
                    }
                    _ => {
                        return Err(self.err(&format!(
                            "a {} result must be a JSON object",
                            self.format.as_str()
                        )));
                    }
                },
                State::RootKey { first } => {
                    if c == b'}' && first {
                        self.pos += 1;
                        self.state = State::End;
                        continue;
                    }
                    match self.expect_string_key()? {
                        None => return self.need_more(),
                        Some((key, after)) => {
                            self.pos = after;
                            self.state = State::RootValue { key };
                        }
                    }
                }
                State::RootValue { key } => {
                    if key == RootKey::Data {
                        if c == b'[' {
                            self.pos += 1;
                            self.state = State::Rows {
                                expect: RowsExpect::FirstOrEnd,
                            };
                            continue;
                        } else if c != b'n' {
                            return Err(self.err("`data` must be an array of rows"));
                        }
                    }
                    let oversize = match key {
                        RootKey::Fields => Oversize::Fail("`fields`"),
                        RootKey::RanAt => Oversize::Fail("`ran_at`"),
                        RootKey::Data => Oversize::Fail("`data`"),
                        RootKey::Other => Oversize::Skip,
                    };
                    let Some(Scanned { end, skipped }) = self.scan_value(oversize)? else {
                        return self.need_more();
                    };
                    let start = self.pos;
                    self.pos = end;
                    self.state = State::RootAfter;
                    if skipped > 0 {
                        // An ignored root value too large to keep: skipped unvalidated.
                        continue;
                    }
                    let text = &self.buf[start..end];
                    match key {
                        RootKey::Fields => {
                            let fields: Fields =
                                serde_json::from_slice(text).map_err(|e| ParseError {
                                    message: format!(
                                        "invalid `fields` in the {} document: {e}",
                                        self.format.as_str()
                                    ),
                                })?;
                            if self.rows > 0 {
                                return Err(ParseError {
                                    message: format!(
                                        "`fields` arrived after row {} of the {} document: the hub \
                                         needs the field metadata before the first row",
                                        self.rows,
                                        self.format.as_str()
                                    ),
                                });
                            }
                            return Ok(Some(Item::Fields(fields)));
                        }
                        RootKey::RanAt => {
                            let v: serde_json::Value = serde_json::from_slice(text)
                                .map_err(|e| self.err(&format!("invalid `ran_at`: {e}")))?;
                            return Ok(Some(Item::RanAt(v.as_str().map(str::to_owned))));
                        }
                        RootKey::Data | RootKey::Other => {
                            serde_json::from_slice::<IgnoredAny>(text)
                                .map_err(|e| self.err(&format!("invalid JSON value: {e}")))?;
                        }
                    }
                }
                State::RootAfter => match c {
                    b',' => {
                        self.pos += 1;
                        self.state = State::RootKey { first: false };
                    }
                    b'}' => {
                        self.pos += 1;
                        self.state = State::End;
                    }
                    _ => return Err(self.err("expected ',' or '}' in the root object")),
                },
                State::Rows { expect } => {
                    // While a row is being scanned (or skipped), `c` is somewhere inside it.
                    let scanning = self.scan.is_some();
                    match (expect, c) {
                        _ if scanning => {}
                        (RowsExpect::FirstOrEnd | RowsExpect::CommaOrEnd, b']') => {
                            self.pos += 1;
                            self.state = match self.format {
                                Format::Json => State::End,
                                _ => State::RootAfter,
                            };
                            continue;
                        }
                        (RowsExpect::CommaOrEnd, b',') => {
                            self.pos += 1;
                            self.state = State::Rows {
                                expect: RowsExpect::Value,
                            };
                            continue;
                        }
                        (RowsExpect::CommaOrEnd, _) => {
                            return Err(self.err("expected ',' or ']' after a row"));
                        }
                        (RowsExpect::Value, b']') => {
                            return Err(self.err("trailing ',' in the row array"));
                        }
                        (_, b'{') => {}
                        _ => return Err(self.err("a row must be a JSON object")),
                    }
                    let Some(Scanned { end, skipped }) = self.scan_value(Oversize::Skip)? else {
                        return self.need_more();
                    };
                    let start = self.pos;
                    self.state = State::Rows {
                        expect: RowsExpect::CommaOrEnd,
                    };
                    self.rows += 1;
                    self.pending = Some(end);
                    if skipped > 0 {
                        return Ok(Some(Item::RowTooLarge { bytes: skipped }));
                    }
                    let text =
                        std::str::from_utf8(&self.buf[start..end]).map_err(|_| ParseError {
                            message: format!(
                                "row {} of the {} document is not valid UTF-8",
                                self.rows,
                                self.format.as_str()
                            ),
                        })?;
                    return Ok(Some(Item::Row(text)));
                }
                State::End => {
                    return Err(self.err("unexpected data after the end of the document"));
                }
            }
        }
    }

    fn need_more(&self) -> Result<Option<Item<'_>>, ParseError> {
        if self.eof {
            Err(self.truncated())
        } else {
            Ok(None)
        }
    }
}

/// Field metadata for a `json` result, inferred from the first row's keys: a column named like
/// an id tag (`email`, `user_id`, `rudder_anonymous_id`, `rudder_group_id`, also as
/// `view.<tag>`) carries that tag, since plain `json` has no tags.
pub fn infer_json_fields(row: &str) -> Result<Fields, ParseError> {
    let entries = crate::mapping::parse_entries(row)
        .map_err(|e| ParseError {
            message: format!("row 1 of the json document is invalid: {e}"),
        })?
        .unwrap_or_default();
    let tags = [
        crate::mapping::TAG_EMAIL,
        crate::mapping::TAG_USER_ID,
        crate::mapping::TAG_ANONYMOUS_ID,
        crate::mapping::TAG_GROUP_ID,
    ];
    let dimensions = entries
        .iter()
        .map(|(k, _)| {
            let last = k.rsplit('.').next().unwrap_or(k);
            let tag: Vec<&str> = tags.iter().copied().filter(|t| *t == last).collect();
            Field::new(k, &tag)
        })
        .collect();
    Ok(Fields {
        dimensions,
        ..Fields::default()
    })
}

/// Unescapes the content of a JSON string (`src[*pos..]`, without quotes) into `out` until about
/// `max` bytes were written; escapes are handled whole, so chunks never split one. This is how
/// a pushed `attachment.data` (a JSON string holding the Look) is fed to the [`Parser`] without
/// a second copy of the body. A lone surrogate escape becomes U+FFFD (the result must be UTF-8);
/// a `\` followed by anything but a JSON escape, or a cut `\u`, is an error naming the byte.
///
/// ```
/// let mut pos = 0;
/// let mut out = Vec::new();
/// hub::parse::unescape_chunk(br#"{\"a\":\"\u00e9\"}"#, &mut pos, &mut out, 1024).unwrap();
/// assert_eq!(out, "{\"a\":\"é\"}".as_bytes());
/// ```
pub fn unescape_chunk(
    src: &[u8],
    pos: &mut usize,
    out: &mut Vec<u8>,
    max: usize,
) -> Result<(), String> {
    let bad = |at: usize| format!("attachment.data is not a valid JSON string (byte {at})");
    let mut i = *pos;
    while i < src.len() && out.len() < max {
        let run_end = memchr::memchr(b'\\', &src[i..]).map_or(src.len(), |k| i + k);
        let take_end = run_end.min(i.saturating_add((max - out.len()).max(1)));
        out.extend_from_slice(&src[i..take_end]);
        i = take_end;
        if i < run_end || i >= src.len() {
            continue;
        }
        // src[i] == '\\'
        let c = *src.get(i + 1).ok_or_else(|| bad(i))?;
        i += 2;
        match c {
            b'"' => out.push(b'"'),
            b'\\' => out.push(b'\\'),
            b'/' => out.push(b'/'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let hex = |at: usize| -> Result<u32, String> {
                    let h = src.get(at..at + 4).ok_or_else(|| bad(at))?;
                    // from_str_radix alone would take a sign (`\u+fff`).
                    if !h.iter().all(u8::is_ascii_hexdigit) {
                        return Err(bad(at));
                    }
                    u32::from_str_radix(std::str::from_utf8(h).map_err(|_| bad(at))?, 16)
                        .map_err(|_| bad(at))
                };
                let mut cp = hex(i)?;
                i += 4;
                if (0xD800..0xDC00).contains(&cp) && src.get(i..i + 2) == Some(b"\\u") {
                    let lo = hex(i + 2)?;
                    if (0xDC00..0xE000).contains(&lo) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    }
                }
                let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                let mut b = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
            }
            _ => return Err(bad(i - 1)),
        }
    }
    *pos = i;
    Ok(())
}
