//! The console pages (issue 12) and the OAuth provider's sign-in page, over plain HTTP. The
//! same pages driven in a real browser: `scenarios/tests/scenarios/browser`.

use mock_looker::{HubOptions, MockLooker};

fn client() -> reqwest::Client {
    serving::http_client()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn html(url: &str) -> String {
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let ct = r.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ct.starts_with("text/html"), "{url}: {ct}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn console_pages_show_looks_hubs_journal_and_activity() {
    let looker = MockLooker::start().await.unwrap();
    let hub = looker
        .register_hub("http://127.0.0.1:9", HubOptions::default().token("t<ok>"))
        .await
        .unwrap();
    assert!(hub.fetch_error.is_some());
    let home = html(&format!("{}/", looker.url())).await;
    for want in [
        "<h1>Mock Looker console</h1>",
        "Users",
        "Accounts",
        "users.email",
        "<span class=\"tag\">email</span>",
        "Generated users (100k)",
        "from seed 42",
        "Listing its actions failed",
        "http://127.0.0.1:9",
        "Register a hub",
    ] {
        assert!(home.contains(want), "{want:?} missing from the console");
    }
    // The hub's token is never shown.
    assert!(!home.contains("t<ok>") && !home.contains("t&lt;ok&gt;"));
    let send = html(&format!("{}/console/send", looker.url())).await;
    assert!(
        send.contains("<option value=\"1\">Users (Look 1)</option>"),
        "{send}"
    );
    assert!(send.contains("id=\"console-data\""));
    let journal = html(&format!("{}/console/journal", looker.url())).await;
    assert!(journal.contains("<b>list</b>"), "{journal}");
    let activity = html(&format!("{}/console/activity", looker.url())).await;
    assert!(activity.contains("Scheduled plans (0)"), "{activity}");
    looker.shutdown().await.unwrap();
}

fn authorize_query() -> &'static str {
    "response_type=code&client_id=action-hub&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&state=s%201"
}

async fn post_form(looker: &MockLooker, body: String) -> reqwest::Response {
    client()
        .post(format!("{}/oauth/authorize", looker.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_provider_asks_a_browser_to_sign_in_and_consent() {
    let looker = MockLooker::start().await.unwrap();
    let page = html(&format!(
        "{}/oauth/authorize?{}",
        looker.url(),
        authorize_query()
    ))
    .await;
    for want in [
        "name=\"login_as\"",
        "value=\"allow\"",
        "value=\"deny\"",
        "<input type=\"hidden\" name=\"state\" value=\"s 1\">",
        "alice, bob, carol",
    ] {
        assert!(page.contains(want), "{want:?} missing:\n{page}");
    }

    // Allow: back to the redirect URI with a code and the state, as a real provider does.
    let allow = post_form(
        &looker,
        format!("{}&login_as=bob&decision=allow", authorize_query()),
    )
    .await;
    assert_eq!(allow.status(), 302);
    let to = location(&allow);
    assert!(to.starts_with("http://127.0.0.1:9/cb?code="), "{to}");
    assert!(to.ends_with("&state=s+1"), "{to}");

    // Deny: access_denied with the state.
    let deny = post_form(
        &looker,
        format!("{}&login_as=bob&decision=deny", authorize_query()),
    )
    .await;
    assert_eq!(deny.status(), 302);
    assert_eq!(
        location(&deny),
        "http://127.0.0.1:9/cb?error=access_denied&state=s+1"
    );

    // An unknown name: the page again, saying why, with the request kept.
    let unknown = post_form(
        &looker,
        format!("{}&login_as=mallory&decision=allow", authorize_query()),
    )
    .await;
    assert_eq!(unknown.status(), 200);
    let text = unknown.text().await.unwrap();
    assert!(text.contains("no user named &quot;mallory&quot;"), "{text}");
    assert!(text.contains("name=\"redirect_uri\""), "{text}");

    // The scripted browser's way is unchanged: login_as in the query consents at once.
    let scripted = client()
        .get(format!(
            "{}/oauth/authorize?{}&login_as=alice",
            looker.url(),
            authorize_query()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(scripted.status(), 302);
    assert!(location(&scripted).contains("code="));
    looker.shutdown().await.unwrap();
}
