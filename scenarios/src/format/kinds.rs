//! Contract or reference: the kind of each key of an expectation block, by default and as a
//! scenario's `kinds:` map overrides it. The runner's `contract` module applies it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Whether an expectation binds every correct Action Hub (`contract`) or describes a choice of
/// our reference hub (`reference`: batch shapes, request counts and status sequences, exact
/// message texts). Against an external hub only contract parts are checked; each skipped
/// reference part is reported with its reason.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// Any correct hub must meet it.
    Contract,
    /// Our hub's choice; skipped against an external hub.
    Reference,
}

/// Per key of an expectation block, a kind other than the key's default (README, "Contract
/// and reference"): `kinds: {response: contract}`.
pub type Kinds = BTreeMap<String, CheckKind>;

/// Keys each block may name in `kinds:`, with their default kind and, for reference keys,
/// why a hub we did not write need not match them.
/// A block's keys: name, default kind, why a reference key need not hold for another hub.
type BlockKeys = &'static [(&'static str, CheckKind, &'static str)];

const TABLE: &[(&str, BlockKeys)] = &[
    (
        "send.expect",
        &[
            ("success", CheckKind::Contract, ""),
            ("http_status", CheckKind::Contract, ""),
            ("refresh_query", CheckKind::Contract, ""),
            ("validation_errors", CheckKind::Contract, ""),
            ("breaches", CheckKind::Contract, ""),
            ("message_contains", CheckKind::Reference, TEXT),
            ("message", CheckKind::Reference, TEXT),
            ("body", CheckKind::Reference, BODY),
        ],
    ),
    (
        "fetch_form.expect",
        &[
            ("field_names", CheckKind::Contract, ""),
            ("oauth_link", CheckKind::Contract, ""),
            ("fields", CheckKind::Contract, ""),
            ("http_status", CheckKind::Contract, ""),
            ("breaches", CheckKind::Contract, ""),
            ("error_contains", CheckKind::Reference, TEXT),
            ("body", CheckKind::Reference, BODY),
        ],
    ),
    (
        "raw",
        &[
            ("status", CheckKind::Contract, ""),
            ("response", CheckKind::Reference, BODY),
        ],
    ),
    (
        "expect",
        &[
            ("events", CheckKind::Contract, ""),
            ("total_events", CheckKind::Contract, ""),
            ("duplicate_events", CheckKind::Contract, ""),
            ("distinct_events", CheckKind::Contract, ""),
            ("writeback", CheckKind::Contract, ""),
            ("requests", CheckKind::Reference, REQUESTS),
        ],
    ),
];

const TEXT: &str =
    "an exact text is the reference hub's wording; another hub may word it differently";
const BODY: &str =
    "the whole body is the reference hub's answer; the contract parts are checked on their own";
const REQUESTS: &str = "request counts and status sequences are the reference hub's batching and retry choices; delivery is checked by the events";
pub(crate) const OVERRIDDEN: &str = "marked `reference` by this scenario";

/// The default kind of `key` in `block` (`send.expect`, `fetch_form.expect`, `raw`, `expect`).
pub fn default_kind(block: &str, key: &str) -> Option<CheckKind> {
    entry(block, key).map(|(_, k, _)| k)
}

pub(crate) fn entry(block: &str, key: &str) -> Option<(&'static str, CheckKind, &'static str)> {
    TABLE
        .iter()
        .find(|(b, _)| *b == block)
        .and_then(|(_, keys)| keys.iter().find(|(k, _, _)| *k == key))
        .copied()
}

/// A load-time check: every key a `kinds:` map names must be a key of its block.
pub(crate) fn validate_kinds(block: &str, kinds: &Kinds) -> Result<(), String> {
    for key in kinds.keys() {
        if entry(block, key).is_none() {
            let known: Vec<&str> = TABLE
                .iter()
                .find(|(b, _)| *b == block)
                .map(|(_, keys)| keys.iter().map(|(k, _, _)| *k).collect())
                .unwrap_or_default();
            return Err(format!(
                "kinds: `{key}` is not a key of {block}; expected one of {}",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_must_name_keys_of_their_block() {
        let mut k = Kinds::new();
        k.insert("response".into(), CheckKind::Contract);
        assert!(validate_kinds("raw", &k).is_ok());
        let err = validate_kinds("send.expect", &k).unwrap_err();
        assert!(
            err.contains("`response` is not a key of send.expect"),
            "{err}"
        );
        assert_eq!(
            default_kind("expect", "requests"),
            Some(CheckKind::Reference)
        );
    }
}
