//! Failed calls: how Looker reads a hub's answer whose status is not 2xx.
//!
//! The Action API (`docs/action_api.md` of looker-open-source/actions) sets no status code for
//! a failure, and the official server answers its own errors outside 2xx on purpose: `route()`
//! in `src/server/server.ts` answers 403 `{"success":false,"error":"Invalid 'Authorization'
//! header."}` to a bad token, 404 `{"success":false,"error":"<text>"}` when an action throws a
//! string, and 500 `{"success":false,"error":"Internal server error."}` otherwise. Looker shows
//! that text to the user. So such an answer is a failed call carrying the hub's message, never
//! a breach: judging it as one would fail every hub built on the official framework for each
//! legitimate failure. Only an answer Looker cannot read at all (not JSON) is a breach, and a
//! `{"looker": …}` answer is still checked as an ActionResponse.

use serde_json::Value;

use crate::contract::{self, ExecuteAnswer, Judge};

/// Statuses whose body is usually written by what stands in front of any hub, not by the hub:
/// Express's own request-too-large page (413) and gateways or proxies (502, 503, 504). Their
/// HTML is not the hub breaking the Action API, so it is not judged.
const INFRASTRUCTURE_STATUSES: &[u16] = &[413, 502, 503, 504];

/// A failed call as Looker reads it.
#[derive(Debug, Default)]
pub(crate) struct Failed {
    /// The answer as parsed, when it was JSON.
    pub parsed: Option<Value>,
    /// The hub's error text, when it gave one (see [`error_text`]).
    pub message: Option<String>,
}

impl Failed {
    /// One line for a user: `HTTP 403: Invalid 'Authorization' header.`, or `HTTP 500` alone
    /// when the hub said nothing readable.
    pub fn summary(&self, status: u16) -> String {
        match &self.message {
            Some(m) => format!("HTTP {status}: {m}"),
            None => format!("HTTP {status}"),
        }
    }
}

/// Reads a non-2xx answer of a `kind` call (`list`, `form`, `execute`): an empty body or JSON
/// is a plain failure; anything else is a `<kind>.json` breach, except for the statuses
/// infrastructure answers (see [`INFRASTRUCTURE_STATUSES`]).
pub(crate) fn read(judge: &mut Judge<'_>, kind: &str, status: u16, body: &[u8]) -> Failed {
    let start = body
        .iter()
        .position(|b| !matches!(b, b'\n' | b'\r' | b' ' | b'\t'))
        .unwrap_or(body.len());
    let text = &body[start..];
    if text.is_empty() {
        return Failed::default();
    }
    match serde_json::from_slice::<Value>(text) {
        Ok(v) => Failed {
            message: error_text(&v),
            parsed: Some(v),
        },
        Err(e) => {
            if !INFRASTRUCTURE_STATUSES.contains(&status) {
                let shown = String::from_utf8_lossy(&text[..text.len().min(120)]).into_owned();
                judge.breach(
                    &format!("{kind}.json"),
                    "$",
                    format!(
                        "HTTP {status} answer is not JSON ({e}); starts with {shown:?}: Looker \
                         cannot read why the call failed (answer {{\"success\":false,\"error\":\"…\"}} \
                         or an ActionResponse)"
                    ),
                );
            }
            Failed::default()
        }
    }
}

/// Judges a non-2xx execute answer: never a success; a `looker` object is checked as an
/// ActionResponse (its `success` may be left out, but `true` contradicts the status and is a
/// breach); the message is `looker.message` or the hub's error text.
pub(crate) fn execute(
    judge: &mut Judge<'_>,
    status: u16,
    body: &[u8],
) -> (Option<Value>, ExecuteAnswer) {
    let failed = read(judge, "execute", status, body);
    let mut answer = ExecuteAnswer::default();
    let looker = failed
        .parsed
        .as_ref()
        .and_then(|v| v.get("looker"))
        .and_then(Value::as_object);
    if let Some(looker) = looker {
        let said_success = looker.get("success") == Some(&Value::Bool(true));
        let mut inner = Judge::new(judge.request());
        contract::check_looker(&mut inner, looker, &mut answer);
        // Outside 2xx the call failed whatever `success` says; a missing one is no breach.
        judge.breaches.extend(
            inner
                .breaches
                .into_iter()
                .filter(|b| b.rule != "execute.success"),
        );
        if said_success {
            judge.breach(
                "execute.status",
                "$",
                format!(
                    "HTTP {status} with looker.success true: the status says the call failed, \
                     the body that it succeeded"
                ),
            );
        }
        answer.success = false;
    }
    if answer.message.is_none() {
        answer.message = failed.message.clone();
    }
    (failed.parsed, answer)
}

/// The error text of a failure answer, where hubs put it: `looker.message`,
/// `looker.error.message` (the official ActionResponse's error object), `error` (a string, as
/// `route()` writes it, or `{message}`), then `message`.
pub(crate) fn error_text(v: &Value) -> Option<String> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let looker = v.get("looker");
    text(looker.and_then(|l| l.get("message")))
        .or_else(|| {
            text(
                looker
                    .and_then(|l| l.get("error"))
                    .and_then(|e| e.get("message")),
            )
        })
        .or_else(|| text(v.get("error")))
        .or_else(|| text(v.get("error").and_then(|e| e.get("message"))))
        .or_else(|| text(v.get("message")))
        .filter(|s| !s.is_empty())
}
