//! Expectations on the events a [`crate::MockDataplane`] receives, checked when the handle is
//! dropped (like wiremock's `Mock::expect`): a test states up front what must arrive, and a
//! failure says which expectation was not met and lists what did arrive.

use std::fmt;
use std::sync::Mutex;

use serde_json::Value;

use crate::store::{StoreError, StoredEvent};

/// At most this many received events are listed in a failure, each cut to
/// [`EVENT_PRINT_LIMIT`] bytes, so a failing test over a large run stays readable.
pub const EVENTS_PRINT_LIMIT: usize = 20;
/// The longest event text (bytes) a failure prints; longer ones are cut.
pub const EVENT_PRINT_LIMIT: usize = 500;

/// Which stored events an expectation counts: every field that is set must match.
///
/// `EventMatcher::track("Signed Up").user("u1")` counts `track` calls named `Signed Up` for
/// user `u1`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventMatcher {
    r#type: Option<String>,
    event: Option<String>,
    user_id: Option<String>,
    anonymous_id: Option<String>,
    write_key: Option<String>,
    properties: Vec<(String, Value)>,
}

impl EventMatcher {
    /// Every event.
    pub fn any() -> Self {
        Self::default()
    }

    /// Events of this call type (`identify`, `track`, `page`, `screen`, `group`, `alias`, ...).
    pub fn of_type(r#type: impl Into<String>) -> Self {
        Self {
            r#type: Some(r#type.into()),
            ..Self::default()
        }
    }

    /// `track` calls with this event name.
    pub fn track(event: impl Into<String>) -> Self {
        Self {
            event: Some(event.into()),
            ..Self::of_type("track")
        }
    }

    /// Only events whose `userId` is this.
    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Only events whose `anonymousId` is this.
    pub fn anonymous_id(mut self, id: impl Into<String>) -> Self {
        self.anonymous_id = Some(id.into());
        self
    }

    /// Only events sent with this write key.
    pub fn write_key(mut self, key: impl Into<String>) -> Self {
        self.write_key = Some(key.into());
        self
    }

    /// Only events whose `properties.<name>` equals `value`.
    pub fn property(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties.push((name.into(), value.into()));
        self
    }

    /// Whether `stored` is one of the events this matcher counts.
    pub fn matches(&self, stored: &StoredEvent) -> bool {
        let ev = &stored.event;
        let field = |name: &str, want: &Option<String>| {
            want.as_deref()
                .is_none_or(|w| ev.get(name).and_then(Value::as_str) == Some(w))
        };
        field("type", &self.r#type)
            && field("event", &self.event)
            && field("userId", &self.user_id)
            && field("anonymousId", &self.anonymous_id)
            && self
                .write_key
                .as_deref()
                .is_none_or(|k| k == stored.write_key)
            && self
                .properties
                .iter()
                .all(|(name, want)| ev.get("properties").and_then(|p| p.get(name)) == Some(want))
    }
}

impl fmt::Display for EventMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        match (&self.r#type, &self.event) {
            (Some(t), Some(e)) => parts.push(format!("{t} {e:?}")),
            (Some(t), None) => parts.push(t.clone()),
            (None, Some(e)) => parts.push(format!("event {e:?}")),
            (None, None) => parts.push("any event".into()),
        }
        if let Some(u) = &self.user_id {
            parts.push(format!("userId {u:?}"));
        }
        if let Some(a) = &self.anonymous_id {
            parts.push(format!("anonymousId {a:?}"));
        }
        if self.write_key.is_some() {
            // A secret: never printed.
            parts.push("write key ***".into());
        }
        for (name, value) in &self.properties {
            parts.push(format!("properties.{name} = {value}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// One registered expectation: a matcher and how many matching events may arrive.
#[derive(Clone, Debug)]
pub(crate) struct Expected {
    matcher: EventMatcher,
    min: usize,
    max: Option<usize>,
}

impl Expected {
    fn range(&self) -> String {
        match (self.min, self.max) {
            (min, Some(max)) if min == max => format!("exactly {min}"),
            (min, None) => format!("at least {min}"),
            (0, Some(max)) => format!("at most {max}"),
            (min, Some(max)) => format!("between {min} and {max}"),
        }
    }
}

/// The expectations a handle holds until they are verified.
#[derive(Default)]
pub(crate) struct Expectations(Mutex<Vec<Expected>>);

impl Expectations {
    pub(crate) fn add(&self, matcher: EventMatcher) -> Expectation<'_> {
        let mut list = self.0.lock().unwrap_or_else(|e| e.into_inner());
        list.push(Expected {
            matcher,
            min: 1,
            max: None,
        });
        Expectation {
            list: self,
            index: list.len() - 1,
        }
    }

    /// Takes every expectation registered so far (they are checked once).
    pub(crate) fn take(&self) -> Vec<Expected> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// How many events an expectation wants; by default at least one. Returned by
/// [`crate::MockDataplane::expect`].
pub struct Expectation<'a> {
    list: &'a Expectations,
    index: usize,
}

impl Expectation<'_> {
    fn set(self, min: usize, max: Option<usize>) -> Self {
        let mut list = self.list.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = list.get_mut(self.index) {
            e.min = min;
            e.max = max;
        }
        drop(list);
        self
    }

    /// Exactly `n` matching events.
    pub fn times(self, n: usize) -> Self {
        self.set(n, Some(n))
    }

    /// `n` or more matching events.
    pub fn at_least(self, n: usize) -> Self {
        self.set(n, None)
    }

    /// No more than `n` matching events (none is fine).
    pub fn at_most(self, n: usize) -> Self {
        self.set(0, Some(n))
    }

    /// No matching event at all.
    pub fn never(self) -> Self {
        self.set(0, Some(0))
    }
}

/// Why [`crate::MockDataplane::verify`] failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Some expectations were not met; the text lists them and what was received.
    #[error("{0}")]
    Unmet(Unmet),
    /// The stored events could not be read, so nothing could be checked.
    #[error("cannot read the stored events to verify the expectations: {0}")]
    Store(#[from] StoreError),
}

/// The expectations that failed, with the events received (for the failure message).
#[derive(Debug)]
pub struct Unmet {
    /// One line per failed expectation: what was expected, how many matched.
    pub failures: Vec<String>,
    /// How many expectations were checked.
    pub checked: usize,
    /// Every event received, in arrival order.
    pub received: Vec<StoredEvent>,
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "mock data plane: {} of {} expectations not met:",
            self.failures.len(),
            self.checked
        )?;
        for line in &self.failures {
            writeln!(f, "  - {line}")?;
        }
        let shown = self.received.len().min(EVENTS_PRINT_LIMIT);
        write!(f, "received {} events", self.received.len())?;
        if shown < self.received.len() {
            write!(f, " (the first {shown} shown)")?;
        }
        f.write_str(":")?;
        for e in &self.received[..shown] {
            let mut text = e.event.to_string();
            if text.len() > EVENT_PRINT_LIMIT {
                let mut cut = EVENT_PRINT_LIMIT;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push_str("...");
            }
            write!(f, "\n  #{} {text}", e.cursor)?;
        }
        Ok(())
    }
}

/// Checks `expected` against every received event.
pub(crate) fn check(expected: &[Expected], received: Vec<StoredEvent>) -> Result<(), VerifyError> {
    let failures: Vec<String> = expected
        .iter()
        .filter_map(|x| {
            let n = received.iter().filter(|e| x.matcher.matches(e)).count();
            let ok = n >= x.min && x.max.is_none_or(|max| n <= max);
            (!ok).then(|| format!("{}: expected {}, received {n}", x.matcher, x.range()))
        })
        .collect();
    if failures.is_empty() {
        return Ok(());
    }
    Err(VerifyError::Unmet(Unmet {
        failures,
        checked: expected.len(),
        received,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(cursor: u64, event: Value) -> StoredEvent {
        StoredEvent {
            cursor,
            request_id: "r".into(),
            source_id: "s".into(),
            write_key: "k".into(),
            event,
        }
    }

    #[test]
    fn matcher_checks_every_field_it_sets() {
        let e = stored(
            1,
            serde_json::json!({"type":"track","event":"Signed Up","userId":"u1","properties":{"plan":"pro"}}),
        );
        assert!(EventMatcher::track("Signed Up").user("u1").matches(&e));
        assert!(EventMatcher::any().property("plan", "pro").matches(&e));
        assert!(EventMatcher::any().write_key("k").matches(&e));
        assert!(!EventMatcher::track("Signed Up").user("u2").matches(&e));
        assert!(!EventMatcher::of_type("identify").matches(&e));
        assert!(!EventMatcher::any().property("plan", "free").matches(&e));
        assert!(!EventMatcher::any().write_key("other").matches(&e));
    }

    #[test]
    fn failure_lists_the_unmet_expectation_and_bounds_the_events_shown() {
        let list = Expectations::default();
        list.add(EventMatcher::track("Signed Up").user("u1"))
            .times(3);
        list.add(EventMatcher::of_type("track")).at_least(1);
        let big = "x".repeat(2 * EVENT_PRINT_LIMIT);
        let received: Vec<StoredEvent> = (1..=30)
            .map(|i| {
                stored(
                    i,
                    serde_json::json!({"type":"track","event":"Signed Up","userId":"u1","pad":big}),
                )
            })
            .collect();
        let err = check(&list.take(), received).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("mock data plane: 1 of 2 expectations not met:\n"));
        assert!(
            text.contains(r#"track "Signed Up", userId "u1": expected exactly 3, received 30"#),
            "{text}"
        );
        assert!(text.contains("received 30 events (the first 20 shown):"));
        assert!(text.contains("\n  #20 ") && !text.contains("\n  #21 "));
        assert!(text.lines().all(|l| l.len() < EVENT_PRINT_LIMIT + 20));
        assert!(list.take().is_empty(), "expectations are checked once");
    }

    #[test]
    fn ranges_accept_what_they_say() {
        let list = Expectations::default();
        list.add(EventMatcher::of_type("identify")).never();
        list.add(EventMatcher::of_type("track")).at_most(2);
        list.add(EventMatcher::any()).at_least(2);
        let received = vec![
            stored(1, serde_json::json!({"type":"track"})),
            stored(2, serde_json::json!({"type":"page"})),
        ];
        check(&list.take(), received).unwrap();
    }
}
