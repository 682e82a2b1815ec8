//! Contract or reference, one expectation at a time.
//!
//! Every key of an expectation block is either a *contract*, which any correct Action Hub must
//! meet (events delivered with the right content, the truth told to Looker, Action API shapes
//! and statuses), or a *reference* choice of our hub (request counts and status sequences,
//! which are batching and retry choices; exact message and error texts; whole answer bodies).
//! Each key has a default kind (`format::kinds`); a block's `kinds:` map overrides it.
//!
//! Against our in-process hub everything is checked. Against an external hub (`--hub-url`)
//! the `Gate` hands the checks a copy of each block without its reference keys and records
//! every key it left out, with the reason, so the report can say what was not asked for.

use crate::format::kinds::{OVERRIDDEN, entry};
use crate::format::{AnswerExpect, CheckKind, FinalExpect, FormExpect, Kinds, RawStep};
use serde_json::{Value, json};

use crate::outcome::SkippedCheck;

/// Decides, per key, whether this run checks it; collects what it left out.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// Only contract parts are checked (an external hub).
    pub external: bool,
    /// Reference parts left out so far.
    pub skipped: Vec<SkippedCheck>,
}

impl Gate {
    /// Whether to check `key` (present in the block) at `at`; records a skip when not.
    fn keep(&mut self, at: &str, block: &str, key: &str, kinds: &Kinds) -> bool {
        if !self.external {
            return true;
        }
        let (_, default, why) = entry(block, key).unwrap_or(("", CheckKind::Contract, ""));
        let kind = kinds.get(key).copied().unwrap_or(default);
        if kind == CheckKind::Contract {
            return true;
        }
        let reason = if default == CheckKind::Reference {
            why
        } else {
            OVERRIDDEN
        };
        self.skipped.push(SkippedCheck {
            at: at.to_string(),
            what: key.to_string(),
            reason: reason.to_string(),
        });
        false
    }

    /// `send.expect` as this run checks it.
    pub fn answer(&mut self, at: &str, e: &AnswerExpect) -> AnswerExpect {
        let mut e = e.clone();
        let k = e.kinds.clone();
        let b = "send.expect";
        macro_rules! gate {
            ($($field:ident),*) => {$(
                if e.$field.is_some() && !self.keep(at, b, stringify!($field), &k) {
                    e.$field = None;
                }
            )*};
        }
        gate!(
            success,
            http_status,
            refresh_query,
            validation_errors,
            message_contains,
            message,
            body
        );
        // No breaches allowed by default: a contract even when the key is absent.
        if e.breaches.is_some() && !self.keep(at, b, "breaches", &k) {
            e.breaches = None;
        }
        e
    }

    /// `fetch_form.expect` as this run checks it.
    pub fn form(&mut self, at: &str, e: &FormExpect) -> FormExpect {
        let mut e = e.clone();
        let k = e.kinds.clone();
        let b = "fetch_form.expect";
        macro_rules! gate {
            ($($field:ident),*) => {$(
                if e.$field.is_some() && !self.keep(at, b, stringify!($field), &k) {
                    e.$field = None;
                }
            )*};
        }
        gate!(field_names, oauth_link, http_status, error_contains, body);
        if !e.fields.is_empty() && !self.keep(at, b, "fields", &k) {
            e.fields.clear();
        }
        e
    }

    /// A `raw` step's expectations as this run checks them.
    pub fn raw(&mut self, at: &str, r: &RawStep) -> RawStep {
        let mut r = r.clone();
        let k = r.kinds.clone();
        if r.status.is_some() && !self.keep(at, "raw", "status", &k) {
            r.status = None;
        }
        if r.response.is_some() && !self.keep(at, "raw", "response", &k) {
            r.response = None;
        }
        r
    }

    /// The scenario's `expect:` block as this run checks it.
    pub fn final_expect(&mut self, e: &FinalExpect) -> FinalExpect {
        let mut e = e.clone();
        let k = e.kinds.clone();
        let at = "expect";
        if !e.events.is_empty() && !self.keep(at, at, "events", &k) {
            e.events.clear();
        }
        if e.total_events.is_some() && !self.keep(at, at, "total_events", &k) {
            e.total_events = None;
        }
        if e.duplicate_events.is_some() && !self.keep(at, at, "duplicate_events", &k) {
            e.duplicate_events = None;
        }
        if e.distinct_events.is_some() && !self.keep(at, at, "distinct_events", &k) {
            e.distinct_events = None;
        }
        if e.writeback.is_some() && !self.keep(at, at, "writeback", &k) {
            e.writeback = None;
        }
        if e.requests.is_some() && !self.keep(at, at, "requests", &k) {
            e.requests = None;
        }
        e
    }
}

/// The contract part of an expected answer body: whether it says success, at `success` (the
/// Action API's error answers) or `looker.success` (an ActionResponse), as a subset matcher.
/// Checked against an external hub when the rest of the body (its texts) is not.
pub(crate) fn success_part(expected: &Value) -> Option<Value> {
    let inner = |v: &Value| -> Option<Value> {
        let v = match v.get("match").and_then(Value::as_str) {
            Some("subset") => v.get("value")?,
            Some(_) => return None,
            None => v,
        };
        v.get("success").filter(|s| s.is_boolean()).cloned()
    };
    if let Some(ok) = inner(expected) {
        return Some(json!({"match": "subset", "value": {"success": ok}}));
    }
    let body = match expected.get("match").and_then(Value::as_str) {
        Some("subset") => expected.get("value")?,
        Some(_) => return None,
        None => expected,
    };
    let ok = inner(body.get("looker")?)?;
    Some(
        json!({"match": "subset", "value": {"looker": {"match": "subset", "value": {"success": ok}}}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn against_an_external_hub_only_reference_keys_are_left_out_and_each_is_reported() {
        let e: AnswerExpect =
            serde_norway::from_str("{success: false, message_contains: '503', http_status: 200}")
                .unwrap();
        let mut gate = Gate::default();
        let same = gate.answer("step 1", &e);
        assert!(same.message_contains.is_some() && gate.skipped.is_empty());
        let mut gate = Gate {
            external: true,
            ..Gate::default()
        };
        let c = gate.answer("step 1 (send rudder_event)", &e);
        assert_eq!(c.success, Some(false));
        assert_eq!(c.http_status, Some(200));
        assert!(c.message_contains.is_none());
        assert_eq!(gate.skipped.len(), 1);
        assert_eq!(gate.skipped[0].what, "message_contains");
        assert!(
            gate.skipped[0].reason.contains("wording"),
            "{:?}",
            gate.skipped
        );

        let f: FinalExpect = serde_norway::from_str(
            "{total_events: 3, requests: {count: 2}, kinds: {total_events: reference}}",
        )
        .unwrap();
        let c = gate.final_expect(&f);
        assert!(c.total_events.is_none() && c.requests.is_none());
        let whats: Vec<&str> = gate.skipped.iter().map(|s| s.what.as_str()).collect();
        assert_eq!(whats, ["message_contains", "total_events", "requests"]);
        assert_eq!(gate.skipped[1].reason, OVERRIDDEN);

        let r: RawStep = serde_norway::from_str(
            "{path: /, status: 403, response: {success: false}, kinds: {response: contract}}",
        )
        .unwrap();
        let c = gate.raw("step 2 (raw)", &r);
        assert!(c.status.is_some() && c.response.is_some());
    }

    #[test]
    fn the_success_of_an_expected_body_is_its_contract_part() {
        let plain: Value = serde_norway::from_str("{success: false, error: No form}").unwrap();
        assert_eq!(
            success_part(&plain),
            Some(json!({"match": "subset", "value": {"success": false}}))
        );
        let nested: Value = serde_norway::from_str(
            "{looker: {match: subset, value: {success: false, message: {match: contains, value: x}}}}",
        )
        .unwrap();
        let part = success_part(&nested).unwrap();
        let mut mm = Vec::new();
        crate::matcher::check(
            &part,
            Some(&json!({"looker": {"success": false, "message": "other words"}})),
            "",
            &mut mm,
        );
        assert!(mm.is_empty(), "{mm:?}");
        crate::matcher::check(
            &part,
            Some(&json!({"looker": {"success": true}})),
            "",
            &mut mm,
        );
        assert!(!mm.is_empty());
        assert_eq!(success_part(&json!({"error": "x"})), None);
    }
}
