//! Presenting results: the summary table, failure details, JUnit XML and the exit code.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as JUnit, TestCase, TestCaseStatus, TestSuite};

use crate::classes::FailureClass;
use crate::outcome::{Report, Status};
use crate::summary::{Group, Verdict, group};

/// Exit code: every scenario passed (or was skipped).
pub const EXIT_OK: u8 = 0;
/// Exit code: at least one scenario failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the harness failed (bad scenario file, a server did not start).
pub const EXIT_HARNESS: u8 = 2;

/// The process exit code for a set of reports.
pub fn exit_code(reports: &[Report]) -> u8 {
    if reports
        .iter()
        .any(|r| matches!(r.status, Status::HarnessError { .. }))
    {
        EXIT_HARNESS
    } else if reports.iter().all(Report::ok) {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

fn word(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "PASS",
        Verdict::Failed => "FAIL",
        Verdict::HarnessError => "ERROR",
        Verdict::Skipped => "SKIP",
    }
}

fn first_line(s: &Status) -> String {
    let line = match s {
        Status::Passed => String::new(),
        Status::Failed { failures } => failures
            .first()
            .map(|f| format!("{}: {}", f.at, f.message))
            .unwrap_or_default(),
        Status::HarnessError { error } => error.clone(),
        Status::Skipped { reason } => reason.clone(),
    };
    line.lines().next().unwrap_or("").to_string()
}

fn cut(line: &str, max: usize) -> String {
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max - 1).collect::<String>())
    } else {
        line.to_string()
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// The table's note for a scenario: the classes (and pass counts over repeated runs) and the
/// first failure, the skip reason, or how many reference checks were left out.
fn note(g: &Group<'_>) -> String {
    match g.first_failure() {
        Some(r) => format!("[{}] {}", g.counts(), first_line(&r.status)),
        None => {
            let last = g.runs[g.runs.len() - 1];
            match &last.status {
                Status::Skipped { reason } => reason.clone(),
                _ if !last.record.skipped_checks.is_empty() => format!(
                    "{} reference check(s) not asked of this hub",
                    last.record.skipped_checks.len()
                ),
                _ if g.runs.len() > 1 => format!("{}/{} passed", g.runs.len(), g.runs.len()),
                _ => String::new(),
            }
        }
    }
}

/// The summary table printed at the end of a run: one line per scenario (its runs together
/// under `--repeat`), then the counts, failures by class.
pub fn table(reports: &[Report]) -> String {
    let groups = group(reports);
    let width = groups
        .iter()
        .map(|g| g.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut s = format!(
        "{:<6} {:<width$} {:>7} {:>8}  {}\n",
        "result", "scenario", "events", "time", "note"
    );
    for g in &groups {
        let shown = g.first_failure().unwrap_or(g.runs[g.runs.len() - 1]);
        let time: Duration = g.runs.iter().map(|r| r.duration).sum();
        s.push_str(&format!(
            "{:<6} {:<width$} {:>7} {:>8}  {}\n",
            word(g.verdict()),
            g.name,
            shown.events,
            secs(time),
            cut(&note(g), 110)
        ));
    }
    let count = |v: Verdict| groups.iter().filter(|g| g.verdict() == v).count();
    s.push_str(&format!(
        "\n{} scenarios: {} passed, {} failed, {} harness errors, {} skipped\n",
        groups.len(),
        count(Verdict::Passed),
        count(Verdict::Failed),
        count(Verdict::HarnessError),
        count(Verdict::Skipped)
    ));
    if reports.len() > groups.len() {
        let failed = reports.iter().filter(|r| !r.ok()).count();
        s.push_str(&format!("{} runs: {} failed\n", reports.len(), failed));
    }
    let by_class = by_class(&groups);
    if !by_class.is_empty() {
        s.push_str(&format!("failed by class: {by_class}\n"));
    }
    // Per scenario, not per run: the same checks are left out of each repeated run.
    let skipped: usize = groups
        .iter()
        .map(|g| g.runs[0].record.skipped_checks.len())
        .sum();
    if skipped > 0 {
        s.push_str(&format!(
            "{skipped} reference check(s) not asked of this hub (listed with the details)\n"
        ));
    }
    s
}

/// `silent-loss 2, answer 1`: scenarios by their worst class.
pub fn by_class(groups: &[Group<'_>]) -> String {
    FailureClass::ALL
        .iter()
        .filter_map(|c| {
            let n = groups.iter().filter(|g| g.class() == Some(*c)).count();
            (n > 0).then(|| format!("{c} {n}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything about the failed scenarios: each failure with its class and diff; then the
/// reference checks left out against an external hub, with why.
pub fn details(reports: &[Report]) -> String {
    let mut s = String::new();
    for g in group(reports) {
        let Some(r) = g.first_failure() else {
            continue;
        };
        let runs = if g.runs.len() > 1 {
            format!(" — {}; the first failed run:", g.counts())
        } else {
            String::new()
        };
        match &r.status {
            Status::Failed { failures } => {
                s.push_str(&format!("── FAIL {} ({}){runs}\n", r.name, r.path));
                for f in failures {
                    for (i, line) in f.to_string().lines().enumerate() {
                        s.push_str("  ");
                        if i == 0 {
                            s.push_str(&format!("[{}] ", f.class));
                        }
                        s.push_str(line);
                        s.push('\n');
                    }
                }
                s.push('\n');
            }
            Status::HarnessError { error } => {
                s.push_str(&format!(
                    "── ERROR {} ({}){runs}\n  [harness] {error}\n\n",
                    r.name, r.path
                ));
            }
            _ => {}
        }
    }
    let mut skipped = String::new();
    for g in group(reports) {
        let r = g.runs[0];
        for c in &r.record.skipped_checks {
            skipped.push_str(&format!(
                "  {} {}: {} ({})\n",
                r.name, c.at, c.what, c.reason
            ));
        }
    }
    if !skipped.is_empty() {
        s.push_str("── reference checks not asked of this hub\n");
        s.push_str(&skipped);
        s.push('\n');
    }
    s
}

/// JUnit XML: one test suite `scenarios`, one test case per scenario (classname = group
/// folder). Under `--repeat` a scenario is failed if any run failed; the failure's `type` is
/// the worst class and its message the pass count.
pub fn junit(reports: &[Report]) -> String {
    let mut suite = TestSuite::new("scenarios");
    for g in group(reports) {
        let status = match (g.verdict(), g.first_failure()) {
            (Verdict::Failed | Verdict::HarnessError, Some(r)) => {
                let kind = if g.verdict() == Verdict::HarnessError {
                    NonSuccessKind::Error
                } else {
                    NonSuccessKind::Failure
                };
                let mut s = TestCaseStatus::non_success(kind);
                s.set_message(format!("[{}] {}", g.counts(), first_line(&r.status)));
                if let Some(c) = g.class() {
                    s.set_type(c.as_str());
                }
                s.set_description(match &r.status {
                    Status::Failed { failures } => failures
                        .iter()
                        .map(|f| format!("[{}] {f}", f.class))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    Status::HarnessError { error } => error.clone(),
                    _ => String::new(),
                });
                s
            }
            (Verdict::Skipped, _) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(first_line(&g.runs[0].status));
                s
            }
            _ => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(g.name, status);
        let class = g
            .name
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("scenarios");
        case.set_classname(format!("scenarios.{class}"));
        case.set_time(g.runs.iter().map(|r| r.duration).sum());
        let skipped = &g.runs[0].record.skipped_checks;
        if !skipped.is_empty() {
            case.set_system_out(
                skipped
                    .iter()
                    .map(|c| format!("not checked: {} {} ({})", c.at, c.what, c.reason))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        suite.add_test_case(case);
    }
    let mut report = JUnit::new("scenarios");
    report.add_test_suite(suite);
    report.to_string().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Failure, Record};

    fn rep(name: &str, status: Status) -> Report {
        Report {
            name: name.into(),
            path: format!("scenarios/{name}.yaml"),
            status,
            duration: Duration::from_millis(120),
            events: 3,
            record: Record::default(),
        }
    }

    #[test]
    fn exit_codes_distinguish_failures_from_harness_errors() {
        let pass = rep("a/ok", Status::Passed);
        let fail = rep(
            "a/bad",
            Status::Failed {
                failures: vec![Failure::diffed(
                    FailureClass::SilentLoss,
                    "step 1 (send rudder_event)",
                    "Looker was told success:false",
                    "--- expected\n+++ received\n".into(),
                )],
            },
        );
        let err = rep(
            "b/err",
            Status::HarnessError {
                error: "bind: address in use".into(),
            },
        );
        let skip = rep(
            "b/skip",
            Status::Skipped {
                reason: "external hub".into(),
            },
        );
        assert_eq!(exit_code(&[pass.clone(), skip.clone()]), EXIT_OK);
        assert_eq!(exit_code(&[pass.clone(), fail.clone()]), EXIT_FAILED);
        assert_eq!(exit_code(&[fail.clone(), err.clone()]), EXIT_HARNESS);

        let t = table(&[pass.clone(), fail.clone(), err.clone(), skip.clone()]);
        assert!(t.contains("PASS   a/ok"), "{t}");
        assert!(t.contains("FAIL   a/bad"), "{t}");
        assert!(
            t.contains("4 scenarios: 1 passed, 1 failed, 1 harness errors, 1 skipped"),
            "{t}"
        );
        assert!(
            t.contains("failed by class: harness 1, silent-loss 1"),
            "{t}"
        );
        assert!(t.contains("[silent-loss] step 1"), "{t}");
        let d = details(&[pass.clone(), fail.clone()]);
        assert!(d.contains("── FAIL a/bad"), "{d}");
        assert!(
            d.contains("[silent-loss] step 1 (send rudder_event)"),
            "{d}"
        );
        assert!(d.contains("--- expected"), "{d}");

        let x = junit(&[pass, fail, err, skip]);
        assert!(x.contains("tests=\"4\""), "{x}");
        assert!(x.contains("failures=\"1\""), "{x}");
        assert!(x.contains("errors=\"1\""), "{x}");
        assert!(x.contains("classname=\"scenarios.a\""), "{x}");
        assert!(x.contains("type=\"silent-loss\""), "{x}");
        assert!(x.contains("type=\"harness\""), "{x}");
    }
}
