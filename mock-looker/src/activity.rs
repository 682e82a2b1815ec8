//! System Activity: the events the mock records about itself.

use std::sync::Mutex;

use serde::Serialize;

/// One recorded event, with Looker's common attributes and its own.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: u64,
    pub name: String,
    pub category: String,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub created: String,
    pub user_id: Option<String>,
    pub sudo_user_id: Option<String>,
    pub is_looker_employee: bool,
    pub is_admin: bool,
    pub is_api_call: bool,
    pub attributes: Vec<(String, String)>,
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct EventInput {
    pub name: String,
    pub category: String,
    pub user_id: Option<String>,
    pub is_api_call: bool,
    pub attributes: Vec<(String, String)>,
}

impl EventInput {
    pub fn new(name: &str, category: &str) -> Self {
        EventInput {
            name: name.into(),
            category: category.into(),
            user_id: Some("1".into()),
            is_api_call: false,
            attributes: Vec::new(),
        }
    }
    pub fn attr(mut self, k: &str, v: impl ToString) -> Self {
        self.attributes.push((k.into(), v.to_string()));
        self
    }
    pub fn api(mut self, yes: bool) -> Self {
        self.is_api_call = yes;
        self
    }
    pub fn user(mut self, id: Option<String>) -> Self {
        self.user_id = id;
        self
    }
}

/// The event log (in memory, in order).
#[derive(Debug, Default)]
pub struct ActivityLog {
    events: Mutex<Vec<Event>>,
}

impl ActivityLog {
    /// Records an event. Names outside the catalog are recorded but logged, so a typo shows.
    pub fn record(&self, e: EventInput) -> u64 {
        match crate::activity_catalog::event_type(&e.name) {
            None => tracing::warn!(name = %e.name, "event not in the System Activity catalog"),
            Some(t) => {
                for (k, _) in &e.attributes {
                    if !t.attributes.contains(&k.as_str()) {
                        tracing::warn!(event = %e.name, attribute = %k, "attribute not in the catalog");
                    }
                }
            }
        }
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let id = events.len() as u64 + 1;
        events.push(Event {
            id,
            name: e.name,
            category: e.category,
            created: chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string(),
            is_admin: e.user_id.as_deref() == Some("1"),
            user_id: e.user_id,
            sudo_user_id: None,
            is_looker_employee: false,
            is_api_call: e.is_api_call,
            attributes: e.attributes,
        });
        id
    }

    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The explores of the `system__activity` model the mock answers.
pub const EXPLORES: &[&str] = &["event", "event_attribute", "scheduled_plan"];

/// (field name, type, is measure) per explore, in the default field order.
fn explore_fields(explore: &str) -> Option<Vec<(&'static str, &'static str, bool)>> {
    let event = vec![
        ("event.id", "number", false),
        ("event.name", "string", false),
        ("event.category", "string", false),
        ("event.created_time", "date_time", false),
        ("event.created_date", "date_date", false),
        ("event.is_api_call", "yesno", false),
        ("event.is_admin", "yesno", false),
        ("event.is_looker_employee", "yesno", false),
        ("event.sudo_user_id", "number", false),
        ("user.id", "number", false),
        ("user.name", "string", false),
        ("event.count", "count", true),
    ];
    Some(match explore {
        "event" => event,
        "event_attribute" => {
            let mut f = event;
            f.pop();
            f.extend([
                ("event_attribute.id", "number", false),
                ("event_attribute.name", "string", false),
                ("event_attribute.value", "string", false),
                ("event.count", "count", true),
                ("event_attribute.count", "count", true),
            ]);
            f
        }
        "scheduled_plan" => vec![
            ("scheduled_plan.id", "number", false),
            ("scheduled_plan.name", "string", false),
            ("scheduled_plan.run_once", "yesno", false),
            ("scheduled_plan.cron_schedule", "string", false),
            ("scheduled_job.id", "number", false),
            ("scheduled_job.name", "string", false),
            ("scheduled_job.status", "string", false),
            ("scheduled_job.status_detail", "string", false),
            ("scheduled_job.created_time", "date_time", false),
            ("scheduled_job.finalized_time", "date_time", false),
            ("scheduled_job_stage.runtime", "number", false),
            ("scheduled_plan_destination.type", "string", false),
            ("scheduled_plan_destination.format", "string", false),
            ("look.id", "number", false),
            ("user.id", "number", false),
            ("query.model", "string", false),
            ("scheduled_job.count", "count", true),
        ],
        _ => return None,
    })
}

fn yesno(b: bool) -> serde_json::Value {
    serde_json::Value::from(if b { "Yes" } else { "No" })
}

fn user_name(id: Option<&str>) -> serde_json::Value {
    match id {
        Some("1") => "Mock Admin".into(),
        Some(other) => format!("User {other}").into(),
        None => serde_json::Value::Null,
    }
}

fn num_or_null(s: Option<&str>) -> serde_json::Value {
    s.and_then(|s| s.parse::<u64>().ok())
        .map_or(serde_json::Value::Null, Into::into)
}

type JsonRow = serde_json::Map<String, serde_json::Value>;

fn event_row(e: &Event) -> JsonRow {
    use serde_json::json;
    let mut r = JsonRow::new();
    r.insert("event.id".into(), json!(e.id));
    r.insert("event.name".into(), json!(e.name));
    r.insert("event.category".into(), json!(e.category));
    r.insert("event.created_time".into(), json!(e.created));
    r.insert("event.created_date".into(), json!(&e.created[..10]));
    r.insert("event.is_api_call".into(), yesno(e.is_api_call));
    r.insert("event.is_admin".into(), yesno(e.is_admin));
    r.insert(
        "event.is_looker_employee".into(),
        yesno(e.is_looker_employee),
    );
    r.insert(
        "event.sudo_user_id".into(),
        num_or_null(e.sudo_user_id.as_deref()),
    );
    r.insert("user.id".into(), num_or_null(e.user_id.as_deref()));
    r.insert("user.name".into(), user_name(e.user_id.as_deref()));
    r
}

/// A query on `system__activity`, answered from what the mock recorded.
#[derive(Debug, Clone, Default)]
pub struct ActivityQuery {
    /// Title of the resulting Look.
    pub title: Option<String>,
    pub explore: String,
    pub fields: Vec<String>,
    pub filters: serde_json::Map<String, serde_json::Value>,
    pub sorts: Vec<String>,
    pub limit: Option<String>,
}

/// Looker filter expressions the mock understands: `a,b` (any of), `-a` (not), `NULL`,
/// `-NULL`/`NOT NULL`, `%x%` (contains), and otherwise exact text.
fn filter_matches(expr: &str, v: &serde_json::Value) -> bool {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let expr = expr.trim();
    if expr.eq_ignore_ascii_case("NULL") {
        return v.is_null();
    }
    if expr.eq_ignore_ascii_case("-NULL") || expr.eq_ignore_ascii_case("NOT NULL") {
        return !v.is_null();
    }
    let alts: Vec<&str> = expr.split(',').map(str::trim).collect();
    let (neg, pos): (Vec<&str>, Vec<&str>) = alts.into_iter().partition(|a| a.starts_with('-'));
    let one = |a: &str| {
        let a = a.trim_matches('"');
        if a.len() >= 2 && a.starts_with('%') && a.ends_with('%') {
            text.contains(&a[1..a.len() - 1])
        } else {
            text == a
        }
    };
    (pos.is_empty() || pos.iter().any(|a| one(a))) && !neg.iter().any(|a| one(&a[1..]))
}

/// Builds a Look answering `q` from the events and scheduled jobs.
pub(crate) fn query_look(
    q: &ActivityQuery,
    events: &[Event],
    jobs: &[crate::schedule::Job],
) -> Result<crate::look::Look, String> {
    use serde_json::json;
    let all = explore_fields(&q.explore).ok_or_else(|| {
        format!(
            "system__activity has no explore {:?}; the mock answers {EXPLORES:?}",
            q.explore
        )
    })?;
    let fields: Vec<(&str, &str, bool)> = if q.fields.is_empty() {
        all.clone()
    } else {
        q.fields
            .iter()
            .map(|f| {
                all.iter().find(|(n, _, _)| n == f).copied().ok_or_else(|| {
                    format!(
                        "field {f:?} is not in system__activity explore {:?}",
                        q.explore
                    )
                })
            })
            .collect::<Result<_, _>>()?
    };
    for k in q.filters.keys() {
        if !all.iter().any(|(n, _, _)| n == k) {
            return Err(format!(
                "filter on unknown field {k:?} of explore {:?}",
                q.explore
            ));
        }
    }
    let mut rows: Vec<JsonRow> = match q.explore.as_str() {
        "event" => events.iter().map(event_row).collect(),
        "event_attribute" => {
            let mut out = Vec::new();
            let mut attr_id = 0u64;
            for e in events {
                for (k, v) in &e.attributes {
                    attr_id += 1;
                    let mut r = event_row(e);
                    r.insert("event_attribute.id".into(), json!(attr_id));
                    r.insert("event_attribute.name".into(), json!(k));
                    r.insert("event_attribute.value".into(), json!(v));
                    out.push(r);
                }
            }
            out
        }
        _ => jobs
            .iter()
            .map(|j| {
                let mut r = JsonRow::new();
                r.insert("scheduled_plan.id".into(), num_or_null(Some(&j.plan_id)));
                r.insert("scheduled_plan.name".into(), json!(j.plan_name));
                r.insert("scheduled_plan.run_once".into(), yesno(j.run_once));
                r.insert("scheduled_plan.cron_schedule".into(), json!(j.crontab));
                r.insert("scheduled_job.id".into(), num_or_null(Some(&j.id)));
                r.insert("scheduled_job.name".into(), json!(j.plan_name));
                r.insert("scheduled_job.status".into(), json!(j.status));
                r.insert("scheduled_job.status_detail".into(), json!(j.status_detail));
                r.insert(
                    "scheduled_job.created_time".into(),
                    json!(j.created_time.get(..19).map(|s| s.replace('T', " "))),
                );
                r.insert(
                    "scheduled_job.finalized_time".into(),
                    json!(
                        j.finalized_time
                            .as_ref()
                            .and_then(|t| t.get(..19))
                            .map(|s| s.replace('T', " "))
                    ),
                );
                r.insert(
                    "scheduled_job_stage.runtime".into(),
                    json!(j.runtime_ms.map(|m| m as f64 / 1000.0)),
                );
                r.insert(
                    "scheduled_plan_destination.type".into(),
                    json!(j.destination_type),
                );
                r.insert("scheduled_plan_destination.format".into(), json!(j.format));
                r.insert("look.id".into(), num_or_null(j.look_id.as_deref()));
                r.insert("user.id".into(), num_or_null(Some(&j.user_id)));
                r.insert("query.model".into(), json!(j.model));
                r
            })
            .collect(),
    };
    rows.retain(|r| {
        q.filters.iter().all(|(k, expr)| {
            let e = expr
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| expr.to_string());
            filter_matches(&e, r.get(k).unwrap_or(&serde_json::Value::Null))
        })
    });
    // Measures: group by the selected dimensions and count.
    let dims: Vec<&str> = fields.iter().filter(|f| !f.2).map(|f| f.0).collect();
    let measures: Vec<&str> = fields.iter().filter(|f| f.2).map(|f| f.0).collect();
    if !measures.is_empty() {
        let mut groups: Vec<(Vec<serde_json::Value>, u64)> = Vec::new();
        for r in &rows {
            let key: Vec<serde_json::Value> = dims
                .iter()
                .map(|d| r.get(*d).cloned().unwrap_or_default())
                .collect();
            match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) => g.1 += 1,
                None => groups.push((key, 1)),
            }
        }
        rows = groups
            .into_iter()
            .map(|(key, n)| {
                let mut r: JsonRow = dims.iter().map(|d| d.to_string()).zip(key).collect();
                for m in &measures {
                    r.insert(m.to_string(), json!(n));
                }
                r
            })
            .collect();
    }
    for s in q.sorts.iter().rev() {
        let mut parts = s.split_whitespace();
        let field = parts.next().unwrap_or("");
        let desc = parts.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
        rows.sort_by(|a, b| {
            let (x, y) = (a.get(field), b.get(field));
            let ord = match (x.and_then(|v| v.as_f64()), y.and_then(|v| v.as_f64())) {
                (Some(p), Some(q)) => p.partial_cmp(&q).unwrap_or(std::cmp::Ordering::Equal),
                _ => x.map(|v| v.to_string()).cmp(&y.map(|v| v.to_string())),
            };
            if desc { ord.reverse() } else { ord }
        });
    }
    let limit = q
        .limit
        .as_deref()
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or(500);
    if limit >= 0 {
        rows.truncate(limit as usize);
    }
    let mut def = crate::look::LookDef {
        title: q
            .title
            .clone()
            .unwrap_or_else(|| format!("System Activity {}", q.explore)),
        model: "system__activity".into(),
        explore: q.explore.clone(),
        sorts: q.sorts.clone(),
        limit: q.limit.clone(),
        filters: q.filters.clone(),
        ..Default::default()
    };
    for (name, kind, measure) in &fields {
        let f = crate::look::FieldDef {
            name: name.to_string(),
            kind: Some(kind.to_string()),
            ..Default::default()
        };
        if *measure {
            def.fields.measures.push(f);
        } else {
            def.fields.dimensions.push(f);
        }
    }
    def.rows = rows
        .into_iter()
        .map(|mut r| {
            let keep: JsonRow = fields
                .iter()
                .map(|f| (f.0.to_string(), r.remove(f.0).unwrap_or_default()))
                .collect();
            serde_json::Value::Object(keep)
        })
        .collect();
    crate::look::Look::from_def(def).map_err(|e| e.to_string())
}

/// The built-in System Activity Looks: (id, title, explore, fields, sorts).
pub const ACTIVITY_LOOKS: &[(&str, &str, &str, &[&str])] = &[
    (
        "101",
        "System Activity: Events",
        "event",
        &[
            "event.id",
            "event.name",
            "event.category",
            "event.created_time",
            "event.is_api_call",
            "user.id",
            "user.name",
        ],
    ),
    (
        "102",
        "System Activity: Event Attributes",
        "event_attribute",
        &[
            "event.id",
            "event.name",
            "event.created_time",
            "event_attribute.name",
            "event_attribute.value",
            "user.id",
        ],
    ),
    (
        "103",
        "System Activity: Scheduled Jobs",
        "scheduled_plan",
        &[
            "scheduled_plan.id",
            "scheduled_plan.name",
            "scheduled_job.id",
            "scheduled_job.status",
            "scheduled_job.status_detail",
            "scheduled_job.created_time",
            "scheduled_job.finalized_time",
            "scheduled_plan_destination.type",
            "scheduled_plan_destination.format",
            "look.id",
        ],
    ),
];
