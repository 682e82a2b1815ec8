//! A high-fidelity mock of the RudderStack data plane (rudder-server's gateway).
//!
//! It answers every client exactly as the gateway would (routes, Basic auth, gzip, check order,
//! texts, enrichment), keeps every event it acknowledged (in memory or durably in SQLite), and
//! lets tests look inside (`/_mock/events`, the request journal) and inject faults.
//!
//! The shortest use: start one, send it a batch, say what must arrive. The expectation is
//! checked when `dp` is dropped (a failure panics, listing what was received); `verify()`
//! checks it earlier and returns the failure instead.
//!
//! ```
//! use mock_dataplane::{EventMatcher, MockDataplane};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let dp = MockDataplane::start().await?;
//! dp.expect(EventMatcher::track("Signed Up").user("u1")).times(1);
//!
//! let http = serving::http_client().no_proxy().build()?;
//! let status = http
//!     .post(dp.batch_url())
//!     .basic_auth(dp.write_key(), Some(""))
//!     .json(&serde_json::json!({
//!         "batch": [{"type": "track", "event": "Signed Up", "userId": "u1"}]
//!     }))
//!     .send()
//!     .await?
//!     .status();
//! assert_eq!(status, 200);
//! dp.verify().await?;
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod conn;
mod console;
mod cors;
mod expect;
mod faults;
mod forward;
mod gateway;
mod gjson;
mod handle;
mod http_input;
mod import;
mod ingest;
mod inspect;
mod journal;
mod json_text;
mod live;
mod live_api;
mod redact;
mod response;
mod routes;
mod splice;
mod start_error;
mod state;
mod store;
mod stream;

use std::future::Future;

use tokio::net::TcpListener;

pub use client::{Client, ClientError};
pub use config::{
    Config, ConfigError, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_STREAM_STALL_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT, Source, SourceSpec, Storage, generate_id,
};
pub use expect::{
    EVENT_PRINT_LIMIT, EVENTS_PRINT_LIMIT, EventMatcher, Expectation, Unmet, VerifyError,
};
pub use faults::{ConnectionFault, Delay, Dribble, FaultAction, FaultError, FaultRule, RateLimit};
pub use handle::{MockDataplane, MockDataplaneBuilder, WaitError};
pub use journal::{JOURNAL_CAPACITY, JournalEntry};
pub use live::RuntimeSettings;
pub use redact::mask;
pub use start_error::StartError;
pub use store::{Duplicate, EventFilter, Stats, StoreError, StoredEvent};

/// Runs a data plane on `listener` until `shutdown` resolves (the binary's entry point).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let state = state::AppState::new(config)?;
    conn::serve(listener, state, shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Tests share the handle across tasks and threads.
    #[test]
    fn handle_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::MockDataplane>();
        assert_send_sync::<super::StoredEvent>();
        assert_send_sync::<super::FaultRule>();
    }
}
