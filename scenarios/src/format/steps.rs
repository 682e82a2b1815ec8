//! The steps of a scenario: what each `steps:` entry may say, with the expectations written
//! inline in a step (`send.expect`, `login.expect`, `expect_writeback`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::expect::{
    AnswerExpect, EventFilterSpec, EventsExpect, FormExpect, OneOrMany, WritebackExpect,
};
use super::{Download, yes};

/// Send a Look to an action, as Looker does.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendStep {
    /// Action name (`rudder_event`, `rudder_track`, `rudder_group`).
    pub action: String,
    /// Name of a Look in `looks`; default the only one.
    #[serde(default)]
    pub look: Option<String>,
    /// Data format; default chosen from the action's supported formats as Looker does.
    #[serde(default)]
    pub format: Option<String>,
    /// Push or download URL; default what the action supports.
    #[serde(default)]
    pub download: Option<Download>,
    /// Admin params; default `rudder_write_key: ${dataplane.write_key}` and
    /// `rudder_server_url: ${dataplane.url}/v1/batch`. Given keys replace defaults; `null` removes one.
    #[serde(default)]
    pub params: BTreeMap<String, Option<String>>,
    /// Form values (`form_params`).
    #[serde(default)]
    pub form: BTreeMap<String, String>,
    /// Looker version for this send only.
    #[serde(default)]
    pub looker_version: Option<String>,
    /// The Looker user sending (their own `state_json`); default the mock's user `1`.
    #[serde(default)]
    pub user: Option<String>,
    /// A cell action on this clicked value: `"type":"cell"` with `data.value` (also in the
    /// form request Looker makes first, so a field defaulting to the value is filled).
    #[serde(default)]
    pub cell_value: Option<String>,
    /// `X-Looker-Webhook-Id` of the execute; default a fresh one per send. Two sends with the
    /// same id replay one job (a re-delivered schedule).
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// Send even where a current Looker would refuse (a download setting the action does not
    /// declare, required tags missing): what old Lookers did, and what the official hub's own
    /// tests do by calling the action directly.
    #[serde(default)]
    pub force: bool,
    /// Expectations on Looker's side of the answer.
    #[serde(default)]
    pub expect: Option<AnswerExpect>,
}

/// Fetch an action's form.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FormStep {
    /// Action name.
    pub action: String,
    /// Admin params (defaults as for `send`).
    #[serde(default)]
    pub params: BTreeMap<String, Option<String>>,
    /// Current form values.
    #[serde(default)]
    pub form: BTreeMap<String, String>,
    /// Looker version for this request only.
    #[serde(default)]
    pub looker_version: Option<String>,
    /// The Looker user asking (their own `state_json`); default the mock's user `1`.
    #[serde(default)]
    pub user: Option<String>,
    /// The clicked value of a cell action, sent as `data.value`.
    #[serde(default)]
    pub cell_value: Option<String>,
    /// Expectations on the form.
    #[serde(default)]
    pub expect: Option<FormExpect>,
}

/// List the hub's actions (register it in the mock Looker under a given version).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListStep {
    /// Looker version; `none` for no Looker User-Agent.
    #[serde(default)]
    pub looker_version: Option<String>,
    /// Actions the list must include. A hub that lists more (a write-back action, its own
    /// extras) is not wrong, so this is not the exact list: what must be absent goes in
    /// `excludes`.
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// Actions the list must not include (version gating: track and group need Looker 5.5).
    #[serde(default)]
    pub excludes: Vec<String>,
    /// Expected `supported_formats` per action.
    #[serde(default)]
    pub formats: BTreeMap<String, Vec<String>>,
    /// Expected values per action entry (partial match of the entry).
    #[serde(default)]
    pub actions: BTreeMap<String, Value>,
}

/// A request sent straight to the hub, bypassing the mock Looker: bad payloads Looker would
/// never send, old User-Agents, wrong types.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Path on the hub, e.g. `/actions/rudder_event/execute`.
    pub path: String,
    /// JSON body (placeholders substituted).
    #[serde(default)]
    pub body: Option<Value>,
    /// A body sent byte for byte instead of `body`.
    #[serde(default)]
    pub body_text: Option<String>,
    /// `User-Agent` version (`LookerOutgoingWebhook/<v>`); none by default.
    #[serde(default)]
    pub looker_version: Option<String>,
    /// Send the hub's token (default true).
    #[serde(default = "yes")]
    pub auth: bool,
    /// Expected HTTP status.
    #[serde(default)]
    pub status: Option<u16>,
    /// Expected body (matchers allowed; leading keep-alive newlines are skipped).
    #[serde(default)]
    pub response: Option<Value>,
    /// Keys whose kind differs from their default (`status` is a contract, `response` the
    /// reference hub's texts unless `kinds: {response: contract}`).
    #[serde(default)]
    pub kinds: super::Kinds,
}

/// Wait for events or for time.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    /// Wait until this many events (matching `filter`) are stored.
    #[serde(default)]
    pub events: Option<usize>,
    /// Filter for `events`.
    #[serde(default)]
    pub filter: EventFilterSpec,
    /// Sleep this long (or, with `events`, the time limit; default 10 s).
    #[serde(default)]
    pub ms: Option<u64>,
}

/// Where a `login` step alters the sealed OAuth state.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Tamper {
    /// One character of the `state` in the form's `oauth_url` changed: the hub's `/oauth`
    /// receives it.
    OauthUrl,
    /// One character of the `state` changed on the way back: the provider returns it to the
    /// hub's `/oauth_redirect` with a valid code.
    Redirect,
    /// The authentic state re-sealed with the hub secret and an expiry in the past.
    Expired,
}

/// Log in as a Looker user: fetch the action's form as that user, take its `oauth_link` and
/// follow it with the mock Looker's scripted browser (hub `/oauth` → provider authorize with
/// consent auto-approved → hub `/oauth_redirect`, which POSTs the token to Looker's `state_url`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoginStep {
    /// The Looker user, also the provider user the browser logs in as (`alice`, `bob`, `carol`).
    pub user: String,
    /// The OAuth action whose form offers the link.
    pub action: String,
    /// Clicked value for a cell action's form.
    #[serde(default)]
    pub cell_value: Option<String>,
    /// Alter the sealed state before or after the provider.
    #[serde(default)]
    pub tamper: Option<Tamper>,
    /// Expectations on the end of the flow.
    #[serde(default)]
    pub expect: Option<LoginExpect>,
}

/// What a login must end with.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LoginExpect {
    /// The last page was 2xx (the hub's "you can close this window").
    #[serde(default)]
    pub ok: Option<bool>,
    /// HTTP status of the last page.
    #[serde(default)]
    pub status: Option<u16>,
    /// The last page's body contains each of these.
    #[serde(default)]
    pub body_contains: Option<OneOrMany>,
    /// Looker now keeps a new state for the user (the hub POSTed to `state_url`).
    #[serde(default)]
    pub state_stored: Option<bool>,
}

/// Revoke every token of a user at the mock OAuth provider.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeStep {
    /// The provider user.
    pub user: String,
    /// How many live tokens must have been revoked.
    #[serde(default)]
    pub tokens: Option<usize>,
}

/// Replace what Looker keeps as a user's state for an action (sent as `data.state_json`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetStateStep {
    /// The Looker user.
    pub user: String,
    /// The action.
    pub action: String,
    /// The new state (`reset` is the literal of spec section 9); `null` forgets it.
    pub state: Option<String>,
}

/// One step. Written as a single-key map (`- send: {...}`) or a bare word (`- clear_faults`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Send a Look to an action.
    Send(SendStep),
    /// Fetch an action's form.
    FetchForm(FormStep),
    /// List actions under a Looker version.
    ListActions(ListStep),
    /// A raw request to the hub.
    Raw(RawStep),
    /// Add a data-plane fault rule (same JSON as `POST /_mock/faults`).
    Fault(Value),
    /// Remove every fault rule.
    ClearFaults,
    /// Delete every stored event.
    ResetEvents,
    /// Wait for events or sleep.
    Wait(WaitStep),
    /// Check events now (same shape as the final `expect.events` entries).
    ExpectEvents(EventsExpect),
    /// Log in as a user through the OAuth flow (write-back hubs).
    Login(LoginStep),
    /// Revoke a user's tokens at the mock OAuth provider.
    Revoke(RevokeStep),
    /// Replace a user's stored action state (e.g. `reset`).
    SetState(SetStateStep),
    /// Check the write-back database now (same shape as `expect.writeback`).
    ExpectWriteback(WritebackExpect),
}

impl Step {
    /// Short label for reports: `step 3 (send rudder_event)`.
    pub fn label(&self) -> String {
        match self {
            Step::Send(s) => format!("send {}", s.action),
            Step::FetchForm(s) => format!("fetch_form {}", s.action),
            Step::ListActions(s) => format!(
                "list_actions (Looker {})",
                s.looker_version.as_deref().unwrap_or("default")
            ),
            Step::Raw(s) => format!("raw POST {}", s.path),
            Step::Fault(_) => "fault".into(),
            Step::ClearFaults => "clear_faults".into(),
            Step::ResetEvents => "reset_events".into(),
            Step::Wait(_) => "wait".into(),
            Step::ExpectEvents(_) => "expect_events".into(),
            Step::Login(s) => format!("login {} {}", s.user, s.action),
            Step::Revoke(s) => format!("revoke {}", s.user),
            Step::SetState(s) => format!("set_state {} {}", s.user, s.action),
            Step::ExpectWriteback(_) => "expect_writeback".into(),
        }
    }
}
