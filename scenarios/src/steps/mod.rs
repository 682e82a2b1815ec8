//! One function per step kind, grouped by the system the step talks to.
//!
//! - [`looker`]: `send`, `fetch_form`, `list_actions` (through the mock Looker);
//! - [`raw`]: `raw` (a hand-built request straight to the hub);
//! - [`dataplane`]: `fault`, `clear_faults`, `reset_events`, `wait`, `expect_events`;
//! - [`writeback`]: `login`, `revoke`, `set_state`, `expect_writeback`.
//!
//! A new step kind is a variant of [`Step`], an arm in [`run_step`] and a function in the file
//! of its family; the checks it needs are in [`crate::checks`].

mod dataplane;
mod looker;
mod raw;
mod writeback;

use crate::contract::Gate;
use crate::ctx::Ctx;
use crate::format::{Scenario, Step};
use crate::harness::Harness;
use crate::outcome::{Failure, Record};

/// The state of one scenario's run that steps read and add to.
pub(crate) struct Run<'a, H> {
    /// The systems under test.
    pub h: &'a H,
    /// The scenario (Looks, Looker version).
    pub sc: &'a Scenario,
    /// Placeholder values, some set by steps (`${send.webhook_id}`).
    pub ctx: Ctx,
    /// Answers and events, for snapshots.
    pub record: Record,
    /// Failed expectations so far.
    pub failures: Vec<Failure>,
    /// Which expectations this run checks (all, or only contracts against an external hub).
    pub gate: Gate,
    /// Looker was told success by a send so far: missing events are then a silent loss.
    pub told_success: bool,
}

/// Execute one step. `Err` means the harness failed; failed expectations go to `run.failures`.
pub(crate) async fn run_step<H: Harness>(
    run: &mut Run<'_, H>,
    at: &str,
    step: &Step,
) -> anyhow::Result<()> {
    match step {
        Step::Send(s) => looker::send(run, at, s).await,
        Step::FetchForm(f) => looker::fetch_form(run, at, f).await,
        Step::ListActions(l) => looker::list_actions(run, at, l).await,
        Step::Raw(r) => raw::raw(run, at, r).await,
        Step::Fault(rule) => dataplane::fault(run, rule).await,
        Step::ClearFaults => dataplane::clear_faults(run).await,
        Step::ResetEvents => dataplane::reset_events(run).await,
        Step::Wait(w) => dataplane::wait(run, at, w).await,
        Step::ExpectEvents(e) => dataplane::expect_events(run, at, e).await,
        Step::Login(l) => writeback::login(run, at, l).await,
        Step::Revoke(r) => writeback::revoke(run, at, r).await,
        Step::SetState(s) => writeback::set_state(run, s).await,
        Step::ExpectWriteback(e) => writeback::expect_writeback(run, at, e).await,
    }
}
