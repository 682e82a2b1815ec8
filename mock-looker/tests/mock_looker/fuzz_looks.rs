//! Fuzzing the Look loader (`Look::from_yaml_str` / `from_json_str`, what `--looks DIR` runs on
//! every file) with proptest: arbitrary bytes, hostile texts, and the built-in Looks under
//! `looks/` mutated by [`fuzzkit::doc`].
//!
//! The property: no panic, no hang; either an error that names the file, or a Look that writes
//! its first rows in every format without panicking, the JSON formats as valid JSON.
//!
//! `cargo test -p mock-looker --test mock_looker fuzz_` runs 256 cases per property; the long
//! run is `FUZZ_CASES=100000 cargo test -j 1 --release -p mock-looker --test mock_looker fuzz_
//! -- --nocapture` (it prints the case count and time).

use std::time::Instant;

use mock_looker::format::render;
use mock_looker::{Format, Look, WriteOptions};
use proptest::prelude::*;
use serde_json::Value;

use fuzzkit::doc::{self, Edit, TextEdit};
use fuzzkit::{Tally, Watchdog};

const ORIGIN_YAML: &str = "fuzz/look.yaml";
const ORIGIN_JSON: &str = "fuzz/look.json";

/// The built-in Looks, as documents to mutate.
fn seeds() -> &'static [Value] {
    static SEEDS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("looks");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            // Dashboards are not Looks: they would only be refused.
            .filter(|p| !p.to_string_lossy().contains("dashboard"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| serde_norway::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    })
}

/// Loads `text` and checks the property; true when it loaded.
fn check(text: &str, json: bool) -> bool {
    let origin = if json { ORIGIN_JSON } else { ORIGIN_YAML };
    Watchdog::get().case(text, || {
        let loaded = if json {
            Look::from_json_str(text, origin)
        } else {
            Look::from_yaml_str(text, origin)
        };
        match loaded {
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.starts_with(origin),
                    "the error does not name the file: {msg}"
                );
                false
            }
            Ok(look) => {
                write_every_format(&look.limited(20));
                true
            }
        }
    })
}

/// A loaded Look must write: every format, formatted or not, JSON formats parsing as JSON.
fn write_every_format(look: &Look) {
    for format in Format::ALL {
        for apply in [false, true] {
            let opts = WriteOptions {
                apply_formatting: apply,
                apply_vis: apply,
            };
            let out = render(look, format, opts, "2024-05-01T12:00:00+00:00");
            if format.is_binary() {
                assert!(
                    crate::files::opens_as(format, &out),
                    "{format:?} wrote a file that is not what it claims: {:?}",
                    String::from_utf8_lossy(&out[..out.len().min(200)])
                );
            } else if format.mimetype() == "application/json" {
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
}

fn mutated(seed: usize, edits: &[Edit], text_edits: &[TextEdit], json: bool) -> String {
    let all = seeds();
    let mut doc = all[seed % all.len()].clone();
    for e in edits {
        doc::apply(&mut doc, e);
    }
    let mut text = doc::to_text(&doc, json);
    for e in text_edits {
        doc::apply_text(&mut text, e);
    }
    text
}

/// A Tally of Look loads: the summary line the long run reports.
fn tally(name: &'static str) -> Tally {
    Tally::new(name, "valid Looks, written in every format")
}

#[test]
fn fuzz_look_loader_with_arbitrary_bytes_and_hostile_texts() {
    let tally = tally("fuzz_look_loader_with_arbitrary_bytes_and_hostile_texts");
    proptest!(fuzzkit::config(), |(bytes in prop::collection::vec(any::<u8>(), 0..2048),
                                    hostile in doc::hostile_text(),
                                    json in any::<bool>())| {
        tally.count(check(&String::from_utf8_lossy(&bytes), json));
        tally.count(check(&hostile, json));
    });
}

#[test]
fn fuzz_look_loader_with_mutated_builtin_looks() {
    let tally = tally("fuzz_look_loader_with_mutated_builtin_looks");
    proptest!(fuzzkit::config(), |(seed in any::<usize>(),
                                    edits in prop::collection::vec(doc::edit(), 1..5),
                                    text_edits in prop::collection::vec(doc::text_edit(), 0..2),
                                    json in any::<bool>())| {
        tally.count(check(&mutated(seed, &edits, &text_edits, json), json));
    });
}

/// What the fuzzer found in the generators: settings that loaded, then panicked or wrote
/// invalid JSON when rows were written. Each is now an error naming the file and the field.
#[test]
fn generator_settings_that_cannot_produce_every_row_are_refused_when_loading() {
    let look = |generator: &str, rows: u64| {
        format!(
            "title: G\nmodel: m\nexplore: e\ngenerate: {{rows: {rows}, seed: 1}}\nfields:\n  dimensions:\n    - {{name: e.x, generator: {generator}}}\n"
        )
    };
    for (generator, rows, needle) in [
        // chrono's `NaiveDate + Days` panics past its last date.
        (
            "{kind: date, start: '2024-01-01', days: 4000000000}",
            5,
            "past the last date",
        ),
        // A reversed range silently drew from another span.
        ("{kind: int, min: 5, max: -5}", 5, "min 5 is above max -5"),
        // `start + row` overflowed u64.
        (
            "{kind: sequence, start: 18446744073709551615}",
            5,
            "exceeds 18446744073709551615",
        ),
        // `(start + row) as i64` wrapped to a negative id.
        (
            "{kind: sequence, start: 9223372036854775807, numeric: true}",
            5,
            "beyond the largest JSON integer",
        ),
        // `max - min` was infinite: every value `inf`, written as the invalid JSON token `inf`.
        (
            "{kind: float, min: -1.0e308, max: 1.0e308}",
            5,
            "finite min <= max",
        ),
        (
            "{kind: float, min: 0, max: 1, decimals: 4000000000}",
            5,
            "decimals 4000000000 is above 15",
        ),
    ] {
        let e = Look::from_yaml_str(&look(generator, rows), "gen.yaml")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("gen.yaml: ") && e.contains("\"e.x\"") && e.contains(needle),
            "{generator}: {e}"
        );
    }
    // The extremes that fit still write every row (the full i64 range made `max - min`
    // overflow: a panic in debug builds).
    for generator in [
        "{kind: int, min: -9223372036854775808, max: 9223372036854775807}",
        "{kind: float, min: -1.0e300, max: 1.0e300, decimals: 15}",
        "{kind: date, start: '2024-01-01', days: 36500000}",
        "{kind: sequence, start: 9223372036854775803, numeric: true}",
    ] {
        let l = Look::from_yaml_str(&look(generator, 5), "ok.yaml").unwrap();
        write_every_format(&l);
    }
}

/// What the fuzzer found in the YAML parser: libyaml's scan time grows with tokens × flow
/// depth, so 50,000 nested `{a: ` (200 KB) took 9 s and a megabyte minutes. Such a file is
/// refused before the scan, naming the file and the line.
#[test]
fn deeply_nested_flow_yaml_is_refused_before_the_slow_scan() {
    let text = format!("title: x\nmodel: {}", "{a: ".repeat(250_000));
    let start = Instant::now();
    let e = Look::from_yaml_str(&text, "deep.yaml")
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("deep.yaml: ") && e.contains("line 2 column 1032: flow collections"),
        "{e}"
    );
    assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
}
