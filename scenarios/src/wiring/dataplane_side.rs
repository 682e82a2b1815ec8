//! The data plane side of [`Env`]: the in-process mock data plane, or an external one reached
//! through its `/_mock` HTTP API.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

use super::{DataplaneServer, Env};
use crate::harness::{DataPlane, Filter, JournalRow, Stored};

impl DataPlane for Env {
    fn dataplane_url(&self) -> String {
        match &self.dataplane {
            DataplaneServer::Local(d) => d.url(),
            DataplaneServer::External { url, .. } => url.clone(),
        }
    }
    fn write_keys(&self) -> Vec<String> {
        match &self.dataplane {
            DataplaneServer::Local(d) => d.write_keys(),
            DataplaneServer::External { keys, .. } => keys.clone(),
        }
    }

    async fn add_fault(&self, rule: Value) -> anyhow::Result<()> {
        match &self.dataplane {
            DataplaneServer::Local(d) => {
                let rule: mock_dataplane::FaultRule = serde_json::from_value(rule.clone())
                    .with_context(|| format!("fault rule {rule}"))?;
                d.add_fault(rule)
                    .await
                    .map_err(|e| anyhow::anyhow!("fault rule refused: {e}"))?;
            }
            DataplaneServer::External { .. } => {
                let resp = self
                    .external(reqwest::Method::POST, "/_mock/faults")
                    .await?
                    .json(&rule)
                    .send()
                    .await?;
                anyhow::ensure!(
                    resp.status().is_success(),
                    "fault rule refused: {}",
                    resp.text().await?
                );
            }
        }
        Ok(())
    }

    async fn clear_faults(&self) -> anyhow::Result<()> {
        match &self.dataplane {
            DataplaneServer::Local(d) => d.clear_faults().await,
            DataplaneServer::External { .. } => {
                self.external(reqwest::Method::DELETE, "/_mock/faults")
                    .await?
                    .send()
                    .await?;
            }
        }
        Ok(())
    }

    async fn reset_events(&self) -> anyhow::Result<()> {
        match &self.dataplane {
            DataplaneServer::Local(d) => d.reset().await?,
            DataplaneServer::External { .. } => {
                self.external(reqwest::Method::DELETE, "/_mock/events")
                    .await?
                    .send()
                    .await?;
            }
        }
        Ok(())
    }

    async fn events(&self, filter: Filter) -> anyhow::Result<Vec<Stored>> {
        match &self.dataplane {
            DataplaneServer::Local(d) => Ok(d
                .events(to_filter(&filter))
                .await?
                .into_iter()
                .map(|e| Stored {
                    write_key: e.write_key,
                    event: e.event,
                })
                .collect()),
            DataplaneServer::External { .. } => {
                let v: Value = self
                    .external_q(reqwest::Method::GET, "/_mock/events", &query(&filter))
                    .await?
                    .send()
                    .await?
                    .json()
                    .await?;
                Ok(v.get("events")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(stored_from_json).collect())
                    .unwrap_or_default())
            }
        }
    }

    async fn wait_for(
        &self,
        count: usize,
        filter: Filter,
        timeout: Duration,
    ) -> anyhow::Result<Result<Vec<Stored>, usize>> {
        match &self.dataplane {
            DataplaneServer::Local(d) => {
                Ok(match d.wait_for(count, to_filter(&filter), timeout).await {
                    Ok(evs) => Ok(evs
                        .into_iter()
                        .map(|e| Stored {
                            write_key: e.write_key,
                            event: e.event,
                        })
                        .collect()),
                    Err(mock_dataplane::WaitError::Timeout { seen }) => Err(seen),
                    Err(e) => return Err(e.into()),
                })
            }
            DataplaneServer::External { .. } => {
                let mut q = query(&filter);
                q.push(("count", count.to_string()));
                q.push(("timeout_ms", timeout.as_millis().to_string()));
                let resp = self
                    .external_q(reqwest::Method::GET, "/_mock/events/wait", &q)
                    .await?
                    .send()
                    .await?;
                let ok = resp.status().is_success();
                let v: Value = resp.json().await.unwrap_or(Value::Null);
                if ok {
                    Ok(Ok(v
                        .get("events")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().map(stored_from_json).collect())
                        .unwrap_or_default()))
                } else {
                    Ok(Err(
                        v.get("seen").and_then(Value::as_u64).unwrap_or(0) as usize
                    ))
                }
            }
        }
    }

    async fn total_events(&self) -> anyhow::Result<usize> {
        match &self.dataplane {
            DataplaneServer::Local(d) => Ok(d.stats().await?.total as usize),
            DataplaneServer::External { .. } => {
                let v: Value = self
                    .external(reqwest::Method::GET, "/_mock/stats")
                    .await?
                    .send()
                    .await?
                    .json()
                    .await?;
                Ok(v.get("total").and_then(Value::as_u64).unwrap_or(0) as usize)
            }
        }
    }

    async fn requests(&self) -> anyhow::Result<Vec<JournalRow>> {
        let rows: Vec<Value> = match &self.dataplane {
            DataplaneServer::Local(d) => d
                .requests()
                .await
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
                .collect(),
            DataplaneServer::External { .. } => {
                let v: Value = self
                    .external(reqwest::Method::GET, "/_mock/requests")
                    .await?
                    .send()
                    .await?
                    .json()
                    .await?;
                v.get("requests")
                    .or(Some(&v))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            }
        };
        Ok(rows
            .iter()
            .map(|r| JournalRow {
                path: r
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                status: r.get("status").and_then(Value::as_u64).unwrap_or(0) as u16,
            })
            .collect())
    }
}

impl Env {
    async fn external(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        self.external_q(method, path, &[]).await
    }

    async fn external_q(
        &self,
        method: reqwest::Method,
        path: &str,
        q: &[(&'static str, String)],
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        match &self.dataplane {
            DataplaneServer::External { url, client, .. } => {
                let url = reqwest::Url::parse_with_params(&format!("{url}{path}"), q)?;
                Ok(client.request(method, url))
            }
            DataplaneServer::Local(_) => anyhow::bail!("not an external data plane"),
        }
    }
}

fn to_filter(f: &Filter) -> mock_dataplane::EventFilter {
    mock_dataplane::EventFilter {
        write_key: f.write_key.clone(),
        r#type: f.kind.clone(),
        user_id: f.user_id.clone(),
        event: f.event.clone(),
        limit: f.limit,
        ..Default::default()
    }
}

fn query(f: &Filter) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(v) = &f.write_key {
        q.push(("write_key", v.clone()));
    }
    if let Some(v) = &f.kind {
        q.push(("type", v.clone()));
    }
    if let Some(v) = &f.user_id {
        q.push(("userId", v.clone()));
    }
    if let Some(v) = &f.event {
        q.push(("event", v.clone()));
    }
    if let Some(v) = f.limit {
        q.push(("limit", v.to_string()));
    }
    q
}

fn stored_from_json(v: &Value) -> Stored {
    Stored {
        write_key: v
            .get("write_key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        event: v.get("event").cloned().unwrap_or(Value::Null),
    }
}
