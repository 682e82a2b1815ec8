//! The seam between scenarios and the systems they drive.
//!
//! The runner only talks to a [`Harness`]: send a Look, fetch a form, list actions, inject
//! faults, read events. It is split by system, [`Looker`], [`Hub`] and [`DataPlane`], so that
//! each side reads (and is implemented) on its own; [`Harness`] is the three together. The
//! `wiring` module implements them on top of the real crates (mock Looker, reference hub, mock
//! data plane); unit tests implement them with a scripted fake so that the expectation logic is
//! tested on its own.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::format::{Download, LookSpec, Scenario, Tamper};

/// A Look sent to an action, with everything resolved (placeholders substituted).
#[derive(Debug, Clone)]
pub struct SendRequest {
    /// Action name.
    pub action: String,
    /// The Look.
    pub look: LookSpec,
    /// Format, or the mock Looker's choice.
    pub format: Option<String>,
    /// Push or URL, or the mock Looker's choice.
    pub download: Option<Download>,
    /// Admin params.
    pub params: BTreeMap<String, String>,
    /// Form values.
    pub form: BTreeMap<String, String>,
    /// `Some("none")` for no Looker User-Agent; `None` for the harness default.
    pub looker_version: Option<String>,
    /// Send even where Looker would refuse.
    pub force: bool,
    /// The Looker user (per-user state); `None` for the mock's default user.
    pub user: Option<String>,
    /// A cell action on this clicked value.
    pub cell_value: Option<String>,
    /// Replay this `X-Looker-Webhook-Id` instead of a fresh one.
    pub webhook_id: Option<String>,
}

/// A contract breach reported by the mock Looker.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Breach {
    /// Which request (e.g. `execute rudder_event`).
    pub request: String,
    /// The rule broken.
    pub rule: String,
    /// Where in the JSON.
    pub json_path: String,
    /// What was wrong.
    pub detail: String,
}

/// What the hub answered to an execute, as Looker read it.
#[derive(Debug, Clone, Serialize)]
pub struct SendResult {
    /// HTTP status.
    pub http_status: u16,
    /// Parsed body (`Value::Null` when not JSON).
    pub body: Value,
    /// `looker.success` (or false when the request failed).
    pub success: bool,
    /// `looker.message`, or the error text.
    pub message: Option<String>,
    /// Contract breaches.
    pub breaches: Vec<Breach>,
    /// `looker.refresh_query` as Looker read it.
    pub refresh_query: bool,
    /// `looker.validation_errors` as Looker read it (an object; empty when none).
    pub validation_errors: Value,
    /// The `X-Looker-Webhook-Id` the execute carried (None when nothing was sent).
    pub webhook_id: Option<String>,
}

/// A form request.
#[derive(Debug, Clone)]
pub struct FormRequest {
    /// Action name.
    pub action: String,
    /// Admin params.
    pub params: BTreeMap<String, String>,
    /// Current form values.
    pub form: BTreeMap<String, String>,
    /// Looker version override.
    pub looker_version: Option<String>,
    /// The Looker user (per-user state); `None` for the mock's default user.
    pub user: Option<String>,
}

/// A form answer.
#[derive(Debug, Clone, Serialize)]
pub struct FormResult {
    /// HTTP status.
    pub http_status: u16,
    /// The body (`{"fields":[…]}` or `{"error":…}`).
    pub body: Value,
    /// Contract breaches.
    pub breaches: Vec<Breach>,
}

/// The hub's action list as a Looker of some version saw it.
#[derive(Debug, Clone, Serialize)]
pub struct ActionList {
    /// Entries of `integrations`, in order.
    pub actions: Vec<Value>,
    /// Contract breaches.
    pub breaches: Vec<Breach>,
}

/// Which stored events to return.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Write key.
    pub write_key: Option<String>,
    /// `type`.
    pub kind: Option<String>,
    /// `userId`.
    pub user_id: Option<String>,
    /// `event`.
    pub event: Option<String>,
    /// At most this many (the first ones in arrival order).
    pub limit: Option<usize>,
}

/// A stored event.
#[derive(Debug, Clone, Serialize)]
pub struct Stored {
    /// The write key it arrived with.
    pub write_key: String,
    /// The event as the gateway stores it.
    pub event: Value,
}

/// One request the data plane received.
#[derive(Debug, Clone, Serialize)]
pub struct JournalRow {
    /// Path.
    pub path: String,
    /// Status answered (0 when the connection was cut by a fault).
    pub status: u16,
}

/// The mock Looker (and its OAuth provider and per-user state): what Looker sends and reads.
pub trait Looker: Send + Sync {
    /// Send a Look to an action through the mock Looker.
    fn send(&self, req: SendRequest) -> impl Future<Output = anyhow::Result<SendResult>> + Send;
    /// Fetch a form through the mock Looker.
    fn fetch_form(
        &self,
        req: FormRequest,
    ) -> impl Future<Output = anyhow::Result<FormResult>> + Send;
    /// List the hub's actions as a Looker of this version (`Some("none")`: no User-Agent).
    fn list_actions(
        &self,
        looker_version: Option<String>,
    ) -> impl Future<Output = anyhow::Result<ActionList>> + Send;
    /// Log in as a user by following the form's `oauth_link` with the scripted browser.
    fn login(&self, req: LoginRequest) -> impl Future<Output = anyhow::Result<LoginResult>> + Send {
        let _ = req;
        async { anyhow::bail!(NO_WRITEBACK) }
    }
    /// Revoke a user's tokens at the OAuth provider; how many were live.
    fn revoke(&self, user: String) -> impl Future<Output = anyhow::Result<usize>> + Send {
        let _ = user;
        async { anyhow::bail!(NO_WRITEBACK) }
    }
    /// Replace (`Some`) or forget (`None`) the state Looker keeps for a user and action.
    fn set_user_state(
        &self,
        user: String,
        action: String,
        state: Option<String>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        let _ = (user, action, state);
        async { anyhow::bail!(NO_WRITEBACK) }
    }
}

/// The hub under test: where it is, and (write-back hubs) what its database holds.
pub trait Hub: Send + Sync {
    /// Base URL of the hub.
    fn hub_url(&self) -> String;
    /// Token for the hub, if any.
    fn hub_token(&self) -> Option<String>;
    /// Every row of the write-back table, in insertion order, as `{column: value}` objects read
    /// straight from the database file.
    fn writeback_rows(&self) -> impl Future<Output = anyhow::Result<Vec<Value>>> + Send {
        async { anyhow::bail!(NO_WRITEBACK) }
    }
}

/// The mock data plane: its address and keys, fault rules, stored events, request journal.
pub trait DataPlane: Send + Sync {
    /// Base URL of the data plane, no trailing slash.
    fn dataplane_url(&self) -> String;
    /// Accepted write keys, first is the default.
    fn write_keys(&self) -> Vec<String>;
    /// Add a data-plane fault rule.
    fn add_fault(&self, rule: Value) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Remove every fault rule.
    fn clear_faults(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Delete every stored event.
    fn reset_events(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Stored events matching `filter`, in arrival order.
    fn events(&self, filter: Filter) -> impl Future<Output = anyhow::Result<Vec<Stored>>> + Send;
    /// Wait until `count` events match; `Err(seen)` on timeout.
    fn wait_for(
        &self,
        count: usize,
        filter: Filter,
        timeout: Duration,
    ) -> impl Future<Output = anyhow::Result<Result<Vec<Stored>, usize>>> + Send;
    /// How many events are stored in all (every write key).
    fn total_events(&self) -> impl Future<Output = anyhow::Result<usize>> + Send;
    /// The data plane's request journal.
    fn requests(&self) -> impl Future<Output = anyhow::Result<Vec<JournalRow>>> + Send;
}

/// Everything a scenario needs from the systems under test: the three systems together.
/// Implemented for every type that implements the three sides.
pub trait Harness: Looker + Hub + DataPlane {}

impl<T: Looker + Hub + DataPlane> Harness for T {}

/// A login through the OAuth flow as a user.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// Looker user and provider user.
    pub user: String,
    /// The OAuth action.
    pub action: String,
    /// Clicked value for a cell action's form (`data.value`).
    pub cell_value: Option<String>,
    /// Where to alter the sealed state, if at all.
    pub tamper: Option<Tamper>,
}

/// How a login ended.
#[derive(Debug, Clone, Serialize)]
pub struct LoginResult {
    /// The form's `oauth_url` (None: the form offered no login link).
    pub oauth_url: Option<String>,
    /// Status of the last page (0 when no page was reached).
    pub status: u16,
    /// Body of the last page, or why the flow stopped.
    pub body: String,
    /// How many URLs the browser visited.
    pub hops: usize,
    /// Looker keeps a new state for the user afterwards.
    pub state_stored: bool,
    /// Contract breaches of the form request.
    pub breaches: Vec<Breach>,
}

const NO_WRITEBACK: &str =
    "this harness has no write-back support (OAuth provider, user state, database)";

/// Starts a fresh [`Harness`] per scenario.
pub trait Launcher: Send + Sync + 'static {
    /// The harness type.
    type H: Harness + 'static;
    /// Start servers as the scenario describes (hub, data plane, Looker).
    fn start(&self, scenario: &Scenario) -> impl Future<Output = anyhow::Result<Self::H>> + Send;
}
