//! The data plane side of [`Env`]: the in-process mock data plane, or an external one reached
//! through its `/_mock` HTTP API with [`mock_dataplane::Client`], which mirrors the in-process
//! handle (and returns every error instead of reading a failed answer as "no events").

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
        let rule: mock_dataplane::FaultRule =
            serde_json::from_value(rule.clone()).with_context(|| format!("fault rule {rule}"))?;
        match &self.dataplane {
            DataplaneServer::Local(d) => {
                d.add_fault(rule)
                    .await
                    .map_err(|e| anyhow::anyhow!("fault rule refused: {e}"))?;
            }
            DataplaneServer::External { client, .. } => {
                client.add_fault(&rule).await?;
            }
        }
        Ok(())
    }

    async fn clear_faults(&self) -> anyhow::Result<()> {
        match &self.dataplane {
            DataplaneServer::Local(d) => d.clear_faults().await,
            DataplaneServer::External { client, .. } => client.clear_faults().await?,
        }
        Ok(())
    }

    async fn reset_events(&self) -> anyhow::Result<()> {
        match &self.dataplane {
            DataplaneServer::Local(d) => d.reset().await?,
            DataplaneServer::External { client, .. } => client.reset().await?,
        }
        Ok(())
    }

    async fn events(&self, filter: Filter) -> anyhow::Result<Vec<Stored>> {
        let events = match &self.dataplane {
            DataplaneServer::Local(d) => d.events(to_filter(&filter)).await?,
            DataplaneServer::External { client, .. } => client.events(&to_filter(&filter)).await?,
        };
        Ok(events.into_iter().map(stored).collect())
    }

    async fn wait_for(
        &self,
        count: usize,
        filter: Filter,
        timeout: Duration,
    ) -> anyhow::Result<Result<Vec<Stored>, usize>> {
        let filter = to_filter(&filter);
        let waited = match &self.dataplane {
            DataplaneServer::Local(d) => match d.wait_for(count, filter, timeout).await {
                Ok(evs) => Ok(evs),
                Err(mock_dataplane::WaitError::Timeout { seen }) => Err(seen),
                Err(e) => return Err(e.into()),
            },
            DataplaneServer::External { client, .. } => {
                match client.wait_for(count, &filter, timeout).await {
                    Ok(evs) => Ok(evs),
                    Err(mock_dataplane::ClientError::Timeout { seen }) => Err(seen),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        Ok(waited.map(|evs| evs.into_iter().map(stored).collect()))
    }

    async fn total_events(&self) -> anyhow::Result<usize> {
        let stats = match &self.dataplane {
            DataplaneServer::Local(d) => d.stats().await?,
            DataplaneServer::External { client, .. } => client.stats().await?,
        };
        Ok(stats.total as usize)
    }

    async fn requests(&self) -> anyhow::Result<Vec<JournalRow>> {
        let rows = match &self.dataplane {
            DataplaneServer::Local(d) => d.requests().await,
            DataplaneServer::External { client, .. } => client.requests().await?,
        };
        Ok(rows
            .into_iter()
            .map(|r| JournalRow {
                path: r.path,
                status: r.status,
            })
            .collect())
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

fn stored(e: mock_dataplane::StoredEvent) -> Stored {
    Stored {
        write_key: e.write_key,
        event: e.event,
    }
}
