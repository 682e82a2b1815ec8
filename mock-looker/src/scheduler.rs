//! Runs scheduled plans: fires the due ones and sends each destination's Look through the
//! engine, recording jobs in the store (`crate::schedule`) and System Activity events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value};

use crate::activity::EventInput;
use crate::clock::now_iso;
use crate::core::{Core, SendRequest};
use crate::schedule::{Destination, Job, Plan};

/// Runs every destination of a plan now, recording one job per destination.
pub(crate) async fn run_plan(core: Arc<Core>, plan: Plan) -> Vec<Job> {
    let w = &plan.write;
    core.schedules.mark_run(&plan.id);
    let user = w.user_id.clone().unwrap_or_else(|| "1".into());
    let mut out = Vec::new();
    for d in w.scheduled_plan_destination.clone().unwrap_or_default() {
        let job_id = core.schedules.start_job(|id| Job {
            id,
            plan_id: plan.id.clone(),
            plan_name: w.name.clone().unwrap_or_default(),
            run_once: w.run_once.unwrap_or(false),
            crontab: w.crontab.clone(),
            destination_type: d.kind.clone().unwrap_or_default(),
            format: d.format.clone().unwrap_or_default(),
            look_id: w.look_id.clone(),
            model: None,
            user_id: user.clone(),
            status: "running".into(),
            status_detail: None,
            created_time: now_iso(),
            finalized_time: None,
            runtime_ms: None,
        });
        let start = std::time::Instant::now();
        let (ok, detail, model) = run_destination(&core, &plan, &d, &user).await;
        core.activity.record(
            EventInput::new("run_scheduled_task", "scheduled_task")
                .user(Some(user.clone()))
                .attr("scheduled_task_id", &plan.id)
                .attr("sent", ok),
        );
        let finished = core.schedules.update_job(&job_id, |j| {
            j.status = if ok { "success" } else { "failure" }.into();
            j.status_detail = detail;
            j.model = model;
            j.finalized_time = Some(now_iso());
            j.runtime_ms = Some(start.elapsed().as_millis() as u64);
        });
        out.extend(finished);
    }
    out
}

async fn run_destination(
    core: &Arc<Core>,
    plan: &Plan,
    d: &Destination,
    user: &str,
) -> (bool, Option<String>, Option<String>) {
    let w = &plan.write;
    let kind = d.kind.clone().unwrap_or_default();
    let Some(integration) = kind.strip_prefix("looker-integration://") else {
        return (
            false,
            Some(format!(
                "destination type {kind:?} is not supported by the mock (only looker-integration://)"
            )),
            None,
        );
    };
    let Some((hub, action)) = integration.split_once("::") else {
        return (
            false,
            Some(format!(
                "bad integration id {integration:?}: expected <hub id>::<action>"
            )),
            None,
        );
    };
    // Looker only sends to integrations an admin enabled.
    let enabled = core
        .hub(hub)
        .and_then(|h| h.settings.get(action).map(|s| s.enabled))
        .unwrap_or(false);
    if !enabled {
        return (
            false,
            Some(format!(
                "integration {integration:?} is not enabled (or does not exist)"
            )),
            None,
        );
    }
    let look_id = w
        .look_id
        .clone()
        .or_else(|| w.query_id.clone())
        .unwrap_or_default();
    let look = match core.resolve_look_or_query(&look_id, w.look_id.is_some()) {
        Some(l) => l,
        None => return (false, Some(format!("no Look or query {look_id:?}")), None),
    };
    let model = Some(look.def().model.clone());
    let mut form_values = BTreeMap::new();
    if let Some(p) = d.parameters.as_deref().filter(|p| !p.is_empty())
        && let Ok(m) = serde_json::from_str::<Map<String, Value>>(p)
    {
        for (k, v) in m {
            form_values.insert(
                k,
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string()),
            );
        }
    }
    let mut req = SendRequest::new(hub, action, look);
    req.form_values = form_values;
    req.format = match d.format.as_deref() {
        None | Some("") => None,
        Some(f) => match f.parse() {
            Ok(f) => Some(f),
            Err(e) => return (false, Some(e), model),
        },
    };
    req.apply_formatting = d.apply_formatting;
    req.apply_vis = d.apply_vis;
    req.user_id = Some(user.to_owned());
    req.scheduled_plan_id = Some(plan.id.clone());
    match core.send(req).await {
        Ok(o) => {
            core.activity.record(
                EventInput::new("send_to_integration", "integration")
                    .user(Some(user.to_owned()))
                    .attr("integration_id", integration)
                    .attr("scheduled_task_id", &plan.id)
                    .attr("format", o.format)
                    .attr("success", o.success),
            );
            let detail = if o.success {
                o.message.clone()
            } else {
                Some(
                    o.failure
                        .clone()
                        .or(o.message.clone())
                        .or_else(|| o.breaches.first().map(|b| b.to_string()))
                        .unwrap_or_else(|| "the action reported a failure".into()),
                )
            };
            (o.success, detail, model)
        }
        Err(e) => (false, Some(e.to_string()), model),
    }
}

/// Fires due plans; checks four times a second.
pub(crate) async fn run_scheduler(core: Arc<Core>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        for plan in core.schedules.due(Utc::now()) {
            tokio::spawn(run_plan(core.clone(), plan));
        }
    }
}
