//! Runs of the same scenario taken together: with `--repeat N` each scenario runs N times, and
//! the table, the JUnit file and the conformance report show one line per scenario with its
//! pass count and the classes of its failures (`7/30 failed: silent-loss`).

use std::collections::BTreeMap;

use crate::classes::FailureClass;
use crate::outcome::{Report, Status};

/// Every run of one scenario, in the order they were made.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// Scenario name.
    pub name: &'a str,
    /// Its file.
    pub path: &'a str,
    /// Its runs.
    pub runs: Vec<&'a Report>,
}

/// The reports grouped by scenario name, in order of first appearance.
pub fn group(reports: &[Report]) -> Vec<Group<'_>> {
    let mut order: Vec<Group<'_>> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reports {
        match index.get(r.name.as_str()) {
            Some(&i) => order[i].runs.push(r),
            None => {
                index.insert(&r.name, order.len());
                order.push(Group {
                    name: &r.name,
                    path: &r.path,
                    runs: vec![r],
                });
            }
        }
    }
    order
}

/// How a scenario did over all its runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every run passed (skipped reference checks allowed).
    Passed,
    /// At least one run failed.
    Failed,
    /// At least one run hit a harness error.
    HarnessError,
    /// Not run.
    Skipped,
}

impl Group<'_> {
    /// Runs that failed (harness errors included).
    pub fn failed(&self) -> usize {
        self.runs.iter().filter(|r| !r.ok()).count()
    }

    /// How many failed runs had each class (a run counts once, under its worst failure).
    pub fn classes(&self) -> BTreeMap<FailureClass, usize> {
        let mut m = BTreeMap::new();
        for c in self.runs.iter().filter_map(|r| r.class()) {
            *m.entry(c).or_insert(0) += 1;
        }
        m
    }

    /// The worst class over all runs.
    pub fn class(&self) -> Option<FailureClass> {
        FailureClass::worst(self.runs.iter().filter_map(|r| r.class()))
    }

    /// The verdict over all runs.
    pub fn verdict(&self) -> Verdict {
        let has = |f: fn(&Status) -> bool| self.runs.iter().any(|r| f(&r.status));
        if has(|s| matches!(s, Status::HarnessError { .. })) {
            Verdict::HarnessError
        } else if has(|s| matches!(s, Status::Failed { .. })) {
            Verdict::Failed
        } else if self
            .runs
            .iter()
            .all(|r| matches!(r.status, Status::Skipped { .. }))
        {
            Verdict::Skipped
        } else {
            Verdict::Passed
        }
    }

    /// The first run that failed, for its details.
    pub fn first_failure(&self) -> Option<&Report> {
        self.runs.iter().copied().find(|r| !r.ok())
    }

    /// `7/30 failed: silent-loss (5), duplicate (2)`, or for one run `silent-loss`.
    pub fn counts(&self) -> String {
        let classes = self
            .classes()
            .iter()
            .map(|(c, n)| {
                if self.runs.len() > 1 {
                    format!("{c} ({n})")
                } else {
                    c.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        if self.runs.len() > 1 {
            format!("{}/{} failed: {classes}", self.failed(), self.runs.len())
        } else {
            classes
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::outcome::{Failure, Record};

    fn rep(name: &str, status: Status) -> Report {
        Report {
            name: name.into(),
            path: format!("{name}.yaml"),
            status,
            duration: Duration::from_millis(5),
            events: 0,
            record: Record::default(),
        }
    }

    fn failed(class: FailureClass) -> Status {
        Status::Failed {
            failures: vec![
                Failure::plain(FailureClass::Answer, "step 1", "told success:false"),
                Failure::plain(class, "expect.events[0]", "1 event(s) stored, expected 3"),
            ],
        }
    }

    #[test]
    fn repeated_runs_count_failures_by_their_worst_class() {
        let mut reports = Vec::new();
        for i in 0..30 {
            reports.push(rep(
                "loss/a",
                if i % 6 == 0 {
                    failed(FailureClass::SilentLoss)
                } else if i == 7 {
                    failed(FailureClass::Duplicate)
                } else {
                    Status::Passed
                },
            ));
            reports.push(rep("b", Status::Passed));
        }
        let groups = group(&reports);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].name, "loss/a");
        assert_eq!(groups[0].runs.len(), 30);
        assert_eq!(groups[0].verdict(), Verdict::Failed);
        assert_eq!(groups[0].class(), Some(FailureClass::SilentLoss));
        assert_eq!(
            groups[0].counts(),
            "6/30 failed: silent-loss (5), duplicate (1)"
        );
        assert_eq!(groups[1].verdict(), Verdict::Passed);
        assert_eq!(groups[1].failed(), 0);
        let one = [rep("c", failed(FailureClass::Payload))];
        assert_eq!(group(&one)[0].counts(), "payload");
    }
}
