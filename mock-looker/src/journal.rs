//! The journal: every exchange with a hub, tokens and sensitive params masked, kept in bounded
//! memory and served page by page.
//!
//! A hub's answers reach the journal, so a hub decides how big an entry is. Three limits keep a
//! long-running mock flat however a hub behaves (the hardening issue measured +73 MB per 1,000
//! refreshes of a hub answering 100 KB, and a 624 MB `GET /_mock/journal`):
//!
//! - at most [`Config::journal_entries`](crate::Config::journal_entries) entries, oldest dropped
//!   first (10,000 by default, like mock-dataplane's request journal);
//! - every text in an entry (bodies, URL, failure, breach details, links) cut at
//!   [`Config::journal_body_bytes`](crate::Config::journal_body_bytes), with a marker saying how
//!   many bytes were dropped, and at most [`MAX_LIST`] breaches or links per entry;
//! - at most [`Config::journal_bytes`](crate::Config::journal_bytes) in all (estimated), oldest
//!   dropped first, so that 10,000 entries of the largest size cannot add up to gigabytes.
//!
//! Ids keep increasing across evictions and `DELETE /_mock/journal`, so a reader pages with
//! `?since=<last id seen>` and never sees an entry twice.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::contract::Breach;

/// Entries kept by default (the oldest are dropped first), as mock-dataplane's journal.
pub const DEFAULT_JOURNAL_ENTRIES: usize = 10_000;
/// Bytes kept by default of each body or other text of an entry.
pub const DEFAULT_JOURNAL_BODY_BYTES: usize = 16 * 1024;
/// Estimated bytes the whole journal may hold by default.
pub const DEFAULT_JOURNAL_BYTES: usize = 32 * 1024 * 1024;
/// Breaches, links or headers kept per entry; the rest is counted in a marker.
pub const MAX_LIST: usize = 100;
/// Entries of a `GET /_mock/journal` page when `limit` is not given.
pub const DEFAULT_PAGE_ENTRIES: usize = 1000;
/// Estimated bytes of one page: a page stops early rather than build a huge answer (it always
/// holds at least one entry).
pub const PAGE_BYTES: usize = 8 * 1024 * 1024;

/// One exchange with a hub, as recorded (tokens and sensitive params masked).
#[derive(Debug, Clone, Serialize)]
pub struct JournalEntry {
    /// Position in recording order; strictly increasing, never reused (also after a clear).
    pub id: u64,
    pub at: String,
    /// list, form, execute, download, state.
    pub kind: String,
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    /// Request body (masked; cut at the journal's body limit with a `…[N bytes dropped]` marker).
    pub request_body: String,
    pub request_bytes: u64,
    pub status: Option<u16>,
    /// Answer body (cut at the journal's body limit with a `…[N bytes dropped]` marker).
    pub response_body: String,
    pub failure: Option<String>,
    pub breaches: Vec<Breach>,
    pub elapsed_ms: u64,
    pub oauth_links: Vec<String>,
}

/// The text of `bytes`, cut at `limit` bytes (on a character boundary) with a marker saying how
/// many bytes were dropped. Only the kept prefix is decoded, so a 1 MiB answer costs `limit`.
pub fn clip_bytes(bytes: &[u8], limit: usize) -> String {
    if bytes.len() <= limit {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut n = limit;
    // Back up over UTF-8 continuation bytes so a character is not split.
    while n > 0 && bytes[n] & 0xC0 == 0x80 {
        n -= 1;
    }
    let kept = String::from_utf8_lossy(&bytes[..n]);
    let marker = marker(bytes.len() - n);
    // Exactly sized: pushing the marker onto the kept text would double its capacity.
    let mut s = String::with_capacity(kept.len() + marker.len());
    s.push_str(&kept);
    s.push_str(&marker);
    s
}

fn marker(dropped: usize) -> String {
    format!("…[{dropped} bytes dropped]")
}

/// [`clip_bytes`] in place, for texts that are already strings.
fn clip_string(s: &mut String, limit: usize) {
    if s.len() > limit {
        let mut n = limit;
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        let dropped = s.len() - n;
        s.truncate(n);
        s.push_str(&marker(dropped));
        s.shrink_to_fit();
    }
}

/// Limits of a journal (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Entries kept.
    pub entries: usize,
    /// Bytes kept of each text of an entry.
    pub body_bytes: usize,
    /// Estimated bytes of all entries.
    pub bytes: usize,
}

/// One page of the journal.
pub(crate) struct Page {
    /// Entries with an id above `since`, oldest first.
    pub entries: Vec<Arc<JournalEntry>>,
    /// Whether entries after the last one of the page remain.
    pub more: bool,
}

#[derive(Default)]
struct Inner {
    /// Entries with their estimated size. Shared so a page is taken without copying bodies.
    entries: VecDeque<(Arc<JournalEntry>, usize)>,
    /// Sum of the estimated sizes.
    bytes: usize,
    /// Id of the next entry.
    next_id: u64,
    /// Entries dropped to stay within the limits (not counting clears).
    dropped: u64,
}

/// The bounded journal.
pub(crate) struct Journal {
    limits: Limits,
    inner: Mutex<Inner>,
}

impl Journal {
    pub fn new(limits: Limits) -> Journal {
        Journal {
            // A zero would make the journal useless or (bytes) evict the entry just added.
            limits: Limits {
                entries: limits.entries.max(1),
                body_bytes: limits.body_bytes.max(1),
                bytes: limits.bytes.max(1),
            },
            inner: Mutex::new(Inner {
                next_id: 1,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A body as the journal keeps it: cut at the body limit, with a marker.
    pub fn clip(&self, bytes: &[u8]) -> String {
        clip_bytes(bytes, self.limits.body_bytes)
    }

    /// Records an entry: bounds it, gives it the next id, drops the oldest entries beyond the
    /// limits. Bodies must come through [`Journal::clip`]; the other texts are cut here.
    pub fn push(&self, mut e: JournalEntry) {
        self.bound(&mut e);
        let size = estimated_size(&e);
        let mut inner = self.lock();
        e.id = inner.next_id;
        inner.next_id += 1;
        inner.entries.push_back((Arc::new(e), size));
        inner.bytes += size;
        while inner.entries.len() > self.limits.entries
            || (inner.bytes > self.limits.bytes && inner.entries.len() > 1)
        {
            let Some((_, size)) = inner.entries.pop_front() else {
                break;
            };
            inner.bytes -= size;
            inner.dropped += 1;
        }
    }

    /// Cuts every text a hub can make large, and caps the lists.
    fn bound(&self, e: &mut JournalEntry) {
        let limit = self.limits.body_bytes;
        // Bodies were cut by `clip`; its marker may add a few bytes, never a second cut.
        let body_limit = limit + 64;
        clip_string(&mut e.request_body, body_limit);
        clip_string(&mut e.response_body, body_limit);
        clip_string(&mut e.url, limit);
        if let Some(f) = &mut e.failure {
            clip_string(f, limit);
        }
        if e.request_headers.len() > MAX_LIST {
            let n = e.request_headers.len() - MAX_LIST;
            e.request_headers.truncate(MAX_LIST);
            e.request_headers
                .push(("…".into(), format!("[{n} more headers dropped]")));
        }
        for (k, v) in &mut e.request_headers {
            clip_string(k, limit);
            clip_string(v, limit);
        }
        if e.oauth_links.len() > MAX_LIST {
            let n = e.oauth_links.len() - MAX_LIST;
            e.oauth_links.truncate(MAX_LIST);
            e.oauth_links.push(format!("…[{n} more links dropped]"));
        }
        for l in &mut e.oauth_links {
            clip_string(l, limit);
        }
        if e.breaches.len() > MAX_LIST {
            let n = e.breaches.len() - MAX_LIST;
            let request = e.breaches[0].request.clone();
            e.breaches.truncate(MAX_LIST);
            e.breaches.push(Breach {
                request,
                rule: "journal.truncated".into(),
                json_path: "$".into(),
                detail: format!(
                    "{n} more breaches not kept in the journal (the outcome has them all)"
                ),
            });
        }
        for b in &mut e.breaches {
            clip_string(&mut b.request, limit);
            clip_string(&mut b.rule, limit);
            clip_string(&mut b.json_path, limit);
            clip_string(&mut b.detail, limit);
        }
    }

    /// Every entry kept, oldest first (bounded by the limits).
    pub fn all(&self) -> Vec<JournalEntry> {
        self.lock()
            .entries
            .iter()
            .map(|(e, _)| JournalEntry::clone(e))
            .collect()
    }

    /// Up to `limit` entries with an id above `since`, stopping early past [`PAGE_BYTES`].
    pub fn page(&self, since: u64, limit: usize) -> Page {
        let inner = self.lock();
        // Ids increase along the deque: skip to the first one after `since`.
        let start = inner.entries.partition_point(|(e, _)| e.id <= since);
        let mut entries = Vec::new();
        let mut bytes = 0;
        let mut rest = inner.entries.range(start..);
        for (e, size) in rest.by_ref() {
            entries.push(e.clone());
            bytes += size;
            if entries.len() >= limit || bytes >= PAGE_BYTES {
                break;
            }
        }
        Page {
            entries,
            more: rest.next().is_some(),
        }
    }

    /// The newest `n` entries, newest first, and how many are kept in all (the console's view;
    /// entries are shared, not copied).
    pub fn newest(&self, n: usize) -> (Vec<Arc<JournalEntry>>, usize) {
        let inner = self.lock();
        let kept = inner.entries.len();
        (
            inner
                .entries
                .iter()
                .rev()
                .take(n)
                .map(|(e, _)| e.clone())
                .collect(),
            kept,
        )
    }

    /// How many entries were dropped to stay within the limits.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Forgets every entry; ids keep increasing.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.bytes = 0;
    }
}

/// Heap bytes an entry holds, roughly: its texts (their capacity, which is what they occupy)
/// plus a fixed cost per text and per entry.
fn estimated_size(e: &JournalEntry) -> usize {
    const PER_TEXT: usize = 32;
    let text = |s: &String| s.capacity() + PER_TEXT;
    256 + text(&e.at)
        + text(&e.kind)
        + text(&e.method)
        + text(&e.url)
        + text(&e.request_body)
        + text(&e.response_body)
        + e.failure.as_ref().map_or(0, text)
        + e.request_headers
            .iter()
            .map(|(k, v)| text(k) + text(v))
            .sum::<usize>()
        + e.oauth_links.iter().map(text).sum::<usize>()
        + e.breaches
            .iter()
            .map(|b| text(&b.request) + text(&b.rule) + text(&b.json_path) + text(&b.detail))
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_characters_whole_and_counts_what_it_dropped() {
        assert_eq!(clip_bytes(b"abc", 3), "abc");
        assert_eq!(clip_bytes(b"abcdef", 4), "abcd…[2 bytes dropped]");
        // "é" is two bytes: a cut inside it backs up to before it.
        assert_eq!(clip_bytes("aé".as_bytes(), 2), "a…[2 bytes dropped]");
        // The journal's budget counts capacity: a cut body must not hold twice its size.
        let cut = clip_bytes(&[b'x'; 100_000], 16 * 1024);
        assert_eq!(cut.capacity(), cut.len());
        let mut s = "xyzé".to_owned();
        clip_string(&mut s, 4);
        assert_eq!(s, "xyz…[2 bytes dropped]");
    }
}
