//! `mark_suspicious_batch`: every row of a Look is one decision. The Look is read as the
//! RudderStack actions read theirs (a [`LookStream`]), and the decisions are written in
//! transactions of [`BATCH_ROWS`], so memory does not grow with the Look.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::actions::{ActionResponse, ExecuteRequest};
use crate::context::Context;
use crate::look_stream::{LookError, LookStream};
use crate::mapping::Fields;
use crate::parse::{Format, Item};

use super::store::Decision;
use super::{Inner, TAG};

/// Rows are written in transactions of this many.
const BATCH_ROWS: usize = 1000;

/// The order id of one json_detail row: the tagged field's cell `value` (or a bare value).
fn order_id_of(row: &str, field: &str) -> Result<Option<String>, String> {
    let m: HashMap<&str, &RawValue> =
        serde_json::from_str(row).map_err(|e| format!("the row is not a JSON object: {e}"))?;
    let Some(cell) = m.get(field) else {
        return Ok(None);
    };
    #[derive(Deserialize)]
    struct Cell<'a> {
        #[serde(borrow)]
        value: Option<&'a RawValue>,
    }
    let raw = if cell.get().starts_with('{') {
        match serde_json::from_str::<Cell<'_>>(cell.get()) {
            Ok(Cell { value: Some(v) }) => v,
            _ => return Ok(None),
        }
    } else {
        cell
    };
    let v = raw.get();
    if v == "null" {
        return Ok(None);
    }
    if v.starts_with('"') {
        let s: String = serde_json::from_str(v).map_err(|e| e.to_string())?;
        return Ok(Some(s).filter(|s| !s.is_empty()));
    }
    Ok(Some(v.to_owned()))
}

async fn flush(inner: &Inner, pending: &mut Vec<Decision>) -> Result<usize, String> {
    if pending.is_empty() {
        return Ok(0);
    }
    let batch = std::mem::take(pending);
    let store = inner.store.clone();
    match tokio::task::spawn_blocking(move || store.insert(&batch)).await {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("the database write failed: {e}")),
    }
}

/// Runs the batch action on `req`'s Look, as `user`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run(
    inner: &Inner,
    req: &ExecuteRequest,
    ctx: &Context,
    action: &str,
    classification: String,
    comment: String,
    user: String,
) -> ActionResponse {
    let mut look = match LookStream::open(req, ctx, Format::JsonDetail).await {
        Ok(l) => l,
        Err(e) => return ActionResponse::failed(e),
    };
    let mut field: Option<String> = None;
    let mut pending: Vec<Decision> = Vec::with_capacity(BATCH_ROWS);
    let (mut rows, mut written, mut skipped) = (0u64, 0usize, 0u64);
    let fail = |msg: String, written: usize| {
        ActionResponse::failed(format!("{msg} ({written} decisions were written before)"))
    };
    loop {
        match look.read().await {
            Ok(true) => {}
            Ok(false) => break,
            // Nothing can have been written: the answer says only that.
            Err(e @ LookError::Empty(_)) => return ActionResponse::failed(e.to_string()),
            Err(e) => return fail(e.to_string(), written),
        }
        let json_rows = look.format() == Format::Json;
        loop {
            let item = match look.next_item() {
                Ok(Some(i)) => i,
                Ok(None) => break,
                Err(e) => return fail(e.message, written),
            };
            match item {
                Item::Fields(f) => field = tagged(&f),
                Item::RanAt(_) => {}
                Item::RowTooLarge { bytes } => {
                    rows += 1;
                    return fail(
                        format!(
                            "row {rows}: the row is {bytes} bytes, above the hub's {}-byte row limit",
                            ctx.config.max_row_bytes
                        ),
                        written,
                    );
                }
                Item::Row(row) => {
                    rows += 1;
                    if field.is_none() && json_rows {
                        field = crate::parse::infer_json_fields(row)
                            .ok()
                            .and_then(|f| tagged(&f));
                    }
                    let Some(f) = field.as_deref() else {
                        return ActionResponse::failed(format!(
                            "Query requires a field tagged {TAG}; none was found before row {rows}."
                        ));
                    };
                    match order_id_of(row, f) {
                        Ok(Some(id)) => pending.push(Decision {
                            order_id: id,
                            classification: classification.clone(),
                            comment: comment.clone(),
                            user: user.clone(),
                            webhook_id: req.webhook_id.clone(),
                            action: action.into(),
                        }),
                        Ok(None) => skipped += 1,
                        Err(e) => return fail(format!("row {rows}: {e}"), written),
                    }
                }
            }
        }
        if pending.len() >= BATCH_ROWS {
            match flush(inner, &mut pending).await {
                Ok(n) => written += n,
                Err(e) => return fail(e, written),
            }
        }
    }
    match flush(inner, &mut pending).await {
        Ok(n) => written += n,
        Err(e) => return fail(e, written),
    }
    let dup = rows - skipped - written as u64;
    let mut msg = format!("{written} of {rows} orders marked as {classification} by {user}.");
    if skipped > 0 {
        msg.push_str(&format!(" {skipped} rows had no order id."));
    }
    if dup > 0 {
        msg.push_str(&format!(
            " {dup} were already recorded for this webhook; nothing written twice."
        ));
    }
    ActionResponse {
        refresh_query: true,
        ..ActionResponse::ok(msg)
    }
}

/// The first field tagged `mark-suspicious` (json rows: none carry tags, so a field named
/// like the tag's convention is not guessed; json needs json_detail).
fn tagged(f: &Fields) -> Option<String> {
    f.all()
        .find(|x| x.tags.iter().any(|t| t == TAG))
        .map(|x| x.name.clone())
}
