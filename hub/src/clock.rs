//! Now, written the one way every timestamp of the hub is written (event `timestamp`,
//! `originalTimestamp`, `sentAt`, and the write-back rows' `created_at`): ISO-8601 in UTC with
//! milliseconds and `Z`, as JavaScript's `Date.toISOString()` writes it in RudderStack's hub.

/// Now as `2026-01-01T00:00:00.000Z`.
pub fn iso_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}
