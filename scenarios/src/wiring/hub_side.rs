//! The hub side of [`Env`]: its URL and token, and the write-back hub with its database.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Map, Value, json};

use super::{Env, HubServer, WritebackSide};
use crate::harness::Hub;

impl Hub for Env {
    fn hub_url(&self) -> String {
        match &self.hub {
            HubServer::Local(h) => h.url(),
            HubServer::Writeback { url, .. } => url.clone(),
            HubServer::External { url, .. } => url.trim_end_matches('/').to_string(),
        }
    }
    fn hub_token(&self) -> Option<String> {
        match &self.hub {
            HubServer::Local(h) => Some(h.token()),
            HubServer::Writeback { token, .. } => Some(token.clone()),
            HubServer::External { token, .. } => token.clone(),
        }
    }

    async fn writeback_rows(&self) -> anyhow::Result<Vec<Value>> {
        let db = self.writeback()?.db.clone();
        tokio::task::spawn_blocking(move || read_writeback_rows(&db)).await?
    }
}

impl Env {
    pub(super) fn writeback(&self) -> anyhow::Result<&WritebackSide> {
        self.writeback
            .as_ref()
            .context("this scenario's hub has no write-back actions (`hub: {writeback: true}`)")
    }
}

/// Every row of the write-back table, `{column: value}` in insertion order, read with plain SQL
/// on the file (not through the hub's `Store`), so the judging does not trust the hub's code.
pub fn read_writeback_rows(db: &Path) -> anyhow::Result<Vec<Value>> {
    use rusqlite::types::ValueRef;
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening the write-back database {}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT * FROM {} ORDER BY rowid",
            hub::writeback::store::TABLE
        ))
        .with_context(|| format!("reading the write-back table of {}", db.display()))?;
    let names: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let rows = stmt.query_map([], |r| {
        let mut o = Map::new();
        for (i, name) in names.iter().enumerate() {
            let v = match r.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => json!(n),
                ValueRef::Real(f) => json!(f),
                ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::String(format!("<{} bytes>", b.len())),
            };
            o.insert(name.clone(), v);
        }
        Ok(Value::Object(o))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Starts the reference hub with the write-back actions, wired to `looker`'s OAuth provider
/// through a client registered for this hub alone.
pub(super) async fn start_writeback_hub(
    looker: &mock_looker::MockLooker,
    mapping: hub::MappingMode,
) -> anyhow::Result<(HubServer, WritebackSide)> {
    let secret = mock_looker::generate_secret(24);
    let client_id = format!("scenario-hub-{}", mock_looker::generate_secret(4));
    let client_secret = mock_looker::generate_secret(24);
    looker
        .oauth_provider()
        .add_client(&client_id, &client_secret);
    let dir = tempfile::tempdir().context("a temporary directory for the write-back database")?;
    let db = dir.path().join("writeback.sqlite");
    let binding = serving::Binding::loopback()
        .await
        .context("binding the write-back hub")?;
    let url = binding.url().to_owned();
    let wb = hub::writeback::WritebackConfig {
        client_id,
        client_secret,
        db_path: db.clone(),
        ..hub::writeback::WritebackConfig::new(&url, &secret)
            .provider(&format!("{}/oauth", looker.url()))
    };
    let mut registry = hub::Registry::rudderstack();
    hub::writeback::register(&mut registry, wb).context("opening the write-back database")?;
    let config = hub::HubConfig {
        secret: Some(secret.clone()),
        mapping,
        ..hub::HubConfig::default()
    };
    let server = binding.spawn("write-back hub", |listener, stop| {
        hub::Hub::builder()
            .config(config)
            .registry(registry)
            .run(listener, stop)
    });
    Ok((
        HubServer::Writeback {
            url,
            token: hub::generate_token(&secret),
            _server: server,
        },
        WritebackSide {
            secret,
            db,
            _dir: dir,
        },
    ))
}
