//! Steps on the data plane: fault rules, resetting events, waiting, checking events now.

use std::time::Duration;

use serde_json::Value;

use super::Run;
use crate::checks::{DEFAULT_EVENT_WAIT, check_events};
use crate::classes::FailureClass;
use crate::format::{EventsExpect, WaitStep};
use crate::harness::Harness;
use crate::outcome::Failure;

/// `fault`: add a fault rule (same JSON as `POST /_mock/faults`).
pub(crate) async fn fault<H: Harness>(run: &mut Run<'_, H>, rule: &Value) -> anyhow::Result<()> {
    run.h.add_fault(run.ctx.value(rule)).await
}

/// `clear_faults`: remove every fault rule.
pub(crate) async fn clear_faults<H: Harness>(run: &mut Run<'_, H>) -> anyhow::Result<()> {
    run.h.clear_faults().await
}

/// `reset_events`: delete every stored event.
pub(crate) async fn reset_events<H: Harness>(run: &mut Run<'_, H>) -> anyhow::Result<()> {
    run.h.reset_events().await
}

/// `wait`: for a number of matching events (a failure when they do not come), or a plain sleep.
pub(crate) async fn wait<H: Harness>(
    run: &mut Run<'_, H>,
    at: &str,
    w: &WaitStep,
) -> anyhow::Result<()> {
    let Run {
        h,
        ctx,
        failures,
        told_success,
        ..
    } = run;
    match w.events {
        Some(n) => {
            let timeout =
                w.ms.map(Duration::from_millis)
                    .unwrap_or(DEFAULT_EVENT_WAIT);
            if let Err(seen) = h.wait_for(n, ctx.filter(&w.filter), timeout).await? {
                failures.push(Failure::plain(
                    FailureClass::loss(*told_success),
                    at.to_string(),
                    format!(
                        "waited {} ms for {n} event(s), {seen} arrived",
                        timeout.as_millis()
                    ),
                ));
            }
        }
        None => tokio::time::sleep(Duration::from_millis(w.ms.unwrap_or(0))).await,
    }
    Ok(())
}

/// `expect_events`: check the stored events now.
pub(crate) async fn expect_events<H: Harness>(
    run: &mut Run<'_, H>,
    at: &str,
    e: &EventsExpect,
) -> anyhow::Result<()> {
    check_events(run.h, at, e, &run.ctx, run.told_success, &mut run.failures).await
}
