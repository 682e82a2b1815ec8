//! Failure classes: what kind of wrong a failed expectation shows, so that a user can tell "your
//! hub lost events and told Looker success" from "your hub batches differently".
//!
//! A class is decided by the check that failed, never by the hub's own types: missing events are
//! a loss (silent when Looker was told success, reported when it was told failure), events that
//! are there but differ are `payload`, repeated events are `duplicate`, what Looker was told is
//! `answer`, a breach of the Action API (as the mock Looker judges it from raw bytes) is
//! `protocol`, and our own side or the setup failing is `harness`.

use serde::Serialize;

/// The class of a failure, worst first (the order [`FailureClass::worst`] uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureClass {
    /// Our side or the setup failed (wrong token, unreachable hub, a mock errored). Not the
    /// hub's fault; ends the run with exit code 2.
    Harness,
    /// Events missing (or a wait for them ran out) while Looker was told success: the worst
    /// thing a hub can do, since nobody will ever look for them.
    SilentLoss,
    /// Events missing, and Looker was told failure (so a user can send again).
    ReportedLoss,
    /// Events stored more than once.
    Duplicate,
    /// An event arrived but its content differs (a trait, an id, a type), or an event nobody
    /// expected arrived.
    Payload,
    /// A breach of the Action API: the list, a form or an answer is not what Looker can read,
    /// or a request Looker could send is answered with the wrong HTTP status.
    Protocol,
    /// What Looker was told differs (success, message, refresh, validation errors), or the
    /// hub did not answer in time.
    Answer,
}

impl FailureClass {
    /// Every class, worst first.
    pub const ALL: [FailureClass; 7] = [
        FailureClass::Harness,
        FailureClass::SilentLoss,
        FailureClass::ReportedLoss,
        FailureClass::Duplicate,
        FailureClass::Payload,
        FailureClass::Protocol,
        FailureClass::Answer,
    ];

    /// The name used in tables, JUnit `type="…"` and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Harness => "harness",
            FailureClass::SilentLoss => "silent-loss",
            FailureClass::ReportedLoss => "reported-loss",
            FailureClass::Duplicate => "duplicate",
            FailureClass::Payload => "payload",
            FailureClass::Protocol => "protocol",
            FailureClass::Answer => "answer",
        }
    }

    /// Events are missing: silent when Looker was told success for the sends so far.
    pub fn loss(told_success: bool) -> FailureClass {
        if told_success {
            FailureClass::SilentLoss
        } else {
            FailureClass::ReportedLoss
        }
    }

    /// The worst of some classes (a scenario's class is its worst failure's).
    pub fn worst(classes: impl IntoIterator<Item = FailureClass>) -> Option<FailureClass> {
        classes.into_iter().min()
    }
}

impl std::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_loss_outranks_everything_the_hub_can_do_but_harness_comes_first() {
        use FailureClass::*;
        assert_eq!(
            FailureClass::worst([Answer, SilentLoss, Payload]),
            Some(SilentLoss)
        );
        assert_eq!(
            FailureClass::worst([Answer, ReportedLoss]),
            Some(ReportedLoss)
        );
        assert_eq!(FailureClass::worst([Protocol, Answer]), Some(Protocol));
        assert_eq!(FailureClass::worst([Harness, SilentLoss]), Some(Harness));
        assert_eq!(FailureClass::worst([]), None);
        assert_eq!(FailureClass::loss(true).as_str(), "silent-loss");
        assert_eq!(FailureClass::loss(false).as_str(), "reported-loss");
    }
}
