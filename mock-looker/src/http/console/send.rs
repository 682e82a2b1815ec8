//! `GET /console/send`: send a Look to an action, as a person does in Looker's Send dialog,
//! and cell actions with the user who clicks (OAuth logins through the provider's page).
//!
//! The page carries what it needs as JSON (the actions with their params, never the value of a
//! sensitive one) and its script calls `POST /_mock/form` and `POST /_mock/send`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use serde_json::{Map, Value, json};
use serving::page::esc;

use crate::core::Core;
use crate::format::Format;

pub(super) async fn page(State(core): State<Arc<Core>>) -> Html<String> {
    let mut actions = Map::new();
    let mut action_options = String::new();
    for hub in core.hubs() {
        let hub_label = hub.label.clone().unwrap_or_else(|| hub.url.clone());
        for a in &hub.actions {
            let key = format!("{}|{}", hub.id, a.name);
            let configured = hub.settings.get(&a.name);
            let params: Vec<Value> = a
                .params
                .iter()
                .map(|p| {
                    let set = configured.and_then(|s| s.params.get(&p.name));
                    // Looker never shows a sensitive value back.
                    let shown = if p.sensitive { None } else { set };
                    json!({
                        "name": p.name,
                        "label": p.label,
                        "description": p.description,
                        "required": p.required,
                        "sensitive": p.sensitive,
                        "configured": set.is_some(),
                        "value": shown,
                    })
                })
                .collect();
            let formats: Vec<&str> = Format::ALL
                .iter()
                .map(|f| f.as_str())
                .filter(|f| {
                    a.supported_formats.is_empty()
                        || a.supported_formats.iter().any(|s| s.as_str() == *f)
                })
                .collect();
            actions.insert(
                key.clone(),
                json!({
                    "hub": hub.id,
                    "action": a.name,
                    "label": a.label,
                    "params": params,
                    "formats": formats,
                    "downloads": a.supported_download_settings,
                    "types": a.supported_action_types,
                    "has_form": a.form_url.is_some(),
                    "uses_oauth": a.uses_oauth,
                }),
            );
            action_options.push_str(&format!(
                "<option value=\"{}\">{} — {}</option>",
                esc(&key),
                esc(&a.label),
                esc(&hub_label)
            ));
        }
    }
    let look_options: String = core
        .looks()
        .iter()
        .map(|l| {
            let id = l.id().unwrap_or("?");
            format!(
                "<option value=\"{}\">{} (Look {})</option>",
                esc(id),
                esc(l.title()),
                esc(id)
            )
        })
        .collect();
    let mut users = vec!["1".to_owned()];
    users.extend(
        crate::http::oauth::DEFAULT_USERS
            .iter()
            .map(|u| (*u).to_owned()),
    );
    let user_options: String = users
        .iter()
        .map(|u| format!("<option value=\"{}\">{}</option>", esc(u), esc(u)))
        .collect();
    // `<` escaped so no text inside can close the script element.
    let data = json!({ "actions": actions })
        .to_string()
        .replace('<', "\\u003c");
    let body = format!(
        "{INTRO}<form id=\"send-form\" class=\"row\" novalidate>\n<div>\n<h2>What and where</h2>\n\
         <label for=\"look\">Look</label><select id=\"look\">{look_options}</select>\n\
         <label for=\"action\">Action</label><select id=\"action\">{action_options}</select>\n\
         <label for=\"user\">Looker user</label>\
         <p class=\"hint\" id=\"user-hint\">Whose saved state (OAuth login) the hub gets.</p>\
         <select id=\"user\" aria-describedby=\"user-hint\">{user_options}</select>\n\
         <label for=\"cell-value\">Clicked value (cell actions)</label>\
         <p class=\"hint\" id=\"cell-hint\">Empty: send the whole Look. A value: the action runs on that cell, as from the “…” menu of a value.</p>\
         <input type=\"text\" id=\"cell-value\" aria-describedby=\"cell-hint\">\n\
         <h2>Action settings (params)</h2><div id=\"params\"></div>\n\
         <h2>Delivery</h2>\
         <label for=\"format\">Format</label><select id=\"format\"></select>\n\
         <label for=\"download\">Data</label><select id=\"download\"></select>\n\
         </div>\n<div>\n<h2>The action's form</h2>\
         <p class=\"hint\">Fetched from the hub for the user and value above; an interactive field asks it again when changed.</p>\
         <button type=\"button\" id=\"load-form\">Load the form</button>\
         <div id=\"form-fields\"></div>\n\
         <h2>Send</h2><button type=\"submit\" id=\"send\" class=\"primary\">Send</button>\
         <div id=\"result\" role=\"status\" aria-live=\"polite\"></div>\n</div>\n</form>\n\
         <script type=\"application/json\" id=\"console-data\">{data}</script>\n<script>{SCRIPT}</script>\n"
    );
    super::document("Send a Look", "/console/send", &body)
}

const INTRO: &str = "<p>Pick a Look and an action, fill what the hub asks, and send: the mock \
    builds the request exactly as Looker would and judges the hub's answer against the Action \
    API. For a write-back action, pick the user and the clicked value, load the form and follow \
    its login link: the mock OAuth provider's sign-in page opens in a new tab; after “Allow”, \
    load the form again.</p>\n";

const SCRIPT: &str = r#"
'use strict';
const data = JSON.parse(document.getElementById('console-data').textContent);
const $ = (id) => document.getElementById(id);
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function current() { return data.actions[$('action').value]; }
async function post(path, body) {
  try {
    const r = await fetch(path, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
    const text = await r.text();
    let value = null;
    try { value = JSON.parse(text); } catch (_) {}
    if (!r.ok) return {ok: false, error: (value && (value.message || value.error)) || ('HTTP ' + r.status + ': ' + text)};
    return {ok: true, value};
  } catch (e) { return {ok: false, error: 'the request failed: ' + e}; }
}
function renderAction() {
  const a = current();
  $('params').replaceChildren();
  $('form-fields').replaceChildren();
  $('format').replaceChildren(el('option', {value: ''}, "the action's first supported format"));
  $('download').replaceChildren(el('option', {value: ''}, 'push if supported, else a download URL'));
  if (!a) { $('params').append(el('p', {class: 'muted'}, 'Register a hub first.')); return; }
  if (a.params.length === 0) $('params').append(el('p', {class: 'muted'}, 'This action has no params.'));
  for (const p of a.params) {
    const id = 'param-' + p.name;
    $('params').append(el('label', {for: id}, (p.label || p.name) + (p.required ? ' (required)' : '')));
    let hint = (p.description || '').trim();
    if (hint && !/[.!?]$/.test(hint)) hint += '.';
    if (p.configured) hint = (hint + ' Configured by the admin: leave empty to use that value.').trim();
    if (hint) $('params').append(el('p', {class: 'hint', id: id + '-hint'}, hint));
    const input = el('input', {type: p.sensitive ? 'password' : 'text', id, 'data-param': p.name, autocomplete: 'off', 'aria-describedby': hint ? id + '-hint' : null});
    if (p.value) input.value = p.value;
    $('params').append(input);
  }
  for (const f of a.formats) $('format').append(el('option', {value: f}, f));
  const downloads = a.downloads.length ? a.downloads : ['push', 'url'];
  for (const d of downloads) $('download').append(el('option', {value: d}, d === 'push' ? 'push (in the request)' : 'url (the hub downloads it)'));
  if (!a.has_form) $('form-fields').append(el('p', {class: 'muted'}, 'This action has no form.'));
}
function params() {
  const p = {};
  for (const i of document.querySelectorAll('[data-param]')) if (i.value) p[i.dataset.param] = i.value;
  return p;
}
function formValues() {
  const v = {};
  for (const i of document.querySelectorAll('[data-field]')) v[i.dataset.field] = i.value;
  return v;
}
async function loadForm(keep) {
  const a = current();
  if (!a) return;
  const out = $('form-fields');
  if (!a.has_form) { out.replaceChildren(el('p', {class: 'muted'}, 'This action has no form.')); return; }
  const kept = keep ? formValues() : {};
  out.replaceChildren(el('p', {}, 'Asking the hub for the form…'));
  const p = params();
  if ($('cell-value').value) p.value = $('cell-value').value;
  const r = await post('/_mock/form', {hub: a.hub, action: a.action, user: $('user').value, params: p, form_values: kept});
  out.replaceChildren();
  if (!r.ok) { out.append(el('p', {class: 'bad'}, r.error)); return; }
  const f = r.value;
  if (f.failure) out.append(el('p', {class: 'bad'}, 'The hub did not answer: ' + f.failure));
  if (f.error) out.append(el('p', {class: 'bad'}, 'The form is an error: ' + f.error));
  for (const field of f.fields) out.append(fieldInput(field, kept));
  if (f.fields.length === 0 && !f.error && !f.failure) out.append(el('p', {class: 'muted'}, 'The form has no fields.'));
  if (f.breaches && f.breaches.length) out.append(breaches(f.breaches, 'Contract breaches in the form'));
}
function fieldInput(field, kept) {
  const box = el('div');
  const type = field.type || 'string';
  const name = field.name || '';
  const id = 'field-' + name;
  const label = (field.label || name) + (field.required ? ' (required)' : '');
  if (type === 'oauth_link' || type === 'oauth_link_google') {
    const link = el('a', {href: field.oauth_url, target: '_blank', rel: 'noopener', id: 'oauth-link', class: 'oauth'}, field.label || 'Log in');
    box.append(el('p', {}, ''), el('p', {class: 'hint'}, (field.description || '') + ' After logging in, load the form again.'));
    box.firstChild.append(link);
    return box;
  }
  if (type === 'message') { box.append(el('p', {class: 'card', 'data-message': name}, field.value || field.label || '')); return box; }
  box.append(el('label', {for: id}, label));
  if (field.description) box.append(el('p', {class: 'hint', id: id + '-hint'}, field.description));
  let input;
  const attrs = {id, 'data-field': name, required: !!field.required, 'aria-describedby': field.description ? id + '-hint' : null};
  if (type === 'select') {
    input = el('select', attrs);
    if (!field.required || field.default === undefined) input.append(el('option', {value: ''}, '—'));
    for (const o of field.options || []) input.append(el('option', {value: o.name}, o.label || o.name));
  } else if (type === 'textarea') {
    input = el('textarea', attrs);
  } else {
    input = el('input', Object.assign({type: 'text'}, attrs));
  }
  const value = kept[name] !== undefined ? kept[name] : field.default;
  if (value !== undefined && value !== null) input.value = String(value);
  if (field.interactive) input.addEventListener('change', () => loadForm(true));
  box.append(input);
  return box;
}
function breaches(list, title) {
  const box = el('div');
  box.append(el('h3', {class: 'bad'}, title + ': ' + list.length));
  const t = el('table');
  const head = el('tr');
  for (const h of ['Rule', 'JSON path', 'Detail']) head.append(el('th', {scope: 'col'}, h));
  t.append(el('thead'), el('tbody'));
  t.firstChild.append(head);
  for (const b of list) {
    const tr = el('tr');
    tr.append(el('td', {}, b.rule), el('td', {}, b.json_path), el('td', {}, b.detail));
    t.lastChild.append(tr);
  }
  box.append(t);
  return box;
}
function ms(d) { return d ? (d.secs * 1000 + d.nanos / 1e6).toFixed(1) + ' ms' : '—'; }
async function send(ev) {
  ev.preventDefault();
  const a = current();
  const out = $('result');
  if (!a) return;
  out.replaceChildren(el('p', {}, 'Sending…'));
  const body = {hub: a.hub, action: a.action, look_id: $('look').value, user: $('user').value, params: params(), form_values: formValues()};
  if ($('cell-value').value) body.cell_value = $('cell-value').value;
  if ($('format').value) body.format = $('format').value;
  if ($('download').value) body.download = $('download').value;
  const r = await post('/_mock/send', body);
  out.replaceChildren();
  if (!r.ok) { out.append(el('p', {class: 'bad', id: 'result-error'}, 'Not sent: ' + r.error)); return; }
  const o = r.value;
  out.append(el('p', {class: o.success ? 'ok' : 'bad', id: 'result-status'}, o.success ? 'Success' : 'Failed'));
  const dl = el('table');
  const row = (k, v) => { const tr = el('tr'); tr.append(el('th', {scope: 'row'}, k), el('td', {}, v)); dl.append(tr); };
  row('Message', o.message || '—');
  row('HTTP status', o.http_status === null ? '—' : String(o.http_status));
  if (o.failure) row('Failure', o.failure);
  row('Sent', o.rows + ' rows as ' + o.format + ' (' + o.download + ')');
  row('Refresh the query', o.refresh_query ? 'yes' : 'no');
  row('Time', 'total ' + ms(o.timings.total) + ', until headers ' + ms(o.timings.until_headers) + ', form ' + ms(o.timings.form));
  row('Webhook id', o.webhook_id);
  out.append(dl);
  const errors = Object.entries(o.validation_errors || {});
  if (errors.length) {
    out.append(el('h3', {class: 'bad'}, 'Validation errors'));
    const ul = el('ul');
    for (const [k, v] of errors) ul.append(el('li', {}, k + ': ' + (typeof v === 'string' ? v : JSON.stringify(v))));
    out.append(ul);
  }
  if (o.breaches.length) out.append(breaches(o.breaches, 'Contract breaches'));
  const more = el('p');
  more.append(el('a', {href: '/console/journal'}, 'See the exchange in the journal'));
  out.append(more);
}
$('action').addEventListener('change', renderAction);
$('load-form').addEventListener('click', () => loadForm(false));
$('send-form').addEventListener('submit', send);
renderAction();
"#;
