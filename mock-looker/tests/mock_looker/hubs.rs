//! Talking to hubs: list, offer, execute, forms, state, and reading answers like Looker.

use std::collections::BTreeMap;
use std::time::Duration;

use mock_looker::{Download, Format, HubOptions, Look, MockError, MockLooker, SendRequest, demo};
use serde_json::{Value, json};

use crate::helpers::{FakeHub, Reply, params};

/// A generous hub timeout: these tests are about what is sent and read, not about timing, and
/// CI machines are shared (a 20,000-row push once missed a 3 s limit under load).
async fn looker() -> MockLooker {
    MockLooker::builder()
        .hub_timeout(Duration::from_secs(30))
        .start()
        .await
        .unwrap()
}

fn users(l: &MockLooker) -> Look {
    l.look(demo::USERS).unwrap()
}

#[tokio::test]
async fn register_lists_actions_with_looker_headers_and_masks_the_token() {
    let hub = FakeHub::good().await;
    let l = MockLooker::builder()
        .looker_version("7.3.0")
        .start()
        .await
        .unwrap();
    let h = l
        .register_hub(&hub.url, HubOptions::default().token("s3cret-token"))
        .await
        .unwrap();
    assert_eq!(h.label.as_deref(), Some("Fake Hub"));
    assert_eq!(h.actions.len(), 6);
    assert!(h.breaches.is_empty(), "{:?}", h.breaches);
    assert!(h.fetch_error.is_none());
    let list = &hub.requests_to("/")[0];
    assert_eq!(list.method, "POST");
    assert_eq!(
        list.header("user-agent").unwrap(),
        "LookerOutgoingWebhook/7.3.0"
    );
    assert_eq!(
        list.header("authorization").unwrap(),
        "Token token=\"s3cret-token\""
    );
    assert_eq!(list.header("x-looker-instance").unwrap(), l.instance_id());
    assert_eq!(list.header("x-looker-webhook-id").unwrap().len(), 32);
    assert!(list.body.is_empty(), "the list request has an empty body");
    // Version per hub overrides the instance default.
    let h2 = l
        .register_hub(&hub.url, HubOptions::default().looker_version("6.0.0"))
        .await
        .unwrap();
    assert_eq!(
        hub.requests_to("/")[1].header("user-agent").unwrap(),
        "LookerOutgoingWebhook/6.0.0"
    );
    assert!(hub.requests_to("/")[1].header("authorization").is_none());
    assert_ne!(h.id, h2.id);
    let journal = serde_json::to_string(&l.journal()).unwrap();
    assert!(
        !journal.contains("s3cret-token"),
        "token leaked into the journal"
    );
    assert!(journal.contains("Token token=\\\"********\\\""));
    // The journal is served under /_mock/ too.
    let served: Value = reqwest::get(format!("{}/_mock/journal", l.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served.as_array().unwrap().len(), 2);
    assert_eq!(served[0]["kind"], "list");
}

#[tokio::test]
async fn offer_follows_params_action_types_and_tag_rules_with_reasons() {
    let hub = FakeHub::good().await;
    let l = looker().await;
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    let u = users(&l);
    assert!(l.offer(&h.id, "identify", &u, &params()).is_ok());
    let e = l
        .offer(&h.id, "identify", &u, &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("Write Key") && e.contains("write_key"), "{e}");
    let e = l
        .offer(&h.id, "cell_only", &u, &params())
        .unwrap_err()
        .to_string();
    assert!(e.contains("supported_action_types"), "{e}");
    // any_tag wins over tag: the group action is offered for a Look without a group id.
    assert!(l.offer(&h.id, "group", &u, &params()).is_ok());
    let untagged = Look::from_yaml_str(
        "title: Untagged\nmodel: m\nexplore: e\nfields: {dimensions: [{name: e.name}]}\nrows: [{e.name: x}]\n",
        "t",
    )
    .unwrap();
    let e = l
        .offer(&h.id, "identify", &untagged, &params())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("rudder_anonymous_id") && e.contains("Untagged"),
        "{e}"
    );
    // all_tags needs one field with every tag.
    let split = Look::from_yaml_str(
        "title: Split\nmodel: m\nexplore: e\nfields: {dimensions: [{name: e.a, tags: [email]}, {name: e.b, tags: [pii]}]}\n",
        "t",
    )
    .unwrap();
    assert!(
        l.offer(&h.id, "all_tags", &split, &BTreeMap::new())
            .is_err()
    );
    let both = Look::from_yaml_str(
        "title: Both\nmodel: m\nexplore: e\nfields: {dimensions: [{name: e.a, tags: [email, pii]}]}\n",
        "t",
    )
    .unwrap();
    assert!(l.offer(&h.id, "all_tags", &both, &BTreeMap::new()).is_ok());
    // send refuses what Looker would not offer, unless forced.
    let err = l
        .send(SendRequest::new(&h.id, "identify", u.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, MockError::NotOffered(_)), "{err}");
    assert!(hub.requests_to("/actions/identify/execute").is_empty());
    // Configured params are used.
    l.configure_action(&h.id, "identify", true, params())
        .unwrap();
    assert!(l.offer(&h.id, "identify", &u, &BTreeMap::new()).is_ok());
}

#[tokio::test]
async fn execute_with_a_download_url_like_looker() {
    let hub = FakeHub::good().await;
    let l = looker().await;
    let h = l
        .register_hub(&hub.url, HubOptions::default().token("tok"))
        .await
        .unwrap();
    let mut req = SendRequest::new(&h.id, "identify", users(&l));
    req.params = params();
    let out = l.send(req).await.unwrap();
    assert!(out.success, "{out:?}");
    assert!(out.breaches.is_empty(), "{:?}", out.breaches);
    assert_eq!(
        out.message.as_deref(),
        Some("identify rows=4 format=json_detail")
    );
    assert_eq!(out.format, Format::JsonDetailLiteStream);
    assert_eq!(out.download, Download::Url);
    assert_eq!(out.download_fetches, 1);
    let ex = &hub.requests_to("/actions/identify/execute")[0];
    assert_eq!(ex.header("transfer-encoding").as_deref(), Some("chunked"));
    assert!(ex.header("content-length").is_none());
    assert_eq!(ex.header("authorization").unwrap(), "Token token=\"tok\"");
    assert_eq!(ex.header("x-looker-webhook-id").unwrap(), out.webhook_id);
    let body = ex.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "type",
            "scheduled_plan",
            "attachment",
            "data",
            "form_params"
        ]
    );
    assert_eq!(body["type"], "query");
    assert_eq!(body["attachment"], Value::Null);
    assert_eq!(body["data"]["write_key"], "wk_secret_123");
    assert_eq!(body["form_params"], json!({}));
    let plan = &body["scheduled_plan"];
    assert_eq!(plan["type"], "Look");
    assert_eq!(plan["title"], "Users");
    assert_eq!(plan["query"]["model"], "thelook");
    assert_eq!(plan["query"]["view"], "users");
    assert_eq!(plan["query"]["limit"], "500");
    assert_eq!(
        plan["query"]["vis_config"]["hidden_fields"],
        json!(["users.internal_note"])
    );
    let url = plan["download_url"].as_str().unwrap();
    let token = url.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 40);
    // Second use is refused.
    let again = reqwest::get(url).await.unwrap();
    assert_eq!(again.status(), 404);
    // Secrets are masked in the journal.
    let journal = serde_json::to_string(&l.journal()).unwrap();
    assert!(!journal.contains("wk_secret_123"));
    assert!(
        journal.contains("http://dp.local"),
        "non-sensitive params stay readable"
    );
}

#[tokio::test]
async fn download_urls_expire() {
    let hub = FakeHub::answering("/actions/identify/execute", || {
        Reply::Json(
            200,
            json!({"looker": {"success": true, "validation_errors": {}}}),
        )
    })
    .await;
    let l = MockLooker::builder()
        .download_ttl(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    let mut req = SendRequest::new(&h.id, "identify", users(&l));
    req.params = params();
    let out = l.send(req).await.unwrap();
    assert_eq!(out.download_fetches, 0);
    let url =
        hub.requests_to("/actions/identify/execute")[0].json()["scheduled_plan"]["download_url"]
            .as_str()
            .unwrap()
            .to_owned();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn push_sends_the_data_as_a_string_attachment_in_the_picked_format() {
    let hub = FakeHub::good().await;
    let l = looker().await;
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    let base = SendRequest::new(&h.id, "track", users(&l)).form_value("event", "Signed Up");
    let mut req = base.clone();
    req.params = params();
    let out = l.send(req.clone()).await.unwrap();
    assert!(out.success, "{out:?}");
    assert_eq!(out.format, Format::JsonDetail, "first supported format");
    assert_eq!(
        out.message.as_deref(),
        Some("track rows=4 format=json_detail")
    );
    let ex = hub
        .requests_to("/actions/track/execute")
        .pop()
        .unwrap()
        .json();
    assert_eq!(ex["attachment"]["mimetype"], "application/json");
    assert_eq!(ex["attachment"]["extension"], "json");
    assert!(
        ex["attachment"]["data"].is_string(),
        "data must be a string"
    );
    assert!(ex["scheduled_plan"].get("download_url").is_none());
    assert_eq!(ex["form_params"]["event"], "Signed Up");
    let out = l.send(req.clone().format(Format::Csv)).await.unwrap();
    assert_eq!(out.message.as_deref(), Some("track rows=4 format=csv"));
    let ex = hub
        .requests_to("/actions/track/execute")
        .pop()
        .unwrap()
        .json();
    assert_eq!(ex["attachment"]["mimetype"], "text/csv");
    assert!(
        ex["attachment"]["data"]
            .as_str()
            .unwrap()
            .starts_with("Users ID,Users Email")
    );
    let e = l
        .send(req.clone().format(Format::Txt))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("supported_formats"), "{e}");
    let e = l
        .send(req.download(Download::Url))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("download"), "{e}");
    // A big generated Look streams through a push too.
    let gen_users = Look::generated(
        l.look(demo::GENERATED_USERS).unwrap().def().clone(),
        5_000,
        7,
    )
    .unwrap();
    let mut big = SendRequest::new(&h.id, "track", gen_users).form_value("event", "x");
    big.params = params();
    let out = l.send(big).await.unwrap();
    assert_eq!(
        out.message.as_deref(),
        Some("track rows=5000 format=json_detail"),
        "{out:?}"
    );
}

#[tokio::test]
async fn forms_validate_required_fields_and_requery_interactive_ones() {
    let hub = FakeHub::good().await;
    let l = looker().await;
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    let form = l
        .fetch_form(&h.id, "track", params(), BTreeMap::new())
        .await
        .unwrap();
    assert!(form.breaches.is_empty(), "{:?}", form.breaches);
    assert_eq!(form.fields.len(), 2);
    let sent = hub.requests_to("/actions/track/form")[0].json();
    assert_eq!(sent["data"]["write_key"], "wk_secret_123");
    assert_eq!(sent["form_params"], json!({}));
    let mut req = SendRequest::new(&h.id, "track", users(&l));
    req.params = params();
    let e = l.send(req.clone()).await.unwrap_err();
    assert!(
        matches!(e, MockError::FormRejected(ref m) if m.contains("Event")),
        "{e}"
    );
    let e = l
        .send(
            req.clone()
                .form_value("event", "e")
                .form_value("kind", "zzz"),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not one of its options"), "{e}");
    // Choosing b (interactive) re-queries the form, which then requires `extra`.
    let before = hub.requests_to("/actions/track/form").len();
    let e = l
        .send(req.clone().form_value("event", "e").form_value("kind", "b"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("extra"), "{e}");
    let forms = hub.requests_to("/actions/track/form");
    assert_eq!(
        forms.len(),
        before + 2,
        "initial fetch + interactive re-query"
    );
    assert_eq!(forms.last().unwrap().json()["form_params"]["kind"], "b");
    let ok = l
        .send(
            req.form_value("event", "e")
                .form_value("kind", "b")
                .form_value("extra", "x"),
        )
        .await
        .unwrap();
    assert!(ok.success);
    assert!(ok.timings.form.is_some());
}

#[tokio::test]
async fn oauth_state_is_stored_per_user_and_sent_back_as_state_json() {
    let hub = FakeHub::good().await;
    let l = looker().await;
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    let form = l
        .fetch_form(&h.id, "oauthy", BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(form.oauth_links.len(), 1, "{form:?}");
    let sent = hub.requests_to("/actions/oauthy/form")[0].json();
    let state_url = sent["data"]["state_url"].as_str().unwrap().to_owned();
    assert!(state_url.starts_with(&format!("{}/action_hub_state/", l.url())));
    assert!(
        l.journal()
            .iter()
            .any(|j| j.oauth_links == form.oauth_links)
    );
    // Over 32 KB is refused; then the hub posts the token (one use).
    let c = serving::http_client().build().expect("an HTTP client");
    let big = c
        .post(&state_url)
        .body(vec![b'x'; 33 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    let r = c
        .post(&state_url)
        .body(r#"{"access_token":"abc"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        c.post(&state_url).body("{}").send().await.unwrap().status(),
        404
    );
    assert_eq!(
        l.user_state("1", &h.id, "oauthy").as_deref(),
        Some(r#"{"access_token":"abc"}"#)
    );
    assert_eq!(
        l.user_state("2", &h.id, "oauthy"),
        None,
        "state is per user"
    );
    let out = l
        .send(SendRequest::new(&h.id, "oauthy", users(&l)))
        .await
        .unwrap();
    assert!(out.success, "{out:?}");
    let ex = hub
        .requests_to("/actions/oauthy/execute")
        .pop()
        .unwrap()
        .json();
    assert_eq!(ex["data"]["state_json"], r#"{"access_token":"abc"}"#);
    assert_eq!(ex["form_params"]["folder"], "root", "form default sent");
    let journal = serde_json::to_string(&l.journal()).unwrap();
    assert!(
        !journal.contains("access_token"),
        "state is masked in the journal"
    );
}

async fn hub_answering(body: &'static [u8], status: u16) -> (FakeHub, MockLooker, String) {
    let hub = FakeHub::answering("/actions/identify/execute", move || {
        Reply::Raw(status, body.to_vec())
    })
    .await;
    let l = looker().await;
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    l.configure_action(&h.id, "identify", true, params())
        .unwrap();
    (hub, l, h.id)
}

#[tokio::test]
async fn answers_are_read_like_looker() {
    // Leading keep-alive newlines then JSON: fine.
    let (_h, l, id) = hub_answering(
        b"\n\n\n{\"looker\":{\"success\":true,\"validation_errors\":{},\"refresh_query\":true}}",
        200,
    )
    .await;
    let out = l
        .send(SendRequest::new(&id, "identify", users(&l)))
        .await
        .unwrap();
    assert!(out.success && out.breaches.is_empty(), "{out:?}");
    assert!(out.refresh_query);
    // success:false at 200 is a failure, not a breach.
    let (_h, l, id) = hub_answering(
        b"{\"looker\":{\"success\":false,\"message\":\"Query requires a field tagged email\",\"validation_errors\":{\"write_key\":\"bad\"}}}",
        200,
    )
    .await;
    let out = l
        .send(SendRequest::new(&id, "identify", users(&l)))
        .await
        .unwrap();
    assert!(!out.success);
    assert!(out.breaches.is_empty(), "{:?}", out.breaches);
    assert_eq!(
        out.message.as_deref(),
        Some("Query requires a field tagged email")
    );
    assert_eq!(out.validation_errors["write_key"], "bad");
}

#[tokio::test]
async fn contract_breaches_name_request_rule_and_path() {
    let cases: [(&'static [u8], u16, &str, &str); 5] = [
        (
            b"{\"looker\":{\"success\":false,\"validation_errors\":[]}}",
            200,
            "execute.validation_errors",
            "$.looker.validation_errors",
        ),
        (
            b"{\"looker\":{\"success\":true}}",
            500,
            "execute.status",
            "$",
        ),
        (b"<html>oops</html>", 200, "execute.json", "$"),
        (b"{\"success\":true}", 200, "execute.looker", "$.looker"),
        (b"", 200, "execute.json", "$"),
    ];
    for (body, status, rule, path) in cases {
        let (hub, l, id) = hub_answering(body, status).await;
        let out = l
            .send(SendRequest::new(&id, "identify", users(&l)))
            .await
            .unwrap();
        assert!(!out.success, "{rule}");
        let b = out
            .breaches
            .iter()
            .find(|b| b.rule == rule)
            .unwrap_or_else(|| panic!("{rule}: {:?}", out.breaches));
        assert_eq!(b.json_path, path);
        assert_eq!(
            b.request,
            format!("POST {}/actions/identify/execute", hub.url)
        );
        assert!(!b.detail.is_empty());
    }
}

#[tokio::test]
async fn list_and_form_breaches_are_reported() {
    let mut list = crate::helpers::reference_list("http://127.0.0.1:9");
    list["integrations"][1]
        .as_object_mut()
        .unwrap()
        .remove("url");
    list["integrations"][2]["supported_formats"] = json!(["json_detail", "parquet"]);
    list["integrations"][0]["params"][0]["required"] = json!("yes");
    let hub = FakeHub::with_list(list).await;
    let l = looker().await;
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    let rules: Vec<(&str, &str)> = h
        .breaches
        .iter()
        .map(|b| (b.rule.as_str(), b.json_path.as_str()))
        .collect();
    assert!(
        rules.contains(&("action.url", "$.integrations[1].url")),
        "{rules:?}"
    );
    assert!(
        rules.contains(&(
            "action.supported_formats",
            "$.integrations[2].supported_formats[1]"
        )),
        "{rules:?}"
    );
    assert!(
        rules.contains(&("param.required", "$.integrations[0].params[0].required")),
        "{rules:?}"
    );
    assert_eq!(rules.len(), 3, "{rules:?}");
    // An action without url cannot be offered.
    let e = l
        .offer(&h.id, "track", &users(&l), &params())
        .unwrap_err()
        .to_string();
    assert!(e.contains("url"), "{e}");

    let hub = FakeHub::answering("/actions/track/form", || {
        Reply::Json(200, json!({"fields": [{"name": "x", "type": "colour_picker"}, {"type": "string"}, {"name": "s", "type": "select"}]}))
    })
    .await;
    let l = looker().await;
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    let form = l
        .fetch_form(&h.id, "track", params(), BTreeMap::new())
        .await
        .unwrap();
    let rules: Vec<(&str, &str)> = form
        .breaches
        .iter()
        .map(|b| (b.rule.as_str(), b.json_path.as_str()))
        .collect();
    assert_eq!(
        rules,
        [
            ("form_field.type", "$.fields[0].type"),
            ("form_field.name", "$.fields[1].name"),
            ("form_field.options", "$.fields[2].options")
        ]
    );
    // A form error is a 200 with only {error}: read, not a breach.
    let hub = FakeHub::answering("/actions/track/form", || {
        Reply::Json(
            200,
            json!({"error": "Required setting \"Write Key\" not specified in action settings."}),
        )
    })
    .await;
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    let form = l
        .fetch_form(&h.id, "track", params(), BTreeMap::new())
        .await
        .unwrap();
    assert!(form.breaches.is_empty());
    assert!(form.error.unwrap().contains("Write Key"));
}

#[tokio::test]
async fn a_bad_hub_ends_in_a_reported_failure_never_a_hang() {
    let hang = FakeHub::answering("/actions/identify/execute", || Reply::Hang).await;
    let big =
        FakeHub::answering("/actions/identify/execute", || Reply::Big(10 * 1024 * 1024)).await;
    let redirect = FakeHub::answering("/actions/identify/execute", || {
        Reply::Redirect("/actions/identify/execute".into())
    })
    .await;
    let l = MockLooker::builder()
        .hub_timeout(Duration::from_millis(700))
        .start()
        .await
        .unwrap();
    for (hub, rule) in [
        (&hang, "execute.timeout"),
        (&big, "execute.answer_size"),
        (&redirect, "execute.redirect"),
    ] {
        let h = l
            .register_hub(&hub.url, HubOptions::default())
            .await
            .unwrap();
        let mut req = SendRequest::new(&h.id, "identify", users(&l));
        req.params = params();
        let start = std::time::Instant::now();
        let out = l.send(req).await.unwrap();
        assert!(
            // The timeout is 700 ms; 10 s still proves "no hang" on a loaded machine.
            start.elapsed() < Duration::from_secs(10),
            "{rule} took {:?}",
            start.elapsed()
        );
        assert!(!out.success);
        assert!(out.failure.is_some(), "{rule}");
        assert!(
            out.breaches.iter().any(|b| b.rule == rule),
            "{rule}: {:?}",
            out.breaches
        );
    }
    // A hub that is down: reported at registration.
    let h = l
        .register_hub("http://127.0.0.1:9", HubOptions::default())
        .await
        .unwrap();
    assert!(h.fetch_error.is_some());
    assert!(
        h.breaches.iter().any(|b| b.rule == "list.connect"),
        "{:?}",
        h.breaches
    );
}
