//! What never reaches a recording's files, and what `--redact-pii` changes.
//!
//! - [`Secrets`]: every token, write key, sensitive param, OAuth state and one-time URL the
//!   proxy saw. Each file is scrubbed of them as text right before it is written, whatever
//!   structure they ended up in, and credentials in URL queries (`code=`, `state=`, `token=`,
//!   `writeKey=`, …) are masked. This is the safety net under the placeholders the scenario
//!   writer puts in their place.
//! - [`Pii`]: emails (anywhere in a string) and people's names (the cells of name fields, and
//!   any string equal to one of them) replaced by generated values, the same input always
//!   giving the same output within a recording, so identities still line up: the Look's
//!   email, the event's `userId` made from it and the expectation on that `userId` change
//!   together, and a replay stores the same number of events.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// What replaces a secret in a file.
pub const MASK: &str = "****";

static URL_CREDENTIAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)([?&](?:code|state|token|access_token|refresh_token|id_token|client_secret|writekey|write_key|api_key|apikey|key|password|secret)=)[^&#\s\x22']*",
    )
    .expect("valid regex")
});

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
        .expect("valid regex")
});

/// A field that holds people's names: `users.name`, `users.first_name`, `customer_name`, …
/// (not `product_name` or `campaign_name`).
static NAME_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:^|[._])(?:(?:first|last|full|middle|given|family|display|user|customer|contact|person|nick|sur)_?)?name$",
    )
    .expect("valid regex")
});

/// Secret values seen during a recording.
#[derive(Debug, Default)]
pub struct Secrets {
    values: BTreeSet<String>,
}

impl Secrets {
    /// Remember a secret. Values shorter than 8 characters cannot be scrubbed from free text
    /// without destroying it; they are still replaced where the writer knows them (params).
    pub fn add(&mut self, value: &str) {
        let v = value.trim();
        if v.chars().count() >= 8 {
            self.values.insert(v.to_owned());
            // The forms a secret takes inside JSON text.
            if let Ok(enc) = serde_json::to_string(v) {
                let inner = &enc[1..enc.len() - 1];
                if inner != v {
                    self.values.insert(inner.to_owned());
                }
            }
        }
    }

    /// The text with every known secret, and every credential in a URL query, masked.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = URL_CREDENTIAL
            .replace_all(text, |c: &regex::Captures<'_>| format!("{}{MASK}", &c[1]))
            .into_owned();
        // Longest first, so a secret containing another is masked whole.
        let mut by_len: Vec<&String> = self.values.iter().collect();
        by_len.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in by_len {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }
}

/// Consistent replacement of emails and names.
#[derive(Debug, Default)]
pub struct Pii {
    emails: HashMap<String, String>,
    names: HashMap<String, String>,
    generated: HashSet<String>,
}

impl Pii {
    fn email(&mut self, original: &str) -> String {
        if self.generated.contains(original) {
            return original.to_owned();
        }
        let n = self.emails.len() + 1;
        let out = self
            .emails
            .entry(original.to_owned())
            .or_insert_with(|| format!("person{n}@example.com"))
            .clone();
        self.generated.insert(out.clone());
        out
    }

    fn name(&mut self, original: &str) -> String {
        if self.generated.contains(original) || original.trim().is_empty() {
            return original.to_owned();
        }
        let n = self.names.len() + 1;
        let out = self
            .names
            .entry(original.to_owned())
            .or_insert_with(|| format!("Person {n}"))
            .clone();
        self.generated.insert(out.clone());
        out
    }

    /// A string with its emails replaced; a string equal to a known name becomes its
    /// replacement.
    pub fn text(&mut self, s: &str) -> String {
        if let Some(n) = self.names.get(s) {
            return n.clone();
        }
        if !s.contains('@') {
            return s.to_owned();
        }
        let found: Vec<String> = EMAIL.find_iter(s).map(|m| m.as_str().to_owned()).collect();
        let mut out = s.to_owned();
        for e in found {
            let r = self.email(&e);
            out = out.replace(&e, &r);
        }
        out
    }

    /// Every string of a JSON value (not the keys) through [`Pii::text`].
    pub fn value(&mut self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.text(s),
            Value::Array(a) => a.iter_mut().for_each(|x| self.value(x)),
            Value::Object(o) => o.values_mut().for_each(|x| self.value(x)),
            _ => {}
        }
    }

    /// A Look definition's rows: name fields' cells first (value, and the value inside
    /// `rendered`/`html`), then every string for emails.
    pub fn look(&mut self, def: &mut Value) {
        let Some(rows) = def.get_mut("rows").and_then(Value::as_array_mut) else {
            return;
        };
        for row in rows.iter_mut() {
            let Some(row) = row.as_object_mut() else {
                continue;
            };
            for (field, cell) in row.iter_mut() {
                if NAME_FIELD.is_match(field) {
                    self.name_cell(cell);
                }
            }
        }
        for row in rows.iter_mut() {
            self.value(row);
        }
        // Emails in filters, the SQL, titles.
        self.value(def);
    }

    fn name_cell(&mut self, cell: &mut Value) {
        match cell {
            Value::String(s) => *s = self.name(s),
            Value::Object(o) if o.contains_key("value") => {
                let Some(original) = o.get("value").and_then(Value::as_str).map(str::to_owned)
                else {
                    return;
                };
                let replaced = self.name(&original);
                o.insert("value".into(), Value::String(replaced.clone()));
                for key in ["rendered", "html", "filterable_value"] {
                    if let Some(Value::String(s)) = o.get_mut(key) {
                        *s = s.replace(&original, &replaced);
                    }
                }
            }
            // A pivoted name (rare): each pivot's cell.
            Value::Object(o) => o.values_mut().for_each(|c| self.name_cell(c)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_masked_wherever_they_are() {
        let mut s = Secrets::default();
        s.add("wk_secret_1");
        s.add("ab");
        let out = s.scrub(
            r#"{"k":"wk_secret_1","u":"http://x/cb?code=abc123&x=1","t":"see wk_secret_1"}"#,
        );
        assert!(
            !out.contains("wk_secret_1") && !out.contains("abc123"),
            "{out}"
        );
        assert!(out.contains("code=****&x=1"), "{out}");
    }

    #[test]
    fn pii_is_replaced_consistently() {
        let mut p = Pii::default();
        let mut def = json!({"rows": [
            {"users.first_name": {"value": "Ada", "rendered": "<b>Ada</b>"}, "users.email": "ada@x.io",
             "products.name_x": "Ada", "orders.note": "mail ada@x.io or bob@y.org"},
            {"users.first_name": "Ada", "users.email": {"value": "ada@x.io"}}
        ]});
        p.look(&mut def);
        let text = def.to_string();
        assert!(
            !text.contains("ada@x.io") && !text.contains("bob@y.org"),
            "{text}"
        );
        assert_eq!(
            def["rows"][0]["users.email"],
            def["rows"][1]["users.email"]["value"]
        );
        assert_eq!(def["rows"][0]["users.first_name"]["value"], "Person 1");
        assert_eq!(
            def["rows"][0]["users.first_name"]["rendered"],
            "<b>Person 1</b>"
        );
        assert_eq!(def["rows"][1]["users.first_name"], "Person 1");
        // Elsewhere, a string equal to a name is that name's replacement, and an email the same.
        assert_eq!(p.text("Ada"), "Person 1");
        assert_eq!(p.text("ada@x.io"), def["rows"][0]["users.email"]);
        // Applying it to its own output changes nothing.
        assert_eq!(p.text("person1@example.com"), "person1@example.com");
    }
}
