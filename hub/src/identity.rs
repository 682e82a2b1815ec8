//! How the hub names itself: in every event's `context.library` and in the `User-Agent` of its
//! own requests (to the data plane, to a download_url, to an OAuth provider). One place, so
//! that a data plane operator who sees either can tell which hub sent it.

/// `context.library.name` of every event: this hub, honestly named (not `analytics-node`, the
/// SDK RudderStack's hub embeds).
pub const LIBRARY_NAME: &str = "rudderstack-reference-hub";
/// `context.library.version`: the crate's version.
pub const LIBRARY_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `User-Agent` of the hub's own requests (data plane, download_url, OAuth provider).
pub fn user_agent() -> String {
    format!("{LIBRARY_NAME}/{LIBRARY_VERSION}")
}
