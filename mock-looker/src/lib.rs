//! mock-looker: a Looker instance that drives any Action Hub.
//!
//! It sends what Looker sends (headers, chunked bodies, every data format, push or one-time
//! download URLs, forms with per-user state), accepts what Looker accepts (keep-alive
//! newlines, `success:false` at 200) and reports every place a hub breaks the Action API as a
//! [`Breach`] with the request, the rule and the JSON path.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use mock_looker::{MockLooker, SendRequest};
//! let looker = MockLooker::start().await?;
//! let hub = looker.register_hub("http://127.0.0.1:8080", Some("token".into()), None).await?;
//! let users = looker.look("1").unwrap();
//! let outcome = looker
//!     .send(SendRequest::new(&hub.id, "rudder_event", users).param("rudder_write_key", "wk"))
//!     .await?;
//! assert!(outcome.breaches.is_empty());
//! # Ok(()) }
//! ```

pub mod action;
pub mod activity;
pub mod activity_catalog;
pub mod browser;
mod clock;
pub mod contract;
mod core;
pub mod format;
mod http;
mod journal;
pub mod look;
pub mod schedule;
mod scheduler;
pub mod yaml;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

pub use action::{Action, Param, RequiredField};
pub use activity::Event;
pub use contract::Breach;
pub use core::{
    Config, DEFAULT_LOOKER_VERSION, Download, FormOutcome, Hub, IntegrationSettings, JournalEntry,
    MockError, SendOutcome, SendRequest, Timings,
};
pub use format::{Format, WriteOptions};
/// The mock OAuth 2.0 provider served under `/oauth/` (kept at its old path).
pub use http::oauth as oauth_provider;
pub use journal::{DEFAULT_JOURNAL_BODY_BYTES, DEFAULT_JOURNAL_BYTES, DEFAULT_JOURNAL_ENTRIES};
pub use look::{Look, LookDef, LookError};

use crate::core::Core;

/// The demo Looks shipped with the binary (also loaded by default by [`MockLooker`]).
pub fn builtin_looks() -> Vec<Look> {
    const FILES: [(&str, &str); 5] = [
        (
            "looks/01_users.yaml",
            include_str!("../looks/01_users.yaml"),
        ),
        (
            "looks/02_accounts.yaml",
            include_str!("../looks/02_accounts.yaml"),
        ),
        (
            "looks/03_orders_by_month_pivot.yaml",
            include_str!("../looks/03_orders_by_month_pivot.yaml"),
        ),
        (
            "looks/04_generated_users.yaml",
            include_str!("../looks/04_generated_users.yaml"),
        ),
        (
            "looks/05_orders_for_review.yaml",
            include_str!("../looks/05_orders_for_review.yaml"),
        ),
    ];
    FILES
        .iter()
        .map(|(name, text)| Look::from_yaml_str(text, name).expect("built-in Looks are valid"))
        .collect()
}

/// A random hex secret of `bytes` bytes (used for generated API credentials).
pub fn generate_secret(bytes: usize) -> String {
    core::random_hex(bytes)
}

/// Serves a mock Looker on `listener` until `shutdown` resolves.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let core = Core::new(config, format!("http://{}", listener.local_addr()?))?;
    http::serve(listener, core, http::oauth::OAuthProvider::new(), shutdown).await
}

/// A running mock Looker. Dropping it shuts the server down.
pub struct MockLooker {
    core: Arc<Core>,
    oauth: oauth_provider::OAuthProvider,
    url: String,
    /// Stops the server when the handle is dropped.
    server: serving::Background,
}

/// Configures a [`MockLooker`] before start.
#[derive(Debug, Default)]
pub struct MockLookerBuilder {
    config: Config,
    looks: Vec<Look>,
}

impl MockLookerBuilder {
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
    pub fn looker_version(mut self, v: &str) -> Self {
        self.config.looker_version = v.into();
        self
    }
    pub fn hub_timeout(mut self, t: std::time::Duration) -> Self {
        self.config.hub_timeout = t;
        self
    }
    pub fn max_answer_bytes(mut self, n: usize) -> Self {
        self.config.max_answer_bytes = n;
        self
    }
    pub fn download_ttl(mut self, t: std::time::Duration) -> Self {
        self.config.download_ttl = t;
        self
    }
    pub fn credentials(mut self, id: &str, secret: &str) -> Self {
        self.config.client_id = Some(id.into());
        self.config.client_secret = Some(secret.into());
        self
    }
    pub fn looks_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.looks_dir = Some(dir.into());
        self
    }
    pub fn look(mut self, look: Look) -> Self {
        self.looks.push(look);
        self
    }
    pub fn without_builtin_looks(mut self) -> Self {
        self.config.builtin_looks = false;
        self
    }
    /// Journal entries kept (default [`DEFAULT_JOURNAL_ENTRIES`]), oldest dropped first.
    pub fn journal_entries(mut self, n: usize) -> Self {
        self.config.journal_entries = n;
        self
    }
    /// Bytes kept of each journal body (default [`DEFAULT_JOURNAL_BODY_BYTES`]).
    pub fn journal_body_bytes(mut self, n: usize) -> Self {
        self.config.journal_body_bytes = n;
        self
    }
    /// Estimated bytes of the whole journal (default [`DEFAULT_JOURNAL_BYTES`]).
    pub fn journal_bytes(mut self, n: usize) -> Self {
        self.config.journal_bytes = n;
        self
    }

    /// Binds 127.0.0.1:0 and serves in the background.
    pub async fn start(self) -> anyhow::Result<MockLooker> {
        let binding = serving::Binding::loopback().await?;
        let url = binding.url().to_owned();
        let core = Core::new(self.config, url.clone())?;
        for l in self.looks {
            core.add_look(l);
        }
        let oauth = http::oauth::OAuthProvider::new();
        let (c, o) = (core.clone(), oauth.clone());
        let server = binding.spawn("mock-looker", |listener, stop| {
            http::serve(listener, c, o, stop)
        });
        Ok(MockLooker {
            core,
            oauth,
            url,
            server,
        })
    }
}

impl MockLooker {
    pub fn builder() -> MockLookerBuilder {
        MockLookerBuilder::default()
    }

    pub async fn start() -> anyhow::Result<MockLooker> {
        Self::builder().start().await
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The mock OAuth provider served under `<url>/oauth/` (users, revocation, expiry).
    pub fn oauth_provider(&self) -> &oauth_provider::OAuthProvider {
        &self.oauth
    }

    /// Logs in as `user` by following a hub form's `oauth_url` (the scripted browser).
    pub async fn browser_login(
        &self,
        oauth_url: &str,
        user: &str,
    ) -> Result<browser::LoginOutcome, browser::BrowserError> {
        self.core.browser_login(oauth_url, user).await
    }

    /// The API 4.0 client id and secret the mock accepts.
    pub fn api_credentials(&self) -> (String, String) {
        (self.core.client_id.clone(), self.core.client_secret.clone())
    }

    /// The `X-Looker-Instance` this mock sends.
    pub fn instance_id(&self) -> String {
        self.core.instance_id.clone()
    }

    /// Registers a hub and lists its actions. A failing hub is still registered; see
    /// [`Hub::fetch_error`] and [`Hub::breaches`].
    pub async fn register_hub(
        &self,
        url: &str,
        token: Option<String>,
        looker_version: Option<String>,
    ) -> Result<Hub, MockError> {
        self.core
            .register_hub(url.trim_end_matches('/'), token, looker_version)
            .await
    }

    /// Lists a hub's actions again.
    pub async fn refresh_hub(&self, hub: &str) -> Result<Hub, MockError> {
        self.core.refresh_hub(hub).await
    }

    pub fn hub(&self, id: &str) -> Option<Hub> {
        self.core.hub(id)
    }

    pub fn hubs(&self) -> Vec<Hub> {
        self.core.hubs()
    }

    /// Enables an action and sets its admin params (as an admin does in Looker).
    pub fn configure_action(
        &self,
        hub: &str,
        action: &str,
        enabled: bool,
        params: BTreeMap<String, String>,
    ) -> Result<(), MockError> {
        self.core.configure(hub, action, Some(enabled), params)
    }

    /// Whether Looker would offer `action` for `look`; `Err(NotOffered(reason))` if not.
    pub fn offer(
        &self,
        hub: &str,
        action: &str,
        look: &Look,
        params: &BTreeMap<String, String>,
    ) -> Result<(), MockError> {
        self.core.offer(hub, action, look, params)
    }

    /// Fetches an action's form with the current values (also the interactive re-query).
    pub async fn fetch_form(
        &self,
        hub: &str,
        action: &str,
        params: BTreeMap<String, String>,
        form_values: BTreeMap<String, String>,
    ) -> Result<FormOutcome, MockError> {
        self.core
            .fetch_form(hub, action, &params, &form_values, "1", None)
            .await
    }

    /// [`fetch_form`](Self::fetch_form) as the Looker user `user` (per-user `state_json`).
    pub async fn fetch_form_as(
        &self,
        user: &str,
        hub: &str,
        action: &str,
        params: BTreeMap<String, String>,
        form_values: BTreeMap<String, String>,
    ) -> Result<FormOutcome, MockError> {
        self.core
            .fetch_form(hub, action, &params, &form_values, user, None)
            .await
    }

    /// Sends a Look to an action as Looker does.
    pub async fn send(&self, req: SendRequest) -> Result<SendOutcome, MockError> {
        self.core.send(req).await
    }

    /// All Looks (built-in, from files, added).
    pub fn looks(&self) -> Vec<Look> {
        self.core.looks()
    }

    pub fn look(&self, id: &str) -> Option<Look> {
        self.core.look(id)
    }

    /// Adds a Look (an id is assigned when missing or taken); returns it with its id.
    pub fn add_look(&self, look: Look) -> Look {
        self.core.add_look(look)
    }

    /// Every exchange with a hub kept so far, tokens masked, oldest first: at most
    /// [`Config::journal_entries`] entries and [`Config::journal_bytes`] in all, bodies cut at
    /// [`Config::journal_body_bytes`] (`GET /_mock/journal` serves it page by page).
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.core.journal_entries()
    }

    /// The state Looker keeps for `user` and `<hub>::<action>`.
    pub fn user_state(&self, user: &str, hub: &str, action: &str) -> Option<String> {
        self.core
            .user_state(user, &core::integration_id(hub, action))
    }

    /// Sets (`Some`) or clears (`None`) the state Looker keeps for `user` and `<hub>::<action>`,
    /// as if the hub had written it: e.g. `Some("reset")`, the literal a reset login leaves
    /// behind (spec section 9, actions PR #734), or a stale token.
    pub fn set_user_state(&self, user: &str, hub: &str, action: &str, state: Option<String>) {
        self.core
            .set_user_state(user, &core::integration_id(hub, action), state)
    }

    /// Creates a scheduled plan (crontab, `interval_seconds` or run_once) like
    /// `create_scheduled_plan`, without the API's stricter create rules.
    pub fn create_plan(
        &self,
        plan: schedule::WritePlan,
    ) -> Result<schedule::Plan, schedule::PlanInvalid> {
        let run_once = plan.run_once == Some(true);
        let p = self.core.schedules.create(plan, false)?;
        if run_once {
            tokio::spawn(scheduler::run_plan(self.core.clone(), p.clone()));
        }
        Ok(p)
    }

    /// The job history of every plan run.
    pub fn jobs(&self) -> Vec<schedule::Job> {
        self.core.schedules.jobs()
    }

    /// System Activity events recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.core.activity.events()
    }
}

impl MockLooker {
    /// Stops the server and waits for the requests in flight.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        Ok(self.server.shutdown().await?)
    }
}
