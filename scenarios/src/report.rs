//! Presenting results: the summary table, failure details, JUnit XML and the exit code.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as JUnit, TestCase, TestCaseStatus, TestSuite};

use crate::outcome::{Report, Status};

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

fn word(s: &Status) -> &'static str {
    match s {
        Status::Passed => "PASS",
        Status::Failed { .. } => "FAIL",
        Status::HarnessError { .. } => "ERROR",
        Status::Skipped { .. } => "SKIP",
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
    let line = line.lines().next().unwrap_or("").to_string();
    if line.chars().count() > 90 {
        format!("{}…", line.chars().take(89).collect::<String>())
    } else {
        line
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// The summary table printed at the end of a run.
pub fn table(reports: &[Report]) -> String {
    let width = reports
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut s = format!(
        "{:<6} {:<width$} {:>7} {:>8}  {}\n",
        "result", "scenario", "events", "time", "note"
    );
    for r in reports {
        s.push_str(&format!(
            "{:<6} {:<width$} {:>7} {:>8}  {}\n",
            word(&r.status),
            r.name,
            r.events,
            secs(r.duration),
            first_line(&r.status)
        ));
    }
    let count = |w: &str| reports.iter().filter(|r| word(&r.status) == w).count();
    s.push_str(&format!(
        "\n{} scenarios: {} passed, {} failed, {} harness errors, {} skipped\n",
        reports.len(),
        count("PASS"),
        count("FAIL"),
        count("ERROR"),
        count("SKIP")
    ));
    s
}

/// Everything about the failed scenarios: each failure with its diff.
pub fn details(reports: &[Report]) -> String {
    let mut s = String::new();
    for r in reports {
        match &r.status {
            Status::Failed { failures } => {
                s.push_str(&format!("── FAIL {} ({})\n", r.name, r.path));
                for f in failures {
                    for line in f.to_string().lines() {
                        s.push_str("  ");
                        s.push_str(line);
                        s.push('\n');
                    }
                }
                s.push('\n');
            }
            Status::HarnessError { error } => {
                s.push_str(&format!("── ERROR {} ({})\n  {error}\n\n", r.name, r.path));
            }
            _ => {}
        }
    }
    s
}

/// JUnit XML: one test suite `scenarios`, one test case per scenario (classname = group folder).
pub fn junit(reports: &[Report]) -> String {
    let mut suite = TestSuite::new("scenarios");
    for r in reports {
        let status = match &r.status {
            Status::Passed => TestCaseStatus::success(),
            Status::Skipped { reason } => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(reason.as_str());
                s
            }
            Status::Failed { failures } => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(first_line(&r.status));
                s.set_description(
                    failures
                        .iter()
                        .map(|f| f.to_string())
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
                s
            }
            Status::HarnessError { error } => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(first_line(&r.status));
                s.set_description(error.as_str());
                s
            }
        };
        let mut case = TestCase::new(r.name.as_str(), status);
        let class = r
            .name
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("scenarios");
        case.set_classname(format!("scenarios.{class}"));
        case.set_time(r.duration);
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
                failures: vec![Failure {
                    at: "step 1 (send rudder_event)".into(),
                    message: "Looker was told success:false".into(),
                    diff: Some("--- expected\n+++ received\n".into()),
                }],
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
        let d = details(&[pass.clone(), fail.clone()]);
        assert!(d.contains("── FAIL a/bad"), "{d}");
        assert!(d.contains("--- expected"), "{d}");

        let x = junit(&[pass, fail, err, skip]);
        assert!(x.contains("tests=\"4\""), "{x}");
        assert!(x.contains("failures=\"1\""), "{x}");
        assert!(x.contains("errors=\"1\""), "{x}");
        assert!(x.contains("classname=\"scenarios.a\""), "{x}");
    }
}
