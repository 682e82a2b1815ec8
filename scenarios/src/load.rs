//! Finding and loading scenario files: from disk, or the set embedded at build time.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::format::{LoadError, LoadedScenario, name_from_path, parse_scenario};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The scenario files and Looks compiled into the binary: `(path relative to the crate, text)`.
pub fn embedded_files() -> &'static [(&'static str, &'static str)] {
    embedded::EMBEDDED
}

/// Where the default scenarios live in the source tree.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Resolve `a/b/../c` without touching the file system.
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

fn is_scenario(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// The embedded scenarios, in path order.
pub fn load_embedded() -> Result<Vec<LoadedScenario>, Vec<LoadError>> {
    let files: HashMap<PathBuf, &str> = embedded_files()
        .iter()
        .map(|(p, t)| (PathBuf::from(p), *t))
        .collect();
    let read = |p: &Path| files.get(&normalize(p)).map(|s| s.to_string());
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (path, text) in embedded_files() {
        let path = Path::new(path);
        let Ok(rel) = path.strip_prefix("scenarios") else {
            continue;
        };
        if !is_scenario(path) {
            continue;
        }
        match parse_scenario(path, text, &read) {
            Ok(s) => out.push(LoadedScenario {
                name: s.name.clone().unwrap_or_else(|| name_from_path(rel)),
                path: path.to_path_buf(),
                scenario: s,
            }),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_scenario(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// A file of a directory run that is not a scenario, left out with a notice.
#[derive(Debug, Clone)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// Why it is not a scenario (a Look file, another tool's YAML).
    pub reason: String,
}

/// A scenario file that does not load: a harness problem of that file, reported as its own
/// result while the other scenarios run.
#[derive(Debug)]
pub struct BrokenFile {
    /// What the scenario would be called (its path relative to the directory given).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// What is wrong, naming the file (and the line, for a YAML error).
    pub error: LoadError,
}

/// What [`discover`] found under the paths given.
#[derive(Debug, Default)]
pub struct Discovered {
    /// The scenarios that loaded, in path order.
    pub scenarios: Vec<LoadedScenario>,
    /// Scenario files that did not load.
    pub broken: Vec<BrokenFile>,
    /// Files of a directory that are not scenarios.
    pub skipped: Vec<SkippedFile>,
}

/// Whether `text` is a scenario: it has a top-level `steps:` key, at the start of a line (the
/// block style every scenario uses; the key may be quoted). Every scenario needs `steps`, and a
/// Look file (`fields`, `rows`), a compose file or any other YAML has none. Decided on the text,
/// before any YAML parsing, so a scenario with a syntax error is still recognised as one (and
/// reported broken), and a hostile foreign file costs one line scan.
pub fn is_scenario_text(text: &str) -> bool {
    text.trim_start_matches('\u{feff}').lines().any(|line| {
        ["steps", "\"steps\"", "'steps'"].iter().any(|key| {
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start_matches([' ', '\t']).starts_with(':'))
        })
    })
}

/// Why a YAML file without `steps:` is left out of a directory run.
fn not_a_scenario(text: &str) -> String {
    let top = |key: &str| text.lines().any(|l| l.starts_with(&format!("{key}:")));
    if top("fields") || top("rows") || top("generate") {
        "a Look file (no top-level `steps:`); scenarios use it through `looks: {name: {file: …}}`"
            .into()
    } else {
        "not a scenario: no top-level `steps:` key".into()
    }
}

/// Loads scenario files and directories (recursively, `*.yaml` and `*.yml`) from disk. Names
/// are paths relative to the directory given (or the file stem for a single file).
///
/// In a directory only scenarios count ([`is_scenario_text`]): other YAML files are
/// [`Discovered::skipped`] with the reason. A file named on its own is always taken for a
/// scenario. A scenario file that does not load is [`Discovered::broken`]; the others load.
pub fn discover(paths: &[PathBuf]) -> Discovered {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let mut found = Discovered::default();
    for root in paths {
        let mut files = Vec::new();
        let in_dir = root.is_dir();
        if in_dir {
            if let Err(source) = walk(root, &mut files) {
                found.broken.push(BrokenFile {
                    name: root.display().to_string(),
                    path: root.clone(),
                    error: LoadError::Io {
                        path: root.clone(),
                        source,
                    },
                });
                continue;
            }
        } else {
            files.push(root.clone());
        }
        for f in files {
            let rel = if in_dir {
                f.strip_prefix(root).unwrap_or(&f).to_path_buf()
            } else {
                PathBuf::from(f.file_name().unwrap_or_default())
            };
            let text = match std::fs::read_to_string(&f) {
                Ok(t) => t,
                Err(source) => {
                    found.broken.push(BrokenFile {
                        name: name_from_path(&rel),
                        path: f.clone(),
                        error: LoadError::Io { path: f, source },
                    });
                    continue;
                }
            };
            if in_dir && !is_scenario_text(&text) {
                found.skipped.push(SkippedFile {
                    reason: not_a_scenario(&text),
                    path: f,
                });
                continue;
            }
            match parse_scenario(&f, &text, &read) {
                Ok(s) => found.scenarios.push(LoadedScenario {
                    name: s.name.clone().unwrap_or_else(|| name_from_path(&rel)),
                    path: f,
                    scenario: s,
                }),
                Err(error) => found.broken.push(BrokenFile {
                    name: name_from_path(&rel),
                    path: f,
                    error,
                }),
            }
        }
    }
    found
}

/// Like [`discover`], but all or nothing: the scenarios, or every file that did not load.
/// Files of a directory that are not scenarios are left out either way.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<LoadedScenario>, Vec<LoadError>> {
    let found = discover(paths);
    if found.broken.is_empty() {
        Ok(found.scenarios)
    } else {
        Err(found.broken.into_iter().map(|b| b.error).collect())
    }
}

/// Keep scenarios whose name, path, tags or description contain `filter` (case-insensitive).
pub fn filter(scenarios: Vec<LoadedScenario>, filter: Option<&str>) -> Vec<LoadedScenario> {
    let Some(f) = filter.map(str::to_lowercase) else {
        return scenarios;
    };
    scenarios
        .into_iter()
        .filter(|s| {
            s.name.to_lowercase().contains(&f)
                || s.path.to_string_lossy().to_lowercase().contains(&f)
                || s.scenario
                    .tags
                    .iter()
                    .any(|t| t.to_lowercase().contains(&f))
        })
        .collect()
}

/// Keep broken files whose name or path contains `filter` (case-insensitive), as [`filter`]
/// does for scenarios: a broken file is reported only when it would have been selected.
pub fn filter_broken(broken: Vec<BrokenFile>, filter: Option<&str>) -> Vec<BrokenFile> {
    let Some(f) = filter.map(str::to_lowercase) else {
        return broken;
    };
    broken
        .into_iter()
        .filter(|b| {
            b.name.to_lowercase().contains(&f)
                || b.path.to_string_lossy().to_lowercase().contains(&f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Step;

    fn parse(text: &str) -> Result<crate::format::Scenario, LoadError> {
        parse_scenario(Path::new("dir/case.yaml"), text, &|_| None)
    }

    #[test]
    fn every_embedded_scenario_parses() {
        let all = load_embedded().unwrap_or_else(|errs| {
            panic!(
                "{}",
                errs.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        assert!(all.len() >= 40, "only {} scenarios", all.len());
        let mut names: Vec<_> = all.iter().map(|s| s.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len(), "scenario names must be unique");
    }

    #[test]
    fn a_minimal_scenario_parses_with_defaults() {
        let s = parse(
            "looks:\n  u:\n    fields:\n      dimensions: [{name: users.id, tags: [user_id]}]\n    rows: [{users.id: u1}]\nsteps:\n  - send: {action: rudder_event}\n  - clear_faults\n",
        )
        .unwrap();
        assert_eq!(s.steps.len(), 2);
        assert!(matches!(s.steps[1], Step::ClearFaults));
        assert_eq!(s.hub.mapping, crate::format::Mapping::Rudderstack);
    }

    #[test]
    fn errors_name_the_file_the_line_and_what_was_expected() {
        let e = parse("steps:\n  - send: {action: rudder_event}\nexpcet: {}\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("dir/case.yaml:3:"), "{msg}");
        assert!(msg.contains("unknown field `expcet`"), "{msg}");
        assert!(msg.contains("expected one of"), "{msg}");

        let e = parse("steps:\n  - sned: {action: x}\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("dir/case.yaml:2:"), "{e}");
        assert!(e.contains("unknown variant `sned`"), "{e}");

        let e = parse("steps:\n  - send: {action: x, download: ftp}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown variant `ftp`, expected `push` or `url`"),
            "{e}"
        );

        let e = parse("steps: [\n").unwrap_err().to_string();
        assert!(e.starts_with("dir/case.yaml:"), "{e}");
    }

    #[test]
    fn semantic_errors_say_what_is_missing() {
        let e = parse("steps:\n  - send: {action: rudder_event, look: nope}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("look `nope` is not defined"), "{e}");
        let e = parse("steps: []\n").unwrap_err().to_string();
        assert!(e.contains("`steps` is empty"), "{e}");
        let e = parse("steps:\n  - expect_events: {items: [{messageId: {match: uid}}]}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("step 1 (expect_events) items[0]: unknown matcher `uid`"),
            "{e}"
        );
        let e = parse("looks:\n  a: {title: x}\nsteps:\n  - wait: {ms: 1}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("look `a`: give exactly one of"), "{e}");
    }

    #[test]
    fn look_files_resolve_relative_to_the_scenario() {
        let read = |p: &Path| {
            (normalize(p) == Path::new("looks/users.yaml")).then(|| {
                "fields:\n  dimensions: [{name: users.email, tags: [email]}]\nrows: [{users.email: a@x.io}]\n"
                    .to_string()
            })
        };
        let s = parse_scenario(
            Path::new("scenarios/identify/x.yaml"),
            "looks:\n  u: {file: ../../looks/users.yaml}\nsteps:\n  - send: {action: rudder_event}\n",
            &read,
        )
        .unwrap();
        assert_eq!(s.looks["u"].rows.len(), 1);
        let e = parse_scenario(
            Path::new("scenarios/identify/x.yaml"),
            "looks:\n  u: {file: missing.yaml}\nsteps:\n  - send: {action: rudder_event}\n",
            &read,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("file scenarios/identify/missing.yaml not found"),
            "{e}"
        );
    }

    #[test]
    fn a_scenario_is_a_file_with_a_top_level_steps_key() {
        assert!(is_scenario_text(
            "description: x\nsteps:\n  - clear_faults\n"
        ));
        assert!(is_scenario_text("\u{feff}\"steps\" : []\n"));
        assert!(
            is_scenario_text("steps: [\n"),
            "a broken scenario is still one"
        );
        // A Look file, a compose file, a nested `steps` key: not scenarios.
        assert!(!is_scenario_text("title: Orders\nfields: {}\nrows: []\n"));
        assert!(!is_scenario_text("services:\n  hub:\n    steps: 1\n"));
        assert!(!is_scenario_text("# steps: in a comment\nstepsize: 2\n"));
        assert!(not_a_scenario("fields: {}\nrows: []\n").starts_with("a Look file"));
        assert!(not_a_scenario("services: {}\n").starts_with("not a scenario"));
    }

    #[test]
    fn filter_matches_name_path_and_tags() {
        let s = |name: &str, tags: &[&str]| LoadedScenario {
            name: name.into(),
            path: PathBuf::from(format!("scenarios/{name}.yaml")),
            scenario: parse("steps:\n  - clear_faults\n")
                .map(|mut x| {
                    x.tags = tags.iter().map(|t| t.to_string()).collect();
                    x
                })
                .unwrap(),
        };
        let all = vec![s("identify/a", &["official"]), s("faults/b", &["retry"])];
        assert_eq!(filter(all.clone(), Some("IDENT")).len(), 1);
        assert_eq!(filter(all.clone(), Some("retry"))[0].name, "faults/b");
        assert_eq!(filter(all, None).len(), 2);
    }
}
