//! The library handle: a running mock Looker and its builder (modelled on wiremock's
//! `MockServer`). Its options and errors (`HubOptions`, `StartError`, `MockError`) live with
//! the engine's model, which uses them too.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::core::{self, Core};
use crate::look::Look;
use crate::{
    Config, Event, FormOutcome, Hub, HubOptions, JournalEntry, MockError, SendOutcome, SendRequest,
    StartError, browser, http, schedule, scheduler,
};

/// A running mock Looker. Dropping it shuts the server down.
pub struct MockLooker {
    core: Arc<Core>,
    oauth: http::oauth::OAuthProvider,
    url: String,
    /// Stops the server when the handle is dropped.
    server: serving::Background,
}

/// Configures a [`MockLooker`] before start.
#[derive(Debug, Default)]
pub struct MockLookerBuilder {
    config: Config,
    looks: Vec<Look>,
    /// Where to listen (default 127.0.0.1).
    bind: Option<std::net::IpAddr>,
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

    /// Listens on `ip` instead of 127.0.0.1 (e.g. `127.0.0.2`, or `0.0.0.0` for a hub in a
    /// container).
    pub fn bind(mut self, ip: std::net::IpAddr) -> Self {
        self.bind = Some(ip);
        self
    }

    /// Every URL handed to a hub names `host` (see [`Config::advertise_host`]), and so does
    /// [`MockLooker::url`].
    pub fn advertise_host(mut self, host: impl Into<String>) -> Self {
        self.config.advertise_host = Some(host.into());
        self
    }

    /// Binds 127.0.0.1:0 (or the [`bind`](Self::bind) address) and serves in the background.
    pub async fn start(self) -> Result<MockLooker, StartError> {
        let mut binding = match self.bind {
            Some(ip) => serving::Binding::bind(ip).await,
            None => serving::Binding::loopback().await,
        }
        .map_err(StartError::Bind)?;
        if let Some(host) = &self.config.advertise_host {
            binding = binding.advertised_as(host).map_err(StartError::Bind)?;
        }
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

    /// Starts a mock with the defaults (the built-in Looks) on 127.0.0.1:0.
    pub async fn start() -> Result<MockLooker, StartError> {
        Self::builder().start().await
    }

    /// `http://127.0.0.1:PORT` (the advertised host, when set), no trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The mock OAuth provider served under `<url>/oauth/` (users, revocation, expiry).
    pub fn oauth_provider(&self) -> &http::oauth::OAuthProvider {
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
    pub async fn register_hub(&self, url: &str, options: HubOptions) -> Result<Hub, MockError> {
        self.core
            .register_hub(url.trim_end_matches('/'), options)
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

    /// All dashboards (built-in and from files), their tiles' Looks resolved.
    pub fn dashboards(&self) -> Vec<crate::look::Dashboard> {
        self.core.dashboards()
    }

    /// A dashboard by id; send it with [`SendRequest::for_dashboard`].
    pub fn dashboard(&self, id: &str) -> Option<crate::look::Dashboard> {
        self.core.dashboard(id)
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
    pub async fn shutdown(self) -> Result<(), serving::StopError> {
        self.server.shutdown().await
    }
}
