//! Every matcher a scenario's expectations use must be well formed; checked once at load time
//! so that a typo in `{match: …}` names its step instead of failing the run.

use serde_json::Value;

use super::Scenario;
use super::expect::{EventsExpect, WritebackExpect};
use super::kinds::validate_kinds;
use super::steps::Step;
use crate::matcher;

/// Validate every matcher in a scenario's expectations (called by the loader).
pub(crate) fn validate_tree(scenario: &Scenario) -> Result<(), String> {
    let check = |what: &str, v: &Value| matcher::validate(v).map_err(|e| format!("{what}: {e}"));
    let check_rows = |what: &str, e: &WritebackExpect| -> Result<(), String> {
        for (i, item) in e.items.iter().enumerate() {
            check(&format!("{what} items[{i}]"), &Value::Object(item.clone()))?;
        }
        if let Some(each) = &e.each {
            check(&format!("{what} each"), &Value::Object(each.clone()))?;
        }
        Ok(())
    };
    let check_items = |what: &str, e: &EventsExpect| -> Result<(), String> {
        for (i, item) in e.items.iter().enumerate() {
            check(&format!("{what} items[{i}]"), &Value::Object(item.clone()))?;
        }
        if let Some(each) = &e.each {
            check(&format!("{what} each"), &Value::Object(each.clone()))?;
        }
        Ok(())
    };
    for (i, step) in scenario.steps.iter().enumerate() {
        let what = format!("step {} ({})", i + 1, step.label());
        match step {
            Step::Send(s) => {
                if let Some(e) = &s.expect {
                    validate_kinds("send.expect", &e.kinds).map_err(|e| format!("{what}: {e}"))?;
                    if let Some(m) = &e.message {
                        check(&what, m)?;
                    }
                    if let Some(b) = &e.body {
                        check(&what, b)?;
                    }
                    if let Some(v) = &e.validation_errors {
                        check(&what, v)?;
                    }
                }
            }
            Step::FetchForm(s) => {
                if let Some(e) = &s.expect {
                    validate_kinds("fetch_form.expect", &e.kinds)
                        .map_err(|e| format!("{what}: {e}"))?;
                    if let Some(b) = &e.body {
                        check(&what, b)?;
                    }
                    for (name, f) in &e.fields {
                        check(&format!("{what} fields.{name}"), f)?;
                    }
                }
            }
            Step::ListActions(s) => {
                for v in s.actions.values() {
                    check(&what, v)?;
                }
            }
            Step::Raw(s) => {
                validate_kinds("raw", &s.kinds).map_err(|e| format!("{what}: {e}"))?;
                if let Some(r) = &s.response {
                    check(&what, r)?;
                }
            }
            Step::ExpectEvents(e) => check_items(&what, e)?,
            Step::ExpectWriteback(e) => check_rows(&what, e)?,
            _ => {}
        }
    }
    if let Some(fe) = &scenario.expect {
        validate_kinds("expect", &fe.kinds).map_err(|e| format!("expect: {e}"))?;
        for (i, e) in fe.events.iter().enumerate() {
            check_items(&format!("expect.events[{i}]"), e)?;
        }
        if let Some(w) = &fe.writeback {
            check_rows("expect.writeback", w)?;
        }
    }
    Ok(())
}
