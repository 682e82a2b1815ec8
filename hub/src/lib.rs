//! A reference Looker Action Hub with the RudderStack Identify, Track and Group actions.
//!
//! Looker pushes a Look (or hands a `download_url`) to `POST /actions/<id>/execute`; the
//! RudderStack actions parse it incrementally, map each row to an event ([`mapping`]) and send
//! byte-bounded batches to the data plane's `/v1/batch` while the rest is still arriving
//! ([`send`]), answering Looker only once every event was acknowledged.
//!
//! # Starting one
//! [`Hub::builder`] is the one way: `.config(…)` and `.registry(…)` are optional, then
//! [`.run(listener, shutdown)`](HubBuilder::run) serves a listener you bound, or
//! [`.start()`](HubBuilder::start) serves `127.0.0.1:0` in the background and hands back a
//! [`Hub`] that knows its URL and a valid token, and stops the hub when dropped:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let hub = hub::Hub::builder().start().await?;
//! let list: serde_json::Value = serving::http_client().build()?
//!     .post(hub.url())
//!     .header("Authorization", format!("Token token=\"{}\"", hub.token()))
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! let names: Vec<&str> = list["integrations"]
//!     .as_array()
//!     .unwrap()
//!     .iter()
//!     .filter_map(|a| a["name"].as_str())
//!     .collect();
//! assert_eq!(names, ["rudder_event", "rudder_group", "rudder_track"]);
//! hub.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Where things are
//! - the routes of the Looker Action API: `server` (with `origin`, the browser guard, and
//!   [`body`], request bodies within the push limit and the body budget);
//! - the actions' contract and registry: [`actions`]; what an action gets from the hub:
//!   [`Context`];
//! - the RudderStack actions: [`rudder`] (their per-execute pipeline in `rudder/pipeline.rs`),
//!   reading a Look through `look_stream` (where the bytes come from, and the chunk → parser
//!   loop) and the incremental [`parse`]r, mapping rows with [`mapping`], sending with [`send`];
//! - the write-back actions (OAuth, SQLite): [`writeback`];
//! - configuration: [`HubConfig`]; starting: [`Hub`].
//!
//! This file is the crate's table of contents: it declares the modules and re-exports the
//! public names, and defines nothing, so that no module loops back to it
//! (`python3 scripts/module-cycles.py hub/src` lists the modules' references and any loop).

pub mod actions;
pub mod auth;
pub mod body;
mod clock;
mod config;
mod context;
mod identity;
mod look_stream;
pub mod mapping;
mod origin;
mod page;
pub mod parse;
pub mod rudder;
pub mod send;
mod server;
mod start;
pub mod version;
pub mod writeback;

pub use actions::{Action, ActionResponse, Registry};
pub use auth::generate_token;
pub use clock::iso_now;
pub use config::{DEFAULT_BODY_BUDGET, DEFAULT_PUSH_LIMIT, HubConfig};
pub use context::Context;
pub use identity::{LIBRARY_NAME, LIBRARY_VERSION, user_agent};
pub use mapping::MappingMode;
pub use send::SendConfig;
pub use start::{Hub, HubBuilder, StartError};
pub use version::Version;
