//! What every server of the workspace shares, so that they all start, limit and stop the same
//! way:
//!
//! - [`shutdown_signal`]: Ctrl-C or SIGTERM, handed by each binary to its library's
//!   `run(listener, …, shutdown)`.
//! - [`Limits`] and [`serve`]: an HTTP/1.1 accept loop for an axum router with a header-read
//!   timeout, an idle timeout and a connection limit. `axum::serve` has none of the three, and a
//!   probe held the servers' connections open for 300+ s with silent sockets or headers
//!   trickling a byte every 10 s, until the process ran out of file descriptors.
//! - [`Binding`] and [`Background`]: a server on a loopback port of its own, run on a task,
//!   stopped on drop: how every test double of the workspace starts.
//! - [`ConnectionGate`] and [`IdleWatch`]: the two pieces of [`serve`] on their own, for a
//!   server that runs its own accept loop (mock-dataplane, whose connection faults need the raw
//!   socket).
//! - [`http_client`]: the one way to build an outgoing `reqwest` client (TLS through ring).
//! - [`page`]: the HTML shell and stylesheet of the servers' pages for people.
//!
//! The shortest use: a server on a free loopback port in the background, called, then stopped.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get};
//!
//! let binding = serving::Binding::loopback().await?;
//! let url = binding.url().to_owned();
//! let app = Router::new().route("/", get(|| async { "hello" }));
//! let server = binding.spawn("hello", |listener, stop| {
//!     serving::serve(listener, app, serving::Limits::default(), "hello", stop)
//! });
//! let text = serving::http_client().build()?.get(&url).send().await?.text().await?;
//! assert_eq!(text, "hello");
//! server.shutdown().await?;
//! # Ok(()) }
//! ```

mod args;
mod background;
mod client;
mod limits;
pub mod page;
mod signal;

pub use args::LimitArgs;
pub use background::{Background, Binding, Stop, StopError, advertised_url};
pub use client::{error_text, http_client};
pub use limits::{ConnectionGate, IdleWatch, Limits, Watched, accept_loop, serve};
pub use signal::shutdown_signal;
