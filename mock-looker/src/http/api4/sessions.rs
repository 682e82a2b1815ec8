//! API 4.0 sessions: the access tokens `login` hands out. They belong to the HTTP layer (the
//! engine never sees a token), so the API router owns them and handlers reach them as an
//! `Extension`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::core::random_hex;

/// Lifetime of an access token (Looker: one hour).
pub(super) const TOKEN_TTL: u64 = 3600;

/// access token -> (user id, expiry).
#[derive(Debug, Default)]
pub(crate) struct Sessions(Mutex<HashMap<String, (String, Instant)>>);

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session for `user`: the token and the `AccessToken` body of `login`.
    pub(super) fn open(&self, user: &str) -> (String, Value) {
        let token = random_hex(20);
        self.lock().insert(
            token.clone(),
            (
                user.to_owned(),
                Instant::now() + Duration::from_secs(TOKEN_TTL),
            ),
        );
        let body = json!({"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL, "refresh_token": null});
        (token, body)
    }

    /// The user of a live token.
    pub(super) fn user(&self, token: &str) -> Option<String> {
        self.lock()
            .get(token)
            .filter(|(_, exp)| *exp > Instant::now())
            .map(|(u, _)| u.clone())
    }

    /// Ends a session; the user it belonged to.
    pub(super) fn close(&self, token: &str) -> Option<String> {
        self.lock().remove(token).map(|u| u.0)
    }
}
