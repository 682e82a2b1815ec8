//! Embeds the default scenarios (`scenarios/`) and shared Looks (`looks/`) in the binary, so
//! `scenarios run` and `scenarios up` work from any directory, and from a fresh clone; and sets
//! cfg `browser_missing` when Chromium is not installed (`scripts/browser-cfg.rs`).

#[path = "../scripts/browser-cfg.rs"]
mod browser_cfg;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
}

fn main() {
    browser_cfg::emit();
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let mut files = Vec::new();
    for sub in ["scenarios", "looks"] {
        println!("cargo:rerun-if-changed={}", root.join(sub).display());
        walk(&root.join(sub), &mut files);
    }
    let mut code = String::from(
        "/// (path relative to the crate, contents)\npub static EMBEDDED: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        let rel = f.strip_prefix(&root).expect("under root");
        let rel = rel.to_string_lossy().replace('\\', "/");
        writeln!(
            code,
            "    ({rel:?}, include_str!({:?})),",
            f.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("embedded.rs");
    std::fs::write(out, code).expect("write embedded.rs");
}
