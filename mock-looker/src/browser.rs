//! A scripted browser: follows an `oauth_url` from a hub's form through the hub's `/oauth`, the
//! provider's authorize page (logging in as the scripted user by adding `login_as`, which the
//! mock provider reads in place of a login form) and back to the hub's `/oauth_redirect`.

/// The end of a login.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// Status of the last page (200 when the hub's close-window page was reached).
    pub status: u16,
    /// Body of the last page.
    pub body: String,
    /// Every URL visited, in order (tokens in query strings included: test use only).
    pub visited: Vec<String>,
}

impl LoginOutcome {
    /// Whether the flow ended on a 2xx page.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Errors of the browser itself (not of the pages it visits).
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// A request failed.
    #[error("GET {url}: {source}")]
    Request {
        /// The URL.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// A redirect without a usable Location.
    #[error("a redirect from {0} has no valid Location")]
    BadRedirect(String),
    /// More than 10 redirects (a login loop).
    #[error("more than 10 redirects, a login loop: {0:?}")]
    Loop(Vec<String>),
}

/// Follows `oauth_url` as `user`; `provider_authorize` is the provider's authorize URL prefix
/// (the mock Looker's `<url>/oauth/authorize`) where `login_as=<user>` is added.
pub async fn login(
    oauth_url: &str,
    user: &str,
    provider_authorize: &str,
) -> Result<LoginOutcome, BrowserError> {
    let client = serving::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| BrowserError::Request {
            url: oauth_url.into(),
            source: e,
        })?;
    let mut url = oauth_url.to_owned();
    let mut visited = Vec::new();
    for _ in 0..10 {
        if url.starts_with(provider_authorize)
            && let Ok(mut u) = url::Url::parse(&url)
        {
            u.query_pairs_mut().append_pair("login_as", user);
            url = u.to_string();
        }
        visited.push(url.clone());
        let resp = client
            .get(&url)
            .send()
            .await
            .map_err(|e| BrowserError::Request {
                url: url.clone(),
                source: e,
            })?;
        let status = resp.status();
        if status.is_redirection() {
            let loc = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url::Url::parse(&url).ok()?.join(l).ok())
                .ok_or_else(|| BrowserError::BadRedirect(url.clone()))?;
            url = loc.to_string();
            continue;
        }
        let body = resp.text().await.unwrap_or_default();
        return Ok(LoginOutcome {
            status: status.as_u16(),
            body,
            visited,
        });
    }
    Err(BrowserError::Loop(visited))
}
