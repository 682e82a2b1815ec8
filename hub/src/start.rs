//! Starting a hub: checks the configuration, builds the HTTP clients and the server state, then
//! serves a listener until shutdown, or serves in the background behind a handle.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::actions::Registry;
use crate::auth::generate_token;
use crate::body::BodyBudget;
use crate::config::HubConfig;
use crate::context::Context;
use crate::identity::user_agent;
use crate::look_stream::input::download_redirects;
use crate::server::{self, ServerState};

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
    let download = reqwest::Client::builder()
        .user_agent(user_agent())
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(download_redirects())
        .build()?;
    let dataplane = reqwest::Client::builder()
        .user_agent(user_agent())
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let limits = config.limits;
    let state = ServerState {
        bodies: BodyBudget::new(config.body_budget),
        context: Arc::new(Context {
            config,
            download,
            dataplane,
        }),
        registry,
        base_url,
    };
    tracing::info!(%addr, base_url = %state.base_url, ?limits, "action hub listening");
    serving::serve(
        listener,
        server::router(Arc::new(state)),
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
