//! A reference Looker Action Hub with the RudderStack Identify, Track and Group actions.
//!
//! Looker pushes a Look (or hands a `download_url`) to `POST /actions/<id>/execute`; the
//! RudderStack actions parse it incrementally, map each row to an event ([`mapping`]) and send
//! byte-bounded batches to the data plane's `/v1/batch` while the rest is still arriving
//! ([`send`]), answering Looker only once every event was acknowledged.
//!
//! Start one in-process with [`RunningHub::start`], or serve a listener with [`run`].
//!
//! This file is the crate's table of contents: it declares the modules and re-exports the
//! public names, and defines nothing, so that no module loops back to it.

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
pub use start::{RunningHub, TestHub, run, run_with_registry};
pub use version::Version;
