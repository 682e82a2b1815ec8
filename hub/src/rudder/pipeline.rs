//! One execute of a RudderStack action, row by row: each row the parser hands out is mapped to
//! an event, batched and sent while the Look is still arriving; what was sent, rejected or
//! failed is counted as it goes, and [`Pipeline::answer`] turns the account into Looker's
//! message.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::actions::{ActionResponse, ExecuteRequest};
use crate::context::Context;
use crate::look_stream::LookStream;
use crate::mapping::{AnonymousId, CallType, MapContext, MappingMode, Plan, RowError, RowShape};
use crate::parse::{Format, Item, infer_json_fields};
use crate::send::{Batcher, SendReport, Sender, thousands};

/// Row errors listed in a RudderStack-mode message before it is cut short.
const MAX_LISTED_ERRORS: usize = 100;

/// Formats `originalTimestamp` at most once per millisecond.
struct Clock {
    ms: u128,
    text: String,
}

impl Clock {
    fn now(&mut self) -> &str {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        if ms != self.ms {
            self.ms = ms;
            self.text = crate::clock::iso_now();
        }
        &self.text
    }
}

/// A cheap per-execute generator of random v4 uuids for messageIds (uniqueness, not secrecy):
/// `uuid::Uuid::new_v4` asks the OS for every id, which showed in the per-row profile.
struct Ids(rand::rngs::SmallRng);

impl Ids {
    fn new() -> Self {
        use rand::SeedableRng;
        Self(rand::rngs::SmallRng::from_rng(&mut rand::rng()))
    }
    fn uuid(&mut self) -> uuid::Uuid {
        use rand::Rng;
        let mut b = [0u8; 16];
        self.0.fill_bytes(&mut b);
        uuid::Builder::from_random_bytes(b).into_uuid()
    }
}

/// A deterministic messageId: md5(`<webhook id>:<row>`) as a version-3 uuid, so a re-sent
/// schedule produces the same ids and can be deduplicated downstream.
pub fn deterministic_message_id(webhook_id: &str, row: u64) -> uuid::Uuid {
    use md5::Digest;
    let mut h = md5::Md5::new();
    h.update(webhook_id.as_bytes());
    h.update(b":");
    h.update(row.to_string().as_bytes());
    let d: [u8; 16] = h.finalize().into();
    uuid::Builder::from_md5_bytes(d).into_uuid()
}

fn iso_from_ran_at(s: &str) -> Option<String> {
    let dt = chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S")
                .map(|n| n.and_utc())
        })
        .ok()?;
    Some(dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// One execute's settings, borrowed for its run.
pub(super) struct Pipeline<'a> {
    pub(super) call: CallType,
    pub(super) mode: MappingMode,
    pub(super) ctx: &'a Context,
    pub(super) req: &'a ExecuteRequest,
}

/// A row that was not sent while the run went on.
struct Rejection {
    row: u64,
    message: String,
    /// A limit of this hub (size, nesting) rather than the SDK's validation: RudderStack mode
    /// lists the SDK's messages bare, as the real hub does, and these with their row.
    by_hub: bool,
}

struct Outcome {
    rows: u64,
    made: u64,
    rejected: Vec<Rejection>,
    rejected_count: u64,
    abort: Option<String>,
    report: SendReport,
}

impl Outcome {
    /// Records a row the hub itself cannot send; the run goes on.
    fn reject_by_hub(&mut self, row: u64, message: String) {
        self.rejected_count += 1;
        if self.rejected.len() < MAX_LISTED_ERRORS {
            self.rejected.push(Rejection {
                row,
                message,
                by_hub: true,
            });
        }
    }
}

impl Pipeline<'_> {
    /// Reads `look` to its end (or to the first failure that ends the run), sending its events
    /// through `sender`, and answers Looker.
    pub(super) async fn drive(&self, look: &mut LookStream, mut sender: Sender) -> ActionResponse {
        let start_ts = crate::clock::iso_now();
        let mut timestamp = start_ts.clone();
        let event = self.req.form_params.get("event").map(String::as_str);
        let mut clock = Clock {
            ms: 0,
            text: String::new(),
        };
        let mut ids = Ids::new();
        let deterministic = self
            .ctx
            .config
            .deterministic_message_ids
            .then_some(self.req.webhook_id.as_deref())
            .flatten();
        let base_ctx = MapContext {
            call: self.call,
            mode: self.mode,
            hidden_fields: &self.req.hidden_fields,
            event,
            timestamp: "",
            original_timestamp: "",
            sent_at: "0000-00-00T00:00:00.000Z",
            message_id: "",
            anonymous_id: AnonymousId::Random,
            app_version: &self.ctx.config.app_version,
            library_name: crate::identity::LIBRARY_NAME,
            library_version: crate::identity::LIBRARY_VERSION,
        };

        let mut out = Outcome {
            rows: 0,
            made: 0,
            rejected: Vec::new(),
            rejected_count: 0,
            abort: None,
            report: SendReport::default(),
        };
        let mut plan: Option<Plan> = None;
        let mut batcher = Batcher::new(self.ctx.config.send.max_batch_bytes);
        let mut event_buf: Vec<u8> = Vec::with_capacity(1024);
        let mut msg_buf = uuid::Uuid::encode_buffer();

        'outer: loop {
            match look.read().await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    out.abort = Some(e.to_string());
                    break;
                }
            }
            let format = look.format();
            loop {
                let item = match look.next_item() {
                    Ok(Some(i)) => i,
                    Ok(None) => break,
                    Err(e) => {
                        out.abort = Some(e.message);
                        break 'outer;
                    }
                };
                match item {
                    Item::Fields(fields) => match Plan::new(&fields, &base_ctx, RowShape::Cells) {
                        Ok(pl) => {
                            if let Some(e) = self.precheck(&pl) {
                                out.abort = Some(e);
                                break 'outer;
                            }
                            plan = Some(pl);
                        }
                        Err(e) => {
                            out.abort = Some(e.to_string());
                            break 'outer;
                        }
                    },
                    Item::RanAt(r) => {
                        if out.rows == 0
                            && let Some(ts) = r.as_deref().and_then(iso_from_ran_at)
                        {
                            timestamp = ts;
                        }
                    }
                    Item::RowTooLarge { bytes } => {
                        out.rows += 1;
                        out.reject_by_hub(
                            out.rows,
                            format!(
                                "the row is {} bytes, above the hub's {}-byte row limit",
                                thousands(bytes),
                                thousands(self.ctx.config.max_row_bytes as u64)
                            ),
                        );
                    }
                    Item::Row(row) => {
                        out.rows += 1;
                        let n = out.rows;
                        if plan.is_none() {
                            if format == Format::Json {
                                let fields = match infer_json_fields(row) {
                                    Ok(f) => f,
                                    Err(e) => {
                                        out.abort = Some(e.message);
                                        break 'outer;
                                    }
                                };
                                match Plan::new(&fields, &base_ctx, RowShape::Flat) {
                                    Ok(pl) => plan = Some(pl),
                                    Err(e) => {
                                        out.abort = Some(e.to_string());
                                        break 'outer;
                                    }
                                }
                            } else {
                                out.abort = Some(format!(
                                    "{} (row {n} arrived before `fields`: the hub needs the field metadata before the first row)",
                                    crate::mapping::NO_ID_FIELD
                                ));
                                break 'outer;
                            }
                        }
                        let pl = plan.as_ref().expect("set above");
                        let message_id = match deterministic {
                            Some(w) => deterministic_message_id(w, n),
                            None => ids.uuid(),
                        };
                        let ctx = MapContext {
                            timestamp: &timestamp,
                            original_timestamp: clock.now(),
                            message_id: message_id.hyphenated().encode_lower(&mut msg_buf),
                            ..base_ctx
                        };
                        event_buf.clear();
                        match pl.map_row(row, &ctx, &mut event_buf) {
                            Ok(m) => {
                                if !Batcher::fits_alone(event_buf.len()) {
                                    out.reject_by_hub(n, format!(
                                        "the event is {} bytes, above the data plane's 4,096,000-byte request limit",
                                        thousands(event_buf.len() as u64)
                                    ));
                                    continue;
                                }
                                if !batcher.fits(event_buf.len())
                                    && let Some(b) = batcher.take()
                                {
                                    sender.send(b).await;
                                    if sender.fatal().is_some() {
                                        break 'outer;
                                    }
                                }
                                batcher.push(&event_buf, m.sent_at);
                                out.made += 1;
                            }
                            Err(RowError::Rejected(msg)) => {
                                out.rejected_count += 1;
                                if out.rejected.len() < MAX_LISTED_ERRORS {
                                    out.rejected.push(Rejection {
                                        row: n,
                                        message: msg,
                                        by_hub: false,
                                    });
                                }
                            }
                            Err(RowError::Unsendable(msg)) => out.reject_by_hub(n, msg),
                            Err(e) => {
                                out.abort = Some(format!("{e} (row {n})"));
                                break 'outer;
                            }
                        }
                    }
                }
            }
        }
        if out.abort.is_none()
            && let Some(p) = look.parser()
            && p.rows() == 0
            && plan.is_none()
            && p.format() != Format::Json
        {
            // A document without `fields`: the real hub fails on its id check.
            out.abort = Some(crate::mapping::NO_ID_FIELD.to_owned());
        }
        if sender.fatal().is_none()
            && let Some(b) = batcher.take()
        {
            sender.send(b).await;
        }
        out.report = sender.finish().await;
        self.answer(out)
    }

    /// Failures known as soon as the fields are: clean mode refuses a group call without a group
    /// field, and a track call without an event, up front instead of once per row.
    fn precheck(&self, plan: &Plan) -> Option<String> {
        if self.mode != MappingMode::Clean {
            return None;
        }
        if self.call == CallType::Group && !plan.has_group_field() {
            return Some("Query requires a field tagged rudder_group_id for a group call.".into());
        }
        if self.call == CallType::Track
            && self
                .req
                .form_params
                .get("event")
                .is_none_or(|e| e.is_empty())
        {
            return Some("You must pass an \"event\" (the form's Event field is empty).".into());
        }
        None
    }

    fn answer(&self, o: Outcome) -> ActionResponse {
        let r = &o.report;
        let kind = self.call.as_str();
        let mut parts: Vec<String> = Vec::new();
        if let Some(f) = r.failures.iter().find(|f| !f.retried) {
            if f.redirect && r.delivered == 0 {
                parts.push(f.text.clone());
            } else if f.redirect {
                parts.push(format!(
                    "{} after {} events were delivered; the rest of the Look was not sent",
                    f.text,
                    thousands(r.delivered)
                ));
            } else if r.delivered == 0 {
                parts.push(format!("{} from data plane", f.text));
            } else {
                parts.push(format!(
                    "{} from data plane after {} events were delivered; the rest of the Look was not sent",
                    f.text,
                    thousands(r.delivered)
                ));
            }
        } else if let Some(f) = r.failures.first() {
            parts.push(format!(
                "{} of {} events not delivered after {} retries: {}",
                thousands(r.failed()),
                thousands(o.made),
                self.ctx.config.send.retries,
                f.text
            ));
        }
        if let Some(a) = &o.abort {
            if o.made > 0 && r.failures.is_empty() {
                parts.push(format!(
                    "{a}; {} {kind} events from earlier rows were delivered",
                    thousands(r.delivered)
                ));
            } else {
                parts.push(a.clone());
            }
        }
        if o.rejected_count > 0 {
            let listed = o.rejected.len() as u64;
            let more = o.rejected_count - listed;
            let msg = match self.mode {
                MappingMode::RudderStack => {
                    let mut s = o
                        .rejected
                        .iter()
                        .map(|r| {
                            if r.by_hub {
                                format!("row {}: {}", r.row, r.message)
                            } else {
                                r.message.clone()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    if more > 0 {
                        s.push_str(&format!(", … and {} more row errors", thousands(more)));
                    }
                    s
                }
                MappingMode::Clean => {
                    let mut s = format!(
                        "{} of {} rows rejected: {}",
                        thousands(o.rejected_count),
                        thousands(o.rows),
                        o.rejected
                            .iter()
                            .take(10)
                            .map(|r| format!("row {}: {}", r.row, r.message))
                            .collect::<Vec<_>>()
                            .join("; ")
                    );
                    if o.rejected_count > 10 {
                        s.push_str("; …");
                    }
                    s.push_str(&format!(
                        "; {} {kind} events delivered",
                        thousands(r.delivered)
                    ));
                    s
                }
            };
            parts.push(msg);
        }
        if parts.is_empty() {
            if o.rows == 0 {
                ActionResponse::ok("The Look has no rows: nothing was sent.")
            } else {
                ActionResponse::ok(format!(
                    "{} rows sent as {} {kind} events, all acknowledged by the data plane.",
                    thousands(o.rows),
                    thousands(r.delivered)
                ))
            }
        } else {
            ActionResponse::failed(parts.join("; "))
        }
    }
}
