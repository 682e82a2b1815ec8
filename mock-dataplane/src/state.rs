//! The state every handler shares ([`AppState`]) and the per-connection control
//! ([`ConnCtl`]) through which a handler hands its socket to a connection fault. Kept apart from
//! the accept loop and the routes so both can use them without importing each other.

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::config::{Config, SourceEntry, Storage};
use crate::faults::{ConnectionFault, Faults};
use crate::journal::Journal;
use crate::live::{LiveSettings, Sources};
use crate::redact::Redactor;
use crate::start_error::StartError;
use crate::store::{Feed, Store};

/// Shared state of one server.
pub(crate) struct AppState {
    pub config: Config,
    /// The accepted write keys: `config`'s at start, plus those added through
    /// `POST /_mock/sources`.
    pub sources: Sources,
    /// The texts, the 413 threshold and the write timeout: `config`'s at start, changed
    /// through `POST /_mock/settings`.
    pub settings: LiveSettings,
    pub store: Store,
    pub feed: Arc<Feed>,
    pub faults: Faults,
    pub journal: Journal,
    /// Masks write keys in what the journal shows and the logs print.
    pub redactor: Redactor,
    /// Requests being processed (the gateway's concurrency cap).
    pub in_flight: AtomicUsize,
    /// `--forward`: the upstream data plane each accepted request goes to first.
    pub forward: Option<crate::forward::Forwarder>,
}

impl AppState {
    pub fn new(config: Config) -> Result<Arc<AppState>, StartError> {
        let (store, feed) = match &config.storage {
            Storage::InMemory => Store::memory(),
            Storage::Sqlite(dir) => Store::sqlite(dir, config.fsync)?,
        };
        let faults = Faults::default();
        for rule in &config.faults {
            faults.add(rule.clone())?;
        }
        let forward = config
            .forward
            .as_deref()
            .map(crate::forward::Forwarder::new);
        let redactor = Redactor::new(config.sources.iter().map(|s| s.source.write_key.as_str()));
        Ok(Arc::new(AppState {
            sources: Sources::new(config.sources.clone()),
            settings: LiveSettings::new(&config),
            config,
            store,
            feed,
            faults,
            journal: Journal::default(),
            redactor,
            in_flight: AtomicUsize::new(0),
            forward,
        }))
    }

    /// Answer with the pre-1.46 texts.
    pub fn legacy(&self) -> bool {
        self.settings.legacy()
    }

    /// The 413 threshold now.
    pub fn max_request_bytes(&self) -> usize {
        self.settings.max_request_bytes()
    }

    /// The HTTP write timeout now.
    pub fn write_timeout(&self) -> std::time::Duration {
        self.settings.write_timeout()
    }

    /// Bodies beyond this are refused while reading (413) so a gzip bomb or a huge upload
    /// cannot exhaust memory; below it the gateway's real check order applies.
    pub fn read_cap(&self) -> usize {
        self.max_request_bytes().saturating_mul(4).max(16 << 20)
    }

    /// Constant-time lookup of a write key over all sources.
    pub fn source(&self, key: &str) -> Option<SourceEntry> {
        self.sources.find(key)
    }
}

/// Per-connection control: a handler sets a connection fault and wakes the connection task,
/// which drops hyper's connection and acts on the raw socket.
pub(crate) struct ConnCtl {
    pub peer: SocketAddr,
    fault: Mutex<Option<ConnectionFault>>,
    notify: Notify,
}

impl ConnCtl {
    pub(crate) fn new(peer: SocketAddr) -> Self {
        ConnCtl {
            peer,
            fault: Mutex::new(None),
            notify: Notify::new(),
        }
    }

    /// Hands the connection to `fault`: the connection task drops hyper's side (and with it
    /// the request being answered) and acts on the raw socket.
    pub(crate) fn take_over(&self, fault: ConnectionFault) {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(fault);
        self.notify.notify_one();
    }

    /// Resets the connection (RST) now, whatever hyper is doing with it; used to drop a
    /// client that stopped reading. Does nothing once the connection has ended.
    pub(crate) fn reset(&self) {
        self.take_over(ConnectionFault::ConnectionResetByPeer);
    }

    /// Completes when a handler has called [`ConnCtl::take_over`].
    pub(crate) async fn taken_over(&self) {
        self.notify.notified().await;
    }

    /// The fault a handler set (none if the connection ended otherwise).
    pub(crate) fn fault(&self) -> Option<ConnectionFault> {
        self.fault.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
