//! End-to-end tests of the workspace, one test binary:
//!
//! - `model` / `model_spec`: an independent model of RudderStack's hosted hub mapping,
//!   checked against the cases the spec writes down.
//! - `mapping_props`: proptest of the hub's column-to-trait mapping over generated Looks.
//! - `formats`: every Looker format and a dashboard sent to a fake hub, requests snapshotted.
//! - `snapshots`: every scenario run end to end, its payloads and Looker answers snapshotted.

mod formats;
mod helpers;
mod looks;
mod mapping_props;
mod model;
mod model_spec;
mod readmes;
mod snapshots;
