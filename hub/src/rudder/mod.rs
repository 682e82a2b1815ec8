//! The RudderStack actions (`rudder_event`, `rudder_track`, `rudder_group`): their definitions,
//! the registry that serves them, and the checks of an execute's params before its Look is
//! streamed through the `pipeline`: input chunks → incremental parser → mapping →
//! byte-bounded batches → data plane, all while the rest of the Look is still arriving.

mod pipeline;

use std::sync::Arc;

use serde_json::json;

use crate::actions::{
    Action, ActionResponse, BoxFuture, Definition, ExecuteRequest, FormRequest, Param, Registry,
};
use crate::context::Context;
use crate::look_stream::LookStream;
use crate::mapping::{CallType, MappingMode};
use crate::parse::Format;
use crate::send::{Sender, batch_url};
use crate::version::Version;

use pipeline::Pipeline;
pub use pipeline::deterministic_message_id;

/// The optional per-action param that overrides the hub's `--mapping`.
pub const MAPPING_PARAM: &str = "rudder_mapping";

const ICON_PNG: &[u8] = include_bytes!("../../assets/rudderstack.png");

struct Rudder {
    call: CallType,
    def: Definition,
}

/// The three actions in the observed list order.
pub fn actions() -> Vec<Arc<dyn Action>> {
    use base64::Engine;
    let icon = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(ICON_PNG)
    );
    let params = vec![
        Param {
            description: "Looker source write key for Rudder.",
            label: "Rudder Write Key",
            name: "rudder_write_key",
            required: true,
            sensitive: true,
        },
        Param {
            description: "Give your Rudder server URL",
            label: "Rudder Data Plane URL",
            name: "rudder_server_url",
            required: true,
            sensitive: false,
        },
        Param {
            description: "Optional: \"rudderstack\" (events exactly as RudderStack's hosted hub \
                          sends them, quirks included) or \"clean\" (values kept as they are). \
                          Empty: the hub's default.",
            label: "Mapping mode",
            name: MAPPING_PARAM,
            required: false,
            sensitive: false,
        },
    ];
    let any = json!(["email", "user_id", "rudder_anonymous_id"]);
    let def = |name, label, description, min: Version, required_fields| Definition {
        name,
        label,
        description,
        params: params.clone(),
        required_fields,
        supported_action_types: vec!["query"],
        min_looker_version: min,
        uses_streaming: true,
        formattings: vec!["unformatted"],
        visualization_formattings: vec!["noapply"],
        icon_data_uri: Some(icon.clone()),
    };
    vec![
        Arc::new(Rudder {
            call: CallType::Identify,
            def: def(
                "rudder_event",
                "Rudder Identify",
                "Add traits via identify to your Rudder users.",
                Version::new(4, 20, 0),
                json!([{"any_tag": any}]),
            ),
        }),
        Arc::new(Rudder {
            call: CallType::Group,
            def: def(
                "rudder_group",
                "Rudder Group",
                "Add traits and / or users to your Rudder groups.",
                Version::new(5, 5, 0),
                json!([{"tag": "rudder_group_id", "any_tag": any}]),
            ),
        }),
        Arc::new(Rudder {
            call: CallType::Track,
            def: def(
                "rudder_track",
                "Rudder Track",
                "Add traits via track to your Rudder users.",
                Version::new(5, 5, 0),
                json!([{"any_tag": any}]),
            ),
        }),
    ]
}

impl Registry {
    /// The RudderStack actions in the observed list order: rudder_event, rudder_group,
    /// rudder_track. Made here, beside the actions, so that [`crate::actions`] knows none.
    pub fn rudderstack() -> Self {
        let mut r = Self::new();
        for a in actions() {
            r.add(a);
        }
        r
    }
}

impl Action for Rudder {
    fn definition(&self) -> &Definition {
        &self.def
    }

    fn supported_formats(&self, version: Option<&Version>) -> Vec<&'static str> {
        vec![requested_format(version).as_str()]
    }

    fn has_form(&self) -> bool {
        self.call == CallType::Track
    }

    fn form<'a>(&'a self, _req: &'a FormRequest) -> BoxFuture<'a, serde_json::Value> {
        Box::pin(async {
            json!({"fields": [{
                "name": "event",
                "label": "Event",
                "description": "The name of the event you\u{2019}re tracking.",
                "type": "string",
                "required": true
            }]})
        })
    }

    fn execute(
        &self,
        req: ExecuteRequest,
        ctx: Arc<Context>,
    ) -> BoxFuture<'static, ActionResponse> {
        Box::pin(run(self.call, req, ctx))
    }
}

/// The format the actions ask Looker for (their `supported_formats`): the streamed
/// `json_detail_lite_stream` from Looker 6.2.0 on, `json_detail` before or when the version is
/// unknown. The Look is read as this format (a document starting with `[` as `json`).
fn requested_format(version: Option<&Version>) -> Format {
    if version.is_some_and(|v| *v >= Version::new(6, 2, 0)) {
        Format::JsonDetailLiteStream
    } else {
        Format::JsonDetail
    }
}

/// Checks the action's params, opens the Look and drives the [`Pipeline`].
async fn run(call: CallType, req: ExecuteRequest, ctx: Arc<Context>) -> ActionResponse {
    let write_key = req
        .params
        .get("rudder_write_key")
        .cloned()
        .unwrap_or_default();
    let server_url = req
        .params
        .get("rudder_server_url")
        .cloned()
        .unwrap_or_default();
    let url = match batch_url(&server_url) {
        Ok(u) => u,
        Err(e) => return ActionResponse::failed(e),
    };
    if !ctx.config.allow_dataplane.is_empty() {
        let host = url.host_str().unwrap_or("");
        let port = url.port_or_known_default();
        let ok = ctx.config.allow_dataplane.iter().any(|a| {
            let (h, p) = match a.rsplit_once(':') {
                Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => (h, p.parse().ok()),
                _ => (a.as_str(), None),
            };
            h.eq_ignore_ascii_case(host) && (p.is_none() || p == port)
        });
        if !ok {
            return ActionResponse::failed(format!(
                "Rudder Data Plane URL host {host:?} is not allowed by this hub (--allow-dataplane)"
            ));
        }
    }
    let mode = match req
        .params
        .get(MAPPING_PARAM)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        Some(m) => match m.parse::<MappingMode>() {
            Ok(m) => m,
            Err(e) => return ActionResponse::failed(format!("{MAPPING_PARAM}: {e}")),
        },
        None => ctx.config.mapping,
    };
    let format = requested_format(req.looker_version.as_ref());
    let mut look = match LookStream::open(&req, &ctx, format).await {
        Ok(l) => l,
        Err(e) => return ActionResponse::failed(e),
    };
    let sender = Sender::new(
        ctx.dataplane.clone(),
        url,
        &write_key,
        ctx.config.send.clone(),
    );
    let pipeline = Pipeline {
        call,
        mode,
        ctx: &ctx,
        req: &req,
    };
    pipeline.drive(&mut look, sender).await
}
