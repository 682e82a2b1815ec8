//! The write-back target: an insert-only SQLite table of classification decisions.
//!
//! Insert-only, as the seed recommends for write-back (the model reads the latest decision per
//! order); triggers refuse UPDATE and DELETE. `UNIQUE(webhook_id, order_id)` makes a re-sent
//! webhook (Looker retries, a user double-click) write nothing the second time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};

/// The table's name.
pub const TABLE: &str = "order_classifications";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS order_classifications (
    id             INTEGER PRIMARY KEY,
    order_id       TEXT NOT NULL,
    classification TEXT NOT NULL,
    comment        TEXT NOT NULL,
    user           TEXT NOT NULL,
    webhook_id     TEXT,
    action         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    UNIQUE (webhook_id, order_id)
);
CREATE TRIGGER IF NOT EXISTS order_classifications_no_update
    BEFORE UPDATE ON order_classifications
    BEGIN SELECT RAISE(ABORT, 'order_classifications is insert-only'); END;
CREATE TRIGGER IF NOT EXISTS order_classifications_no_delete
    BEFORE DELETE ON order_classifications
    BEGIN SELECT RAISE(ABORT, 'order_classifications is insert-only'); END;
";

/// A store error, naming the database file.
#[derive(Debug, thiserror::Error)]
#[error("write-back database {path}: {source}")]
pub struct StoreError {
    path: PathBuf,
    #[source]
    source: rusqlite::Error,
}

/// One decision to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The order id (the clicked cell's value, or the row's tagged field).
    pub order_id: String,
    /// `Approved`, `Suspicious` or `Further Investigation`.
    pub classification: String,
    /// Free text, may be empty.
    pub comment: String,
    /// Who the OAuth token belongs to (the provider's userinfo).
    pub user: String,
    /// `X-Looker-Webhook-Id` (NULL without one: then nothing deduplicates).
    pub webhook_id: Option<String>,
    /// Which action wrote it.
    pub action: String,
}

/// The database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating directories, file and table as needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let err = |source| StoreError {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Inserts decisions in one transaction; returns how many were new (duplicates of an
    /// already recorded `(webhook_id, order_id)` are skipped). Blocking: call from
    /// `spawn_blocking`.
    pub fn insert(&self, decisions: &[Decision]) -> Result<usize, StoreError> {
        let err = |source| StoreError {
            path: self.path.clone(),
            source,
        };
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(err)?;
        let now = crate::clock::iso_now();
        let mut written = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO order_classifications \
                     (order_id, classification, comment, user, webhook_id, action, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(err)?;
            for d in decisions {
                written += stmt
                    .execute(params![
                        d.order_id,
                        d.classification,
                        d.comment,
                        d.user,
                        d.webhook_id,
                        d.action,
                        now
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(written)
    }

    /// Every recorded decision, oldest first (for tests and inspection).
    pub fn all(&self) -> Result<Vec<Decision>, StoreError> {
        let err = |source| StoreError {
            path: self.path.clone(),
            source,
        };
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn
            .prepare(
                "SELECT order_id, classification, comment, user, webhook_id, action \
                 FROM order_classifications ORDER BY id",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Decision {
                    order_id: r.get(0)?,
                    classification: r.get(1)?,
                    comment: r.get(2)?,
                    user: r.get(3)?,
                    webhook_id: r.get(4)?,
                    action: r.get(5)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }
}
