//! One request to a hub with Looker's headers, patience and size cap, and the journal entry
//! every exchange (and every side request a hub makes) leaves.

use std::time::{Duration, Instant};

use super::{Core, JournalEntry};
use crate::clock::now_iso;

/// The answer to one request, read with Looker's patience and size limit.
pub(super) struct Exchange {
    pub(super) status: Option<u16>,
    pub(super) body: Vec<u8>,
    pub(super) failure: Option<(String, String)>,
    pub(super) elapsed: Duration,
    pub(super) until_headers: Option<Duration>,
}

impl Core {
    /// Sends one request to a hub with Looker's headers, reads the answer under the timeout
    /// and size cap, and never fails: problems come back in `failure`.
    pub(super) async fn exchange(
        &self,
        url: &str,
        token: Option<&str>,
        version: &str,
        webhook_id: &str,
        body: reqwest::Body,
    ) -> Exchange {
        let start = Instant::now();
        let mut req = self
            .client
            .post(url)
            .header("User-Agent", format!("LookerOutgoingWebhook/{version}"))
            .header("X-Looker-Instance", &self.instance_id)
            .header("X-Looker-Webhook-Id", webhook_id)
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Token token=\"{t}\""));
        }
        let max = self.config.max_answer_bytes;
        let mut status = None;
        let mut until_headers = None;
        let mut buf = Vec::new();
        let work = async {
            let mut resp = req.send().await.map_err(classify)?;
            status = Some(resp.status().as_u16());
            until_headers = Some(start.elapsed());
            while let Some(chunk) = resp.chunk().await.map_err(classify)? {
                if buf.len() + chunk.len() > max {
                    return Err((
                        "answer_size".to_owned(),
                        format!("the answer exceeds {max} bytes; Looker stops reading"),
                    ));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(())
        };
        let failure = match tokio::time::timeout(self.config.hub_timeout, work).await {
            Ok(Ok(())) => None,
            Ok(Err(f)) => Some(f),
            Err(_) => Some((
                "timeout".to_owned(),
                format!("no complete answer within {:?}", self.config.hub_timeout),
            )),
        };
        Exchange {
            status,
            body: buf,
            failure,
            elapsed: start.elapsed(),
            until_headers,
        }
    }

    pub fn journal_entries(&self) -> Vec<JournalEntry> {
        self.journal.all()
    }

    pub(super) fn masked_headers(
        &self,
        token: Option<&str>,
        version: &str,
        webhook_id: &str,
    ) -> Vec<(String, String)> {
        let mut h = vec![
            (
                "User-Agent".into(),
                format!("LookerOutgoingWebhook/{version}"),
            ),
            ("X-Looker-Instance".into(), self.instance_id.clone()),
            ("X-Looker-Webhook-Id".into(), webhook_id.to_owned()),
            ("Content-Type".into(), "application/json".into()),
        ];
        if token.is_some() {
            h.push(("Authorization".into(), "Token token=\"********\"".into()));
        }
        h
    }

    pub(crate) fn record_side(
        &self,
        kind: &str,
        method: &str,
        url: &str,
        status: u16,
        request_body: &[u8],
        failure: Option<String>,
    ) {
        self.journal.push(JournalEntry {
            id: 0,
            at: now_iso(),
            kind: kind.into(),
            method: method.into(),
            url: url.into(),
            request_headers: Vec::new(),
            request_body: self.journal.clip(request_body),
            request_bytes: request_body.len() as u64,
            status: Some(status),
            response_body: String::new(),
            failure,
            breaches: Vec::new(),
            elapsed_ms: 0,
            oauth_links: Vec::new(),
        });
    }
}

fn classify(e: reqwest::Error) -> (String, String) {
    if e.is_redirect() {
        (
            "redirect".into(),
            format!("redirect loop or too many redirects: {e}"),
        )
    } else if e.is_timeout() {
        ("timeout".into(), format!("timed out: {e}"))
    } else if e.is_connect() {
        ("connect".into(), format!("cannot connect: {e}"))
    } else {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        ("transport".into(), msg)
    }
}
