//! Steps that go through the mock Looker: send a Look, fetch a form, list actions.

use serde_json::{Value, json};

use super::Run;
use crate::checks::{check_answer, check_breaches, check_form, compare};
use crate::classes::FailureClass;
use crate::format::{AnswerExpect, FormExpect, FormStep, ListStep, SendStep};
use crate::harness::{FormRequest, Harness, SendRequest};
use crate::matcher;
use crate::outcome::Failure;

/// `send`: a Look to an action; the answer is checked and its webhook id kept for
/// `${send.webhook_id}`.
pub(crate) async fn send<H: Harness>(
    run: &mut Run<'_, H>,
    at: &str,
    send: &SendStep,
) -> anyhow::Result<()> {
    let Run {
        h,
        sc,
        ctx,
        record,
        failures,
        gate,
        told_success,
    } = run;
    let look_name = send
        .look
        .clone()
        .or_else(|| sc.looks.keys().next().cloned())
        .ok_or_else(|| anyhow::anyhow!("{at}: no look defined"))?;
    let look = sc.looks[&look_name].clone();
    let req = SendRequest {
        action: send.action.clone(),
        look,
        format: send.format.clone(),
        download: send.download,
        params: ctx.params(&send.action, &send.params),
        form: send
            .form
            .iter()
            .map(|(k, v)| (k.clone(), ctx.str(v)))
            .collect(),
        looker_version: send
            .looker_version
            .clone()
            .or_else(|| sc.looker.version.clone()),
        force: send.force,
        user: send.user.clone(),
        cell_value: send.cell_value.as_deref().map(|v| ctx.str(v)),
        webhook_id: send.webhook_id.as_deref().map(|v| ctx.str(v)),
    };
    let res = h.send(req).await?;
    record.answers.push(json!({
        "step": at,
        "http_status": res.http_status,
        "body": res.body,
    }));
    if let Some(id) = &res.webhook_id {
        ctx.set("${send.webhook_id}", id.clone());
    }
    *told_success |= res.success;
    let expect = gate.answer(at, send.expect.as_ref().unwrap_or(&AnswerExpect::default()));
    check_answer(at, &res, &expect, ctx, failures);
    Ok(())
}

/// `fetch_form`: an action's form as Looker fetches it.
pub(crate) async fn fetch_form<H: Harness>(
    run: &mut Run<'_, H>,
    at: &str,
    form: &FormStep,
) -> anyhow::Result<()> {
    let Run {
        h,
        sc,
        ctx,
        record,
        failures,
        gate,
        ..
    } = run;
    let mut params = ctx.params(&form.action, &form.params);
    if let Some(v) = &form.cell_value {
        params.insert("value".into(), ctx.str(v));
    }
    let res = h
        .fetch_form(FormRequest {
            action: form.action.clone(),
            params,
            form: form.form.clone(),
            looker_version: form
                .looker_version
                .clone()
                .or_else(|| sc.looker.version.clone()),
            user: form.user.clone(),
        })
        .await?;
    record.answers.push(json!({
        "step": at, "http_status": res.http_status, "body": res.body,
    }));
    let expect = gate.form(at, form.expect.as_ref().unwrap_or(&FormExpect::default()));
    check_form(at, &res, &expect, ctx, failures);
    Ok(())
}

/// `list_actions`: the hub's action list as a Looker of some version reads it.
pub(crate) async fn list_actions<H: Harness>(
    run: &mut Run<'_, H>,
    at: &str,
    list: &ListStep,
) -> anyhow::Result<()> {
    let Run {
        h,
        sc,
        ctx,
        record,
        failures,
        ..
    } = run;
    let version = list
        .looker_version
        .clone()
        .or_else(|| sc.looker.version.clone());
    let res = h.list_actions(version).await?;
    record.answers.push(json!({
        "step": at,
        "actions": res.actions.iter().map(|a| json!({
            "name": a.get("name"),
            "supported_formats": a.get("supported_formats"),
        })).collect::<Vec<_>>(),
    }));
    check_breaches(at, &res.breaches, None, failures);
    let names: Vec<String> = res
        .actions
        .iter()
        .map(|a| {
            a.get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    let missing: Vec<&String> = list
        .names
        .iter()
        .flatten()
        .filter(|n| !names.contains(n))
        .collect();
    if !missing.is_empty() {
        failures.push(Failure {
            class: FailureClass::Protocol,
            at: at.to_string(),
            message: format!(
                "the list lacks {}; it lists {}",
                quoted(&missing),
                quoted(&names.iter().collect::<Vec<_>>())
            ),
            diff: None,
        });
    }
    let forbidden: Vec<&String> = list.excludes.iter().filter(|n| names.contains(n)).collect();
    if !forbidden.is_empty() {
        failures.push(Failure {
            class: FailureClass::Protocol,
            at: at.to_string(),
            message: format!(
                "the list includes {}, which must not be offered here",
                quoted(&forbidden)
            ),
            diff: None,
        });
    }
    for (name, formats) in &list.formats {
        let got = res
            .actions
            .iter()
            .find(|a| a.get("name").and_then(Value::as_str) == Some(name));
        let got = got.and_then(|a| a.get("supported_formats")).cloned();
        if got.as_ref() != Some(&json!(formats)) {
            failures.push(Failure {
                class: FailureClass::Protocol,
                at: at.to_string(),
                message: format!("supported_formats of `{name}` differ"),
                diff: Some(matcher::diff(
                    &json!(formats),
                    &got.unwrap_or(Value::String("<action not listed>".into())),
                )),
            });
        }
    }
    for (name, want) in &list.actions {
        let want = ctx.value(want);
        let got = res
            .actions
            .iter()
            .find(|a| a.get("name").and_then(Value::as_str) == Some(name));
        let class = FailureClass::Protocol;
        compare(class, at, &format!("action `{name}`"), &want, got, failures);
    }
    Ok(())
}

/// `a`, `b` and `c` as a reader expects them in a message (no Rust Debug text).
fn quoted(names: &[&String]) -> String {
    if names.is_empty() {
        return "nothing".into();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
