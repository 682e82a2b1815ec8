//! Expected values and matchers.
//!
//! An expected value is plain JSON compared exactly (objects must have the same keys, arrays the
//! same length), except where it is a *matcher*: an object with a `match` key. Matchers exist
//! for what changes from run to run (`messageId`, timestamps, generated `anonymousId`s) so a
//! scenario can still say what shape the value must have instead of ignoring it:
//!
//! | matcher | accepts |
//! |---|---|
//! | `{match: any}` | anything, or nothing |
//! | `{match: present}` | any value, key must exist |
//! | `{match: absent}` | the key must not exist |
//! | `{match: uuid}` | a UUID string (8-4-4-4-12 hex, RFC 4122 variant) |
//! | `{match: iso8601}` | `YYYY-MM-DDTHH:MM:SS[.fff](Z\|±hh:mm)` |
//! | `{match: string}` / `nonempty` / `number` / `boolean` / `null` / `not_null` | by JSON type |
//! | `{match: regex, pattern: "…"}` | a string the regex finds a match in |
//! | `{match: contains, value: "…"}` | a string containing the text |
//! | `{match: subset, value: {…}}` | an object having at least these keys (values matched) |
//! | `{match: one_of, value: [..]}` | any of the listed expected values |
//! | `{match: includes, value: [..]}` | an array with, for each listed value, a distinct matching element |
//!
//! Mismatches come back as a list of `path: expected …, received …` lines, and [`diff`] renders
//! expected against received as a unified diff in which values that satisfied a matcher are
//! shown as the matcher (`<uuid>`), so only real differences stand out.

use regex::Regex;
use serde_json::{Map, Value};

/// Is this a UUID string, in the hyphenated form with the RFC 4122 variant, as the SDKs and
/// hubs write messageIds?
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && uuid::Uuid::try_parse(s).is_ok_and(|u| u.get_variant() == uuid::Variant::RFC4122)
}

/// Is this an ISO-8601 date-time with a zone (RFC 3339, with the `T` separator), such as the
/// timestamps of an event?
pub fn is_iso8601(s: &str) -> bool {
    s.as_bytes().get(10) == Some(&b'T') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// A parsed matcher.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Anything or nothing.
    Any,
    /// Any value; the key must exist.
    Present,
    /// The key must not exist.
    Absent,
    /// UUID string.
    Uuid,
    /// ISO-8601 date-time string.
    Iso8601,
    /// Any string.
    String,
    /// A non-empty string.
    Nonempty,
    /// A number.
    Number,
    /// A boolean.
    Boolean,
    /// JSON null.
    Null,
    /// Anything but null (key must exist).
    NotNull,
    /// Regex search on a string.
    Regex(Regex),
    /// Substring of a string.
    Contains(String),
    /// Object with at least these keys.
    Subset(Map<String, Value>),
    /// Any of these expected values.
    OneOf(Vec<Value>),
    /// An array containing a distinct match for each.
    Includes(Vec<Value>),
}

impl Matcher {
    /// Parse `v` as a matcher: `None` if it is not one, `Some(Err)` if it is a malformed one.
    pub fn parse(v: &Value) -> Option<Result<Matcher, String>> {
        let obj = v.as_object()?;
        let kind = obj.get("match")?;
        let Some(kind) = kind.as_str() else {
            return Some(Err(format!("`match` must be a string, found {kind}")));
        };
        let allowed_extra: &[&str] = match kind {
            "regex" => &["pattern"],
            "contains" | "subset" | "one_of" | "includes" => &["value"],
            _ => &[],
        };
        if let Some(extra) = obj
            .keys()
            .find(|k| *k != "match" && !allowed_extra.contains(&k.as_str()))
        {
            return Some(Err(format!("matcher `{kind}` does not take `{extra}`")));
        }
        let value = obj.get("value");
        Some(match kind {
            "any" => Ok(Matcher::Any),
            "present" => Ok(Matcher::Present),
            "absent" => Ok(Matcher::Absent),
            "uuid" => Ok(Matcher::Uuid),
            "iso8601" => Ok(Matcher::Iso8601),
            "string" => Ok(Matcher::String),
            "nonempty" => Ok(Matcher::Nonempty),
            "number" => Ok(Matcher::Number),
            "boolean" => Ok(Matcher::Boolean),
            "null" => Ok(Matcher::Null),
            "not_null" => Ok(Matcher::NotNull),
            "regex" => match obj.get("pattern").and_then(Value::as_str) {
                Some(p) => Regex::new(p)
                    .map(Matcher::Regex)
                    .map_err(|e| format!("matcher `regex`: bad pattern: {e}")),
                None => Err("matcher `regex` needs `pattern: \"…\"`".into()),
            },
            "contains" => match value.and_then(Value::as_str) {
                Some(s) => Ok(Matcher::Contains(s.to_string())),
                None => Err("matcher `contains` needs `value: \"text\"`".into()),
            },
            "subset" => match value.and_then(Value::as_object) {
                Some(m) => validate(&Value::Object(m.clone())).map(|_| Matcher::Subset(m.clone())),
                None => Err("matcher `subset` needs `value: {…}` (an object)".into()),
            },
            "one_of" => match value.and_then(Value::as_array) {
                Some(a) => a
                    .iter()
                    .try_for_each(validate)
                    .map(|_| Matcher::OneOf(a.clone())),
                None => Err("matcher `one_of` needs `value: [...]` (a list)".into()),
            },
            "includes" => match value.and_then(Value::as_array) {
                Some(a) => a
                    .iter()
                    .try_for_each(validate)
                    .map(|_| Matcher::Includes(a.clone())),
                None => Err("matcher `includes` needs `value: [...]` (a list)".into()),
            },
            other => Err(format!(
                "unknown matcher `{other}`; expected one of any, present, absent, uuid, iso8601, \
                 string, nonempty, number, boolean, null, not_null, regex, contains, subset, one_of, includes"
            )),
        })
    }

    /// How the matcher is shown in diffs.
    pub fn placeholder(&self) -> String {
        match self {
            Matcher::Any => "<any>".into(),
            Matcher::Present => "<present>".into(),
            Matcher::Absent => "<absent>".into(),
            Matcher::Uuid => "<uuid>".into(),
            Matcher::Iso8601 => "<iso8601>".into(),
            Matcher::String => "<string>".into(),
            Matcher::Nonempty => "<nonempty string>".into(),
            Matcher::Number => "<number>".into(),
            Matcher::Boolean => "<boolean>".into(),
            Matcher::Null => "<null>".into(),
            Matcher::NotNull => "<not null>".into(),
            Matcher::Regex(r) => format!("<regex {}>", r.as_str()),
            Matcher::Contains(s) => format!("<contains {}>", Value::String(s.clone())),
            Matcher::Subset(_) => "<subset>".into(),
            Matcher::OneOf(_) => "<one of>".into(),
            Matcher::Includes(_) => "<includes>".into(),
        }
    }
}

/// Check that every matcher inside `expected` is well-formed.
pub fn validate(expected: &Value) -> Result<(), String> {
    if let Some(m) = Matcher::parse(expected) {
        return m.map(|_| ());
    }
    match expected {
        Value::Array(a) => a.iter().try_for_each(validate),
        Value::Object(o) => o.values().try_for_each(validate),
        _ => Ok(()),
    }
}

/// One difference: where, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// JSON path, e.g. `traits.email` or `batch[2]`.
    pub path: String,
    /// What was expected and what was received.
    pub detail: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.detail)
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}…", &s[..s.floor_char_boundary(117)])
    } else {
        s
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Compare `actual` (None = key absent) with `expected`, appending mismatches.
pub fn check(expected: &Value, actual: Option<&Value>, path: &str, out: &mut Vec<Mismatch>) {
    let here = if path.is_empty() {
        "$".to_string()
    } else {
        path.to_string()
    };
    let push = |out: &mut Vec<Mismatch>, detail: String| {
        out.push(Mismatch {
            path: here.clone(),
            detail,
        })
    };
    if let Some(m) = Matcher::parse(expected) {
        let m = match m {
            Ok(m) => m,
            Err(e) => return push(out, format!("bad matcher: {e}")),
        };
        let ok = match (&m, actual) {
            (Matcher::Any, _) => true,
            (Matcher::Absent, a) => a.is_none(),
            (_, None) => false,
            (Matcher::Present, Some(_)) => true,
            (Matcher::Uuid, Some(Value::String(s))) => is_uuid(s),
            (Matcher::Iso8601, Some(Value::String(s))) => is_iso8601(s),
            (Matcher::String, Some(Value::String(_))) => true,
            (Matcher::Nonempty, Some(Value::String(s))) => !s.is_empty(),
            (Matcher::Number, Some(Value::Number(_))) => true,
            (Matcher::Boolean, Some(Value::Bool(_))) => true,
            (Matcher::Null, Some(Value::Null)) => true,
            (Matcher::NotNull, Some(v)) => !v.is_null(),
            (Matcher::Regex(r), Some(Value::String(s))) => r.is_match(s),
            (Matcher::Contains(t), Some(Value::String(s))) => s.contains(t.as_str()),
            (Matcher::Subset(want), Some(Value::Object(got))) => {
                for (k, v) in want {
                    check(v, got.get(k), &join(path, k), out);
                }
                return;
            }
            (Matcher::OneOf(options), Some(a)) => options.iter().any(|o| {
                let mut tmp = Vec::new();
                check(o, Some(a), path, &mut tmp);
                tmp.is_empty()
            }),
            (Matcher::Includes(want), Some(Value::Array(got))) => {
                let mut used = vec![false; got.len()];
                want.iter().all(|w| {
                    let hit = (0..got.len()).find(|&i| {
                        let mut tmp = Vec::new();
                        check(w, Some(&got[i]), path, &mut tmp);
                        !used[i] && tmp.is_empty()
                    });
                    hit.map(|i| used[i] = true).is_some()
                })
            }
            _ => false,
        };
        if !ok {
            let got = actual
                .map(short)
                .unwrap_or_else(|| "nothing (key absent)".into());
            push(out, format!("expected {}, received {got}", m.placeholder()));
        }
        return;
    }
    let Some(actual) = actual else {
        return push(
            out,
            format!("expected {}, but the key is absent", short(expected)),
        );
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                check(ev, a.get(k), &join(path, k), out);
            }
            let extra: Vec<&String> = a.keys().filter(|k| !e.contains_key(*k)).collect();
            if !extra.is_empty() {
                push(
                    out,
                    format!(
                        "unexpected key(s) {}",
                        extra
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                push(
                    out,
                    format!(
                        "expected an array of {} item(s), received {}: {}",
                        e.len(),
                        a.len(),
                        short(actual)
                    ),
                );
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                check(ev, Some(av), &format!("{path}[{i}]"), out);
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            // 31 and 31.0 are the same JSON number to every consumer downstream.
            if e != a && e.as_f64() != a.as_f64() {
                push(out, format!("expected {e}, received {a}"));
            }
        }
        (e, a) => {
            if e != a {
                push(out, format!("expected {}, received {}", short(e), short(a)));
            }
        }
    }
}

/// Look up a dotted path (`context.app.name`) in a JSON value. A key containing dots that
/// exists as such at a level wins over splitting it.
pub fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(v);
    }
    let obj = v.as_object()?;
    if let Some(hit) = obj.get(path) {
        return Some(hit);
    }
    let (head, rest) = path.split_once('.')?;
    lookup(obj.get(head)?, rest)
}

/// Match an event against an item spec (keys are top-level keys or dotted paths).
pub fn check_item(item: &Map<String, Value>, event: &Value) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (path, expected) in item {
        check(expected, lookup(event, path), path, &mut out);
    }
    out
}

/// Replace matchers by their placeholders, for display.
pub fn render_expected(expected: &Value) -> Value {
    if let Some(Ok(m)) = Matcher::parse(expected) {
        return match m {
            Matcher::Subset(want) => Value::Object(
                want.iter()
                    .map(|(k, v)| (k.clone(), render_expected(v)))
                    .collect(),
            ),
            m => Value::String(m.placeholder()),
        };
    }
    match expected {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), render_expected(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(render_expected).collect()),
        v => v.clone(),
    }
}

/// The received value as it should be displayed next to `expected`: values satisfying a matcher
/// become the matcher's placeholder; keys a `subset` does not mention are dropped.
pub fn render_actual(expected: &Value, actual: Option<&Value>) -> Value {
    let absent = || Value::String("<absent>".into());
    if let Some(Ok(m)) = Matcher::parse(expected) {
        let mut tmp = Vec::new();
        check(expected, actual, "", &mut tmp);
        return match m {
            Matcher::Subset(want) => match actual {
                Some(Value::Object(a)) => Value::Object(
                    want.iter()
                        .map(|(k, v)| (k.clone(), render_actual(v, a.get(k))))
                        .collect(),
                ),
                Some(v) => v.clone(),
                None => absent(),
            },
            m if tmp.is_empty() => Value::String(m.placeholder()),
            _ => actual.cloned().unwrap_or_else(absent),
        };
    }
    let Some(actual) = actual else {
        return absent();
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let mut out = Map::new();
            for (k, ev) in e {
                out.insert(k.clone(), render_actual(ev, a.get(k)));
            }
            for (k, av) in a {
                if !e.contains_key(k) {
                    out.insert(k.clone(), av.clone());
                }
            }
            Value::Object(out)
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => Value::Array(
            e.iter()
                .zip(a)
                .map(|(ev, av)| render_actual(ev, Some(av)))
                .collect(),
        ),
        _ => actual.clone(),
    }
}

/// An item spec and an event side by side, as two flat JSON objects keyed by the item's paths.
pub fn render_item(item: &Map<String, Value>, event: &Value) -> (Value, Value) {
    let mut exp = Map::new();
    let mut act = Map::new();
    for (path, expected) in item {
        exp.insert(path.clone(), render_expected(expected));
        act.insert(path.clone(), render_actual(expected, lookup(event, path)));
    }
    (Value::Object(exp), Value::Object(act))
}

/// A unified diff of two JSON values, pretty-printed, headed `expected` / `received`.
pub fn diff(expected: &Value, received: &Value) -> String {
    let e = serde_json::to_string_pretty(expected).unwrap_or_default() + "\n";
    let r = serde_json::to_string_pretty(received).unwrap_or_default() + "\n";
    similar::TextDiff::from_lines(&e, &r)
        .unified_diff()
        .context_radius(3)
        .header("expected", "received")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mismatches(expected: Value, actual: Value) -> Vec<String> {
        let mut out = Vec::new();
        check(&expected, Some(&actual), "", &mut out);
        out.iter().map(|m| m.to_string()).collect()
    }

    #[test]
    fn exact_values_and_nested_objects_compare_exactly() {
        assert!(
            mismatches(
                json!({"a": 1, "b": [1, {"c": null}]}),
                json!({"a": 1, "b": [1, {"c": null}]})
            )
            .is_empty()
        );
        assert_eq!(
            mismatches(
                json!({"traits": {"email": "a"}}),
                json!({"traits": {"email": "a", "x": 1}})
            ),
            vec!["traits: unexpected key(s) `x`"]
        );
        assert_eq!(
            mismatches(json!({"a": []}), json!({"a": null})),
            vec!["a: expected [], received null"]
        );
        assert_eq!(
            mismatches(json!([1, 2]), json!([1])),
            vec!["$: expected an array of 2 item(s), received 1: [1]"]
        );
        // 0 and [] are different: the rudderstack-mode quirk must be visible.
        assert_eq!(
            mismatches(json!(0), json!([])),
            vec!["$: expected 0, received []"]
        );
        assert!(mismatches(json!(31), json!(31.0)).is_empty());
    }

    #[test]
    fn volatile_value_matchers_check_shape() {
        let v4 = "0bcd2d2a-bc07-4ab8-ae61-5759c550e3f3";
        assert!(mismatches(json!({"match": "uuid"}), json!(v4)).is_empty());
        assert_eq!(
            mismatches(json!({"match": "uuid"}), json!("stubanon")),
            vec!["$: expected <uuid>, received \"stubanon\""]
        );
        assert!(
            mismatches(
                json!({"match": "iso8601"}),
                json!("2017-07-28T02:25:19.000Z")
            )
            .is_empty()
        );
        assert!(
            mismatches(
                json!({"match": "iso8601"}),
                json!("2017-07-28T02:25:19+00:00")
            )
            .is_empty()
        );
        assert!(!mismatches(json!({"match": "iso8601"}), json!("2017-07-28 02:25:19")).is_empty());
        assert!(!mismatches(json!({"match": "iso8601"}), json!(1501208719)).is_empty());
        assert!(
            mismatches(
                json!({"match": "regex", "pattern": "^node-[0-9a-f]{32}-"}),
                json!("node-80319d97c6a25aec02387b8f1358956c-5e")
            )
            .is_empty()
        );
        assert!(
            mismatches(
                json!({"match": "contains", "value": "groupId"}),
                json!("You must pass a \"groupId\".")
            )
            .is_empty()
        );
        assert!(
            mismatches(
                json!({"match": "one_of", "value": [null, {"match": "uuid"}]}),
                json!(null)
            )
            .is_empty()
        );
        assert!(
            !mismatches(
                json!({"match": "one_of", "value": [null, {"match": "uuid"}]}),
                json!("x")
            )
            .is_empty()
        );
        assert!(mismatches(json!({"match": "nonempty"}), json!("x")).is_empty());
        let inc =
            json!({"match": "includes", "value": [{"match": "subset", "value": {"name": "b"}}, 1]});
        assert!(mismatches(inc.clone(), json!([1, {"name": "b", "x": 2}, 3])).is_empty());
        assert!(!mismatches(inc, json!([{"name": "b"}])).is_empty());
        assert!(!mismatches(json!({"match": "nonempty"}), json!("")).is_empty());
    }

    #[test]
    fn absent_and_any_deal_with_missing_keys() {
        let ev = json!({"userId": "u1", "traits": {}});
        let item = json!({"groupId": {"match": "absent"}, "event": {"match": "any"}, "userId": {"match": "present"}});
        assert!(check_item(item.as_object().unwrap(), &ev).is_empty());
        let item = json!({"userId": {"match": "absent"}});
        assert_eq!(
            check_item(item.as_object().unwrap(), &ev)[0].to_string(),
            "userId: expected <absent>, received \"u1\""
        );
        let item = json!({"anonymousId": null});
        assert_eq!(
            check_item(item.as_object().unwrap(), &ev)[0].to_string(),
            "anonymousId: expected null, but the key is absent"
        );
    }

    #[test]
    fn subset_allows_extra_keys_and_dotted_paths_reach_inside() {
        let ev = json!({"context": {"app": {"name": "looker/actions", "version": "dev"}, "library": {"name": "x"}}, "traits": {"users.city": "Paris"}});
        let item = json!({
            "context": {"match": "subset", "value": {"app": {"name": "looker/actions", "version": "dev"}}},
            "context.library.name": "x",
            "traits": {"users.city": "Paris"}
        });
        assert!(check_item(item.as_object().unwrap(), &ev).is_empty());
        // A trait key with a dot is found as such, not split.
        assert_eq!(lookup(&ev, "traits.users.city"), Some(&json!("Paris")));
    }

    #[test]
    fn malformed_matchers_are_reported_with_what_was_expected() {
        assert!(validate(&json!({"a": {"match": "uuid"}})).is_ok());
        let e = validate(&json!({"a": {"match": "uid"}})).unwrap_err();
        assert!(e.contains("unknown matcher `uid`"), "{e}");
        let e = validate(&json!({"match": "regex"})).unwrap_err();
        assert!(e.contains("needs `pattern"), "{e}");
        let e = validate(&json!({"match": "regex", "pattern": "("})).unwrap_err();
        assert!(e.contains("bad pattern"), "{e}");
        let e = validate(&json!({"match": "uuid", "value": 1})).unwrap_err();
        assert!(e.contains("does not take `value`"), "{e}");
    }

    #[test]
    fn diff_shows_only_real_differences() {
        let item =
            json!({"messageId": {"match": "uuid"}, "traits": {"email": "a@x.io", "users.age": 0}});
        let ev = json!({"messageId": "0bcd2d2a-bc07-4ab8-ae61-5759c550e3f3", "traits": {"email": "a@x.io", "users.age": []}, "receivedAt": "x"});
        let (e, a) = render_item(item.as_object().unwrap(), &ev);
        let d = diff(&e, &a);
        assert!(d.contains("--- expected"), "{d}");
        assert!(d.contains("-    \"users.age\": 0"), "{d}");
        assert!(d.contains("+    \"users.age\": []"), "{d}");
        // The matched messageId is not a difference, and unrelated keys are not shown.
        assert!(!d.contains("-  \"messageId\""), "{d}");
        assert!(!d.contains("receivedAt"), "{d}");
    }
}
