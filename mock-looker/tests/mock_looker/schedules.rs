//! Scheduled plans (crontab, interval, run once) and job history, through API 4.0.

use std::time::Duration;

use mock_looker::{HubOptions, MockLooker};
use serde_json::{Value, json};

use crate::helpers::{FakeHub, params};

struct Api {
    base: String,
    token: String,
    c: reqwest::Client,
}

impl Api {
    async fn login(l: &MockLooker) -> Api {
        let (id, secret) = l.api_credentials();
        let c = serving::http_client().build().expect("an HTTP client");
        let v: Value = c
            .post(format!("{}/api/4.0/login", l.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("client_id={id}&client_secret={secret}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["token_type"], "Bearer");
        assert!(v["expires_in"].as_u64().unwrap() >= 60);
        Api {
            base: l.url(),
            token: v["access_token"].as_str().unwrap().into(),
            c,
        }
    }
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let url = format!("{}/api/4.0{path}", self.base);
        let mut r = self
            .c
            .request(method.parse().unwrap(), url)
            .header("Authorization", format!("Bearer {}", self.token));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.unwrap())
    }
    async fn json(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (s, _, t) = self.call(method, path, body).await;
        (s, serde_json::from_str(&t).unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn api_auth_quirks() {
    let l = MockLooker::start().await.unwrap();
    let anon = reqwest::get(format!("{}/api/4.0/integration_hubs", l.url()))
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    let v: Value = anon.json().await.unwrap();
    assert_eq!(v["message"], "Requires authentication.");
    let api = Api::login(&l).await;
    // `token` scheme and ?access_token work too; `//api` is collapsed.
    let r = api
        .c
        .get(format!("{}//api/4.0/looks", l.url()))
        .header("Authorization", format!("token {}", api.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::get(format!(
        "{}/api/4.0/looks/1?access_token={}",
        l.url(),
        api.token
    ))
    .await
    .unwrap();
    let look: Value = r.json().await.unwrap();
    assert_eq!(look["query"]["view"], "users");
    assert_eq!(look["folder"]["name"], "Shared");
    // Logout: 204 without Content-Type, on the unversioned path too; then the token is dead.
    let (s, h, body) = api.call("DELETE", "/../logout", None).await;
    assert_eq!((s, body.as_str()), (204, ""));
    assert!(h.get("content-type").is_none());
    let (s, _) = api.json("GET", "/looks", None).await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn integrations_are_addressed_by_percent_encoded_ids() {
    let hub = FakeHub::good().await;
    let l = MockLooker::start().await.unwrap();
    let api = Api::login(&l).await;
    let (s, h) = api
        .json(
            "POST",
            "/integration_hubs",
            Some(json!({"url": hub.url, "authorization_token": "t"})),
        )
        .await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["has_authorization_token"], true);
    assert_eq!(h["authorization_token"], Value::Null, "write-only");
    let (s, _) = api
        .json("POST", "/integration_hubs", Some(json!({"url": hub.url})))
        .await;
    assert_eq!(s, 409);
    let id = format!("{}%3A%3Aidentify", h["id"].as_str().unwrap());
    let (s, i) = api.json("GET", &format!("/integrations/{id}"), None).await;
    assert_eq!(s, 200);
    assert_eq!(i["id"], format!("{}::identify", h["id"].as_str().unwrap()));
    assert_eq!(i["enabled"], false);
    assert_eq!(
        i["required_fields"][0]["any_tag"],
        json!(["email", "user_id", "rudder_anonymous_id"])
    );
    let (s, e) = api
        .json(
            "PATCH",
            &format!("/integrations/{id}"),
            Some(json!({"params": [{"name": "nope", "value": "x"}]})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(e["errors"][0]["field"], "params[0].name");
    let (s, _, _) = api
        .call(
            "DELETE",
            &format!("/integration_hubs/{}", h["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 204);
}

async fn wait_jobs(api: &Api, plan: &str, n: usize) -> Vec<Value> {
    for _ in 0..60 {
        let (_, rows) = api
            .json(
                "POST",
                "/queries/run/json",
                Some(json!({"model": "system__activity", "view": "scheduled_plan",
                    "fields": ["scheduled_plan.id", "scheduled_job.id", "scheduled_job.status", "scheduled_job.status_detail"],
                    "filters": {"scheduled_plan.id": plan, "scheduled_job.status": "-running"}})),
            )
            .await;
        let rows = rows.as_array().cloned().unwrap_or_default();
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} jobs of plan {plan}");
}

#[tokio::test]
async fn plans_run_on_crontab_and_once_with_job_history() {
    let hub = FakeHub::good().await;
    let l = MockLooker::start().await.unwrap();
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    l.configure_action(&h.id, "identify", true, params())
        .unwrap();
    let api = Api::login(&l).await;
    let dest = json!([{"type": format!("looker-integration://{}::identify", h.id), "format": "json_detail_lite_stream",
        "parameters": "{}", "apply_formatting": false, "apply_vis": false, "address": ""}]);
    // Create rules: name, content, crontab, destination, require_* with look_id.
    let (s, e) = api
        .json("POST", "/scheduled_plans", Some(json!({"look_id": "1"})))
        .await;
    assert_eq!(s, 422);
    let fields: Vec<&str> = e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "name",
            "crontab",
            "require_results",
            "require_no_results",
            "require_change",
            "scheduled_plan_destination"
        ]
    );
    // Every second (seconds field accepted by the mock's cron parser).
    let (s, p) = api
        .json("POST", "/scheduled_plans", Some(json!({"name": "every second", "look_id": "1", "crontab": "* * * * * *",
            "require_results": false, "require_no_results": false, "require_change": false, "scheduled_plan_destination": dest})))
        .await;
    assert_eq!(s, 200, "{p}");
    assert!(p["next_run_at"].is_string());
    assert_eq!(
        p["scheduled_plan_destination"][0]["scheduled_plan_id"],
        p["id"]
    );
    let id = p["id"].as_str().unwrap().to_owned();
    let jobs = wait_jobs(&api, &id, 2).await;
    assert!(
        jobs.iter().all(|j| j["scheduled_job.status"] == "success"),
        "{jobs:?}"
    );
    let (s, _, _) = api
        .call("DELETE", &format!("/scheduled_plans/{id}"), None)
        .await;
    assert_eq!(s, 204);
    // A disabled integration is not sent to.
    let off = json!([{"type": format!("looker-integration://{}::track", h.id)}]);
    let (_, once) = api
        .json(
            "POST",
            "/scheduled_plans/run_once",
            Some(json!({"look_id": "1", "scheduled_plan_destination": off})),
        )
        .await;
    let jobs = wait_jobs(&api, once["id"].as_str().unwrap(), 1).await;
    assert!(
        jobs[0]["scheduled_job.status_detail"]
            .as_str()
            .unwrap()
            .contains("not enabled"),
        "{jobs:?}"
    );
    l.configure_action(&h.id, "group", true, Default::default())
        .unwrap();
    // Run once to an action that fails: job history says why.
    let bad =
        json!([{"type": format!("looker-integration://{}::group", h.id), "format": "json_detail"}]);
    let (s, once) = api
        .json(
            "POST",
            "/scheduled_plans/run_once",
            Some(json!({"name": "once", "look_id": "1", "scheduled_plan_destination": bad})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(once["run_once"], true);
    assert_eq!(once["next_run_at"], Value::Null);
    let jobs = wait_jobs(&api, once["id"].as_str().unwrap(), 1).await;
    assert_eq!(jobs[0]["scheduled_job.status"], "failure");
    assert!(
        jobs[0]["scheduled_job.status_detail"]
            .as_str()
            .unwrap()
            .contains("Write Key"),
        "{jobs:?}"
    );
    // The job history is a System Activity Look too.
    let history = l.look("103").unwrap();
    assert!(history.row_count() >= 3);
}

#[tokio::test]
async fn interval_plans_via_the_library() {
    let hub = FakeHub::good().await;
    let l = MockLooker::start().await.unwrap();
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    l.configure_action(&h.id, "identify", true, params())
        .unwrap();
    let plan = l
        .create_plan(serde_json::from_value(json!({"name": "interval", "look_id": "2", "interval_seconds": 1,
            "scheduled_plan_destination": [{"type": format!("looker-integration://{}::identify", h.id)}]})).unwrap())
        .unwrap();
    // Poll instead of sleeping a fixed time: on a loaded machine a run may still be in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let finished = loop {
        let done: Vec<_> = l
            .jobs()
            .into_iter()
            .filter(|j| j.plan_id == plan.id && j.status != "running")
            .collect();
        if done.len() >= 2 {
            break done;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than 2 finished jobs after 20 s: {done:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        finished.iter().all(|j| j.status == "success"),
        "{finished:?}"
    );
    // An interval of 1 s: consecutive runs start about a second apart, never back to back.
    let created = |j: &mock_looker::schedule::Job| {
        chrono::DateTime::parse_from_rfc3339(&j.created_time).expect("created_time is RFC 3339")
    };
    let gap = created(&finished[1]) - created(&finished[0]);
    assert!(
        gap >= chrono::TimeDelta::milliseconds(900),
        "runs only {gap} apart"
    );
    // Each finished job reached the hub (a later run may already be in flight).
    assert!(hub.requests_to("/actions/identify/execute").len() >= finished.len());
}
