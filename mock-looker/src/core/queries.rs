//! Queries: the ones saved with API `create_query`, and answering any query as a Look. A plan
//! may name a saved query, so they live with the engine rather than with the API.

use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::Core;
use crate::activity::ActivityQuery;
use crate::look::Look;

/// Saved queries (API `create_query`); ids count from 1000.
#[derive(Debug, Default)]
pub(crate) struct SavedQueries(Mutex<Vec<Value>>);

impl SavedQueries {
    /// Saves `q` with a new id: the saved query and its id, or `Err` with an identical
    /// existing query (Looker returns that one instead of a new one).
    pub(crate) fn save(&self, mut q: Map<String, Value>) -> Result<(Value, String), Value> {
        let mut qs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = qs.iter().position(|x| {
            let mut x = x.as_object().cloned().unwrap_or_default();
            x.remove("id");
            x == q
        }) {
            return Err(qs[i].clone());
        }
        let id = (qs.len() + 1000).to_string();
        q.insert("id".into(), json!(id));
        let q = Value::Object(q);
        qs.push(q.clone());
        Ok((q, id))
    }

    pub(crate) fn get(&self, id: &str) -> Option<Value> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|q| q.get("id").and_then(Value::as_str) == Some(id))
            .cloned()
    }
}

/// The fields of a query body; a missing model or view is a validation error (field, message).
fn query_spec(v: &Value) -> Result<ActivityQuery, Vec<(String, String)>> {
    let mut errs = Vec::new();
    let model = v.get("model").and_then(Value::as_str);
    let view = v.get("view").and_then(Value::as_str);
    if model.is_none() {
        errs.push(("model".to_owned(), "is required".to_owned()));
    }
    if view.is_none() {
        errs.push(("view".to_owned(), "is required".to_owned()));
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(ActivityQuery {
        title: None,
        explore: view.unwrap_or_default().to_owned(),
        fields: v
            .get("fields")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        filters: v
            .get("filters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        sorts: v
            .get("sorts")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        limit: v.get("limit").and_then(|l| {
            l.as_str()
                .map(str::to_owned)
                .or_else(|| l.as_i64().map(|n| n.to_string()))
        }),
    })
}

impl Core {
    /// Answers a query: `system__activity` from the recorded events and jobs, other models from
    /// the Look with the same model and explore (restricted to the asked fields).
    pub(crate) fn query_to_look(&self, v: &Value) -> Result<Look, Vec<(String, String)>> {
        let spec = query_spec(v)?;
        let model = v.get("model").and_then(Value::as_str).unwrap_or_default();
        if model == "system__activity" || model == "i__looker" {
            return crate::activity::query_look(
                &spec,
                &self.activity.events(),
                &self.schedules.jobs(),
            )
            .map_err(|e| vec![("view".into(), e)]);
        }
        let look = self
            .looks()
            .into_iter()
            .find(|l| l.def().model == model && l.def().explore == spec.explore)
            .ok_or_else(|| {
                vec![(
                    "view".into(),
                    format!("no explore {model}::{} in the mock", spec.explore),
                )]
            })?;
        let look = if spec.fields.is_empty() {
            look
        } else {
            look.select(&spec.fields)
                .map_err(|e| vec![("fields".into(), e)])?
        };
        let limit = spec
            .limit
            .as_deref()
            .and_then(|l| l.parse::<i64>().ok())
            .unwrap_or(500);
        Ok(if limit >= 0 && (limit as u64) < look.row_count() {
            look.limited(limit as u64)
        } else {
            look
        })
    }

    /// A Look by id, or (not `is_look`) a saved query answered as a Look.
    pub(crate) fn resolve_look_or_query(&self, id: &str, is_look: bool) -> Option<Look> {
        if !is_look && let Some(q) = self.queries.get(id) {
            return self.query_to_look(&q).ok();
        }
        self.look(id)
    }
}
