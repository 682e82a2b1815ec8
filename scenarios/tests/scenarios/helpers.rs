//! What the scenarios tests need: temporary scenario files and the binary.

use std::path::{Path, PathBuf};
use std::process::Output;

/// A temp dir holding the given scenario files.
pub fn scenario_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write scenario");
    }
    dir
}

/// Run the `scenarios` binary.
pub fn run(args: &[&str], cwd: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run the scenarios binary")
}

/// stdout and stderr as one string, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A path inside `dir` as a string argument.
pub fn arg(dir: &Path, rel: &str) -> String {
    let p: PathBuf = dir.join(rel);
    p.display().to_string()
}

/// A small Users Look scenario with the given expectation block.
pub fn identify_scenario(expect_traits: &str) -> String {
    format!(
        "description: one user\nlooks:\n  u:\n    fields:\n      dimensions: [{{name: users.id, tags: [user_id]}}, {{name: users.city}}]\n    rows: [{{users.id: u1, users.city: Paris}}]\nsteps:\n  - send: {{action: rudder_event, expect: {{success: true}}}}\nexpect:\n  events:\n    - count: 1\n      items: [{{userId: u1, traits: {expect_traits}, messageId: {{match: uuid}}}}]\n"
    )
}
