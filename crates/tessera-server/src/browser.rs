//! The browser's side of Tessera: the forms the pages post, the session and
//! CSRF cookies (`__Host-` under an https issuer), the double-submit CSRF
//! check of the sign-in forms, the browser session a cookie names, and the
//! signed-in [`Person`] of Tessera's own pages with the CSRF token bound to
//! their session.

use crate::pages;
use crate::routes::oauth::OAuthForm;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CACHE_CONTROL, COOKIE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_core::Error;
use tessera_core::model::User;
use tessera_core::service::Caller;
use tessera_core::store::BrowserSession;
use tessera_token::crypto::{b64url, constant_time_eq, sha256};

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
                    &state.site,
                    StatusCode::BAD_REQUEST,
                    "This form cannot be used",
                    &format!("{}. Please go back and try again.", e.error.description),
                )
            })
    }
}

/// Whether the issuer is https (cookies are then `Secure` and `__Host-`).
pub fn is_https(state: &AppState) -> bool {
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
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
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
pub fn set_cookie(
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
pub fn csrf_ok(state: &AppState, headers: &HeaderMap, form: &OAuthForm) -> bool {
    match (cookie(headers, &csrf_cookie(state)), form.get(CSRF_FIELD)) {
        (Some(c), Some(f)) => c.len() == 43 && constant_time_eq(c.as_bytes(), f.as_bytes()),
        _ => false,
    }
}

/// The browser's single sign-on session and its person, if it has one.
pub async fn browser_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(BrowserSession, tessera_core::model::User)>, Error> {
    match cookie(headers, &session_cookie(state)) {
        Some(c) => state.tessera.sso().sso_session(&c).await,
        None => Ok(None),
    }
}

/// Someone signed in on Tessera's own pages (`/account`, `/console`): their
/// browser session, their account as it is now (a role removed or an
/// account disabled counts at once), and the CSRF token their forms carry.
/// Without a live browser session a page answers with a redirect to the
/// login page, which brings the person back.
#[derive(Debug, Clone)]
pub struct Person {
    /// Their account.
    pub user: User,
    /// The browser session they act from.
    pub browser: BrowserSession,
    /// The CSRF token of this browser session's forms.
    pub csrf: String,
}

impl Person {
    /// Who they are to the domain: the browser they act from is theirs.
    pub fn caller(&self) -> Caller {
        Caller {
            user_id: self.user.id,
            session_id: None,
            browser_session_id: Some(self.browser.id),
            is_admin: self.user.is_admin(),
        }
    }
}

/// The CSRF token of the forms of the browser session `cookie` names: only
/// what holds the cookie (which scripts cannot read) can know it, and it
/// needs no storage.
fn session_csrf(cookie: &str) -> String {
    b64url(sha256(format!("tessera page forms\0{cookie}").as_bytes()))
}

/// A 303 to `location`, never cached.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/account")),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Signed out: the session cookie cleared, to the login page.
pub fn signed_out(state: &AppState) -> Response {
    let mut response = see_other("/login");
    response.headers_mut().append(
        axum::http::header::SET_COOKIE,
        set_cookie(state, &session_cookie(state), "", 0, "Lax"),
    );
    response
}

/// To the login page, coming back to the page asked for (a page read with
/// `GET`; after a form, to the account page).
fn sign_in_first(parts: &Parts) -> Response {
    let back = if parts.method == Method::GET {
        parts
            .uri
            .path_and_query()
            .map_or("/account", |p| p.as_str())
    } else {
        "/account"
    };
    see_other(&format!(
        "/login?{}",
        encode(&[(RETURN_TO, return_to(Some(back)))])
    ))
}

impl FromRequestParts<AppState> for Person {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(cookie) = cookie(&parts.headers, &session_cookie(state)) else {
            return Err(sign_in_first(parts));
        };
        let sso = state.tessera.sso();
        match sso.sso_session(&cookie).await {
            Ok(Some((browser, user))) => {
                if let Err(e) = sso.browser_seen(&browser).await {
                    tracing::warn!(cause = %e, "could not note a browser's use");
                }
                Ok(Person {
                    user,
                    browser,
                    csrf: session_csrf(&cookie),
                })
            }
            Ok(None) => Err(sign_in_first(parts)),
            Err(e) => Err(page_failure(&state.site, &e)),
        }
    }
}

/// A form a signed-in person posted on Tessera's own pages, with the CSRF
/// token of their session (else `403`, and nothing changes).
pub struct PersonForm {
    /// Who posted it.
    pub person: Person,
    /// What they posted.
    pub form: OAuthForm,
}

impl FromRequest<AppState> for PersonForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let person = Person::from_request_parts(&mut parts, state).await?;
        let PageForm(form) =
            PageForm::from_request(Request::from_parts(parts, body), state).await?;
        let sent = form.get(CSRF_FIELD).unwrap_or_default();
        if !constant_time_eq(sent.as_bytes(), person.csrf.as_bytes()) {
            return Err(pages::message(
                &state.site,
                StatusCode::FORBIDDEN,
                "This form has expired",
                "Nothing was changed. Go back, reload the page and try again.",
            ));
        }
        Ok(PersonForm { person, form })
    }
}

/// The page for an internal failure; the cause is logged, never shown.
pub fn page_failure(site: &pages::Site, e: &Error) -> Response {
    if matches!(
        e,
        Error::Store(tessera_core::store::StoreError::Unavailable)
    ) {
        tracing::warn!("a page could not reach the database");
        let mut page = pages::message(
            site,
            StatusCode::SERVICE_UNAVAILABLE,
            "Not available right now",
            "This service cannot reach its database at the moment. Please try again in a few seconds.",
        );
        page.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(crate::error::UNAVAILABLE_RETRY_AFTER),
        );
        return page;
    }
    tracing::error!(cause = %e, "internal error on a page");
    pages::message(
        site,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again in a moment.",
    )
}

/// The query parameter (or hidden field) naming the page to come back to
/// after signing in.
pub const RETURN_TO: &str = "return_to";

/// Where to go after signing in: `asked` if it is a path on this site (it
/// starts with `/` but not `//` or `/\`, and holds no control character),
/// else `/account`.
pub fn return_to(asked: Option<&str>) -> &str {
    match asked {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 2048
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/account",
    }
}

/// `pairs` as `application/x-www-form-urlencoded` (a query string).
pub fn encode(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_returned_to() {
        for good in [
            "/account",
            "/console/users?q=a",
            "/authorize?client_id=x&state=%2F%2F",
        ] {
            assert_eq!(return_to(Some(good)), good);
        }
        for bad in [
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "account",
            "",
            "/a\r\nSet-Cookie: x=y",
        ] {
            assert_eq!(return_to(Some(bad)), "/account", "{bad:?}");
        }
        assert_eq!(return_to(None), "/account");
    }
}
