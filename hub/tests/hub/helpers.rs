//! Shared test helpers.
#![allow(dead_code)]

use std::sync::LazyLock;

/// Logs only when `TEST_LOG` is set.
pub static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_test_writer()
            .try_init();
    }
});

pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn shared(path: &str) -> std::path::PathBuf {
    workspace_root()
        .join("..")
        .join("..")
        .join("shared")
        .join(path)
}

/// `/work/shared/<path>`, found from the worktree or from main.
pub fn shared_file(path: &str) -> String {
    for base in [
        shared(path),
        std::path::PathBuf::from("/work/shared").join(path),
    ] {
        if let Ok(s) = std::fs::read_to_string(&base) {
            return s;
        }
    }
    panic!("shared file {path} not found")
}
