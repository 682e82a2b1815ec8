//! Marks the browser tests `#[ignore]` (cfg `browser_missing`) when Chromium or chromedriver is
//! not installed, so the test runner counts them as ignored instead of printing `ok` for a test
//! that did nothing. Under `CI` they are never ignored: they run, and fail if the browser is
//! missing (`.ci/run` installs `chromium chromium-driver`). Included by `scenarios/build.rs`
//! (`#[path]`), whose build script already embeds the scenarios.

/// Prints the cfg and the rerun conditions.
pub fn emit() {
    println!("cargo::rustc-check-cfg=cfg(browser_missing)");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<std::path::PathBuf> = std::env::split_paths(&path)
        .filter(|d| d.is_dir())
        .collect();
    for d in &dirs {
        // A package installed or removed changes its directory.
        println!("cargo::rerun-if-changed={}", d.display());
    }
    let found = |names: &[&str]| {
        names
            .iter()
            .any(|n| dirs.iter().any(|d| d.join(n).is_file()))
    };
    let present = found(&["chromedriver"]) && found(&["chromium", "chromium-browser"]);
    if !present && std::env::var_os("CI").is_none() {
        println!("cargo::rustc-cfg=browser_missing");
    }
}
