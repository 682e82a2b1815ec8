//! `GET /` for people (issue 12): a browser gets the page, API clients the gateway's JSON.

use crate::helpers::{client, send, start};

#[tokio::test]
async fn root_is_a_page_for_browsers_and_health_json_for_the_rest() {
    let dp = start().await;
    let page = send(
        client()
            .get(format!("{}/", dp.url()))
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(page.headers["vary"], "Accept");
    for want in ["Mock data plane", "/_mock/stream", "503 ×2", "Clear faults"] {
        assert!(page.body.contains(want), "{want:?} missing");
    }
    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut req = client().get(format!("{}/", dp.url()));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let health = send(req).await;
        assert_eq!(health.status, 200);
        assert!(
            health.body.contains("\"server\":\"UP\""),
            "{accept:?}: {}",
            health.body
        );
    }
}

#[tokio::test]
async fn the_request_journal_can_be_cut_to_the_newest() {
    let dp = start().await;
    for _ in 0..3 {
        // No write key: refused with 401, and journaled like every gateway request.
        send(client().post(format!("{}/v1/batch", dp.url())).body("{}")).await;
    }
    let last = send(client().get(format!("{}/_mock/requests?last=2", dp.url()))).await;
    let v: serde_json::Value = serde_json::from_str(&last.body).unwrap();
    assert_eq!(v["requests"].as_array().unwrap().len(), 2, "{}", last.body);
    let bad = send(client().get(format!("{}/_mock/requests?last=x", dp.url()))).await;
    assert_eq!(bad.status, 400);
}
