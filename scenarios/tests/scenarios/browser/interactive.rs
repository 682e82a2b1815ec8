//! The console's Send form with a hub whose form changes with an interactive select: the
//! console must ask the hub again when the select changes and show the new fields, as Looker
//! does (the reference hub's actions have no interactive field, so this hub is made here).

use std::sync::Arc;

use hub::actions::{BoxFuture, Definition, ExecuteRequest, FormRequest, Registry};
use hub::{Action, ActionResponse, Context, HubConfig, Version};
use serde_json::{Value, json};

use super::Browser;

/// `notify`: a channel select (interactive), then the field that channel needs.
struct Notify(Definition);

impl Action for Notify {
    fn definition(&self) -> &Definition {
        &self.0
    }
    fn supported_formats(&self, _: Option<&Version>) -> Vec<&'static str> {
        vec!["json"]
    }
    fn has_form(&self) -> bool {
        true
    }
    fn form<'a>(&'a self, req: &'a FormRequest) -> BoxFuture<'a, Value> {
        let channel = req.form_params.get("channel").cloned().unwrap_or_default();
        Box::pin(async move {
            let mut fields = vec![json!({
                "name": "channel", "label": "Channel", "type": "select", "interactive": true,
                "required": true,
                "options": [{"name": "email", "label": "Email"}, {"name": "sms", "label": "Text message"}],
            })];
            match channel.as_str() {
                "sms" => fields.push(json!({"name": "phone", "label": "Phone number", "type": "string", "required": true})),
                "email" => fields.push(json!({"name": "address", "label": "Email address", "type": "string", "required": true})),
                _ => {}
            }
            json!({ "fields": fields })
        })
    }
    fn execute(&self, req: ExecuteRequest, _: Arc<Context>) -> BoxFuture<'static, ActionResponse> {
        let f = req.form_params;
        let text = format!(
            "Notified by {} at {}",
            f.get("channel").map_or("?", String::as_str),
            f.get("phone")
                .or(f.get("address"))
                .map_or("?", String::as_str)
        );
        Box::pin(async move { ActionResponse::ok(text) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    browser_missing,
    ignore = "chromium or chromedriver is not installed (apt-get install chromium chromium-driver); under CI=true this test runs and fails"
)]
async fn browser_an_interactive_field_asks_the_hub_again() {
    let mut registry = Registry::new();
    registry.add(Arc::new(Notify(Definition {
        name: "notify",
        label: "Notify",
        description: "Sends a notification.",
        params: vec![],
        required_fields: json!([]),
        supported_action_types: vec!["query"],
        min_looker_version: Version::new(5, 0, 0),
        uses_streaming: false,
        formattings: vec![],
        visualization_formattings: vec![],
        icon_data_uri: None,
    })));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub_url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let hub = tokio::spawn(
        hub::Hub::builder()
            .config(HubConfig {
                token: Some("notify-token".into()),
                ..HubConfig::default()
            })
            .registry(registry)
            .run(listener, async {
                let _ = stopped.await;
            }),
    );

    let b = Browser::start().await;
    let s = b.s();
    // Registered from the console, as a person does.
    s.goto(&format!("{}/", b.demo.looker)).await;
    s.type_into("#hub-url", &hub_url).await;
    s.type_into("#hub-token", "notify-token").await;
    s.click("#register button[type=submit]").await;
    s.wait_text("#register-result", "with 1 actions").await;

    b.pick("1", "2|notify", "1", "").await;
    s.click("#load-form").await;
    s.must("#field-channel").await;
    assert!(s.find("#field-phone").await.is_none());
    s.click("#field-channel option[value=\"sms\"]").await;
    // The change asked the hub again: the phone field is there now.
    s.must("#field-phone").await;
    s.type_into("#field-phone", "+1 555 0100").await;
    s.screenshot("looker-send-interactive-form").await;
    s.click("#send").await;
    s.wait_text("#result-status", "Success").await;
    s.wait_text("#result", "Notified by sms at +1 555 0100")
        .await;
    b.close().await;
    let _ = stop.send(());
    let _ = hub.await;
}
