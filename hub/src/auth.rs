//! Looker → hub authorization: `Authorization: Token token="<key>"`.
//!
//! A key is accepted when it equals the configured static token, or when it has the official
//! hub's form `<nonce>/<hex HMAC-SHA512(secret, nonce)>`. Both comparisons run in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha512;
use subtle::ConstantTimeEq;

/// Prints-ready token for `secret`: a random 64-hex nonce, `/`, the hex HMAC-SHA512 of the nonce
/// keyed with the secret (what the official `generate_key` script makes).
pub fn generate_token(secret: &str) -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    let nonce = format!("{a}{b}");
    let digest = hmac_hex(secret, &nonce);
    format!("{nonce}/{digest}")
}

fn hmac_hex(secret: &str, nonce: &str) -> String {
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(nonce.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The key in an `Authorization` header, read like the official hub's unanchored, greedy
/// `[T|t]oken token="(.*)"`: everything between the first `token="` after `Token`/`token` and
/// the last `"`.
pub fn key_from_header(header: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(i) = header[from..].find("oken token=\"") {
        let at = from + i;
        if at > 0 && matches!(header.as_bytes()[at - 1], b'T' | b't' | b'|') {
            let rest = &header[at + "oken token=\"".len()..];
            let end = rest.rfind('"')?;
            return Some(&rest[..end]);
        }
        from = at + 1;
    }
    None
}

/// Whether `key` is valid for the configured secret and/or static token.
pub fn key_is_valid(key: &str, secret: Option<&str>, token: Option<&str>) -> bool {
    let mut ok = subtle::Choice::from(0u8);
    if let Some(t) = token {
        ok |= eq(key.as_bytes(), t.as_bytes());
    }
    if let Some(s) = secret
        && let Some((nonce, digest)) = key.split_once('/')
    {
        let expected = hmac_hex(s, nonce);
        ok |= eq(digest.as_bytes(), expected.as_bytes());
    }
    ok.into()
}

fn eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    if a.len() != b.len() {
        return subtle::Choice::from(0u8);
    }
    a.ct_eq(b)
}
