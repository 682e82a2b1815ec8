//! Reading a scenario file: YAML with a location on every error, then the checks serde cannot
//! express (Looks that exist, write-back steps only with the write-back hub, valid matchers).

use std::path::{Path, PathBuf};

use super::steps::Step;
use super::validate::validate_tree;
use super::{LookSpec, Scenario};

/// A scenario file that could not be loaded: the file, the line and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// YAML or schema error with a location.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// File.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected.
        message: String,
    },
    /// A semantic error found after parsing.
    #[error("{path}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// A loaded scenario and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// Display name (`name:` or the relative path without extension).
    pub name: String,
    /// The file (relative to the scenarios root for embedded ones).
    pub path: PathBuf,
    /// Parsed content, with file Looks resolved.
    pub scenario: Scenario,
}

/// Parses YAML, first refusing flow collections nested so deep that libyaml's scan would take
/// minutes (see [`mock_looker::yaml`]); serde_norway would refuse them after that scan anyway.
fn from_yaml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, LoadError> {
    mock_looker::yaml::check_nesting(text).map_err(|e| LoadError::Syntax {
        path: path.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.to_string(),
    })?;
    serde_norway::from_str(text).map_err(|e| yaml_error(path, e))
}

fn yaml_error(path: &Path, err: serde_norway::Error) -> LoadError {
    let (line, column) = err
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    // serde_norway appends " at line L column C" to some messages; the location is already in
    // our prefix, so drop the duplicate to keep one readable sentence.
    let mut message = err.to_string();
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    LoadError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// Parse a scenario from text. `path` names the file in errors; `read` loads Look files
/// referenced by `file:` (relative paths are resolved by the caller's reader).
pub fn parse_scenario(
    path: &Path,
    text: &str,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Result<Scenario, LoadError> {
    let mut scenario: Scenario = from_yaml(path, text)?;
    let invalid = |message: String| LoadError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    if scenario.steps.is_empty() {
        return Err(invalid(
            "`steps` is empty: a scenario needs at least one step".into(),
        ));
    }
    for (name, look) in scenario.looks.iter_mut() {
        let sources = [
            look.file.is_some(),
            look.generate.is_some(),
            look.fields.is_some(),
            look.looker_file.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if sources != 1 {
            return Err(invalid(format!(
                "look `{name}`: give exactly one of `file`, `looker_file`, `generate` or `fields` (inline), found {sources}"
            )));
        }
        if let Some(file) = look.looker_file.clone() {
            let full = path.parent().unwrap_or(Path::new("")).join(&file);
            let text = read(&full).ok_or_else(|| {
                invalid(format!("look `{name}`: file {} not found", full.display()))
            })?;
            let def: mock_looker::LookDef = from_yaml(&full, &text)?;
            let value = serde_json::to_value(&def)
                .map_err(|e| invalid(format!("look `{name}`: {}: {e}", full.display())))?;
            mock_looker::Look::from_def(def)
                .map_err(|e| invalid(format!("look `{name}`: {}: {e}", full.display())))?;
            look.looker_def = Some(value);
        }
        if let Some(file) = look.file.clone() {
            let dir = path.parent().unwrap_or(Path::new(""));
            let full = dir.join(&file);
            let text = read(&full).ok_or_else(|| {
                invalid(format!("look `{name}`: file {} not found", full.display()))
            })?;
            let mut loaded: LookSpec = from_yaml(&full, &text)?;
            if loaded.file.is_some() || loaded.fields.is_none() {
                return Err(invalid(format!(
                    "look `{name}`: {} must be an inline Look with `fields`",
                    full.display()
                )));
            }
            loaded.file = Some(file);
            *look = loaded;
        }
    }
    for (i, step) in scenario.steps.iter().enumerate() {
        if let Step::Send(send) = step {
            match &send.look {
                Some(look) if !scenario.looks.contains_key(look) => {
                    return Err(invalid(format!(
                        "step {} (send): look `{look}` is not defined under `looks` (defined: {})",
                        i + 1,
                        scenario
                            .looks
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                None if scenario.looks.len() != 1 => {
                    return Err(invalid(format!(
                        "step {} (send): say which look to send (`look:`); {} are defined",
                        i + 1,
                        scenario.looks.len()
                    )));
                }
                _ => {}
            }
        }
        if let Step::Raw(raw) = step
            && raw.body.is_some()
            && raw.body_text.is_some()
        {
            return Err(invalid(format!(
                "step {} (raw): give `body` or `body_text`, not both",
                i + 1
            )));
        }
    }
    let needs_writeback = scenario.steps.iter().position(|s| {
        matches!(
            s,
            Step::Login(_) | Step::Revoke(_) | Step::SetState(_) | Step::ExpectWriteback(_)
        )
    });
    if !scenario.hub.writeback {
        if let Some(i) = needs_writeback {
            return Err(invalid(format!(
                "step {} ({}) needs the write-back hub: add `hub: {{writeback: true}}`",
                i + 1,
                scenario.steps[i].label()
            )));
        }
        if scenario
            .expect
            .as_ref()
            .is_some_and(|e| e.writeback.is_some())
        {
            return Err(invalid(
                "`expect.writeback` needs the write-back hub: add `hub: {writeback: true}`".into(),
            ));
        }
    } else if scenario.hub.url.is_some() {
        return Err(invalid(
            "`hub.writeback` runs the in-process hub and reads its database; it cannot be combined with `hub.url`".into(),
        ));
    }
    validate_tree(&scenario).map_err(invalid)?;
    Ok(scenario)
}

/// Name a scenario from its path relative to the root: `identify/01_user_id.yaml` →
/// `identify/01_user_id`.
pub fn name_from_path(rel: &Path) -> String {
    let s = rel.with_extension("").to_string_lossy().replace('\\', "/");
    s.trim_start_matches("./").to_string()
}
