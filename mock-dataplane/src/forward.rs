//! `--forward URL`: the mock in front of a real data plane (issue 15).
//!
//! Each request the mock accepts (its own checks passed, the events about to be committed) is
//! sent on to the upstream data plane first, same path, query and body, with the client's
//! write key. Only when the upstream acknowledges (2xx) are the events stored and the client
//! answered; any other answer is passed to the client as it came (status, content type, body)
//! and nothing is stored. So the client never sees an acknowledgement the real gateway did
//! not give, and a recording made through the mock shows the real gateway's answers: a fault
//! upstream shows through. The journal's `detail` names the upstream's answer.
//!
//! The body is forwarded as the mock read it, after gzip decoding (without
//! `Content-Encoding`). Requests the mock refuses itself are not forwarded; the pixel and
//! webhook routes are not forwarded.

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;

/// The client's request, as forwarded.
pub(crate) struct Upstream<'a> {
    /// Path and query of the client's request (`/v1/batch`, `/beacon/v1/batch?writeKey=…`).
    pub path_and_query: &'a str,
    /// The client's headers; only those that describe the request are forwarded.
    pub headers: &'a HeaderMap,
    /// The (decoded) body.
    pub body: &'a [u8],
}

/// An upstream answer that is not an acknowledgement, passed to the client as it is.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
    /// For the journal: what happened, without the write key or the query.
    pub detail: String,
}

/// The upstream data plane and the client that talks to it.
#[derive(Debug, Clone)]
pub(crate) struct Forwarder {
    base: String,
    client: reqwest::Client,
}

/// The most of an upstream answer's body that is kept and passed on (a gateway's answers are
/// a few bytes; a misconfigured URL could point at anything).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Request headers passed on: the ones a gateway reads. Hop-by-hop headers, `Host`,
/// `Content-Length` (recomputed) and `Content-Encoding` (the body is decoded) are not.
const FORWARDED_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "user-agent",
    "anonymousid",
    "x-forwarded-for",
];

impl Forwarder {
    /// `base` is the upstream's root URL (`https://dataplane.example.com`), without a path.
    pub fn new(base: &str) -> Forwarder {
        Forwarder {
            base: base.trim_end_matches('/').to_owned(),
            // Straight to the URL given: a proxy from the environment would put another hop
            // (with its own answers) between the mock and the data plane.
            client: serving::http_client()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }

    /// Sends the request upstream and waits for its answer, at most `limit` (the mock's own
    /// write timeout: an answer later than that could not be passed on anyway). `Ok(status)`
    /// for a 2xx; anything else is a [`Refusal`] to pass on (502 when the upstream could not
    /// be reached or answered garbage, 504 when it took too long).
    pub async fn relay(&self, up: &Upstream<'_>, limit: Duration) -> Result<u16, Refusal> {
        let path = up.path_and_query.split('?').next().unwrap_or("");
        let mut rq = self
            .client
            .post(format!("{}{}", self.base, up.path_and_query))
            .body(Bytes::copy_from_slice(up.body));
        for name in FORWARDED_HEADERS {
            for v in up.headers.get_all(name) {
                rq = rq.header(name, v.clone());
            }
        }
        let work = async {
            let resp = rq.send().await?;
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut body = Vec::new();
            let mut resp = resp;
            while let Some(chunk) = resp.chunk().await? {
                let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok::<_, reqwest::Error>((status, content_type, Bytes::from(body)))
        };
        let gateway_error = |status: u16, text: String| Refusal {
            status,
            content_type: Some("text/plain; charset=utf-8".into()),
            body: Bytes::from(format!("{text}\n")),
            detail: format!("forward to upstream {}{path}: {text}", self.base),
        };
        match tokio::time::timeout(limit, work).await {
            Err(_) => Err(gateway_error(
                504,
                format!(
                    "the upstream data plane did not answer within {:.1} s",
                    limit.as_secs_f64()
                ),
            )),
            Ok(Err(e)) => Err(gateway_error(
                502,
                format!(
                    "the upstream data plane could not be reached: {}",
                    serving::error_text(&e, "upstream")
                ),
            )),
            Ok(Ok((status, _, _))) if (200..300).contains(&status) => Ok(status),
            Ok(Ok((status, content_type, body))) => Err(Refusal {
                status,
                detail: format!(
                    "upstream {}{path} answered {status} {:?}; nothing stored",
                    self.base,
                    String::from_utf8_lossy(&body[..body.len().min(200)]).trim_end()
                ),
                content_type,
                body,
            }),
        }
    }
}
