//! The live list of sources (write keys) a running data plane accepts.
//!
//! The real gateway learns its sources from the workspace configuration and picks up changes
//! while it runs (backend config polling); the mock starts with the sources of its flags,
//! builder or sources file and takes more through `POST /_mock/sources`, so a tool that did not
//! start it (the scenario runner's `--dataplane-url`) can create the write keys it sends with.

use std::sync::RwLock;

use subtle::ConstantTimeEq;

use crate::config::{ConfigError, Source, SourceEntry};

/// The sources, behind a lock: read on every gateway request, written by the control API.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    entries: RwLock<Vec<SourceEntry>>,
}

/// What [`Sources::upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upserted {
    /// A new source.
    Created,
    /// An existing write key's name, enabled flag (and id, when given) replaced.
    Updated,
}

impl Sources {
    pub fn new(entries: Vec<SourceEntry>) -> Self {
        Sources {
            entries: RwLock::new(entries),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<SourceEntry>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Constant-time lookup of a write key over all sources (every key is compared, so the
    /// time does not tell how much of a key matched or where it is in the list).
    pub fn find(&self, key: &str) -> Option<SourceEntry> {
        let mut found = None;
        for entry in self.read().iter() {
            if bool::from(entry.source.write_key.as_bytes().ct_eq(key.as_bytes())) {
                found = Some(entry.clone());
            }
        }
        found
    }

    /// Every source, in the order they were added.
    pub fn all(&self) -> Vec<SourceEntry> {
        self.read().clone()
    }

    /// Adds `entry`, or replaces the source with the same write key (keeping its id unless
    /// `keep_id` is false).
    pub fn upsert(&self, entry: SourceEntry, keep_id: bool) -> Result<Upserted, ConfigError> {
        if entry.source.write_key.is_empty() {
            return Err(ConfigError::EmptyKey(entry.source.id));
        }
        let mut all = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = all
            .iter_mut()
            .find(|e| e.source.write_key == entry.source.write_key)
        {
            let id = if keep_id {
                old.source.id.clone()
            } else {
                entry.source.id.clone()
            };
            *old = SourceEntry {
                source: Source { id, ..entry.source },
                category: entry.category,
            };
            return Ok(Upserted::Updated);
        }
        all.push(entry);
        Ok(Upserted::Created)
    }
}
