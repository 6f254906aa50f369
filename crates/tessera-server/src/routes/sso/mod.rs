//! Single sign-on in the browser: `GET /authorize` (the hosted login page,
//! the consent page, or straight back with a code when the browser is
//! signed in) and `POST /authorize` (the login and consent forms); the
//! cookies and CSRF check are `crate::browser`'s, RP-initiated logout
//! `sign_out.rs`'s.

pub mod sign_out;

pub use crate::browser::{CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE, csrf_cookie, session_cookie};
use crate::browser::{
    PageForm, RETURN_TO, browser_session, cookie, csrf_ok, encode, page_failure, set_cookie,
};

use crate::extract::Client;
use crate::pages::{self, CodeForm, Hidden, LoginForm, Site, words};
use crate::routes::oauth::OAuthForm;
use crate::routes::sign_in::{
    EnrolStep, Next, Outcome, SecondStep, enrol_step, take_step, with_retry_after,
    with_session_cookie,
};
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_core::Error;
use tessera_core::oauth::{OAuthError, OAuthErrorCode};
use tessera_core::secret::ExposeSecret;
use tessera_core::service::{AuthorizationRequest, AuthorizeError, Prompt, ValidAuthorization};
use tessera_core::store::BrowserSession;
use tessera_token::crypto::{b64url, random_bytes};

/// The authorization-request parameters carried through the login form.
const REQUEST_FIELDS: [&str; 11] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "response_mode",
    "max_age",
];
/// A 303 to `uri` with `params` added to its query.
pub(super) fn redirect_to(site: &Site, uri: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(uri) else {
        return pages::message(
            site,
            StatusCode::BAD_REQUEST,
            "Cannot continue",
            "The redirect address is not valid.",
        );
    };
    if !params.is_empty() {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(url.as_str()) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn request_from(form: &OAuthForm) -> AuthorizationRequest {
    let get = |k: &str| form.get(k).map(str::to_owned);
    AuthorizationRequest {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        response_type: get("response_type"),
        scope: get("scope"),
        state: get("state"),
        nonce: get("nonce"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        prompt: get("prompt"),
        response_mode: get("response_mode"),
        max_age: get("max_age"),
    }
}

/// An authorization error: a page when the client cannot be trusted,
/// otherwise a redirect to the client with the error (and `iss`, RFC 9207).
fn authorize_error(state: &AppState, e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Page(message) => pages::message(
            &state.site,
            StatusCode::BAD_REQUEST,
            "This sign-in link cannot be used",
            &message,
        ),
        AuthorizeError::Redirect {
            redirect_uri,
            state: client_state,
            error,
        } => {
            let issuer = &state.tessera.settings().issuer;
            let mut params = vec![
                ("error", error.code.as_str()),
                ("error_description", error.description.as_ref()),
            ];
            if let Some(s) = &client_state {
                params.push(("state", s));
            }
            params.push(("iss", issuer));
            redirect_to(&state.site, &redirect_uri, &params)
        }
        AuthorizeError::Internal(e) => page_failure(&state.site, &e),
    }
}

/// Redirects back to the client with a fresh code for a signed-in browser.
async fn answer_with_code(
    state: &AppState,
    request: &ValidAuthorization,
    browser: &BrowserSession,
) -> Response {
    let code = match state
        .tessera
        .sso()
        .issue_authorization_code(request, browser)
        .await
    {
        Ok(code) => code,
        Err(e) => return page_failure(&state.site, &e),
    };
    let issuer = &state.tessera.settings().issuer;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    redirect_to(&state.site, &request.redirect_uri, &params)
}

/// The login form, carrying the request and a CSRF token (reusing the
/// browser's, or setting a new one).
fn login_form(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
    request: &ValidAuthorization,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let (csrf, hidden) = request_fields(state, headers, form);
    let username = form.get("username").unwrap_or("");
    let asks = request.privileges();
    // A newcomer may sign up and come back to this very request (signed
    // in by then, so without `prompt`).
    let register = state.tessera.settings().allow_registration.then(|| {
        let back = continue_path(form);
        format!("/register?{}", encode(&[(RETURN_TO, back.as_str())]))
    });
    let mut response = pages::login(
        &state.site,
        status,
        &LoginForm {
            app: Some(&request.client.name),
            action: "/authorize",
            hidden: &hidden,
            username,
            error,
            asks: &asks,
            register: register.as_deref(),
            passkeys: state.tessera.passkeys().available(),
            forgot: state.tessera.email().available(),
        },
    );
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(state, &csrf_cookie(state), &csrf, 3600, "Strict"),
    );
    response
}

/// The CSRF token to use (the browser's, or a new one) and the hidden
/// fields that carry the authorization request and that token.
fn request_fields(state: &AppState, headers: &HeaderMap, form: &OAuthForm) -> (String, Hidden) {
    let csrf = cookie(headers, &csrf_cookie(state))
        .filter(|c| c.len() == 43)
        .unwrap_or_else(|| b64url(random_bytes::<32>()));
    let mut hidden: Hidden = REQUEST_FIELDS
        .iter()
        .filter_map(|k| form.get(k).map(|v| (*k, v)))
        .collect();
    hidden.push(CSRF_FIELD, &csrf);
    (csrf, hidden)
}

/// The second step of the hosted login page: a code for the sign-in
/// `mfa_token` names, carrying the request through, with `error` shown.
fn code_form(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
    request: &ValidAuthorization,
    step: &SecondStep,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let (csrf, mut hidden) = request_fields(state, headers, form);
    step.push_to(&mut hidden);
    let request_only: Vec<(&str, &str)> = REQUEST_FIELDS
        .iter()
        .filter_map(|k| form.get(k).map(|v| (*k, v)))
        .collect();
    let restart = format!("/authorize?{}", encode(&request_only));
    let mut response = pages::second_factor(
        &state.site,
        status,
        &CodeForm {
            app: Some(&request.client.name),
            action: "/authorize",
            hidden: &hidden,
            error,
            restart: &restart,
            passkey: step.passkey,
        },
    );
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(state, &csrf_cookie(state), &csrf, 3600, "Strict"),
    );
    response
}

/// The set-up of the factor the policy demands, in the middle of an
/// application's sign-in (the request goes along); with `refusal`, the
/// same set-up again (from what the form carried) with the refusal shown.
async fn enrol_form(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
    request: &ValidAuthorization,
    token: &str,
    refusal: Option<&str>,
) -> Response {
    let (csrf, hidden) = request_fields(state, headers, form);
    let restart = continue_path(form);
    let step = EnrolStep {
        app: Some(&request.client.name),
        action: "/authorize",
        restart: &restart,
        hidden,
    };
    match enrol_step(state, step, token, form, refusal).await {
        Ok(mut response) => {
            response.headers_mut().append(
                SET_COOKIE,
                set_cookie(state, &csrf_cookie(state), &csrf, 3600, "Strict"),
            );
            response
        }
        Err(Error::InvalidMfaToken) => login_form(
            state,
            headers,
            form,
            request,
            StatusCode::UNAUTHORIZED,
            Some(words::SIGN_IN_EXPIRED),
        ),
        Err(e) => page_failure(&state.site, &e),
    }
}

/// `/authorize` with the request `form` carries, but without `prompt` and
/// `max_age` (a sign-in just made answers both): for a browser signed in by
/// then, the way back to the application.
fn continue_path(form: &OAuthForm) -> String {
    let request: Vec<(&str, &str)> = REQUEST_FIELDS
        .iter()
        .filter(|k| **k != "prompt" && **k != "max_age")
        .filter_map(|k| form.get(k).map(|v| (*k, v)))
        .collect();
    format!("/authorize?{}", encode(&request))
}

/// Asks a signed-in person to allow what the application asks to do with
/// Tessera itself (a privileged scope is never granted silently).
fn consent_form(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
    request: &ValidAuthorization,
    username: &str,
) -> Response {
    let (csrf, hidden) = request_fields(state, headers, form);
    let mut response = pages::consent(
        &state.site,
        &request.client.name,
        username,
        &hidden,
        &request.privileges(),
    );
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(state, &csrf_cookie(state), &csrf, 3600, "Strict"),
    );
    response
}

/// `GET /authorize` — the OpenID Connect authorization endpoint.
#[utoipa::path(get, path = "/authorize", tag = "oauth",
    responses((status = 200, description = "the login page, or for a signed-in browser the consent page of a request for a privileged scope (text/html)"),
              (status = 303, description = "back to the client with a code, or with an error"),
              (status = 400, description = "an error page: unknown client or unregistered redirect_uri")))]
pub async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(form) = OAuthForm::parse(query.unwrap_or_default().as_bytes()) else {
        return pages::message(
            &state.site,
            StatusCode::BAD_REQUEST,
            "This sign-in link cannot be used",
            "The request repeats a parameter.",
        );
    };
    let request = match state
        .tessera
        .sso()
        .validate_authorization(&request_from(&form))
        .await
    {
        Ok(r) => r,
        Err(e) => return authorize_error(&state, e),
    };
    if request.prompt != Prompt::Login {
        let signed_in = match browser_session(&state, &headers).await {
            Ok(s) => s,
            Err(e) => return page_failure(&state.site, &e),
        };
        // A sign-in older than `max_age` counts as none: the password (and
        // the second factor) are asked for again.
        let now = state.tessera.clock().now_ms();
        let signed_in = signed_in.filter(|(b, _)| request.fresh_enough(b.auth_time, now));
        if let Some((browser, user)) = signed_in {
            if request.privileges().is_empty() {
                return answer_with_code(&state, &request, &browser).await;
            }
            // Power over Tessera itself is never handed out silently: the
            // person sees what the application asks for and allows it.
            if request.prompt == Prompt::None {
                return redirect_with_error(
                    &state,
                    request,
                    OAuthErrorCode::ConsentRequired,
                    "the request needs the person's consent",
                );
            }
            return consent_form(&state, &headers, &form, &request, &user.username);
        }
    }
    if request.prompt == Prompt::None {
        return redirect_with_error(
            &state,
            request,
            OAuthErrorCode::LoginRequired,
            "nobody is signed in",
        );
    }
    login_form(&state, &headers, &form, &request, StatusCode::OK, None)
}

/// Back to the client with an error of the authorization request.
fn redirect_with_error(
    state: &AppState,
    request: ValidAuthorization,
    code: OAuthErrorCode,
    description: &'static str,
) -> Response {
    authorize_error(
        state,
        AuthorizeError::Redirect {
            redirect_uri: request.redirect_uri,
            state: request.state,
            error: OAuthError::new(code, description),
        },
    )
}

/// `POST /authorize` — the login form's submission, or the consent form's.
#[utoipa::path(post, path = "/authorize", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "username, password (or consent), csrf_token and the authorization request"),
    responses((status = 303, description = "signed in (or allowed): back to the client with a code; refused: back with access_denied"),
              (status = 400, description = "the form again: username or password missing"),
              (status = 401, description = "the form again, with an error"),
              (status = 403, description = "the form again: the CSRF token did not match"),
              (status = 429, description = "the form again: too many attempts")))]
pub async fn submit_login(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Response {
    let request = match state
        .tessera
        .sso()
        .validate_authorization(&request_from(&form))
        .await
    {
        Ok(r) => r,
        Err(e) => return authorize_error(&state, e),
    };
    if !csrf_ok(&state, &headers, &form) {
        let message = "The sign-in form expired. Please try again.";
        return login_form(
            &state,
            &headers,
            &form,
            &request,
            StatusCode::FORBIDDEN,
            Some(message),
        );
    }
    // A browser signed in already (prompt=login, or the consent form) keeps its session.
    let current = match browser_session(&state, &headers).await {
        Ok(s) => s.map(|(b, _)| b),
        Err(e) => return page_failure(&state.site, &e),
    };
    if let Some(consent) = form.get("consent") {
        return match (consent, current) {
            ("allow", Some(browser)) => answer_with_code(&state, &request, &browser).await,
            ("allow", None) => login_form(
                &state,
                &headers,
                &form,
                &request,
                StatusCode::OK,
                Some("Your session ended. Please sign in again."),
            ),
            _ => redirect_with_error(
                &state,
                request,
                OAuthErrorCode::AccessDenied,
                "the person did not allow the request",
            ),
        };
    }
    let outcome = take_step(&state.tessera, &form, &client, current.as_ref()).await;
    state.metrics.count_outcome("page_sign_in", outcome.label());
    match outcome {
        Outcome::SignedIn {
            browser,
            cookie,
            codes: None,
        } => {
            let response = answer_with_code(&state, &request, &browser).await;
            with_session_cookie(&state, response, &browser, cookie.as_deref())
        }
        // A factor set up during this sign-in: its recovery codes first,
        // then on to the application.
        Outcome::SignedIn {
            browser,
            cookie,
            codes: Some(codes),
        } => {
            let codes: Vec<&str> = codes.iter().map(|c| c.expose_secret()).collect();
            let page = pages::first_codes(&state.site, &codes, &continue_path(&form));
            with_session_cookie(&state, page, &browser, cookie.as_deref())
        }
        Outcome::Next(Next::Password {
            status,
            message,
            retry_after,
            ..
        }) => {
            let page = login_form(&state, &headers, &form, &request, status, Some(&message));
            match retry_after {
                Some(seconds) => with_retry_after(page, seconds),
                None => page,
            }
        }
        Outcome::Next(Next::Code {
            step,
            status,
            message,
            retry_after,
        }) => {
            let page = code_form(
                &state,
                &headers,
                &form,
                &request,
                &step,
                status,
                message.as_deref(),
            );
            match retry_after {
                Some(seconds) => with_retry_after(page, seconds),
                None => page,
            }
        }
        Outcome::Next(Next::Enrol { token, refusal }) => {
            enrol_form(&state, &headers, &form, &request, &token, refusal).await
        }
        Outcome::Next(Next::Failure(e)) => page_failure(&state.site, &e),
    }
}
