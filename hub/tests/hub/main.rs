//! The hub's one integration-test binary. Modules by concern:
//! - `mapping`: every quirk of the RudderStack mode next to the clean mode, and the fixture batch.
//! - `parse`: the incremental json_detail / lite_stream / json parsers.
//! - `server`: routes, auth, versions, error answers, keep-alive.
//! - `actions`: the official test suites' cases (spec §7) against a data plane, exact events.
//! - `retries`, `redirects`: the sender against wiremock, a third-party stub.
//! - `helpers`: spawns a hub and a recording data plane.
//! - `binary`: the `action-hub` binary's `--bind` and `--advertise-host`.

mod actions;
mod binary;
mod budget;
mod fuzz;
mod helpers;
mod mapping;
mod origin;
mod parse;
mod redirects;
mod retries;
mod robustness;
mod sending;
mod server;
mod writeback;
