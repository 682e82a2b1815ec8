//! `scenarios up`: the demo on embedded defaults.
//!
//! Starts the three servers on fixed loopback ports (hub 8080, data plane 8081, Looker 8082),
//! registers the hub in the mock Looker, sends its demo Looks through each RudderStack action
//! (Users → Identify and Track, Accounts → Group), then plays the write-back flow of seed 002
//! (alice logs in through the mock OAuth provider and marks order 1001 as suspicious), prints
//! what arrived in the data plane and in the write-back database and how to explore further,
//! then serves until Ctrl-C. Everything goes through the servers' HTTP APIs, exactly as a user
//! poking at them with curl would see it.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use futures::TryFutureExt as _;
use mock_looker::demo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The demo source's write key.
pub const DEMO_WRITE_KEY: &str = "wk_demo";

/// Flags of `scenarios up`.
#[derive(Debug, Args, Clone)]
pub struct UpArgs {
    /// Port of the reference hub (0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub hub_port: u16,
    /// Port of the mock data plane (0: any free port).
    #[arg(long, default_value_t = 8081)]
    pub dataplane_port: u16,
    /// Port of the mock Looker (0: any free port).
    #[arg(long, default_value_t = 8082)]
    pub looker_port: u16,
    /// Mapping mode of the hub: rudderstack (quirks of RudderStack's hosted hub) or clean.
    #[arg(long, default_value = "rudderstack")]
    pub mapping: String,
}

/// What the demo did, for the printout and for tests.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Hub URL.
    pub hub_url: String,
    /// Hub token.
    pub hub_token: String,
    /// Data plane URL.
    pub dataplane_url: String,
    /// Looker URL.
    pub looker_url: String,
    /// The hub's id in the mock Looker.
    pub hub_id: String,
    /// `(action, look title, Looker's reading of the answer)` per send.
    pub sends: Vec<(String, String, Value)>,
    /// Events stored in the data plane after the sends.
    pub events: Vec<Value>,
    /// The write-back flow: `(step, what Looker/the browser saw)`.
    pub writeback: Vec<(String, Value)>,
    /// The rows of the write-back database afterwards.
    pub writeback_rows: Vec<Value>,
    /// Where that database is (a temporary directory, removed when the demo stops).
    pub writeback_db: String,
}

async fn bind(port: u16, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port)).await.with_context(|| {
        format!("cannot listen on 127.0.0.1:{port} for the {what}: is something already running there? (choose another port with --{}-port)",
            what.split_whitespace().last().unwrap_or(what))
    })
}

/// Start everything, send the demo Looks, then serve until `shutdown` resolves.
pub async fn up_with(
    args: UpArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&DemoReport),
) -> anyhow::Result<DemoReport> {
    let mapping: hub::MappingMode = args
        .mapping
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let dp_listener = bind(args.dataplane_port, "data plane").await?;
    let hub_listener = bind(args.hub_port, "hub").await?;
    let looker_listener = bind(args.looker_port, "looker").await?;
    let dataplane_url = format!("http://{}", dp_listener.local_addr()?);
    let hub_url = format!("http://{}", hub_listener.local_addr()?);
    let looker_url = format!("http://{}", looker_listener.local_addr()?);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let mut dp_config = mock_dataplane::Config::default();
    dp_config
        .add_source(mock_dataplane::Source::new(DEMO_WRITE_KEY, "Looker demo"))
        .context("demo source")?;
    let dp = tokio::spawn(
        mock_dataplane::run(dp_listener, dp_config, stopped(stop_rx.clone()))
            .map_err(anyhow::Error::from),
    );

    let secret = mock_looker::generate_secret(32);
    let hub_token = hub::generate_token(&secret);
    // The write-back actions as the `action-hub` binary serves them, with the mock Looker's
    // OAuth provider (its default client) and the database in a temporary directory.
    let wb_dir =
        tempfile::tempdir().context("a temporary directory for the write-back database")?;
    let wb_db = wb_dir.path().join("writeback.sqlite");
    let mut registry = hub::Registry::rudderstack();
    hub::writeback::register(
        &mut registry,
        hub::writeback::WritebackConfig {
            db_path: wb_db.clone(),
            ..hub::writeback::WritebackConfig::new(&hub_url, &secret)
                .provider(&format!("{looker_url}/oauth"))
        },
    )
    .context("opening the write-back database")?;
    let hub_config = hub::HubConfig {
        secret: Some(secret),
        mapping,
        ..hub::HubConfig::default()
    };
    let hub_task = tokio::spawn(
        hub::Hub::builder()
            .config(hub_config)
            .registry(registry)
            .run(hub_listener, stopped(stop_rx.clone()))
            .map_err(anyhow::Error::from),
    );
    // Known API 4.0 credentials, so the demo can configure the actions as a Looker admin would.
    let (api_id, api_secret) = (
        mock_looker::generate_secret(10),
        mock_looker::generate_secret(12),
    );
    let looker_task = tokio::spawn(
        mock_looker::run(
            looker_listener,
            mock_looker::Config {
                client_id: Some(api_id.clone()),
                client_secret: Some(api_secret.clone()),
                ..mock_looker::Config::default()
            },
            stopped(stop_rx.clone()),
        )
        .map_err(anyhow::Error::from),
    );

    let client = serving::http_client()
        .timeout(Duration::from_secs(60))
        .build()?;
    let hub: Value = client
        .post(format!("{looker_url}/_mock/hubs"))
        .json(&json!({"url": hub_url, "token": hub_token}))
        .send()
        .await?
        .error_for_status()
        .context("registering the hub in the mock Looker")?
        .json()
        .await?;
    let hub_id = hub
        .get("id")
        .and_then(Value::as_str)
        .context("the mock Looker gave no hub id")?
        .to_string();
    let params = json!({
        "rudder_write_key": DEMO_WRITE_KEY,
        "rudder_server_url": format!("{dataplane_url}/v1/batch"),
    });
    let plan = [
        ("rudder_event", demo::USERS, "Users", json!({})),
        (
            "rudder_track",
            demo::USERS,
            "Users",
            json!({"event": "Demo Look Sent"}),
        ),
        ("rudder_group", demo::ACCOUNTS, "Accounts", json!({})),
    ];
    configure_actions(
        &client,
        &looker_url,
        (&api_id, &api_secret),
        &hub_id,
        &params,
    )
    .await
    .context("configuring the RudderStack actions in the mock Looker (API 4.0)")?;
    let mut sends = Vec::new();
    for (action, look, title, form) in plan {
        let (_, outcome) = post_json(
            &client,
            format!("{looker_url}/_mock/send"),
            json!({"hub": hub_id, "action": action, "look_id": look, "params": params, "form_values": form}),
        )
        .await
        .with_context(|| format!("sending the {title} Look to {action}"))?;
        let reading = json!({
            "success": outcome.get("success"),
            "message": outcome.get("message"),
            "format": outcome.get("format"),
            "download": outcome.get("download"),
            "breaches": outcome.get("breaches").and_then(Value::as_array).map(Vec::len),
        });
        sends.push((action.to_string(), title.to_string(), reading));
    }
    let writeback = writeback_flow(&client, &looker_url, &hub_id).await?;
    let writeback_rows = scenarios::wiring::read_writeback_rows(&wb_db)?;
    let events: Value = client
        .get(format!("{dataplane_url}/_mock/events"))
        .send()
        .await?
        .json()
        .await?;
    let events = events
        .get("events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.get("event").cloned().unwrap_or(e))
        .collect();
    let report = DemoReport {
        hub_url,
        hub_token,
        dataplane_url,
        looker_url,
        hub_id,
        sends,
        events,
        writeback,
        writeback_rows,
        writeback_db: wb_db.display().to_string(),
    };
    on_ready(&report);
    shutdown.await;
    let _ = stop_tx.send(true);
    for (name, task) in [
        ("data plane", dp),
        ("hub", hub_task),
        ("Looker", looker_task),
    ] {
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => eprintln!("the {name} stopped with an error: {e:#}"),
            Ok(Err(e)) => eprintln!("the {name} task failed: {e}"),
            Err(_) => eprintln!("the {name} did not stop within 5 s"),
        }
    }
    Ok(report)
}

/// Enables the RudderStack actions with the demo's write key and data plane URL, as an admin
/// does in Looker (API 4.0 `update_integration`), so a person sending from the console need
/// not know them: Looker adds an action's saved settings to every send.
async fn configure_actions(
    client: &reqwest::Client,
    looker_url: &str,
    (id, secret): (&str, &str),
    hub_id: &str,
    params: &Value,
) -> anyhow::Result<()> {
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", id)
        .append_pair("client_secret", secret)
        .finish();
    let login: Value = client
        .post(format!("{looker_url}/api/4.0/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .context("the API 4.0 login gave no access_token")?;
    let list: Vec<Value> = params
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    for action in ["rudder_event", "rudder_track", "rudder_group"] {
        client
            .patch(format!(
                "{looker_url}/api/4.0/integrations/{hub_id}::{action}"
            ))
            .header("authorization", format!("token {token}"))
            .json(&json!({"enabled": true, "params": list}))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("enabling {action}"))?;
    }
    Ok(())
}

/// POSTs JSON and reads the JSON answer, with its status.
async fn post_json(
    client: &reqwest::Client,
    url: String,
    body: Value,
) -> anyhow::Result<(u16, Value)> {
    let r = client.post(&url).json(&body).send().await?;
    let status = r.status().as_u16();
    let v = r
        .json()
        .await
        .with_context(|| format!("the answer of {url}"))?;
    Ok((status, v))
}

/// Seed 002 through the mock Looker's admin API: alice opens "Mark as Suspicious" on order 1001
/// of the Orders for Review Look, logs in through the OAuth provider, and submits the form.
async fn writeback_flow(
    client: &reqwest::Client,
    looker_url: &str,
    hub_id: &str,
) -> anyhow::Result<Vec<(String, Value)>> {
    let call = |path: &str, body: Value| post_json(client, format!("{looker_url}{path}"), body);
    let mut steps = Vec::new();
    let (_, form) = call(
        "/_mock/form",
        json!({"hub": hub_id, "action": "mark_suspicious", "user": "alice", "params": {"value": "1001"}}),
    )
    .await?;
    steps.push((
        "form before login".to_string(),
        json!({"fields": form["fields"].as_array().map(|f| f.iter().map(|x| x["name"].clone()).collect::<Vec<_>>()), "oauth_links": form["oauth_links"].as_array().map(Vec::len)}),
    ));
    let (status, login) = call(
        "/_mock/login",
        json!({"hub": hub_id, "action": "mark_suspicious", "user": "alice", "value": "1001"}),
    )
    .await?;
    anyhow::ensure!(status == 200, "the demo login failed: {login}");
    steps.push((
        "login as alice".to_string(),
        json!({"ok": login["ok"], "hops": login["hops"], "state_stored": login["state_stored"]}),
    ));
    let (_, sent) = call(
        "/_mock/send",
        json!({"hub": hub_id, "action": "mark_suspicious", "look_id": demo::ORDERS_FOR_REVIEW, "user": "alice",
            "cell_value": "1001", "form_values": {"classification": "Suspicious", "comment": "Demo: far above the usual basket"}}),
    )
    .await?;
    steps.push((
        "mark order 1001".to_string(),
        json!({"success": sent["success"], "message": sent["message"], "refresh_query": sent["refresh_query"], "breaches": sent["breaches"].as_array().map(Vec::len)}),
    ));
    Ok(steps)
}

/// The human-readable printout of a demo run.
pub fn describe(r: &DemoReport) -> String {
    let mut s = String::new();
    // The console first: the one URL a person needs.
    s.push_str(&format!(
        "Console: {}/   (open it in a browser; the data plane's page: {}/)\n\n",
        r.looker_url, r.dataplane_url
    ));
    s.push_str("Looker → RudderStack demo is up\n\n");
    s.push_str(&format!(
        "  reference hub   {}   (token below)\n",
        r.hub_url
    ));
    s.push_str(&format!(
        "  mock data plane {}   (write key {DEMO_WRITE_KEY})\n",
        r.dataplane_url
    ));
    s.push_str(&format!("  mock Looker     {}\n\n", r.looker_url));
    s.push_str("Sent through each action:\n");
    for (action, title, reading) in &r.sends {
        s.push_str(&format!(
            "  {title:<9} → {action:<13} success={} {} ({} via {}, {} contract breaches)\n",
            reading["success"],
            reading["message"].as_str().unwrap_or(""),
            reading["format"].as_str().unwrap_or("?"),
            reading["download"].as_str().unwrap_or("?"),
            reading["breaches"]
        ));
    }
    s.push_str(&format!(
        "\n{} events arrived in the data plane:\n",
        r.events.len()
    ));
    for e in &r.events {
        let traits = e.get("traits").or_else(|| e.get("properties"));
        let keys: Vec<&String> = traits
            .and_then(Value::as_object)
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        s.push_str(&format!(
            "  {:<8} userId={:<6} anonymousId={:<40} {}{}\n",
            e.get("type").and_then(Value::as_str).unwrap_or("?"),
            e.get("userId").map(Value::to_string).unwrap_or_default(),
            e.get("anonymousId")
                .map(Value::to_string)
                .unwrap_or_default(),
            e.get("event")
                .and_then(Value::as_str)
                .map(|x| format!("event={} ", Value::String(x.to_string())))
                .unwrap_or_default(),
            keys.iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    if let Some(first) = r.events.first() {
        s.push_str("\nThe first one in full:\n");
        s.push_str(&serde_json::to_string_pretty(first).unwrap_or_default());
        s.push('\n');
    }
    s.push_str("\nWrite-back (seed 002), Orders for Review → Mark as Suspicious:\n");
    for (step, reading) in &r.writeback {
        s.push_str(&format!("  {step:<18} {reading}\n"));
    }
    s.push_str(&format!(
        "  {} row(s) in {}:\n",
        r.writeback_rows.len(),
        r.writeback_db
    ));
    for row in &r.writeback_rows {
        s.push_str(&format!("    {row}\n"));
    }
    s.push_str(&format!(
        "\nExplore:\n  curl -s {dp}/_mock/events | jq              # every stored event\n  curl -s {dp}/_mock/requests | jq            # what the hub sent, request by request\n  curl -s -X POST {dp}/_mock/faults -H 'content-type: application/json' -d '{{\"path\":\"/v1/batch\",\"times\":2,\"action\":{{\"status\":503}}}}'\n  curl -s {lk}/_mock/looks | jq               # the demo Looks\n  curl -s -X POST {lk}/_mock/send -H 'content-type: application/json' \\\n       -d '{{\"hub\":\"{hub_id}\",\"action\":\"rudder_track\",\"look_id\":\"1\",\"params\":{{\"rudder_write_key\":\"{DEMO_WRITE_KEY}\",\"rudder_server_url\":\"{dp}/v1/batch\"}},\"form_values\":{{\"event\":\"Again\"}}}}'\n  curl -s -X POST {hub} -H 'Authorization: Token token=\"{token}\"' | jq '.integrations[].name'\n  curl -s -X POST {lk}/_mock/login -H 'content-type: application/json' -d '{{\"hub\":\"{hub_id}\",\"action\":\"mark_suspicious\",\"user\":\"bob\",\"value\":\"1003\"}}'\n  curl -s -X POST {lk}/_mock/send -H 'content-type: application/json' \\\n       -d '{{\"hub\":\"{hub_id}\",\"action\":\"mark_suspicious\",\"look_id\":\"5\",\"user\":\"bob\",\"cell_value\":\"1003\",\"form_values\":{{\"classification\":\"Approved\"}}}}'\n  cargo run -p scenarios -- run                # every scenario, with a summary\n\nPress Ctrl-C to stop.\n",
        dp = r.dataplane_url,
        lk = r.looker_url,
        hub = r.hub_url,
        token = r.hub_token,
        hub_id = r.hub_id,
    ));
    s
}

/// Start the demo and serve until Ctrl-C or SIGTERM.
pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    up_with(args, serving::shutdown_signal(), |r| {
        print!("{}", describe(r))
    })
    .await?;
    println!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_sends_a_look_through_every_action() {
        let args = super::UpArgs {
            hub_port: 0,
            dataplane_port: 0,
            looker_port: 0,
            mapping: "rudderstack".into(),
        };
        let report = super::up_with(args, async {}, |_| {})
            .await
            .expect("demo runs");
        for (action, _, reading) in &report.sends {
            assert_eq!(reading["success"], true, "{action}: {reading}");
            assert_eq!(reading["breaches"], 0, "{action}: {reading}");
        }
        let types: Vec<&str> = report
            .events
            .iter()
            .filter_map(|e| e.get("type").and_then(|t| t.as_str()))
            .collect();
        for t in ["identify", "track", "group"] {
            assert!(types.contains(&t), "no {t} event in {types:?}");
        }
        // The write-back flow: logged in through the provider, one decision in the database.
        let step = |name: &str| {
            report
                .writeback
                .iter()
                .find(|(s, _)| s == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {name} step in {:?}", report.writeback))
        };
        assert_eq!(step("form before login")["oauth_links"], 1);
        assert_eq!(step("login as alice")["state_stored"], true);
        let marked = step("mark order 1001");
        assert_eq!(marked["success"], true, "{marked}");
        assert_eq!(marked["refresh_query"], true, "{marked}");
        assert_eq!(marked["breaches"], 0, "{marked}");
        assert_eq!(
            report.writeback_rows.len(),
            1,
            "{:?}",
            report.writeback_rows
        );
        let row = &report.writeback_rows[0];
        assert_eq!(row["order_id"], "1001", "{row}");
        assert_eq!(row["classification"], "Suspicious", "{row}");
        assert_eq!(row["user"], "alice@example.com", "{row}");
        let text = super::describe(&report);
        assert!(
            text.starts_with(&format!("Console: {}/ ", report.looker_url)),
            "{text}"
        );
        assert!(text.contains("/_mock/events"), "{text}");
        assert!(text.contains("1 row(s) in"), "{text}");
        assert!(text.contains(&report.dataplane_url), "{text}");
    }
}
