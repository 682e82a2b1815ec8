//! Runs scenarios: executes the steps against a [`Harness`] and checks every expectation.
//!
//! Each scenario gets its own harness (fresh servers on port 0), so scenarios run in parallel
//! without seeing each other's events. A failed expectation never stops at "assertion failed":
//! it carries the path of every mismatch and a unified diff of expected against received.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::format::{
    AnswerExpect, BreachExpect, EventFilterSpec, EventsExpect, FormExpect, LoadedScenario,
    LoginExpect, RawStep, Step, WritebackExpect,
};
use crate::harness::{
    Breach, Filter, FormRequest, Harness, Launcher, LoginRequest, LoginResult, SendRequest,
    SendResult, Stored,
};
use crate::matcher::{self, Mismatch};

/// Default time limit for a whole scenario.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this many events are kept in a run's [`Record`].
pub const RECORD_LIMIT: usize = 1000;
/// Default time to wait for expected events.
pub const DEFAULT_EVENT_WAIT: Duration = Duration::from_secs(10);

/// One failed expectation.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Where: `step 2 (send rudder_event)` or `expect.events[0]`.
    pub at: String,
    /// What, in one or a few lines.
    pub message: String,
    /// Expected vs received, as a unified diff, when there is something to compare.
    pub diff: Option<String>,
}

impl Failure {
    /// A failure with nothing to diff.
    pub fn plain(at: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            at: at.into(),
            message: message.into(),
            diff: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}: {}", self.at, self.message)?;
        if let Some(d) = &self.diff {
            for line in d.lines() {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

/// How a scenario ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Every expectation held.
    Passed,
    /// At least one expectation failed.
    Failed {
        /// All failures, in order.
        failures: Vec<Failure>,
    },
    /// The harness itself failed (a server did not start, a call errored).
    HarnessError {
        /// The error chain.
        error: String,
    },
    /// Not run (e.g. reference-only scenario against an external hub).
    Skipped {
        /// Why.
        reason: String,
    },
}

/// What a run produced, for snapshots: the answers Looker got and the events that arrived.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Record {
    /// One entry per send/form/list/raw step: the answer as received.
    pub answers: Vec<Value>,
    /// Stored events at the end (all write keys), in arrival order; at most [`RECORD_LIMIT`].
    pub events: Vec<Value>,
    /// How many events were stored in all.
    pub total_events: usize,
    /// Write-back scenarios: the database rows at the end, read from the file (at most
    /// [`RECORD_LIMIT`]); `None` for scenarios without the write-back hub.
    pub writeback: Option<Vec<Value>>,
    /// How many write-back rows there were in all.
    pub writeback_total: usize,
}

/// The result of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name.
    pub name: String,
    /// File.
    pub path: String,
    /// Outcome.
    #[serde(flatten)]
    pub status: Status,
    /// Wall time.
    pub duration: Duration,
    /// Number of events stored at the end.
    pub events: usize,
    /// Answers and events.
    #[serde(skip)]
    pub record: Record,
}

impl Report {
    /// Did it pass (or was it skipped)?
    pub fn ok(&self) -> bool {
        matches!(self.status, Status::Passed | Status::Skipped { .. })
    }
}

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
        out
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

    fn map(&self, m: &Map<String, Value>) -> Map<String, Value> {
        match self.value(&Value::Object(m.clone())) {
            Value::Object(o) => o,
            _ => unreachable!("an object stays an object"),
        }
    }

    fn filter(&self, f: &EventFilterSpec) -> Filter {
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
    fn params(
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

/// Run every scenario with at most `jobs` at once. `on_done` is called as each finishes
/// (progress bars hook in here). Reports come back in input order.
pub async fn run_all<L: Launcher>(
    launcher: Arc<L>,
    scenarios: Vec<LoadedScenario>,
    jobs: usize,
    external_hub: bool,
    on_done: impl Fn(&Report) + Send + Sync,
) -> Vec<Report> {
    let mut reports: Vec<Option<Report>> = vec![None; scenarios.len()];
    let mut stream = futures::stream::iter(scenarios.into_iter().enumerate().map(|(i, s)| {
        let launcher = launcher.clone();
        async move {
            // Each scenario on its own task: one that blocks or panics cannot take the others
            // down, and the multi-threaded runtime spreads them over the cores.
            let name = s.name.clone();
            let path = s.path.display().to_string();
            let handle =
                tokio::spawn(async move { run_scenario(&*launcher, &s, external_hub).await });
            let report = match handle.await {
                Ok(r) => r,
                Err(e) => Report {
                    name,
                    path,
                    status: Status::HarnessError {
                        error: format!("the scenario task panicked: {e}"),
                    },
                    duration: Duration::ZERO,
                    events: 0,
                    record: Record::default(),
                },
            };
            (i, report)
        }
    }))
    .buffer_unordered(jobs.max(1));
    while let Some((i, report)) = stream.next().await {
        on_done(&report);
        reports[i] = Some(report);
    }
    reports
        .into_iter()
        .map(|r| r.expect("every scenario reported"))
        .collect()
}

/// Start a harness for one scenario and run it, within its time limit.
pub async fn run_scenario<L: Launcher>(
    launcher: &L,
    s: &LoadedScenario,
    external_hub: bool,
) -> Report {
    let started = Instant::now();
    let mut report = Report {
        name: s.name.clone(),
        path: s.path.display().to_string(),
        status: Status::Passed,
        duration: Duration::ZERO,
        events: 0,
        record: Record::default(),
    };
    if external_hub && s.scenario.hub.reference_only {
        report.status = Status::Skipped {
            reason: "asserts a fix of the reference hub; skipped against an external hub".into(),
        };
        return report;
    }
    if external_hub && s.scenario.hub.writeback {
        report.status = Status::Skipped {
            reason: "write-back scenario: it wires the mock Looker's OAuth provider into the hub and reads the hub's SQLite database, neither reachable for an external hub".into(),
        };
        return report;
    }
    if external_hub && s.scenario.hub.mapping == crate::format::Mapping::Clean {
        report.status = Status::Skipped {
            reason: "needs the reference hub's clean mapping mode; skipped against an external hub"
                .into(),
        };
        return report;
    }
    let limit = s
        .scenario
        .timeout_s
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let outcome = tokio::time::timeout(limit, async {
        let h = launcher.start(&s.scenario).await?;
        run_steps(&h, s).await
    })
    .await;
    report.duration = started.elapsed();
    match outcome {
        Err(_) => {
            report.status = Status::Failed {
                failures: vec![Failure::plain(
                    "scenario",
                    format!("did not finish within {} s", limit.as_secs()),
                )],
            }
        }
        Ok(Err(e)) => {
            report.status = Status::HarnessError {
                error: format!("{e:#}"),
            }
        }
        Ok(Ok((failures, record))) => {
            report.events = record.total_events;
            report.record = record;
            if !failures.is_empty() {
                report.status = Status::Failed { failures };
            }
        }
    }
    report
}

/// Execute the steps of a scenario on a running harness and check its expectations.
/// `Err` means the harness failed; expectation failures are in the returned list.
pub async fn run_steps<H: Harness>(
    h: &H,
    s: &LoadedScenario,
) -> anyhow::Result<(Vec<Failure>, Record)> {
    let mut ctx = Ctx::new(h);
    let sc = &s.scenario;
    let mut failures = Vec::new();
    let mut record = Record::default();
    for rule in &sc.dataplane.faults {
        h.add_fault(ctx.value(rule)).await?;
    }
    for (i, step) in sc.steps.iter().enumerate() {
        let at = format!("step {} ({})", i + 1, step.label());
        match step {
            Step::Send(send) => {
                let look_name = send
                    .look
                    .clone()
                    .or_else(|| sc.looks.keys().next().cloned())
                    .ok_or_else(|| anyhow::anyhow!("{at}: no look defined"))?;
                let look = sc.looks[&look_name].clone();
                let req = SendRequest {
                    action: send.action.clone(),
                    look,
                    format: send.format.clone(),
                    download: send.download,
                    params: ctx.params(&send.action, &send.params),
                    form: send
                        .form
                        .iter()
                        .map(|(k, v)| (k.clone(), ctx.str(v)))
                        .collect(),
                    looker_version: send
                        .looker_version
                        .clone()
                        .or_else(|| sc.looker.version.clone()),
                    force: send.force,
                    user: send.user.clone(),
                    cell_value: send.cell_value.as_deref().map(|v| ctx.str(v)),
                    webhook_id: send.webhook_id.as_deref().map(|v| ctx.str(v)),
                };
                let res = h.send(req).await?;
                record.answers.push(json!({
                    "step": at,
                    "http_status": res.http_status,
                    "body": res.body,
                }));
                if let Some(id) = &res.webhook_id {
                    ctx.set("${send.webhook_id}", id.clone());
                }
                check_answer(
                    &at,
                    &res,
                    send.expect.as_ref().unwrap_or(&AnswerExpect::default()),
                    &ctx,
                    &mut failures,
                );
            }
            Step::FetchForm(form) => {
                let mut params = ctx.params(&form.action, &form.params);
                if let Some(v) = &form.cell_value {
                    params.insert("value".into(), ctx.str(v));
                }
                let res = h
                    .fetch_form(FormRequest {
                        action: form.action.clone(),
                        params,
                        form: form.form.clone(),
                        looker_version: form
                            .looker_version
                            .clone()
                            .or_else(|| sc.looker.version.clone()),
                        user: form.user.clone(),
                    })
                    .await?;
                record.answers.push(json!({
                    "step": at, "http_status": res.http_status, "body": res.body,
                }));
                check_form(
                    &at,
                    &res,
                    form.expect.as_ref().unwrap_or(&FormExpect::default()),
                    &ctx,
                    &mut failures,
                );
            }
            Step::ListActions(list) => {
                let version = list
                    .looker_version
                    .clone()
                    .or_else(|| sc.looker.version.clone());
                let res = h.list_actions(version).await?;
                record.answers.push(json!({
                    "step": at,
                    "actions": res.actions.iter().map(|a| json!({
                        "name": a.get("name"),
                        "supported_formats": a.get("supported_formats"),
                    })).collect::<Vec<_>>(),
                }));
                check_breaches(&at, &res.breaches, None, &mut failures);
                let names: Vec<String> = res
                    .actions
                    .iter()
                    .map(|a| {
                        a.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_string()
                    })
                    .collect();
                if let Some(want) = &list.names
                    && want != &names
                {
                    failures.push(Failure {
                        at: at.clone(),
                        message: format!("listed actions {names:?}, expected {want:?}"),
                        diff: Some(matcher::diff(&json!(want), &json!(names))),
                    });
                }
                for (name, formats) in &list.formats {
                    let got = res
                        .actions
                        .iter()
                        .find(|a| a.get("name").and_then(Value::as_str) == Some(name));
                    let got = got.and_then(|a| a.get("supported_formats")).cloned();
                    if got.as_ref() != Some(&json!(formats)) {
                        failures.push(Failure {
                            at: at.clone(),
                            message: format!("supported_formats of `{name}` differ"),
                            diff: Some(matcher::diff(
                                &json!(formats),
                                &got.unwrap_or(Value::String("<action not listed>".into())),
                            )),
                        });
                    }
                }
                for (name, want) in &list.actions {
                    let want = ctx.value(want);
                    let got = res
                        .actions
                        .iter()
                        .find(|a| a.get("name").and_then(Value::as_str) == Some(name));
                    compare(&at, &format!("action `{name}`"), &want, got, &mut failures);
                }
            }
            Step::Raw(raw) => {
                let (status, body) = raw_request(h, raw, &ctx).await?;
                record
                    .answers
                    .push(json!({"step": at, "http_status": status, "body": body}));
                if let Some(want) = raw.status
                    && want != status
                {
                    failures.push(Failure::plain(
                        at.clone(),
                        format!("HTTP status {status}, expected {want}; body: {body}"),
                    ));
                }
                if let Some(want) = &raw.response {
                    compare(
                        &at,
                        "response body",
                        &ctx.value(want),
                        Some(&body),
                        &mut failures,
                    );
                }
            }
            Step::Fault(rule) => h.add_fault(ctx.value(rule)).await?,
            Step::ClearFaults => h.clear_faults().await?,
            Step::ResetEvents => h.reset_events().await?,
            Step::Wait(w) => match w.events {
                Some(n) => {
                    let timeout =
                        w.ms.map(Duration::from_millis)
                            .unwrap_or(DEFAULT_EVENT_WAIT);
                    if let Err(seen) = h.wait_for(n, ctx.filter(&w.filter), timeout).await? {
                        failures.push(Failure::plain(
                            at.clone(),
                            format!(
                                "waited {} ms for {n} event(s), {seen} arrived",
                                timeout.as_millis()
                            ),
                        ));
                    }
                }
                None => tokio::time::sleep(Duration::from_millis(w.ms.unwrap_or(0))).await,
            },
            Step::ExpectEvents(e) => check_events(h, &at, e, &ctx, &mut failures).await?,
            Step::Login(l) => {
                let res = h
                    .login(LoginRequest {
                        user: l.user.clone(),
                        action: l.action.clone(),
                        cell_value: l.cell_value.as_deref().map(|v| ctx.str(v)),
                        tamper: l.tamper,
                    })
                    .await?;
                record.answers.push(json!({
                    "step": at,
                    "oauth_link": res.oauth_url.is_some(),
                    "status": res.status,
                    "body": res.body,
                    "hops": res.hops,
                    "state_stored": res.state_stored,
                }));
                check_breaches(&at, &res.breaches, None, &mut failures);
                check_login(
                    &at,
                    &res,
                    l.expect.as_ref().unwrap_or(&LoginExpect::default()),
                    &mut failures,
                );
            }
            Step::Revoke(r) => {
                let n = h.revoke(r.user.clone()).await?;
                if let Some(want) = r.tokens
                    && want != n
                {
                    failures.push(Failure::plain(
                        at.clone(),
                        format!(
                            "the provider revoked {n} live token(s) of {}, expected {want}",
                            r.user
                        ),
                    ));
                }
            }
            Step::SetState(st) => {
                h.set_user_state(
                    st.user.clone(),
                    st.action.clone(),
                    st.state.as_deref().map(|v| ctx.str(v)),
                )
                .await?
            }
            Step::ExpectWriteback(e) => {
                let rows = h.writeback_rows().await?;
                check_rows(&at, &rows, e, &ctx, &mut failures);
            }
        }
    }
    let fe = sc.expect.clone().unwrap_or_default();
    for (i, e) in fe.events.iter().enumerate() {
        check_events(h, &format!("expect.events[{i}]"), e, &ctx, &mut failures).await?;
    }
    if sc.hub.writeback {
        let rows = h.writeback_rows().await?;
        if let Some(e) = &fe.writeback {
            check_rows("expect.writeback", &rows, e, &ctx, &mut failures);
        }
        record.writeback_total = rows.len();
        record.writeback = Some(rows.into_iter().take(RECORD_LIMIT).collect());
    }
    if fe.total_events.is_some() || fe.duplicate_events.is_some() {
        let all = h.events(Filter::default()).await?;
        if let Some(total) = fe.total_events
            && all.len() != total
        {
            failures.push(Failure {
                at: "expect.total_events".into(),
                message: format!("{} event(s) stored in total, expected {total}", all.len()),
                diff: Some(summarise(&all)),
            });
        }
        if let Some(want) = fe.duplicate_events {
            // Counted here from the stored events, not taken from the data plane's stats.
            let mut seen = std::collections::HashSet::new();
            let dups = all
                .iter()
                .filter_map(|e| e.event.get("messageId").and_then(Value::as_str))
                .filter(|id| !seen.insert(*id))
                .count();
            if dups != want {
                failures.push(Failure {
                    at: "expect.duplicate_events".into(),
                    message: format!(
                        "{dups} stored event(s) repeat an earlier messageId, expected {want}"
                    ),
                    diff: Some(summarise(&all)),
                });
            }
        }
    }
    if let Some(req) = &fe.requests {
        let rows = h.requests().await?;
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|r| req.path.as_ref().is_none_or(|p| &r.path == p))
            .collect();
        let statuses: Vec<u16> = rows.iter().map(|r| r.status).collect();
        if let Some(n) = req.count
            && rows.len() != n
        {
            failures.push(Failure::plain(
                "expect.requests",
                format!(
                    "the data plane received {} request(s), expected {n}; statuses {statuses:?}",
                    rows.len()
                ),
            ));
        }
        if let Some(want) = &req.statuses
            && want != &statuses
        {
            failures.push(Failure {
                at: "expect.requests".into(),
                message: "statuses answered by the data plane differ".into(),
                diff: Some(matcher::diff(&json!(want), &json!(statuses))),
            });
        }
    }
    // The record is for snapshots and the summary: bounded, so a 100k-row run stays cheap.
    let recorded = h
        .events(Filter {
            limit: Some(RECORD_LIMIT),
            ..Filter::default()
        })
        .await?;
    record.events = recorded.into_iter().map(|s| s.event).collect();
    record.total_events = h.total_events().await?;
    Ok((failures, record))
}

fn compare(at: &str, what: &str, expected: &Value, actual: Option<&Value>, out: &mut Vec<Failure>) {
    let mut mm = Vec::new();
    matcher::check(expected, actual, "", &mut mm);
    if !mm.is_empty() {
        out.push(Failure {
            at: at.to_string(),
            message: format!("{what} differs: {}", list(&mm)),
            diff: Some(matcher::diff(
                &matcher::render_expected(expected),
                &matcher::render_actual(expected, actual),
            )),
        });
    }
}

fn list(mm: &[Mismatch]) -> String {
    let mut s: Vec<String> = mm.iter().take(5).map(|m| m.to_string()).collect();
    if mm.len() > 5 {
        s.push(format!("… and {} more", mm.len() - 5));
    }
    s.join("; ")
}

fn check_breaches(
    at: &str,
    got: &[Breach],
    want: Option<&Vec<BreachExpect>>,
    out: &mut Vec<Failure>,
) {
    let empty = Vec::new();
    let want = want.unwrap_or(&empty);
    let matches = |b: &Breach, w: &BreachExpect| {
        w.rule.as_ref().is_none_or(|r| b.rule.contains(r.as_str()))
            && w.json_path
                .as_ref()
                .is_none_or(|p| b.json_path.contains(p.as_str()))
            && w.detail
                .as_ref()
                .is_none_or(|d| b.detail.contains(d.as_str()))
    };
    let unexpected: Vec<&Breach> = got
        .iter()
        .filter(|b| !want.iter().any(|w| matches(b, w)))
        .collect();
    let missing: Vec<&BreachExpect> = want
        .iter()
        .filter(|w| !got.iter().any(|b| matches(b, w)))
        .collect();
    if !unexpected.is_empty() {
        out.push(Failure::plain(
            at,
            format!(
                "the mock Looker found {} contract breach(es): {}",
                unexpected.len(),
                unexpected
                    .iter()
                    .map(|b| format!(
                        "[{}] {} at {}: {}",
                        b.request, b.rule, b.json_path, b.detail
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }
    if !missing.is_empty() {
        out.push(Failure::plain(
            at,
            format!("expected contract breach(es) not reported: {missing:?}"),
        ));
    }
}

fn check_answer(at: &str, res: &SendResult, e: &AnswerExpect, ctx: &Ctx, out: &mut Vec<Failure>) {
    let shown = || serde_json::to_string(&res.body).unwrap_or_default();
    if let Some(status) = e.http_status
        && status != res.http_status
    {
        out.push(Failure::plain(
            at,
            format!(
                "HTTP status {}, expected {status}; body {}",
                res.http_status,
                shown()
            ),
        ));
    }
    if let Some(success) = e.success
        && success != res.success
    {
        out.push(Failure::plain(
            at,
            format!(
                "Looker was told success:{}, expected success:{success}; message: {}",
                res.success,
                res.message.as_deref().unwrap_or("<none>")
            ),
        ));
    }
    if let Some(parts) = &e.message_contains {
        let msg = res.message.clone().unwrap_or_default();
        for part in parts.all() {
            let part = ctx.str(part);
            if !msg.contains(&part) {
                out.push(Failure {
                    at: at.into(),
                    message: format!("the message does not contain {part:?}"),
                    diff: Some(matcher::diff(&json!(part), &json!(msg))),
                });
            }
        }
    }
    if let Some(m) = &e.message {
        let got = res.message.clone().map(Value::String);
        compare(at, "message", &ctx.value(m), got.as_ref(), out);
    }
    if let Some(b) = &e.body {
        compare(at, "answer body", &ctx.value(b), Some(&res.body), out);
    }
    if let Some(want) = e.refresh_query
        && want != res.refresh_query
    {
        out.push(Failure::plain(
            at,
            format!(
                "Looker was told refresh_query:{}, expected refresh_query:{want}; body {}",
                res.refresh_query,
                shown()
            ),
        ));
    }
    if let Some(v) = &e.validation_errors {
        compare(
            at,
            "validation_errors",
            &ctx.value(v),
            Some(&res.validation_errors),
            out,
        );
    }
    check_breaches(at, &res.breaches, e.breaches.as_ref(), out);
}

fn check_login(at: &str, res: &LoginResult, e: &LoginExpect, out: &mut Vec<Failure>) {
    if res.oauth_url.is_none() {
        out.push(Failure::plain(
            at,
            format!("the form offered no oauth_link to follow: {}", res.body),
        ));
        return;
    }
    let ok = (200..300).contains(&res.status);
    if let Some(want) = e.ok
        && want != ok
    {
        out.push(Failure::plain(
            at,
            format!(
                "the login ended on HTTP {} ({}), expected {}; page: {}",
                res.status,
                if ok { "ok" } else { "not ok" },
                if want { "ok" } else { "not ok" },
                res.body
            ),
        ));
    }
    if let Some(want) = e.status
        && want != res.status
    {
        out.push(Failure::plain(
            at,
            format!(
                "the login ended on HTTP {}, expected {want}; page: {}",
                res.status, res.body
            ),
        ));
    }
    if let Some(parts) = &e.body_contains {
        for part in parts.all() {
            if !res.body.contains(part) {
                out.push(Failure {
                    at: at.into(),
                    message: format!("the last page does not contain {part:?}"),
                    diff: Some(matcher::diff(&json!(part), &json!(res.body))),
                });
            }
        }
    }
    if let Some(want) = e.state_stored
        && want != res.state_stored
    {
        out.push(Failure::plain(at, if want {
                format!(
                    "Looker keeps no new state for the user: the hub did not POST the token to state_url (last page HTTP {}: {})",
                    res.status, res.body
                )
            } else {
                "Looker keeps a new state for the user, expected none (the hub POSTed to state_url)"
                    .into()
            }));
    }
}

/// How [`match_items`] names what it matched against, in its messages.
struct Noun {
    one: &'static str,
    none: &'static str,
    missing: &'static str,
}

/// Each expected item must match its own stored value: the one at the same position when
/// `ordered`, else any value no earlier item claimed. A miss is reported against the closest
/// candidate, so the diff shows what is really off.
fn match_items(
    at: &str,
    items: &[Map<String, Value>],
    values: &[&Value],
    ordered: bool,
    noun: Noun,
    out: &mut Vec<Failure>,
) {
    let mut used = vec![false; values.len()];
    for (idx, item) in items.iter().enumerate() {
        let found = if ordered {
            values
                .get(idx)
                .filter(|v| matcher::check_item(item, v).is_empty())
                .map(|_| idx)
        } else {
            (0..values.len()).find(|&j| !used[j] && matcher::check_item(item, values[j]).is_empty())
        };
        if let Some(j) = found {
            used[j] = true;
            continue;
        }
        let candidates: Vec<usize> = if ordered {
            (idx < values.len()).then_some(idx).into_iter().collect()
        } else {
            (0..values.len()).filter(|&j| !used[j]).collect()
        };
        let best = candidates
            .into_iter()
            .min_by_key(|&j| matcher::check_item(item, values[j]).len());
        out.push(match best {
            Some(j) => {
                let mm = matcher::check_item(item, values[j]);
                let (exp, act) = matcher::render_item(item, values[j]);
                Failure {
                    at: at.into(),
                    message: format!(
                        "items[{idx}] matches no {}{}; closest is #{j}: {}",
                        if ordered { "" } else { "unclaimed " },
                        noun.one,
                        list(&mm)
                    ),
                    diff: Some(matcher::diff(&exp, &act)),
                }
            }
            None => Failure {
                at: at.into(),
                message: format!(
                    "items[{idx}] has no {} to match: only {} {}",
                    noun.one,
                    values.len(),
                    noun.none
                ),
                diff: Some(matcher::diff(
                    &matcher::render_expected(&Value::Object(item.clone())),
                    &Value::String(noun.missing.into()),
                )),
            },
        });
    }
}

/// Check write-back rows (already read from the database) against an expectation.
fn check_rows(at: &str, all: &[Value], e: &WritebackExpect, ctx: &Ctx, out: &mut Vec<Failure>) {
    let rows: Vec<&Value> = all
        .iter()
        .filter(|r| {
            e.filter.iter().all(|(k, v)| {
                let want = ctx.str(v);
                match r.get(k) {
                    Some(Value::String(s)) => *s == want,
                    Some(Value::Number(n)) => n.to_string() == want,
                    _ => false,
                }
            })
        })
        .collect();
    let shown = || {
        let mut s = String::new();
        for (i, r) in rows.iter().take(10).enumerate() {
            s.push_str(&format!("  #{i} {r}\n"));
        }
        if rows.len() > 10 {
            s.push_str(&format!("  … {} more\n", rows.len() - 10));
        }
        if rows.is_empty() {
            s.push_str("  (no rows)\n");
        }
        s
    };
    if let Some(n) = e.count
        && rows.len() != n
    {
        out.push(Failure {
            at: at.into(),
            message: format!(
                "{} write-back row(s) matching {:?} in the database, expected {n}",
                rows.len(),
                e.filter
            ),
            diff: Some(shown()),
        });
    }
    let items: Vec<Map<String, Value>> = e.items.iter().map(|i| ctx.map(i)).collect();
    let noun = Noun {
        one: "row",
        none: "row(s) in the database",
        missing: "<no row>",
    };
    match_items(at, &items, &rows, e.ordered, noun, out);
    if let Some(each) = &e.each {
        let each = ctx.map(each);
        let bad: Vec<(usize, Vec<Mismatch>)> = rows
            .iter()
            .enumerate()
            .map(|(j, r)| (j, matcher::check_item(&each, r)))
            .filter(|(_, mm)| !mm.is_empty())
            .collect();
        for (j, mm) in bad.iter().take(3) {
            let (exp, act) = matcher::render_item(&each, rows[*j]);
            out.push(Failure {
                at: at.into(),
                message: format!("row #{j} does not match `each`: {}", list(mm)),
                diff: Some(matcher::diff(&exp, &act)),
            });
        }
        if bad.len() > 3 {
            out.push(Failure::plain(
                at,
                format!("{} more row(s) do not match `each`", bad.len() - 3),
            ));
        }
    }
}

fn check_form(
    at: &str,
    res: &crate::harness::FormResult,
    e: &FormExpect,
    ctx: &Ctx,
    out: &mut Vec<Failure>,
) {
    if let Some(status) = e.http_status
        && status != res.http_status
    {
        out.push(Failure::plain(
            at,
            format!(
                "HTTP status {}, expected {status}; body {}",
                res.http_status, res.body
            ),
        ));
    }
    if let Some(names) = &e.field_names {
        let got: Vec<String> = res
            .body
            .get("fields")
            .and_then(Value::as_array)
            .map(|f| {
                f.iter()
                    .map(|x| {
                        x.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        if &got != names {
            out.push(Failure {
                at: at.into(),
                message: "form field names differ".into(),
                diff: Some(matcher::diff(&json!(names), &json!(got))),
            });
        }
    }
    if let Some(part) = &e.error_contains {
        let got = res.body.get("error").and_then(Value::as_str).unwrap_or("");
        if !got.contains(part.as_str()) {
            out.push(Failure::plain(
                at,
                format!("form error does not contain {part:?}; body {}", res.body),
            ));
        }
    }
    if let Some(b) = &e.body {
        compare(at, "form", &ctx.value(b), Some(&res.body), out);
    }
    let fields: Vec<&Value> = res
        .body
        .get("fields")
        .and_then(Value::as_array)
        .map(|f| f.iter().collect())
        .unwrap_or_default();
    if let Some(want) = e.oauth_link {
        let links: Vec<&Value> = fields
            .iter()
            .copied()
            .filter(|f| {
                f.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.starts_with("oauth_link"))
            })
            .collect();
        let has = links
            .iter()
            .any(|f| f.get("oauth_url").and_then(Value::as_str).is_some());
        if has != want {
            out.push(Failure::plain(
                at,
                if want {
                    format!(
                        "the form offers no oauth_link (with an oauth_url); body {}",
                        res.body
                    )
                } else {
                    format!(
                        "the form offers an oauth_link, expected none; body {}",
                        res.body
                    )
                },
            ));
        }
    }
    for (name, want) in &e.fields {
        let got = fields
            .iter()
            .find(|f| f.get("name").and_then(Value::as_str) == Some(name));
        match (want, got) {
            (Value::Null, None) => {}
            (Value::Null, Some(f)) => out.push(Failure::plain(
                at,
                format!("the form has a field `{name}`, expected none: {f}"),
            )),
            (_, None) => out.push(Failure::plain(
                at,
                format!("the form has no field `{name}`; body {}", res.body),
            )),
            (want, Some(got)) => {
                // A partial match: the keys given must match, others may be there.
                let want = match ctx.value(want) {
                    Value::Object(o) if !o.contains_key("match") => {
                        json!({"match": "subset", "value": o})
                    }
                    v => v,
                };
                compare(at, &format!("form field `{name}`"), &want, Some(got), out);
            }
        }
    }
    check_breaches(at, &res.breaches, e.breaches.as_ref(), out);
}

/// A compact list of events for failure messages.
fn summarise(events: &[Stored]) -> String {
    let mut s = String::new();
    for (i, e) in events.iter().take(10).enumerate() {
        let ev = &e.event;
        s.push_str(&format!(
            "  #{i} [{}] type={} userId={} anonymousId={} event={}\n",
            e.write_key,
            ev.get("type").unwrap_or(&Value::Null),
            ev.get("userId").unwrap_or(&Value::Null),
            ev.get("anonymousId").unwrap_or(&Value::Null),
            ev.get("event").unwrap_or(&Value::Null),
        ));
    }
    if events.len() > 10 {
        s.push_str(&format!("  … {} more\n", events.len() - 10));
    }
    if events.is_empty() {
        s.push_str("  (no events)\n");
    }
    s
}

async fn check_events<H: Harness>(
    h: &H,
    at: &str,
    e: &EventsExpect,
    ctx: &Ctx,
    out: &mut Vec<Failure>,
) -> anyhow::Result<()> {
    let filter = ctx.filter(&e.filter);
    // One fetch: the wait's answer is the event list when it succeeds (the hub has answered
    // already, so nothing more is on its way); otherwise fetch what is there for the report.
    let waited = match e.count {
        Some(n) if n > 0 => {
            let timeout = e
                .timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_EVENT_WAIT);
            h.wait_for(n, filter.clone(), timeout).await?.ok()
        }
        _ => None,
    };
    let events = match waited {
        Some(evs) => evs,
        None => h.events(filter).await?,
    };
    if let Some(n) = e.count
        && events.len() != n
    {
        out.push(Failure {
            at: at.into(),
            message: format!(
                "{} event(s) matching {:?} stored, expected {n}",
                events.len(),
                e.filter
            ),
            diff: Some(summarise(&events)),
        });
    }
    let items: Vec<Map<String, Value>> = e.items.iter().map(|i| ctx.map(i)).collect();
    let values: Vec<&Value> = events.iter().map(|ev| &ev.event).collect();
    let noun = Noun {
        one: "event",
        none: "event(s) stored",
        missing: "<no event>",
    };
    match_items(at, &items, &values, e.ordered, noun, out);
    if let Some(each) = &e.each {
        let each = ctx.map(each);
        let mut bad = 0;
        for (j, ev) in events.iter().enumerate() {
            let mm = matcher::check_item(&each, &ev.event);
            if !mm.is_empty() {
                bad += 1;
                if bad <= 3 {
                    let (exp, act) = matcher::render_item(&each, &ev.event);
                    out.push(Failure {
                        at: at.into(),
                        message: format!("event #{j} does not match `each`: {}", list(&mm)),
                        diff: Some(matcher::diff(&exp, &act)),
                    });
                }
            }
        }
        if bad > 3 {
            out.push(Failure::plain(
                at,
                format!("{} more event(s) do not match `each`", bad - 3),
            ));
        }
    }
    Ok(())
}

/// A raw request to the hub (bad payloads, old User-Agents).
async fn raw_request<H: Harness>(h: &H, raw: &RawStep, ctx: &Ctx) -> anyhow::Result<(u16, Value)> {
    let client = reqwest::Client::new();
    let url = format!(
        "{}{}",
        h.hub_url().trim_end_matches('/'),
        ctx.str(&raw.path)
    );
    let mut req = client
        .post(&url)
        .header("Content-Type", "application/json")
        .timeout(Duration::from_secs(30));
    if raw.auth
        && let Some(t) = h.hub_token()
    {
        req = req.header("Authorization", format!("Token token=\"{t}\""));
    }
    if let Some(v) = &raw.looker_version {
        req = req.header("User-Agent", format!("LookerOutgoingWebhook/{v}"));
    }
    if let Some(b) = &raw.body {
        req = req.body(serde_json::to_vec(&ctx.value(b))?);
    } else if let Some(t) = &raw.body_text {
        req = req.body(ctx.str(t));
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    // The hub may write keep-alive newlines before the JSON, as Looker accepts.
    let trimmed = text.trim_start_matches(['\n', '\r', ' ']);
    let body = serde_json::from_str(trimmed).unwrap_or(Value::String(text));
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::parse_scenario;
    use crate::harness::{ActionList, FormResult, JournalRow};
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    /// A scripted harness: every send stores `events` under the write key it was given and
    /// answers `answer`.
    struct Fake {
        events: Vec<Value>,
        answer: SendResult,
        stored: Mutex<Vec<Stored>>,
        sent: Mutex<Vec<SendRequest>>,
        /// Answer to every form request (None: no forms).
        form: Option<Value>,
        /// The write-back table.
        rows: Vec<Value>,
        /// Answer to every login.
        login: Option<LoginResult>,
    }

    impl Harness for Fake {
        fn hub_url(&self) -> String {
            "http://127.0.0.1:1".into()
        }
        fn hub_token(&self) -> Option<String> {
            Some("tok".into())
        }
        fn dataplane_url(&self) -> String {
            "http://127.0.0.1:2".into()
        }
        fn write_keys(&self) -> Vec<String> {
            vec!["wk_a".into(), "wk_b".into()]
        }
        async fn send(&self, req: SendRequest) -> anyhow::Result<SendResult> {
            let key = req
                .params
                .get("rudder_write_key")
                .cloned()
                .unwrap_or_default();
            self.sent.lock().unwrap().push(req);
            for e in &self.events {
                self.stored.lock().unwrap().push(Stored {
                    write_key: key.clone(),
                    event: e.clone(),
                });
            }
            Ok(self.answer.clone())
        }
        async fn fetch_form(&self, _: FormRequest) -> anyhow::Result<FormResult> {
            match &self.form {
                Some(f) => Ok(FormResult {
                    http_status: 200,
                    body: f.clone(),
                    breaches: vec![],
                }),
                None => anyhow::bail!("no forms in the fake"),
            }
        }
        async fn login(&self, _: LoginRequest) -> anyhow::Result<LoginResult> {
            self.login
                .clone()
                .ok_or_else(|| anyhow::anyhow!("no logins in the fake"))
        }
        async fn writeback_rows(&self) -> anyhow::Result<Vec<Value>> {
            Ok(self.rows.clone())
        }
        async fn list_actions(&self, _: Option<String>) -> anyhow::Result<ActionList> {
            Ok(ActionList {
                actions: vec![
                    json!({"name": "rudder_event", "supported_formats": ["json_detail"]}),
                ],
                breaches: vec![],
            })
        }
        async fn add_fault(&self, _: Value) -> anyhow::Result<()> {
            Ok(())
        }
        async fn clear_faults(&self) -> anyhow::Result<()> {
            Ok(())
        }
        async fn reset_events(&self) -> anyhow::Result<()> {
            self.stored.lock().unwrap().clear();
            Ok(())
        }
        async fn events(&self, f: Filter) -> anyhow::Result<Vec<Stored>> {
            Ok(self
                .stored
                .lock()
                .unwrap()
                .iter()
                .filter(|s| f.write_key.as_ref().is_none_or(|k| &s.write_key == k))
                .filter(|s| {
                    f.kind
                        .as_ref()
                        .is_none_or(|k| s.event.get("type").and_then(Value::as_str) == Some(k))
                })
                .take(f.limit.unwrap_or(usize::MAX))
                .cloned()
                .collect())
        }
        async fn wait_for(
            &self,
            count: usize,
            f: Filter,
            _: Duration,
        ) -> anyhow::Result<Result<Vec<Stored>, usize>> {
            let got = self.events(f).await?;
            Ok(if got.len() >= count {
                Ok(got)
            } else {
                Err(got.len())
            })
        }
        async fn total_events(&self) -> anyhow::Result<usize> {
            Ok(self.stored.lock().unwrap().len())
        }
        async fn requests(&self) -> anyhow::Result<Vec<JournalRow>> {
            Ok(vec![JournalRow {
                path: "/v1/batch".into(),
                status: 200,
            }])
        }
    }

    fn fake(events: Vec<Value>, success: bool) -> Fake {
        Fake {
            events,
            answer: SendResult {
                http_status: 200,
                body: json!({"looker": {"success": success}}),
                success,
                message: (!success).then(|| "You must pass a \"groupId\".".to_string()),
                breaches: vec![],
                refresh_query: false,
                validation_errors: json!({}),
                webhook_id: Some("0123456789abcdef0123456789abcdef".into()),
            },
            stored: Mutex::new(vec![]),
            sent: Mutex::new(vec![]),
            form: None,
            rows: vec![],
            login: None,
        }
    }

    fn scenario(text: &str) -> LoadedScenario {
        LoadedScenario {
            name: "t".into(),
            path: PathBuf::from("t.yaml"),
            scenario: parse_scenario(Path::new("t.yaml"), text, &|_| None).unwrap(),
        }
    }

    const LOOK: &str = "looks:\n  u:\n    fields:\n      dimensions: [{name: users.id, tags: [user_id]}]\n    rows: [{users.id: u1}]\n";

    fn event() -> Value {
        json!({"type": "identify", "userId": "u1", "anonymousId": null,
               "messageId": "0bcd2d2a-bc07-4ab8-ae61-5759c550e3f3",
               "traits": {"users.age": []}, "receivedAt": "2026-01-01T00:00:00.000Z"})
    }

    #[tokio::test]
    async fn matching_events_and_answer_pass_and_placeholders_are_filled() {
        let h = fake(vec![event()], true);
        let s = scenario(&format!(
            "{LOOK}steps:\n  - send:\n      action: rudder_event\n      params: {{rudder_write_key: '${{dataplane.write_keys.1}}'}}\n      expect: {{success: true}}\nexpect:\n  events:\n    - where: {{write_key: '${{dataplane.write_keys.1}}'}}\n      count: 1\n      items:\n        - {{userId: u1, anonymousId: null, messageId: {{match: uuid}}, traits: {{users.age: []}}, groupId: {{match: absent}}}}\n  total_events: 1\n"
        ));
        let (failures, record) = run_steps(&h, &s).await.unwrap();
        assert!(failures.is_empty(), "{failures:#?}");
        let sent = h.sent.lock().unwrap();
        assert_eq!(sent[0].params["rudder_write_key"], "wk_b");
        assert_eq!(
            sent[0].params["rudder_server_url"],
            "http://127.0.0.1:2/v1/batch"
        );
        assert_eq!(record.events.len(), 1);
        assert_eq!(record.answers.len(), 1);
    }

    #[tokio::test]
    async fn a_wrong_trait_fails_with_a_diff_not_just_assertion_failed() {
        let h = fake(vec![event()], true);
        let s = scenario(&format!(
            "{LOOK}steps:\n  - send: {{action: rudder_event}}\nexpect:\n  events:\n    - count: 1\n      items:\n        - {{userId: u1, traits: {{users.age: 0}}}}\n"
        ));
        let (failures, _) = run_steps(&h, &s).await.unwrap();
        assert_eq!(failures.len(), 1, "{failures:#?}");
        let f = &failures[0];
        assert!(
            f.message
                .contains("traits.users.age: expected 0, received []"),
            "{}",
            f.message
        );
        let d = f.diff.as_deref().unwrap();
        assert!(
            d.contains("-    \"users.age\": 0") && d.contains("+    \"users.age\": []"),
            "{d}"
        );
    }

    #[tokio::test]
    async fn counts_answers_and_breaches_are_checked() {
        let h = fake(vec![], false);
        let s = scenario(&format!(
            "{LOOK}steps:\n  - send:\n      action: rudder_group\n      expect: {{success: true, message_contains: nope}}\nexpect:\n  events:\n    - count: 2\n      timeout_ms: 10\n"
        ));
        let (failures, _) = run_steps(&h, &s).await.unwrap();
        let text: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
        assert_eq!(failures.len(), 3, "{text:#?}");
        assert!(
            text[0].contains("success:false, expected success:true"),
            "{}",
            text[0]
        );
        assert!(text[1].contains("does not contain \"nope\""), "{}", text[1]);
        assert!(text[2].contains("0 event(s) matching"), "{}", text[2]);
    }

    #[tokio::test]
    async fn unexpected_breaches_fail_and_expected_ones_pass() {
        let mut h = fake(vec![], true);
        h.answer.breaches = vec![Breach {
            request: "execute rudder_event".into(),
            rule: "validation_errors_is_object".into(),
            json_path: "$.looker.validation_errors".into(),
            detail: "an array".into(),
        }];
        let s = scenario(&format!(
            "{LOOK}steps:\n  - send: {{action: rudder_event}}\n"
        ));
        let (failures, _) = run_steps(&h, &s).await.unwrap();
        assert!(
            failures[0].message.contains("validation_errors_is_object"),
            "{failures:?}"
        );
        let s = scenario(&format!(
            "{LOOK}steps:\n  - send: {{action: rudder_event, expect: {{breaches: [{{rule: validation_errors}}]}}}}\n"
        ));
        let (failures, _) = run_steps(&h, &s).await.unwrap();
        assert!(failures.is_empty(), "{failures:?}");
    }

    struct FakeLauncher {
        fail: bool,
    }
    impl Launcher for FakeLauncher {
        type H = Fake;
        async fn start(&self, _: &crate::format::Scenario) -> anyhow::Result<Fake> {
            if self.fail {
                anyhow::bail!("could not bind 127.0.0.1:0")
            }
            Ok(fake(vec![event()], true))
        }
    }

    #[tokio::test]
    async fn run_all_reports_in_order_and_separates_harness_errors() {
        let ok = scenario(&format!(
            "{LOOK}steps:\n  - send: {{action: rudder_event}}\n"
        ));
        let mut skipped = ok.clone();
        skipped.scenario.hub.reference_only = true;
        skipped.name = "ref".into();
        let mut clean = ok.clone();
        clean.scenario.hub.mapping = crate::format::Mapping::Clean;
        let reports = run_all(
            Arc::new(FakeLauncher { fail: false }),
            vec![ok.clone(), skipped, clean],
            4,
            true,
            |_| {},
        )
        .await;
        assert!(matches!(reports[0].status, Status::Passed));
        assert!(matches!(reports[1].status, Status::Skipped { .. }));
        assert!(
            matches!(&reports[2].status, Status::Skipped { reason } if reason.contains("clean"))
        );
        assert_eq!(reports[0].events, 1);
        let reports = run_all(
            Arc::new(FakeLauncher { fail: true }),
            vec![ok],
            1,
            false,
            |_| {},
        )
        .await;
        match &reports[0].status {
            Status::HarnessError { error } => assert!(error.contains("could not bind"), "{error}"),
            s => panic!("{s:?}"),
        }
        assert_eq!(
            crate::report::exit_code(&reports),
            crate::report::EXIT_HARNESS
        );
    }

    const WB: &str = "hub: {writeback: true}\nlooks:\n  o:\n    fields:\n      dimensions: [{name: orders.id, tags: [mark-suspicious]}]\n    rows: [{orders.id: 1001}]\n";

    fn wb_fake() -> Fake {
        let mut h = fake(vec![], true);
        h.answer.body = json!({"looker": {"success": true, "refresh_query": true,
            "message": "Order 1001 marked as Suspicious by alice@example.com.", "validation_errors": {}}});
        h.answer.message = Some("Order 1001 marked as Suspicious by alice@example.com.".into());
        h.answer.refresh_query = true;
        h.form = Some(json!({"fields": [
            {"name": "id", "type": "string", "interactive": false, "default": "1001"},
            {"name": "classification", "type": "select", "default": "Suspicious"}]}));
        h.rows = vec![
            json!({"id": 1, "order_id": "1001", "classification": "Suspicious",
            "user": "alice@example.com", "webhook_id": "0123456789abcdef0123456789abcdef",
            "created_at": "2026-01-01T00:00:00Z"}),
        ];
        h.login = Some(LoginResult {
            oauth_url: Some("http://127.0.0.1:1/actions/mark_suspicious/oauth?state=x".into()),
            status: 200,
            body: "Login successful.".into(),
            hops: 3,
            state_stored: true,
            breaches: vec![],
        });
        h
    }

    #[tokio::test]
    async fn writeback_answers_forms_logins_and_rows_pass_when_they_hold() {
        let h = wb_fake();
        let s = scenario(&format!(
            "{WB}steps:\n  - login: {{user: alice, action: mark_suspicious, cell_value: '1001', expect: {{ok: true, status: 200, body_contains: successful, state_stored: true}}}}\n  - fetch_form: {{action: mark_suspicious, user: alice, cell_value: '1001', expect: {{oauth_link: false, fields: {{id: {{default: '1001', interactive: false}}, login: null}}}}}}\n  - send: {{action: mark_suspicious, user: alice, cell_value: '1001', expect: {{success: true, refresh_query: true, validation_errors: {{}}}}}}\n  - expect_writeback: {{count: 1, where: {{user: alice@example.com}}, items: [{{order_id: '1001', webhook_id: '${{send.webhook_id}}', created_at: {{match: iso8601}}}}]}}\nexpect:\n  writeback: {{count: 1, each: {{classification: Suspicious}}}}\n"
        ));
        let (failures, record) = run_steps(&h, &s).await.unwrap();
        assert!(failures.is_empty(), "{failures:#?}");
        // The send carried the user and the clicked value; no RudderStack params were added.
        let sent = h.sent.lock().unwrap();
        assert_eq!(sent[0].user.as_deref(), Some("alice"));
        assert_eq!(sent[0].cell_value.as_deref(), Some("1001"));
        assert!(sent[0].params.is_empty(), "{:?}", sent[0].params);
        assert_eq!(record.writeback_total, 1);
        assert_eq!(record.writeback.as_ref().map(Vec::len), Some(1));
        assert_eq!(record.answers.len(), 3);
    }

    #[tokio::test]
    async fn writeback_mismatches_are_named() {
        let mut h = wb_fake();
        h.login.as_mut().unwrap().state_stored = false;
        h.answer.refresh_query = false;
        h.answer.validation_errors = json!({"classification": "Classification is required."});
        let s = scenario(&format!(
            "{WB}steps:\n  - login: {{user: bob, action: mark_suspicious, expect: {{state_stored: true}}}}\n  - fetch_form: {{action: mark_suspicious, expect: {{oauth_link: true, fields: {{id: {{default: '1002'}}, comment: {{type: textarea}}}}}}}}\n  - send: {{action: mark_suspicious, expect: {{refresh_query: true, validation_errors: {{}}}}}}\n  - expect_writeback: {{count: 2, items: [{{order_id: '1001', user: bob@example.com}}]}}\nexpect:\n  writeback: {{each: {{classification: Approved}}}}\n"
        ));
        let (failures, _) = run_steps(&h, &s).await.unwrap();
        let text: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
        let all = text.join("\n");
        for want in [
            "Looker keeps no new state for the user",
            "the form offers no oauth_link",
            "form field `id` differs: default: expected \"1002\", received \"1001\"",
            "the form has no field `comment`",
            "refresh_query:false, expected refresh_query:true",
            "validation_errors differs",
            "1 write-back row(s) matching {} in the database, expected 2",
            "items[0] matches no unclaimed row; closest is #0: user: expected \"bob@example.com\", received \"alice@example.com\"",
            "row #0 does not match `each`: classification",
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
        assert_eq!(failures.len(), 9, "{all}");
    }

    #[test]
    fn writeback_steps_need_the_writeback_hub() {
        let text = format!("{}steps:\n  - revoke: {{user: bob}}\n", LOOK);
        let err = parse_scenario(Path::new("t.yaml"), &text, &|_| None).unwrap_err();
        assert!(
            err.to_string()
                .contains("step 1 (revoke bob) needs the write-back hub"),
            "{err}"
        );
        let text = format!(
            "{}steps:\n  - send: {{action: rudder_event}}\nexpect:\n  writeback: {{count: 0}}\n",
            LOOK
        );
        let err = parse_scenario(Path::new("t.yaml"), &text, &|_| None).unwrap_err();
        assert!(
            err.to_string().contains("`expect.writeback` needs"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn writeback_scenarios_are_skipped_against_an_external_hub_and_error_without_support() {
        let s = scenario(&format!("{WB}steps:\n  - revoke: {{user: bob}}\n"));
        let reports = run_all(
            Arc::new(FakeLauncher { fail: false }),
            vec![s.clone()],
            1,
            true,
            |_| {},
        )
        .await;
        match &reports[0].status {
            Status::Skipped { reason } => assert!(reason.contains("database"), "{reason}"),
            st => panic!("{st:?}"),
        }
        // A harness without write-back support is a harness error, not a pass.
        let reports = run_all(
            Arc::new(FakeLauncher { fail: false }),
            vec![s],
            1,
            false,
            |_| {},
        )
        .await;
        match &reports[0].status {
            Status::HarnessError { error } => {
                assert!(error.contains("no write-back support"), "{error}")
            }
            st => panic!("{st:?}"),
        }
    }
}
