//! Fuzzing the scenario loader with proptest: arbitrary bytes and hostile texts read from disk
//! through `load_paths`, and every scenario under `scenarios/` mutated by `fuzzkit::doc`
//! (as mock-looker's Look loader is) and parsed with its Look files resolvable.
//!
//! The property: no panic, no hang; either an error naming the file (the scenario, or the Look
//! file it points to), or a scenario whose Looks convert for the mock Looker (or say why not)
//! and write their first rows in every format, the JSON formats as valid JSON.
//!
//! `cargo test -p scenarios --test scenarios fuzz_` runs 256 cases per property; the long run
//! is `FUZZ_CASES=100000 cargo test -j 1 --release -p scenarios --test scenarios fuzz_ --
//! --nocapture` (it prints the case count and time).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use mock_looker::format::render;
use mock_looker::{Format, WriteOptions};
use proptest::prelude::*;
use scenarios::format::parse_scenario;
use scenarios::load::{embedded_files, load_paths};
use serde_json::Value;

use fuzzkit::doc::{self, Edit, TextEdit};
use fuzzkit::{Tally, Watchdog};

/// The embedded scenario files, as (path, document) to mutate.
fn seeds() -> &'static [(&'static str, Value)] {
    static SEEDS: OnceLock<Vec<(&'static str, Value)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        embedded_files()
            .iter()
            .filter(|(p, _)| p.starts_with("scenarios/") && p.ends_with(".yaml"))
            .map(|(p, t)| (*p, serde_norway::from_str(t).unwrap()))
            .collect()
    })
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Reads the Look files a scenario points to, from the embedded set.
fn read(p: &Path) -> Option<String> {
    static FILES: OnceLock<HashMap<PathBuf, &'static str>> = OnceLock::new();
    FILES
        .get_or_init(|| {
            embedded_files()
                .iter()
                .map(|(p, t)| (PathBuf::from(p), *t))
                .collect()
        })
        .get(&normalize(p))
        .map(|t| t.to_string())
}

/// Parses `text` as the scenario at `path` and checks the property; true when it loaded.
fn check(path: &str, text: &str) -> bool {
    Watchdog::get().case(text, || {
        match parse_scenario(Path::new(path), text, &read) {
            Err(e) => {
                let msg = e.to_string();
                // A Look file's errors name it relative to the scenario's directory.
                let dir = Path::new(path).parent().unwrap().display().to_string();
                assert!(
                    msg.starts_with(path) || msg.starts_with(&format!("{dir}/")),
                    "the error does not name the file {path}: {msg}"
                );
                false
            }
            Ok(s) => {
                for spec in s.looks.values() {
                    // The runner refuses some Looks with a reason (`ran_at_after_data`); a
                    // converted one must write.
                    if let Ok(look) = scenarios::wiring::to_look(spec) {
                        write_every_format(&look.limited(20));
                    }
                }
                true
            }
        }
    })
}

fn write_every_format(look: &mock_looker::Look) {
    for format in Format::ALL {
        let out = render(
            look,
            format,
            WriteOptions::default(),
            "2024-05-01T12:00:00+00:00",
        );
        // JSON formats parse; the others (csv, txt, html and the files) are written at all.
        assert!(!out.is_empty(), "{format:?} wrote nothing");
        if format.mimetype() == "application/json" {
            let parsed = serde_json::from_slice::<Value>(&out);
            assert!(
                parsed.is_ok(),
                "{format:?} wrote invalid JSON ({:?}): {}",
                parsed.err(),
                String::from_utf8_lossy(&out[..out.len().min(2000)])
            );
        }
    }
}

/// A Tally of scenario loads: the summary line the long run reports.
fn tally(name: &'static str) -> Tally {
    Tally::new(name, "valid scenarios")
}

#[test]
fn fuzz_scenario_files_of_arbitrary_bytes_and_hostile_texts_load_or_name_the_file() {
    let tally = tally("fuzz_scenario_files_of_arbitrary_bytes_and_hostile_texts");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("case.yaml");
    proptest!(fuzzkit::config(), |(bytes in prop::collection::vec(any::<u8>(), 0..2048),
                                    hostile in doc::hostile_text())| {
        for content in [bytes.as_slice(), hostile.as_bytes()] {
            std::fs::write(&file, content).unwrap();
            let shown = String::from_utf8_lossy(content);
            let loaded = Watchdog::get().case(&shown, || match load_paths(std::slice::from_ref(&file)) {
                Ok(s) => {
                    assert_eq!(s.len(), 1);
                    true
                }
                Err(errors) => {
                    assert_eq!(errors.len(), 1);
                    let msg = errors[0].to_string();
                    assert!(msg.starts_with(&file.display().to_string()), "{msg}");
                    false
                }
            });
            tally.count(loaded);
        }
    });
}

fn mutated(seed: usize, edits: &[Edit], text_edits: &[TextEdit]) -> (&'static str, String) {
    let all = seeds();
    let (path, doc) = &all[seed % all.len()];
    let mut doc = doc.clone();
    for e in edits {
        doc::apply(&mut doc, e);
    }
    let mut text = doc::to_text(&doc, false);
    for e in text_edits {
        doc::apply_text(&mut text, e);
    }
    (path, text)
}

#[test]
fn fuzz_mutated_scenario_files_load_or_name_the_file() {
    let tally = tally("fuzz_mutated_scenario_files");
    proptest!(fuzzkit::config(), |(seed in any::<usize>(),
                                    edits in prop::collection::vec(doc::edit(), 1..4),
                                    text_edits in prop::collection::vec(doc::text_edit(), 0..2))| {
        let (path, text) = mutated(seed, &edits, &text_edits);
        tally.count(check(path, &text));
    });
}

/// Every real scenario still loads through the same checks (the seeds are valid).
#[test]
fn the_fuzz_seeds_are_the_valid_scenarios() {
    assert!(seeds().len() >= 40);
    for (path, doc) in seeds() {
        assert!(check(path, &doc::to_text(doc, false)), "{path}");
    }
}

/// What the fuzzer found: libyaml's scan time grows with tokens × flow depth (50,000 nested
/// `{a: ` took 9 s, a megabyte minutes). Such a scenario, or a Look file it points to, is now
/// refused before the scan with the file, line and column.
#[test]
fn deeply_nested_flow_yaml_is_refused_with_its_line() {
    let text = format!("steps:\n  - wait: {}", "{ms: ".repeat(250_000));
    let e = parse_scenario(Path::new("dir/deep.yaml"), &text, &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("dir/deep.yaml:2:1291: flow collections ([…] or {…}) nested deeper"),
        "{e}"
    );
}
