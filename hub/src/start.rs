//! Starting a hub, the one way: [`Hub::builder`], then [`HubBuilder::run`] on a listener the
//! caller bound (the binary; tools that must know the URL before the actions are made) or
//! [`HubBuilder::start`] in the background on a free loopback port (tests and tools), which
//! gives a [`Hub`] handle. Either checks the configuration, builds the HTTP clients and the
//! server state, then serves until shutdown.

use std::future::Future;
use std::io;
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

/// Why a hub did not start, or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Neither a secret nor a token: Looker could not be told a valid token.
    #[error("no secret and no token: set --secret (ACTION_HUB_SECRET) or --token")]
    NoSecret,
    /// `actions` names an action the registry does not have.
    #[error("{0}")]
    UnknownAction(String),
    /// A body at the push limit could never be read.
    #[error(
        "the body budget ({budget} bytes) is below the push limit ({push_limit} bytes): a body at the limit could never be read"
    )]
    BudgetBelowPushLimit {
        /// `--body-budget`.
        budget: usize,
        /// `--push-limit`.
        push_limit: usize,
    },
    /// The outgoing HTTP clients could not be built (TLS setup).
    #[error("the HTTP client could not be built: {0}")]
    Client(#[from] reqwest::Error),
    /// Binding the listener or serving on it failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Configures a hub before it serves: the configuration (default [`HubConfig::default`]) and
/// the actions (default [`Registry::rudderstack`]).
#[derive(Debug, Default)]
pub struct HubBuilder {
    /// Everything but the actions.
    config: HubConfig,
    /// The served actions; `None` serves the RudderStack actions, made only when needed.
    registry: Option<Registry>,
}

impl HubBuilder {
    /// Serves with `config` instead of the defaults.
    pub fn config(mut self, config: HubConfig) -> Self {
        self.config = config;
        self
    }

    /// Serves these actions instead of the RudderStack ones (`--actions` in the configuration
    /// still narrows them).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Serves on `listener` until `shutdown` completes, then waits for the requests in flight.
    /// Fails at once without a secret or token, with an unknown name in
    /// [`HubConfig::actions`], or with a body budget below the push limit.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let Self { config, registry } = self;
        let mut registry = registry.unwrap_or_else(Registry::rudderstack);
        if config.secret.as_deref().is_none_or(str::is_empty)
            && config.token.as_deref().is_none_or(str::is_empty)
        {
            return Err(StartError::NoSecret);
        }
        if let Some(names) = &config.actions {
            registry
                .restrict(names)
                .map_err(StartError::UnknownAction)?;
        }
        let addr = listener.local_addr()?;
        let base_url = config
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_owned();
        if config.body_budget < config.push_limit {
            return Err(StartError::BudgetBelowPushLimit {
                budget: config.body_budget,
                push_limit: config.push_limit,
            });
        }
        let download = serving::http_client()
            .user_agent(user_agent())
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(download_redirects())
            .build()?;
        let dataplane = serving::http_client()
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

    /// Binds `127.0.0.1:0` and serves in the background of the current tokio runtime. Without
    /// a secret or token in the configuration, a random secret is generated;
    /// [`Hub::token`] is valid either way.
    pub async fn start(mut self) -> Result<Hub, StartError> {
        let config = &mut self.config;
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
        let server = binding.spawn("action-hub", |listener, stop| self.run(listener, stop));
        Ok(Hub { url, token, server })
    }
}

/// A hub serving in the background (from [`HubBuilder::start`]); dropping it shuts it down.
#[derive(Debug)]
pub struct Hub {
    /// Where it answers: the configured base URL, else `http://127.0.0.1:PORT`.
    url: String,
    /// A token it accepts, so a caller need not make one.
    token: String,
    /// The server's task; stopped when dropped.
    server: serving::Background,
}

impl Hub {
    /// A builder with the defaults: the RudderStack actions, [`HubConfig::default`].
    pub fn builder() -> HubBuilder {
        HubBuilder::default()
    }

    /// The base URL (`http://127.0.0.1:PORT` unless configured), no trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// A valid token for `Authorization: Token token="…"`.
    pub fn token(&self) -> String {
        self.token.clone()
    }

    /// Stops the hub and waits for it (in-flight executes finish first); its error if it
    /// stopped with one.
    pub async fn shutdown(self) -> Result<(), serving::StopError> {
        self.server.shutdown().await
    }
}
