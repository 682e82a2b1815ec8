//! Contract checks: every answer of a hub judged against the Action API, from the raw bytes.
//!
//! The checks read the answer as Looker does (leading keep-alive newlines skipped, then one JSON
//! document) and report each breach with the request it answered, the rule, and the JSON path
//! of the offending value. They never go through the Rust types of the hub under test.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One way a hub broke the Action API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    /// The request answered, e.g. `POST http://127.0.0.1:8080/actions/rudder_event/execute`.
    pub request: String,
    /// A stable rule id, e.g. `action.url`, `execute.validation_errors`.
    pub rule: String,
    /// JSONPath of the offending value (`$` for the whole answer).
    pub json_path: String,
    /// What was wrong, in words.
    pub detail: String,
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} [{}] at {}: {}",
            self.request, self.rule, self.json_path, self.detail
        )
    }
}

/// Collects breaches for one request.
pub(crate) struct Judge<'a> {
    request: &'a str,
    pub breaches: Vec<Breach>,
}

impl<'a> Judge<'a> {
    pub fn new(request: &'a str) -> Self {
        Judge {
            request,
            breaches: Vec::new(),
        }
    }

    /// The request judged (what every breach names).
    pub fn request(&self) -> &'a str {
        self.request
    }

    pub fn breach(&mut self, rule: &str, path: &str, detail: impl Into<String>) {
        self.breaches.push(Breach {
            request: self.request.to_owned(),
            rule: rule.to_owned(),
            json_path: path.to_owned(),
            detail: detail.into(),
        });
    }

    /// Parses the body as Looker does: leading whitespace (jsonKeepAlive newlines) is skipped,
    /// then exactly one JSON document must follow.
    pub fn parse(&mut self, kind: &str, body: &[u8]) -> Option<Value> {
        let start = body
            .iter()
            .position(|b| !matches!(b, b'\n' | b'\r' | b' ' | b'\t'))
            .unwrap_or(body.len());
        if start == body.len() {
            self.breach(
                &format!("{kind}.json"),
                "$",
                "empty answer: a JSON body is required",
            );
            return None;
        }
        match serde_json::from_slice::<Value>(&body[start..]) {
            Ok(v) => Some(v),
            Err(e) => {
                let shown =
                    String::from_utf8_lossy(&body[start..body.len().min(start + 120)]).into_owned();
                self.breach(
                    &format!("{kind}.json"),
                    "$",
                    format!("answer is not JSON ({e}); starts with {shown:?}"),
                );
                None
            }
        }
    }

    fn opt_type(
        &mut self,
        rule: &str,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
        want: Kind,
    ) {
        if let Some(v) = obj.get(key)
            && !want.matches(v)
        {
            self.breach(
                rule,
                &format!("{path}.{key}"),
                format!("must be {}, got {}", want.name(), describe(v)),
            );
        }
    }

    fn string_list(
        &mut self,
        rule: &str,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
        allowed: &[&str],
    ) {
        let Some(v) = obj.get(key) else { return };
        let p = format!("{path}.{key}");
        let Some(arr) = v.as_array() else {
            if !v.is_null() {
                self.breach(
                    rule,
                    &p,
                    format!("must be an array of strings, got {}", describe(v)),
                );
            }
            return;
        };
        for (i, item) in arr.iter().enumerate() {
            match item.as_str() {
                Some(s) if allowed.is_empty() || allowed.contains(&s) => {}
                Some(s) => self.breach(
                    rule,
                    &format!("{p}[{i}]"),
                    format!("unknown value {s:?}; expected one of {allowed:?}"),
                ),
                None => self.breach(
                    rule,
                    &format!("{p}[{i}]"),
                    format!("must be a string, got {}", describe(item)),
                ),
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Str,
    StrOrNull,
}

impl Kind {
    fn matches(self, v: &Value) -> bool {
        match self {
            Kind::Bool => v.is_boolean(),
            Kind::Str => v.is_string(),
            Kind::StrOrNull => v.is_string() || v.is_null(),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Bool => "a boolean",
            Kind::Str => "a string",
            Kind::StrOrNull => "a string or null",
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// All format names of the Action API (src/api_types/integration.ts).
pub const KNOWN_FORMATS: &[&str] = &[
    "txt",
    "csv",
    "inline_json",
    "json",
    "json_label",
    "json_detail",
    "json_detail_lite_stream",
    "json_bi",
    "xlsx",
    "html",
    "wysiwyg_pdf",
    "assembled_pdf",
    "wysiwyg_png",
    "csv_zip",
];

/// Form field types Looker renders (the docs' `text` included).
pub const KNOWN_FIELD_TYPES: &[&str] = &[
    "string",
    "text",
    "textarea",
    "select",
    "message",
    "oauth_link",
    "oauth_link_google",
];

/// Largest state Looker stores per user and action.
pub const STATE_LIMIT: usize = 32 * 1024;

/// Checks a list answer (`POST <hub>`).
/// Only for a 2xx answer: any other status is a failed call, read by the `failed_answer` module.
pub(crate) fn check_list(judge: &mut Judge<'_>, body: &[u8]) -> Option<Value> {
    let v = judge.parse("list", body)?;
    let Some(obj) = v.as_object() else {
        judge.breach(
            "list.shape",
            "$",
            format!(
                "must be an object {{integrations, label}}, got {}",
                describe(&v)
            ),
        );
        return None;
    };
    match obj.get("label") {
        Some(Value::String(_)) => {}
        Some(other) => judge.breach(
            "list.label",
            "$.label",
            format!("must be a string, got {}", describe(other)),
        ),
        None => judge.breach(
            "list.label",
            "$.label",
            "missing: the hub's label names it in Looker",
        ),
    }
    let Some(list) = obj.get("integrations").and_then(Value::as_array) else {
        judge.breach(
            "list.integrations",
            "$.integrations",
            "must be an array of actions",
        );
        return Some(v);
    };
    let mut names = std::collections::HashSet::new();
    for (i, a) in list.iter().enumerate() {
        let p = format!("$.integrations[{i}]");
        let Some(a) = a.as_object() else {
            judge.breach(
                "action.shape",
                &p,
                format!("must be an object, got {}", describe(a)),
            );
            continue;
        };
        match a.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => {
                if !names.insert(n.to_owned()) {
                    judge.breach(
                        "action.name_unique",
                        &format!("{p}.name"),
                        format!("duplicate action name {n:?}"),
                    );
                }
            }
            _ => judge.breach(
                "action.name",
                &format!("{p}.name"),
                "missing or empty: every action needs a name",
            ),
        }
        match a.get("label") {
            Some(Value::String(_)) => {}
            _ => judge.breach(
                "action.label",
                &format!("{p}.label"),
                "missing or not a string",
            ),
        }
        match a.get("url") {
            Some(Value::String(u)) if is_http_url(u) => {}
            Some(Value::String(u)) => judge.breach(
                "action.url",
                &format!("{p}.url"),
                format!("not an absolute http(s) URL: {u:?}"),
            ),
            Some(other) => judge.breach(
                "action.url",
                &format!("{p}.url"),
                format!("must be a string, got {}", describe(other)),
            ),
            None => judge.breach(
                "action.url",
                &format!("{p}.url"),
                "missing: Looker cannot execute an action without url",
            ),
        }
        match a.get("form_url") {
            None | Some(Value::Null) => {}
            Some(Value::String(u)) if is_http_url(u) => {}
            Some(other) => judge.breach(
                "action.form_url",
                &format!("{p}.form_url"),
                format!("must be null or an absolute URL, got {other}"),
            ),
        }
        judge.opt_type("action.description", a, &p, "description", Kind::StrOrNull);
        judge.opt_type("action.uses_oauth", a, &p, "uses_oauth", Kind::Bool);
        judge.opt_type("action.delegate_oauth", a, &p, "delegate_oauth", Kind::Bool);
        judge.opt_type(
            "action.icon_data_uri",
            a,
            &p,
            "icon_data_uri",
            Kind::StrOrNull,
        );
        match a.get("supported_action_types").and_then(Value::as_array) {
            Some(t) if !t.is_empty() => {}
            _ => judge.breach(
                "action.supported_action_types",
                &format!("{p}.supported_action_types"),
                "missing or empty: Looker offers an action only for the types it lists",
            ),
        }
        judge.string_list(
            "action.supported_action_types",
            a,
            &p,
            "supported_action_types",
            &["cell", "query", "dashboard", "none"],
        );
        judge.string_list(
            "action.supported_formats",
            a,
            &p,
            "supported_formats",
            KNOWN_FORMATS,
        );
        judge.string_list(
            "action.supported_formattings",
            a,
            &p,
            "supported_formattings",
            &["formatted", "unformatted"],
        );
        judge.string_list(
            "action.supported_visualization_formattings",
            a,
            &p,
            "supported_visualization_formattings",
            &["apply", "noapply"],
        );
        judge.string_list(
            "action.supported_download_settings",
            a,
            &p,
            "supported_download_settings",
            &["push", "url"],
        );
        match a.get("params") {
            None | Some(Value::Null) => {}
            Some(Value::Array(params)) => {
                for (j, prm) in params.iter().enumerate() {
                    let pp = format!("{p}.params[{j}]");
                    let Some(prm) = prm.as_object() else {
                        judge.breach("param.shape", &pp, "must be an object");
                        continue;
                    };
                    if prm
                        .get("name")
                        .is_none_or(|n| n.as_str().is_none_or(|s| s.is_empty()))
                    {
                        judge.breach("param.name", &format!("{pp}.name"), "missing or empty");
                    }
                    judge.opt_type("param.label", prm, &pp, "label", Kind::Str);
                    judge.opt_type("param.required", prm, &pp, "required", Kind::Bool);
                    judge.opt_type("param.sensitive", prm, &pp, "sensitive", Kind::Bool);
                    judge.opt_type("param.per_user", prm, &pp, "per_user", Kind::Bool);
                }
            }
            Some(other) => judge.breach(
                "action.params",
                &format!("{p}.params"),
                format!("must be an array, got {}", describe(other)),
            ),
        }
        match a.get("required_fields") {
            None | Some(Value::Null) => {}
            Some(Value::Array(rf)) => {
                for (j, r) in rf.iter().enumerate() {
                    let rp = format!("{p}.required_fields[{j}]");
                    let Some(r) = r.as_object() else {
                        judge.breach(
                            "required_field.shape",
                            &rp,
                            "must be an object {tag|any_tag|all_tags}",
                        );
                        continue;
                    };
                    judge.opt_type("required_field.tag", r, &rp, "tag", Kind::Str);
                    judge.string_list("required_field.any_tag", r, &rp, "any_tag", &[]);
                    judge.string_list("required_field.all_tags", r, &rp, "all_tags", &[]);
                    if !["tag", "any_tag", "all_tags"]
                        .iter()
                        .any(|k| r.contains_key(*k))
                    {
                        judge.breach(
                            "required_field.shape",
                            &rp,
                            "needs tag, any_tag or all_tags",
                        );
                    }
                }
            }
            Some(other) => judge.breach(
                "action.required_fields",
                &format!("{p}.required_fields"),
                format!("must be an array, got {}", describe(other)),
            ),
        }
    }
    Some(v)
}

/// Checks a form answer (`POST <form_url>`). Returns the parsed answer. Only for a 2xx
/// answer: any other status is a failed call, read by the `failed_answer` module.
pub(crate) fn check_form(judge: &mut Judge<'_>, body: &[u8]) -> Option<Value> {
    let v = judge.parse("form", body)?;
    let (fields, base) = match &v {
        Value::Array(a) => (a.clone(), "$".to_string()),
        Value::Object(o) => {
            if let Some(e) = o.get("error") {
                if !e.is_string() {
                    judge.breach(
                        "form.error",
                        "$.error",
                        format!("must be a string, got {}", describe(e)),
                    );
                }
                return Some(v);
            }
            if let Some(state) = o.get("state") {
                check_state(judge, "form.state", "$.state", state);
            }
            match o.get("fields") {
                Some(Value::Array(a)) => (a.clone(), "$.fields".to_string()),
                Some(other) => {
                    judge.breach(
                        "form.fields",
                        "$.fields",
                        format!("must be an array, got {}", describe(other)),
                    );
                    return Some(v);
                }
                None => {
                    judge.breach(
                        "form.fields",
                        "$.fields",
                        "missing: a form is {fields:[…]} or {error}",
                    );
                    return Some(v);
                }
            }
        }
        other => {
            judge.breach(
                "form.shape",
                "$",
                format!("must be an object or an array, got {}", describe(other)),
            );
            return Some(v);
        }
    };
    let mut names = std::collections::HashSet::new();
    for (i, f) in fields.iter().enumerate() {
        let p = format!("{base}[{i}]");
        let Some(f) = f.as_object() else {
            judge.breach("form_field.shape", &p, "must be an object");
            continue;
        };
        match f.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => {
                if !names.insert(n.to_owned()) {
                    judge.breach(
                        "form_field.name_unique",
                        &format!("{p}.name"),
                        format!("duplicate field name {n:?}"),
                    );
                }
            }
            _ => judge.breach(
                "form_field.name",
                &format!("{p}.name"),
                "missing or empty: every form field needs a name",
            ),
        }
        let kind = match f.get("type") {
            None | Some(Value::Null) => "string",
            Some(Value::String(t)) if KNOWN_FIELD_TYPES.contains(&t.as_str()) => t.as_str(),
            Some(Value::String(t)) => {
                judge.breach(
                    "form_field.type",
                    &format!("{p}.type"),
                    format!("unknown field type {t:?}; Looker renders {KNOWN_FIELD_TYPES:?}"),
                );
                "string"
            }
            Some(other) => {
                judge.breach(
                    "form_field.type",
                    &format!("{p}.type"),
                    format!("must be a string, got {}", describe(other)),
                );
                "string"
            }
        };
        judge.opt_type("form_field.label", f, &p, "label", Kind::StrOrNull);
        judge.opt_type(
            "form_field.description",
            f,
            &p,
            "description",
            Kind::StrOrNull,
        );
        judge.opt_type("form_field.required", f, &p, "required", Kind::Bool);
        judge.opt_type("form_field.interactive", f, &p, "interactive", Kind::Bool);
        if kind == "select" {
            match f.get("options").and_then(Value::as_array) {
                Some(opts) => {
                    for (j, o) in opts.iter().enumerate() {
                        let ok = o.get("name").is_some_and(Value::is_string)
                            && o.get("label").is_none_or(Value::is_string);
                        if !ok {
                            judge.breach(
                                "form_field.options",
                                &format!("{p}.options[{j}]"),
                                "each option is {name: string, label: string}",
                            );
                        }
                    }
                }
                None => judge.breach(
                    "form_field.options",
                    &format!("{p}.options"),
                    "a select field needs an options array",
                ),
            }
        }
        if kind.starts_with("oauth_link")
            && !f
                .get("oauth_url")
                .is_some_and(|u| u.as_str().is_some_and(is_http_url))
        {
            judge.breach(
                "form_field.oauth_url",
                &format!("{p}.oauth_url"),
                "an oauth_link field needs an absolute oauth_url",
            );
        }
    }
    Some(v)
}

fn check_state(judge: &mut Judge<'_>, rule: &str, path: &str, state: &Value) {
    match state {
        Value::Null => {}
        Value::Object(o) => match o.get("data") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.len() <= STATE_LIMIT => {}
            Some(Value::String(s)) => judge.breach(
                rule,
                &format!("{path}.data"),
                format!("{} bytes: state is limited to 32 KB", s.len()),
            ),
            Some(other) => judge.breach(
                rule,
                &format!("{path}.data"),
                format!("must be a string or null, got {}", describe(other)),
            ),
        },
        other => judge.breach(
            rule,
            path,
            format!(
                "must be an object {{data, refresh_time}}, got {}",
                describe(other)
            ),
        ),
    }
}

/// What Looker takes from an execute answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecuteAnswer {
    pub success: bool,
    pub message: Option<String>,
    pub refresh_query: bool,
    pub validation_errors: Map<String, Value>,
    /// `looker.state.data` when the hub sent a state (outer None: no state; inner None: wipe).
    pub state: Option<Option<String>>,
}

/// Checks a 2xx execute answer: it must be an ActionResponse `{"looker": {success, …}}`.
/// Any other status is a failed call, read by the `failed_answer` module.
pub(crate) fn check_execute(judge: &mut Judge<'_>, body: &[u8]) -> (Option<Value>, ExecuteAnswer) {
    let mut answer = ExecuteAnswer::default();
    let Some(v) = judge.parse("execute", body) else {
        return (None, answer);
    };
    let Some(looker) = v.get("looker").and_then(Value::as_object) else {
        judge.breach(
            "execute.looker",
            "$.looker",
            "missing: an ActionResponse is {\"looker\": {success, …}}",
        );
        return (Some(v), answer);
    };
    check_looker(judge, looker, &mut answer);
    (Some(v), answer)
}

/// Checks the `looker` object of an ActionResponse and reads what Looker takes from it.
pub(crate) fn check_looker(
    judge: &mut Judge<'_>,
    looker: &Map<String, Value>,
    answer: &mut ExecuteAnswer,
) {
    match looker.get("success") {
        Some(Value::Bool(b)) => answer.success = *b,
        Some(other) => judge.breach(
            "execute.success",
            "$.looker.success",
            format!("must be a boolean, got {}", describe(other)),
        ),
        None => judge.breach(
            "execute.success",
            "$.looker.success",
            "missing: Looker cannot tell whether the action succeeded",
        ),
    }
    match looker.get("validation_errors") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, e) in m {
                if !e.is_string() {
                    judge.breach(
                        "execute.validation_errors",
                        &format!("$.looker.validation_errors.{k}"),
                        format!("each error message must be a string, got {}", describe(e)),
                    );
                }
            }
            answer.validation_errors = m.clone();
        }
        Some(other) => judge.breach(
            "execute.validation_errors",
            "$.looker.validation_errors",
            format!(
                "must be an object {{field: message}}, got {}",
                describe(other)
            ),
        ),
    }
    match looker.get("refresh_query") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => answer.refresh_query = *b,
        Some(other) => judge.breach(
            "execute.refresh_query",
            "$.looker.refresh_query",
            format!("must be a boolean, got {}", describe(other)),
        ),
    }
    match looker.get("message") {
        None | Some(Value::Null) => {}
        Some(Value::String(m)) => answer.message = Some(m.clone()),
        Some(other) => judge.breach(
            "execute.message",
            "$.looker.message",
            format!("must be a string or null, got {}", describe(other)),
        ),
    }
    if let Some(state) = looker.get("state") {
        check_state(judge, "execute.state", "$.looker.state", state);
        answer.state = match state {
            Value::Object(o) => Some(o.get("data").and_then(Value::as_str).map(str::to_owned)),
            _ => None,
        };
    }
}

/// Whether Looker reads the status as an answer delivered (2xx); any other status is a
/// failed call whose body, if any, says why.
pub(crate) fn is_2xx(status: u16) -> bool {
    (200..300).contains(&status)
}

pub(crate) fn is_http_url(u: &str) -> bool {
    url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}
