//! `GET /`: the page a person sees when they open the hub in a browser: what it is, its
//! actions, and how to add it to Looker. Looker itself never reads it (it lists the actions
//! with `POST /`, and `GET /status` answers JSON).

use serde_json::Value;
use serving::page::esc;

use crate::actions::{Registry, action_json};

/// The page of a hub labelled `label`, served at `base_url`.
pub(crate) fn index(label: &str, base_url: &str, registry: &Registry) -> String {
    let mut rows = String::new();
    for a in registry.all() {
        let d = a.definition();
        let listed = action_json(a.as_ref(), base_url, None);
        let strings = |key: &str| -> String {
            let list: Vec<String> = listed
                .get(key)
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(Value::as_str)
                        .map(|s| format!("<code>{}</code>", esc(s)))
                        .collect()
                })
                .unwrap_or_default();
            if list.is_empty() {
                "<span class=\"muted\">any</span>".into()
            } else {
                list.join(", ")
            }
        };
        let params: Vec<String> = d
            .params
            .iter()
            .map(|p| {
                format!(
                    "<code>{}</code> {}{}",
                    esc(p.name),
                    esc(p.label),
                    if p.required { " (required)" } else { "" }
                )
            })
            .collect();
        let required = if d.required_fields.as_array().is_some_and(|a| !a.is_empty()) {
            format!("<code>{}</code>", esc(&d.required_fields.to_string()))
        } else {
            "<span class=\"muted\">none</span>".into()
        };
        rows.push_str(&format!(
            "<tr><td><b>{}</b><br><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(d.label),
            esc(d.name),
            esc(d.description),
            strings("supported_action_types"),
            strings("supported_formats"),
            strings("supported_download_settings"),
            if params.is_empty() {
                "<span class=\"muted\">none</span>".into()
            } else {
                params.join("<br>")
            },
            required
        ));
    }
    let body = format!(
        "<p>A Looker Action Hub (the Looker Action API). Its RudderStack actions turn each row of a \
         Look into an event sent to a RudderStack data plane (<code>/v1/batch</code>); its \
         write-back actions record decisions on orders for a user who logged in through OAuth.</p>\n\
         <h2>Add it to Looker</h2>\n<ol>\n\
         <li>In Looker, open <b>Admin → Platform → Actions</b> and choose <b>Add Action Hub</b>.</li>\n\
         <li>URL: <code>{base}</code></li>\n\
         <li>Authorization token: print one with <code>action-hub token --secret &lt;the hub's secret&gt;</code> \
         (or use the static <code>--token</code> the hub was started with).</li>\n\
         <li>Enable each action and fill its settings (for RudderStack: the source's write key and the \
         data plane URL). A Look's Send dialog then offers the actions whose required fields the Look has.</li>\n\
         </ol>\n<p>With the mock Looker, register it on its console (<code>/</code> of the mock) or with \
         <code>POST /_mock/hubs</code> <code>{{\"url\": \"{base}\", \"token\": \"…\"}}</code>. Machine-readable: \
         <a href=\"/status\"><code>/status</code></a> (JSON); the action list is <code>POST /</code> with the token.</p>\n\
         <h2>Actions</h2>\n<table><thead><tr><th scope=\"col\">Action</th><th scope=\"col\">What it does</th>\
         <th scope=\"col\">Types</th><th scope=\"col\">Formats</th><th scope=\"col\">Download</th>\
         <th scope=\"col\">Settings</th><th scope=\"col\">Required fields</th></tr></thead><tbody>\n{rows}</tbody></table>\n",
        base = esc(base_url),
    );
    serving::page::document(label, &[], "", &body)
}
