//! What running a scenario produces: its [`Status`], the [`Failure`]s of its expectations and a
//! bounded [`Record`] of answers and events.
//!
//! These types sit below both the runner (which fills them) and the report (which prints them),
//! so neither has to import the other.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::classes::FailureClass;

/// At most this many events are kept in a run's [`Record`].
pub const RECORD_LIMIT: usize = 1000;

/// One failed expectation.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Where: `step 2 (send rudder_event)` or `expect.events[0]`.
    pub at: String,
    /// What, in one or a few lines.
    pub message: String,
    /// Expected vs received, as a unified diff, when there is something to compare.
    pub diff: Option<String>,
    /// What kind of wrong it shows.
    pub class: FailureClass,
}

impl Failure {
    /// A failure with nothing to diff.
    pub fn plain(
        class: FailureClass,
        at: impl Into<String>,
        message: impl Into<String>,
    ) -> Failure {
        Failure {
            at: at.into(),
            message: message.into(),
            diff: None,
            class,
        }
    }

    /// A failure with expected against received (or a list of what is there).
    pub fn diffed(
        class: FailureClass,
        at: impl Into<String>,
        message: impl Into<String>,
        diff: String,
    ) -> Failure {
        Failure {
            at: at.into(),
            message: message.into(),
            diff: Some(diff),
            class,
        }
    }
}

/// An expectation that was not checked in this run, and why: against a hub we did not write,
/// the reference hub's own choices (batch shapes, request counts, exact texts) are not asked
/// for, one expectation at a time.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SkippedCheck {
    /// Where: `step 1 (send rudder_event)` or `expect.requests`.
    pub at: String,
    /// Which part: `message_contains`, `requests.statuses`, …
    pub what: String,
    /// Why it was not checked.
    pub reason: String,
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
    /// Expectations not checked in this run (reference choices, against an external hub).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_checks: Vec<SkippedCheck>,
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

    /// The class of a failed run: its worst failure's, `harness` for a harness error.
    pub fn class(&self) -> Option<FailureClass> {
        match &self.status {
            Status::Failed { failures } => FailureClass::worst(failures.iter().map(|f| f.class)),
            Status::HarnessError { .. } => Some(FailureClass::Harness),
            _ => None,
        }
    }
}
