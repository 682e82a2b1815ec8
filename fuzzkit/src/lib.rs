//! Fuzzing kit shared by the workspace's test binaries. `cargo fuzz` needs a nightly compiler,
//! which these machines cannot install, so untrusted-input parsers are fuzzed with proptest:
//! arbitrary bytes plus structure-aware generators, a case count from `FUZZ_CASES` (256 by
//! default, 100000 for the long run), and a deadline that turns a hang into a failure.
//!
//! - [`json`]: JSON text token by token (escapes, surrogates, odd numbers, deep nesting), for
//!   the hub's Look parser and the data plane's gateway.
//! - [`doc`]: structural and textual edits of real YAML/JSON files, for the Look and scenario
//!   loaders.
//! - [`with_deadline`], [`Watchdog`], [`Tally`], [`config`]: how the properties run and report.
//!
//! A dev-dependency only: nothing here ships in a binary.

pub mod doc;
pub mod json;
mod run;

pub use run::{HANG_AFTER, Tally, Watchdog, cases, config, with_deadline};
