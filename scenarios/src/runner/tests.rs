//! Unit tests of the runner, its steps and checks against a scripted [`Harness`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::format::{LoadedScenario, parse_scenario};
use crate::harness::{
    ActionList, Breach, DataPlane, Filter, FormRequest, FormResult, Hub, JournalRow, Launcher,
    LoginRequest, LoginResult, Looker, SendRequest, SendResult, Stored,
};
use crate::outcome::Status;

/// A scripted harness: every send stores `events` under the write key it was given and
/// answers `answer`.
struct Fake {
    events: Vec<Value>,
    answer: SendResult,
    stored: Mutex<Vec<Stored>>,
    sent: Mutex<Vec<SendRequest>>,
    /// Answer to every form request (None: no forms).
    form: Option<Value>,
    /// The write-back table.
    rows: Vec<Value>,
    /// Answer to every login.
    login: Option<LoginResult>,
}

impl Looker for Fake {
    async fn send(&self, req: SendRequest) -> anyhow::Result<SendResult> {
        let key = req
            .params
            .get("rudder_write_key")
            .cloned()
            .unwrap_or_default();
        self.sent.lock().unwrap().push(req);
        for e in &self.events {
            self.stored.lock().unwrap().push(Stored {
                write_key: key.clone(),
                event: e.clone(),
            });
        }
        Ok(self.answer.clone())
    }
    async fn fetch_form(&self, _: FormRequest) -> anyhow::Result<FormResult> {
        match &self.form {
            Some(f) => Ok(FormResult {
                http_status: 200,
                body: f.clone(),
                breaches: vec![],
            }),
            None => anyhow::bail!("no forms in the fake"),
        }
    }
    async fn list_actions(&self, _: Option<String>) -> anyhow::Result<ActionList> {
        Ok(ActionList {
            actions: vec![json!({"name": "rudder_event", "supported_formats": ["json_detail"]})],
            breaches: vec![],
        })
    }
    async fn login(&self, _: LoginRequest) -> anyhow::Result<LoginResult> {
        self.login
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no logins in the fake"))
    }
}

impl Hub for Fake {
    fn hub_url(&self) -> String {
        "http://127.0.0.1:1".into()
    }
    fn hub_token(&self) -> Option<String> {
        Some("tok".into())
    }
    async fn writeback_rows(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self.rows.clone())
    }
}

impl DataPlane for Fake {
    fn dataplane_url(&self) -> String {
        "http://127.0.0.1:2".into()
    }
    fn write_keys(&self) -> Vec<String> {
        vec!["wk_a".into(), "wk_b".into()]
    }
    async fn add_fault(&self, _: Value) -> anyhow::Result<()> {
        Ok(())
    }
    async fn clear_faults(&self) -> anyhow::Result<()> {
        Ok(())
    }
    async fn reset_events(&self) -> anyhow::Result<()> {
        self.stored.lock().unwrap().clear();
        Ok(())
    }
    async fn events(&self, f: Filter) -> anyhow::Result<Vec<Stored>> {
        Ok(self
            .stored
            .lock()
            .unwrap()
            .iter()
            .filter(|s| f.write_key.as_ref().is_none_or(|k| &s.write_key == k))
            .filter(|s| {
                f.kind
                    .as_ref()
                    .is_none_or(|k| s.event.get("type").and_then(Value::as_str) == Some(k))
            })
            .take(f.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }
    async fn wait_for(
        &self,
        count: usize,
        f: Filter,
        _: Duration,
    ) -> anyhow::Result<Result<Vec<Stored>, usize>> {
        let got = self.events(f).await?;
        Ok(if got.len() >= count {
            Ok(got)
        } else {
            Err(got.len())
        })
    }
    async fn total_events(&self) -> anyhow::Result<usize> {
        Ok(self.stored.lock().unwrap().len())
    }
    async fn requests(&self) -> anyhow::Result<Vec<JournalRow>> {
        Ok(vec![JournalRow {
            path: "/v1/batch".into(),
            status: 200,
        }])
    }
}

fn fake(events: Vec<Value>, success: bool) -> Fake {
    Fake {
        events,
        answer: SendResult {
            http_status: 200,
            body: json!({"looker": {"success": success}}),
            success,
            message: (!success).then(|| "You must pass a \"groupId\".".to_string()),
            breaches: vec![],
            refresh_query: false,
            validation_errors: json!({}),
            webhook_id: Some("0123456789abcdef0123456789abcdef".into()),
        },
        stored: Mutex::new(vec![]),
        sent: Mutex::new(vec![]),
        form: None,
        rows: vec![],
        login: None,
    }
}

fn scenario(text: &str) -> LoadedScenario {
    LoadedScenario {
        name: "t".into(),
        path: PathBuf::from("t.yaml"),
        scenario: parse_scenario(Path::new("t.yaml"), text, &|_| None).unwrap(),
    }
}

const LOOK: &str = "looks:\n  u:\n    fields:\n      dimensions: [{name: users.id, tags: [user_id]}]\n    rows: [{users.id: u1}]\n";

fn event() -> Value {
    json!({"type": "identify", "userId": "u1", "anonymousId": null,
           "messageId": "0bcd2d2a-bc07-4ab8-ae61-5759c550e3f3",
           "traits": {"users.age": []}, "receivedAt": "2026-01-01T00:00:00.000Z"})
}

#[tokio::test]
async fn matching_events_and_answer_pass_and_placeholders_are_filled() {
    let h = fake(vec![event()], true);
    let s = scenario(&format!(
        "{LOOK}steps:\n  - send:\n      action: rudder_event\n      params: {{rudder_write_key: '${{dataplane.write_keys.1}}'}}\n      expect: {{success: true}}\nexpect:\n  events:\n    - where: {{write_key: '${{dataplane.write_keys.1}}'}}\n      count: 1\n      items:\n        - {{userId: u1, anonymousId: null, messageId: {{match: uuid}}, traits: {{users.age: []}}, groupId: {{match: absent}}}}\n  total_events: 1\n"
    ));
    let (failures, record) = run_steps(&h, &s).await.unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
    let sent = h.sent.lock().unwrap();
    assert_eq!(sent[0].params["rudder_write_key"], "wk_b");
    assert_eq!(
        sent[0].params["rudder_server_url"],
        "http://127.0.0.1:2/v1/batch"
    );
    assert_eq!(record.events.len(), 1);
    assert_eq!(record.answers.len(), 1);
}

#[tokio::test]
async fn a_wrong_trait_fails_with_a_diff_not_just_assertion_failed() {
    let h = fake(vec![event()], true);
    let s = scenario(&format!(
        "{LOOK}steps:\n  - send: {{action: rudder_event}}\nexpect:\n  events:\n    - count: 1\n      items:\n        - {{userId: u1, traits: {{users.age: 0}}}}\n"
    ));
    let (failures, _) = run_steps(&h, &s).await.unwrap();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    let f = &failures[0];
    assert!(
        f.message
            .contains("traits.users.age: expected 0, received []"),
        "{}",
        f.message
    );
    let d = f.diff.as_deref().unwrap();
    assert!(
        d.contains("-    \"users.age\": 0") && d.contains("+    \"users.age\": []"),
        "{d}"
    );
}

#[tokio::test]
async fn counts_answers_and_breaches_are_checked() {
    let h = fake(vec![], false);
    let s = scenario(&format!(
        "{LOOK}steps:\n  - send:\n      action: rudder_group\n      expect: {{success: true, message_contains: nope}}\nexpect:\n  events:\n    - count: 2\n      timeout_ms: 10\n"
    ));
    let (failures, _) = run_steps(&h, &s).await.unwrap();
    let text: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
    assert_eq!(failures.len(), 3, "{text:#?}");
    assert!(
        text[0].contains("success:false, expected success:true"),
        "{}",
        text[0]
    );
    assert!(text[1].contains("does not contain `nope`"), "{}", text[1]);
    assert!(
        text[2].contains("0 event(s) stored, expected 2"),
        "{}",
        text[2]
    );
}

#[tokio::test]
async fn unexpected_breaches_fail_and_expected_ones_pass() {
    let mut h = fake(vec![], true);
    h.answer.breaches = vec![Breach {
        request: "execute rudder_event".into(),
        rule: "validation_errors_is_object".into(),
        json_path: "$.looker.validation_errors".into(),
        detail: "an array".into(),
    }];
    let s = scenario(&format!(
        "{LOOK}steps:\n  - send: {{action: rudder_event}}\n"
    ));
    let (failures, _) = run_steps(&h, &s).await.unwrap();
    assert!(
        failures[0].message.contains("validation_errors_is_object"),
        "{failures:?}"
    );
    let s = scenario(&format!(
        "{LOOK}steps:\n  - send: {{action: rudder_event, expect: {{breaches: [{{rule: validation_errors}}]}}}}\n"
    ));
    let (failures, _) = run_steps(&h, &s).await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
}

struct FakeLauncher {
    fail: bool,
}
impl Launcher for FakeLauncher {
    type H = Fake;
    async fn start(&self, _: &crate::format::Scenario) -> anyhow::Result<Fake> {
        if self.fail {
            anyhow::bail!("could not bind 127.0.0.1:0")
        }
        Ok(fake(vec![event()], true))
    }
}

#[tokio::test]
async fn run_all_reports_in_order_and_separates_harness_errors() {
    let ok = scenario(&format!(
        "{LOOK}steps:\n  - send: {{action: rudder_event}}\n"
    ));
    let mut skipped = ok.clone();
    skipped.scenario.hub.reference_only = true;
    skipped.name = "ref".into();
    let mut clean = ok.clone();
    clean.scenario.hub.mapping = crate::format::Mapping::Clean;
    let reports = run_all(
        Arc::new(FakeLauncher { fail: false }),
        vec![ok.clone(), skipped, clean],
        4,
        true,
        |_| {},
    )
    .await;
    assert!(matches!(reports[0].status, Status::Passed));
    assert!(matches!(reports[1].status, Status::Skipped { .. }));
    assert!(matches!(&reports[2].status, Status::Skipped { reason } if reason.contains("clean")));
    assert_eq!(reports[0].events, 1);
    let reports = run_all(
        Arc::new(FakeLauncher { fail: true }),
        vec![ok],
        1,
        false,
        |_| {},
    )
    .await;
    match &reports[0].status {
        Status::HarnessError { error } => assert!(error.contains("could not bind"), "{error}"),
        s => panic!("{s:?}"),
    }
    assert_eq!(
        crate::report::exit_code(&reports),
        crate::report::EXIT_HARNESS
    );
}

const WB: &str = "hub: {writeback: true}\nlooks:\n  o:\n    fields:\n      dimensions: [{name: orders.id, tags: [mark-suspicious]}]\n    rows: [{orders.id: 1001}]\n";

fn wb_fake() -> Fake {
    let mut h = fake(vec![], true);
    h.answer.body = json!({"looker": {"success": true, "refresh_query": true,
        "message": "Order 1001 marked as Suspicious by alice@example.com.", "validation_errors": {}}});
    h.answer.message = Some("Order 1001 marked as Suspicious by alice@example.com.".into());
    h.answer.refresh_query = true;
    h.form = Some(json!({"fields": [
        {"name": "id", "type": "string", "interactive": false, "default": "1001"},
        {"name": "classification", "type": "select", "default": "Suspicious"}]}));
    h.rows = vec![
        json!({"id": 1, "order_id": "1001", "classification": "Suspicious",
        "user": "alice@example.com", "webhook_id": "0123456789abcdef0123456789abcdef",
        "created_at": "2026-01-01T00:00:00Z"}),
    ];
    h.login = Some(LoginResult {
        oauth_url: Some("http://127.0.0.1:1/actions/mark_suspicious/oauth?state=x".into()),
        status: 200,
        body: "Login successful.".into(),
        hops: 3,
        state_stored: true,
        breaches: vec![],
    });
    h
}

#[tokio::test]
async fn writeback_answers_forms_logins_and_rows_pass_when_they_hold() {
    let h = wb_fake();
    let s = scenario(&format!(
        "{WB}steps:\n  - login: {{user: alice, action: mark_suspicious, cell_value: '1001', expect: {{ok: true, status: 200, body_contains: successful, state_stored: true}}}}\n  - fetch_form: {{action: mark_suspicious, user: alice, cell_value: '1001', expect: {{oauth_link: false, fields: {{id: {{default: '1001', interactive: false}}, login: null}}}}}}\n  - send: {{action: mark_suspicious, user: alice, cell_value: '1001', expect: {{success: true, refresh_query: true, validation_errors: {{}}}}}}\n  - expect_writeback: {{count: 1, where: {{user: alice@example.com}}, items: [{{order_id: '1001', webhook_id: '${{send.webhook_id}}', created_at: {{match: iso8601}}}}]}}\nexpect:\n  writeback: {{count: 1, each: {{classification: Suspicious}}}}\n"
    ));
    let (failures, record) = run_steps(&h, &s).await.unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
    // The send carried the user and the clicked value; no RudderStack params were added.
    let sent = h.sent.lock().unwrap();
    assert_eq!(sent[0].user.as_deref(), Some("alice"));
    assert_eq!(sent[0].cell_value.as_deref(), Some("1001"));
    assert!(sent[0].params.is_empty(), "{:?}", sent[0].params);
    assert_eq!(record.writeback_total, 1);
    assert_eq!(record.writeback.as_ref().map(Vec::len), Some(1));
    assert_eq!(record.answers.len(), 3);
}

#[tokio::test]
async fn writeback_mismatches_are_named() {
    let mut h = wb_fake();
    h.login.as_mut().unwrap().state_stored = false;
    h.answer.refresh_query = false;
    h.answer.validation_errors = json!({"classification": "Classification is required."});
    let s = scenario(&format!(
        "{WB}steps:\n  - login: {{user: bob, action: mark_suspicious, expect: {{state_stored: true}}}}\n  - fetch_form: {{action: mark_suspicious, expect: {{oauth_link: true, fields: {{id: {{default: '1002'}}, comment: {{type: textarea}}}}}}}}\n  - send: {{action: mark_suspicious, expect: {{refresh_query: true, validation_errors: {{}}}}}}\n  - expect_writeback: {{count: 2, items: [{{order_id: '1001', user: bob@example.com}}]}}\nexpect:\n  writeback: {{each: {{classification: Approved}}}}\n"
    ));
    let (failures, _) = run_steps(&h, &s).await.unwrap();
    let text: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
    let all = text.join("\n");
    for want in [
        "Looker keeps no new state for the user",
        "the form offers no oauth_link",
        "form field `id` differs: default: expected \"1002\", received \"1001\"",
        "the form has no field `comment`",
        "refresh_query:false, expected refresh_query:true",
        "validation_errors differs",
        "1 write-back row(s) in the database, expected 2",
        "items[0] matches no unclaimed row; closest is #0: user: expected \"bob@example.com\", received \"alice@example.com\"",
        "row #0 does not match `each`: classification",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
    assert_eq!(failures.len(), 9, "{all}");
}

#[test]
fn writeback_steps_need_the_writeback_hub() {
    let text = format!("{}steps:\n  - revoke: {{user: bob}}\n", LOOK);
    let err = parse_scenario(Path::new("t.yaml"), &text, &|_| None).unwrap_err();
    assert!(
        err.to_string()
            .contains("step 1 (revoke bob) needs the write-back hub"),
        "{err}"
    );
    let text = format!(
        "{}steps:\n  - send: {{action: rudder_event}}\nexpect:\n  writeback: {{count: 0}}\n",
        LOOK
    );
    let err = parse_scenario(Path::new("t.yaml"), &text, &|_| None).unwrap_err();
    assert!(
        err.to_string().contains("`expect.writeback` needs"),
        "{err}"
    );
}

#[tokio::test]
async fn writeback_scenarios_are_skipped_against_an_external_hub_and_error_without_support() {
    let s = scenario(&format!("{WB}steps:\n  - revoke: {{user: bob}}\n"));
    let reports = run_all(
        Arc::new(FakeLauncher { fail: false }),
        vec![s.clone()],
        1,
        true,
        |_| {},
    )
    .await;
    match &reports[0].status {
        Status::Skipped { reason } => assert!(reason.contains("database"), "{reason}"),
        st => panic!("{st:?}"),
    }
    // A harness without write-back support is a harness error, not a pass.
    let reports = run_all(
        Arc::new(FakeLauncher { fail: false }),
        vec![s],
        1,
        false,
        |_| {},
    )
    .await;
    match &reports[0].status {
        Status::HarnessError { error } => {
            assert!(error.contains("no write-back support"), "{error}")
        }
        st => panic!("{st:?}"),
    }
}

/// #11: an action list check means "includes these" (a hub with more actions is not wrong),
/// and `excludes` names what must be absent; the messages name actions, not Debug text.
#[tokio::test]
async fn action_lists_must_include_the_names_and_lack_the_excluded() {
    // The fake lists only `rudder_event`.
    let h = fake(vec![], true);
    let passes =
        scenario("steps:\n  - list_actions: {names: [rudder_event], excludes: [rudder_track]}\n");
    let (failures, _) = run_steps(&h, &passes).await.unwrap();
    assert!(failures.is_empty(), "{failures:#?}");

    let lacks = scenario("steps:\n  - list_actions: {names: [rudder_event, rudder_group]}\n");
    let (failures, _) = run_steps(&h, &lacks).await.unwrap();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(
        failures[0].message,
        "the list lacks `rudder_group`; it lists `rudder_event`"
    );

    let forbidden = scenario("steps:\n  - list_actions: {excludes: [rudder_event]}\n");
    let (failures, _) = run_steps(&h, &forbidden).await.unwrap();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(
        failures[0].message,
        "the list includes `rudder_event`, which must not be offered here"
    );
}

/// The class of a failure follows what the hub did: missing events while Looker was told
/// success are a silent loss; told failure, a reported loss; repeated, a duplicate; different,
/// a payload failure; a wrong success, an answer failure.
#[tokio::test]
async fn each_failure_carries_the_class_of_what_the_hub_did() {
    use crate::classes::FailureClass as C;
    let classes = |f: &[Failure]| f.iter().map(|f| f.class).collect::<Vec<_>>();
    let three = format!(
        "{LOOK}steps:\n  - send: {{action: rudder_event}}\nexpect:\n  events:\n    - count: 3\n"
    );
    let (f, _) = run_steps(&fake(vec![event()], true), &scenario(&three))
        .await
        .unwrap();
    assert_eq!(classes(&f), [C::SilentLoss], "{f:#?}");
    let (f, _) = run_steps(&fake(vec![event()], false), &scenario(&three))
        .await
        .unwrap();
    assert_eq!(classes(&f), [C::ReportedLoss], "{f:#?}");
    assert!(
        !f[0].message.contains("EventFilterSpec"),
        "{}",
        f[0].message
    );

    let one = format!(
        "{LOOK}steps:\n  - send: {{action: rudder_event, expect: {{success: true}}}}\nexpect:\n  events:\n    - where: {{type: identify}}\n      count: 1\n      items: [{{userId: u1}}]\n"
    );
    let (f, _) = run_steps(&fake(vec![event(), event()], true), &scenario(&one))
        .await
        .unwrap();
    assert_eq!(classes(&f), [C::Duplicate], "{f:#?}");
    assert!(
        f[0].message.contains("matching type=identify"),
        "{}",
        f[0].message
    );
    // Sent twice under two messageIds is still a duplicate.
    let mut again = event();
    again["messageId"] = json!("5a6b0f0e-3c2d-4e1f-9a8b-7c6d5e4f3a2b");
    let (f, _) = run_steps(&fake(vec![event(), again], true), &scenario(&one))
        .await
        .unwrap();
    assert_eq!(classes(&f), [C::Duplicate], "{f:#?}");
    let mut other = event();
    other["userId"] = json!("u2");
    let (f, _) = run_steps(&fake(vec![other], true), &scenario(&one))
        .await
        .unwrap();
    assert_eq!(classes(&f), [C::Payload], "{f:#?}");
    let (f, _) = run_steps(&fake(vec![event()], false), &scenario(&one))
        .await
        .unwrap();
    assert_eq!(classes(&f), [C::Answer], "{f:#?}");
}

/// Against an external hub the reference parts (a message text, the request journal) are
/// left out and listed; the contract parts still fail.
#[tokio::test]
async fn against_an_external_hub_only_contract_parts_are_checked() {
    let s = scenario(&format!(
        "{LOOK}steps:\n  - send: {{action: rudder_event, expect: {{success: true, message_contains: words of ours}}}}\nexpect:\n  total_events: 1\n  requests: {{count: 7}}\n"
    ));
    let (f, _) = run_steps(&fake(vec![event()], true), &s).await.unwrap();
    assert_eq!(f.len(), 2, "in-process everything is checked: {f:#?}");
    let (f, record) = run_steps_against(&fake(vec![event()], true), &s, true)
        .await
        .unwrap();
    assert!(f.is_empty(), "{f:#?}");
    let skipped: Vec<&str> = record
        .skipped_checks
        .iter()
        .map(|c| c.what.as_str())
        .collect();
    assert_eq!(skipped, ["message_contains", "requests"]);
    let (f, _) = run_steps_against(&fake(vec![], true), &s, true)
        .await
        .unwrap();
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].class, crate::classes::FailureClass::SilentLoss);
}

/// A harness error ends the run: what has not started is skipped, naming where it failed.
#[tokio::test]
async fn a_harness_error_skips_the_scenarios_not_started_yet() {
    let ok = scenario(&format!(
        "{LOOK}steps:\n  - send: {{action: rudder_event}}\n"
    ));
    let reports = run_all(
        Arc::new(FakeLauncher { fail: true }),
        vec![ok.clone(), ok.clone(), ok],
        1,
        false,
        |_| {},
    )
    .await;
    assert!(matches!(reports[0].status, Status::HarnessError { .. }));
    for r in &reports[1..] {
        match &r.status {
            Status::Skipped { reason } => {
                assert_eq!(reason, "not run: the harness failed in t")
            }
            s => panic!("{s:?}"),
        }
    }
}
