//! Fault injection, named after WireMock's vocabulary so the rules read familiar.
//!
//! A rule says *which* requests it applies to (path and/or write key), *when* it fires (once, the
//! next N, every Nth, with a seeded probability, for a duration) and *what* happens: a status
//! with a body, a delay, a connection-level fault, a slow dribbled body, or an event-count rate
//! limit. A request answered by a fault stores nothing. A rule whose action is only a `delay`
//! delays the request, which is then processed (and stored) normally.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// A fault rule; the same JSON is accepted by `POST /_mock/faults`, faults files and
/// [`crate::MockDataplane::add_fault`].
///
/// ```json
/// {"path":"/v1/batch","times":1,"action":{"status":503,"body":"Service Unavailable"}}
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Assigned when the rule is added if not given; shown by `GET /_mock/faults`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Exact request path, or a prefix ending in `*` (`/v1/*`). None: every gateway path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only requests authenticated with this write key (Basic username or `writeKey` query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_key: Option<String>,
    /// Fire for the next N matching requests, then stop (1 = once). None: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Fire only on every Nth matching request (the Nth, 2Nth, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Fire with this probability (0..=1), drawn from a generator seeded with `seed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Seed for `probability` and random delays; the same seed gives the same sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Active only for this long after the rule was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// What happens when the rule fires.
    pub action: FaultAction,
}

/// What a firing rule does. Exactly one of `status`, `fault`, `rate_limit` or a `delay` alone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultAction {
    /// Answer with this status (and `body`, default: Go's `http.Error` text for the status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Response body, written as-is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Extra response headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Wait before answering (or before processing, if the action is only a delay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    /// A connection-level fault instead of an HTTP answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<ConnectionFault>,
    /// Send the `status`/`body` answer slowly, in chunks spread over a duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dribble: Option<Dribble>,
    /// An event-count rate limit per window: over it, 429 `max requests limit reached`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

/// Delay distributions (WireMock: fixed, uniform, lognormal).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Delay {
    Fixed {
        ms: u64,
    },
    Uniform {
        min_ms: u64,
        max_ms: u64,
    },
    /// Median and sigma of the underlying normal distribution, like WireMock's `lognormal`.
    Lognormal {
        median_ms: f64,
        sigma: f64,
    },
}

/// WireMock's connection faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionFault {
    /// Close with a TCP RST: clients see ECONNRESET.
    #[serde(alias = "connection_reset_by_peer")]
    ConnectionResetByPeer,
    /// Close without writing any response.
    #[serde(alias = "empty_response")]
    EmptyResponse,
    /// Write garbage bytes, then close.
    #[serde(alias = "random_data_then_close")]
    RandomDataThenClose,
    /// A 200 with a chunked body whose chunk framing is broken, then close.
    #[serde(alias = "malformed_response_chunk")]
    MalformedResponseChunk,
}

/// Dribble the body in `chunks` pieces spread over `duration_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dribble {
    pub chunks: u32,
    pub duration_ms: u64,
}

/// `events` events per `window_ms` (all sources share it, like a workspace), as rudder-server's
/// throttler counts them: GCRA (throttled's `GCRARateLimiter` with `MaxBurst` = `events`), so the
/// allowance refills continuously and at most `events + 1` events pass at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub events: u64,
    pub window_ms: u64,
}

/// A rule that cannot work, with what is wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultError {
    #[error("fault rule action is empty: give one of status, fault, rate_limit or delay")]
    EmptyAction,
    #[error("fault rule action mixes {0}: give only one of status, fault, rate_limit")]
    Conflict(String),
    #[error("fault rule {field} must be {expected}, got {got}")]
    Invalid {
        field: &'static str,
        expected: &'static str,
        got: String,
    },
}

impl FaultRule {
    /// A rule answering `status` with `body` on `path`, `times` times.
    pub fn status(path: impl Into<String>, status: u16, body: impl Into<String>) -> Self {
        FaultRule {
            path: Some(path.into()),
            action: FaultAction {
                status: Some(status),
                body: Some(body.into()),
                ..FaultAction::default()
            },
            ..FaultRule::default()
        }
    }

    /// Fire only for the next `n` matching requests.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// Checks the rule makes sense, naming the field that does not.
    pub fn validate(&self) -> Result<(), FaultError> {
        let a = &self.action;
        let kinds: Vec<&str> = [
            a.status.map(|_| "status"),
            a.fault.map(|_| "fault"),
            a.rate_limit.as_ref().map(|_| "rate_limit"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if kinds.len() > 1 {
            return Err(FaultError::Conflict(kinds.join(" and ")));
        }
        if kinds.is_empty() && a.delay.is_none() && a.dribble.is_none() {
            return Err(FaultError::EmptyAction);
        }
        if let Some(s) = a.status
            && !(100..=999).contains(&s)
        {
            return Err(FaultError::Invalid {
                field: "action.status",
                expected: "an HTTP status 100..=999",
                got: s.to_string(),
            });
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(FaultError::Invalid {
                field: "probability",
                expected: "between 0 and 1",
                got: p.to_string(),
            });
        }
        for (field, v) in [("times", self.times), ("every", self.every)] {
            if v == Some(0) {
                return Err(FaultError::Invalid {
                    field,
                    expected: "at least 1",
                    got: "0".into(),
                });
            }
        }
        if let Some(Delay::Uniform { min_ms, max_ms }) = &a.delay
            && min_ms > max_ms
        {
            return Err(FaultError::Invalid {
                field: "action.delay",
                expected: "min_ms <= max_ms",
                got: format!("{min_ms} > {max_ms}"),
            });
        }
        if let Some(Delay::Lognormal { median_ms, sigma }) = &a.delay
            && (*median_ms <= 0.0 || *sigma < 0.0 || !median_ms.is_finite() || !sigma.is_finite())
        {
            return Err(FaultError::Invalid {
                field: "action.delay",
                expected: "median_ms > 0 and sigma >= 0",
                got: format!("median_ms {median_ms}, sigma {sigma}"),
            });
        }
        if let Some(d) = &a.dribble
            && d.chunks == 0
        {
            return Err(FaultError::Invalid {
                field: "action.dribble.chunks",
                expected: "at least 1",
                got: "0".into(),
            });
        }
        if let Some(r) = &a.rate_limit
            && r.window_ms == 0
        {
            return Err(FaultError::Invalid {
                field: "action.rate_limit.window_ms",
                expected: "at least 1",
                got: "0".into(),
            });
        }
        Ok(())
    }

    fn is_rate_limit(&self) -> bool {
        self.action.rate_limit.is_some()
    }

    fn applies_to(&self, path: &str, key: Option<&str>) -> bool {
        let path_ok = match self.path.as_deref() {
            None => true,
            Some(p) => match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => p == path,
            },
        };
        let key_ok = match (self.write_key.as_deref(), key) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(want), Some(have)) => bool::from(want.as_bytes().ct_eq(have.as_bytes())),
        };
        path_ok && key_ok
    }
}

/// What the server must do for one request.
#[derive(Clone, Debug)]
pub(crate) struct Decision {
    pub rule_id: String,
    pub action: FaultAction,
    /// The sampled delay, if any.
    pub delay: Option<Duration>,
}

struct RuleState {
    rule: FaultRule,
    rng: StdRng,
    matched: u64,
    fired: u64,
    added: Instant,
    /// GCRA's theoretical arrival time of the next event (rate-limit rules).
    tat: Instant,
}

impl RuleState {
    fn active(&self, now: Instant) -> bool {
        self.rule.times.is_none_or(|t| self.fired < t)
            && self
                .rule
                .duration_ms
                .is_none_or(|d| now.duration_since(self.added) < Duration::from_millis(d))
    }

    fn sample_delay(&mut self) -> Option<Duration> {
        let ms = match self.rule.action.delay.as_ref()? {
            Delay::Fixed { ms } => *ms as f64,
            Delay::Uniform { min_ms, max_ms } => self.rng.random_range(*min_ms..=*max_ms) as f64,
            Delay::Lognormal { median_ms, sigma } => {
                // median * exp(sigma * z), z standard normal (Box-Muller).
                let u1: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
                let u2: f64 = self.rng.random::<f64>();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                median_ms * (sigma * z).exp()
            }
        };
        Some(Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 3600.0)))
    }
}

/// The live rule set.
#[derive(Default)]
pub(crate) struct Faults {
    rules: Mutex<Vec<RuleState>>,
    next_id: std::sync::atomic::AtomicU64,
}

/// A rule as listed by `GET /_mock/faults`: the rule (write key masked) and its counters.
#[derive(Clone, Debug, Serialize)]
pub struct FaultStatus {
    #[serde(flatten)]
    pub rule: FaultRule,
    /// Matching requests seen while the rule was active.
    pub matched: u64,
    /// Times it fired.
    pub fired: u64,
    /// Whether it can still fire.
    pub active: bool,
}

impl Faults {
    pub fn add(&self, mut rule: FaultRule) -> Result<String, FaultError> {
        rule.validate()?;
        let id = match &rule.id {
            Some(id) => id.clone(),
            None => {
                let n = self
                    .next_id
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                format!("fault-{n}")
            }
        };
        rule.id = Some(id.clone());
        let rng = match rule.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::seed_from_u64(rand::rng().random()),
        };
        let now = Instant::now();
        self.lock().push(RuleState {
            rule,
            rng,
            matched: 0,
            fired: 0,
            added: now,
            tat: now,
        });
        Ok(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RuleState>> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    pub fn list(&self) -> Vec<FaultStatus> {
        let now = Instant::now();
        self.lock()
            .iter()
            .map(|s| {
                let mut rule = s.rule.clone();
                rule.write_key = rule.write_key.map(|k| crate::redact::mask(&k));
                FaultStatus {
                    rule,
                    matched: s.matched,
                    fired: s.fired,
                    active: s.active(now),
                }
            })
            .collect()
    }

    /// The first non-rate-limit rule that fires for this request, in the order rules were added.
    pub fn decide(&self, path: &str, key: Option<&str>) -> Option<Decision> {
        let now = Instant::now();
        let mut rules = self.lock();
        for state in rules.iter_mut() {
            if state.rule.is_rate_limit() || !state.active(now) || !state.rule.applies_to(path, key)
            {
                continue;
            }
            state.matched += 1;
            if let Some(every) = state.rule.every
                && !state.matched.is_multiple_of(every)
            {
                continue;
            }
            if let Some(p) = state.rule.probability
                && state.rng.random::<f64>() >= p
            {
                continue;
            }
            state.fired += 1;
            let delay = state.sample_delay();
            return Some(Decision {
                rule_id: state.rule.id.clone().unwrap_or_default(),
                action: state.rule.action.clone(),
                delay,
            });
        }
        None
    }

    /// Charges `events` against every matching rate-limit rule; true when one is exhausted
    /// (then nothing is charged, like a refused GCRA request).
    pub fn rate_limited(&self, path: &str, key: Option<&str>, events: u64) -> bool {
        let now = Instant::now();
        let mut rules = self.lock();
        let mut charges = Vec::new();
        let mut limited = false;
        for (i, state) in rules.iter_mut().enumerate() {
            let Some(limit) = state.rule.action.rate_limit.clone() else {
                continue;
            };
            if !state.active(now) || !state.rule.applies_to(path, key) {
                continue;
            }
            match gcra(state.tat, now, &limit, events) {
                Some(tat) => charges.push((i, tat)),
                None => {
                    state.fired += 1;
                    limited = true;
                }
            }
        }
        if !limited {
            for (i, tat) in charges {
                rules[i].matched += 1;
                rules[i].tat = tat;
            }
        }
        limited
    }
}

/// GCRA: the new theoretical arrival time if `cost` events may pass now, `None` when limited.
/// Each event advances it by `window / events`; a request passes while it stays within
/// `(events + 1) * window / events` of now.
fn gcra(tat: Instant, now: Instant, limit: &RateLimit, cost: u64) -> Option<Instant> {
    let per_event = Duration::from_millis(limit.window_ms).div_f64(limit.events.max(1) as f64);
    let tolerance = per_event.mul_f64(limit.events as f64 + 1.0);
    let new_tat = tat.max(now) + per_event.mul_f64(cost as f64);
    (new_tat <= now + tolerance).then_some(new_tat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> FaultRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn brief_example_parses_and_fires_once() {
        let f = Faults::default();
        f.add(rule(r#"{"path":"/v1/batch","times":1,"action":{"status":503,"body":"Service Unavailable"}}"#)).unwrap();
        assert!(f.decide("/v1/track", None).is_none());
        let d = f.decide("/v1/batch", None).unwrap();
        assert_eq!(d.action.status, Some(503));
        assert!(f.decide("/v1/batch", None).is_none());
    }

    #[test]
    fn every_nth_and_write_key() {
        let f = Faults::default();
        f.add(rule(
            r#"{"write_key":"k1","every":3,"action":{"fault":"CONNECTION_RESET_BY_PEER"}}"#,
        ))
        .unwrap();
        let fired: Vec<bool> = (0..6)
            .map(|_| f.decide("/v1/batch", Some("k1")).is_some())
            .collect();
        assert_eq!(fired, [false, false, true, false, false, true]);
        assert!(f.decide("/v1/batch", Some("k2")).is_none());
        assert!(f.decide("/v1/batch", None).is_none());
    }

    #[test]
    fn probability_is_reproducible_with_seed() {
        let run = || {
            let f = Faults::default();
            f.add(rule(
                r#"{"probability":0.5,"seed":7,"action":{"status":500}}"#,
            ))
            .unwrap();
            (0..64)
                .map(|_| f.decide("/v1/batch", None).is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|x| **x).count();
        assert!((10..54).contains(&hits), "{hits}");
    }

    #[test]
    fn invalid_rules_name_the_problem() {
        let f = Faults::default();
        let e = f
            .add(rule(
                r#"{"action":{"status":500,"fault":"EMPTY_RESPONSE"}}"#,
            ))
            .unwrap_err();
        assert!(e.to_string().contains("status and fault"), "{e}");
        assert_eq!(
            f.add(rule(r#"{"action":{}}"#)).unwrap_err(),
            FaultError::EmptyAction
        );
        let e = f
            .add(rule(r#"{"probability":2,"action":{"status":500}}"#))
            .unwrap_err();
        assert!(e.to_string().contains("probability"));
        assert!(
            serde_json::from_str::<FaultRule>(r#"{"action":{"stauts":500}}"#)
                .unwrap_err()
                .to_string()
                .contains("stauts")
        );
    }

    #[test]
    fn rate_limit_counts_events_per_window() {
        let f = Faults::default();
        f.add(rule(
            r#"{"action":{"rate_limit":{"events":10,"window_ms":60000}}}"#,
        ))
        .unwrap();
        // Up to events + 1 at once; a refused request is not charged.
        assert!(!f.rate_limited("/v1/batch", None, 6));
        assert!(f.rate_limited("/v1/batch", None, 6));
        assert!(!f.rate_limited("/v1/batch", None, 5));
        assert!(f.rate_limited("/v1/batch", None, 1));
        assert!(f.decide("/v1/batch", None).is_none());
    }

    #[test]
    fn rate_limit_refills_continuously() {
        let limit = RateLimit {
            events: 10,
            window_ms: 1000,
        };
        let t0 = Instant::now();
        // 11 at once, then nothing until one event's share of the window (100 ms) has passed.
        let tat = gcra(t0, t0, &limit, 11).unwrap();
        assert!(gcra(tat, t0 + Duration::from_millis(99), &limit, 1).is_none());
        let tat = gcra(tat, t0 + Duration::from_millis(100), &limit, 1).unwrap();
        // After a whole idle window the full burst is back.
        assert!(gcra(tat, t0 + Duration::from_millis(1200), &limit, 11).is_some());
        assert!(gcra(tat, t0 + Duration::from_millis(1200), &limit, 12).is_none());
    }

    #[test]
    fn lognormal_delay_is_seeded() {
        let f = Faults::default();
        f.add(rule(
            r#"{"seed":1,"action":{"delay":{"kind":"lognormal","median_ms":50,"sigma":0.5}}}"#,
        ))
        .unwrap();
        let d = f.decide("/v1/batch", None).unwrap().delay.unwrap();
        assert!(
            d > Duration::from_millis(1) && d < Duration::from_secs(10),
            "{d:?}"
        );
    }

    #[test]
    fn duration_window_expires() {
        let f = Faults::default();
        f.add(rule(r#"{"duration_ms":50,"action":{"status":500}}"#))
            .unwrap();
        assert!(f.decide("/v1/batch", None).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(f.decide("/v1/batch", None).is_none());
        assert!(!f.list()[0].active);
    }

    #[test]
    fn uniform_delay_stays_in_range_and_path_prefix_matches() {
        let f = Faults::default();
        f.add(rule(r#"{"path":"/v1/*","seed":3,"action":{"status":502,"delay":{"kind":"uniform","min_ms":10,"max_ms":20}}}"#)).unwrap();
        assert!(f.decide("/beacon/v1/batch", None).is_none());
        for _ in 0..20 {
            let d = f.decide("/v1/track", None).unwrap().delay.unwrap();
            assert!(
                (Duration::from_millis(10)..=Duration::from_millis(20)).contains(&d),
                "{d:?}"
            );
        }
    }
}
