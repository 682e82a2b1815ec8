//! Runs scenarios: executes the steps against a [`Harness`] and checks every expectation.
//!
//! Each scenario gets its own harness (fresh servers on port 0), so scenarios run in parallel
//! without seeing each other's events. A failed expectation never stops at "assertion failed":
//! it carries the path of every mismatch and a unified diff of expected against received.
//!
//! The steps themselves are in `crate::steps` (one function per step kind) and the checks of
//! answers, events and rows in `crate::checks`; this module runs them in order, checks the
//! scenario-level `expect:` block and keeps the run within its time limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::checks::{check_events, check_rows, summarise};
use crate::ctx::Ctx;
use crate::format::LoadedScenario;
use crate::harness::{Filter, Harness, Launcher};
use crate::matcher;
use crate::outcome::{Failure, RECORD_LIMIT, Record, Report, Status};
use crate::steps::{Run, run_step};

/// Default time limit for a whole scenario.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

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
    let sc = &s.scenario;
    let mut run = Run {
        h,
        sc,
        ctx: Ctx::new(h),
        record: Record::default(),
        failures: Vec::new(),
    };
    for rule in &sc.dataplane.faults {
        h.add_fault(run.ctx.value(rule)).await?;
    }
    for (i, step) in sc.steps.iter().enumerate() {
        let at = format!("step {} ({})", i + 1, step.label());
        run_step(&mut run, &at, step).await?;
    }
    let Run {
        ctx,
        mut record,
        mut failures,
        ..
    } = run;
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

#[cfg(test)]
mod tests;
