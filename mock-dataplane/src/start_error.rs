//! Why a mock data plane did not start: each cause its own variant, so a test or tool can tell
//! a bad configuration from a busy port or an unreadable storage directory.

use crate::config::ConfigError;
use crate::faults::FaultError;
use crate::store::StoreError;

/// Why [`crate::MockDataplane::start`] or [`crate::run`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A source or option of the configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// A fault rule of the configuration is invalid.
    #[error("invalid fault rule: {0}")]
    Fault(#[from] FaultError),
    /// The storage directory could not be opened.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Binding the listener failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
