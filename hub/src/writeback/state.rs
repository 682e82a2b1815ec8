//! The `state` query parameter of the OAuth URL: Looker's one-time `state_url`, sealed with
//! AES-256-GCM under a key derived from the hub secret, with an expiry.
//!
//! The `state_url` lets whoever holds it overwrite a Looker user's action state, so it must not
//! travel in clear through the user's browser and the provider (seed 002), and a state that was
//! altered, made with another secret, or is too old must be refused rather than half-trusted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a state was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Missing `state` parameter.
    #[error("the OAuth request has no state parameter; open the action's form in Looker to log in")]
    Missing,
    /// Not base64, too short, or the AES-GCM tag does not match (tampered, or another secret).
    #[error(
        "the OAuth state was tampered with or was not made by this hub (authentication failed); open the action's form in Looker again"
    )]
    Tampered,
    /// Authentic but past its expiry.
    #[error(
        "the OAuth state expired {ago_secs} s ago (it is valid for {ttl_secs} s); open the action's form in Looker again to log in"
    )]
    Expired {
        /// Seconds since it expired.
        ago_secs: u64,
        /// Lifetime of a state.
        ttl_secs: u64,
    },
    /// Authentic, but made for another action.
    #[error("the OAuth state was made for action {0:?}, not this one")]
    WrongAction(String),
}

/// What the sealed state carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthState {
    /// Looker's `data.state_url`.
    pub state_url: String,
    /// The action the login is for.
    pub action: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

/// Seals and opens states.
#[derive(Clone)]
pub struct StateSealer {
    cipher: Aes256Gcm,
    ttl: Duration,
}

impl std::fmt::Debug for StateSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateSealer")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl StateSealer {
    /// Key = SHA-256("looker-writeback-oauth-state/v1" ‖ secret): a hub secret of any length
    /// gives a 256-bit key, and this key is never the one that signs Looker's tokens.
    pub fn new(secret: &str, ttl: Duration) -> Self {
        let mut h = Sha256::new();
        h.update(b"looker-writeback-oauth-state/v1\0");
        h.update(secret.as_bytes());
        let key = h.finalize();
        let cipher = Aes256Gcm::new_from_slice(&key).expect("SHA-256 gives 32 bytes");
        Self { cipher, ttl }
    }

    /// `base64url(nonce ‖ ciphertext+tag)` of the JSON state, valid for the TTL.
    pub fn seal(&self, state_url: &str, action: &str) -> String {
        self.seal_at(state_url, action, now_secs() + self.ttl.as_secs())
    }

    /// [`seal`](Self::seal) with an explicit expiry (tests make expired states with it).
    pub fn seal_at(&self, state_url: &str, action: &str, exp: u64) -> String {
        let plain = serde_json::to_vec(&OAuthState {
            state_url: state_url.to_owned(),
            action: action.to_owned(),
            exp,
        })
        .expect("serialising strings and a number");
        // 96 random bits per state (uuid v4 draws from the OS generator).
        let rnd = uuid::Uuid::new_v4();
        let nonce_bytes: [u8; 12] = rnd.as_bytes()[..12].try_into().expect("12 of 16 bytes");
        let nonce = Nonce::from(nonce_bytes);
        let ct = self
            .cipher
            .encrypt(&nonce, plain.as_slice())
            .expect("AES-GCM encryption of a short message cannot fail");
        let mut out = Vec::with_capacity(12 + ct.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Opens a sealed state for `action`, refusing tampered, foreign and expired ones.
    pub fn open(&self, sealed: &str, action: &str) -> Result<OAuthState, StateError> {
        if sealed.is_empty() {
            return Err(StateError::Missing);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(sealed.trim())
            .map_err(|_| StateError::Tampered)?;
        if raw.len() < 12 + 16 {
            return Err(StateError::Tampered);
        }
        let nonce_bytes: [u8; 12] = raw[..12].try_into().map_err(|_| StateError::Tampered)?;
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce_bytes), &raw[12..])
            .map_err(|_| StateError::Tampered)?;
        let st: OAuthState = serde_json::from_slice(&plain).map_err(|_| StateError::Tampered)?;
        let now = now_secs();
        if st.exp <= now {
            return Err(StateError::Expired {
                ago_secs: now - st.exp,
                ttl_secs: self.ttl.as_secs(),
            });
        }
        if st.action != action {
            return Err(StateError::WrongAction(st.action));
        }
        Ok(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let s = StateSealer::new("secret", Duration::from_secs(600));
        let sealed = s.seal("http://looker/action_hub_state/abc", "mark_suspicious");
        let st = s.open(&sealed, "mark_suspicious").unwrap();
        assert_eq!(st.state_url, "http://looker/action_hub_state/abc");
        // One flipped character anywhere is refused.
        let mut b = sealed.clone().into_bytes();
        let i = b.len() / 2;
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(b).unwrap();
        assert_eq!(
            s.open(&tampered, "mark_suspicious"),
            Err(StateError::Tampered)
        );
        // Another secret cannot open it.
        let other = StateSealer::new("other", Duration::from_secs(600));
        assert_eq!(
            other.open(&sealed, "mark_suspicious"),
            Err(StateError::Tampered)
        );
        assert!(matches!(
            s.open(&sealed, "mark_suspicious_batch"),
            Err(StateError::WrongAction(_))
        ));
        let old = s.seal_at("http://x", "mark_suspicious", now_secs() - 5);
        assert!(matches!(
            s.open(&old, "mark_suspicious"),
            Err(StateError::Expired { .. })
        ));
        assert_eq!(s.open("", "mark_suspicious"), Err(StateError::Missing));
        assert_eq!(s.open("!!!", "mark_suspicious"), Err(StateError::Tampered));
    }
}
