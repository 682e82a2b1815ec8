//! The shutdown signal the server binaries (`action-hub`, `mock-dataplane`, `mock-looker`,
//! `scenarios up`) hand to their library's `run(listener, config, shutdown)`.
//!
//! Ctrl-C for a terminal, SIGTERM for `docker stop`, systemd and CI runners that end a
//! background job: either one lets the server finish the requests in flight (an acknowledged
//! event is committed first) instead of dying mid-write.

/// Completes at the first Ctrl-C or SIGTERM. If a signal handler cannot be installed, that
/// signal is simply never seen (the other still works).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn sigterm_completes_the_signal() {
        let mut waiting = Box::pin(super::shutdown_signal());
        // Polling it once installs the handlers; nothing has been raised yet.
        let early = tokio::time::timeout(Duration::from_millis(20), &mut waiting).await;
        assert!(early.is_err(), "completed without a signal");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("signal() completed after SIGTERM");
    }
}
