//! Scheduled plans (crontab, interval or run-once) that send a Look to an action, and the job
//! history of their runs: the store, which knows nothing of the engine (the `scheduler` module
//! runs the plans).

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::now_iso;

/// A destination of a plan (API 4.0 `ScheduledPlanDestination`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Destination {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub scheduled_plan_id: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub apply_formatting: Option<bool>,
    #[serde(default)]
    pub apply_vis: Option<bool>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub looker_recipient: Option<bool>,
    /// `looker-integration://<hub id>::<action name>` for an Action Hub destination.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// JSON-encoded form values.
    #[serde(default)]
    pub parameters: Option<String>,
    #[serde(default, skip_serializing)]
    pub secret_parameters: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// The writable part of a plan (API 4.0 `WriteScheduledPlan`), plus `interval_seconds`, a
/// mock extension for plans that run every N seconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WritePlan {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub look_id: Option<String>,
    #[serde(default)]
    pub dashboard_id: Option<String>,
    #[serde(default)]
    pub lookml_dashboard_id: Option<String>,
    #[serde(default)]
    pub query_id: Option<String>,
    #[serde(default)]
    pub require_results: Option<bool>,
    #[serde(default)]
    pub require_no_results: Option<bool>,
    #[serde(default)]
    pub require_change: Option<bool>,
    #[serde(default)]
    pub send_all_results: Option<bool>,
    #[serde(default)]
    pub crontab: Option<String>,
    #[serde(default)]
    pub datagroup: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub run_once: Option<bool>,
    #[serde(default)]
    pub scheduled_plan_destination: Option<Vec<Destination>>,
    #[serde(default)]
    pub interval_seconds: Option<u64>,
    /// Other writable keys (presentation options), echoed back.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A stored plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub id: String,
    pub write: WritePlan,
    pub created_at: String,
    pub updated_at: String,
    pub last_run_at: Option<String>,
    #[serde(skip)]
    pub next_run: Option<DateTime<Utc>>,
}

/// One run of one destination of a plan (System Activity `scheduled_job`).
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: String,
    pub plan_id: String,
    pub plan_name: String,
    pub run_once: bool,
    pub crontab: Option<String>,
    pub destination_type: String,
    pub format: String,
    pub look_id: Option<String>,
    pub model: Option<String>,
    pub user_id: String,
    /// `running`, `success` or `failure`.
    pub status: String,
    pub status_detail: Option<String>,
    pub created_time: String,
    pub finalized_time: Option<String>,
    pub runtime_ms: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Schedules {
    plans: Mutex<Vec<Plan>>,
    jobs: Mutex<Vec<Job>>,
    next_plan: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A plan that cannot be created: field -> message (API 422).
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid scheduled plan: {}", .0.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; "))]
pub struct PlanInvalid(pub Vec<(String, String)>);

fn parse_cron(s: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(s)
        .map_err(|e| format!("invalid crontab {s:?}: {e}"))
}

impl Schedules {
    fn next_id(&self) -> String {
        let mut n = lock(&self.next_plan);
        *n += 1;
        n.to_string()
    }

    /// Validates a plan like API 4.0's create (`strict`) or run_once.
    pub fn validate(w: &WritePlan, strict: bool) -> Result<(), PlanInvalid> {
        let mut errs = Vec::new();
        if strict && w.name.as_deref().is_none_or(str::is_empty) {
            errs.push(("name".into(), "is required".into()));
        }
        if w.dashboard_id.is_some() || w.lookml_dashboard_id.is_some() {
            errs.push((
                "dashboard_id".into(),
                "dashboards are not supported by the mock".into(),
            ));
        } else if w.look_id.is_none() && w.query_id.is_none() {
            errs.push((
                "look_id".into(),
                "one of look_id, dashboard_id, lookml_dashboard_id or query_id is required".into(),
            ));
        }
        let run_once = w.run_once.unwrap_or(false);
        if strict
            && !run_once
            && w.crontab.is_none()
            && w.datagroup.is_none()
            && w.interval_seconds.is_none()
        {
            errs.push(("crontab".into(), "crontab or datagroup is required".into()));
        }
        if w.crontab.is_some() && w.datagroup.is_some() {
            errs.push((
                "datagroup".into(),
                "cannot be combined with a crontab".into(),
            ));
        }
        if let Some(c) = &w.crontab
            && let Err(e) = parse_cron(c)
        {
            errs.push(("crontab".into(), e));
        }
        if strict && w.look_id.is_some() {
            for (k, v) in [
                ("require_results", w.require_results),
                ("require_no_results", w.require_no_results),
                ("require_change", w.require_change),
            ] {
                if v.is_none() {
                    errs.push((k.into(), "is required with look_id".into()));
                }
            }
        }
        match &w.scheduled_plan_destination {
            Some(d) if !d.is_empty() => {
                for (i, d) in d.iter().enumerate() {
                    if d.kind.as_deref().is_none_or(str::is_empty) {
                        errs.push((
                            format!("scheduled_plan_destination[{i}].type"),
                            "is required".into(),
                        ));
                    }
                    if let Some(p) = &d.parameters
                        && !p.is_empty()
                        && serde_json::from_str::<Map<String, Value>>(p).is_err()
                    {
                        errs.push((
                            format!("scheduled_plan_destination[{i}].parameters"),
                            "must be a JSON object string".into(),
                        ));
                    }
                }
            }
            _ => errs.push((
                "scheduled_plan_destination".into(),
                "at least one destination is required".into(),
            )),
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(PlanInvalid(errs))
        }
    }

    fn next_run(w: &WritePlan, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if w.run_once == Some(true) || w.enabled == Some(false) {
            return None;
        }
        if let Some(s) = w.interval_seconds {
            return Some(after + chrono::Duration::seconds(s.max(1) as i64));
        }
        let c = parse_cron(w.crontab.as_deref()?).ok()?;
        c.find_next_occurrence(&after, false).ok()
    }

    pub fn create(&self, mut w: WritePlan, strict: bool) -> Result<Plan, PlanInvalid> {
        Self::validate(&w, strict)?;
        let id = self.next_id();
        if let Some(ds) = &mut w.scheduled_plan_destination {
            for (i, d) in ds.iter_mut().enumerate() {
                d.id = Some(format!("{id}{:02}", i + 1));
                d.scheduled_plan_id = Some(id.clone());
            }
        }
        w.enabled.get_or_insert(true);
        let now = now_iso();
        let plan = Plan {
            id,
            next_run: Self::next_run(&w, Utc::now()),
            write: w,
            created_at: now.clone(),
            updated_at: now,
            last_run_at: None,
        };
        lock(&self.plans).push(plan.clone());
        Ok(plan)
    }

    pub fn get(&self, id: &str) -> Option<Plan> {
        lock(&self.plans).iter().find(|p| p.id == id).cloned()
    }

    pub fn all(&self) -> Vec<Plan> {
        lock(&self.plans).clone()
    }

    pub fn delete(&self, id: &str) -> bool {
        let mut p = lock(&self.plans);
        let n = p.len();
        p.retain(|p| p.id != id);
        p.len() != n
    }

    /// Applies an update: given keys replace, a destination list replaces all destinations.
    pub fn update(&self, id: &str, patch: WritePlan) -> Result<Option<Plan>, PlanInvalid> {
        let mut plans = lock(&self.plans);
        let Some(p) = plans.iter_mut().find(|p| p.id == id) else {
            return Ok(None);
        };
        let mut w = p.write.clone();
        macro_rules! take {
            ($($f:ident),*) => { $( if patch.$f.is_some() { w.$f = patch.$f.clone(); } )* };
        }
        take!(
            name,
            user_id,
            enabled,
            look_id,
            query_id,
            require_results,
            require_no_results,
            require_change,
            send_all_results,
            crontab,
            datagroup,
            timezone,
            run_once,
            interval_seconds
        );
        if let Some(d) = patch.scheduled_plan_destination.clone() {
            w.scheduled_plan_destination = Some(d);
        }
        w.other.extend(patch.other.clone());
        Self::validate(&w, false)?;
        if let Some(ds) = &mut w.scheduled_plan_destination {
            for (i, d) in ds.iter_mut().enumerate() {
                d.id = Some(format!("{id}{:02}", i + 1));
                d.scheduled_plan_id = Some(id.to_owned());
            }
        }
        p.next_run = Self::next_run(&w, Utc::now());
        p.write = w;
        p.updated_at = now_iso();
        Ok(Some(p.clone()))
    }

    pub fn jobs(&self) -> Vec<Job> {
        lock(&self.jobs).clone()
    }

    pub(crate) fn due(&self, now: DateTime<Utc>) -> Vec<Plan> {
        let mut plans = lock(&self.plans);
        let mut due = Vec::new();
        for p in plans.iter_mut() {
            if p.next_run.is_some_and(|t| t <= now) {
                p.next_run = Self::next_run(&p.write, now);
                due.push(p.clone());
            }
        }
        due
    }
}

impl Schedules {
    /// Notes that plan `id` starts a run now.
    pub(crate) fn mark_run(&self, id: &str) {
        let mut plans = lock(&self.plans);
        if let Some(p) = plans.iter_mut().find(|p| p.id == id) {
            p.last_run_at = Some(now_iso());
        }
    }

    /// Records a job that starts now; its id (jobs count from 1).
    pub(crate) fn start_job(&self, job: impl FnOnce(String) -> Job) -> String {
        let mut jobs = lock(&self.jobs);
        let id = (jobs.len() + 1).to_string();
        jobs.push(job(id.clone()));
        id
    }

    /// Updates job `id` (when it finishes); the job as updated.
    pub(crate) fn update_job(&self, id: &str, update: impl FnOnce(&mut Job)) -> Option<Job> {
        let mut jobs = lock(&self.jobs);
        let j = jobs.iter_mut().find(|j| j.id == id)?;
        update(j);
        Some(j.clone())
    }
}
