//! Scenario files and the runner that drives the mock Looker, the reference hub and the mock
//! data plane end to end.
//!
//! - [`format`]: the YAML scenario format (Looks, hub, data plane, steps, expectations).
//! - [`matcher`]: exact comparison plus matchers for volatile values, and readable diffs.
//! - [`load`]: loading scenario files from disk or from the set embedded in the binary.
//! - [`harness`]: the seam to the systems under test; [`wiring`] implements it on the real crates.
//! - [`runner`]: executes scenarios in parallel; [`steps`] holds one function per step kind and
//!   [`checks`] the comparison of answers, events and rows with what was expected.
//! - [`outcome`]: what a run produces (status, failures, record), which [`report`] prints.
//! - [`report`]: summary table, failure details, JUnit XML, exit codes.
//! - [`demo`]: `scenarios up`, the three servers on fixed ports with demo Looks sent through.

pub mod checks;
pub mod cli;
pub mod ctx;
pub mod demo;
pub mod format;
pub mod harness;
pub mod load;
pub mod matcher;
pub mod outcome;
pub mod report;
pub mod runner;
pub mod steps;
pub mod wiring;

pub use format::{LoadError, LoadedScenario, Scenario};
pub use outcome::{Report, Status};
