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
use serde_json::json;

use crate::checks::{check_events, check_rows, count_class, duplicates, summarise};
use crate::classes::FailureClass;
use crate::contract::Gate;
use crate::ctx::Ctx;
use crate::format::LoadedScenario;
use crate::harness::{Filter, Harness, Launcher};
use crate::matcher;
use crate::outcome::{Failure, RECORD_LIMIT, Record, Report, Status};
use crate::steps::{Run, run_step};

/// Default time limit for a whole scenario.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs scenarios, `jobs` at a time, calling `on_done` as each finishes (progress bars hook in
/// here). Reports come back in input order.
///
/// A harness error (our side or the setup failed: a wrong `--hub-token`, a hub that cannot be
/// reached) ends the run: scenarios not started yet are skipped, naming the scenario whose
/// error says why, instead of each running into the same cause.
pub async fn run_all<L: Launcher>(
    launcher: Arc<L>,
    scenarios: Vec<LoadedScenario>,
    jobs: usize,
    external_hub: bool,
    on_done: impl Fn(&Report) + Send + Sync,
) -> Vec<Report> {
    let mut reports: Vec<Option<Report>> = vec![None; scenarios.len()];
    let stopped: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let mut stream = futures::stream::iter(scenarios.into_iter().enumerate().map(|(i, s)| {
        let launcher = launcher.clone();
        let stopped = stopped.clone();
        async move {
            let name = s.name.clone();
            let path = s.path.display().to_string();
            let cause = stopped.lock().map(|g| g.clone()).unwrap_or_default();
            if let Some(cause) = cause {
                let report = Report {
                    name,
                    path,
                    status: Status::Skipped {
                        reason: format!("not run: the harness failed in {cause}"),
                    },
                    duration: Duration::ZERO,
                    events: 0,
                    record: Record::default(),
                };
                return (i, report);
            }
            // Each scenario on its own task: one that blocks or panics cannot take the others
            // down, and the multi-threaded runtime spreads them over the cores.
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
            if matches!(report.status, Status::HarnessError { .. })
                && let Ok(mut g) = stopped.lock()
            {
                g.get_or_insert_with(|| report.name.clone());
            }
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
        run_steps_against(&h, s, external_hub).await
    })
    .await;
    report.duration = started.elapsed();
    match outcome {
        Err(_) => {
            report.status = Status::Failed {
                failures: vec![Failure::plain(
                    FailureClass::Answer,
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
    run_steps_against(h, s, false).await
}

/// [`run_steps`], checking only the contract parts of each expectation when the hub is
/// external (the skipped reference parts are listed in the record's `skipped_checks`).
pub async fn run_steps_against<H: Harness>(
    h: &H,
    s: &LoadedScenario,
    external_hub: bool,
) -> anyhow::Result<(Vec<Failure>, Record)> {
    let sc = &s.scenario;
    let mut run = Run {
        h,
        sc,
        ctx: Ctx::new(h),
        record: Record::default(),
        failures: Vec::new(),
        gate: Gate {
            external: external_hub,
            ..Gate::default()
        },
        told_success: false,
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
        mut gate,
        told_success: told,
        ..
    } = run;
    let fe = gate.final_expect(&sc.expect.clone().unwrap_or_default());
    record.skipped_checks = gate.skipped;
    for (i, e) in fe.events.iter().enumerate() {
        let at = format!("expect.events[{i}]");
        check_events(h, &at, e, &ctx, told, &mut failures).await?;
    }
    if sc.hub.writeback {
        let rows = h.writeback_rows().await?;
        if let Some(e) = &fe.writeback {
            check_rows("expect.writeback", &rows, e, &ctx, told, &mut failures);
        }
        record.writeback_total = rows.len();
        record.writeback = Some(rows.into_iter().take(RECORD_LIMIT).collect());
    }
    if fe.total_events.is_some() || fe.duplicate_events.is_some() || fe.distinct_events.is_some() {
        let all = h.events(Filter::default()).await?;
        if let Some(total) = fe.total_events
            && all.len() != total
        {
            failures.push(Failure {
                class: count_class(&all, total, told),
                at: "expect.total_events".into(),
                message: format!("{} event(s) stored in total, expected {total}", all.len()),
                diff: Some(summarise(&all)),
            });
        }
        if let Some(want) = fe.distinct_events {
            let distinct = all.len() - duplicates(&all);
            if distinct != want {
                let class = if distinct < want {
                    FailureClass::loss(told)
                } else {
                    FailureClass::Payload
                };
                failures.push(Failure {
                    class,
                    at: "expect.distinct_events".into(),
                    message: format!(
                        "{distinct} distinct event(s) (by messageId) stored, expected {want}"
                    ),
                    diff: Some(summarise(&all)),
                });
            }
        }
        if let Some(want) = fe.duplicate_events {
            // Counted here from the stored events, not taken from the data plane's stats.
            let dups = duplicates(&all);
            if dups != want {
                failures.push(Failure {
                    class: FailureClass::Duplicate,
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
                FailureClass::Protocol,
                "expect.requests",
                format!(
                    "the data plane received {} request(s), expected {n}; statuses {}",
                    rows.len(),
                    json!(statuses)
                ),
            ));
        }
        if let Some(want) = &req.statuses
            && want != &statuses
        {
            failures.push(Failure {
                class: FailureClass::Protocol,
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
