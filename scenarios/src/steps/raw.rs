//! The `raw` step: a request to the hub built by hand (bad payloads, old User-Agents), which the
//! mock Looker would refuse to send.

use std::time::Duration;

use serde_json::{Value, json};

use super::Run;
use crate::checks::compare;
use crate::classes::FailureClass;
use crate::ctx::Ctx;
use crate::format::RawStep;
use crate::harness::Harness;
use crate::outcome::Failure;

/// `raw`: send it, record the answer, check status and body.
pub(crate) async fn raw<H: Harness>(
    run: &mut Run<'_, H>,
    at: &str,
    raw: &RawStep,
) -> anyhow::Result<()> {
    let Run {
        h,
        ctx,
        record,
        failures,
        gate,
        ..
    } = run;
    let (status, body) = raw_request(*h, raw, ctx).await?;
    let checked = gate.raw(at, raw);
    // The body's texts may be the reference hub's, its success never is.
    let success = match (&raw.response, &checked.response) {
        (Some(want), None) => crate::contract::success_part(want),
        _ => None,
    };
    let raw = &checked;
    record
        .answers
        .push(json!({"step": at, "http_status": status, "body": body}));
    if let Some(want) = raw.status
        && want != status
    {
        failures.push(Failure::plain(
            FailureClass::Protocol,
            at.to_string(),
            format!("HTTP status {status}, expected {want}; body: {body}"),
        ));
    }
    if let Some(want) = &raw.response {
        let class = FailureClass::Answer;
        compare(
            class,
            at,
            "response body",
            &ctx.value(want),
            Some(&body),
            failures,
        );
    }
    if let Some(want) = success {
        let class = FailureClass::Answer;
        compare(
            class,
            at,
            "success in the response",
            &want,
            Some(&body),
            failures,
        );
    }
    Ok(())
}

/// A raw request to the hub (bad payloads, old User-Agents).
async fn raw_request<H: Harness>(h: &H, raw: &RawStep, ctx: &Ctx) -> anyhow::Result<(u16, Value)> {
    let client = serving::http_client().build().expect("an HTTP client");
    let url = format!(
        "{}{}",
        h.hub_url().trim_end_matches('/'),
        ctx.str(&raw.path)
    );
    let mut req = client
        .post(&url)
        .header("Content-Type", "application/json")
        .timeout(Duration::from_secs(30));
    if raw.auth
        && let Some(t) = h.hub_token()
    {
        req = req.header("Authorization", format!("Token token=\"{t}\""));
    }
    if let Some(v) = &raw.looker_version {
        req = req.header("User-Agent", format!("LookerOutgoingWebhook/{v}"));
    }
    if let Some(b) = &raw.body {
        req = req.body(serde_json::to_vec(&ctx.value(b))?);
    } else if let Some(t) = &raw.body_text {
        req = req.body(ctx.str(t));
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    // The hub may write keep-alive newlines before the JSON, as Looker accepts.
    let trimmed = text.trim_start_matches(['\n', '\r', ' ']);
    let body = serde_json::from_str(trimmed).unwrap_or(Value::String(text));
    Ok((status, body))
}
