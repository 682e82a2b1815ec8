//! Write-back steps: log in through the OAuth provider, revoke tokens, replace Looker's user
//! state, check the hub's database.

use serde_json::json;

use super::Run;
use crate::checks::{check_breaches, check_login, check_rows};
use crate::classes::FailureClass;
use crate::format::{LoginExpect, LoginStep, RevokeStep, SetStateStep, WritebackExpect};
use crate::harness::{Harness, LoginRequest};
use crate::outcome::Failure;

/// `login`: follow the form's `oauth_link` as a user with the scripted browser.
pub(crate) async fn login<H: Harness>(
    run: &mut Run<'_, H>,
    at: &str,
    l: &LoginStep,
) -> anyhow::Result<()> {
    let Run {
        h,
        ctx,
        record,
        failures,
        ..
    } = run;
    let res = h
        .login(LoginRequest {
            user: l.user.clone(),
            action: l.action.clone(),
            cell_value: l.cell_value.as_deref().map(|v| ctx.str(v)),
            tamper: l.tamper,
        })
        .await?;
    record.answers.push(json!({
        "step": at,
        "oauth_link": res.oauth_url.is_some(),
        "status": res.status,
        "body": res.body,
        "hops": res.hops,
        "state_stored": res.state_stored,
    }));
    check_breaches(at, &res.breaches, None, failures);
    check_login(
        at,
        &res,
        l.expect.as_ref().unwrap_or(&LoginExpect::default()),
        failures,
    );
    Ok(())
}

/// `revoke`: revoke a user's tokens at the provider, optionally counting the live ones.
pub(crate) async fn revoke<H: Harness>(
    run: &mut Run<'_, H>,
    at: &str,
    r: &RevokeStep,
) -> anyhow::Result<()> {
    let Run { h, failures, .. } = run;
    let n = h.revoke(r.user.clone()).await?;
    if let Some(want) = r.tokens
        && want != n
    {
        failures.push(Failure::plain(
            FailureClass::Harness,
            at.to_string(),
            format!(
                "the provider revoked {n} live token(s) of {}, expected {want}",
                r.user
            ),
        ));
    }
    Ok(())
}

/// `set_state`: replace or forget the state Looker keeps for a user and action.
pub(crate) async fn set_state<H: Harness>(
    run: &mut Run<'_, H>,
    st: &SetStateStep,
) -> anyhow::Result<()> {
    let Run { h, ctx, .. } = run;
    h.set_user_state(
        st.user.clone(),
        st.action.clone(),
        st.state.as_deref().map(|v| ctx.str(v)),
    )
    .await
}

/// `expect_writeback`: check the write-back table now.
pub(crate) async fn expect_writeback<H: Harness>(
    run: &mut Run<'_, H>,
    at: &str,
    e: &WritebackExpect,
) -> anyhow::Result<()> {
    let Run {
        h,
        ctx,
        failures,
        told_success,
        ..
    } = run;
    let rows = h.writeback_rows().await?;
    check_rows(at, &rows, e, ctx, *told_success, failures);
    Ok(())
}
