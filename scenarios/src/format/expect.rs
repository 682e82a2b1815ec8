//! Expectations: on the hub's answer, a form, contract breaches, stored events, the data plane's
//! request journal, and the scenario-level `expect:` block.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kinds::Kinds;

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
    /// Keys whose kind differs from their default (contract or reference).
    #[serde(default)]
    pub kinds: Kinds,
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
    /// Keys whose kind differs from their default (contract or reference).
    #[serde(default)]
    pub kinds: Kinds,
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
    /// Stored events with distinct `messageId`s: every event arrived at least once, however
    /// often a retry stored it again (a delivery contract that holds for any batching).
    #[serde(default)]
    pub distinct_events: Option<usize>,
    /// The data plane's request journal.
    #[serde(default)]
    pub requests: Option<RequestsExpect>,
    /// The write-back database (needs `hub: {writeback: true}`).
    #[serde(default)]
    pub writeback: Option<WritebackExpect>,
    /// Keys whose kind differs from their default (`events`, `total_events`,
    /// `duplicate_events`, `requests`).
    #[serde(default)]
    pub kinds: Kinds,
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
