//! Ids and truthiness: how the SDK sees a cell value (JavaScript truthiness and type), and how
//! each mode writes `userId`, `anonymousId`.

use serde_json::value::RawValue;

use super::RowError;
use super::js::{decode_str, write_js_value};
use super::raw::write_compact;

/// The JavaScript truthiness and type of a raw JSON value (`None` = undefined).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Null,
    Bool(bool),
    Number(bool), // non-zero?
    Str(bool),    // non-empty?
    StrBlank,     // non-empty but whitespace only
    Composite,
}

impl Kind {
    pub(super) fn truthy(self) -> bool {
        matches!(
            self,
            Kind::Bool(true)
                | Kind::Number(true)
                | Kind::Str(true)
                | Kind::StrBlank
                | Kind::Composite
        )
    }
    /// An id the gateway accepts (non-empty after trimming).
    pub(super) fn present_id(self) -> bool {
        matches!(self, Kind::Number(_) | Kind::Str(true))
    }
}

pub(super) fn kind(v: Option<&RawValue>) -> Kind {
    let Some(v) = v else { return Kind::Null };
    let s = v.get();
    match s.as_bytes().first() {
        Some(b'n') | None => Kind::Null,
        Some(b't') => Kind::Bool(true),
        Some(b'f') => Kind::Bool(false),
        Some(b'"') => {
            if s.len() == 2 {
                Kind::Str(false)
            } else {
                let text = decode_str(s).unwrap_or_default();
                if String::from_utf8_lossy(&text).trim().is_empty() {
                    Kind::StrBlank
                } else {
                    Kind::Str(true)
                }
            }
        }
        Some(b'{') | Some(b'[') => Kind::Composite,
        Some(_) => Kind::Number(s.parse::<f64>().map(|f| f != 0.0).unwrap_or(true)),
    }
}

pub(super) fn check_id_type(name: &str, k: Kind) -> Result<(), RowError> {
    if k.truthy() && matches!(k, Kind::Bool(_) | Kind::Composite) {
        return Err(RowError::Rejected(format!(
            "\"{name}\" must be a string or number."
        )));
    }
    Ok(())
}

/// RudderStack mode id: truthy numbers stringified (as the SDK does), the rest as is.
pub(super) fn write_rs_id(v: Option<&RawValue>, out: &mut Vec<u8>) -> Result<(), RowError> {
    let Some(v) = v else {
        out.extend_from_slice(b"null");
        return Ok(());
    };
    if kind(Some(v)) == Kind::Number(true) {
        out.push(b'"');
        write_js_value(v, out)?;
        out.push(b'"');
        Ok(())
    } else {
        write_js_value(v, out)
    }
}

/// Clean mode id: numbers as strings (ids are strings in the event spec), strings as they are
/// (`""` included), anything else null.
pub(super) fn write_clean_id(v: Option<&RawValue>, out: &mut Vec<u8>) {
    match kind(v) {
        Kind::Number(_) => {
            out.push(b'"');
            out.extend_from_slice(v.expect("number").get().trim().as_bytes());
            out.push(b'"');
        }
        Kind::Str(_) | Kind::StrBlank => write_compact(v.expect("string").get(), out),
        _ => out.extend_from_slice(b"null"),
    }
}
