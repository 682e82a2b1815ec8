//! The durable back end: SQLite in WAL mode under the data dir.
//!
//! Acknowledged means durable: a request's events are appended and the call returns only once
//! they are committed. The writer runs on its own thread and groups every append that is
//! waiting into one transaction (like the gateway's micro-batching of web requests before its DB
//! writer), so many concurrent requests share one commit (and one fsync). Reads use a second,
//! read-only connection.

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params_from_iter};
use tokio::sync::oneshot;

use super::{Append, EventFilter, Feed, Record, StatsRows, StoreError, new_feed};
use crate::ingest::NewEvent;

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

impl SqliteStore {
    /// Opens (or creates) `dir/events.sqlite3` in WAL mode.
    pub fn open(dir: &Path, fsync: bool) -> Result<(SqliteStore, Arc<Feed>), StoreError> {
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
            SqliteStore {
                writer: tx,
                reader: Arc::new(Mutex::new(reader)),
            },
            feed,
        ))
    }

    pub async fn append(&self, append: Append) -> Result<(u64, u64), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writer
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

    /// Runs `read` with the reader connection on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(|e| e.into_inner());
            read(&conn)
        })
        .await
        .map_err(|_| StoreError::WriterGone)?
    }

    pub async fn query(&self, filter: &EventFilter) -> Result<Vec<Arc<Record>>, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| sql_query(conn, &filter)).await
    }

    pub fn query_blocking(&self, filter: &EventFilter) -> Result<Vec<Arc<Record>>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        sql_query(&conn, filter)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
            Ok(())
        })
        .await
    }

    pub async fn count(&self, filter: &EventFilter) -> Result<usize, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| {
            let (where_sql, args) = where_clause(&filter);
            let n: i64 = conn.query_row(
                &format!("SELECT COUNT(*) FROM events{where_sql}"),
                params_from_iter(args.iter()),
                |r| r.get(0),
            )?;
            Ok(n as usize)
        })
        .await
    }

    pub async fn reset(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(WriterCmd::Reset(tx))
            .map_err(|_| StoreError::WriterGone)?;
        rx.await
            .map_err(|_| StoreError::WriterGone)?
            .map_err(|e| StoreError::Sqlite(rusqlite::Error::InvalidParameterName(e)))
    }

    pub async fn stats_rows(&self) -> Result<StatsRows, StoreError> {
        self.read(|conn| {
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
