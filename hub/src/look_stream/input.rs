//! Where a Look's bytes come from: a pushed attachment (unescaped chunk by chunk in place), a
//! base64 attachment, or the `download_url` the hub GETs itself.
//!
//! # Redirects of the download_url
//! The official hub's `request` library follows up to 10 redirects of the GET, to any host.
//! This hub follows up to 10 too, but only on the download_url's own host: each hop must keep
//! its scheme, host and port, except an upgrade from http to https on port 443. A redirect
//! elsewhere (another host, another port, a downgrade to http) fails the execute with
//! `There was an error with Action Hub calling back to Looker: … redirected to <url> …`.
//! Looker serves its downloads itself, so a redirect off its host means a proxy or an attacker
//! is steering the hub's requests; the check holds whether or not `--allow-dataplane` is set
//! (that list names data planes, not Lookers).

use bytes::Bytes;

use crate::actions::ExecuteRequest;
use crate::context::Context;

/// Redirects longer than this fail, as in the official hub's `request` library.
pub const MAX_DOWNLOAD_REDIRECTS: usize = 10;

/// The redirect policy of the download client (see the module docs).
pub fn download_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let next = attempt.url().clone();
        let Some(first) = attempt.previous().first().cloned() else {
            return attempt.follow();
        };
        if attempt.previous().len() > MAX_DOWNLOAD_REDIRECTS {
            return attempt.error(format!(
                "more than {MAX_DOWNLOAD_REDIRECTS} redirects (the last to {next})"
            ));
        }
        let same_origin = next.scheme() == first.scheme()
            && next.port_or_known_default() == first.port_or_known_default();
        let upgrade = first.scheme() == "http"
            && next.scheme() == "https"
            && next.port_or_known_default() == Some(443);
        if next.host_str() != first.host_str() || !(same_origin || upgrade) {
            return attempt.error(format!(
                "the download_url redirected to {next}, off its own host {}: the hub follows \
                 redirects only on the download_url's scheme, host and port (or to https)",
                first.origin().ascii_serialization()
            ));
        }
        attempt.follow()
    })
}

/// Where the Look's bytes come from.
pub(crate) enum Input {
    /// A pushed attachment: the JSON text of `attachment.data` inside the body.
    Pushed {
        raw: Bytes,
        pos: usize,
        escaped: bool,
    },
    /// Already-decoded bytes (base64 attachments).
    Decoded(Option<Vec<u8>>),
    /// The download_url response.
    Download(reqwest::Response),
}

/// Bytes handed to the parser at a time.
pub(crate) const CHUNK: usize = 64 * 1024;

impl Input {
    pub(crate) async fn open(req: &ExecuteRequest, ctx: &Context) -> Result<Input, String> {
        if let Some(att) = &req.attachment {
            let raw = req.body.slice(att.data.0..att.data.1);
            let is_string = raw.first() == Some(&b'"');
            if att.mimetype.ends_with(";base64") {
                use base64::Engine;
                if !is_string {
                    return Err("attachment.data must be a base64 string".into());
                }
                let s: String = serde_json::from_slice(&raw)
                    .map_err(|e| format!("attachment.data is not a valid JSON string: {e}"))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map_err(|e| format!("attachment.data is not valid base64: {e}"))?;
                return Ok(Input::Decoded(Some(bytes)));
            }
            return Ok(Input::Pushed {
                pos: usize::from(is_string),
                escaped: is_string,
                raw,
            });
        }
        let url = req
            .download_url
            .as_deref()
            .ok_or("A streaming action was sent incompatible data. The action must have a download url or an attachment.")?;
        let resp = ctx
            .download
            .get(url)
            .timeout(ctx.config.stream_timeout)
            .send()
            .await
            .map_err(|e| {
                // A refused redirect says why in its source.
                let e = if e.is_redirect() {
                    crate::send::error_chain(&e)
                } else {
                    e.to_string()
                };
                format!("There was an error with Action Hub calling back to Looker: {e}")
            })?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(format!(
                "There was an error with Action Hub calling back to Looker, status code: {}",
                resp.status().as_u16()
            ));
        }
        Ok(Input::Download(resp))
    }

    /// The next chunk of the document; `None` at the end.
    pub(crate) async fn next(&mut self, out: &mut Vec<u8>) -> Result<bool, String> {
        out.clear();
        match self {
            Input::Decoded(d) => match d.take() {
                Some(b) => {
                    *out = b;
                    Ok(true)
                }
                None => Ok(false),
            },
            Input::Pushed { raw, pos, escaped } => {
                if !*escaped {
                    if *pos >= raw.len() {
                        return Ok(false);
                    }
                    let end = (*pos + CHUNK).min(raw.len());
                    out.extend_from_slice(&raw[*pos..end]);
                    *pos = end;
                    return Ok(true);
                }
                // Unescape the JSON string's content piece by piece; the closing quote ends it.
                let end_quote = raw.len() - 1;
                if *pos >= end_quote {
                    return Ok(false);
                }
                crate::parse::unescape_chunk(&raw[..end_quote], pos, out, CHUNK)?;
                Ok(true)
            }
            Input::Download(resp) => loop {
                match resp.chunk().await {
                    Ok(Some(c)) if c.is_empty() => continue,
                    Ok(Some(c)) => {
                        out.extend_from_slice(&c);
                        return Ok(true);
                    }
                    Ok(None) => return Ok(false),
                    Err(e) => {
                        return Err(format!(
                            "the download from Looker failed while reading: {e}"
                        ));
                    }
                }
            },
        }
    }
}
