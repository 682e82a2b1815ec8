//! The seam between scenarios and the systems they drive.
//!
//! The runner only talks to a [`Harness`]: send a Look, fetch a form, list actions, inject
//! faults, read events. [`crate::wiring`] implements it on top of the real crates (mock Looker,
//! reference hub, mock data plane); unit tests implement it with a scripted fake so that the
//! expectation logic is tested on its own.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::format::{Download, LookSpec, Scenario};

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

/// Everything a scenario needs from the systems under test.
pub trait Harness: Send + Sync {
    /// Base URL of the hub.
    fn hub_url(&self) -> String;
    /// Token for the hub, if any.
    fn hub_token(&self) -> Option<String>;
    /// Base URL of the data plane, no trailing slash.
    fn dataplane_url(&self) -> String;
    /// Accepted write keys, first is the default.
    fn write_keys(&self) -> Vec<String>;
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

/// Starts a fresh [`Harness`] per scenario.
pub trait Launcher: Send + Sync + 'static {
    /// The harness type.
    type H: Harness + 'static;
    /// Start servers as the scenario describes (hub, data plane, Looker).
    fn start(&self, scenario: &Scenario) -> impl Future<Output = anyhow::Result<Self::H>> + Send;
}
