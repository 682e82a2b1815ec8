//! A reference Looker Action Hub with the RudderStack Identify, Track and Group actions.

pub mod mapping;
pub mod parse;

pub use mapping::MappingMode;

/// `context.library.name` of every event: this hub, honestly named.
pub const LIBRARY_NAME: &str = "rudderstack-reference-hub";
/// `context.library.version`.
pub const LIBRARY_VERSION: &str = env!("CARGO_PKG_VERSION");
