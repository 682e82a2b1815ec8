//! The page a person opens at `/` with a browser (`Accept: text/html`): events arriving live
//! through `/_mock/stream`, per-source counts and duplicates (`/_mock/stats`), the request
//! journal (`/_mock/requests`) and a faults panel (`/_mock/faults`). API clients asking `/`
//! for anything else still get the gateway's health JSON.
//!
//! The page is static HTML with a hand-written script, embedded in the binary: nothing to
//! build, nothing fetched from elsewhere. Its buttons call the control API, whose
//! same-origin and JSON-only rules (`crate::cors`) apply to it as to any client.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

/// Whether the client prefers HTML: a browser navigating (`Accept: text/html,…`). SDKs, curl
/// and health checks send `*/*`, JSON or nothing, and keep the gateway's answer.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/html"))
        })
}

/// The page.
pub(crate) fn page() -> Response {
    let html = serving::page::document("Mock data plane", &[], "", BODY);
    let mut resp = Response::new(Body::from(html));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The same URL answers JSON to API clients.
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

const BODY: &str = r#"<p>A mock RudderStack data plane (the gateway): it answers SDKs and Action Hubs as rudder-server does and keeps every event it acknowledged. The JSON API is under <a href="/_mock/events"><code>/_mock/</code></a>.</p>
<section aria-labelledby="faults-title" class="card">
<h2 id="faults-title">Faults</h2>
<p class="hint">Each button adds a rule for the next requests to the gateway (<code>/v1/…</code>); a hub should retry the temporary ones.</p>
<div role="group" aria-label="Add a fault">
<button type="button" data-fault='{"times":2,"action":{"status":503}}'>503 ×2</button>
<button type="button" data-fault='{"times":1,"action":{"status":429,"body":"max requests limit reached\n"}}'>429 once</button>
<button type="button" data-fault='{"times":1,"action":{"fault":"CONNECTION_RESET_BY_PEER"}}'>Connection reset once</button>
<button type="button" data-fault='{"times":1,"action":{"delay":{"kind":"fixed","ms":2000}}}'>Delay 2 s once</button>
<button type="button" data-fault='{"times":1,"action":{"status":401,"body":"invalid write key\n"}}'>Invalid write key once</button>
<button type="button" id="clear-faults" class="danger">Clear faults</button>
</div>
<p id="fault-result" role="status" aria-live="polite"></p>
<table><caption class="muted">Rules</caption><thead><tr><th scope="col">Id</th><th scope="col">Rule</th><th scope="col">Matched</th><th scope="col">Fired</th><th scope="col">Active</th></tr></thead><tbody id="faults"></tbody></table>
</section>
<section aria-labelledby="stats-title">
<h2 id="stats-title">Counts</h2>
<div id="stats"><p class="muted">Loading…</p></div>
</section>
<section aria-labelledby="events-title">
<h2 id="events-title">Events <span class="muted" id="stream-state">(connecting…)</span></h2>
<form id="filters" class="row" role="search" onsubmit="return false">
<div><label for="f-type">Type</label><select id="f-type"><option value="">any</option><option value="identify">identify</option><option value="track">track</option><option value="page">page</option><option value="screen">screen</option><option value="group">group</option><option value="alias">alias</option><option value="webhook">webhook</option></select></div>
<div><label for="f-user">userId</label><input type="text" id="f-user"></div>
<div><label for="f-event">Event name</label><input type="text" id="f-event"></div>
</form>
<p class="hint" id="events-count"></p>
<div id="events" aria-live="off"></div>
</section>
<section aria-labelledby="requests-title">
<h2 id="requests-title">Request journal <span class="muted">(newest first, last 50)</span></h2>
<div id="requests"><p class="muted">Loading…</p></div>
</section>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function table(head, rows) {
  const t = el('table');
  const tr = el('tr');
  for (const h of head) tr.append(el('th', {scope: 'col'}, h));
  const thead = el('thead'); thead.append(tr);
  const tbody = el('tbody');
  for (const r of rows) { const row = el('tr'); for (const c of r) row.append(el('td', {}, c === undefined || c === null ? '' : String(c))); tbody.append(row); }
  t.append(thead, tbody);
  return t;
}
const MAX_EVENTS = 1000;
const events = [];
function matches(ev) {
  const t = $('f-type').value, u = $('f-user').value.trim(), n = $('f-event').value.trim().toLowerCase();
  if (t && ev.type !== t) return false;
  if (u && String(ev.userId ?? '') !== u) return false;
  if (n && !String(ev.event ?? '').toLowerCase().includes(n)) return false;
  return true;
}
function eventItem(rec) {
  const ev = rec.event || {};
  const d = el('details', {class: 'card event', 'data-type': ev.type || ''});
  const s = el('summary');
  s.append(el('b', {}, ev.type || '?'), ' ');
  s.append('userId ', el('code', {class: 'user-id'}, ev.userId === undefined ? '—' : JSON.stringify(ev.userId)));
  if (ev.event !== undefined) s.append(' event ', el('code', {}, JSON.stringify(ev.event)));
  s.append(' ', el('span', {class: 'muted'}, '#' + rec.cursor + ' ' + (ev.receivedAt || '') + ' source ' + (rec.source_id || '')));
  d.append(s, el('pre', {}, JSON.stringify(ev, null, 2)));
  return d;
}
function render() {
  const box = $('events');
  box.replaceChildren();
  let shown = 0;
  for (let i = events.length - 1; i >= 0; i--) if (matches(events[i].event || {})) { box.append(eventItem(events[i])); shown++; }
  $('events-count').textContent = shown + ' of ' + events.length + ' events received on this page shown, newest first.';
}
function add(rec) {
  events.push(rec);
  if (events.length > MAX_EVENTS) events.shift();
  if (matches(rec.event || {})) {
    $('events').prepend(eventItem(rec));
    while ($('events').childElementCount > MAX_EVENTS) $('events').lastChild.remove();
  }
  $('events-count').textContent = 'Newest first; ' + events.length + ' events received on this page.';
  soon();
}
for (const id of ['f-type', 'f-user', 'f-event']) for (const ev of ['input', 'change']) $(id).addEventListener(ev, render);
const stream = new EventSource('/_mock/stream');
stream.addEventListener('open', () => { $('stream-state').textContent = '(live)'; });
stream.addEventListener('error', () => { $('stream-state').textContent = '(reconnecting…)'; });
stream.addEventListener('event', (e) => { try { add(JSON.parse(e.data)); } catch (_) {} });
stream.addEventListener('end', (e) => { $('stream-state').textContent = '(the server ended the stream; reconnecting)'; });
async function getJson(path) { const r = await fetch(path, {headers: {accept: 'application/json'}}); if (!r.ok) throw new Error(path + ': HTTP ' + r.status); return r.json(); }
async function refreshStats() {
  const s = await getJson('/_mock/stats');
  const box = $('stats'); box.replaceChildren();
  box.append(el('p', {}, s.total + ' events stored; ' + s.duplicate_events + ' duplicate events (same messageId stored again, e.g. a retried batch).'));
  const types = Object.keys(s.by_type).sort();
  const rows = Object.entries(s.by_source).map(([src, byType]) => [src].concat(types.map((t) => byType[t] || 0)));
  box.append(table(['Source'].concat(types), rows));
  if (s.duplicate_message_ids.length) box.append(table(['Duplicated messageId', 'Stored'], s.duplicate_message_ids.slice(0, 50).map((d) => [d.messageId, d.count])));
}
async function refreshRequests() {
  const j = await getJson('/_mock/requests?last=50');
  const rows = j.requests.slice().reverse().map((r) => [r.time, r.method + ' ' + r.path, r.status, r.event_count, r.fault || '', r.detail || r.response || '', r.duration_ms.toFixed(1) + ' ms']);
  $('requests').replaceChildren(rows.length ? table(['Time', 'Request', 'Status', 'Events', 'Fault', 'Answer', 'Duration'], rows) : el('p', {class: 'muted'}, 'No request yet.'));
}
async function refreshFaults() {
  const f = await getJson('/_mock/faults');
  const tb = $('faults');
  tb.replaceChildren();
  for (const r of f.faults) {
    const {id, matched, fired, active, ...rule} = r;
    const tr = el('tr');
    for (const c of [id, JSON.stringify(rule), matched, fired, active ? 'yes' : 'no']) tr.append(el('td', {}, String(c)));
    tb.append(tr);
  }
  if (!f.faults.length) { const tr = el('tr'); tr.append(el('td', {colspan: '5', class: 'muted'}, 'No fault rule.')); tb.append(tr); }
}
async function refresh() {
  for (const f of [refreshStats, refreshRequests, refreshFaults]) { try { await f(); } catch (e) { console.warn(e); } }
}
let timer = null;
function soon() { if (!timer) timer = setTimeout(() => { timer = null; refresh(); }, 500); }
async function control(method, path, body) {
  const out = $('fault-result');
  try {
    const init = {method, headers: {}};
    if (body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = body; }
    const r = await fetch(path, init);
    const v = await r.json().catch(() => ({}));
    if (!r.ok) { out.className = 'bad'; out.textContent = v.error || ('HTTP ' + r.status); return; }
    out.className = 'ok';
    out.textContent = method === 'DELETE' ? 'Every fault rule removed.' : ('Fault rule ' + v.id + ' added.');
  } catch (e) { out.className = 'bad'; out.textContent = 'The request failed: ' + e; }
  refresh();
}
for (const b of document.querySelectorAll('[data-fault]')) b.addEventListener('click', () => control('POST', '/_mock/faults', b.dataset.fault));
$('clear-faults').addEventListener('click', () => control('DELETE', '/_mock/faults'));
refresh();
setInterval(refresh, 2000);
</script>
"#;
