//! The scenario file format.
//!
//! A scenario is one YAML file describing a situation end to end: the Looks, the Looker version,
//! the hub, the data plane, an ordered list of steps, and what must come out. The types here are
//! the whole format: every key a file may use is a field below, and unknown keys are rejected so
//! that a typo (`expcet:`) is an error naming the line instead of a silently skipped check.
//!
//! Strings anywhere in `params`, `form`, raw bodies and expected values may use placeholders,
//! replaced when the scenario runs: `${dataplane.url}`, `${dataplane.write_key}` (the first
//! key), `${dataplane.write_keys.N}`, `${hub.url}`, `${hub.token}`, and `${send.webhook_id}`
//! (the `X-Looker-Webhook-Id` of the latest `send`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One scenario file, as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Display name; defaults to the file path relative to the scenarios directory.
    #[serde(default)]
    pub name: Option<String>,
    /// What the scenario shows and where the expectation comes from (spec section, quirk number).
    #[serde(default)]
    pub description: String,
    /// Free-form tags, matched by `--filter` like the name.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The mock Looker's settings.
    #[serde(default)]
    pub looker: LookerSpec,
    /// The hub under test.
    #[serde(default)]
    pub hub: HubSpec,
    /// The data plane the hub sends to.
    #[serde(default)]
    pub dataplane: DataplaneSpec,
    /// Looks by name, referenced by `send` steps.
    #[serde(default)]
    pub looks: BTreeMap<String, LookSpec>,
    /// What happens, in order.
    #[serde(with = "serde_norway::with::singleton_map_recursive")]
    pub steps: Vec<Step>,
    /// Checks after the last step.
    #[serde(default)]
    pub expect: Option<FinalExpect>,
    /// Upper bound for the whole scenario, in seconds (default 60).
    #[serde(default)]
    pub timeout_s: Option<u64>,
}

/// The Looker side: which version it claims in `User-Agent`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LookerSpec {
    /// `LookerOutgoingWebhook/<version>`; `none` sends no Looker User-Agent. Default: the mock
    /// Looker's current release.
    #[serde(default)]
    pub version: Option<String>,
}

/// Mapping mode of the in-process reference hub.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mapping {
    /// Reproduce RudderStack's hosted hub, quirks included.
    #[default]
    Rudderstack,
    /// Keep values as they are.
    Clean,
}

/// The hub: in-process (the default) or an external URL.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HubSpec {
    /// Mapping mode of the in-process hub. Ignored for an external hub.
    #[serde(default)]
    pub mapping: Mapping,
    /// An external hub to contract-test instead of the in-process one.
    #[serde(default)]
    pub url: Option<String>,
    /// Token for the external hub.
    #[serde(default)]
    pub token: Option<String>,
    /// Scenarios that only make sense against the reference hub (they assert its documented
    /// fixes) say `reference_only: true` and are skipped under `--hub-url`.
    #[serde(default)]
    pub reference_only: bool,
    /// The in-process hub also serves the write-back actions (`mark_suspicious`,
    /// `mark_suspicious_batch`, issue 6) with a hub secret, an OAuth client registered at the
    /// mock Looker's OAuth provider and a fresh SQLite database that the runner reads on its own.
    /// Skipped under `--hub-url` (an external hub's database is out of reach).
    #[serde(default)]
    pub writeback: bool,
}

/// A write key of the in-process data plane, as a bare key or with its source details.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum WriteKeySpec {
    /// Just the key.
    Key(String),
    /// Key plus source name and enabled flag.
    Source {
        /// The write key.
        key: String,
        /// Source name.
        #[serde(default)]
        name: Option<String>,
        /// A disabled source answers 404 `source is disabled`.
        #[serde(default = "yes")]
        enabled: bool,
    },
}

fn yes() -> bool {
    true
}

impl WriteKeySpec {
    /// The key itself.
    pub fn key(&self) -> &str {
        match self {
            WriteKeySpec::Key(k) => k,
            WriteKeySpec::Source { key, .. } => key,
        }
    }
}

/// The data plane: in-process with write keys and faults, or external.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DataplaneSpec {
    /// Accepted write keys; default one key `wk_scenario`.
    #[serde(default)]
    pub write_keys: Vec<WriteKeySpec>,
    /// Fault rules active from the start, in the data plane's `POST /_mock/faults` JSON.
    #[serde(default)]
    pub faults: Vec<Value>,
    /// Pre-1.46 capitalised answers (`OK`, `Invalid Write Key`).
    #[serde(default)]
    pub legacy_responses: bool,
    /// Request size limit (default the gateway's 4,096,000 bytes).
    #[serde(default)]
    pub max_request_bytes: Option<usize>,
    /// The data plane's HTTP write timeout in ms (default the gateway's 10,000): an answer ready
    /// later is never sent, the connection closes, and what was stored stays stored.
    #[serde(default)]
    pub write_timeout_ms: Option<u64>,
    /// An external data plane (a running `mock-dataplane`) instead of the in-process one.
    #[serde(default)]
    pub url: Option<String>,
}

/// One field of a Look (json_detail field metadata, reduced to what matters).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// `view.field`.
    pub name: String,
    /// LookML tags (`email`, `user_id`, `rudder_anonymous_id`, `rudder_group_id`, …).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Label; default derived from the name.
    #[serde(default)]
    pub label: Option<String>,
    /// LookML type (`string`, `number`, `count`, …).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Marked hidden in LookML (not the same as `vis_config.hidden_fields`).
    #[serde(default)]
    pub hidden: bool,
}

/// The fields of a Look, in json_detail's groups.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldsSpec {
    /// Dimensions.
    #[serde(default)]
    pub dimensions: Vec<FieldSpec>,
    /// Measures.
    #[serde(default)]
    pub measures: Vec<FieldSpec>,
    /// Filters.
    #[serde(default)]
    pub filters: Vec<FieldSpec>,
    /// Parameters.
    #[serde(default)]
    pub parameters: Vec<FieldSpec>,
    /// Table calculations.
    #[serde(default)]
    pub table_calculations: Vec<FieldSpec>,
    /// Pivot fields.
    #[serde(default)]
    pub pivots: Vec<FieldSpec>,
}

/// Column of a generated Look: a field plus the mock Looker's value generator.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GenColumn {
    /// `view.field`.
    pub name: String,
    /// LookML tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// LookML type.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The generator, in the mock Looker's form: `{kind: email}`, `{kind: sequence, prefix: u}`,
    /// `{kind: uuid}`, `{kind: int, min: 0, max: 9}`, `{kind: choice, values: [a, b]}`, …
    pub generator: Value,
    /// Share of null cells, 0.0 to 1.0.
    #[serde(default)]
    pub null_ratio: f64,
}

/// A Look generated row by row, never held in memory.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GeneratedSpec {
    /// Number of rows.
    pub rows: u64,
    /// Seed, so a run is reproducible.
    #[serde(default)]
    pub seed: u64,
    /// Columns, as dimensions, in order.
    pub columns: Vec<GenColumn>,
}

/// A Look: inline, from a file (relative to the scenario file), or generated.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LookSpec {
    /// Load the Look from this YAML/JSON file instead (relative to the scenario file).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Generate the rows instead.
    #[serde(default)]
    pub generate: Option<GeneratedSpec>,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// LookML model.
    #[serde(default)]
    pub model: Option<String>,
    /// Explore (the query's `view`).
    #[serde(default)]
    pub explore: Option<String>,
    /// json_detail `ran_at`.
    #[serde(default)]
    pub ran_at: Option<String>,
    /// Put `ran_at` after `data` in the body (observed quirk i2).
    #[serde(default)]
    pub ran_at_after_data: bool,
    /// Fields.
    #[serde(default)]
    pub fields: Option<FieldsSpec>,
    /// `scheduled_plan.query.vis_config.hidden_fields`.
    #[serde(default)]
    pub hidden_fields: Vec<String>,
    /// Rows: `{field: cell}`. A scalar is shorthand for `{value: scalar}`; a map with a `value`
    /// key is a full cell, sent as written (key order kept); any other map is a pivoted measure
    /// `{pivot_key: cell}`. Leave a field out to send a row without its cell.
    #[serde(default)]
    pub rows: Vec<serde_json::Map<String, Value>>,
}

/// Where the Look's data travels.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Download {
    /// `attachment.data`, inline in the execute body.
    Push,
    /// `scheduled_plan.download_url`, fetched by the hub.
    Url,
}

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
    /// Expected action names, in order.
    #[serde(default)]
    pub names: Option<Vec<String>>,
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

/// Expectations on the hub's write-back database, read by the runner straight from the SQLite
/// file (`order_classifications`), one JSON object per row with every column by name.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WritebackExpect {
    /// Only rows whose columns equal these (placeholders allowed).
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, String>,
    /// Exactly this many rows (after the filter).
    #[serde(default)]
    pub count: Option<usize>,
    /// Each listed row must match a distinct stored row (values exact or matchers).
    #[serde(default)]
    pub items: Vec<serde_json::Map<String, Value>>,
    /// `items` must match the rows in insertion order, one to one.
    #[serde(default)]
    pub ordered: bool,
    /// Every row (after the filter) must match this.
    #[serde(default)]
    pub each: Option<serde_json::Map<String, Value>>,
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

/// A value or a list of values.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Many.
    Many(Vec<String>),
}

impl OneOrMany {
    /// All values.
    pub fn all(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// Expectations on the hub's answer to Looker.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AnswerExpect {
    /// `looker.success`.
    #[serde(default)]
    pub success: Option<bool>,
    /// The message contains each of these.
    #[serde(default)]
    pub message_contains: Option<OneOrMany>,
    /// The message is exactly this (a matcher is allowed).
    #[serde(default)]
    pub message: Option<Value>,
    /// HTTP status of the execute answer.
    #[serde(default)]
    pub http_status: Option<u16>,
    /// The whole answer body (matchers allowed).
    #[serde(default)]
    pub body: Option<Value>,
    /// `looker.refresh_query` as Looker read it.
    #[serde(default)]
    pub refresh_query: Option<bool>,
    /// `looker.validation_errors` as Looker read it (per field; matchers allowed; `{}` = none).
    #[serde(default)]
    pub validation_errors: Option<Value>,
    /// Contract breaches found by the mock Looker; default: none allowed.
    #[serde(default)]
    pub breaches: Option<Vec<BreachExpect>>,
}

/// Expected contract breach: each given field is a substring of the breach's field.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BreachExpect {
    /// Rule name contains.
    #[serde(default)]
    pub rule: Option<String>,
    /// JSON path contains.
    #[serde(default)]
    pub json_path: Option<String>,
    /// Detail contains.
    #[serde(default)]
    pub detail: Option<String>,
}

/// Expectations on a form.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FormExpect {
    /// The form body (matchers allowed).
    #[serde(default)]
    pub body: Option<Value>,
    /// Field names, in order.
    #[serde(default)]
    pub field_names: Option<Vec<String>>,
    /// The form's `error` contains this.
    #[serde(default)]
    pub error_contains: Option<String>,
    /// The form offers an `oauth_link` (a login) / does not.
    #[serde(default)]
    pub oauth_link: Option<bool>,
    /// Per field name, the keys that field must have (a partial match: `{default: '1001'}`);
    /// `null` says the form has no such field.
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// HTTP status.
    #[serde(default)]
    pub http_status: Option<u16>,
    /// Contract breaches; default none.
    #[serde(default)]
    pub breaches: Option<Vec<BreachExpect>>,
}

/// Which stored events an expectation is about.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventFilterSpec {
    /// Write key (placeholders allowed).
    #[serde(default)]
    pub write_key: Option<String>,
    /// Event `type`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `userId`.
    #[serde(default)]
    pub user_id: Option<String>,
    /// `event` (track name).
    #[serde(default)]
    pub event: Option<String>,
}

/// Expectations on the events the data plane stored.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventsExpect {
    /// Only these events.
    #[serde(default, rename = "where")]
    pub filter: EventFilterSpec,
    /// Exactly this many (waited for up to `timeout_ms` first).
    #[serde(default)]
    pub count: Option<usize>,
    /// Each listed event must match a distinct stored event. Keys are top-level event keys or
    /// dotted paths (`context.app.name`); values are exact JSON or matchers.
    #[serde(default)]
    pub items: Vec<serde_json::Map<String, Value>>,
    /// `items` must match in arrival order, one to one.
    #[serde(default)]
    pub ordered: bool,
    /// Every stored event (after the filter) must match this.
    #[serde(default)]
    pub each: Option<serde_json::Map<String, Value>>,
    /// How long to wait for `count` events (default 10 s).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Expectations on the data plane's request journal.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RequestsExpect {
    /// Only requests to this path.
    #[serde(default)]
    pub path: Option<String>,
    /// Exactly this many.
    #[serde(default)]
    pub count: Option<usize>,
    /// The statuses answered, in order.
    #[serde(default)]
    pub statuses: Option<Vec<u16>>,
}

/// Checks after the last step.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FinalExpect {
    /// Event expectations, each with its own filter.
    #[serde(default)]
    pub events: Vec<EventsExpect>,
    /// Total stored events, all keys.
    #[serde(default)]
    pub total_events: Option<usize>,
    /// Stored events whose `messageId` an earlier stored event already has (a retried batch
    /// that was stored the first time too; the gateway does not deduplicate).
    #[serde(default)]
    pub duplicate_events: Option<usize>,
    /// The data plane's request journal.
    #[serde(default)]
    pub requests: Option<RequestsExpect>,
    /// The write-back database (needs `hub: {writeback: true}`).
    #[serde(default)]
    pub writeback: Option<WritebackExpect>,
}

/// A scenario file that could not be loaded: the file, the line and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// YAML or schema error with a location.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// File.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected.
        message: String,
    },
    /// A semantic error found after parsing.
    #[error("{path}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// A loaded scenario and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// Display name (`name:` or the relative path without extension).
    pub name: String,
    /// The file (relative to the scenarios root for embedded ones).
    pub path: PathBuf,
    /// Parsed content, with file Looks resolved.
    pub scenario: Scenario,
}

/// Parses YAML, first refusing flow collections nested so deep that libyaml's scan would take
/// minutes (see [`mock_looker::yaml`]); serde_norway would refuse them after that scan anyway.
fn from_yaml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, LoadError> {
    mock_looker::yaml::check_nesting(text).map_err(|e| LoadError::Syntax {
        path: path.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.to_string(),
    })?;
    serde_norway::from_str(text).map_err(|e| yaml_error(path, e))
}

fn yaml_error(path: &Path, err: serde_norway::Error) -> LoadError {
    let (line, column) = err
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    // serde_norway appends " at line L column C" to some messages; the location is already in
    // our prefix, so drop the duplicate to keep one readable sentence.
    let mut message = err.to_string();
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    LoadError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// Parse a scenario from text. `path` names the file in errors; `read` loads Look files
/// referenced by `file:` (relative paths are resolved by the caller's reader).
pub fn parse_scenario(
    path: &Path,
    text: &str,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Result<Scenario, LoadError> {
    let mut scenario: Scenario = from_yaml(path, text)?;
    let invalid = |message: String| LoadError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    if scenario.steps.is_empty() {
        return Err(invalid(
            "`steps` is empty: a scenario needs at least one step".into(),
        ));
    }
    for (name, look) in scenario.looks.iter_mut() {
        let sources = [
            look.file.is_some(),
            look.generate.is_some(),
            look.fields.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if sources != 1 {
            return Err(invalid(format!(
                "look `{name}`: give exactly one of `file`, `generate` or `fields` (inline), found {sources}"
            )));
        }
        if let Some(file) = look.file.clone() {
            let dir = path.parent().unwrap_or(Path::new(""));
            let full = dir.join(&file);
            let text = read(&full).ok_or_else(|| {
                invalid(format!("look `{name}`: file {} not found", full.display()))
            })?;
            let mut loaded: LookSpec = from_yaml(&full, &text)?;
            if loaded.file.is_some() || loaded.fields.is_none() {
                return Err(invalid(format!(
                    "look `{name}`: {} must be an inline Look with `fields`",
                    full.display()
                )));
            }
            loaded.file = Some(file);
            *look = loaded;
        }
    }
    for (i, step) in scenario.steps.iter().enumerate() {
        if let Step::Send(send) = step {
            match &send.look {
                Some(look) if !scenario.looks.contains_key(look) => {
                    return Err(invalid(format!(
                        "step {} (send): look `{look}` is not defined under `looks` (defined: {})",
                        i + 1,
                        scenario
                            .looks
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                None if scenario.looks.len() != 1 => {
                    return Err(invalid(format!(
                        "step {} (send): say which look to send (`look:`); {} are defined",
                        i + 1,
                        scenario.looks.len()
                    )));
                }
                _ => {}
            }
        }
        if let Step::Raw(raw) = step
            && raw.body.is_some()
            && raw.body_text.is_some()
        {
            return Err(invalid(format!(
                "step {} (raw): give `body` or `body_text`, not both",
                i + 1
            )));
        }
    }
    let needs_writeback = scenario.steps.iter().position(|s| {
        matches!(
            s,
            Step::Login(_) | Step::Revoke(_) | Step::SetState(_) | Step::ExpectWriteback(_)
        )
    });
    if !scenario.hub.writeback {
        if let Some(i) = needs_writeback {
            return Err(invalid(format!(
                "step {} ({}) needs the write-back hub: add `hub: {{writeback: true}}`",
                i + 1,
                scenario.steps[i].label()
            )));
        }
        if scenario
            .expect
            .as_ref()
            .is_some_and(|e| e.writeback.is_some())
        {
            return Err(invalid(
                "`expect.writeback` needs the write-back hub: add `hub: {writeback: true}`".into(),
            ));
        }
    } else if scenario.hub.url.is_some() {
        return Err(invalid(
            "`hub.writeback` runs the in-process hub and reads its database; it cannot be combined with `hub.url`".into(),
        ));
    }
    crate::matcher::validate_tree(&scenario).map_err(invalid)?;
    Ok(scenario)
}

/// Name a scenario from its path relative to the root: `identify/01_user_id.yaml` →
/// `identify/01_user_id`.
pub fn name_from_path(rel: &Path) -> String {
    let s = rel.with_extension("").to_string_lossy().replace('\\', "/");
    s.trim_start_matches("./").to_string()
}
