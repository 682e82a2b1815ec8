//! The mock OAuth provider's sign-in and consent page (`GET /oauth/authorize` opened by a
//! browser): a person types a user name and clicks "Allow" or "Deny", and the form posts back
//! to `/oauth/authorize` with the authorization request's parameters, as a real provider's
//! login page does.

use std::collections::HashMap;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serving::page::esc;

/// Parameters of the page's own form, not carried over from the authorization request.
const OWN_FIELDS: [&str; 2] = ["login_as", "decision"];

/// The page for the authorization request `q`; `error` says why the last attempt failed.
pub(crate) fn sign_in(
    q: &HashMap<String, String>,
    users: &[String],
    error: Option<&str>,
) -> Response {
    let mut keys: Vec<&String> = q
        .keys()
        .filter(|k| !OWN_FIELDS.contains(&k.as_str()))
        .collect();
    keys.sort();
    let hidden: String = keys
        .iter()
        .map(|k| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                esc(k),
                esc(&q[*k])
            )
        })
        .collect();
    let client = q.get("client_id").map(String::as_str).unwrap_or("");
    let scope = q.get("scope").map(String::as_str).unwrap_or("orders.write");
    let back_to = q
        .get("redirect_uri")
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let typed = q.get("login_as").map(String::as_str).unwrap_or("");
    let error = error
        .map(|e| {
            format!(
                "<p class=\"bad\" role=\"alert\" id=\"sign-in-error\">{}</p>\n",
                esc(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<div class=\"card\" style=\"max-width: 34rem\">\n\
         <p><b>{client}</b> wants to act on your behalf: scope <code>{scope}</code>. After you \
         answer, you go back to <code>{back_to}</code>.</p>\n{error}\
         <form method=\"post\" action=\"/oauth/authorize\" id=\"consent\">\n{hidden}\
         <label for=\"login_as\">User name</label>\n\
         <p class=\"hint\" id=\"users-hint\">This mock knows: {users}.</p>\n\
         <input type=\"text\" id=\"login_as\" name=\"login_as\" value=\"{typed}\" autocomplete=\"username\" \
         aria-describedby=\"users-hint\" autofocus>\n\
         <div><button type=\"submit\" name=\"decision\" value=\"allow\" id=\"allow\" class=\"primary\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></div>\n\
         </form></div>\n",
        client = esc(client),
        scope = esc(scope),
        back_to = esc(&back_to),
        users = esc(&users.join(", ")),
        typed = esc(typed),
    );
    let html = serving::page::document("Sign in to the mock OAuth provider", &[], "", &body);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // A consent page must not be framed (clickjacking), as real providers ensure.
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        html,
    )
        .into_response()
}
