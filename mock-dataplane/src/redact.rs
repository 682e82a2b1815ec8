//! Keeps write keys out of the request journal and the logs.
//!
//! A write key can arrive in more places than Basic auth: the `writeKey` query parameter of
//! the beacon, pixel and webhook routes, a custom header (`X-Write-Key: …`,
//! `X-Custom: WRITEKEY=…`), a cookie, or a query parameter spelt another way. The journal
//! shows what a client sent, so every header value and the query are scrubbed:
//! - headers and query parameters whose *name* says they hold a credential are masked whole;
//! - `writekey=<value>` inside any value has its value masked (any case, `-`/`_` allowed);
//! - every configured write key, and the key the request presented, is masked wherever it
//!   appears.
//!
//! Nothing of a key is shown (an earlier version kept its first four characters).

use std::borrow::Cow;
use std::sync::RwLock;

use axum::http::{HeaderMap, Uri, header};

/// What a masked secret is shown as.
pub const MASK: &str = "****";

/// Masks a secret for logs and the journal: none of it is shown, whatever its length.
pub fn mask(_secret: &str) -> String {
    MASK.to_owned()
}

/// Masks known write keys in text shown by the journal or written to logs.
#[derive(Debug, Default)]
pub(crate) struct Redactor {
    /// The configured write keys, longest first (so a key containing another is masked whole).
    /// Behind a lock: keys added through `POST /_mock/sources` are masked from then on.
    keys: RwLock<Vec<String>>,
}

impl Redactor {
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut keys: Vec<String> = keys
            .into_iter()
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
        keys.dedup();
        Redactor {
            keys: RwLock::new(keys),
        }
    }

    /// Masks `key` too from now on (a source added while running).
    pub fn add(&self, key: &str) {
        if key.is_empty() {
            return;
        }
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_owned());
            keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
        }
    }

    /// `text` with every configured key, `presented` (the key this request sent, configured or
    /// not) and every `writekey=<value>` masked.
    pub fn scrub<'t>(&self, text: &'t str, presented: Option<&str>) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        let presented = presented.filter(|p| !p.is_empty());
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        for key in presented.into_iter().chain(keys.iter().map(String::as_str)) {
            if let Some(masked) = mask_token(&out, key) {
                out = Cow::Owned(masked);
            }
        }
        match mask_assignments(&out) {
            Some(masked) => Cow::Owned(masked),
            None => out,
        }
    }

    /// The journal's copy of the request headers, in arrival order, credentials masked.
    pub fn headers(&self, headers: &HeaderMap, presented: Option<&str>) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(k, v)| {
                let raw = String::from_utf8_lossy(v.as_bytes());
                let value = if *k == header::AUTHORIZATION || *k == header::PROXY_AUTHORIZATION {
                    let scheme = raw.split_whitespace().next().unwrap_or("");
                    match crate::http_input::basic_auth_user(Some(v.as_bytes())) {
                        Some(_) => format!("{scheme} {MASK}:<password ignored>"),
                        None => format!("<{} bytes, masked>", v.len()),
                    }
                } else if names_a_secret(k.as_str()) {
                    MASK.to_owned()
                } else {
                    self.scrub(&raw, presented).into_owned()
                };
                (k.as_str().to_owned(), value)
            })
            .collect()
    }

    /// The path and query for the journal and logs: secret-named query parameters masked,
    /// every value (and the path) scrubbed of keys.
    pub fn path(&self, uri: &Uri, presented: Option<&str>) -> String {
        let path = self.scrub(uri.path(), presented);
        let Some(q) = uri.query() else {
            return path.into_owned();
        };
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| {
                let v = if names_a_secret(&k) {
                    MASK.to_owned()
                } else {
                    self.scrub(&v, presented).into_owned()
                };
                (self.scrub(&k, presented).into_owned(), v)
            })
            .collect();
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("{path}?{q}")
    }
}

/// `text` with each occurrence of `key` that stands as a token of its own (no letter or digit
/// right before or after it) masked; `None` when there is none. A short key such as `k` must
/// not garble every word containing that letter.
fn mask_token(text: &str, key: &str) -> Option<String> {
    let alnum_at = |i: Option<char>| i.is_some_and(|c| c.is_alphanumeric());
    let mut out = String::new();
    let mut copied = 0;
    for (at, _) in text.match_indices(key) {
        if at < copied {
            continue;
        }
        let end = at + key.len();
        if alnum_at(text[..at].chars().next_back()) || alnum_at(text[end..].chars().next()) {
            continue;
        }
        out.push_str(&text[copied..at]);
        out.push_str(MASK);
        copied = end;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// A header or parameter name that says it carries a credential: `writeKey`, `write_key`,
/// `X-Write-Key`, `api-key`, `token`, `secret`, `password`, `cookie`, …
fn names_a_secret(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    [
        "writekey", "apikey", "token", "secret", "password", "passwd", "cookie",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Masks the value of every `writekey=<value>` (also `write_key`, `Write-Key`, `:` instead of
/// `=`) in `text`; `None` when there is none. The value runs to the next `;`, `&`, `,`, quote
/// or whitespace.
fn mask_assignments(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while let Some(off) = lower[i..].find("write") {
        let start = i + off;
        let mut j = start + "write".len();
        if matches!(bytes.get(j), Some(b'-' | b'_')) {
            j += 1;
        }
        if !lower[j..].starts_with("key") {
            i = start + 1;
            continue;
        }
        j += "key".len();
        while matches!(bytes.get(j), Some(b' ')) {
            j += 1;
        }
        if !matches!(bytes.get(j), Some(b'=' | b':')) {
            i = j;
            continue;
        }
        j += 1;
        while matches!(bytes.get(j), Some(b' ' | b'"' | b'\'')) {
            j += 1;
        }
        let value_end = lower[j..]
            .find([';', '&', ',', '"', '\'', ' ', '\t'])
            .map_or(lower.len(), |e| j + e);
        if value_end > j {
            out.push_str(&text[copied..j]);
            out.push_str(MASK);
            copied = value_end;
        }
        i = value_end.max(j);
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_assignments_are_masked_everywhere() {
        let r = Redactor::new(["k1-secret", "k1"]);
        assert_eq!(r.scrub("a k1-secret b", None), "a **** b");
        assert_eq!(
            r.scrub("WRITEKEY=unknownkey; x=1", None),
            "WRITEKEY=****; x=1"
        );
        assert_eq!(r.scrub("write_key: \"zz\"", None), "write_key: \"****\"");
        assert_eq!(r.scrub("Write-Key=abc&n=2", None), "Write-Key=****&n=2");
        assert_eq!(r.scrub("sent other", Some("other")), "sent ****");
        assert_eq!(r.scrub("rewrite keys", None), "rewrite keys");
        // Only whole tokens: a short key does not garble longer words.
        let short = Redactor::new(["k"]);
        assert_eq!(short.scrub("keep-alive k", None), "keep-alive ****");
        assert!(matches!(r.scrub("nothing here", None), Cow::Borrowed(_)));
    }

    #[test]
    fn query_and_headers() {
        let r = Redactor::new(["conf"]);
        let uri: Uri = "/beacon/v1/batch?WRITEKEY=abc&writeKey=def&x=conf&n=1"
            .parse()
            .unwrap();
        assert_eq!(
            r.path(&uri, None),
            "/beacon/v1/batch?WRITEKEY=****&writeKey=****&x=****&n=1"
        );
        let mut h = HeaderMap::new();
        h.insert("x-write-key", "abc".parse().unwrap());
        h.insert("x-custom", "WRITEKEY=abc".parse().unwrap());
        h.insert("x-echo", "conf".parse().unwrap());
        h.insert("authorization", "Basic Y29uZjo=".parse().unwrap());
        h.insert("user-agent", "analytics-node/3.0.12".parse().unwrap());
        let shown = r.headers(&h, None);
        let text = format!("{shown:?}");
        assert!(!text.contains("abc") && !text.contains("conf"), "{text}");
        assert!(text.contains("Basic ****:<password ignored>"), "{text}");
        assert!(text.contains("analytics-node/3.0.12"), "{text}");
    }
}
