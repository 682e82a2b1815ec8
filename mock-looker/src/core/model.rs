//! The engine's vocabulary: settings, hubs, send requests and outcomes, errors, and the
//! journal entry (re-exported), all public through the crate root.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::action::Action;
use crate::contract::Breach;
use crate::format::Format;
use crate::format::file::Content;
use crate::look::{Dashboard, Look};

/// Looker's id of an action of a hub (`<hub>::<action>`): what per-user state is kept under.
pub(crate) fn integration_id(hub: &str, action: &str) -> String {
    format!("{hub}::{action}")
}

/// The Looker release the mock claims by default (`User-Agent: LookerOutgoingWebhook/<v>`).
pub const DEFAULT_LOOKER_VERSION: &str = "26.20.0";

/// Settings of a mock Looker.
#[derive(Debug, Clone)]
pub struct Config {
    /// Extra Looks loaded from this directory (YAML/JSON).
    pub looks_dir: Option<PathBuf>,
    /// Load the built-in demo Looks.
    pub builtin_looks: bool,
    /// Hubs registered at start: URL and optional token.
    pub hubs: Vec<(String, Option<String>)>,
    /// The host name in every URL the mock hands a hub (download URLs, `state_url`s, the OAuth
    /// provider's links, `share_url`s): `http://NAME:PORT` with the bound port. For a hub in a
    /// container, which reaches the mock under another name than the address it listens on.
    /// `None`: the bound address.
    pub advertise_host: Option<String>,
    pub looker_version: String,
    /// API 4.0 credentials; generated when None.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Longest wait for one hub exchange (request sent to answer read).
    pub hub_timeout: Duration,
    /// Largest hub answer read; a bigger one is a reported failure.
    pub max_answer_bytes: usize,
    /// Lifetime of a download URL (Looker: 3600 s).
    pub download_ttl: Duration,
    /// `X-Looker-Instance`; generated when None.
    pub instance_id: Option<String>,
    /// Redirects followed before giving up (a redirect loop ends as a reported failure).
    pub max_redirects: usize,
    /// Header-read and idle timeouts and the connection limit of the mock's own server.
    pub limits: serving::Limits,
    /// Journal entries kept, oldest dropped first (see the `journal` module).
    pub journal_entries: usize,
    /// Bytes kept of each body (and other text) of a journal entry; the rest is replaced by a
    /// marker saying how many bytes were dropped.
    pub journal_body_bytes: usize,
    /// Estimated bytes the whole journal may hold, oldest entries dropped first.
    pub journal_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            looks_dir: None,
            builtin_looks: true,
            hubs: Vec::new(),
            advertise_host: None,
            looker_version: DEFAULT_LOOKER_VERSION.into(),
            client_id: None,
            client_secret: None,
            hub_timeout: Duration::from_secs(120),
            max_answer_bytes: 1024 * 1024,
            download_ttl: Duration::from_secs(3600),
            instance_id: None,
            max_redirects: 5,
            limits: serving::Limits::default(),
            journal_entries: crate::journal::DEFAULT_JOURNAL_ENTRIES,
            journal_body_bytes: crate::journal::DEFAULT_JOURNAL_BODY_BYTES,
            journal_bytes: crate::journal::DEFAULT_JOURNAL_BYTES,
        }
    }
}

/// Errors of the library API (a hub misbehaving is not one: it is a reported outcome).
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("no hub with id {0:?}")]
    UnknownHub(String),
    #[error("hub {hub:?} lists no action {action:?}")]
    UnknownAction { hub: String, action: String },
    #[error("Looker would not offer this action: {0}")]
    NotOffered(String),
    #[error("the action form rejects the values: {0}")]
    FormRejected(String),
    #[error("invalid hub URL {0:?}")]
    BadUrl(String),
    #[error("no Look with id {0:?}")]
    UnknownLook(String),
    #[error("no dashboard with id {0:?}")]
    UnknownDashboard(String),
}

/// Why a mock Looker could not start (`MockLooker::start`, `run`).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listening port (127.0.0.1:0 unless another address was asked for) could not be
    /// bound.
    #[error("cannot bind a port to listen on: {0}")]
    Bind(#[source] std::io::Error),
    /// A Look of `looks_dir` (or a built-in one) is invalid.
    #[error("cannot load the Looks: {0}")]
    Looks(#[from] crate::look::LookError),
    /// The HTTP client that talks to hubs could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// Serving on the listener failed.
    #[error("serving failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// How the data reaches the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Download {
    /// The data rides in `attachment.data`.
    Push,
    /// `scheduled_plan.download_url`: a one-time URL of the mock.
    Url,
}

/// How to register a hub: its bearer token and the Looker version to claim to it.
///
/// ```
/// let opts = mock_looker::HubOptions::default().token("s3cret").looker_version("6.0.0");
/// assert_eq!(opts.token.as_deref(), Some("s3cret"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubOptions {
    /// Sent as `Authorization: Token token="…"`; None: no header.
    pub token: Option<String>,
    /// The version in `User-Agent` for this hub; None: the mock's [`Config::looker_version`].
    pub looker_version: Option<String>,
}

impl HubOptions {
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
    pub fn looker_version(mut self, version: impl Into<String>) -> Self {
        self.looker_version = Some(version.into());
        self
    }
}

/// A registered hub.
#[derive(Debug, Clone, Serialize)]
pub struct Hub {
    pub id: String,
    pub url: String,
    #[serde(skip)]
    pub token: Option<String>,
    pub has_authorization_token: bool,
    pub looker_version: Option<String>,
    pub label: Option<String>,
    pub actions: Vec<Action>,
    /// Breaches of the last list answer.
    pub breaches: Vec<Breach>,
    /// Why the last list failed (Looker's `fetch_error_message`).
    pub fetch_error: Option<String>,
    /// Per-action admin settings: enabled and params.
    pub settings: BTreeMap<String, IntegrationSettings>,
}

/// What an admin configured for one action.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IntegrationSettings {
    pub enabled: bool,
    pub params: BTreeMap<String, String>,
}

/// A form as fetched from a hub.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FormOutcome {
    pub http_status: Option<u16>,
    /// The form answer as parsed (`{fields,state}`, `{error}` or a bare array).
    pub form: Option<Value>,
    /// The fields, wherever they were (`fields` or the bare array).
    pub fields: Vec<Value>,
    /// `error` of the form answer.
    pub error: Option<String>,
    /// OAuth links offered (type `oauth_link`/`oauth_link_google`), for the caller to follow.
    pub oauth_links: Vec<String>,
    /// `state.refresh_time` when given.
    pub refresh_time: Option<u64>,
    pub breaches: Vec<Breach>,
    /// Transport failure (timeout, too large, connection).
    pub failure: Option<String>,
    pub elapsed: Duration,
}

/// A request to send a Look to an action.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub hub: String,
    pub action: String,
    /// The Look sent (for a dashboard, its first tile's: what the `run_query` event names).
    pub look: Look,
    /// A dashboard to send instead of the Look (`type: dashboard`): its tiles rendered.
    pub dashboard: Option<Dashboard>,
    /// None: the first of the action's supported formats the mock can write.
    pub format: Option<Format>,
    /// None: push when the action supports it, else a download URL.
    pub download: Option<Download>,
    /// None: "unformatted" when supported.
    pub apply_formatting: Option<bool>,
    /// None: "noapply" when supported.
    pub apply_vis: Option<bool>,
    /// Admin params; merged over the ones configured for the integration.
    pub params: BTreeMap<String, String>,
    /// Form values (sent as `form_params`).
    pub form_values: BTreeMap<String, String>,
    /// Overrides the hub's Looker version for this send.
    pub looker_version: Option<String>,
    /// The Looker user sending (per-user state); "1" by default.
    pub user_id: Option<String>,
    /// Send even where Looker would refuse (missing params, unmatched tags, invalid form).
    pub force: bool,
    /// Set when a scheduled plan sends.
    pub scheduled_plan_id: Option<String>,
    /// A cell action (`"type":"cell"`) on this clicked value, sent as `data.value`.
    pub cell_value: Option<String>,
    /// `X-Looker-Webhook-Id` of the execute; None: a fresh one, as for every new job. Set it
    /// to replay a job (a retried schedule, a re-delivered request) with the same id.
    pub webhook_id: Option<String>,
}

impl SendRequest {
    pub fn new(hub: impl Into<String>, action: impl Into<String>, look: Look) -> SendRequest {
        SendRequest {
            hub: hub.into(),
            action: action.into(),
            look,
            dashboard: None,
            format: None,
            download: None,
            apply_formatting: None,
            apply_vis: None,
            params: BTreeMap::new(),
            form_values: BTreeMap::new(),
            looker_version: None,
            user_id: None,
            force: false,
            scheduled_plan_id: None,
            cell_value: None,
            webhook_id: None,
        }
    }

    /// Sends a dashboard (`type: dashboard`, `scheduled_plan.type: "Dashboard"`): its tiles as
    /// a PDF, a PNG or a zip of CSVs, to an action listing `dashboard`.
    pub fn for_dashboard(
        hub: impl Into<String>,
        action: impl Into<String>,
        dashboard: Dashboard,
    ) -> SendRequest {
        let look = dashboard.tiles()[0].look.clone();
        let mut req = SendRequest::new(hub, action, look);
        req.dashboard = Some(dashboard);
        req
    }

    /// What is sent: the dashboard if any, else the Look.
    pub fn content(&self) -> Content {
        match &self.dashboard {
            Some(d) => Content::Dashboard(d.clone()),
            None => Content::Look(self.look.clone()),
        }
    }

    pub fn param(mut self, k: &str, v: &str) -> Self {
        self.params.insert(k.into(), v.into());
        self
    }

    pub fn form_value(mut self, k: &str, v: &str) -> Self {
        self.form_values.insert(k.into(), v.into());
        self
    }

    pub fn format(mut self, f: Format) -> Self {
        self.format = Some(f);
        self
    }

    pub fn download(mut self, d: Download) -> Self {
        self.download = Some(d);
        self
    }
}

/// Durations of one send.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// From the first byte sent to the answer fully read.
    pub total: Duration,
    /// Until the answer's status line arrived.
    pub until_headers: Option<Duration>,
    /// Form fetches before the execute.
    pub form: Option<Duration>,
}

/// What happened when a Look was sent.
#[derive(Debug, Clone, Serialize)]
pub struct SendOutcome {
    pub webhook_id: String,
    pub http_status: Option<u16>,
    /// The answer as parsed (None when it was not JSON).
    pub body: Option<Value>,
    /// Looker's reading: HTTP 200 and `looker.success: true`.
    pub success: bool,
    pub message: Option<String>,
    pub refresh_query: bool,
    pub validation_errors: Map<String, Value>,
    /// Contract breaches of the form and execute answers.
    pub breaches: Vec<Breach>,
    /// Transport failure: timeout, answer too large, redirect loop, connection error.
    pub failure: Option<String>,
    pub format: Format,
    pub download: Download,
    pub apply_formatting: bool,
    pub apply_vis: bool,
    pub rows: u64,
    /// Times the hub fetched the download URL before answering.
    pub download_fetches: u32,
    pub timings: Timings,
}

pub use crate::journal::JournalEntry;
