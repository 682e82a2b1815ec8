//! Sending a Look to an action as Looker does, in the steps Looker takes: negotiate what the
//! action accepts, fetch its form, build the execute body (registering a download URL when
//! the data is fetched), run the exchange, judge the answer against the contract, and record
//! the journal entry, the per-user state and the System Activity event.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::exchange::Exchange;
use super::{
    Core, Download, DownloadEntry, Hub, JournalEntry, MockError, SendOutcome, SendRequest, Timings,
    integration_id, random_hex,
};
use crate::action::Action;
use crate::activity::EventInput;
use crate::clock::now_iso;
use crate::contract::{self, Breach, ExecuteAnswer, Judge};
use crate::format::file::{self, Content};
use crate::format::{Format, WriteOptions, write_json_str};
use crate::look::{Dashboard, Look};

/// What Looker settles with the action before sending: format, formatting and delivery.
struct Negotiated {
    format: Format,
    apply_formatting: bool,
    apply_vis: bool,
    download: Download,
}

/// The form step: the breaches of the form answers, the values sent as `form_params`, and
/// how long the fetches took (None when the action has no form).
struct FormStep {
    breaches: Vec<Breach>,
    values: BTreeMap<String, String>,
    time: Option<Duration>,
}

/// The execute request as built: what is sent, what the journal keeps (data masked), and
/// the ids needed after the exchange.
struct Execute {
    url: String,
    version: String,
    webhook_id: String,
    journal_body: String,
    download_token: Option<String>,
}

/// The judged answer of the execute.
struct Verdict {
    /// Breaches of the execute answer alone.
    breaches: Vec<Breach>,
    parsed: Option<Value>,
    answer: ExecuteAnswer,
    failure: Option<String>,
}

impl Core {
    /// Sends a Look to an action exactly as Looker does, and judges the answer.
    pub async fn send(&self, req: SendRequest) -> Result<SendOutcome, MockError> {
        let (h, a) = self.action_of(&req.hub, &req.action)?;
        let user = req.user_id.clone().unwrap_or_else(|| "1".into());
        let integration = integration_id(&h.id, &a.name);
        let params = Self::effective_params(&h, &a.name, &req.params);
        let deal = negotiate(&a, &req, &params)?;
        let FormStep {
            mut breaches,
            values: form_values,
            time: form_time,
        } = self.form_step(&h, &a, &req, &user).await?;
        let (execute, body) = self.build_execute(
            &h,
            &a,
            &req,
            &deal,
            &form_values,
            &integration,
            &user,
            &params,
        )?;
        let ex = self
            .exchange(
                &execute.url,
                h.token.as_deref(),
                &execute.version,
                &execute.webhook_id,
                body,
            )
            .await;
        let verdict = judge(&execute.url, &ex);
        self.store_state(&user, &integration, verdict.answer.state.clone());
        let download_fetches = execute
            .download_token
            .as_ref()
            .and_then(|t| self.lock().downloads.get(t).map(|d| d.fetches))
            .unwrap_or(0);
        breaches.extend(verdict.breaches.iter().cloned());
        self.record_execute(&h, &execute, &ex, &verdict, &req.look);
        let success = verdict.answer.success && verdict.failure.is_none();
        Ok(SendOutcome {
            webhook_id: execute.webhook_id,
            http_status: ex.status,
            body: verdict.parsed,
            success,
            message: verdict.answer.message,
            refresh_query: verdict.answer.refresh_query,
            validation_errors: verdict.answer.validation_errors,
            breaches,
            failure: verdict.failure,
            format: deal.format,
            download: deal.download,
            apply_formatting: deal.apply_formatting,
            apply_vis: deal.apply_vis,
            rows: req.content().row_count(),
            download_fetches,
            timings: Timings {
                total: ex.elapsed,
                until_headers: ex.until_headers,
                form: form_time,
            },
        })
    }

    /// Fetches the action's form (again with the values when the user set an interactive
    /// field, as Looker re-queries) and checks the values against it.
    async fn form_step(
        &self,
        h: &Hub,
        a: &Action,
        req: &SendRequest,
        user: &str,
    ) -> Result<FormStep, MockError> {
        let mut breaches = Vec::new();
        let mut form_values = req.form_values.clone();
        let mut form_time = None;
        // A cell action's form request carries the clicked value too (`data.value`).
        let mut form_data = req.params.clone();
        if let Some(v) = &req.cell_value {
            form_data.insert("value".into(), v.clone());
        }
        if a.form_url.is_some() {
            let start = Instant::now();
            let mut form = self
                .fetch_form(
                    &h.id,
                    &a.name,
                    &form_data,
                    &BTreeMap::new(),
                    user,
                    req.looker_version.as_deref(),
                )
                .await?;
            breaches.append(&mut form.breaches);
            let interactive_set = form.fields.iter().any(|f| {
                f.get("interactive").and_then(Value::as_bool) == Some(true)
                    && f.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| form_values.contains_key(n))
            });
            if interactive_set {
                // The user changed an interactive field: Looker re-queries with all values.
                form = self
                    .fetch_form(
                        &h.id,
                        &a.name,
                        &form_data,
                        &form_values,
                        user,
                        req.looker_version.as_deref(),
                    )
                    .await?;
                breaches.append(&mut form.breaches);
            }
            form_time = Some(start.elapsed());
            if let Err(reason) = Self::validate_form(&form, &mut form_values)
                && !req.force
            {
                return Err(MockError::FormRejected(reason));
            }
        }
        Ok(FormStep {
            breaches,
            values: form_values,
            time: form_time,
        })
    }

    /// Builds the execute request (pushed data streams inside `attachment.data`; a download
    /// URL is registered otherwise) and the masked copy the journal keeps.
    #[allow(clippy::too_many_arguments)]
    fn build_execute(
        &self,
        h: &Hub,
        a: &Action,
        req: &SendRequest,
        deal: &Negotiated,
        form_values: &BTreeMap<String, String>,
        integration: &str,
        user: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<(Execute, reqwest::Body), MockError> {
        let (mut data, mut masked_data) = self.data_object(a, integration, user, params);
        if let Some(v) = &req.cell_value {
            data.insert("value".into(), json!(v));
            masked_data.insert("value".into(), json!(v));
        }
        let version = self.version_for(h, req.looker_version.as_deref());
        let look = &req.look;
        let ran_at = look.def().ran_at.clone().unwrap_or_else(|| {
            chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S+00:00")
                .to_string()
        });
        let opts = WriteOptions {
            apply_formatting: deal.apply_formatting,
            apply_vis: deal.apply_vis,
        };
        let format = deal.format;
        let content = req.content();
        let download_token = (deal.download == Download::Url)
            .then(|| self.register_download(&content, format, opts, &ran_at));
        let download_url = download_token
            .as_ref()
            .map(|t| format!("{}/downloads/{t}", self.base_url));
        let plan = match &req.dashboard {
            Some(d) => self.dashboard_plan_json(req, d, download_url.as_deref()),
            None => self.plan_json(req, download_url.as_deref()),
        };
        let mut head = Vec::with_capacity(4096);
        head.extend_from_slice(if req.dashboard.is_some() {
            b"{\"type\":\"dashboard\",\"scheduled_plan\":"
        } else if req.cell_value.is_some() {
            b"{\"type\":\"cell\",\"scheduled_plan\":"
        } else {
            b"{\"type\":\"query\",\"scheduled_plan\":"
        });
        head.extend_from_slice(&serde_json::to_vec(&plan).expect("serialisable"));
        let tail_of = |data: &Map<String, Value>| {
            let mut t = Vec::new();
            t.extend_from_slice(b",\"data\":");
            t.extend_from_slice(&serde_json::to_vec(data).expect("serialisable"));
            t.extend_from_slice(b",\"form_params\":");
            t.extend_from_slice(&serde_json::to_vec(form_values).expect("serialisable"));
            t.push(b'}');
            t
        };
        let tail = tail_of(&data);
        let masked_tail = tail_of(&masked_data);
        let webhook_id = req
            .webhook_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let url = a.url.clone().unwrap_or_default();
        let (body, journal_body) = match deal.download {
            Download::Push => {
                let mut prefix = head.clone();
                prefix.extend_from_slice(b",\"attachment\":{\"mimetype\":");
                write_json_str(&mut prefix, &format.attachment_mimetype());
                prefix.extend_from_slice(b",\"extension\":");
                write_json_str(&mut prefix, format.extension());
                prefix.extend_from_slice(b",\"data\":\"");
                let mut suffix = b"\"}".to_vec();
                let jb = {
                    let mut j = prefix.clone();
                    j.extend_from_slice("[data streamed]\"}".as_bytes());
                    j.extend_from_slice(&masked_tail);
                    String::from_utf8_lossy(&j).into_owned()
                };
                suffix.extend_from_slice(&tail);
                let chunks = file::chunks(&content, format, opts, &ran_at, Some((prefix, suffix)))
                    .map_err(MockError::NotOffered)?;
                (chunks_body(chunks), jb)
            }
            Download::Url => {
                let mut b = head.clone();
                b.extend_from_slice(b",\"attachment\":null");
                let mut jb = b.clone();
                b.extend_from_slice(&tail);
                jb.extend_from_slice(&masked_tail);
                let once = futures::stream::iter([Ok::<Bytes, std::io::Error>(Bytes::from(b))]);
                (
                    reqwest::Body::wrap_stream(once),
                    String::from_utf8_lossy(&jb).into_owned(),
                )
            }
        };
        let execute = Execute {
            url,
            version,
            webhook_id,
            journal_body,
            download_token,
        };
        Ok((execute, body))
    }

    /// Registers a one-time download URL for the Look; its token.
    fn register_download(
        &self,
        content: &Content,
        format: Format,
        opts: WriteOptions,
        ran_at: &str,
    ) -> String {
        let token = random_hex(20);
        self.lock().downloads.insert(
            token.clone(),
            DownloadEntry {
                content: content.clone(),
                format,
                opts,
                ran_at: ran_at.to_owned(),
                created: Instant::now(),
                fetches: 0,
            },
        );
        token
    }

    /// `scheduled_plan` of the execute body.
    fn plan_json(&self, req: &SendRequest, download_url: Option<&str>) -> Value {
        let look = &req.look;
        let look_id = look.id().unwrap_or("0");
        let mut plan = Map::new();
        plan.insert("scheduled_plan_id".into(), json!(req.scheduled_plan_id));
        plan.insert("title".into(), json!(look.title()));
        plan.insert("type".into(), json!("Look"));
        plan.insert(
            "url".into(),
            json!(format!("{}/looks/{look_id}", self.base_url)),
        );
        plan.insert("query_id".into(), json!(look_id));
        plan.insert("query".into(), query_json(look, &self.base_url));
        plan.insert("filters_differ_from_look".into(), json!(false));
        if let Some(u) = download_url {
            plan.insert("download_url".into(), json!(u));
        }
        Value::Object(plan)
    }

    /// `scheduled_plan` of a dashboard's execute: `type: "Dashboard"`, no query.
    fn dashboard_plan_json(
        &self,
        req: &SendRequest,
        d: &Dashboard,
        download_url: Option<&str>,
    ) -> Value {
        let mut plan = Map::new();
        plan.insert("scheduled_plan_id".into(), json!(req.scheduled_plan_id));
        plan.insert("title".into(), json!(d.title));
        plan.insert("type".into(), json!("Dashboard"));
        plan.insert(
            "url".into(),
            json!(format!("{}/dashboards/{}", self.base_url, d.id)),
        );
        plan.insert("query_id".into(), Value::Null);
        plan.insert("query".into(), Value::Null);
        plan.insert("filters_differ_from_look".into(), json!(false));
        if let Some(u) = download_url {
            plan.insert("download_url".into(), json!(u));
        }
        Value::Object(plan)
    }

    /// Writes the execute's journal entry (tokens and data masked) and the `run_query` event.
    fn record_execute(
        &self,
        h: &Hub,
        execute: &Execute,
        ex: &Exchange,
        verdict: &Verdict,
        look: &Look,
    ) {
        self.journal.push(JournalEntry {
            id: 0,
            at: now_iso(),
            kind: "execute".into(),
            method: "POST".into(),
            url: execute.url.clone(),
            request_headers: {
                let mut hd =
                    self.masked_headers(h.token.as_deref(), &execute.version, &execute.webhook_id);
                hd.push(("Transfer-Encoding".into(), "chunked".into()));
                hd
            },
            request_body: self.journal.clip(execute.journal_body.as_bytes()),
            request_bytes: 0,
            status: ex.status,
            response_body: self.journal.clip(&ex.body),
            failure: verdict.failure.clone(),
            breaches: verdict.breaches.clone(),
            elapsed_ms: ex.elapsed.as_millis() as u64,
            oauth_links: Vec::new(),
        });
        self.activity.record(
            EventInput::new("run_query", "query")
                .attr("model", &look.def().model)
                .attr("view", &look.def().explore)
                .attr("look_id", look.id().unwrap_or("0"))
                .attr("status", "completed")
                .attr("dialect", "mock"),
        );
    }
}

/// Whether Looker would send this at all, and how: the offer rules (unless forced), then
/// format, formatting and delivery picked from what the action supports.
fn negotiate(
    a: &Action,
    req: &SendRequest,
    params: &BTreeMap<String, String>,
) -> Result<Negotiated, MockError> {
    let not_offered = |r: String| MockError::NotOffered(r);
    if req.dashboard.is_some() {
        if !req.force {
            a.offer_dashboard(params).map_err(not_offered)?;
        }
    } else if !req.force {
        match &req.cell_value {
            // Looker offers a cell action in the "…" menu of a value, not in Send.
            Some(_) if !a.supported_action_types.iter().any(|t| t == "cell") => {
                return Err(not_offered(format!(
                    "action {:?} is not a cell action: supported_action_types is {:?}",
                    a.name, a.supported_action_types
                )));
            }
            Some(_) => {}
            None => a.offer(&req.look, params).map_err(not_offered)?,
        }
    }
    let format = match &req.dashboard {
        Some(_) => pick_dashboard_format(a, req.format).map_err(not_offered)?,
        None => a.pick_format(req.format).map_err(not_offered)?,
    };
    if let Some(why) = file::refusal(&req.content(), format) {
        return Err(not_offered(why));
    }
    let apply_formatting = a
        .pick_flag(
            &a.supported_formattings,
            req.apply_formatting,
            "formatted",
            "unformatted",
            "formatting",
        )
        .map_err(not_offered)?;
    let apply_vis = a
        .pick_flag(
            &a.supported_visualization_formattings,
            req.apply_vis,
            "apply",
            "noapply",
            "visualization formatting",
        )
        .map_err(not_offered)?;
    let supports = |d: &str| {
        a.supported_download_settings.is_empty()
            || a.supported_download_settings.iter().any(|s| s == d)
    };
    let download = match req.download {
        Some(Download::Push) if !supports("push") && !req.force => {
            return Err(not_offered(format!(
                "action {:?} does not accept pushed data (supported_download_settings {:?})",
                a.name, a.supported_download_settings
            )));
        }
        Some(Download::Url) if !supports("url") && !req.force => {
            return Err(not_offered(format!(
                "action {:?} does not accept a download URL (supported_download_settings {:?})",
                a.name, a.supported_download_settings
            )));
        }
        Some(d) => d,
        None if supports("push") => Download::Push,
        None => Download::Url,
    };
    Ok(Negotiated {
        format,
        apply_formatting,
        apply_vis,
        download,
    })
}

/// Judges the execute answer against the Action API contract (a transport failure is a
/// breach of its own).
fn judge(url: &str, ex: &Exchange) -> Verdict {
    let request = format!("POST {url}");
    let mut judge = Judge::new(&request);
    let mut parsed = None;
    let mut answer = ExecuteAnswer::default();
    let failure = ex.failure.as_ref().map(|f| f.1.clone());
    if let Some((rule, msg)) = &ex.failure {
        judge.breach(&format!("execute.{rule}"), "$", msg.clone());
    } else if let Some(status) = ex.status {
        let (p, ans) = if contract::is_2xx(status) {
            contract::check_execute(&mut judge, &ex.body)
        } else {
            crate::failed_answer::execute(&mut judge, status, &ex.body)
        };
        parsed = p;
        answer = ans;
    }
    Verdict {
        breaches: judge.breaches,
        parsed,
        answer,
        failure,
    }
}

/// The format a dashboard is sent in: `wanted` if the action supports it, else the first of
/// the action's formats Looker renders dashboards in (`wysiwyg_pdf` when it lists none).
fn pick_dashboard_format(a: &Action, wanted: Option<Format>) -> Result<Format, String> {
    let dashboard_formats = Format::DASHBOARD.map(Format::as_str);
    let supports = |f: Format| {
        a.supported_formats.is_empty() || a.supported_formats.iter().any(|s| s == f.as_str())
    };
    match wanted {
        Some(f) if !Format::DASHBOARD.contains(&f) => Err(format!(
            "Looker sends a dashboard as one of {dashboard_formats:?}, not {f}"
        )),
        Some(f) if supports(f) => Ok(f),
        Some(f) => Err(format!(
            "action {:?} does not support format {f}: supported_formats is {:?}",
            a.name, a.supported_formats
        )),
        None if a.supported_formats.is_empty() => Ok(Format::WysiwygPdf),
        None => a
            .supported_formats
            .iter()
            .find_map(|s| s.parse::<Format>().ok().filter(|f| Format::DASHBOARD.contains(f)))
            .ok_or_else(|| {
                format!(
                    "action {:?} lists none of the dashboard formats {dashboard_formats:?}: supported_formats is {:?}",
                    a.name, a.supported_formats
                )
            }),
    }
}

fn chunks_body(chunks: Box<dyn Iterator<Item = Bytes> + Send>) -> reqwest::Body {
    reqwest::Body::wrap_stream(futures::stream::iter(
        chunks.map(Ok::<Bytes, std::io::Error>),
    ))
}

/// The Query object of `scheduled_plan.query` (and of API 4.0).
pub(crate) fn query_json(look: &Look, base_url: &str) -> Value {
    let def = look.def();
    let fields: Vec<&str> = look.columns().iter().map(|c| c.def.name.as_str()).collect();
    let pivots: Vec<&str> = def.fields.pivots.iter().map(|f| f.name.as_str()).collect();
    let id = look.id().unwrap_or("0");
    let mut vis = def.vis_config.clone();
    vis.entry("hidden_fields").or_insert_with(|| json!([]));
    let explore_url = format!(
        "/explore/{}/{}?fields={}",
        def.model,
        def.explore,
        fields.join(",")
    );
    json!({
        "id": id,
        "model": def.model,
        "view": def.explore,
        "fields": fields,
        "pivots": pivots,
        "fill_fields": [],
        "filters": def.filters,
        "filter_expression": null,
        "sorts": def.sorts,
        "limit": def.limit.clone().unwrap_or_else(|| "500".into()),
        "column_limit": "50",
        "total": false,
        "row_total": null,
        "subtotals": null,
        "vis_config": vis,
        "filter_config": null,
        "visible_ui_sections": null,
        "slug": format!("mock{id}"),
        "dynamic_fields": null,
        "client_id": format!("mockclient{id}"),
        "share_url": format!("{base_url}/x/mock{id}"),
        "expanded_share_url": format!("{base_url}{explore_url}"),
        "url": explore_url,
        "query_timezone": def.timezone.clone().unwrap_or_else(|| "UTC".into()),
        "has_table_calculations": !def.fields.table_calculations.is_empty(),
    })
}
