//! The conformance report (`scenarios run --report FILE.md|FILE.html`): a document a user can
//! attach to a bug report against a hub. One row per area (list and auth, formats, version
//! gating, identify/track/group mapping, retries, truthfulness, idempotency), each pass, fail
//! with the classes, or skip with the reasons; every failure linked to its details: what was
//! sent, what arrived, what Looker was told. The header names the hub, the Looker version and
//! the time. The HTML is one self-contained file (inline style, no script, no external
//! resource), every text escaped with `html-escape`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::format::{LoadedScenario, Step};
use crate::outcome::{Report, Status};
use crate::report::by_class;
use crate::summary::{Group, Verdict, group};

/// The areas, in the order the report lists them.
pub const AREAS: [&str; 8] = [
    "list and auth",
    "formats",
    "version gating",
    "identify/track/group mapping",
    "retries",
    "truthfulness",
    "idempotency",
    "write-back",
];

/// The area a scenario belongs to, from its group folder and tags.
pub fn area(name: &str, tags: &[String]) -> &'static str {
    let has = |t: &str| tags.iter().any(|x| x == t);
    let group = name.split('/').next().unwrap_or("");
    if has("idempotency") || has("duplicates") {
        return "idempotency";
    }
    match group {
        "versions" => "version gating",
        "formats" => "formats",
        "bad_payloads" => "list and auth",
        "faults" | "loss" if has("retry") => "retries",
        "faults" | "loss" | "large" => "truthfulness",
        "writeback" => "write-back",
        _ => "identify/track/group mapping",
    }
}

/// Who was tested, with what, when.
#[derive(Debug, Clone)]
pub struct Meta {
    /// The hub's URL, or a description of the in-process reference hub.
    pub hub: String,
    /// The Looker version the mock Looker claims by default.
    pub looker_version: String,
    /// Where the events went.
    pub dataplane: String,
    /// When (UTC, RFC 3339).
    pub time: String,
    /// Runs per scenario (`--repeat`).
    pub repeat: usize,
}

/// The output format, from the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `.md`
    Markdown,
    /// `.html` / `.htm`
    Html,
}

impl Kind {
    /// From the file's extension; `None` for anything else.
    pub fn from_path(path: &std::path::Path) -> Option<Kind> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "md" | "markdown" => Some(Kind::Markdown),
            "html" | "htm" => Some(Kind::Html),
            _ => None,
        }
    }
}

/// Events shown per failure in the details.
const EVENTS_SHOWN: usize = 5;

struct Row<'a> {
    area: &'static str,
    groups: Vec<Group<'a>>,
}

impl Row<'_> {
    fn verdict(&self) -> &'static str {
        let v: Vec<Verdict> = self.groups.iter().map(Group::verdict).collect();
        if v.is_empty() {
            "no scenario"
        } else if v.contains(&Verdict::HarnessError) {
            "error"
        } else if v.contains(&Verdict::Failed) {
            "fail"
        } else if v.iter().all(|v| *v == Verdict::Skipped) {
            "skip"
        } else {
            "pass"
        }
    }

    fn summary(&self) -> String {
        let count = |v: Verdict| self.groups.iter().filter(|g| g.verdict() == v).count();
        let mut parts = vec![format!("{} passed", count(Verdict::Passed))];
        let failed = count(Verdict::Failed) + count(Verdict::HarnessError);
        if failed > 0 {
            parts.push(format!("{failed} failed ({})", by_class(&self.groups)));
        }
        let skipped = count(Verdict::Skipped);
        if skipped > 0 {
            let mut reasons: Vec<String> = self
                .groups
                .iter()
                .filter(|g| g.verdict() == Verdict::Skipped)
                .map(|g| skip_reason(g))
                .collect();
            reasons.dedup();
            parts.push(format!("{skipped} skipped: {}", reasons.join("; ")));
        }
        parts.join(", ")
    }
}

fn skip_reason(g: &Group<'_>) -> String {
    match &g.runs[0].status {
        Status::Skipped { reason } => reason.clone(),
        _ => String::new(),
    }
}

fn rows<'a>(reports: &'a [Report], scenarios: &[LoadedScenario]) -> Vec<Row<'a>> {
    let tags: BTreeMap<&str, &[String]> = scenarios
        .iter()
        .map(|s| (s.name.as_str(), s.scenario.tags.as_slice()))
        .collect();
    let mut rows: Vec<Row<'a>> = AREAS
        .iter()
        .map(|a| Row {
            area: a,
            groups: Vec::new(),
        })
        .collect();
    for g in group(reports) {
        let a = area(g.name, tags.get(g.name).copied().unwrap_or(&[]));
        if let Some(row) = rows.iter_mut().find(|r| r.area == a) {
            row.groups.push(g);
        }
    }
    rows
}

/// An anchor for a scenario's details.
fn anchor(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("f-{slug}")
}

/// What a failed scenario sent: one line per step that talks to the hub (parameter names
/// only: write keys are secrets), and the Looks' sizes.
fn sent(s: Option<&LoadedScenario>) -> Vec<String> {
    let Some(s) = s else {
        return vec!["(scenario not available)".into()];
    };
    let mut out = Vec::new();
    for (i, step) in s.scenario.steps.iter().enumerate() {
        let what = match step {
            Step::Send(x) => {
                let look = x
                    .look
                    .clone()
                    .or_else(|| s.scenario.looks.keys().next().cloned())
                    .unwrap_or_default();
                let rows = s.scenario.looks.get(&look).map(|l| match &l.generate {
                    Some(g) => g.rows as usize,
                    None => l.rows.len(),
                });
                format!(
                    "send `{}` to `{}`{}{}",
                    look,
                    x.action,
                    rows.map(|n| format!(", {n} row(s)")).unwrap_or_default(),
                    x.format
                        .as_deref()
                        .map(|f| format!(", format {f}"))
                        .unwrap_or_default()
                )
            }
            Step::Fault(rule) => format!("data plane fault {}", compact(rule)),
            other => other.label(),
        };
        out.push(format!("step {}: {what}", i + 1));
    }
    for rule in &s.scenario.dataplane.faults {
        out.push(format!(
            "data plane fault from the start: {}",
            compact(rule)
        ));
    }
    out
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

struct Detail {
    anchor: String,
    title: String,
    runs: String,
    sent: Vec<String>,
    told: Vec<String>,
    arrived: Vec<String>,
    failures: Vec<(String, String, Option<String>)>,
}

fn details(reports: &[Report], scenarios: &[LoadedScenario]) -> Vec<Detail> {
    let mut out = Vec::new();
    for g in group(reports) {
        let Some(r) = g.first_failure() else {
            continue;
        };
        let scenario = scenarios.iter().find(|s| s.name == g.name);
        let told = r
            .record
            .answers
            .iter()
            .map(|a| {
                format!(
                    "{}: HTTP {} {}",
                    a.get("step").and_then(Value::as_str).unwrap_or("?"),
                    a.get("http_status").map(compact).unwrap_or_default(),
                    a.get("body")
                        .or_else(|| a.get("actions"))
                        .map(compact)
                        .unwrap_or_default()
                )
            })
            .collect();
        let mut arrived: Vec<String> = r
            .record
            .events
            .iter()
            .take(EVENTS_SHOWN)
            .map(compact)
            .collect();
        if r.record.total_events > EVENTS_SHOWN {
            arrived.push(format!("… {} event(s) in all", r.record.total_events));
        } else if r.record.total_events == 0 {
            arrived.push("(no event)".into());
        }
        let failures = match &r.status {
            Status::Failed { failures } => failures
                .iter()
                .map(|f| {
                    (
                        f.class.to_string(),
                        format!("{}: {}", f.at, f.message),
                        f.diff.clone(),
                    )
                })
                .collect(),
            Status::HarnessError { error } => vec![("harness".into(), error.clone(), None)],
            _ => vec![],
        };
        out.push(Detail {
            anchor: anchor(g.name),
            title: format!("{} — {}", g.name, g.counts()),
            runs: if g.runs.len() > 1 {
                format!(
                    "{} of {} runs failed; the first failed run:",
                    g.failed(),
                    g.runs.len()
                )
            } else {
                String::new()
            },
            sent: sent(scenario),
            told,
            arrived,
            failures,
        });
    }
    out
}

fn totals(reports: &[Report]) -> String {
    let groups = group(reports);
    let count = |v: Verdict| groups.iter().filter(|g| g.verdict() == v).count();
    let classes = by_class(&groups);
    let runs = if reports.len() > groups.len() {
        let failed = reports.iter().filter(|r| !r.ok()).count();
        format!("; {} runs, {failed} failed", reports.len())
    } else {
        String::new()
    };
    format!(
        "{} scenarios: {} passed, {} failed{}, {} harness errors, {} skipped{runs}",
        groups.len(),
        count(Verdict::Passed),
        count(Verdict::Failed),
        if classes.is_empty() {
            String::new()
        } else {
            format!(" ({classes})")
        },
        count(Verdict::HarnessError),
        count(Verdict::Skipped)
    )
}

fn skipped_checks(reports: &[Report]) -> Vec<String> {
    group(reports)
        .iter()
        .flat_map(|g| {
            g.runs[0]
                .record
                .skipped_checks
                .iter()
                .map(|c| format!("{} {} `{}`: {}", g.name, c.at, c.what, c.reason))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The report in the format its file name asks for.
pub fn render(kind: Kind, reports: &[Report], scenarios: &[LoadedScenario], meta: &Meta) -> String {
    match kind {
        Kind::Markdown => markdown(reports, scenarios, meta),
        Kind::Html => html(reports, scenarios, meta),
    }
}

/// Markdown: table cells have `|` and line breaks escaped; diffs go in fenced blocks.
pub fn markdown(reports: &[Report], scenarios: &[LoadedScenario], meta: &Meta) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut s = String::from("# Action Hub conformance report\n\n");
    s.push_str(&format!("- Hub: {}\n", cell(&meta.hub)));
    s.push_str(&format!("- Looker: {}\n", cell(&meta.looker_version)));
    s.push_str(&format!("- Data plane: {}\n", cell(&meta.dataplane)));
    s.push_str(&format!("- Time: {}\n", meta.time));
    s.push_str(&format!("- Runs per scenario: {}\n", meta.repeat));
    s.push_str(&format!("- Result: {}\n\n", totals(reports)));
    s.push_str("| area | result | scenarios |\n|---|---|---|\n");
    for row in rows(reports, scenarios) {
        let failed: Vec<String> = row
            .groups
            .iter()
            .filter(|g| matches!(g.verdict(), Verdict::Failed | Verdict::HarnessError))
            .map(|g| format!("[{}](#{}) ({})", cell(g.name), anchor(g.name), g.counts()))
            .collect();
        let verdict = match row.verdict() {
            "fail" | "error" => format!("**{}** ({})", row.verdict(), by_class(&row.groups)),
            v => v.to_string(),
        };
        s.push_str(&format!(
            "| {} | {} | {}{} |\n",
            row.area,
            verdict,
            cell(&row.summary()),
            if failed.is_empty() {
                String::new()
            } else {
                format!(": {}", failed.join(", "))
            }
        ));
    }
    let details = details(reports, scenarios);
    if !details.is_empty() {
        s.push_str("\n## Failures\n");
    }
    for d in details {
        s.push_str(&format!(
            "\n### <a id=\"{}\"></a>{}\n\n",
            d.anchor,
            cell(&d.title)
        ));
        if !d.runs.is_empty() {
            s.push_str(&format!("{}\n\n", d.runs));
        }
        s.push_str("What failed:\n\n");
        for (class, msg, diff) in &d.failures {
            s.push_str(&format!("- **{class}** {}\n", cell(msg)));
            if let Some(diff) = diff {
                s.push_str(&fenced(diff, "  "));
            }
        }
        for (title, lines) in [
            ("What was sent", &d.sent),
            ("What Looker was told", &d.told),
            ("What arrived at the data plane", &d.arrived),
        ] {
            s.push_str(&format!("\n{title}:\n\n"));
            s.push_str(&fenced(&lines.join("\n"), ""));
        }
    }
    let checks = skipped_checks(reports);
    if !checks.is_empty() {
        s.push_str("\n## Reference checks not asked of this hub\n\n");
        for c in checks {
            s.push_str(&format!("- {}\n", cell(&c)));
        }
    }
    s
}

/// A fenced code block whose fence is longer than any backtick run inside.
fn fenced(text: &str, indent: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest.max(2) + 1);
    let mut s = format!("{indent}{fence}\n");
    for line in text.lines() {
        s.push_str(indent);
        s.push_str(line);
        s.push('\n');
    }
    s.push_str(&format!("{indent}{fence}\n"));
    s
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
.pass{color:#070}.fail,.error{color:#b00;font-weight:bold}.skip{color:#777}\
pre{background:#f5f5f5;padding:.5em;overflow-x:auto}";

/// HTML: one file, inline style, every text escaped.
pub fn html(reports: &[Report], scenarios: &[LoadedScenario], meta: &Meta) -> String {
    use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Action Hub conformance report</title><style>{STYLE}</style></head><body>\n<h1>Action Hub conformance report</h1>\n<ul>\n"
    );
    for (k, v) in [
        ("Hub", &meta.hub),
        ("Looker", &meta.looker_version),
        ("Data plane", &meta.dataplane),
        ("Time", &meta.time),
        ("Runs per scenario", &meta.repeat.to_string()),
        ("Result", &totals(reports)),
    ] {
        s.push_str(&format!("<li>{k}: {}</li>\n", text(v)));
    }
    s.push_str("</ul>\n<table><tr><th>area</th><th>result</th><th>scenarios</th></tr>\n");
    for row in rows(reports, scenarios) {
        let failed: Vec<String> = row
            .groups
            .iter()
            .filter(|g| matches!(g.verdict(), Verdict::Failed | Verdict::HarnessError))
            .map(|g| {
                format!(
                    "<a href=\"#{}\">{}</a> ({})",
                    attr(&anchor(g.name)),
                    text(g.name),
                    text(&g.counts())
                )
            })
            .collect();
        let v = row.verdict();
        let classes = by_class(&row.groups);
        s.push_str(&format!(
            "<tr><td>{}</td><td class=\"{}\">{}{}</td><td>{}{}</td></tr>\n",
            text(row.area),
            attr(v),
            text(v),
            if classes.is_empty() {
                String::new()
            } else {
                format!(" ({})", text(&classes))
            },
            text(&row.summary()),
            if failed.is_empty() {
                String::new()
            } else {
                format!(": {}", failed.join(", "))
            }
        ));
    }
    s.push_str("</table>\n");
    let details = details(reports, scenarios);
    if !details.is_empty() {
        s.push_str("<h2>Failures</h2>\n");
    }
    for d in details {
        s.push_str(&format!(
            "<h3 id=\"{}\">{}</h3>\n",
            attr(&d.anchor),
            text(&d.title)
        ));
        if !d.runs.is_empty() {
            s.push_str(&format!("<p>{}</p>\n", text(&d.runs)));
        }
        s.push_str("<p>What failed:</p><ul>\n");
        for (class, msg, diff) in &d.failures {
            s.push_str(&format!(
                "<li><b class=\"fail\">{}</b> {}",
                text(class),
                text(msg)
            ));
            if let Some(diff) = diff {
                s.push_str(&format!("<pre>{}</pre>", text(diff)));
            }
            s.push_str("</li>\n");
        }
        s.push_str("</ul>\n");
        for (title, lines) in [
            ("What was sent", &d.sent),
            ("What Looker was told", &d.told),
            ("What arrived at the data plane", &d.arrived),
        ] {
            s.push_str(&format!(
                "<p>{title}:</p><pre>{}</pre>\n",
                text(&lines.join("\n"))
            ));
        }
    }
    let checks = skipped_checks(reports);
    if !checks.is_empty() {
        s.push_str("<h2>Reference checks not asked of this hub</h2>\n<ul>\n");
        for c in checks {
            s.push_str(&format!("<li>{}</li>\n", text(&c)));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</body></html>\n");
    s
}
