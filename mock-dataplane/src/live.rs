//! What a running data plane lets a tool change: the sources (write keys) it accepts, and
//! three settings ([`RuntimeSettings`]).
//!
//! The real gateway learns its sources from the workspace configuration and picks up changes
//! while it runs (backend config polling); the mock starts with the sources and settings of its
//! flags, builder or files and takes others through `POST /_mock/sources` and
//! `POST /_mock/settings`, so a tool that did not start it (the scenario runner's
//! `--dataplane-url`) can set up each test the way an in-process mock would be built.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::config::{Config, ConfigError, Source, SourceEntry};

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

/// The settings `POST /_mock/settings` changes (each optional: only those given change) and
/// `GET /_mock/settings` shows (all given). The same as the flags of the same names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSettings {
    /// Pre-1.46 texts (`OK`, `Invalid Write Key`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_responses: Option<bool>,
    /// The 413 threshold in bytes, after gzip decoding (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_bytes: Option<usize>,
    /// The HTTP write timeout in milliseconds (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_timeout_ms: Option<u64>,
}

/// The current [`RuntimeSettings`], read on every request (atomics: no lock on the hot path).
#[derive(Debug)]
pub(crate) struct LiveSettings {
    legacy: AtomicBool,
    max_request_bytes: AtomicUsize,
    write_timeout_ms: AtomicU64,
}

impl LiveSettings {
    /// The settings `config` starts with.
    pub fn new(config: &Config) -> Self {
        LiveSettings {
            legacy: AtomicBool::new(config.legacy_responses),
            max_request_bytes: AtomicUsize::new(config.max_request_bytes),
            write_timeout_ms: AtomicU64::new(
                u64::try_from(config.write_timeout.as_millis()).unwrap_or(u64::MAX),
            ),
        }
    }

    pub fn legacy(&self) -> bool {
        self.legacy.load(Ordering::Relaxed)
    }

    pub fn max_request_bytes(&self) -> usize {
        self.max_request_bytes.load(Ordering::Relaxed)
    }

    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms.load(Ordering::Relaxed))
    }

    /// Every setting, as `GET /_mock/settings` shows them.
    pub fn current(&self) -> RuntimeSettings {
        RuntimeSettings {
            legacy_responses: Some(self.legacy()),
            max_request_bytes: Some(self.max_request_bytes()),
            write_timeout_ms: Some(self.write_timeout_ms.load(Ordering::Relaxed)),
        }
    }

    /// Applies the settings given, after checking all of them (nothing changes on an error).
    pub fn apply(&self, s: &RuntimeSettings) -> Result<(), String> {
        if s.max_request_bytes == Some(0) {
            return Err("max_request_bytes must be at least 1".into());
        }
        if s.write_timeout_ms == Some(0) {
            return Err(
                "write_timeout_ms must be at least 1 (every answer would be dropped)".into(),
            );
        }
        if let Some(b) = s.legacy_responses {
            self.legacy.store(b, Ordering::Relaxed);
        }
        if let Some(n) = s.max_request_bytes {
            self.max_request_bytes.store(n, Ordering::Relaxed);
        }
        if let Some(ms) = s.write_timeout_ms {
            self.write_timeout_ms.store(ms, Ordering::Relaxed);
        }
        Ok(())
    }
}
