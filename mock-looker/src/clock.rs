//! The wall clock as Looker prints it.

/// Now, as Looker writes timestamps: `2024-05-01T12:00:00.000+00:00`.
pub(crate) fn now_iso() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f+00:00")
        .to_string()
}
