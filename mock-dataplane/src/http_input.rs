//! What a request carries before its JSON is read, as the gateway takes it: the write key from
//! Basic auth, the client IP, and the (possibly gzip) body, inflated under a cap.

use std::io::Read;

use base64::Engine as _;

/// Go's `r.BasicAuth()` followed by the gateway's "username must not be empty" rule.
/// Returns the write key (username); the password is ignored.
pub fn basic_auth_user(header: Option<&[u8]>) -> Option<String> {
    let header = header?;
    const PREFIX: &[u8] = b"Basic ";
    if header.len() < PREFIX.len() || !header[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&header[PREFIX.len()..])
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, _password) = decoded.split_once(':')?;
    if user.is_empty() {
        return None;
    }
    Some(user.to_owned())
}

/// The request IP as rudder-go-kit's `GetRequestIP`: first `X-Forwarded-For` entry with spaces
/// removed, else the peer's host.
pub fn request_ip(forwarded_for: Option<&str>, peer_host: &str) -> String {
    if let Some(xff) = forwarded_for {
        let first: String = xff
            .split(',')
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| *c != ' ')
            .collect();
        if !first.is_empty() {
            return first;
        }
    }
    peer_host.to_owned()
}

/// Why a body could not be turned into bytes.
#[derive(Debug)]
pub enum BodyError {
    /// More than the read cap (after decompression).
    TooLarge,
    /// The gzip stream is corrupt or truncated.
    Corrupt(String),
}

/// Decompresses a gzip body (multi-member, like Go's `gzip.Reader`), reading at most `cap`
/// bytes so a gzip bomb cannot exhaust memory.
pub fn gunzip_capped(body: &[u8], cap: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(cap));
    let mut decoder = flate2::read::MultiGzDecoder::new(body).take(cap as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Corrupt(format!("gzip body: {e}")))?;
    if out.len() > cap {
        return Err(BodyError::TooLarge);
    }
    Ok(out)
}
