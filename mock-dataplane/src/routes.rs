//! The route table: the gateway's public routes, the `/_mock/` API, the CORS layer, and the
//! small fixed answers (`/health`, `/version`, `/robots.txt`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State as AxState;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};

use crate::gateway::{RouteSpec, gateway, now_rfc3339, pixel, webhook};
use crate::ingest::Kind;
use crate::response::{go_error, go_text, not_found};
use crate::state::AppState;

const SINGLE_ROUTES: [&str; 8] = [
    "identify",
    "track",
    "page",
    "screen",
    "group",
    "alias",
    "merge",
    "audiencelist",
];

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let mut r = Router::new();
    for name in SINGLE_ROUTES {
        let spec = RouteSpec {
            kind: Kind::Single(name),
            size_exempt: name == "audiencelist",
            query_key: false,
            split_by_user: false,
        };
        r = r.route(
            &format!("/v1/{name}"),
            post(move |s, req| gateway(s, req, spec)),
        );
    }
    let batch = RouteSpec {
        kind: Kind::Batch,
        size_exempt: false,
        query_key: false,
        split_by_user: false,
    };
    let beacon = RouteSpec {
        query_key: true,
        ..batch
    };
    let import = RouteSpec {
        split_by_user: true,
        ..batch
    };
    r = r
        .route("/v1/batch", post(move |s, req| gateway(s, req, batch)))
        .route("/v1/import", post(move |s, req| gateway(s, req, import)))
        .route(
            "/beacon/v1/batch",
            post(move |s, req| gateway(s, req, beacon)),
        )
        .route("/pixel/v1/track", get(|s, req| pixel(s, req, "track")))
        .route("/pixel/v1/page", get(|s, req| pixel(s, req, "page")))
        .route("/v1/webhook", get(webhook).post(webhook))
        .route("/health", get(health))
        .route("/", get(root))
        .route("/version", get(version))
        .route("/robots.txt", get(robots));
    r.merge(crate::inspect::routes())
        .merge(crate::live_api::routes())
        .fallback(|| async { not_found() })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::cors::layer,
        ))
        .with_state(state)
}

/// `GET /`: the gateway's health JSON, or the page for people when a browser asks for HTML.
async fn root(st: AxState<Arc<AppState>>, headers: axum::http::HeaderMap) -> Response {
    if crate::console::wants_html(&headers) {
        return crate::console::page();
    }
    health(st).await
}

/// `GET /health`: the liveness JSON of `app.LivenessHandler`.
async fn health(AxState(st): AxState<Arc<AppState>>) -> Response {
    // A trivial read: counting rows "after u64::MAX - 1" wrapped to a negative cursor in SQL
    // and scanned the whole table.
    let db_ok = st.store.ping().await.is_ok();
    if !db_ok {
        return go_error(StatusCode::SERVICE_UNAVAILABLE, "Cannot connect to db");
    }
    let now = now_rfc3339();
    let body = format!(
        r#"{{"appType": "EMBEDDED", "server":"UP", "db":"UP","acceptingEvents":"TRUE","routingEvents":"TRUE","mode":"NORMAL","backendConfigMode":"API","lastSync":"{now}","lastRegulationSync":"{now}"}}"#
    );
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// `GET /version`: rudder-server's `versionInfo` keys; values identify the mock.
async fn version() -> Response {
    let body = serde_json::json!({
        "Version": concat!("mock-dataplane-", env!("CARGO_PKG_VERSION")),
        "Commit": "mock",
        "BuildDate": "",
        "BuiltBy": "mock-dataplane",
        "Features": [],
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

async fn robots() -> Response {
    go_text(StatusCode::OK, "User-agent: * \nDisallow: /\n")
}
