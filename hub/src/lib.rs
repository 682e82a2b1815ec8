//! A reference Looker Action Hub with the RudderStack Identify, Track and Group actions.
//!
//! Looker pushes a Look (or hands a `download_url`) to `POST /actions/<id>/execute`; the
//! RudderStack actions parse it incrementally, map each row to an event ([`mapping`]) and send
//! byte-bounded batches to the data plane's `/v1/batch` while the rest is still arriving
//! ([`send`]), answering Looker only once every event was acknowledged.
//!
//! Start one in-process with [`RunningHub::start`], or serve a listener with [`run`].

pub mod actions;
pub mod auth;
pub mod body;
pub mod input;
pub mod mapping;
mod origin;
pub mod parse;
pub mod rudder;
pub mod send;
mod server;
pub mod version;
pub mod writeback;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub use actions::{Action, ActionResponse, Registry};
pub use auth::generate_token;
pub use mapping::MappingMode;
pub use send::SendConfig;
pub use version::Version;

/// `context.library.name` of every event: this hub, honestly named.
pub const LIBRARY_NAME: &str = "rudderstack-reference-hub";
/// `context.library.version`.
pub const LIBRARY_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The official hub's push body limit (`express.json({limit:"250mb"})`).
pub const DEFAULT_PUSH_LIMIT: usize = 250 * 1024 * 1024;
/// Default [`HubConfig::body_budget`]: two bodies at the push limit at once.
pub const DEFAULT_BODY_BUDGET: usize = 2 * DEFAULT_PUSH_LIMIT;

/// `User-Agent` of the hub's own requests (data plane, download_url).
pub fn user_agent() -> String {
    format!("{LIBRARY_NAME}/{LIBRARY_VERSION}")
}

/// Now as ISO-8601 with milliseconds and `Z`, as every event timestamp is written.
pub fn iso_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Everything a hub is configured with.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// `label` of the list (`ACTION_HUB_LABEL`).
    pub label: String,
    /// Public URL of the hub (`ACTION_HUB_BASE_URL`); default `http://<listener address>`.
    pub base_url: Option<String>,
    /// `ACTION_HUB_SECRET`: accepts `<nonce>/<hex HMAC-SHA512(secret, nonce)>` tokens.
    pub secret: Option<String>,
    /// A static token accepted as is.
    pub token: Option<String>,
    /// Only these actions (`--actions`, like `ACTION_WHITELIST`); `None`: all.
    pub actions: Option<Vec<String>>,
    /// Default mapping mode (`--mapping`); the `rudder_mapping` param overrides it per action.
    pub mapping: MappingMode,
    /// Allowed data plane hosts (`host` or `host:port`); empty: any.
    pub allow_dataplane: Vec<String>,
    /// Largest accepted request body, bytes (413 above).
    pub push_limit: usize,
    /// Interval of the `\n` keep-alive on execute and form (`ACTION_HUB_JSON_KEEPALIVE_SEC`).
    pub keepalive: Duration,
    /// Timeout of the download_url GET (`ACTION_HUB_STREAM_REQUEST_TIMEOUT`, 13 min).
    pub stream_timeout: Duration,
    /// Batching and retries.
    pub send: SendConfig,
    /// messageId = md5(webhook id, row) as a uuid, so re-sent schedules can be deduplicated.
    pub deterministic_message_ids: bool,
    /// `context.app.version` (`$APP_VERSION`, else `"dev"` like the official hub).
    pub app_version: String,
    /// Header-read and idle timeouts and the connection limit of the hub's own server.
    pub limits: serving::Limits,
    /// Largest Look row the hub buffers (`--max-row-bytes`); a larger row is skipped without
    /// being read into memory and reported as a row error, since it could never be sent.
    pub max_row_bytes: usize,
    /// Request bodies of executes and forms held in memory at once, bytes (`--body-budget`):
    /// a body that does not fit while others are held gets 503. At least `push_limit`.
    pub body_budget: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            label: "RudderStack Reference Hub".into(),
            base_url: None,
            secret: None,
            token: None,
            actions: None,
            mapping: MappingMode::RudderStack,
            allow_dataplane: Vec::new(),
            push_limit: DEFAULT_PUSH_LIMIT,
            keepalive: Duration::from_secs(30),
            stream_timeout: Duration::from_millis(780_000),
            send: SendConfig::default(),
            deterministic_message_ids: false,
            app_version: "dev".into(),
            limits: serving::Limits::default(),
            max_row_bytes: parse::DEFAULT_MAX_VALUE_BYTES,
            body_budget: DEFAULT_BODY_BUDGET,
        }
    }
}

/// State shared by every request.
pub struct Shared {
    /// The configuration.
    pub config: HubConfig,
    /// HTTP client for download URLs: it follows redirects on the download_url's own host only
    /// (see [`input`]).
    pub client: reqwest::Client,
    /// HTTP client for the data plane: it never follows a redirect, which is reported as a
    /// failure naming the `Location` (see [`send`]).
    pub dataplane: reqwest::Client,
    /// Served actions.
    pub registry: Registry,
    /// Base URL used in action URLs.
    pub base_url: String,
    /// Bytes of execute and form bodies held at once ([`body`]).
    pub bodies: body::BodyBudget,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("label", &self.config.label)
            .field("base_url", &self.base_url)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

/// Serves the hub on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: HubConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_registry(listener, config, Registry::rudderstack(), shutdown).await
}

/// [`run`] with a custom set of actions.
pub async fn run_with_registry(
    listener: TcpListener,
    config: HubConfig,
    mut registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if config.secret.as_deref().is_none_or(str::is_empty)
        && config.token.as_deref().is_none_or(str::is_empty)
    {
        anyhow::bail!("no secret and no token: set --secret (ACTION_HUB_SECRET) or --token");
    }
    if let Some(names) = &config.actions {
        registry.restrict(names).map_err(anyhow::Error::msg)?;
    }
    let addr = listener.local_addr()?;
    let base_url = config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    if config.body_budget < config.push_limit {
        anyhow::bail!(
            "the body budget ({} bytes) is below the push limit ({} bytes): a body at the limit could never be read",
            config.body_budget,
            config.push_limit
        );
    }
    let client = reqwest::Client::builder()
        .user_agent(user_agent())
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(input::download_redirects())
        .build()?;
    let dataplane = reqwest::Client::builder()
        .user_agent(user_agent())
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let shared = Arc::new(Shared {
        bodies: body::BodyBudget::new(config.body_budget),
        config,
        client,
        dataplane,
        registry,
        base_url,
    });
    let limits = shared.config.limits;
    tracing::info!(%addr, base_url = %shared.base_url, ?limits, "action hub listening");
    serving::serve(
        listener,
        server::router(shared),
        limits,
        "action-hub",
        shutdown,
    )
    .await?;
    Ok(())
}

/// A hub running in the background of the current tokio runtime; dropping it shuts it down.
///
/// ```no_run
/// # async fn f() -> anyhow::Result<()> {
/// let hub = hub::RunningHub::start(hub::HubConfig::default()).await?;
/// let (url, token) = (hub.url(), hub.token());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RunningHub {
    url: String,
    token: String,
    server: serving::Background,
}

/// The contract's other name for [`RunningHub`].
pub type TestHub = RunningHub;

impl RunningHub {
    /// Binds `127.0.0.1:0` and serves the RudderStack actions. Without a secret or token in
    /// `config`, a random secret is generated; [`token`](Self::token) is valid either way.
    pub async fn start(config: HubConfig) -> anyhow::Result<Self> {
        Self::start_with_registry(config, Registry::rudderstack()).await
    }

    /// [`start`](Self::start) with a custom set of actions.
    pub async fn start_with_registry(
        mut config: HubConfig,
        registry: Registry,
    ) -> anyhow::Result<Self> {
        if config.secret.is_none() && config.token.is_none() {
            config.secret = Some(uuid::Uuid::new_v4().simple().to_string());
        }
        let token = match (&config.token, &config.secret) {
            (Some(t), _) => t.clone(),
            (None, Some(s)) => generate_token(s),
            (None, None) => unreachable!("set above"),
        };
        let binding = serving::Binding::loopback().await?;
        let url = config
            .base_url
            .clone()
            .unwrap_or_else(|| binding.url().to_owned());
        let server = binding.spawn("action-hub", |listener, stop| {
            run_with_registry(listener, config, registry, stop)
        });
        Ok(Self { url, token, server })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// A valid token for `Authorization: Token token="…"`.
    pub fn token(&self) -> String {
        self.token.clone()
    }

    /// Stops the hub and waits for it (in-flight executes finish first).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        Ok(self.server.shutdown().await?)
    }
}
