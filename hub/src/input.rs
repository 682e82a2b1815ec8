//! Where a Look's bytes come from: a pushed attachment (unescaped chunk by chunk in place), a
//! base64 attachment, or the `download_url` the hub GETs itself.

use bytes::Bytes;

use crate::Shared;
use crate::actions::ExecuteRequest;

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
    pub(crate) async fn open(req: &ExecuteRequest, hub: &Shared) -> Result<Input, String> {
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
        let resp = hub
            .client
            .get(url)
            .timeout(hub.config.stream_timeout)
            .send()
            .await
            .map_err(|e| {
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
