//! `GET /`: the Looks and the hubs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use serving::page::esc;

use crate::action::Action;
use crate::core::{Core, Hub};
use crate::look::{Category, CellData, Generator, Look};

/// Rows shown of each Look.
const PREVIEW_ROWS: usize = 5;

pub(super) async fn page(State(core): State<Arc<Core>>) -> Html<String> {
    let looks = core.looks();
    let hubs = core.hubs();
    let mut b = String::new();
    b.push_str(
        "<p>A mock Looker instance: it sends Looks to Action Hubs exactly as Looker does and \
         reports every place a hub breaks the Action API. Register a hub below, then \
         <a href=\"/console/send\">send a Look</a> and follow the exchange in the \
         <a href=\"/console/journal\">journal</a>.</p>\n",
    );
    b.push_str("<h2 id=\"hubs\">Hubs</h2>\n");
    if hubs.is_empty() {
        b.push_str("<p class=\"muted\">No hub is registered yet.</p>\n");
    }
    for hub in &hubs {
        hub_section(&mut b, &core, hub, &looks);
    }
    b.push_str(REGISTER_FORM);
    b.push_str("<h2 id=\"looks\">Looks</h2>\n");
    for look in &looks {
        look_section(&mut b, look);
    }
    super::document("Mock Looker console", "/", &b)
}

/// The register form; its script posts JSON to `/_mock/hubs` and reloads the page.
const REGISTER_FORM: &str = r#"<section class="card" aria-labelledby="register-title">
<h3 id="register-title">Register a hub</h3>
<form id="register">
<label for="hub-url">Hub URL</label>
<input type="url" id="hub-url" name="url" required placeholder="http://127.0.0.1:8080">
<label for="hub-token">Authorization token</label>
<input type="password" id="hub-token" name="token" autocomplete="off">
<div><button type="submit" class="primary">Register</button></div>
<p id="register-result" role="status" aria-live="polite"></p>
</form>
<script>
document.getElementById('register').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const out = document.getElementById('register-result');
  out.textContent = 'Registering…';
  const body = {url: document.getElementById('hub-url').value};
  const token = document.getElementById('hub-token').value;
  if (token) body.token = token;
  try {
    const r = await fetch('/_mock/hubs', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
    const v = await r.json();
    if (!r.ok) { out.className = 'bad'; out.textContent = v.message || ('HTTP ' + r.status); return; }
    out.className = v.fetch_error ? 'bad' : 'ok';
    out.textContent = v.fetch_error ? ('Registered, but listing its actions failed: ' + v.fetch_error) : ('Registered as hub ' + v.id + ' with ' + v.actions.length + ' actions.');
    setTimeout(() => location.reload(), 800);
  } catch (e) { out.className = 'bad'; out.textContent = 'The request failed: ' + e; }
});
</script>
</section>
"#;

fn hub_section(b: &mut String, core: &Core, hub: &Hub, looks: &[Look]) {
    let _ = writeln!(
        b,
        "<section class=\"card\" id=\"hub-{}\"><h3>{} <span class=\"muted\">(hub {}, <code>{}</code>)</span></h3>",
        esc(&hub.id),
        esc(hub.label.as_deref().unwrap_or("(no label)")),
        esc(&hub.id),
        esc(&hub.url)
    );
    let _ = writeln!(
        b,
        "<p>Token: {}. Looker version claimed: {}.</p>",
        if hub.has_authorization_token {
            "set (not shown)"
        } else {
            "none"
        },
        esc(hub.looker_version.as_deref().unwrap_or("the default"))
    );
    if let Some(e) = &hub.fetch_error {
        let _ = writeln!(
            b,
            "<p class=\"bad\">Listing its actions failed: {}</p>",
            esc(e)
        );
    }
    if !hub.breaches.is_empty() {
        let _ = writeln!(
            b,
            "<p class=\"bad\">{} contract breaches in its action list:</p>",
            hub.breaches.len()
        );
        breach_table(b, &hub.breaches);
    }
    b.push_str(
        "<table><thead><tr><th scope=\"col\">Action</th><th scope=\"col\">Types</th>\
         <th scope=\"col\">Formats</th><th scope=\"col\">Download</th><th scope=\"col\">Params</th>\
         <th scope=\"col\">Required fields</th><th scope=\"col\">Offered for</th></tr></thead><tbody>\n",
    );
    for a in &hub.actions {
        action_row(b, core, hub, a, looks);
    }
    b.push_str("</tbody></table></section>\n");
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "<span class=\"muted\">any</span>".into();
    }
    items
        .iter()
        .map(|s| format!("<code>{}</code>", esc(s)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn action_row(b: &mut String, core: &Core, hub: &Hub, a: &Action, looks: &[Look]) {
    let configured = hub.settings.get(&a.name);
    let params: Vec<String> = a
        .params
        .iter()
        .map(|p| {
            let set = configured.is_some_and(|s| s.params.contains_key(&p.name));
            format!(
                "<code>{}</code> {}{}{}{}",
                esc(&p.name),
                esc(p.label.as_deref().unwrap_or("")),
                if p.required { " (required)" } else { "" },
                if p.sensitive { " (sensitive)" } else { "" },
                if set {
                    " <span class=\"ok\">set</span>"
                } else {
                    ""
                }
            )
        })
        .collect();
    let required: Vec<String> = a
        .required_fields
        .iter()
        .map(|r| esc(&r.describe()))
        .collect();
    let mut offered = String::new();
    let mut yes = Vec::new();
    let mut no = Vec::new();
    for look in looks {
        let title = format!("{} ({})", look.title(), look.id().unwrap_or("?"));
        match core.offer(&hub.id, &a.name, look, &BTreeMap::new()) {
            Ok(()) => yes.push(esc(&title)),
            Err(e) => no.push(format!("<li>{}: {}</li>", esc(&title), esc(&e.to_string()))),
        }
    }
    let _ = write!(
        offered,
        "{}",
        if yes.is_empty() {
            "<span class=\"muted\">no Look</span>".to_owned()
        } else {
            yes.join(", ")
        }
    );
    if !no.is_empty() {
        let _ = write!(
            offered,
            "<details><summary>Not offered for {} Looks: why</summary><ul>{}</ul></details>",
            no.len(),
            no.concat()
        );
    }
    let _ = writeln!(
        b,
        "<tr><td><b>{}</b><br><code>{}</code>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(&a.label),
        esc(&a.name),
        if a.uses_oauth { "<br>uses OAuth" } else { "" },
        a.description
            .as_deref()
            .map(|d| format!("<br><span class=\"muted\">{}</span>", esc(d)))
            .unwrap_or_default(),
        list(&a.supported_action_types),
        list(&a.supported_formats),
        list(&a.supported_download_settings),
        if params.is_empty() {
            "<span class=\"muted\">none</span>".into()
        } else {
            params.join("<br>")
        },
        if required.is_empty() {
            "<span class=\"muted\">none</span>".into()
        } else {
            required.join("<br>")
        },
        offered
    );
}

/// A table of contract breaches (rule, JSON path, detail).
pub(super) fn breach_table(b: &mut String, breaches: &[crate::contract::Breach]) {
    b.push_str(
        "<table><thead><tr><th scope=\"col\">Rule</th><th scope=\"col\">JSON path</th>\
         <th scope=\"col\">Detail</th><th scope=\"col\">Request</th></tr></thead><tbody>",
    );
    for br in breaches {
        let _ = write!(
            b,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&br.rule),
            esc(&br.json_path),
            esc(&br.detail),
            esc(&br.request)
        );
    }
    b.push_str("</tbody></table>\n");
}

fn generator_text(g: &Generator) -> String {
    serde_json::to_string(g).unwrap_or_default()
}

fn look_section(b: &mut String, look: &Look) {
    let def = look.def();
    let id = look.id().unwrap_or("?");
    let _ = writeln!(
        b,
        "<section class=\"card\" id=\"look-{}\"><h3>{} <span class=\"muted\">(Look {})</span></h3>",
        esc(id),
        esc(look.title()),
        esc(id)
    );
    let _ = write!(
        b,
        "<p>Model <code>{}</code>, explore <code>{}</code>, {} rows.",
        esc(&def.model),
        esc(&def.explore),
        look.row_count()
    );
    if let Some(g) = &def.generate {
        let _ = write!(
            b,
            " <b>Generated</b>: {} rows from seed {} (each field's generator below).",
            g.rows, g.seed
        );
    }
    b.push_str("</p>\n");
    if let Some(d) = &def.description {
        let _ = writeln!(b, "<p class=\"muted\">{}</p>", esc(d));
    }
    b.push_str(
        "<table><caption class=\"muted\">Fields</caption><thead><tr><th scope=\"col\">Field</th>\
         <th scope=\"col\">Label</th><th scope=\"col\">Kind</th><th scope=\"col\">Tags</th>",
    );
    let generated = def.generate.is_some();
    if generated {
        b.push_str("<th scope=\"col\">Generator</th>");
    }
    b.push_str("</tr></thead><tbody>");
    let hidden = look.hidden_fields();
    for c in look.columns() {
        let kind = match c.category {
            Category::Dimension => "dimension",
            Category::Measure => "measure",
            Category::TableCalculation => "table calculation",
        };
        let tags: String = c
            .def
            .tags
            .iter()
            .map(|t| format!("<span class=\"tag\">{}</span>", esc(t)))
            .collect();
        let _ = write!(
            b,
            "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}{}</td><td>{}</td>",
            esc(&c.def.name),
            if hidden.contains(&c.def.name) {
                " <span class=\"muted\">(hidden)</span>"
            } else {
                ""
            },
            esc(&c.label),
            kind,
            if c.pivoted { ", pivoted" } else { "" },
            tags
        );
        if generated {
            let _ = write!(
                b,
                "<td><code>{}</code></td>",
                c.def
                    .generator
                    .as_ref()
                    .map(|g| esc(&generator_text(g)))
                    .unwrap_or_default()
            );
        }
        b.push_str("</tr>");
    }
    b.push_str("</tbody></table>\n");
    preview(b, look);
    b.push_str("</section>\n");
}

fn cell_text(cell: &crate::look::Cell) -> String {
    if let Some(r) = &cell.rendered {
        return r.clone();
    }
    let mut s = String::new();
    cell.value.to_text(&mut s);
    s
}

/// The first rows as a table (pivoted measures as `key: value` pairs).
fn preview(b: &mut String, look: &Look) {
    let _ = write!(
        b,
        "<table><caption class=\"muted\">First {} rows</caption><thead><tr>",
        PREVIEW_ROWS.min(look.row_count() as usize)
    );
    for c in look.columns() {
        let _ = write!(b, "<th scope=\"col\">{}</th>", esc(&c.label));
    }
    b.push_str("</tr></thead><tbody>");
    let pivots = look.pivots();
    let mut rows = look.rows();
    let mut n = 0;
    while n < PREVIEW_ROWS {
        let Some(row) = rows.next_row() else { break };
        b.push_str("<tr>");
        for data in row {
            let text = match data {
                CellData::Plain(c) => cell_text(c),
                CellData::Pivoted(cells) => cells
                    .iter()
                    .zip(pivots)
                    .map(|(c, p)| format!("{}: {}", p.key, cell_text(c)))
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            let _ = write!(b, "<td>{}</td>", esc(&text));
        }
        b.push_str("</tr>");
        n += 1;
    }
    b.push_str("</tbody></table>\n");
}
