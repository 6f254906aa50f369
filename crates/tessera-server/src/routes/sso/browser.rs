//! The browser's side of single sign-on: the forms the hosted pages post,
//! the session and CSRF cookies (`__Host-` under an https issuer), the
//! double-submit CSRF check, and the browser session a cookie names.

use crate::pages;
use crate::routes::oauth::OAuthForm;
use crate::state::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use tessera_core::Error;
use tessera_core::store::BrowserSession;
use tessera_token::crypto::constant_time_eq;

/// The cookie naming the browser's single sign-on session.
pub const SESSION_COOKIE: &str = "tessera_session";
/// The cookie holding the login form's CSRF token (double submit).
pub const CSRF_COOKIE: &str = "tessera_csrf";
/// The prefix that pins a cookie to this host (RFC 6265bis §4.1.3.2): the
/// browser accepts it only with `Secure`, `Path=/` and no `Domain`, so a
/// sibling subdomain cannot plant its own session or CSRF cookie. Browsers
/// honour it only over https, so it is used when the issuer is https.
const HOST_PREFIX: &str = "__Host-";

/// A form one of the hosted pages posted. A body that is not a form, or
/// repeats a field, is answered with a page, as everything a browser sees.
pub struct PageForm(pub OAuthForm);

impl FromRequest<AppState> for PageForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        OAuthForm::from_request(request, state)
            .await
            .map(PageForm)
            .map_err(|e| {
                pages::message(
                    StatusCode::BAD_REQUEST,
                    "This form cannot be used",
                    &format!("{}. Please go back and try again.", e.error.description),
                )
            })
    }
}

/// Whether the issuer is https (cookies are then `Secure` and `__Host-`).
pub(super) fn is_https(state: &AppState) -> bool {
    state.tessera.settings().issuer.starts_with("https://")
}

/// The name of the browser-session cookie for this deployment.
pub fn session_cookie(state: &AppState) -> String {
    if is_https(state) {
        format!("{HOST_PREFIX}{SESSION_COOKIE}")
    } else {
        SESSION_COOKIE.to_owned()
    }
}

/// The name of the CSRF cookie for this deployment.
pub fn csrf_cookie(state: &AppState) -> String {
    if is_https(state) {
        format!("{HOST_PREFIX}{CSRF_COOKIE}")
    } else {
        CSRF_COOKIE.to_owned()
    }
}
/// The form field that repeats the CSRF cookie.
pub const CSRF_FIELD: &str = "csrf_token";

/// The value of cookie `name`.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: `HttpOnly`, `Path=/`, `Secure` when the issuer is
/// https; `max_age` 0 deletes it.
pub(super) fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: i64,
    same_site: &str,
) -> HeaderValue {
    let secure = if is_https(state) { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Whether the form's CSRF token repeats the cookie.
pub(super) fn csrf_ok(state: &AppState, headers: &HeaderMap, form: &OAuthForm) -> bool {
    match (cookie(headers, &csrf_cookie(state)), form.get(CSRF_FIELD)) {
        (Some(c), Some(f)) => c.len() == 43 && constant_time_eq(c.as_bytes(), f.as_bytes()),
        _ => false,
    }
}

/// The browser's single sign-on session and its person, if it has one.
pub(super) async fn browser_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(BrowserSession, tessera_core::model::User)>, Error> {
    match cookie(headers, &session_cookie(state)) {
        Some(c) => state.tessera.sso().sso_session(&c).await,
        None => Ok(None),
    }
}
