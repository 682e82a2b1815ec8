//! The write-back actions (issue 6) against a small recording OAuth provider and a recording
//! Looker state store, both defined here so the hub is judged from what it sends on the wire.
//! The database is read with plain SQL, not through the hub's `Store`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use hub::writeback::{StateSealer, WritebackConfig};

#[derive(Default)]
struct World {
    /// code -> user
    codes: HashMap<String, String>,
    /// token -> (user, revoked)
    tokens: HashMap<String, (String, bool)>,
    /// Looker user state: user -> body POSTed to state_url
    states: HashMap<String, String>,
    /// The token requests' form bodies.
    token_requests: Vec<String>,
    next: u64,
}

type W = Arc<Mutex<World>>;

async fn authorize(State(w): State<W>, Query(q): Query<HashMap<String, String>>) -> Response {
    // Consent is auto-approved for the scripted user named in `login_as`.
    let user = q.get("login_as").cloned().unwrap_or_default();
    let (Some(redirect), Some(state)) = (q.get("redirect_uri"), q.get("state")) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri and state required").into_response();
    };
    assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
    assert_eq!(q.get("client_id").map(String::as_str), Some("cid"));
    let mut w = w.lock().unwrap();
    w.next += 1;
    let code = format!("code{}", w.next);
    w.codes.insert(code.clone(), user);
    let mut u = url::Url::parse(redirect).unwrap();
    u.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", state);
    Redirect::to(u.as_str()).into_response()
}

async fn token(State(w): State<W>, body: String) -> Response {
    let f: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let mut w = w.lock().unwrap();
    w.token_requests.push(body.clone());
    if f.get("client_secret").map(String::as_str) != Some("csecret")
        || f.get("grant_type").map(String::as_str) != Some("authorization_code")
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let Some(user) = f.get("code").and_then(|c| w.codes.remove(c)) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    w.next += 1;
    let tok = format!("tok{}-{user}", w.next);
    w.tokens.insert(tok.clone(), (user, false));
    axum::Json(json!({"access_token": tok, "token_type": "Bearer", "expires_in": 3600}))
        .into_response()
}

async fn userinfo(State(w): State<W>, headers: HeaderMap) -> Response {
    let tok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match w.lock().unwrap().tokens.get(tok) {
        Some((user, false)) => {
            axum::Json(json!({"sub": user, "email": format!("{user}@example.com")})).into_response()
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_token"})),
        )
            .into_response(),
    }
}

async fn store_state(State(w): State<W>, Path(user): Path<String>, body: String) -> StatusCode {
    w.lock().unwrap().states.insert(user, body);
    StatusCode::NO_CONTENT
}

struct Env {
    world: W,
    ext: String,
    hub: String,
    token: String,
    db: std::path::PathBuf,
    secret: String,
    _dir: tempfile::TempDir,
    _stop: Vec<tokio::sync::oneshot::Sender<()>>,
}

async fn serve(app: axum::Router) -> (String, tokio::sync::oneshot::Sender<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(l, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (url, tx)
}

impl Env {
    async fn start() -> Env {
        *crate::helpers::TRACING;
        let world: W = Arc::default();
        let app = axum::Router::new()
            .route("/oauth/authorize", get(authorize))
            .route("/oauth/token", post(token))
            .route("/oauth/userinfo", get(userinfo))
            .route("/action_hub_state/{user}", post(store_state))
            .with_state(world.clone());
        let (ext, stop1) = serve(app).await;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("wb").join("decisions.sqlite");
        let secret = "hub-secret".to_owned();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hub = format!("http://{}", l.local_addr().unwrap());
        let wb = WritebackConfig {
            client_id: "cid".into(),
            client_secret: "csecret".into(),
            db_path: db.clone(),
            ..WritebackConfig::new(&hub, &secret).provider(&format!("{ext}/oauth"))
        };
        let mut registry = hub::Registry::new();
        hub::writeback::register(&mut registry, wb).unwrap();
        let config = hub::HubConfig {
            secret: Some(secret.clone()),
            keepalive: Duration::from_secs(30),
            ..hub::HubConfig::default()
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(
            hub::Hub::builder()
                .config(config)
                .registry(registry)
                .run(l, async {
                    let _ = rx.await;
                }),
        );
        Env {
            world,
            token: hub::generate_token(&secret),
            ext,
            hub,
            db,
            secret,
            _dir: dir,
            _stop: vec![stop1, tx],
        }
    }

    fn state_url(&self, user: &str) -> String {
        format!("{}/action_hub_state/{user}", self.ext)
    }

    /// What Looker would send as `state_json` for this user (None: never logged in).
    fn state_json(&self, user: &str) -> Option<String> {
        self.world.lock().unwrap().states.get(user).cloned()
    }

    fn data(&self, user: &str, value: Option<&str>) -> Value {
        let mut d = json!({"state_url": self.state_url(user)});
        if let Some(s) = self.state_json(user) {
            d["state_json"] = s.into();
        }
        if let Some(v) = value {
            d["value"] = v.into();
        }
        d
    }

    async fn post(&self, path: &str, body: &Value, webhook: Option<&str>) -> (u16, Value) {
        let mut r = serving::http_client()
            .build()
            .expect("an HTTP client")
            .post(format!("{}{path}", self.hub))
            .header("authorization", format!("Token token=\"{}\"", self.token))
            .header("user-agent", "LookerOutgoingWebhook/25.0.0")
            .json(body);
        if let Some(w) = webhook {
            r = r.header("x-looker-webhook-id", w);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(text.trim()).unwrap_or(Value::String(text)),
        )
    }

    async fn form(&self, action: &str, user: &str, value: Option<&str>) -> Value {
        let (s, v) = self
            .post(
                &format!("/actions/{action}/form"),
                &json!({"data": self.data(user, value), "form_params": {}}),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    async fn execute_cell(&self, user: &str, form: Value, webhook: &str) -> Value {
        let (s, v) = self
            .post(
                "/actions/mark_suspicious/execute",
                &json!({"type": "cell", "data": self.data(user, Some("1001")), "form_params": form,
                        "scheduled_plan": null, "attachment": null}),
                Some(webhook),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["looker"].clone()
    }

    /// Follows an `oauth_url` like a browser as `user`: hub → provider → hub callback.
    async fn login(&self, oauth_url: &str, user: &str) -> (u16, String) {
        let c = serving::http_client()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = c.get(oauth_url).send().await.unwrap();
        if r.status().as_u16() != 302 {
            return (r.status().as_u16(), r.text().await.unwrap());
        }
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            to.starts_with(&format!("{}/oauth/authorize?", self.ext)),
            "{to}"
        );
        let r = c.get(format!("{to}&login_as={user}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303, "provider redirect");
        let back = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            back.starts_with(&format!("{}/actions/", self.hub)),
            "{back}"
        );
        let r = c.get(back).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn login_via_form(&self, action: &str, user: &str) {
        let f = self.form(action, user, Some("1001")).await;
        let url = oauth_url(&f);
        let (s, body) = self.login(&url, user).await;
        assert_eq!(s, 200, "{body}");
        assert!(self.state_json(user).is_some(), "state stored for {user}");
    }

    fn rows(&self) -> Vec<(String, String, String, String, Option<String>)> {
        let c = rusqlite::Connection::open(&self.db).unwrap();
        let mut st = c
            .prepare("SELECT order_id, classification, comment, user, webhook_id FROM order_classifications ORDER BY id")
            .unwrap();
        st.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }
}

/// The `oauth_url` of the form's single oauth_link field (panics otherwise).
fn oauth_url(form: &Value) -> String {
    let fields = form["fields"].as_array().expect("a form with fields");
    assert_eq!(fields.len(), 1, "only the login link: {form}");
    assert_eq!(fields[0]["type"], "oauth_link");
    fields[0]["oauth_url"].as_str().unwrap().to_owned()
}

fn field<'a>(form: &'a Value, name: &str) -> &'a Value {
    form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {form}"))
}

#[tokio::test]
async fn listed_as_cell_action_with_oauth() {
    let env = Env::start().await;
    let (s, v) = env.post("/", &json!({}), None).await;
    assert_eq!(s, 200);
    let a = &v["integrations"][0];
    assert_eq!(a["name"], "mark_suspicious");
    assert_eq!(a["label"], "Mark as Suspicious");
    assert_eq!(a["supported_action_types"], json!(["cell"]));
    assert_eq!(a["uses_oauth"], true);
    assert_eq!(
        a["required_fields"],
        json!([{"any_tag": ["mark-suspicious"]}])
    );
    assert_eq!(
        a["form_url"],
        format!("{}/actions/mark_suspicious/form", env.hub)
    );
    let b = &v["integrations"][1];
    assert_eq!(b["name"], "mark_suspicious_batch");
    assert_eq!(b["supported_action_types"], json!(["query"]));
    assert_eq!(b["supported_download_settings"], json!(["url"]));
}

#[tokio::test]
async fn happy_path_form_login_form_execute_row_written() {
    let env = Env::start().await;
    // 1. No token yet: only a login link, carrying no clear state_url.
    let f = env.form("mark_suspicious", "alice", Some("1001")).await;
    let url = oauth_url(&f);
    assert!(url.starts_with(&format!("{}/actions/mark_suspicious/oauth?state=", env.hub)));
    assert!(
        !url.contains("action_hub_state"),
        "state_url in clear: {url}"
    );
    // 2. Log in as alice: the hub exchanges the code and POSTs the token to state_url.
    let (s, body) = env.login(&url, "alice").await;
    assert_eq!(s, 200, "{body}");
    let st: Value = serde_json::from_str(&env.state_json("alice").unwrap()).unwrap();
    assert!(st["access_token"].as_str().unwrap().ends_with("-alice"));
    assert!(st["expires_at"].as_u64().is_some());
    let treq = env.world.lock().unwrap().token_requests[0].clone();
    assert!(treq.contains("grant_type=authorization_code"));
    assert!(treq.contains("redirect_uri=http"));
    // 3. Form again: the real fields, id defaulting to the clicked value.
    let f = env.form("mark_suspicious", "alice", Some("1001")).await;
    let id = field(&f, "id");
    assert_eq!(id["default"], "1001");
    assert_eq!(id["interactive"], false);
    let c = field(&f, "classification");
    assert_eq!(c["type"], "select");
    assert_eq!(c["default"], "Suspicious");
    assert_eq!(
        c["options"],
        json!([{"name":"Approved","label":"Approved"},{"name":"Suspicious","label":"Suspicious"},
               {"name":"Further Investigation","label":"Further Investigation Needed"}])
    );
    assert_eq!(field(&f, "comment")["type"], "textarea");
    // 4. Execute: row written, Looker told to refresh.
    let l = env
        .execute_cell(
            "alice",
            json!({"id":"1001","classification":"Suspicious","comment":"50% discount"}),
            "wh-1",
        )
        .await;
    assert_eq!(l["success"], true, "{l}");
    assert_eq!(l["refresh_query"], true);
    assert_eq!(l["validation_errors"], json!({}));
    assert!(l["message"].as_str().unwrap().contains("1001"));
    assert_eq!(
        env.rows(),
        vec![(
            "1001".into(),
            "Suspicious".into(),
            "50% discount".into(),
            "alice@example.com".into(),
            Some("wh-1".into())
        )]
    );
}

#[tokio::test]
async fn second_user_has_own_state_and_identity() {
    let env = Env::start().await;
    env.login_via_form("mark_suspicious", "alice").await;
    // bob is not logged in by alice's login.
    let f = env.form("mark_suspicious", "bob", Some("7")).await;
    oauth_url(&f);
    env.login_via_form("mark_suspicious", "bob").await;
    assert_ne!(env.state_json("alice"), env.state_json("bob"));
    let a = env
        .execute_cell("alice", json!({"id":"1","classification":"Approved"}), "wa")
        .await;
    let b = env
        .execute_cell(
            "bob",
            json!({"id":"2","classification":"Further Investigation","comment":"?"}),
            "wb",
        )
        .await;
    assert_eq!(
        (a["success"].clone(), b["success"].clone()),
        (json!(true), json!(true))
    );
    let rows = env.rows();
    assert_eq!(rows[0].3, "alice@example.com");
    assert_eq!(rows[1].3, "bob@example.com");
    assert_eq!(rows[1].1, "Further Investigation");
}

#[tokio::test]
async fn revoked_token_leads_back_to_login_not_a_loop() {
    let env = Env::start().await;
    env.login_via_form("mark_suspicious", "alice").await;
    for (_, v) in env.world.lock().unwrap().tokens.iter_mut() {
        v.1 = true;
    }
    let f = env.form("mark_suspicious", "alice", Some("1001")).await;
    let url = oauth_url(&f);
    assert!(
        f["fields"][0]["description"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    let l = env
        .execute_cell(
            "alice",
            json!({"id":"1001","classification":"Approved"}),
            "w",
        )
        .await;
    assert_eq!(l["success"], false);
    assert!(l["message"].as_str().unwrap().contains("log in"), "{l}");
    assert!(env.rows().is_empty());
    // Logging in again gives a working form: no loop.
    let (s, _) = env.login(&url, "alice").await;
    assert_eq!(s, 200);
    let f = env.form("mark_suspicious", "alice", Some("1001")).await;
    field(&f, "classification");
}

#[tokio::test]
async fn reset_state_json_gives_login_link_not_a_crash() {
    let env = Env::start().await;
    env.world
        .lock()
        .unwrap()
        .states
        .insert("alice".into(), "reset".into());
    let f = env.form("mark_suspicious", "alice", Some("1")).await;
    oauth_url(&f);
    let l = env
        .execute_cell("alice", json!({"id":"1","classification":"Approved"}), "w")
        .await;
    assert_eq!(l["success"], false);
    // Garbage state too.
    env.world
        .lock()
        .unwrap()
        .states
        .insert("alice".into(), "{not json".into());
    oauth_url(&env.form("mark_suspicious", "alice", Some("1")).await);
    assert!(env.rows().is_empty());
}

#[tokio::test]
async fn tampered_or_expired_state_is_refused() {
    let env = Env::start().await;
    let f = env.form("mark_suspicious", "alice", Some("1")).await;
    let url = oauth_url(&f);
    let (base, state) = url.split_once("state=").unwrap();
    let mut b = state.as_bytes().to_vec();
    b[20] = if b[20] == b'x' { b'y' } else { b'x' };
    let tampered = format!("{base}state={}", String::from_utf8(b).unwrap());
    let (s, body) = env.login(&tampered, "alice").await;
    assert_eq!(s, 500);
    assert!(body.contains("tampered"), "{body}");
    // The callback refuses a tampered state as well, before any token exchange.
    let r = reqwest::get(format!(
        "{}/actions/mark_suspicious/oauth_redirect?code=c&state=AAAA",
        env.hub
    ))
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 500);
    assert!(env.world.lock().unwrap().token_requests.is_empty());
    // Expired: sealed with the hub's secret but a past expiry.
    let old = StateSealer::new(&env.secret, Duration::from_secs(600)).seal_at(
        &env.state_url("alice"),
        "mark_suspicious",
        1,
    );
    let (s, body) = env
        .login(
            &format!("{}/actions/mark_suspicious/oauth?state={old}", env.hub),
            "alice",
        )
        .await;
    assert_eq!(s, 500);
    assert!(body.contains("expired"), "{body}");
    assert!(env.state_json("alice").is_none());
}

#[tokio::test]
async fn missing_required_value_is_a_validation_error_on_the_field() {
    let env = Env::start().await;
    env.login_via_form("mark_suspicious", "alice").await;
    let l = env
        .execute_cell("alice", json!({"classification":"Suspicious"}), "w1")
        .await;
    assert_eq!(l["success"], false);
    assert_eq!(l["refresh_query"], false);
    assert_eq!(l["validation_errors"]["id"], "Order ID is required.");
    let l = env
        .execute_cell("alice", json!({"id":"5","classification":"Maybe"}), "w2")
        .await;
    assert!(
        l["validation_errors"]["classification"]
            .as_str()
            .unwrap()
            .contains("\"Maybe\"")
    );
    assert!(env.rows().is_empty());
}

#[tokio::test]
async fn same_webhook_twice_writes_once() {
    let env = Env::start().await;
    env.login_via_form("mark_suspicious", "alice").await;
    let form = json!({"id":"9","classification":"Approved"});
    let a = env.execute_cell("alice", form.clone(), "wh-dup").await;
    let b = env.execute_cell("alice", form.clone(), "wh-dup").await;
    assert_eq!(a["success"], true);
    assert_eq!(b["success"], true);
    assert!(b["message"].as_str().unwrap().contains("already recorded"));
    assert_eq!(env.rows().len(), 1);
    env.execute_cell("alice", form, "wh-other").await;
    assert_eq!(env.rows().len(), 2);
}

#[tokio::test]
async fn batch_action_flags_every_row_of_a_1000_row_look() {
    let env = Env::start().await;
    env.login_via_form("mark_suspicious_batch", "alice").await;
    let f = env.form("mark_suspicious_batch", "alice", None).await;
    field(&f, "classification");
    assert!(
        f["fields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["name"] != "id")
    );
    let rows: Vec<Value> = (0..1000)
        .map(|i| json!({"orders.id": {"value": 5000 + i}, "orders.total": {"value": 1.5}}))
        .collect();
    let look = json!({
        "fields": {"dimensions": [
            {"name": "orders.id", "tags": ["mark-suspicious"]},
            {"name": "orders.total", "tags": []}],
            "measures": [], "table_calculations": [], "pivots": []},
        "data": rows,
    });
    let body = json!({
        "type": "query",
        "data": env.data("alice", None),
        "form_params": {"classification": "Suspicious", "comment": "bulk"},
        "attachment": {"mimetype": "application/json", "extension": "json", "data": look.to_string()},
        "scheduled_plan": {"title": "Orders", "type": "Look"},
    });
    for _ in 0..2 {
        let (s, v) = env
            .post(
                "/actions/mark_suspicious_batch/execute",
                &body,
                Some("wh-batch"),
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(v["looker"]["success"], true, "{v}");
        assert_eq!(v["looker"]["refresh_query"], true);
    }
    let rows = env.rows();
    assert_eq!(rows.len(), 1000, "the re-sent webhook wrote nothing");
    assert_eq!(rows[0].0, "5000");
    assert_eq!(rows[999].0, "5999");
    assert!(
        rows.iter()
            .all(|r| r.1 == "Suspicious" && r.3 == "alice@example.com")
    );
    // Without a tagged field: a clear failure, nothing written.
    let mut bad = body.clone();
    bad["attachment"]["data"] =
        json!({"fields":{"dimensions":[{"name":"x.y","tags":[]}]},"data":[{"x.y":{"value":1}}]})
            .to_string()
            .into();
    let (_, v) = env
        .post(
            "/actions/mark_suspicious_batch/execute",
            &bad,
            Some("wh-bad"),
        )
        .await;
    assert_eq!(v["looker"]["success"], false);
    assert!(
        v["looker"]["message"]
            .as_str()
            .unwrap()
            .contains("mark-suspicious")
    );
    assert_eq!(env.rows().len(), 1000);
}

#[tokio::test]
async fn expired_token_and_unreachable_provider_never_loop() {
    let env = Env::start().await;
    env.login_via_form("mark_suspicious", "alice").await;
    // A token past its expires_at: login link, the provider is not even asked.
    let mut st: Value = serde_json::from_str(&env.state_json("alice").unwrap()).unwrap();
    st["expires_at"] = json!(1);
    env.world
        .lock()
        .unwrap()
        .states
        .insert("alice".into(), st.to_string());
    let f = env.form("mark_suspicious", "alice", Some("1")).await;
    oauth_url(&f);
    assert!(
        f["fields"][0]["description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    // The provider down: a form error, not a login link the user would loop through.
    let env2 = Env::start().await;
    env2.login_via_form("mark_suspicious", "bob").await;
    let s = env2.state_json("bob").unwrap();
    drop(env2);
    env.world
        .lock()
        .unwrap()
        .states
        .insert("alice".into(), s.clone());
    // env's provider does not know env2's token: 401 → login link.
    oauth_url(&env.form("mark_suspicious", "alice", Some("1")).await);
    let wb_dir = tempfile::tempdir().unwrap();
    let mut registry = hub::Registry::new();
    hub::writeback::register(
        &mut registry,
        WritebackConfig {
            db_path: wb_dir.path().join("x.sqlite"),
            ..WritebackConfig::new("http://127.0.0.1:9", "s").provider("http://127.0.0.1:9/oauth")
        },
    )
    .unwrap();
    let running = hub::Hub::builder()
        .config(hub::HubConfig {
            secret: Some("s".into()),
            ..hub::HubConfig::default()
        })
        .registry(registry)
        .start()
        .await
        .unwrap();
    let resp = serving::http_client()
        .build()
        .expect("an HTTP client")
        .post(format!("{}/actions/mark_suspicious/form", running.url()))
        .header(
            "authorization",
            format!("Token token=\"{}\"", running.token()),
        )
        .json(&json!({"data": {"state_url": "http://127.0.0.1:9/s", "state_json": s}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = serde_json::from_str(resp.text().await.unwrap().trim()).unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("userinfo endpoint could not be reached"),
        "{v}"
    );
    assert!(v.get("fields").is_none());
}
