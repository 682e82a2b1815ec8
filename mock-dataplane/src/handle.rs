//! The in-process handle tests hold: [`MockDataplane`] (start, inspect, inject faults, expect)
//! and its [`MockDataplaneBuilder`]. Every failure is returned to the caller, never logged and
//! dropped: a test that cannot read the store must fail, not see "no events".

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, ConfigError, Source, Storage, generate_id};
use crate::expect::{EventMatcher, Expectation, Expectations, VerifyError};
use crate::faults::{FaultError, FaultRule};
use crate::journal::JournalEntry;
use crate::start_error::StartError;
use crate::state::AppState;
use crate::store::{EventFilter, Stats, StoreError, StoredEvent};

/// Why [`MockDataplane::wait_for`] returned without the events.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// Fewer matching events than asked for arrived in time.
    #[error("timed out waiting for events: saw {seen} matching events")]
    Timeout {
        /// How many matching events existed when the wait gave up.
        seen: usize,
    },
    /// The store could not be read.
    #[error("reading events failed: {0}")]
    Store(#[from] StoreError),
}

/// A running mock data plane on 127.0.0.1 (random port). Dropping it shuts the server down and
/// checks the expectations registered with [`MockDataplane::expect`] (panicking if one is not
/// met, unless the thread is already panicking).
pub struct MockDataplane {
    state: Arc<AppState>,
    expectations: Expectations,
    server: serving::Background,
}

/// Configures a [`MockDataplane`]; see the methods for defaults.
#[derive(Default)]
pub struct MockDataplaneBuilder {
    config: Config,
    keys: Vec<String>,
    error: Option<ConfigError>,
    /// Where to listen (default 127.0.0.1).
    bind: Option<IpAddr>,
    /// The host name in [`MockDataplane::url`] (default the bound address).
    advertise_host: Option<String>,
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

    /// Forward each accepted request to this data plane first (`--forward`): only what it
    /// acknowledges is stored and acknowledged; its other answers reach the client as they are.
    pub fn forward(mut self, upstream_url: impl Into<String>) -> Self {
        self.config.forward = Some(upstream_url.into());
        self
    }

    /// The HTTP write timeout (default 10 s, the gateway's): a later answer is never sent.
    pub fn write_timeout(mut self, d: Duration) -> Self {
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

    /// Listens on `ip` instead of 127.0.0.1 (e.g. `0.0.0.0`, or `127.0.0.2` where a hub in a
    /// container or another network namespace can reach it).
    pub fn bind(mut self, ip: IpAddr) -> Self {
        self.bind = Some(ip);
        self
    }

    /// [`MockDataplane::url`] names `host` (with the bound port): the name under which the
    /// hub reaches the mock, e.g. `host.docker.internal`.
    pub fn advertise_host(mut self, host: impl Into<String>) -> Self {
        self.advertise_host = Some(host.into());
        self
    }

    /// A fault rule active from the start.
    pub fn fault(mut self, rule: FaultRule) -> Self {
        self.config.faults.push(rule);
        self
    }

    /// Starts the server on 127.0.0.1 (or the [`bind`](Self::bind) address), port 0. With no
    /// key or source, one key is generated.
    pub async fn start(mut self) -> Result<MockDataplane, StartError> {
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
        let mut binding = match self.bind {
            Some(ip) => serving::Binding::bind(ip).await?,
            None => serving::Binding::loopback().await?,
        };
        if let Some(host) = &self.advertise_host {
            binding = binding.advertised_as(host)?;
        }
        let state = AppState::new(self.config)?;
        let serve_state = state.clone();
        let server = binding.spawn("mock-dataplane", move |listener, stop| async move {
            crate::conn::serve(listener, serve_state, stop).await;
            Ok::<(), std::convert::Infallible>(())
        });
        Ok(MockDataplane {
            state,
            expectations: Expectations::default(),
            server,
        })
    }
}

impl MockDataplane {
    pub fn builder() -> MockDataplaneBuilder {
        MockDataplaneBuilder::default()
    }

    /// In memory, one generated write key.
    pub async fn start() -> Result<MockDataplane, StartError> {
        Self::builder().start().await
    }

    /// `http://127.0.0.1:PORT` (the advertised host, when set), no trailing slash.
    pub fn url(&self) -> String {
        self.server.url().to_owned()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT/v1/batch`: where an SDK or a test posts a batch.
    pub fn batch_url(&self) -> String {
        format!("{}/v1/batch", self.server.url())
    }

    /// The first accepted write key.
    pub fn write_key(&self) -> String {
        self.write_keys().into_iter().next().unwrap_or_default()
    }

    /// Every accepted write key, in order (also those added through `POST /_mock/sources`).
    pub fn write_keys(&self) -> Vec<String> {
        self.sources().into_iter().map(|s| s.write_key).collect()
    }

    /// The accepted sources (also those added through `POST /_mock/sources`).
    pub fn sources(&self) -> Vec<Source> {
        self.state
            .sources
            .all()
            .into_iter()
            .map(|e| e.source)
            .collect()
    }

    /// Stored events matching `filter`, in arrival order.
    pub async fn events(&self, filter: EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let records = self.state.store.query(&filter).await?;
        Ok(records.iter().map(|r| r.to_stored()).collect())
    }

    /// Waits until at least `count` events match `filter`; returns the matching events.
    pub async fn wait_for(
        &self,
        count: usize,
        filter: EventFilter,
        timeout: Duration,
    ) -> Result<Vec<StoredEvent>, WaitError> {
        match crate::inspect::wait_matching(&self.state, count, &filter, timeout).await? {
            Ok(records) => Ok(records.iter().map(|r| r.to_stored()).collect()),
            Err(seen) => Err(WaitError::Timeout { seen }),
        }
    }

    /// The request journal (oldest first, at most [`crate::JOURNAL_CAPACITY`] entries).
    pub async fn requests(&self) -> Vec<JournalEntry> {
        self.state.journal.all()
    }

    /// Adds a fault rule; returns its id or what is wrong with it.
    pub async fn add_fault(&self, rule: FaultRule) -> Result<String, FaultError> {
        self.state.faults.add(rule)
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Deletes every stored event (like `DELETE /_mock/events`).
    pub async fn reset(&self) -> Result<(), StoreError> {
        self.state.store.reset().await
    }

    /// Counts by source and type, duplicated messageIds.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        self.state.store.stats().await
    }

    /// Expects events matching `matcher`: at least one unless the returned [`Expectation`]
    /// says otherwise (`.times(3)`, `.never()`, ...). Checked by [`MockDataplane::verify`] or
    /// when the handle is dropped, against every event stored by then.
    pub fn expect(&self, matcher: EventMatcher) -> Expectation<'_> {
        self.expectations.add(matcher)
    }

    /// Checks the expectations registered so far against the stored events, and forgets them
    /// (so dropping the handle does not check them again).
    pub async fn verify(&self) -> Result<(), VerifyError> {
        let expected = self.expectations.take();
        if expected.is_empty() {
            return Ok(());
        }
        let received = self.events(EventFilter::default()).await?;
        crate::expect::check(&expected, received)
    }
}

impl Drop for MockDataplane {
    fn drop(&mut self) {
        let expected = self.expectations.take();
        if expected.is_empty() || std::thread::panicking() {
            return;
        }
        // Drop cannot await: read the store synchronously (a short read, memory or SQLite).
        let received = self
            .state
            .store
            .query_blocking(&EventFilter::default())
            .map(|records| records.iter().map(|r| r.to_stored()).collect())
            .map_err(VerifyError::from);
        if let Err(e) = received.and_then(|r| crate::expect::check(&expected, r)) {
            panic!("{e}");
        }
    }
}
