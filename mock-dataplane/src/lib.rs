//! A high-fidelity mock of the RudderStack data plane (rudder-server's gateway).
//!
//! It answers every client exactly as the gateway would (routes, Basic auth, gzip, check order,
//! texts, enrichment), keeps every event it acknowledged (in memory or durably in SQLite), and
//! lets tests look inside (`/_mock/events`, the request journal) and inject faults.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use mock_dataplane::{EventFilter, MockDataplane};
//! use std::time::Duration;
//! let dp = MockDataplane::start().await?;
//! // ... point an SDK at dp.url() with dp.write_key() ...
//! let events = dp.wait_for(3, EventFilter::default(), Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```

mod config;
mod cors;
mod faults;
mod gjson;
mod import;
mod ingest;
mod inspect;
mod journal;
mod json_text;
mod redact;
mod response;
mod server;
mod splice;
mod store;
mod stream;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub use config::{
    Config, ConfigError, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_STREAM_STALL_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT, Source, SourceSpec, Storage, generate_id, mask,
};
pub use faults::{ConnectionFault, Delay, Dribble, FaultAction, FaultError, FaultRule, RateLimit};
pub use journal::{JOURNAL_CAPACITY, JournalEntry};
pub use store::{EventFilter, Stats, StoredEvent};

use server::AppState;

/// Runs a data plane on `listener` until `shutdown` resolves (the binary's entry point).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let state = AppState::new(config)?;
    server::serve(listener, state, shutdown).await
}

/// [`MockDataplane::wait_for`] gave up: fewer matching events than asked for arrived in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timed out waiting for events: saw {seen} matching events")]
pub struct WaitTimeout {
    /// How many matching events existed when the wait gave up.
    pub seen: usize,
}

/// A running mock data plane on 127.0.0.1 (random port). Dropping it shuts the server down.
pub struct MockDataplane {
    state: Arc<AppState>,
    url: String,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// Configures a [`MockDataplane`]; see the methods for defaults.
#[derive(Default)]
pub struct MockDataplaneBuilder {
    config: Config,
    keys: Vec<String>,
    error: Option<ConfigError>,
}

impl MockDataplaneBuilder {
    /// Accepts this write key (an enabled source with a generated id).
    pub fn write_key(mut self, key: impl Into<String>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// Adds a source (write key -> id, name, enabled).
    pub fn source(mut self, source: Source) -> Self {
        if let Err(e) = self.config.add_source(source) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Adds a webhook source: accepted only on `/v1/webhook`.
    pub fn webhook_source(mut self, source: Source) -> Self {
        if let Err(e) = self.config.add_source_with_category(source, "webhook") {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Keep events in memory (the default).
    pub fn in_memory(mut self) -> Self {
        self.config.storage = Storage::InMemory;
        self
    }

    /// Keep events in SQLite under this directory (survives restarts and crashes).
    pub fn data_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.storage = Storage::Sqlite(path.into());
        self
    }

    /// Answer with the pre-1.46 capitalised texts (`OK`, `Invalid Write Key`, ...).
    pub fn legacy_responses(mut self, legacy: bool) -> Self {
        self.config.legacy_responses = legacy;
        self
    }

    /// The 413 threshold (default 4,096,000 bytes).
    pub fn max_request_bytes(mut self, n: usize) -> Self {
        self.config.max_request_bytes = n;
        self
    }

    /// Header-read and idle timeouts and the connection limit (see [`serving::Limits`]).
    pub fn limits(mut self, limits: serving::Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// The HTTP write timeout (default 10 s, the gateway's): a later answer is never sent.
    pub fn write_timeout(mut self, d: std::time::Duration) -> Self {
        self.config.write_timeout = d;
        self
    }

    /// Lets pages from `origin` (e.g. `http://localhost:3000`) call `/_mock/` from a browser
    /// (none may by default).
    pub fn cors_origin(mut self, origin: &str) -> Self {
        if let Err(e) = self.config.allow_cors_origin(origin) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// How long a `/_mock/stream` subscriber may read nothing while events wait before it is
    /// dropped (default 10 s).
    pub fn stream_stall_timeout(mut self, d: Duration) -> Self {
        self.config.stream_stall_timeout = d;
        self
    }

    /// A fault rule active from the start.
    pub fn fault(mut self, rule: FaultRule) -> Self {
        self.config.faults.push(rule);
        self
    }

    /// Starts the server on 127.0.0.1, port 0. With no key or source, one key is generated.
    pub async fn start(mut self) -> anyhow::Result<MockDataplane> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        for key in std::mem::take(&mut self.keys) {
            self.config.add_source(Source::new(key, "mock source"))?;
        }
        if self.config.sources.is_empty() {
            self.config
                .add_source(Source::new(generate_id(), "mock source"))?;
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = AppState::new(self.config)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serve_state = state.clone();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = server::serve(listener, serve_state, shutdown).await {
                tracing::error!(error = %e, "mock data plane stopped");
            }
        });
        Ok(MockDataplane {
            state,
            url,
            _shutdown: tx,
        })
    }
}

impl MockDataplane {
    pub fn builder() -> MockDataplaneBuilder {
        MockDataplaneBuilder::default()
    }

    /// In memory, one generated write key.
    pub async fn start() -> anyhow::Result<MockDataplane> {
        Self::builder().start().await
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The first accepted write key.
    pub fn write_key(&self) -> String {
        self.state
            .config
            .sources
            .first()
            .map(|s| s.source.write_key.clone())
            .unwrap_or_default()
    }

    /// Every configured write key, in order.
    pub fn write_keys(&self) -> Vec<String> {
        self.state
            .config
            .sources
            .iter()
            .map(|s| s.source.write_key.clone())
            .collect()
    }

    /// The configured sources.
    pub fn sources(&self) -> Vec<Source> {
        self.state.config.sources()
    }

    /// Stored events matching `filter`, in arrival order.
    pub async fn events(&self, filter: EventFilter) -> Vec<StoredEvent> {
        match self.state.store.query(&filter).await {
            Ok(records) => records.iter().map(|r| r.to_stored()).collect(),
            Err(e) => {
                tracing::error!(error = %e, "reading events failed");
                Vec::new()
            }
        }
    }

    /// Waits until at least `count` events match `filter`; returns the matching events.
    pub async fn wait_for(
        &self,
        count: usize,
        filter: EventFilter,
        timeout: Duration,
    ) -> Result<Vec<StoredEvent>, WaitTimeout> {
        match inspect::wait_matching(&self.state, count, &filter, timeout).await {
            Ok(Ok(records)) => Ok(records.iter().map(|r| r.to_stored()).collect()),
            Ok(Err(seen)) => Err(WaitTimeout { seen }),
            Err(e) => {
                tracing::error!(error = %e, "reading events failed");
                Err(WaitTimeout { seen: 0 })
            }
        }
    }

    /// The request journal (oldest first, at most [`JOURNAL_CAPACITY`] entries).
    pub async fn requests(&self) -> Vec<JournalEntry> {
        self.state.journal.all()
    }

    /// Adds a fault rule. An invalid rule is logged and ignored; use
    /// [`MockDataplane::try_add_fault`] to get the error.
    pub async fn add_fault(&self, rule: FaultRule) {
        if let Err(e) = self.try_add_fault(rule).await {
            tracing::error!(error = %e, "fault rule refused");
        }
    }

    /// Adds a fault rule; returns its id or what is wrong with it.
    pub async fn try_add_fault(&self, rule: FaultRule) -> Result<String, FaultError> {
        self.state.faults.add(rule)
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Deletes every stored event (like `DELETE /_mock/events`).
    pub async fn reset(&self) {
        if let Err(e) = self.state.store.reset().await {
            tracing::error!(error = %e, "reset failed");
        }
    }

    /// Counts by source and type, duplicated messageIds.
    pub async fn stats(&self) -> anyhow::Result<Stats> {
        Ok(self.state.store.stats().await?)
    }
}

#[cfg(test)]
mod tests {
    /// Tests share the handle across tasks and threads.
    #[test]
    fn handle_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::MockDataplane>();
        assert_send_sync::<super::StoredEvent>();
        assert_send_sync::<super::FaultRule>();
    }
}
