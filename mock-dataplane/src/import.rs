//! `/v1/import`: the gateway does not validate an import as one batch. It first splits the
//! batch by user, then processes each user's events as a separate `/v1/batch` request and
//! joins the error texts of the groups that failed (rudder-server `gateway/import_handler.go`).
//!
//! What that means for a client, and what this module reproduces:
//! - only the whole body is checked for valid JSON; everything else is per group, so one
//!   group can be refused (its events are not stored) while the others are stored;
//! - the request fails with the joined texts of the failed groups: a single known text keeps
//!   its status (e.g. 400), two or more joined texts are no known message and answer 500;
//! - an import without events (`{"batch":[]}`, no `batch`) is answered 200 with nothing
//!   stored, where `/v1/batch` answers 400 `empty batch payload`.
//!
//! The user key is gjson's view of the event (`value.Get("userId").String()`): the first
//! occurrence of the key, strings unescaped, `null` and missing as "", integers as written,
//! other numbers in Go's shortest form, objects and arrays as their JSON text. The real
//! gateway runs the groups in parallel, so the order of joined texts and of stored groups is
//! not defined there; the mock keeps the order in which each user first appears.

use std::collections::HashMap;

use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::gjson;
use crate::ingest::{Rejection, md5_uuid};
use crate::response::Reject;
use crate::splice::{first_of, first_value, object_entries};

/// Splits an import body into one `{"batch":[...]}` body per user, in order of first
/// appearance. An error only for a body that is not valid JSON (the one whole-body check).
pub fn split_by_user(body: &[u8]) -> Result<Vec<String>, Rejection> {
    let text = std::str::from_utf8(body).map_err(|e| Rejection {
        reason: Reject::InvalidJson,
        detail: format!("body is not UTF-8 at byte {}", e.valid_up_to()),
    })?;
    // As in `ingest::prepare`: lone surrogate escapes are read the way gjson reads them.
    let text = &*gjson::normalize_surrogates(text);
    let items = items_of(text).map_err(|e| Rejection {
        reason: Reject::InvalidJson,
        detail: format!("body: {e}"),
    })?;
    let mut groups: Vec<Vec<&str>> = Vec::new();
    let mut index_of: HashMap<uuid::Uuid, usize> = HashMap::new();
    for item in items {
        let (user_id, anonymous_id) = ids_of(item);
        let key = md5_uuid(&format!("{user_id}:{anonymous_id}"));
        let at = *index_of.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(item);
    }
    Ok(groups
        .into_iter()
        .map(|events| {
            let len = events.iter().map(|e| e.len() + 1).sum::<usize>() + 12;
            let mut out = String::with_capacity(len);
            out.push_str(r#"{"batch":["#);
            for (i, e) in events.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(e);
            }
            out.push_str("]}");
            out
        })
        .collect())
}

/// The raw items gjson's `ForEach` visits on the body's `batch`: an array's elements, an
/// object's values, a scalar (or `null`) once; nothing when there is no `batch`.
fn items_of(text: &str) -> Result<Vec<&str>, serde_json::Error> {
    // The whole body must be valid JSON (gjson.ValidBytes), whatever its shape.
    serde_json::from_str::<IgnoredAny>(text)?;
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return Ok(Vec::new());
    }
    let Some(batch) = first_value(text, "batch")? else {
        return Ok(Vec::new());
    };
    let raw = batch.trim_start();
    if raw.starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(raw)?;
        Ok(items.into_iter().map(RawValue::get).collect())
    } else if raw.starts_with('{') {
        Ok(object_entries(raw)?
            .into_iter()
            .map(|(_, r)| &raw[r])
            .collect())
    } else {
        Ok(vec![batch])
    }
}

/// gjson's `value.Get("userId").String()` and the same for `anonymousId`; "" for non-objects.
fn ids_of(item: &str) -> (String, String) {
    if !item.trim_start().starts_with('{') {
        return (String::new(), String::new());
    }
    let entries = object_entries(item).unwrap_or_default();
    (
        gjson::result_string(first_of(item, &entries, "userId")),
        gjson::result_string(first_of(item, &entries, "anonymousId")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_user_in_order_of_first_appearance() {
        let body =
            br#"{"batch":[{"userId":"a","n":1},{"anonymousId":"x","n":2},{"userId":"a","n":3}]}"#;
        let groups = split_by_user(body).unwrap();
        assert_eq!(
            groups,
            vec![
                r#"{"batch":[{"userId":"a","n":1},{"userId":"a","n":3}]}"#,
                r#"{"batch":[{"anonymousId":"x","n":2}]}"#,
            ]
        );
    }

    #[test]
    fn user_key_is_gjson_string_of_both_ids() {
        // Same user id, different anonymous ids: two groups. Number and string "5" collide,
        // as they do in gjson.
        let body = br#"{"batch":[{"userId":5},{"userId":"5"},{"userId":"5","anonymousId":"z"},{"userId":1.50},{"userId":"1.5"}]}"#;
        let groups = split_by_user(body).unwrap();
        assert_eq!(groups.len(), 3, "{groups:?}");
        assert_eq!(groups[0], r#"{"batch":[{"userId":5},{"userId":"5"}]}"#);
        assert_eq!(groups[2], r#"{"batch":[{"userId":1.50},{"userId":"1.5"}]}"#);
    }

    #[test]
    fn non_objects_and_events_without_ids_share_the_anonymous_group() {
        let body = br#"{"batch":[7,{"event":"x"},{"userId":""}]}"#;
        let groups = split_by_user(body).unwrap();
        assert_eq!(groups, vec![r#"{"batch":[7,{"event":"x"},{"userId":""}]}"#]);
    }

    #[test]
    fn shapes_without_events_and_odd_batch_values() {
        for empty in [&br#"{"batch":[]}"#[..], b"{}", b"[1,2]", b"\"s\""] {
            assert!(split_by_user(empty).unwrap().is_empty());
        }
        // gjson's ForEach visits an object's values and a scalar once.
        let obj = split_by_user(br#"{"batch":{"k1":{"userId":"u"},"k2":{"userId":"v"}}}"#).unwrap();
        assert_eq!(obj.len(), 2);
        assert_eq!(obj[0], r#"{"batch":[{"userId":"u"}]}"#);
        assert_eq!(
            split_by_user(br#"{"batch":null}"#).unwrap(),
            vec![r#"{"batch":[null]}"#]
        );
        // The first `batch` key counts.
        let first = split_by_user(br#"{"batch":[{"userId":"u"}],"batch":[]}"#).unwrap();
        assert_eq!(first.len(), 1);
    }

    #[test]
    fn only_invalid_json_refuses_the_whole_body() {
        for bad in [&b"{"[..], b"", b"{\"batch\":[}", b"\xff"] {
            let err = split_by_user(bad).err().unwrap();
            assert_eq!(err.reason, Reject::InvalidJson);
        }
    }
}
