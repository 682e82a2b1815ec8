//! Scenario files and the runner that drives the mock Looker, the reference hub and the mock
//! data plane end to end.
//!
//! - [`format`](mod@format): the YAML scenario format (Looks, hub, data plane, steps, expectations).
//! - [`matcher`]: exact comparison plus matchers for volatile values, and readable diffs.
//! - [`load`]: loading scenario files from disk or from the set embedded in the binary.
//! - [`harness`]: the seam to the systems under test, one trait per system ([`harness::Looker`],
//!   [`harness::Hub`], [`harness::DataPlane`]); [`wiring`] implements it on the real crates.
//! - [`runner`]: executes scenarios in parallel; inside the crate, `steps` holds one function per
//!   step kind, `checks` the comparison of answers, events and rows with what was expected, and
//!   `ctx` the placeholders both substitute.
//! - [`outcome`]: what a run produces (status, failures, record), which [`report`] prints.
//! - [`classes`]: the class of a failure (silent-loss, reported-loss, duplicate, payload,
//!   protocol, answer, harness).
//! - [`contract`]: which parts of each expectation a run checks (contracts only against an
//!   external hub; the kinds of keys are [`format::kinds`]).
//! - [`summary`]: the runs of one scenario together (`--repeat`).
//! - [`report`]: summary table, failure details, JUnit XML, exit codes.
//! - [`record`]: `scenarios record`, the proxy that turns a real exchange between Looker and a
//!   hub into scenario files.
//! - [`conformance`]: the conformance report by area, Markdown or self-contained HTML.
//! - [`shard`]: `--shard i/n`, the part of the selection one CI job runs.
//!
//! The command line (`scenarios run`, `list`) and the demo (`scenarios up`) are the binary's
//! (`src/bin/scenarios/`). The wiring stays in the library because the e2e snapshot tests run
//! the embedded scenarios in-process with it; it depends on the runner's seam, never the other
//! way.
//!
//! Run embedded scenarios against fresh in-process servers:
//!
//! ```
//! use std::sync::Arc;
//!
//! use scenarios::wiring::{Wiring, WiringConfig};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! let all = scenarios::load::load_embedded().expect("the embedded scenarios parse");
//! let picked = scenarios::load::filter(all, Some("identify/01"));
//! let launcher = Arc::new(Wiring::new(WiringConfig::default()));
//! let reports = scenarios::runner::run_all(launcher, picked, 2, false, |_| {}).await;
//! assert!(reports.iter().all(|r| r.ok()), "{}", scenarios::report::details(&reports));
//! # }
//! ```

mod checks;
pub mod classes;
pub mod conformance;
pub mod contract;
mod ctx;
pub mod format;
pub mod harness;
pub mod load;
pub mod matcher;
pub mod outcome;
pub mod record;
pub mod report;
pub mod runner;
mod sensitive;
pub mod shard;
mod steps;
pub mod summary;
pub mod wiring;

pub use classes::FailureClass;
pub use format::{LoadError, LoadedScenario, Scenario};
pub use outcome::{Report, Status};
