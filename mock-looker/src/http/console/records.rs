//! `GET /console/journal` and `GET /console/activity`: what happened, as plain tables.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use serde_json::Value;
use serving::page::esc;

use crate::core::Core;

/// Journal entries shown, newest first (the API pages through all of them).
const JOURNAL_SHOWN: usize = 200;
/// Bodies longer than this are folded (closed `<details>`).
const FOLD_BYTES: usize = 2048;
/// Longer strings inside a JSON body (base64 icons, data URIs) are shortened on display.
const LONG_STRING: usize = 200;
/// System Activity events and jobs shown, newest first.
const ROWS_SHOWN: usize = 500;

pub(super) async fn journal(State(core): State<Arc<Core>>) -> Html<String> {
    let (entries, kept) = core.journal.newest(JOURNAL_SHOWN);
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<p>Every exchange with a hub, newest first ({} kept; the last {} shown). Tokens and \
         sensitive params are masked; JSON bodies are pretty-printed, long strings (icons) \
         shortened, and large bodies folded. The full record: \
         <a href=\"/_mock/journal\"><code>/_mock/journal</code></a>.</p>",
        kept,
        entries.len()
    );
    if entries.is_empty() {
        b.push_str("<p class=\"muted\">Nothing yet: register a hub or send a Look.</p>");
    }
    for e in &entries {
        let status = e
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "no answer".into());
        let good =
            e.failure.is_none() && e.breaches.is_empty() && e.status.is_some_and(|s| s < 400);
        let _ = writeln!(
            b,
            "<details class=\"card\" id=\"entry-{id}\"><summary><b>#{id}</b> {at} <b>{kind}</b> \
             <code>{method} {url}</code> → <span class=\"{cls}\">{status}</span> in {ms} ms{br}</summary>",
            id = e.id,
            at = esc(&e.at),
            kind = esc(&e.kind),
            method = esc(&e.method),
            url = esc(&e.url),
            cls = if good { "ok" } else { "bad" },
            ms = e.elapsed_ms,
            br = if e.breaches.is_empty() {
                String::new()
            } else {
                format!(", <span class=\"bad\">{} breaches</span>", e.breaches.len())
            }
        );
        if let Some(f) = &e.failure {
            let _ = writeln!(b, "<p class=\"bad\">Failure: {}</p>", esc(f));
        }
        if !e.breaches.is_empty() {
            super::overview::breach_table(&mut b, &e.breaches);
        }
        b.push_str("<h3>Request headers</h3><table><tbody>");
        for (k, v) in &e.request_headers {
            let _ = write!(
                b,
                "<tr><th scope=\"row\">{}</th><td><code>{}</code></td></tr>",
                esc(k),
                esc(v)
            );
        }
        b.push_str("</tbody></table>");
        body_block(&mut b, "Request body", &e.request_body, e.request_bytes);
        body_block(
            &mut b,
            "Answer body",
            &e.response_body,
            e.response_body.len() as u64,
        );
        if !e.oauth_links.is_empty() {
            b.push_str("<h3>OAuth links</h3><ul>");
            for l in &e.oauth_links {
                let _ = write!(b, "<li><code>{}</code></li>", esc(l));
            }
            b.push_str("</ul>");
        }
        b.push_str("</details>\n");
    }
    super::document("Journal", "/console/journal", &b)
}

/// A body: pretty JSON when it parses, the text otherwise; folded when large.
fn body_block(b: &mut String, title: &str, text: &str, bytes: u64) {
    if text.is_empty() {
        let _ = write!(b, "<h3>{title}</h3><p class=\"muted\">empty</p>");
        return;
    }
    let shown = pretty(text);
    if shown.len() > FOLD_BYTES {
        let _ = write!(
            b,
            "<details><summary><b>{title}</b> ({bytes} bytes: show)</summary><pre>{}</pre></details>",
            esc(&shown)
        );
    } else {
        let _ = write!(b, "<h3>{title}</h3><pre>{}</pre>", esc(&shown));
    }
}

/// Pretty-printed JSON with long strings shortened, or the text as it is.
fn pretty(text: &str) -> String {
    match serde_json::from_str::<Value>(text.trim_start()) {
        Ok(mut v) => {
            shorten(&mut v);
            serde_json::to_string_pretty(&v).unwrap_or_else(|_| text.to_owned())
        }
        Err(_) => text.to_owned(),
    }
}

fn shorten(v: &mut Value) {
    match v {
        Value::String(s) if s.len() > LONG_STRING => {
            let mut cut = 60;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            *s = format!("{}…[{} characters in all]", &s[..cut], s.chars().count());
        }
        Value::Array(a) => a.iter_mut().for_each(shorten),
        Value::Object(o) => o.values_mut().for_each(shorten),
        _ => {}
    }
}

pub(super) async fn activity(State(core): State<Arc<Core>>) -> Html<String> {
    let mut b = String::new();
    let events = core.activity.events();
    let _ = writeln!(
        b,
        "<p>What Looker records about itself (the <code>system__activity</code> model; also the \
         Looks 101–103 and <a href=\"/_mock/events\"><code>/_mock/events</code></a>).</p>\
         <h2 id=\"events\">Events ({} recorded, newest first)</h2>",
        events.len()
    );
    b.push_str(
        "<table><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Created (UTC)</th>\
         <th scope=\"col\">Name</th><th scope=\"col\">Category</th><th scope=\"col\">User</th>\
         <th scope=\"col\">API</th><th scope=\"col\">Attributes</th></tr></thead><tbody>",
    );
    for e in events.iter().rev().take(ROWS_SHOWN) {
        let attrs: Vec<String> = e
            .attributes
            .iter()
            .map(|(k, v)| format!("{}={}", esc(k), esc(v)))
            .collect();
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.id,
            esc(&e.created),
            esc(&e.name),
            esc(&e.category),
            esc(e.user_id.as_deref().unwrap_or("")),
            if e.is_api_call { "yes" } else { "no" },
            attrs.join("<br>")
        );
    }
    b.push_str("</tbody></table>\n");
    let plans = core.schedules.all();
    let _ = writeln!(b, "<h2 id=\"plans\">Scheduled plans ({})</h2>", plans.len());
    if plans.is_empty() {
        b.push_str(
            "<p class=\"muted\">None: create one with API 4.0 <code>POST /api/4.0/scheduled_plans</code>.</p>",
        );
    } else {
        b.push_str(
            "<table><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Name</th>\
             <th scope=\"col\">Look</th><th scope=\"col\">When</th><th scope=\"col\">Enabled</th>\
             <th scope=\"col\">Created</th><th scope=\"col\">Last run</th></tr></thead><tbody>",
        );
        for p in &plans {
            let w = &p.write;
            let when = match (&w.crontab, w.interval_seconds, w.run_once) {
                (Some(c), _, _) => format!("crontab {c}"),
                (_, Some(s), _) => format!("every {s} s"),
                (_, _, Some(true)) => "once".into(),
                _ => "—".into(),
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.id),
                esc(w.name.as_deref().unwrap_or("")),
                esc(w.look_id.as_deref().unwrap_or("")),
                esc(&when),
                if w.enabled.unwrap_or(true) {
                    "yes"
                } else {
                    "no"
                },
                esc(&p.created_at),
                esc(p.last_run_at.as_deref().unwrap_or("never"))
            );
        }
        b.push_str("</tbody></table>\n");
    }
    let jobs = core.schedules.jobs();
    let _ = writeln!(
        b,
        "<h2 id=\"jobs\">Jobs ({}, newest first)</h2>",
        jobs.len()
    );
    if jobs.is_empty() {
        b.push_str("<p class=\"muted\">No plan has run yet.</p>");
    } else {
        b.push_str(
            "<table><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Plan</th>\
             <th scope=\"col\">Destination</th><th scope=\"col\">Format</th><th scope=\"col\">Status</th>\
             <th scope=\"col\">Detail</th><th scope=\"col\">Created</th><th scope=\"col\">Runtime</th></tr></thead><tbody>",
        );
        for j in jobs.iter().rev().take(ROWS_SHOWN) {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&j.id),
                esc(&j.plan_name),
                esc(&j.plan_id),
                esc(&j.destination_type),
                esc(&j.format),
                if j.status == "success" { "ok" } else { "bad" },
                esc(&j.status),
                esc(j.status_detail.as_deref().unwrap_or("")),
                esc(&j.created_time),
                j.runtime_ms.map(|m| format!("{m} ms")).unwrap_or_default()
            );
        }
        b.push_str("</tbody></table>\n");
    }
    super::document("System Activity & schedules", "/console/activity", &b)
}
