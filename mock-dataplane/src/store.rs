//! Event storage: an in-memory vector for tests, or SQLite (WAL) for durability.
//!
//! Acknowledged means durable: a request's events are appended and the call returns only once
//! they are committed. The SQLite writer runs on its own thread and groups every append that is
//! waiting into one transaction (like the gateway's micro-batching of web requests before its DB
//! writer), so many concurrent requests share one commit (and one fsync).

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params_from_iter};
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

use crate::ingest::NewEvent;
use crate::json_text::push_json_str;

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
#[derive(Clone, Debug, Default, Serialize)]
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

#[derive(Clone, Debug, Serialize)]
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

pub(crate) struct MemoryStore {
    records: Vec<Arc<Record>>,
    next_cursor: u64,
}

pub(crate) struct SqliteStore {
    writer: std_mpsc::Sender<WriterCmd>,
    reader: Arc<Mutex<Connection>>,
}

/// The writer's answer to an append: the cursor range, and the events handed back so their
/// memory is freed on the caller's thread rather than on the (serial) writer thread.
type AppendReply = Result<((u64, u64), Vec<NewEvent>), String>;

enum WriterCmd {
    Append(Append, oneshot::Sender<AppendReply>),
    Reset(oneshot::Sender<Result<(), String>>),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    cursor INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    write_key TEXT NOT NULL,
    type TEXT NOT NULL,
    user_id TEXT NOT NULL,
    anonymous_id TEXT NOT NULL,
    event TEXT NOT NULL,
    message_id TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

impl Store {
    pub fn memory() -> (Store, Arc<Feed>) {
        let feed = new_feed(0);
        (
            Store::Memory(Mutex::new(MemoryStore {
                records: Vec::new(),
                next_cursor: 1,
            })),
            feed,
        )
    }

    /// Opens (or creates) `dir/events.sqlite3` in WAL mode.
    pub fn sqlite(dir: &Path, fsync: bool) -> Result<(Store, Arc<Feed>), StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join("events.sqlite3");
        let conn = Connection::open(&path)?;
        // 16 KiB pages (for a new database; an existing one keeps its own): an event row is
        // ~800 bytes, and bigger pages cut the writer's per-page work (B-tree splits, WAL frame
        // headers and checksums) by about a third in the load bench.
        conn.pragma_update(None, "page_size", 16384)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Commits do not wait for the disk here: with `fsync` on, the `Syncer` thread makes
        // each group durable before it is acknowledged (see there). NORMAL still syncs around
        // every checkpoint, so nothing is lost when the WAL starts over.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoints run on their own thread (see `Checkpointer`), not inside a commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(SCHEMA)?;
        let max_cursor: u64 =
            conn.query_row("SELECT COALESCE(MAX(cursor), 0) FROM events", [], |r| {
                r.get::<_, i64>(0)
            })? as u64;
        // Cursors are never reused, even after a reset emptied the table.
        let stored_next: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key='next_cursor'", [], |r| {
                r.get(0)
            })
            .ok();
        let next_cursor = stored_next
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(1)
            .max(max_cursor + 1);
        let reader = Connection::open(&path)?;
        reader.pragma_update(None, "query_only", "ON")?;
        let feed = new_feed(next_cursor - 1);
        let checkpointer = Checkpointer::spawn(&path)?;
        let syncer = if fsync {
            Some(Syncer::spawn(dir.join("events.sqlite3-wal"))?)
        } else {
            None
        };
        let (tx, rx) = std_mpsc::channel();
        let writer_feed = feed.clone();
        std::thread::Builder::new()
            .name("dp-writer".into())
            .spawn(move || writer_loop(conn, rx, next_cursor, writer_feed, checkpointer, syncer))
            .map_err(|source| StoreError::Thread {
                name: "writer",
                source,
            })?;
        Ok((
            Store::Sqlite(SqliteStore {
                writer: tx,
                reader: Arc::new(Mutex::new(reader)),
            }),
            feed,
        ))
    }

    /// Stores the events of one request; returns once they are committed.
    pub async fn append(&self, feed: &Feed, append: Append) -> Result<(u64, u64), StoreError> {
        match self {
            Store::Memory(m) => {
                let mut m = m.lock().unwrap_or_else(|e| e.into_inner());
                let first = m.next_cursor;
                for ev in append.events {
                    let cursor = m.next_cursor;
                    m.next_cursor += 1;
                    m.records.push(Arc::new(record_of(
                        &append.request_id,
                        &append.source_id,
                        &append.write_key,
                        cursor,
                        ev,
                    )));
                }
                let last = m.next_cursor - 1;
                feed.publish(last);
                Ok((first, last))
            }
            Store::Sqlite(s) => {
                let (tx, rx) = oneshot::channel();
                s.writer
                    .send(WriterCmd::Append(append, tx))
                    .map_err(|_| StoreError::WriterGone)?;
                match rx.await {
                    Ok(Ok((range, events))) => {
                        drop(events);
                        Ok(range)
                    }
                    Ok(Err(e)) => Err(StoreError::Sqlite(rusqlite::Error::InvalidParameterName(e))),
                    Err(_) => Err(StoreError::WriterGone),
                }
            }
        }
    }

    /// Matching records in arrival order.
    pub async fn query(&self, filter: &EventFilter) -> Result<Vec<Arc<Record>>, StoreError> {
        match self {
            Store::Memory(_) => self.query_blocking(filter),
            Store::Sqlite(s) => {
                let reader = s.reader.clone();
                let filter = filter.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = reader.lock().unwrap_or_else(|e| e.into_inner());
                    sql_query(&conn, &filter)
                })
                .await
                .map_err(|_| StoreError::WriterGone)?
            }
        }
    }

    /// [`Store::query`] on the calling thread, for code that cannot await (the handle's drop).
    pub fn query_blocking(&self, filter: &EventFilter) -> Result<Vec<Arc<Record>>, StoreError> {
        match self {
            Store::Memory(m) => {
                let m = m.lock().unwrap_or_else(|e| e.into_inner());
                let since = filter.since.unwrap_or(0);
                // Cursors are increasing: skip straight to the first one after `since`.
                let start = m.records.partition_point(|r| r.cursor <= since);
                let limit = filter.limit.unwrap_or(usize::MAX);
                Ok(m.records[start..]
                    .iter()
                    .filter(|r| r.matches(filter))
                    .take(limit)
                    .cloned()
                    .collect())
            }
            Store::Sqlite(s) => {
                let conn = s.reader.lock().unwrap_or_else(|e| e.into_inner());
                sql_query(&conn, filter)
            }
        }
    }

    /// Checks that the store answers (`/health`): a trivial read, whatever it holds.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Sqlite(s) => {
                let reader = s.reader.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = reader.lock().unwrap_or_else(|e| e.into_inner());
                    conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
                    Ok(())
                })
                .await
                .map_err(|_| StoreError::WriterGone)?
            }
        }
    }

    /// How many records match (ignores `limit`).
    pub async fn count(&self, filter: &EventFilter) -> Result<usize, StoreError> {
        match self {
            Store::Memory(m) => {
                let m = m.lock().unwrap_or_else(|e| e.into_inner());
                let since = filter.since.unwrap_or(0);
                let start = m.records.partition_point(|r| r.cursor <= since);
                Ok(m.records[start..]
                    .iter()
                    .filter(|r| r.matches(filter))
                    .count())
            }
            Store::Sqlite(s) => {
                let reader = s.reader.clone();
                let filter = filter.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = reader.lock().unwrap_or_else(|e| e.into_inner());
                    let (where_sql, args) = where_clause(&filter);
                    let n: i64 = conn.query_row(
                        &format!("SELECT COUNT(*) FROM events{where_sql}"),
                        params_from_iter(args.iter()),
                        |r| r.get(0),
                    )?;
                    Ok(n as usize)
                })
                .await
                .map_err(|_| StoreError::WriterGone)?
            }
        }
    }

    /// Deletes every stored event (cursors keep increasing).
    pub async fn reset(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(m) => {
                m.lock().unwrap_or_else(|e| e.into_inner()).records.clear();
                Ok(())
            }
            Store::Sqlite(s) => {
                let (tx, rx) = oneshot::channel();
                s.writer
                    .send(WriterCmd::Reset(tx))
                    .map_err(|_| StoreError::WriterGone)?;
                rx.await
                    .map_err(|_| StoreError::WriterGone)?
                    .map_err(|e| StoreError::Sqlite(rusqlite::Error::InvalidParameterName(e)))
            }
        }
    }

    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let mut stats = Stats::default();
        let rows: Vec<(String, String, u64)>;
        let dups: Vec<(String, u64)>;
        match self {
            Store::Memory(m) => {
                let m = m.lock().unwrap_or_else(|e| e.into_inner());
                let mut groups = std::collections::BTreeMap::<(String, String), u64>::new();
                let mut ids = std::collections::HashMap::<&str, u64>::new();
                for r in &m.records {
                    *groups
                        .entry((r.source_id.to_string(), r.ev.r#type().to_owned()))
                        .or_default() += 1;
                    *ids.entry(r.ev.message_id()).or_default() += 1;
                }
                rows = groups.into_iter().map(|((s, t), n)| (s, t, n)).collect();
                let mut d: Vec<(String, u64)> = ids
                    .into_iter()
                    .filter(|(_, n)| *n > 1)
                    .map(|(k, n)| (k.to_owned(), n))
                    .collect();
                d.sort();
                dups = d;
            }
            Store::Sqlite(s) => {
                let reader = s.reader.clone();
                let res = tokio::task::spawn_blocking(move || -> Result<_, rusqlite::Error> {
                    let conn = reader.lock().unwrap_or_else(|e| e.into_inner());
                    let mut st = conn.prepare(
                        "SELECT source_id, type, COUNT(*) FROM events GROUP BY source_id, type",
                    )?;
                    let rows = st
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64)))?
                        .collect::<Result<Vec<_>, _>>()?;
                    let mut st = conn.prepare(
                        "SELECT message_id, COUNT(*) FROM events GROUP BY message_id HAVING COUNT(*) > 1 ORDER BY message_id",
                    )?;
                    let dups = st
                        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((rows, dups))
                })
                .await
                .map_err(|_| StoreError::WriterGone)??;
                rows = res.0;
                dups = res.1;
            }
        }
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

/// Most requests one transaction takes; bounds latency of the first waiter.
const MAX_GROUP: usize = 256;

/// Copies the WAL back into the database file on its own thread and connection.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so one
/// request in every few hundred waited 30-40 ms while 16 MiB were copied and synced, and every
/// client waited behind it (the load bench's p99, and a good part of its wall time). Here a
/// PASSIVE checkpoint on another connection does the bulk of the copying beside the writer.
///
/// SQLite rewinds the WAL at the start of a write only once a checkpoint has caught up with
/// its end, which a checkpoint running beside a busy writer never quite does. So once the WAL
/// holds [`REWIND_AT_FRAMES`] and the checkpointer has copied nearly all of it, the writer
/// checkpoints the small rest itself (a few milliseconds) and the next write rewinds the WAL.
/// Should the checkpointer fall far behind, the writer runs a blocking checkpoint itself, so
/// the WAL stays bounded; only a long inspection read can pin it longer, and then the writer
/// waits at most 100 ms for it per attempt rather than hold acknowledgements back.
struct Checkpointer {
    nudge: std_mpsc::SyncSender<()>,
    /// Frames in the WAL and frames copied, at the end of the checkpointer's last pass.
    progress: Arc<std::sync::atomic::AtomicU64>,
    /// Bytes written since the last nudge.
    since_nudge: usize,
}

/// How long the writer waits for a lock (a checkpoint or reader) before SQLite reports busy.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Nudge the checkpointer after this many bytes of events.
const CHECKPOINT_EVERY_BYTES: usize = 2 << 20;
/// WAL size (16 KiB frames) from which the writer finishes a checkpoint to rewind it: 16 MiB.
const REWIND_AT_FRAMES: u64 = 1024;
/// How far behind the checkpointer may be for the writer to finish its work: 4 MiB.
const CATCH_UP_FRAMES: u64 = 256;
/// Frames in the WAL beyond which the writer checkpoints everything itself: 256 MiB.
const WAL_HARD_LIMIT_FRAMES: u64 = 16384;

impl Checkpointer {
    fn spawn(path: &Path) -> Result<Checkpointer, StoreError> {
        use std::sync::atomic::Ordering;
        let conn = Connection::open(path)?;
        // NORMAL: the WAL is synced before a checkpoint copies it, the database after.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let (nudge, rx) = std_mpsc::sync_channel::<()>(1);
        let progress = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let shared = progress.clone();
        std::thread::Builder::new()
            .name("dp-checkpoint".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    match passive_checkpoint(&conn) {
                        Ok(Some((log, done))) => {
                            shared.store(log << 32 | done, Ordering::Relaxed);
                        }
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                    }
                }
            })
            .map_err(|source| StoreError::Thread {
                name: "checkpoint",
                source,
            })?;
        Ok(Checkpointer {
            nudge,
            progress,
            since_nudge: 0,
        })
    }

    /// Called by the writer after each commit of `bytes`.
    fn after_commit(&mut self, conn: &Connection, bytes: usize) {
        use std::sync::atomic::Ordering;
        self.since_nudge += bytes;
        if self.since_nudge < CHECKPOINT_EVERY_BYTES {
            return;
        }
        self.since_nudge = 0;
        let p = self.progress.load(Ordering::Relaxed);
        let (log, done) = (p >> 32, p & 0xffff_ffff);
        if log >= WAL_HARD_LIMIT_FRAMES {
            // A long inspection query can pin the WAL: wait for it at most briefly, so the
            // writer never holds acknowledgements back for long (next time it tries again).
            let _ = conn.busy_timeout(std::time::Duration::from_millis(100));
            match conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0)) {
                Ok(0) => self.progress.store(0, Ordering::Relaxed),
                Ok(_) => tracing::debug!("WAL checkpoint waiting for a reader"),
                Err(e) => tracing::warn!(error = %e, "blocking WAL checkpoint failed"),
            }
            let _ = conn.busy_timeout(BUSY_TIMEOUT);
        } else if log >= REWIND_AT_FRAMES && log.saturating_sub(done) <= CATCH_UP_FRAMES {
            // Copy the rest; the next write transaction then starts the WAL from the top.
            if let Ok(Some(_)) = passive_checkpoint(conn) {
                self.progress.store(0, Ordering::Relaxed);
            }
        }
        // A full channel means a nudge is already pending: nothing to add.
        let _ = self.nudge.try_send(());
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: `(frames in the WAL, frames copied)`, or `None` when
/// another checkpoint was running.
fn passive_checkpoint(conn: &Connection) -> Result<Option<(u64, u64)>, rusqlite::Error> {
    let (busy, log, done) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    Ok((busy == 0).then_some((log.max(0) as u64, done.max(0) as u64)))
}

/// A reply held back until the commit it answers is on disk.
enum Ack {
    Append(oneshot::Sender<AppendReply>, (u64, u64), Vec<NewEvent>),
    Reset(oneshot::Sender<Result<(), String>>),
}

impl Ack {
    /// Answers the waiting request: its result, or the error that kept it from being durable.
    fn send(self, failed: Option<&str>) {
        let fail = || failed.map(str::to_owned);
        match self {
            Ack::Append(reply, range, events) => {
                let _ = reply.send(fail().map_or(Ok((range, events)), Err));
            }
            Ack::Reset(reply) => {
                let _ = reply.send(fail().map_or(Ok(()), Err));
            }
        }
    }
}

/// Group commit with the disk wait taken off the writer: acknowledged means durable.
///
/// With `synchronous=FULL` the writer itself waited for every commit's fsync, and nothing else
/// could be inserted meanwhile, so a slow disk (fsync measured here from 0.7 to 2.4 ms) capped
/// the whole data plane. Instead the writer commits without syncing and hands the replies
/// here; this thread syncs the WAL file once for every commit made so far, then sends those
/// replies, while the writer is already inserting the next group. A commit's WAL frames are
/// written before its replies arrive here, so the sync covers them; a checkpoint that copies
/// them into the database first syncs the WAL itself (`synchronous=NORMAL`).
struct Syncer {
    tx: std_mpsc::Sender<Vec<Ack>>,
}

impl Syncer {
    fn spawn(wal: PathBuf) -> Result<Syncer, StoreError> {
        let (tx, rx) = std_mpsc::channel::<Vec<Ack>>();
        std::thread::Builder::new()
            .name("dp-fsync".into())
            .spawn(move || {
                // Opened at the first commit: SQLite creates the WAL file when it first writes.
                let mut file: Option<std::fs::File> = None;
                while let Ok(mut acks) = rx.recv() {
                    while let Ok(more) = rx.try_recv() {
                        acks.extend(more);
                    }
                    let synced = match &file {
                        Some(f) => f.sync_data(),
                        None => std::fs::File::open(&wal).and_then(|f| {
                            let r = f.sync_data();
                            file = Some(f);
                            r
                        }),
                    };
                    let failed = synced
                        .err()
                        .map(|e| format!("syncing {} to disk failed: {e}", wal.display()));
                    if let Some(e) = &failed {
                        tracing::error!(error = %e, "events committed but not acknowledged");
                    }
                    for ack in acks {
                        ack.send(failed.as_deref());
                    }
                }
            })
            .map_err(|source| StoreError::Thread {
                name: "fsync",
                source,
            })?;
        Ok(Syncer { tx })
    }
}

fn writer_loop(
    mut conn: Connection,
    rx: std_mpsc::Receiver<WriterCmd>,
    mut next_cursor: u64,
    feed: Arc<Feed>,
    mut checkpointer: Checkpointer,
    syncer: Option<Syncer>,
) {
    while let Ok(first) = rx.recv() {
        let mut cmds = vec![first];
        while cmds.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(c) => cmds.push(c),
                Err(_) => break,
            }
        }
        let start_cursor = next_cursor;
        let result = commit_group(&mut conn, &cmds, &mut next_cursor);
        match result {
            Ok((ranges, bytes)) => {
                checkpointer.after_commit(&conn, bytes);
                let mut acks = Vec::with_capacity(cmds.len());
                for (cmd, range) in cmds.into_iter().zip(ranges) {
                    match cmd {
                        WriterCmd::Append(append, reply) => {
                            acks.push(Ack::Append(reply, range.unwrap_or((0, 0)), append.events));
                        }
                        WriterCmd::Reset(reply) => acks.push(Ack::Reset(reply)),
                    }
                }
                feed.publish(next_cursor - 1);
                match &syncer {
                    Some(syncer) => {
                        if let Err(std_mpsc::SendError(acks)) = syncer.tx.send(acks) {
                            for ack in acks {
                                ack.send(Some("the fsync thread has stopped"));
                            }
                        }
                    }
                    None => {
                        for ack in acks {
                            ack.send(None);
                        }
                    }
                }
            }
            Err(e) => {
                next_cursor = start_cursor;
                let text = e.to_string();
                for cmd in cmds {
                    match cmd {
                        WriterCmd::Append(_, reply) => {
                            let _ = reply.send(Err(text.clone()));
                        }
                        WriterCmd::Reset(reply) => {
                            let _ = reply.send(Err(text.clone()));
                        }
                    }
                }
            }
        }
    }
}

/// What a committed group wrote: the cursor range of each append (`None` for a reset) and the
/// bytes of event JSON.
type Committed = (Vec<Option<(u64, u64)>>, usize);

/// One transaction for a group of commands.
fn commit_group(
    conn: &mut Connection,
    cmds: &[WriterCmd],
    next_cursor: &mut u64,
) -> Result<Committed, rusqlite::Error> {
    let tx = conn.transaction()?;
    let mut ranges = Vec::with_capacity(cmds.len());
    let mut bytes = 0;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (cursor, request_id, source_id, write_key, type, user_id, anonymous_id, event, message_id, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for cmd in cmds {
            match cmd {
                WriterCmd::Append(a, _) => {
                    let first = *next_cursor;
                    for ev in &a.events {
                        insert.execute(rusqlite::params![
                            *next_cursor as i64,
                            &*a.request_id,
                            &*a.source_id,
                            &*a.write_key,
                            ev.r#type(),
                            ev.user_id(),
                            ev.anonymous_id(),
                            ev.event(),
                            ev.message_id(),
                            ev.json(),
                        ])?;
                        bytes += ev.json().len();
                        *next_cursor += 1;
                    }
                    ranges.push(Some((first, *next_cursor - 1)));
                }
                WriterCmd::Reset(_) => {
                    tx.execute("DELETE FROM events", [])?;
                    ranges.push(None);
                }
            }
        }
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('next_cursor', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [next_cursor.to_string()],
    )?;
    tx.commit()?;
    Ok((ranges, bytes))
}

fn where_clause(f: &EventFilter) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut parts = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(s) = f.since {
        parts.push("cursor > ?");
        // Cursors fit in i64; a larger `since` (no cursor is after it) must not wrap negative.
        args.push(Value::Integer(s.min(i64::MAX as u64) as i64));
    }
    for (col, v) in [
        ("write_key", &f.write_key),
        ("type", &f.r#type),
        ("user_id", &f.user_id),
        ("anonymous_id", &f.anonymous_id),
        ("event", &f.event),
        ("message_id", &f.message_id),
    ] {
        if let Some(v) = v {
            parts.push(match col {
                "write_key" => "write_key = ?",
                "type" => "type = ?",
                "user_id" => "user_id = ?",
                "anonymous_id" => "anonymous_id = ?",
                "event" => "event = ?",
                _ => "message_id = ?",
            });
            args.push(Value::Text(v.clone()));
        }
    }
    if parts.is_empty() {
        (String::new(), args)
    } else {
        (format!(" WHERE {}", parts.join(" AND ")), args)
    }
}

fn sql_query(conn: &Connection, f: &EventFilter) -> Result<Vec<Arc<Record>>, StoreError> {
    let (where_sql, args) = where_clause(f);
    let limit = f
        .limit
        .map(|l| l.min(i64::MAX as usize) as i64)
        .unwrap_or(-1);
    let sql = format!(
        "SELECT cursor, request_id, source_id, write_key, type, user_id, anonymous_id, event, message_id, json FROM events{where_sql} ORDER BY cursor LIMIT {limit}"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(args.iter()), |r| {
        Ok(Arc::new(Record {
            cursor: r.get::<_, i64>(0)? as u64,
            request_id: Arc::from(r.get::<_, String>(1)?),
            source_id: Arc::from(r.get::<_, String>(2)?),
            write_key: Arc::from(r.get::<_, String>(3)?),
            ev: NewEvent::new(
                r.get_ref(9)?.as_str()?,
                [
                    r.get_ref(4)?.as_str()?,
                    r.get_ref(5)?.as_str()?,
                    r.get_ref(6)?.as_str()?,
                    r.get_ref(7)?.as_str()?,
                    r.get_ref(8)?.as_str()?,
                ],
            ),
        }))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer waits for the sync, and a failed sync is never answered as a success.
    #[tokio::test]
    async fn answers_are_released_only_by_a_successful_sync() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("events.sqlite3-wal");
        std::fs::write(&wal, b"frames").unwrap();
        let ok = Syncer::spawn(wal).unwrap();
        let (tx, rx) = oneshot::channel();
        ok.tx.send(vec![Ack::Reset(tx)]).unwrap();
        assert_eq!(rx.await.unwrap(), Ok(()));

        let broken = Syncer::spawn(dir.path().join("missing/events.sqlite3-wal")).unwrap();
        let (tx, rx) = oneshot::channel();
        let events = vec![NewEvent::new("{}", ["track", "u", "", "", "m"])];
        broken
            .tx
            .send(vec![Ack::Append(tx, (1, 1), events)])
            .unwrap();
        let err = rx.await.unwrap().expect_err("a failed sync is an error");
        assert!(err.contains("syncing") && err.contains("missing"), "{err}");
    }
}
