//! [`Client`]: the `/_mock/` API of a data plane running elsewhere (another process, another
//! machine's port forward), typed like the in-process [`crate::MockDataplane`] so a tool can
//! drive either. Every failure is returned as a [`ClientError`] naming what went wrong.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::Source;
use crate::faults::FaultRule;
use crate::journal::JournalEntry;
use crate::live::RuntimeSettings;
use crate::store::{EventFilter, Stats, StoredEvent};

/// The page size `events()` asks for: the server's own default page.
const PAGE: usize = 1000;

/// Why a [`Client`] call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request could not be sent or its answer not read (connection refused, reset, ...).
    #[error("{what}: {source}")]
    Http {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    /// The data plane answered with an error status; `body` is its explanation.
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    /// The answer was not the JSON the API documents.
    #[error("{what}: unexpected answer: {detail}")]
    Decode { what: String, detail: String },
    /// `wait_for` gave up: fewer matching events than asked for arrived in time.
    #[error("timed out waiting for events: saw {seen} matching events")]
    Timeout { seen: usize },
}

/// A client of a mock data plane's `/_mock/` API at `base_url` (e.g. `http://127.0.0.1:8080`).
///
/// Events read over HTTP carry no write key (the API never sends secrets): their
/// [`StoredEvent::write_key`] is empty; filter by write key instead.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct EventsPage {
    events: Vec<StoredEvent>,
    next: u64,
}

impl Client {
    /// A client with its own connection pool that ignores proxy settings (the data plane is
    /// usually on loopback).
    pub fn new(base_url: impl Into<String>) -> Result<Self, ClientError> {
        let http = serving::http_client()
            .no_proxy()
            .build()
            .map_err(|source| ClientError::Http {
                what: "building the HTTP client".into(),
                source,
            })?;
        Ok(Self::with_http(http, base_url))
    }

    /// A client using `http` (its timeouts, proxy and TLS settings).
    pub fn with_http(http: reqwest::Client, base_url: impl Into<String>) -> Self {
        let base = base_url.into().trim_end_matches('/').to_owned();
        Self { http, base }
    }

    /// The base URL, no trailing slash.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Stored events matching `filter`, in arrival order (every page, up to `filter.limit`).
    pub async fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, ClientError> {
        let mut out = Vec::new();
        let mut f = filter.clone();
        loop {
            let want = filter.limit.map(|l| l - out.len());
            let page = want.map_or(PAGE, |w| w.min(PAGE));
            f.limit = Some(page);
            let got: EventsPage = self
                .call("reading events", self.get_q("/_mock/events", &query(&f)))
                .await?;
            let n = got.events.len();
            out.extend(got.events);
            f.since = Some(got.next);
            if n < page || filter.limit.is_some_and(|l| out.len() >= l) {
                return Ok(out);
            }
        }
    }

    /// Waits until at least `count` events match `filter` (`GET /_mock/events/wait`); returns
    /// them, or [`ClientError::Timeout`] with how many there were.
    pub async fn wait_for(
        &self,
        count: usize,
        filter: &EventFilter,
        timeout: Duration,
    ) -> Result<Vec<StoredEvent>, ClientError> {
        let mut q = query(filter);
        q.push(("count", count.to_string()));
        q.push(("timeout_ms", timeout.as_millis().to_string()));
        let req = self.get_q("/_mock/events/wait", &q);
        let what = "waiting for events";
        let resp = send(what, req).await?;
        if resp.status() == reqwest::StatusCode::REQUEST_TIMEOUT {
            #[derive(Deserialize)]
            struct Seen {
                seen: usize,
            }
            let seen: Seen = decode(what, resp).await?;
            return Err(ClientError::Timeout { seen: seen.seen });
        }
        let page: EventsPage = decode(what, ok(what, resp).await?).await?;
        Ok(page.events)
    }

    /// The request journal, oldest first.
    pub async fn requests(&self) -> Result<Vec<JournalEntry>, ClientError> {
        #[derive(Deserialize)]
        struct Requests {
            requests: Vec<JournalEntry>,
        }
        let r: Requests = self
            .call("reading the request journal", self.get("/_mock/requests"))
            .await?;
        Ok(r.requests)
    }

    /// Adds a fault rule; returns its id (a refused rule is [`ClientError::Status`] 400 with
    /// the reason).
    pub async fn add_fault(&self, rule: &FaultRule) -> Result<String, ClientError> {
        #[derive(Deserialize)]
        struct Added {
            id: String,
        }
        let req = self
            .http
            .post(format!("{}/_mock/faults", self.base))
            .json(rule);
        let added: Added = self.call("adding a fault rule", req).await?;
        Ok(added.id)
    }

    /// Makes the data plane accept `source` (`POST /_mock/sources`): adds it, or, when its
    /// write key exists, sets that source's name and enabled flag (and its id, unless
    /// `source.id` is empty). Returns the source's id.
    pub async fn put_source(&self, source: &Source) -> Result<String, ClientError> {
        #[derive(Deserialize)]
        struct Put {
            id: String,
        }
        let req = self
            .http
            .post(format!("{}/_mock/sources", self.base))
            .json(&serde_json::json!({
                "write_key": source.write_key,
                "id": (!source.id.is_empty()).then_some(&source.id),
                "name": source.name,
                "enabled": source.enabled,
            }));
        let put: Put = self.call("setting up a source", req).await?;
        Ok(put.id)
    }

    /// Changes the settings given (`POST /_mock/settings`); returns all of them as they are now.
    pub async fn set_settings(
        &self,
        settings: &RuntimeSettings,
    ) -> Result<RuntimeSettings, ClientError> {
        let req = self
            .http
            .post(format!("{}/_mock/settings", self.base))
            .json(settings);
        self.call("changing the data plane's settings", req).await
    }

    /// Empties the request journal.
    pub async fn clear_requests(&self) -> Result<(), ClientError> {
        let req = self.http.delete(format!("{}/_mock/requests", self.base));
        let _: serde_json::Value = self.call("clearing the request journal", req).await?;
        Ok(())
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) -> Result<(), ClientError> {
        let req = self.http.delete(format!("{}/_mock/faults", self.base));
        let _: serde_json::Value = self.call("clearing fault rules", req).await?;
        Ok(())
    }

    /// Deletes every stored event.
    pub async fn reset(&self) -> Result<(), ClientError> {
        let req = self.http.delete(format!("{}/_mock/events", self.base));
        let _: serde_json::Value = self.call("deleting events", req).await?;
        Ok(())
    }

    /// Counts by source and type, duplicated messageIds.
    pub async fn stats(&self) -> Result<Stats, ClientError> {
        self.call("reading stats", self.get("/_mock/stats")).await
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base))
    }

    fn get_q(&self, path: &str, q: &[(&str, String)]) -> reqwest::RequestBuilder {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        self.http.get(format!("{}{path}?{query}", self.base))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        what: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = send(what, req).await?;
        decode(what, ok(what, resp).await?).await
    }
}

async fn send(what: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
    req.send().await.map_err(|source| ClientError::Http {
        what: what.into(),
        source,
    })
}

/// The answer if its status is a success, else [`ClientError::Status`] with its text.
async fn ok(what: &str, resp: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    Err(ClientError::Status {
        what: what.into(),
        status: status.as_u16(),
        body,
    })
}

async fn decode<T: DeserializeOwned>(
    what: &str,
    resp: reqwest::Response,
) -> Result<T, ClientError> {
    let bytes = resp.bytes().await.map_err(|source| ClientError::Http {
        what: what.into(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
        what: what.into(),
        detail: e.to_string(),
    })
}

/// `filter` as the query parameters `/_mock/events` reads.
fn query(f: &EventFilter) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    let fields = [
        ("write_key", &f.write_key),
        ("type", &f.r#type),
        ("userId", &f.user_id),
        ("anonymousId", &f.anonymous_id),
        ("event", &f.event),
        ("messageId", &f.message_id),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            q.push((name, v.clone()));
        }
    }
    if let Some(s) = f.since {
        q.push(("since", s.to_string()));
    }
    if let Some(l) = f.limit {
        q.push(("limit", l.to_string()));
    }
    q
}
