//! mock-looker: a Looker instance that drives any Action Hub.
//!
//! It sends what Looker sends (headers, chunked bodies, every data format, push or one-time
//! download URLs, forms with per-user state), accepts what Looker accepts (keep-alive
//! newlines, `success:false` at 200) and reports every place a hub breaks the Action API as a
//! [`Breach`] with the request, the rule and the JSON path.
//!
//! The handle, [`MockLooker`], works like wiremock's `MockServer`: start it on 127.0.0.1:0,
//! register a hub, send a Look, read the outcome; dropping it stops the server.
//!
//! ```
//! use mock_looker::{HubOptions, MockLooker, SendRequest, demo};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let looker = MockLooker::start().await?;
//! // The demo Looks are built in, under named ids.
//! let users = looker.look(demo::USERS).expect("a built-in Look");
//! assert_eq!(users.title(), "Users");
//!
//! // A hub that cannot be reached is still registered; the failure is reported, not thrown.
//! let hub = looker
//!     .register_hub("http://127.0.0.1:9", HubOptions::default().token("s3cret"))
//!     .await?;
//! assert!(hub.fetch_error.is_some());
//! // Sending to an action the hub never listed is an error naming the action.
//! let refused = looker.send(SendRequest::new(&hub.id, "rudder_event", users)).await;
//! assert!(refused.is_err());
//! looker.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod action;
pub mod activity;
pub mod activity_catalog;
pub mod browser;
mod clock;
pub mod contract;
mod core;
pub mod demo;
mod failed_answer;
pub mod format;
mod handle;
mod http;
mod journal;
pub mod look;
pub mod schedule;
mod scheduler;
pub mod yaml;

use std::future::Future;

pub use action::{Action, Param, RequiredField};
pub use activity::Event;
pub use contract::Breach;
pub use core::{
    Config, DEFAULT_LOOKER_VERSION, Download, FormOutcome, Hub, HubOptions, IntegrationSettings,
    JournalEntry, MockError, SendOutcome, SendRequest, StartError, Timings,
};
pub use demo::builtin_looks;
pub use format::{Format, WriteOptions};
pub use handle::{MockLooker, MockLookerBuilder};
/// The mock OAuth 2.0 provider served under `/oauth/` (kept at its old path).
pub use http::oauth as oauth_provider;
pub use journal::{DEFAULT_JOURNAL_BODY_BYTES, DEFAULT_JOURNAL_BYTES, DEFAULT_JOURNAL_ENTRIES};
pub use look::{Dashboard, DashboardDef, Look, LookDef, LookError, Tile, TileDef};

use crate::core::Core;

/// A random hex secret of `bytes` bytes (used for generated API credentials).
pub fn generate_secret(bytes: usize) -> String {
    core::random_hex(bytes)
}

/// Serves a mock Looker on `listener` until `shutdown` resolves.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let addr = listener.local_addr().map_err(StartError::Bind)?;
    let base_url = match &config.advertise_host {
        Some(host) => serving::advertised_url(host, addr.port()),
        None => format!("http://{addr}"),
    };
    let core = Core::new(config, base_url)?;
    http::serve(listener, core, http::oauth::OAuthProvider::new(), shutdown)
        .await
        .map_err(StartError::Serve)
}
