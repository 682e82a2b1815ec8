//! The request journal: what every client sent and what it was answered, secrets masked.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// How many entries the journal keeps (oldest dropped first) so memory stays bounded.
pub const JOURNAL_CAPACITY: usize = 10_000;

/// One request to a gateway route.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Also the `request_id` of the events this request stored.
    pub request_id: String,
    /// When the request arrived (RFC 3339, UTC).
    pub time: String,
    pub method: String,
    /// Path and query (a `writeKey` query value is masked).
    pub path: String,
    /// Headers in arrival order; `authorization` shows only the masked write key.
    pub headers: Vec<(String, String)>,
    pub remote_addr: String,
    /// Body bytes as received (compressed size when gzipped).
    pub body_bytes: usize,
    /// Size after gzip decoding, when the body was gzipped and could be decoded.
    pub decompressed_bytes: Option<usize>,
    pub gzip: bool,
    /// Status answered (0 when a connection fault answered nothing).
    pub status: u16,
    /// Body answered (the GIF of pixel routes is shown as `<gif>`).
    pub response: String,
    /// Body-level `sentAt` next to `batch` (as sent by SDKs; not part of stored events).
    pub body_sent_at: Option<String>,
    /// Body-level `timestamp` next to `batch` (the Node SDK sends one).
    pub body_timestamp: Option<String>,
    /// Events stored by this request.
    pub event_count: usize,
    pub source_id: Option<String>,
    /// The fault rule that answered (or delayed) this request.
    pub fault: Option<String>,
    /// Why the request was refused, naming the offending part.
    pub detail: Option<String>,
    pub duration_ms: f64,
}

#[derive(Default)]
pub(crate) struct Journal {
    entries: Mutex<VecDeque<JournalEntry>>,
}

impl Journal {
    pub fn push(&self, entry: JournalEntry) {
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if e.len() >= JOURNAL_CAPACITY {
            e.pop_front();
        }
        e.push_back(entry);
    }

    pub fn all(&self) -> Vec<JournalEntry> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
