//! The command-line flags of [`Limits`](crate::Limits), flattened into each server binary's
//! CLI so that all four spell them, and document their defaults, the same way.

use std::time::Duration;

use crate::Limits;

/// `--header-read-timeout-secs`, `--idle-timeout-secs`, `--max-connections`.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Seconds a client has to send a request's headers (also the longest a keep-alive
    /// connection may sit idle between requests); 0: no limit, as rudder-server's gateway.
    #[arg(long, value_name = "SECS", default_value_t = Limits::DEFAULT_HEADER_READ_TIMEOUT.as_secs_f64())]
    pub header_read_timeout_secs: f64,
    /// Seconds a connection may go without a byte read or written, even mid-request, before it
    /// is closed (the gateway's IdleTimeout); 0: no limit.
    #[arg(long, value_name = "SECS", default_value_t = Limits::DEFAULT_IDLE_TIMEOUT.as_secs_f64())]
    pub idle_timeout_secs: f64,
    /// Connections served at once; more wait until one closes. Lowered to what the process's
    /// file-descriptor limit (`ulimit -n`) can hold.
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
}

impl LimitArgs {
    /// The limits, with `max_connections` fitted to the descriptor limit for a server that
    /// uses `fds_per_connection` descriptors per connection.
    pub fn limits(&self, fds_per_connection: usize) -> Limits {
        let secs = |s: f64| (s > 0.0 && s.is_finite()).then(|| Duration::from_secs_f64(s));
        Limits {
            header_read_timeout: secs(self.header_read_timeout_secs),
            idle_timeout: secs(self.idle_timeout_secs),
            max_connections: self.max_connections,
        }
        .fit_descriptors(fds_per_connection)
    }
}
