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

mod expect;
pub mod kinds;
mod parse;
mod steps;
mod validate;

pub use expect::{
    AnswerExpect, BreachExpect, EventFilterSpec, EventsExpect, FinalExpect, FormExpect, OneOrMany,
    RequestsExpect, WritebackExpect,
};
pub use kinds::{CheckKind, Kinds};
pub use parse::{LoadError, LoadedScenario, name_from_path, parse_scenario};
pub use steps::{
    FormStep, ListStep, LoginExpect, LoginStep, RawStep, RevokeStep, SendStep, SetStateStep, Step,
    Tamper, WaitStep,
};

use std::collections::BTreeMap;
use std::path::PathBuf;

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
    /// A mock Looker Look file instead (the `mock-looker --looks` format, JSON or YAML, relative
    /// to the scenario): what `scenarios record` writes, with every field's metadata as Looker
    /// sent it.
    #[serde(default)]
    pub looker_file: Option<PathBuf>,
    /// The Look definition read from `looker_file` (filled by the loader).
    #[serde(skip)]
    pub looker_def: Option<Value>,
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
