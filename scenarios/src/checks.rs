//! Checks of what came back against what a scenario expects: answers, forms, logins, contract
//! breaches, events and write-back rows. Each check appends readable [`Failure`]s (with the path
//! of every mismatch and a diff) instead of stopping at the first.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::classes::FailureClass;
use crate::ctx::Ctx;
use crate::format::{
    AnswerExpect, BreachExpect, EventFilterSpec, EventsExpect, FormExpect, LoginExpect,
    WritebackExpect,
};
use crate::harness::{Breach, FormResult, Harness, LoginResult, SendResult, Stored};
use crate::matcher::{self, Mismatch};
use crate::outcome::Failure;

/// Default time to wait for expected events.
pub const DEFAULT_EVENT_WAIT: Duration = Duration::from_secs(10);

pub(crate) fn compare(
    class: FailureClass,
    at: &str,
    what: &str,
    expected: &Value,
    actual: Option<&Value>,
    out: &mut Vec<Failure>,
) {
    let mut mm = Vec::new();
    matcher::check(expected, actual, "", &mut mm);
    if !mm.is_empty() {
        out.push(Failure::diffed(
            class,
            at,
            format!("{what} differs: {}", list(&mm)),
            matcher::diff(
                &matcher::render_expected(expected),
                &matcher::render_actual(expected, actual),
            ),
        ));
    }
}

fn list(mm: &[Mismatch]) -> String {
    let mut s: Vec<String> = mm.iter().take(5).map(|m| m.to_string()).collect();
    if mm.len() > 5 {
        s.push(format!("… and {} more", mm.len() - 5));
    }
    s.join("; ")
}

pub(crate) fn check_breaches(
    at: &str,
    got: &[Breach],
    want: Option<&Vec<BreachExpect>>,
    out: &mut Vec<Failure>,
) {
    let empty = Vec::new();
    let want = want.unwrap_or(&empty);
    let matches = |b: &Breach, w: &BreachExpect| {
        w.rule.as_ref().is_none_or(|r| b.rule.contains(r.as_str()))
            && w.json_path
                .as_ref()
                .is_none_or(|p| b.json_path.contains(p.as_str()))
            && w.detail
                .as_ref()
                .is_none_or(|d| b.detail.contains(d.as_str()))
    };
    let unexpected: Vec<&Breach> = got
        .iter()
        .filter(|b| !want.iter().any(|w| matches(b, w)))
        .collect();
    let missing: Vec<&BreachExpect> = want
        .iter()
        .filter(|w| !got.iter().any(|b| matches(b, w)))
        .collect();
    if !unexpected.is_empty() {
        out.push(Failure::plain(
            FailureClass::Protocol,
            at,
            format!(
                "the mock Looker found {} contract breach(es): {}",
                unexpected.len(),
                unexpected
                    .iter()
                    .map(|b| format!(
                        "[{}] {} at {}: {}",
                        b.request, b.rule, b.json_path, b.detail
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }
    if !missing.is_empty() {
        let shown: Vec<String> = missing
            .iter()
            .map(|w| {
                [
                    ("rule", &w.rule),
                    ("json_path", &w.json_path),
                    ("detail", &w.detail),
                ]
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} containing `{v}`")))
                .collect::<Vec<_>>()
                .join(", ")
            })
            .collect();
        out.push(Failure::plain(
            FailureClass::Protocol,
            at,
            format!(
                "expected contract breach(es) not reported: {}",
                shown.join("; ")
            ),
        ));
    }
}

pub(crate) fn check_answer(
    at: &str,
    res: &SendResult,
    e: &AnswerExpect,
    ctx: &Ctx,
    out: &mut Vec<Failure>,
) {
    let shown = || serde_json::to_string(&res.body).unwrap_or_default();
    if let Some(status) = e.http_status
        && status != res.http_status
    {
        out.push(Failure::plain(
            FailureClass::Answer,
            at,
            format!(
                "HTTP status {}, expected {status}; body {}",
                res.http_status,
                shown()
            ),
        ));
    }
    if let Some(success) = e.success
        && success != res.success
    {
        out.push(Failure::plain(
            FailureClass::Answer,
            at,
            format!(
                "Looker was told success:{}, expected success:{success}; message: {}",
                res.success,
                res.message.as_deref().unwrap_or("<none>")
            ),
        ));
    }
    if let Some(parts) = &e.message_contains {
        let msg = res.message.clone().unwrap_or_default();
        for part in parts.all() {
            let part = ctx.str(part);
            if !msg.contains(&part) {
                out.push(Failure {
                    class: FailureClass::Answer,
                    at: at.into(),
                    message: format!("the message does not contain `{part}`"),
                    diff: Some(matcher::diff(&json!(part), &json!(msg))),
                });
            }
        }
    }
    if let Some(m) = &e.message {
        let got = res.message.clone().map(Value::String);
        compare(
            FailureClass::Answer,
            at,
            "message",
            &ctx.value(m),
            got.as_ref(),
            out,
        );
    }
    if let Some(b) = &e.body {
        compare(
            FailureClass::Answer,
            at,
            "answer body",
            &ctx.value(b),
            Some(&res.body),
            out,
        );
    }
    if let Some(want) = e.refresh_query
        && want != res.refresh_query
    {
        out.push(Failure::plain(
            FailureClass::Answer,
            at,
            format!(
                "Looker was told refresh_query:{}, expected refresh_query:{want}; body {}",
                res.refresh_query,
                shown()
            ),
        ));
    }
    if let Some(v) = &e.validation_errors {
        compare(
            FailureClass::Answer,
            at,
            "validation_errors",
            &ctx.value(v),
            Some(&res.validation_errors),
            out,
        );
    }
    check_breaches(at, &res.breaches, e.breaches.as_ref(), out);
}

pub(crate) fn check_login(at: &str, res: &LoginResult, e: &LoginExpect, out: &mut Vec<Failure>) {
    if res.oauth_url.is_none() {
        out.push(Failure::plain(
            FailureClass::Answer,
            at,
            format!("the form offered no oauth_link to follow: {}", res.body),
        ));
        return;
    }
    let ok = (200..300).contains(&res.status);
    if let Some(want) = e.ok
        && want != ok
    {
        out.push(Failure::plain(
            FailureClass::Answer,
            at,
            format!(
                "the login ended on HTTP {} ({}), expected {}; page: {}",
                res.status,
                if ok { "ok" } else { "not ok" },
                if want { "ok" } else { "not ok" },
                res.body
            ),
        ));
    }
    if let Some(want) = e.status
        && want != res.status
    {
        out.push(Failure::plain(
            FailureClass::Answer,
            at,
            format!(
                "the login ended on HTTP {}, expected {want}; page: {}",
                res.status, res.body
            ),
        ));
    }
    if let Some(parts) = &e.body_contains {
        for part in parts.all() {
            if !res.body.contains(part) {
                out.push(Failure {
                    class: FailureClass::Answer,
                    at: at.into(),
                    message: format!("the last page does not contain `{part}`"),
                    diff: Some(matcher::diff(&json!(part), &json!(res.body))),
                });
            }
        }
    }
    if let Some(want) = e.state_stored
        && want != res.state_stored
    {
        out.push(Failure::plain(FailureClass::Answer, at, if want {
                format!(
                    "Looker keeps no new state for the user: the hub did not POST the token to state_url (last page HTTP {}: {})",
                    res.status, res.body
                )
            } else {
                "Looker keeps a new state for the user, expected none (the hub POSTed to state_url)"
                    .into()
            }));
    }
}

/// How [`match_items`] names what it matched against, in its messages.
#[derive(Clone, Copy)]
struct Noun {
    one: &'static str,
    none: &'static str,
    missing: &'static str,
}

/// Each expected item must match its own stored value: the one at the same position when
/// `ordered`, else any value no earlier item claimed. A miss is reported against the closest
/// candidate, so the diff shows what is really off.
fn match_items(
    at: &str,
    items: &[Map<String, Value>],
    values: &[&Value],
    ordered: bool,
    noun: Noun,
    missing: FailureClass,
    out: &mut Vec<Failure>,
) {
    let mut used = vec![false; values.len()];
    for (idx, item) in items.iter().enumerate() {
        let found = if ordered {
            values
                .get(idx)
                .filter(|v| matcher::check_item(item, v).is_empty())
                .map(|_| idx)
        } else {
            (0..values.len()).find(|&j| !used[j] && matcher::check_item(item, values[j]).is_empty())
        };
        if let Some(j) = found {
            used[j] = true;
            continue;
        }
        let candidates: Vec<usize> = if ordered {
            (idx < values.len()).then_some(idx).into_iter().collect()
        } else {
            (0..values.len()).filter(|&j| !used[j]).collect()
        };
        let best = candidates
            .into_iter()
            .min_by_key(|&j| matcher::check_item(item, values[j]).len());
        out.push(match best {
            Some(j) => {
                let mm = matcher::check_item(item, values[j]);
                let (exp, act) = matcher::render_item(item, values[j]);
                Failure {
                    class: FailureClass::Payload,
                    at: at.into(),
                    message: format!(
                        "items[{idx}] matches no {}{}; closest is #{j}: {}",
                        if ordered { "" } else { "unclaimed " },
                        noun.one,
                        list(&mm)
                    ),
                    diff: Some(matcher::diff(&exp, &act)),
                }
            }
            None => Failure {
                class: missing,
                at: at.into(),
                message: format!(
                    "items[{idx}] has no {} to match: only {} {}",
                    noun.one,
                    values.len(),
                    noun.none
                ),
                diff: Some(matcher::diff(
                    &matcher::render_expected(&Value::Object(item.clone())),
                    &Value::String(noun.missing.into()),
                )),
            },
        });
    }
}

/// Check write-back rows (already read from the database) against an expectation.
pub(crate) fn check_rows(
    at: &str,
    all: &[Value],
    e: &WritebackExpect,
    ctx: &Ctx,
    told_success: bool,
    out: &mut Vec<Failure>,
) {
    let rows: Vec<&Value> = all
        .iter()
        .filter(|r| {
            e.filter.iter().all(|(k, v)| {
                let want = ctx.str(v);
                match r.get(k) {
                    Some(Value::String(s)) => *s == want,
                    Some(Value::Number(n)) => n.to_string() == want,
                    _ => false,
                }
            })
        })
        .collect();
    let shown = || {
        let mut s = String::new();
        for (i, r) in rows.iter().take(10).enumerate() {
            s.push_str(&format!("  #{i} {r}\n"));
        }
        if rows.len() > 10 {
            s.push_str(&format!("  … {} more\n", rows.len() - 10));
        }
        if rows.is_empty() {
            s.push_str("  (no rows)\n");
        }
        s
    };
    if let Some(n) = e.count
        && rows.len() != n
    {
        let class = if rows.len() < n {
            FailureClass::loss(told_success)
        } else {
            FailureClass::Duplicate
        };
        out.push(Failure {
            class,
            at: at.into(),
            message: format!(
                "{} write-back row(s){} in the database, expected {n}",
                rows.len(),
                shown_filter(e.filter.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            ),
            diff: Some(shown()),
        });
    }
    let items: Vec<Map<String, Value>> = e.items.iter().map(|i| ctx.map(i)).collect();
    let noun = Noun {
        one: "row",
        none: "row(s) in the database",
        missing: "<no row>",
    };
    let missing = FailureClass::loss(told_success);
    match_items(at, &items, &rows, e.ordered, noun, missing, out);
    if let Some(each) = &e.each {
        check_each(at, &ctx.map(each), &rows, noun.one, out);
    }
}

/// `each`: every stored value must match it. The first three misses are shown with a diff,
/// the rest counted.
fn check_each(
    at: &str,
    each: &Map<String, Value>,
    values: &[&Value],
    one: &str,
    out: &mut Vec<Failure>,
) {
    let mut bad = 0;
    for (j, v) in values.iter().enumerate() {
        let mm = matcher::check_item(each, v);
        if mm.is_empty() {
            continue;
        }
        bad += 1;
        if bad <= 3 {
            let (exp, act) = matcher::render_item(each, v);
            out.push(Failure {
                class: FailureClass::Payload,
                at: at.into(),
                message: format!("{one} #{j} does not match `each`: {}", list(&mm)),
                diff: Some(matcher::diff(&exp, &act)),
            });
        }
    }
    if bad > 3 {
        out.push(Failure::plain(
            FailureClass::Payload,
            at,
            format!("{} more {one}(s) do not match `each`", bad - 3),
        ));
    }
}

pub(crate) fn check_form(
    at: &str,
    res: &FormResult,
    e: &FormExpect,
    ctx: &Ctx,
    out: &mut Vec<Failure>,
) {
    if let Some(status) = e.http_status
        && status != res.http_status
    {
        out.push(Failure::plain(
            FailureClass::Answer,
            at,
            format!(
                "HTTP status {}, expected {status}; body {}",
                res.http_status, res.body
            ),
        ));
    }
    if let Some(names) = &e.field_names {
        let got: Vec<String> = res
            .body
            .get("fields")
            .and_then(Value::as_array)
            .map(|f| {
                f.iter()
                    .map(|x| {
                        x.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        if &got != names {
            out.push(Failure {
                class: FailureClass::Answer,
                at: at.into(),
                message: "form field names differ".into(),
                diff: Some(matcher::diff(&json!(names), &json!(got))),
            });
        }
    }
    if let Some(part) = &e.error_contains {
        let got = res.body.get("error").and_then(Value::as_str).unwrap_or("");
        if !got.contains(part.as_str()) {
            out.push(Failure::plain(
                FailureClass::Answer,
                at,
                format!("form error does not contain `{part}`; body {}", res.body),
            ));
        }
    }
    if let Some(b) = &e.body {
        compare(
            FailureClass::Answer,
            at,
            "form",
            &ctx.value(b),
            Some(&res.body),
            out,
        );
    }
    let fields: Vec<&Value> = res
        .body
        .get("fields")
        .and_then(Value::as_array)
        .map(|f| f.iter().collect())
        .unwrap_or_default();
    if let Some(want) = e.oauth_link {
        let links: Vec<&Value> = fields
            .iter()
            .copied()
            .filter(|f| {
                f.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.starts_with("oauth_link"))
            })
            .collect();
        let has = links
            .iter()
            .any(|f| f.get("oauth_url").and_then(Value::as_str).is_some());
        if has != want {
            out.push(Failure::plain(
                FailureClass::Answer,
                at,
                if want {
                    format!(
                        "the form offers no oauth_link (with an oauth_url); body {}",
                        res.body
                    )
                } else {
                    format!(
                        "the form offers an oauth_link, expected none; body {}",
                        res.body
                    )
                },
            ));
        }
    }
    for (name, want) in &e.fields {
        let got = fields
            .iter()
            .find(|f| f.get("name").and_then(Value::as_str) == Some(name));
        match (want, got) {
            (Value::Null, None) => {}
            (Value::Null, Some(f)) => out.push(Failure::plain(
                FailureClass::Answer,
                at,
                format!("the form has a field `{name}`, expected none: {f}"),
            )),
            (_, None) => out.push(Failure::plain(
                FailureClass::Answer,
                at,
                format!("the form has no field `{name}`; body {}", res.body),
            )),
            (want, Some(got)) => {
                // A partial match: the keys given must match, others may be there.
                let want = match ctx.value(want) {
                    Value::Object(o) if !o.contains_key("match") => {
                        json!({"match": "subset", "value": o})
                    }
                    v => v,
                };
                compare(
                    FailureClass::Answer,
                    at,
                    &format!("form field `{name}`"),
                    &want,
                    Some(got),
                    out,
                );
            }
        }
    }
    check_breaches(at, &res.breaches, e.breaches.as_ref(), out);
}

/// A compact list of events for failure messages.
pub(crate) fn summarise(events: &[Stored]) -> String {
    let mut s = String::new();
    for (i, e) in events.iter().take(10).enumerate() {
        let ev = &e.event;
        s.push_str(&format!(
            "  #{i} [{}] type={} userId={} anonymousId={} event={}\n",
            e.write_key,
            ev.get("type").unwrap_or(&Value::Null),
            ev.get("userId").unwrap_or(&Value::Null),
            ev.get("anonymousId").unwrap_or(&Value::Null),
            ev.get("event").unwrap_or(&Value::Null),
        ));
    }
    if events.len() > 10 {
        s.push_str(&format!("  … {} more\n", events.len() - 10));
    }
    if events.is_empty() {
        s.push_str("  (no events)\n");
    }
    s
}

pub(crate) async fn check_events<H: Harness>(
    h: &H,
    at: &str,
    e: &EventsExpect,
    ctx: &Ctx,
    told_success: bool,
    out: &mut Vec<Failure>,
) -> anyhow::Result<()> {
    let filter = ctx.filter(&e.filter);
    // One fetch: the wait's answer is the event list when it succeeds (the hub has answered
    // already, so nothing more is on its way); otherwise fetch what is there for the report.
    let waited = match e.count {
        Some(n) if n > 0 => {
            let timeout = e
                .timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_EVENT_WAIT);
            h.wait_for(n, filter.clone(), timeout).await?.ok()
        }
        _ => None,
    };
    let events = match waited {
        Some(evs) => evs,
        None => h.events(filter).await?,
    };
    if let Some(n) = e.count
        && events.len() != n
    {
        out.push(Failure {
            class: count_class(&events, n, told_success),
            at: at.into(),
            message: format!(
                "{} event(s){} stored, expected {n}",
                events.len(),
                shown_filter(filter_pairs(&e.filter))
            ),
            diff: Some(summarise(&events)),
        });
    }
    let items: Vec<Map<String, Value>> = e.items.iter().map(|i| ctx.map(i)).collect();
    let values: Vec<&Value> = events.iter().map(|ev| &ev.event).collect();
    let noun = Noun {
        one: "event",
        none: "event(s) stored",
        missing: "<no event>",
    };
    let missing = FailureClass::loss(told_success);
    match_items(at, &items, &values, e.ordered, noun, missing, out);
    if let Some(each) = &e.each {
        check_each(at, &ctx.map(each), &values, noun.one, out);
    }
    Ok(())
}

/// The class of a wrong event count: too few is a loss (silent when Looker was told success),
/// too many is `duplicate` when the extra ones repeat a stored event (its `messageId`, or its
/// content apart from ids and times), else `payload` (events nobody expected).
pub(crate) fn count_class(events: &[Stored], expected: usize, told_success: bool) -> FailureClass {
    if events.len() < expected {
        FailureClass::loss(told_success)
    } else if events.len() - duplicates(events).max(same_content(events)) <= expected {
        FailureClass::Duplicate
    } else {
        FailureClass::Payload
    }
}

/// Stored events whose `messageId` an earlier stored event already has.
pub(crate) fn duplicates(events: &[Stored]) -> usize {
    let mut seen = std::collections::HashSet::new();
    events
        .iter()
        .filter_map(|e| e.event.get("messageId").and_then(Value::as_str))
        .filter(|id| !seen.insert(*id))
        .count()
}

/// Keys a hub sets anew each time it sends an event (and the data plane on receipt): a hub
/// that sends the same row twice under two messageIds still sends a duplicate.
const VOLATILE: [&str; 7] = [
    "messageId",
    "timestamp",
    "sentAt",
    "receivedAt",
    "rudderId",
    "originalTimestamp",
    "request_ip",
];

/// Stored events equal to an earlier one once the volatile keys are left out.
fn same_content(events: &[Stored]) -> usize {
    let mut seen = std::collections::HashSet::new();
    events
        .iter()
        .filter(|e| {
            let mut v = e.event.clone();
            if let Some(o) = v.as_object_mut() {
                for k in VOLATILE {
                    o.remove(k);
                }
            }
            !seen.insert((e.write_key.clone(), v.to_string()))
        })
        .count()
}

/// An event filter as its set keys, for messages.
fn filter_pairs(f: &EventFilterSpec) -> impl Iterator<Item = (&str, &str)> {
    [
        ("write_key", &f.write_key),
        ("type", &f.kind),
        ("user_id", &f.user_id),
        ("event", &f.event),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
}

/// ` matching write_key=wk_a, type=track`, or nothing for no filter (no Rust Debug text).
fn shown_filter<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let parts: Vec<String> = pairs.map(|(k, v)| format!("{k}={v}")).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" matching {}", parts.join(", "))
    }
}
