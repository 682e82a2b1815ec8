//! Placeholders (`${dataplane.url}`, `${send.webhook_id}`, …) and their values for one run.
//!
//! Steps and checks both substitute them, so they live apart from either.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::format::EventFilterSpec;
use crate::harness::{Filter, Harness};

/// Placeholder values for one run.
#[derive(Debug, Clone)]
pub struct Ctx {
    vars: Vec<(String, String)>,
}

impl Ctx {
    /// From a running harness.
    pub fn new(h: &impl Harness) -> Ctx {
        let mut vars = vec![
            ("${dataplane.url}".to_string(), h.dataplane_url()),
            ("${hub.url}".to_string(), h.hub_url()),
            (
                "${hub.token}".to_string(),
                h.hub_token().unwrap_or_default(),
            ),
        ];
        let keys = h.write_keys();
        if let Some(k) = keys.first() {
            vars.push(("${dataplane.write_key}".into(), k.clone()));
        }
        for (i, k) in keys.iter().enumerate() {
            vars.push((format!("${{dataplane.write_keys.{i}}}"), k.clone()));
        }
        Ctx { vars }
    }

    /// Set (or replace) a placeholder that steps produce, e.g. `${send.webhook_id}`.
    pub fn set(&mut self, key: &str, value: String) {
        match self.vars.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((key.to_string(), value)),
        }
    }

    /// Substitute placeholders in a string.
    pub fn str(&self, s: &str) -> String {
        if !s.contains("${") {
            return s.to_string();
        }
        let mut out = s.to_string();
        for (k, v) in &self.vars {
            out = out.replace(k, v);
        }
        crate::sensitive::fill(&out)
    }

    /// Substitute placeholders in every string of a JSON value (keys too).
    pub fn value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.str(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.value(x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (self.str(k), self.value(x)))
                    .collect(),
            ),
            v => v.clone(),
        }
    }

    pub(crate) fn map(&self, m: &Map<String, Value>) -> Map<String, Value> {
        match self.value(&Value::Object(m.clone())) {
            Value::Object(o) => o,
            _ => unreachable!("an object stays an object"),
        }
    }

    pub(crate) fn filter(&self, f: &EventFilterSpec) -> Filter {
        Filter {
            write_key: f.write_key.as_deref().map(|s| self.str(s)),
            kind: f.kind.clone(),
            user_id: f.user_id.as_deref().map(|s| self.str(s)),
            event: f.event.clone(),
            limit: None,
        }
    }

    /// Admin params of a request: the RudderStack actions' two params by default (only for
    /// `rudder_*` actions: Looker sends the params an action declares, and the write-back
    /// actions declare none), then the given ones.
    pub(crate) fn params(
        &self,
        action: &str,
        given: &BTreeMap<String, Option<String>>,
    ) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        if action.starts_with("rudder_") {
            p.insert(
                "rudder_write_key".to_string(),
                self.str("${dataplane.write_key}"),
            );
            p.insert(
                "rudder_server_url".to_string(),
                self.str("${dataplane.url}/v1/batch"),
            );
        }
        for (k, v) in given {
            match v {
                Some(v) => {
                    p.insert(k.clone(), self.str(v));
                }
                None => {
                    p.remove(k);
                }
            }
        }
        p
    }
}
