//! Event storage: an in-memory vector for tests, or SQLite (WAL) for durability.
//!
//! Acknowledged means durable: a request's events are appended and the call returns only once
//! they are committed. The SQLite writer runs on its own thread and groups every append that is
//! waiting into one transaction (like the gateway's micro-batching of web requests before its DB
//! writer), so many concurrent requests share one commit (and one fsync).

//!
//! `memory` and `sqlite` hold the two back ends; this module holds what both share (the record,
//! the filter, the commit feed) and the [`Store`] that picks one.

mod memory;
mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::ingest::NewEvent;
use crate::json_text::push_json_str;

use memory::MemoryStore;
use sqlite::SqliteStore;

/// Filters for [`crate::MockDataplane::events`] and `GET /_mock/events`; all set fields must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFilter {
    pub write_key: Option<String>,
    pub r#type: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub event: Option<String>,
    pub message_id: Option<String>,
    /// Only events with a cursor greater than this.
    pub since: Option<u64>,
    /// At most this many events.
    pub limit: Option<usize>,
}

/// An accepted event, as the gateway stores it (enriched), plus where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Position in arrival order; strictly increasing, never reused (also after a reset).
    pub cursor: u64,
    /// The id of the HTTP request that carried the event (see the request journal).
    pub request_id: String,
    pub source_id: String,
    /// Empty in events read over HTTP ([`crate::Client`]): the API never sends write keys.
    #[serde(default)]
    pub write_key: String,
    pub event: serde_json::Value,
}

/// One stored row, with the event still as JSON text.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub cursor: u64,
    pub request_id: Arc<str>,
    pub source_id: Arc<str>,
    pub write_key: Arc<str>,
    pub ev: NewEvent,
}

impl Record {
    pub fn json(&self) -> &str {
        self.ev.json()
    }

    pub fn matches(&self, f: &EventFilter) -> bool {
        fn eq(want: &Option<String>, have: &str) -> bool {
            want.as_deref().is_none_or(|w| w == have)
        }
        f.since.is_none_or(|s| self.cursor > s)
            && eq(&f.write_key, &self.write_key)
            && eq(&f.r#type, self.ev.r#type())
            && eq(&f.user_id, self.ev.user_id())
            && eq(&f.anonymous_id, self.ev.anonymous_id())
            && eq(&f.event, self.ev.event())
            && eq(&f.message_id, self.ev.message_id())
    }

    pub fn to_stored(&self) -> StoredEvent {
        StoredEvent {
            cursor: self.cursor,
            request_id: self.request_id.to_string(),
            source_id: self.source_id.to_string(),
            write_key: self.write_key.to_string(),
            // Nesting beyond serde_json's recursion limit (which the gateway accepts) cannot
            // become a Value: hand back the stored text as a JSON string instead of losing it.
            event: serde_json::from_str(self.json())
                .unwrap_or_else(|_| serde_json::Value::String(self.json().to_owned())),
        }
    }

    /// `{"cursor":..,"request_id":..,"source_id":..,"event":{..}}` written directly from the
    /// stored text (the write key is left out of HTTP answers: it is a secret).
    pub fn write_json(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, r#"{{"cursor":{},"request_id":"#, self.cursor);
        push_json_str(out, &self.request_id);
        out.push_str(r#","source_id":"#);
        push_json_str(out, &self.source_id);
        out.push_str(r#","event":"#);
        out.push_str(self.json());
        out.push('}');
    }
}

/// The events of one accepted request.
pub(crate) struct Append {
    pub request_id: Arc<str>,
    pub source_id: Arc<str>,
    pub write_key: Arc<str>,
    pub events: Vec<NewEvent>,
}

/// Storage failures; the gateway answers them with 500 and the raw error text.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the storage writer has stopped")]
    WriterGone,
    #[error("cannot start the storage's {name} thread: {source}")]
    Thread {
        name: &'static str,
        source: std::io::Error,
    },
}

/// Counts for `/_mock/stats`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    pub total: u64,
    /// source id -> type -> count
    pub by_source: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>,
    /// type -> count
    pub by_type: std::collections::BTreeMap<String, u64>,
    /// messageIds stored more than once (e.g. a retried batch), with how often.
    pub duplicate_message_ids: Vec<Duplicate>,
    /// Events beyond the first copy of each duplicated messageId.
    pub duplicate_events: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Duplicate {
    #[serde(rename = "messageId")]
    pub message_id: String,
    pub count: u64,
}

/// Notification after each commit: the last cursor. Waiters and SSE subscribers wake on it
/// and read what is new from the store, so no event is copied per subscriber.
pub(crate) struct Feed {
    pub last: watch::Sender<u64>,
}

impl Feed {
    fn publish(&self, last: u64) {
        self.last.send_replace(last);
    }
}

pub(crate) enum Store {
    Memory(Mutex<MemoryStore>),
    Sqlite(SqliteStore),
}

impl Store {
    pub fn memory() -> (Store, Arc<Feed>) {
        (
            Store::Memory(Mutex::new(MemoryStore::default())),
            new_feed(0),
        )
    }

    /// Opens (or creates) `dir/events.sqlite3` in WAL mode.
    pub fn sqlite(dir: &Path, fsync: bool) -> Result<(Store, Arc<Feed>), StoreError> {
        let (store, feed) = SqliteStore::open(dir, fsync)?;
        Ok((Store::Sqlite(store), feed))
    }

    fn memory_lock(m: &Mutex<MemoryStore>) -> std::sync::MutexGuard<'_, MemoryStore> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores the events of one request; returns once they are committed.
    pub async fn append(&self, feed: &Feed, append: Append) -> Result<(u64, u64), StoreError> {
        match self {
            Store::Memory(m) => Ok(Self::memory_lock(m).append(feed, append)),
            Store::Sqlite(s) => s.append(append).await,
        }
    }

    /// Matching records in arrival order.
    pub async fn query(&self, filter: &EventFilter) -> Result<Vec<Arc<Record>>, StoreError> {
        match self {
            Store::Memory(m) => Ok(Self::memory_lock(m).query(filter)),
            Store::Sqlite(s) => s.query(filter).await,
        }
    }

    /// [`Store::query`] on the calling thread, for code that cannot await (the handle's drop).
    pub fn query_blocking(&self, filter: &EventFilter) -> Result<Vec<Arc<Record>>, StoreError> {
        match self {
            Store::Memory(m) => Ok(Self::memory_lock(m).query(filter)),
            Store::Sqlite(s) => s.query_blocking(filter),
        }
    }

    /// Checks that the store answers (`/health`): a trivial read, whatever it holds.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Sqlite(s) => s.ping().await,
        }
    }

    /// How many records match (ignores `limit`).
    pub async fn count(&self, filter: &EventFilter) -> Result<usize, StoreError> {
        match self {
            Store::Memory(m) => Ok(Self::memory_lock(m).count(filter)),
            Store::Sqlite(s) => s.count(filter).await,
        }
    }

    /// Deletes every stored event (cursors keep increasing).
    pub async fn reset(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(m) => {
                Self::memory_lock(m).reset();
                Ok(())
            }
            Store::Sqlite(s) => s.reset().await,
        }
    }

    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let (rows, dups) = match self {
            Store::Memory(m) => Self::memory_lock(m).stats_rows(),
            Store::Sqlite(s) => s.stats_rows().await?,
        };
        let mut stats = Stats::default();
        for (source, ty, n) in rows {
            stats.total += n;
            *stats.by_type.entry(ty.clone()).or_default() += n;
            *stats
                .by_source
                .entry(source)
                .or_default()
                .entry(ty)
                .or_default() += n;
        }
        for (message_id, count) in dups {
            stats.duplicate_events += count - 1;
            stats
                .duplicate_message_ids
                .push(Duplicate { message_id, count });
        }
        Ok(stats)
    }
}

/// What [`Store::stats`] counts, as each back end reads it: (source id, type, count) groups
/// and the (messageId, count) pairs seen more than once, sorted by messageId.
type StatsRows = (Vec<(String, String, u64)>, Vec<(String, u64)>);

fn new_feed(last: u64) -> Arc<Feed> {
    Arc::new(Feed {
        last: watch::Sender::new(last),
    })
}

fn record_of(
    request_id: &Arc<str>,
    source_id: &Arc<str>,
    write_key: &Arc<str>,
    cursor: u64,
    ev: NewEvent,
) -> Record {
    Record {
        cursor,
        request_id: request_id.clone(),
        source_id: source_id.clone(),
        write_key: write_key.clone(),
        ev,
    }
}
