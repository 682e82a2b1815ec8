//! Cross-origin rules of the admin API (`/_mock/…`) and API 4.0 (hardening issue: no CORS by
//! default, state changes only from the server's own origin, JSON bodies only), and the routes
//! that keep working outside them: API 4.0 login (a form), the OAuth provider, download and
//! state URLs.

use mock_looker::MockLooker;
use reqwest::header::{CONTENT_TYPE, ORIGIN};
use serde_json::{Value, json};

use crate::helpers::FakeHub;

const EVIL: &str = "http://evil.example";

fn client() -> reqwest::Client {
    serving::http_client()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn api_token(l: &MockLooker) -> String {
    let (id, secret) = l.api_credentials();
    let r: Value = client()
        .post(format!("{}/api/4.0/login", l.url()))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("client_id={id}&client_secret={secret}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_owned()
}

fn assert_no_cors(r: &reqwest::Response, what: &str) {
    for h in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
        "access-control-allow-headers",
    ] {
        assert!(r.headers().get(h).is_none(), "{what}: {h} sent");
    }
}

#[tokio::test]
async fn admin_and_api_routes_answer_no_cors_headers_to_a_foreign_origin() {
    let l = MockLooker::start().await.unwrap();
    let token = api_token(&l).await;
    for path in ["/_mock/hubs", "/_mock/send", "/api/4.0/integration_hubs"] {
        let preflight = client()
            .request(reqwest::Method::OPTIONS, format!("{}{path}", l.url()))
            .header(ORIGIN, EVIL)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert!(
            !preflight.status().is_success(),
            "{path}: preflight allowed"
        );
        assert_no_cors(&preflight, path);
    }
    for path in ["/_mock/journal", "/_mock/hubs", "/api/4.0/user"] {
        let r = client()
            .get(format!("{}{path}", l.url()))
            .header(ORIGIN, EVIL)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_no_cors(&r, path);
    }
}

#[tokio::test]
async fn state_changes_from_another_origin_are_refused() {
    let hub = FakeHub::good().await;
    let l = MockLooker::start().await.unwrap();
    let token = api_token(&l).await;
    let own = l.url();
    let other_port = {
        let port: u16 = own.rsplit(':').next().unwrap().parse().unwrap();
        format!("http://127.0.0.1:{}", port.wrapping_add(1).max(1))
    };
    for origin in [EVIL, "null", other_port.as_str()] {
        let r = client()
            .post(format!("{own}/_mock/hubs"))
            .header(ORIGIN, origin)
            .json(&json!({"url": hub.url}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "Origin {origin}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("cross-origin request refused"),
            "{body}"
        );
        let r = client()
            .post(format!("{own}/api/4.0/integration_hubs"))
            .header(ORIGIN, origin)
            .bearer_auth(&token)
            .json(&json!({"url": hub.url}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "API, Origin {origin}");
    }
    assert!(l.hubs().is_empty(), "a refused request registered a hub");
    assert!(hub.requests_to("/").is_empty(), "the hub was contacted");

    // Other state changes: the user's OAuth state, logout, the provider's admin routes.
    l.set_user_state("alice", "1", "oauthy", Some("kept".into()));
    let r = client()
        .put(format!("{own}/_mock/state"))
        .header(ORIGIN, EVIL)
        .json(&json!({"hub": "1", "action": "oauthy", "user": "alice", "state": "forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        l.user_state("alice", "1", "oauthy").as_deref(),
        Some("kept")
    );
    let r = client()
        .delete(format!("{own}/api/4.0/logout"))
        .header(ORIGIN, EVIL)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client()
        .post(format!("{own}/_mock/oauth/users/alice/revoke"))
        .header(ORIGIN, EVIL)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The server's own origin, and clients that send none, are served.
    let r = client()
        .post(format!("{own}/_mock/hubs"))
        .header(ORIGIN, own.as_str())
        .json(&json!({"url": hub.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .get(format!("{own}/api/4.0/user"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the token survived the refused logout");
}

#[tokio::test]
async fn json_endpoints_refuse_bodies_of_other_content_types() {
    let hub = FakeHub::good().await;
    let l = MockLooker::start().await.unwrap();
    let token = api_token(&l).await;
    let body = json!({"url": hub.url}).to_string();
    for (path, auth) in [
        ("/_mock/hubs", false),
        ("/api/4.0/integration_hubs", true),
        ("/api/4.0/scheduled_plans", true),
    ] {
        for ct in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            None,
        ] {
            let mut req = client()
                .post(format!("{}{path}", l.url()))
                .body(body.clone());
            if let Some(ct) = ct {
                req = req.header(CONTENT_TYPE, ct);
            }
            if auth {
                req = req.bearer_auth(&token);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 415, "{path} with Content-Type {ct:?}");
            let v: Value = r.json().await.unwrap();
            assert!(
                v["message"].as_str().unwrap().contains("Content-Type"),
                "{v}"
            );
        }
    }
    assert!(l.hubs().is_empty(), "a refused request registered a hub");
    let r = client()
        .patch(format!("{}/api/4.0/integration_hubs/1", l.url()))
        .bearer_auth(&token)
        .header(CONTENT_TYPE, "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // JSON passes, and so does a bodyless POST without a Content-Type.
    let r = client()
        .post(format!("{}/api/4.0/integration_hubs", l.url()))
        .bearer_auth(&token)
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .post(format!("{}/_mock/hubs/1/refresh", l.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn login_forms_oauth_download_and_state_urls_keep_working() {
    let l = MockLooker::start().await.unwrap();
    let (id, secret) = l.api_credentials();
    // API 4.0 login: a form body (what the SDKs send), or the deprecated query.
    let r = client()
        .post(format!("{}/api/4.0/login", l.url()))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("client_id={id}&client_secret={secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .post(format!(
            "{}/api/4.0/login?client_id={id}&client_secret={secret}",
            l.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // ... but not a text/plain body, nor a form posted from another origin.
    let r = client()
        .post(format!("{}/api/4.0/login", l.url()))
        .header(CONTENT_TYPE, "text/plain")
        .body(format!("client_id={id}&client_secret={secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = client()
        .post(format!("{}/api/4.0/login", l.url()))
        .header(ORIGIN, EVIL)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("client_id={id}&client_secret={secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The OAuth provider: a navigation and form posts, whatever their origin.
    let r = client()
        .get(format!(
            "{}/oauth/authorize?response_type=code&client_id=action-hub&redirect_uri=http://127.0.0.1:9/cb&state=s&login_as=alice",
            l.url()
        ))
        .header(ORIGIN, EVIL)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let r = client()
        .post(format!("{}/oauth/token", l.url()))
        .header(ORIGIN, EVIL)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&client_id=action-hub&client_secret=action-hub-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tok: Value = r.json().await.unwrap();
    let r = client()
        .post(format!("{}/oauth/introspect", l.url()))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={}", tok["access_token"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);

    // Hub-facing one-use URLs: judged by their token, not by headers.
    let r = client()
        .post(format!("{}/action_hub_state/{}", l.url(), "0".repeat(40)))
        .header(CONTENT_TYPE, "text/plain")
        .body("{\"token\":\"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "an unknown state URL, not a refused type");
    let r = client()
        .get(format!("{}/downloads/{}", l.url(), "0".repeat(40)))
        .header(ORIGIN, EVIL)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "an unknown download URL, not a refused origin"
    );
}
