//! Issue 6 end to end: the reference hub's write-back actions driven by the mock Looker, its
//! OAuth provider and its scripted browser. The database is read with plain SQL.

use std::collections::BTreeMap;

use mock_looker::{HubOptions, Look, MockLooker, SendRequest};
use serde_json::{Value, json};

struct Env {
    looker: MockLooker,
    hub_id: String,
    db: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Env {
    async fn start() -> Env {
        crate::helpers::init_logs();
        let looker = MockLooker::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("writeback.sqlite");
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hub_url = format!("http://{}", l.local_addr().unwrap());
        let secret = "e2e-secret";
        let wb = hub::writeback::WritebackConfig {
            db_path: db.clone(),
            ..hub::writeback::WritebackConfig::new(&hub_url, secret)
                .provider(&format!("{}/oauth", looker.url()))
        };
        let mut registry = hub::Registry::new();
        hub::writeback::register(&mut registry, wb).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let config = hub::HubConfig {
            secret: Some(secret.into()),
            ..hub::HubConfig::default()
        };
        tokio::spawn(
            hub::Hub::builder()
                .config(config)
                .registry(registry)
                .run(l, async {
                    let _ = rx.await;
                }),
        );
        let h = looker
            .register_hub(
                &hub_url,
                HubOptions::default().token(hub::generate_token(secret)),
            )
            .await
            .unwrap();
        assert!(h.fetch_error.is_none(), "{:?}", h.fetch_error);
        assert!(h.breaches.is_empty(), "{:?}", h.breaches);
        Env {
            looker,
            hub_id: h.id,
            db,
            _dir: dir,
            _stop: tx,
        }
    }

    async fn form(
        &self,
        user: &str,
        action: &str,
        value: Option<&str>,
    ) -> mock_looker::FormOutcome {
        let mut p = BTreeMap::new();
        if let Some(v) = value {
            p.insert("value".to_owned(), v.to_owned());
        }
        let f = self
            .looker
            .fetch_form_as(user, &self.hub_id, action, p, BTreeMap::new())
            .await
            .unwrap();
        assert!(f.breaches.is_empty(), "{:?}", f.breaches);
        f
    }

    async fn login(&self, user: &str, action: &str) {
        let f = self.form(user, action, Some("1")).await;
        assert_eq!(f.oauth_links.len(), 1, "{:?}", f.form);
        let out = self
            .looker
            .browser_login(&f.oauth_links[0], user)
            .await
            .unwrap();
        assert!(out.ok(), "{out:?}");
        assert!(self.looker.user_state(user, &self.hub_id, action).is_some());
    }

    fn look(&self, rows: usize) -> Look {
        let rows: Vec<Value> = (0..rows)
            .map(|i| json!({"orders.id": 1000 + i, "orders.total": 9.5}))
            .collect();
        Look::from_json_str(
            &json!({
                "title": "Orders", "model": "thelook", "explore": "orders",
                "fields": {"dimensions": [
                    {"name": "orders.id", "type": "number", "tags": ["mark-suspicious"]},
                    {"name": "orders.total", "type": "number"}]},
                "rows": rows,
            })
            .to_string(),
            "test",
        )
        .unwrap()
    }

    fn cell(&self, user: &str, value: &str, form: &[(&str, &str)]) -> SendRequest {
        let mut r = SendRequest::new(self.hub_id.clone(), "mark_suspicious", self.look(3));
        r.user_id = Some(user.into());
        r.cell_value = Some(value.into());
        for (k, v) in form {
            r = r.form_value(k, v);
        }
        r
    }

    /// The decisions in the database. mock-looker has no SQLite dependency of its own, so this
    /// reads through the hub's `Store::all` (a plain `SELECT`); the hub's own tests read the
    /// table with raw SQL.
    fn rows(&self) -> Vec<(String, String, String, Option<String>)> {
        hub::writeback::Store::open(&self.db)
            .unwrap()
            .all()
            .unwrap()
            .into_iter()
            .map(|d| (d.order_id, d.classification, d.user, d.webhook_id))
            .collect()
    }
}

#[tokio::test]
async fn cell_action_happy_path_through_provider_and_browser() {
    let env = Env::start().await;
    // The mock Looker lists the hub's write-back actions as a cell and a query action.
    let h = env.looker.hub(&env.hub_id).unwrap();
    let a = h
        .actions
        .iter()
        .find(|a| a.name == "mark_suspicious")
        .unwrap();
    assert!(a.uses_oauth);
    assert_eq!(a.supported_action_types, vec!["cell".to_owned()]);
    env.login("alice", "mark_suspicious").await;
    let f = env.form("alice", "mark_suspicious", Some("1001")).await;
    let id = f.fields.iter().find(|x| x["name"] == "id").unwrap();
    assert_eq!(id["default"], "1001");
    let out = env
        .looker
        // Only the comment is typed: Looker fills `id` (defaulting to the clicked value, which
        // reached the form as data.value) and `classification` from the form's defaults.
        .send(env.cell("alice", "1001", &[("comment", "odd")]))
        .await
        .unwrap();
    assert!(out.success, "{out:?}");
    assert!(out.refresh_query);
    assert!(out.breaches.is_empty(), "{:?}", out.breaches);
    // What Looker sent: type cell, data.value.
    let journal = env.looker.journal();
    let exec = journal.iter().rev().find(|j| j.kind == "execute").unwrap();
    let body = serde_json::to_string(exec).unwrap();
    assert!(body.contains(r#"\"type\":\"cell\""#), "{body}");
    assert!(body.contains(r#"\"value\":\"1001\""#), "{body}");
    assert_eq!(
        env.rows(),
        vec![(
            "1001".into(),
            "Suspicious".into(),
            "alice@example.com".into(),
            Some(out.webhook_id.clone())
        )]
    );
}

#[tokio::test]
async fn revoked_at_the_provider_means_login_again() {
    let env = Env::start().await;
    env.login("bob", "mark_suspicious").await;
    assert_eq!(env.looker.oauth_provider().revoke_user("bob"), 1);
    let f = env.form("bob", "mark_suspicious", Some("5")).await;
    assert_eq!(f.oauth_links.len(), 1, "{:?}", f.form);
    let mut r = env.cell("bob", "5", &[("id", "5"), ("classification", "Approved")]);
    r.force = true;
    let out = env.looker.send(r).await.unwrap();
    assert!(!out.success);
    assert!(env.rows().is_empty());
    // An unknown user is refused by the provider: the flow ends on the hub's error, no state.
    let f = env.form("mallory", "mark_suspicious", Some("5")).await;
    let out = env
        .looker
        .browser_login(&f.oauth_links[0], "mallory")
        .await
        .unwrap();
    assert!(!out.ok());
    assert!(out.body.contains("access_denied"), "{}", out.body);
    assert!(
        env.looker
            .user_state("mallory", &env.hub_id, "mark_suspicious")
            .is_none()
    );
}

#[tokio::test]
async fn batch_action_on_a_1000_row_look_via_download_url() {
    let env = Env::start().await;
    env.login("carol", "mark_suspicious_batch").await;
    let mut r = SendRequest::new(env.hub_id.clone(), "mark_suspicious_batch", env.look(1000))
        .form_value("classification", "Further Investigation");
    r.user_id = Some("carol".into());
    let out = env.looker.send(r).await.unwrap();
    assert!(out.success, "{out:?}");
    assert_eq!(out.download_fetches, 1);
    let rows = env.rows();
    assert_eq!(rows.len(), 1000);
    assert!(
        rows.iter()
            .all(|r| r.1 == "Further Investigation" && r.2 == "carol@example.com")
    );
}

#[tokio::test]
async fn replayed_webhook_id_and_reset_state() {
    let env = Env::start().await;
    env.login("alice", "mark_suspicious").await;
    // The same job delivered twice carries the same X-Looker-Webhook-Id both times.
    let mut r = env.cell("alice", "7", &[("comment", "twice")]);
    r.webhook_id = Some("0123456789abcdef0123456789abcdef".into());
    let first = env.looker.send(r.clone()).await.unwrap();
    let second = env.looker.send(r).await.unwrap();
    assert!(first.success && second.success, "{first:?} {second:?}");
    assert_eq!(first.webhook_id, "0123456789abcdef0123456789abcdef");
    assert_eq!(second.webhook_id, first.webhook_id);
    let sent: Vec<_> = env
        .looker
        .journal()
        .into_iter()
        .filter(|j| j.kind == "execute")
        .collect();
    assert_eq!(sent.len(), 2);
    for j in &sent {
        assert!(
            j.request_headers
                .iter()
                .any(|(k, v)| k == "X-Looker-Webhook-Id" && v == &first.webhook_id),
            "{:?}",
            j.request_headers
        );
    }
    assert_eq!(env.rows().len(), 1);
    // Looker sends what it keeps: after a reset that is the literal "reset".
    env.looker.set_user_state(
        "alice",
        &env.hub_id,
        "mark_suspicious",
        Some("reset".into()),
    );
    assert_eq!(
        env.looker
            .user_state("alice", &env.hub_id, "mark_suspicious")
            .as_deref(),
        Some("reset")
    );
    let f = env.form("alice", "mark_suspicious", Some("7")).await;
    assert_eq!(f.oauth_links.len(), 1, "{:?}", f.form);
    env.looker
        .set_user_state("alice", &env.hub_id, "mark_suspicious", None);
    assert!(
        env.looker
            .user_state("alice", &env.hub_id, "mark_suspicious")
            .is_none()
    );
}

/// The same flow through the mock's HTTP admin API only (what a CI job driving the
/// `mock-looker` binary from any language does): `/_mock/login`, `/_mock/send` with a user and
/// a clicked value, the provider's revocation, `PUT /_mock/state`.
#[tokio::test]
async fn the_flow_over_the_http_admin_api() {
    let env = Env::start().await;
    let look = env.looker.add_look(env.look(3));
    let base = env.looker.url();
    let http = serving::http_client().build().expect("an HTTP client");
    let post = |path: &str, body: Value| {
        let req = http.post(format!("{base}{path}")).json(&body);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };
    let hub = env.hub_id.clone();
    let send = json!({"hub": hub, "action": "mark_suspicious", "look_id": look.id(),
        "user": "alice", "cell_value": "1001", "form_values": {"classification": "Approved"}});

    let (status, login) = post(
        "/_mock/login",
        json!({"hub": hub, "action": "mark_suspicious", "user": "alice", "value": "1001"}),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(login["ok"], true, "{login}");
    assert_eq!(login["state_stored"], true, "{login}");
    // Logged in: no link to follow any more.
    let (status, again) = post(
        "/_mock/login",
        json!({"hub": hub, "action": "mark_suspicious", "user": "alice", "value": "1001"}),
    )
    .await;
    assert_eq!(status, 422, "{again}");

    let (status, out) = post("/_mock/send", send.clone()).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["success"], true, "{out}");
    assert_eq!(out["refresh_query"], true, "{out}");
    let rows = env.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (&rows[0].0[..], &rows[0].1[..], &rows[0].2[..]),
        ("1001", "Approved", "alice@example.com")
    );

    // Revoked at the provider: the next execute fails and writes nothing.
    let (status, revoked) = post("/_mock/oauth/users/alice/revoke", json!({})).await;
    assert_eq!((status, revoked["revoked"].as_u64()), (200, Some(1)));
    let (_, out) = post("/_mock/send", send.clone()).await;
    assert_eq!(out["success"], false, "{out}");
    assert_eq!(env.rows().len(), 1);

    // `reset` as the stored state: the form offers the login link again.
    let r = http
        .put(format!("{base}/_mock/state"))
        .json(&json!({"hub": hub, "action": "mark_suspicious", "user": "alice", "state": "reset"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        env.looker
            .user_state("alice", &hub, "mark_suspicious")
            .as_deref(),
        Some("reset")
    );
    let (status, form) = post(
        "/_mock/form",
        json!({"hub": hub, "action": "mark_suspicious", "user": "alice", "params": {"value": "1001"}}),
    )
    .await;
    assert_eq!(status, 200, "{form}");
    assert_eq!(
        form["oauth_links"].as_array().map(Vec::len),
        Some(1),
        "{form}"
    );
}
