//! Signing in to Tessera's own pages: `GET /` (to the account), `/login`
//! (the hosted login page on its own, coming back to the page asked for;
//! its steps are `steps.rs`'s), `/register` (sign-up, when registration is
//! open) and signing out.

pub(crate) mod steps;

pub(crate) use steps::{
    ENROLLMENT_TOKEN_FIELD, MFA_TOKEN_FIELD, Next, Outcome, SecondStep, take_step,
};

use crate::browser::{
    CSRF_FIELD, PageForm, PersonForm, RETURN_TO, browser_session, cookie, csrf_cookie, csrf_ok,
    encode, page_failure, return_to, see_other, session_cookie, set_cookie, signed_out,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Client, Query};
use crate::pages::{
    self, CodeForm, EnrolForm, FieldErrors, Hidden, LoginForm, RegisterForm, words,
};
use crate::routes::no_store;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tessera_core::Error;
use tessera_core::secret::{ExposeSecret, SecretString};
use tessera_core::service::NewAccount;
use tessera_core::store::BrowserSession;
use tessera_token::crypto::{b64url, random_bytes};

/// The page a sign-in comes back to.
#[derive(Debug, Default, Deserialize)]
pub struct ReturnTo {
    return_to: Option<String>,
}

/// `GET /` — the account page.
pub async fn home() -> Response {
    see_other("/account")
}

/// The CSRF token of a sign-in form (the browser's, or a new one) and the
/// hidden fields that carry it and the page to come back to.
fn sign_in_fields(state: &AppState, headers: &HeaderMap, back: &str) -> (String, Hidden) {
    let csrf = cookie(headers, &csrf_cookie(state))
        .filter(|c| c.len() == 43)
        .unwrap_or_else(|| b64url(random_bytes::<32>()));
    let hidden: Hidden = [(CSRF_FIELD, csrf.as_str()), (RETURN_TO, back)]
        .into_iter()
        .collect();
    (csrf, hidden)
}

/// The link to the sign-up page when registration is open.
fn register_link(state: &AppState, back: &str) -> Option<String> {
    state
        .tessera
        .settings()
        .allow_registration
        .then(|| format!("/register?{}", encode(&[(RETURN_TO, back)])))
}

/// The login page with `status`, `username` filled in and `error` shown.
fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    back: &str,
    status: StatusCode,
    username: &str,
    error: Option<&str>,
) -> Response {
    let (csrf, hidden) = sign_in_fields(state, headers, back);
    let register = register_link(state, back);
    let mut response = pages::login(
        &state.site,
        status,
        &LoginForm {
            app: None,
            action: "/login",
            hidden: &hidden,
            username,
            error,
            asks: &[],
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

/// The second step of the login page with `status`: a code (or a passkey)
/// for the sign-in `step` names, with `error` shown.
fn code_page(
    state: &AppState,
    headers: &HeaderMap,
    back: &str,
    step: &SecondStep,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let (csrf, mut hidden) = sign_in_fields(state, headers, back);
    step.push_to(&mut hidden);
    let restart = format!("/login?{}", encode(&[(RETURN_TO, back)]));
    let mut response = pages::second_factor(
        &state.site,
        status,
        &CodeForm {
            app: None,
            action: "/login",
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

/// Where the set-up of a factor during a sign-in posts, and what it carries.
pub(crate) struct EnrolStep<'a> {
    /// The application being signed in to, if any.
    pub(crate) app: Option<&'a str>,
    /// `/login` or `/authorize`.
    pub(crate) action: &'a str,
    /// Where "Start over" leads.
    pub(crate) restart: &'a str,
    /// The CSRF token and the request (or the page to come back to).
    pub(crate) hidden: Hidden,
}

/// The set-up of the factor a sign-in needs: a new authenticator app for
/// the person of `token`, or — with `refusal`, after a wrong code — the one
/// `form` (the form that came back) names, with the refusal shown.
pub(crate) async fn enrol_step(
    state: &AppState,
    step: EnrolStep<'_>,
    token: &str,
    form: &crate::routes::oauth::OAuthForm,
    refusal: Option<&str>,
) -> Result<Response, Error> {
    let (factor, secret, uri) = match refusal {
        Some(_) => (
            form.get("factor").unwrap_or_default().to_owned(),
            form.get("secret").unwrap_or_default().to_owned(),
            form.get("uri").unwrap_or_default().to_owned(),
        ),
        None => {
            let started = state.tessera.factors().begin_totp_enrolling(token).await?;
            (
                started.factor.id.to_string(),
                started.secret.base32.expose_secret().to_owned(),
                started.secret.uri.expose_secret().to_owned(),
            )
        }
    };
    let label = format!("QR code to add {} to your app", state.site.name);
    let qr = crate::pages::security::qr_svg(&uri, &label).unwrap_or_default();
    let mut hidden = step.hidden;
    hidden.push(ENROLLMENT_TOKEN_FIELD, token);
    hidden.push("factor", &factor);
    hidden.push("secret", &secret);
    hidden.push("uri", &uri);
    let status = match refusal {
        Some(_) => StatusCode::UNAUTHORIZED,
        None => StatusCode::OK,
    };
    Ok(pages::enrol(
        &state.site,
        status,
        &EnrolForm {
            app: step.app,
            action: step.action,
            hidden: &hidden,
            qr_svg: &qr,
            secret: &secret,
            error: refusal,
            restart: step.restart,
        },
    ))
}

/// `response` with the session cookie of a browser session that just began.
pub(crate) fn with_session_cookie(
    state: &AppState,
    mut response: Response,
    browser: &BrowserSession,
    cookie_value: Option<&str>,
) -> Response {
    if let Some(value) = cookie_value {
        let max_age = (browser.expires_at - state.tessera.clock().now_ms()).div_euclid(1000);
        response.headers_mut().append(
            SET_COOKIE,
            set_cookie(state, &session_cookie(state), value, max_age, "Lax"),
        );
    }
    response
}

/// Signed in: the session cookie (for as long as the browser session
/// lasts), then on to `back`.
fn signed_in(
    state: &AppState,
    browser: &BrowserSession,
    cookie_value: Option<&str>,
    back: &str,
) -> Response {
    with_session_cookie(state, see_other(back), browser, cookie_value)
}

/// The set-up step of `/login` for the person of `token` (again, from
/// what `form` carried, with `refusal` shown).
async fn login_enrol_step(
    state: &AppState,
    headers: &HeaderMap,
    back: &str,
    token: &str,
    form: &crate::routes::oauth::OAuthForm,
    refusal: Option<&str>,
) -> Response {
    let (csrf, hidden) = sign_in_fields(state, headers, back);
    let restart = format!("/login?{}", encode(&[(RETURN_TO, back)]));
    let step = EnrolStep {
        app: None,
        action: "/login",
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
        Err(Error::InvalidMfaToken) => login_page(
            state,
            headers,
            back,
            StatusCode::UNAUTHORIZED,
            "",
            Some(words::SIGN_IN_EXPIRED),
        ),
        Err(e) => page_failure(&state.site, &e),
    }
}

/// `POST /login/passkey/options` — the WebAuthn options of signing in with
/// a passkey alone, for the sign-in pages' passkey button (the form's CSRF
/// token required).
pub async fn passkey_options(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    if !csrf_ok(&state, &headers, &form) {
        return Err(ApiError::forbidden(
            "the sign-in form expired; reload the page",
        ));
    }
    let options = state.tessera.passkeys().sign_in_options().await?;
    Ok(no_store(Json(json!({ "options": options }))))
}

/// `POST /login/mfa/options` — the WebAuthn options of a passkey as the
/// second step of the sign-in the form's `mfa_token` names.
pub async fn second_step_options(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> ApiResult<Response> {
    if !csrf_ok(&state, &headers, &form) {
        return Err(ApiError::forbidden(
            "the sign-in form expired; reload the page",
        ));
    }
    let mfa_token = form.get(MFA_TOKEN_FIELD).unwrap_or_default();
    let options = state.tessera.factors().passkey_options(mfa_token).await?;
    Ok(no_store(Json(json!({ "options": options }))))
}

/// `GET /login?return_to=PATH` — the login page; a browser already signed
/// in goes straight on.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ReturnTo>,
) -> Response {
    let back = return_to(query.return_to.as_deref()).to_owned();
    match browser_session(&state, &headers).await {
        Ok(Some(_)) => see_other(&back),
        Ok(None) => login_page(&state, &headers, &back, StatusCode::OK, "", None),
        Err(e) => page_failure(&state.site, &e),
    }
}

/// `POST /login` — the login form.
pub async fn submit_login(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Response {
    let back = return_to(form.get(RETURN_TO)).to_owned();
    let username = form.get("username").unwrap_or("");
    if !csrf_ok(&state, &headers, &form) {
        let message = "The sign-in form expired. Please try again.";
        return login_page(
            &state,
            &headers,
            &back,
            StatusCode::FORBIDDEN,
            username,
            Some(message),
        );
    }
    let current = match browser_session(&state, &headers).await {
        Ok(current) => current.map(|(browser, _)| browser),
        Err(e) => return page_failure(&state.site, &e),
    };
    let outcome = take_step(&state.tessera, &form, &client, current.as_ref()).await;
    state.metrics.count_outcome("page_sign_in", outcome.label());
    match outcome {
        Outcome::SignedIn {
            browser,
            cookie,
            codes: None,
        } => signed_in(&state, &browser, cookie.as_deref(), &back),
        Outcome::SignedIn {
            browser,
            cookie,
            codes: Some(codes),
        } => {
            let codes: Vec<&str> = codes.iter().map(|c| c.expose_secret()).collect();
            let page = pages::first_codes(&state.site, &codes, &back);
            with_session_cookie(&state, page, &browser, cookie.as_deref())
        }
        Outcome::Next(next) => next_page(&state, &headers, &form, &back, next).await,
    }
}

/// The form a sign-in at `/login` shows next.
async fn next_page(
    state: &AppState,
    headers: &HeaderMap,
    form: &crate::routes::oauth::OAuthForm,
    back: &str,
    next: Next,
) -> Response {
    match next {
        Next::Password {
            status,
            username,
            message,
            retry_after,
        } => {
            let page = login_page(state, headers, back, status, &username, Some(&message));
            match retry_after {
                Some(seconds) => with_retry_after(page, seconds),
                None => page,
            }
        }
        Next::Code {
            step,
            status,
            message,
            retry_after,
        } => {
            let page = code_page(state, headers, back, &step, status, message.as_deref());
            match retry_after {
                Some(seconds) => with_retry_after(page, seconds),
                None => page,
            }
        }
        Next::Enrol { token, refusal } => {
            login_enrol_step(state, headers, back, &token, form, refusal).await
        }
        Next::Failure(e) => page_failure(&state.site, &e),
    }
}

/// `response` with `Retry-After: seconds`.
pub(crate) fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// The sign-up page with `status`, what was typed and what is wrong.
fn register_page(
    state: &AppState,
    headers: &HeaderMap,
    back: &str,
    status: StatusCode,
    typed: (&str, &str),
    errors: &FieldErrors,
) -> Response {
    let (csrf, hidden) = sign_in_fields(state, headers, back);
    let login = format!("/login?{}", encode(&[(RETURN_TO, back)]));
    let mut response = pages::register(
        &state.site,
        status,
        &RegisterForm {
            hidden: &hidden,
            username: typed.0,
            email: typed.1,
            errors,
            password_min: state.tessera.settings().password_min_length,
            login: &login,
            email_required: state.tessera.settings().require_verified_email,
        },
    );
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(state, &csrf_cookie(state), &csrf, 3600, "Strict"),
    );
    response
}

/// The page when registration is closed.
fn registration_closed(state: &AppState) -> Response {
    pages::message(
        &state.site,
        StatusCode::NOT_FOUND,
        "Sign-up is closed",
        "Ask an administrator of this service for an account.",
    )
}

/// `GET /register?return_to=PATH` — the sign-up page.
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ReturnTo>,
) -> Response {
    if !state.tessera.settings().allow_registration {
        return registration_closed(&state);
    }
    let back = return_to(query.return_to.as_deref()).to_owned();
    let errors = FieldErrors::default();
    register_page(&state, &headers, &back, StatusCode::OK, ("", ""), &errors)
}

/// `POST /register` — the sign-up form, under the rules of `POST
/// /auth/register`; the new person is signed in.
pub async fn submit_register(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Response {
    if !state.tessera.settings().allow_registration {
        return registration_closed(&state);
    }
    let back = return_to(form.get(RETURN_TO)).to_owned();
    let username = form.get("username").unwrap_or("");
    let email = form.get("email").unwrap_or("");
    let typed = (username, email);
    let password_min = state.tessera.settings().password_min_length;
    let refuse = |status, errors: &FieldErrors| {
        register_page(&state, &headers, &back, status, typed, errors)
    };
    if !csrf_ok(&state, &headers, &form) {
        let mut errors = FieldErrors::default();
        errors.push("form", "The sign-up form expired. Please try again.");
        return refuse(StatusCode::FORBIDDEN, &errors);
    }
    let password = form.get("password").unwrap_or("");
    let mut body = json!({"username": username, "password": password});
    if !email.is_empty() {
        body["email"] = json!(email);
    }
    // The same rules as the API's, from the same schema.
    if let Err(e) = state.schemas.validate("register", &body) {
        return refuse(
            StatusCode::BAD_REQUEST,
            &words::schema_errors(&e, password_min),
        );
    }
    let account = NewAccount {
        username: username.to_owned(),
        password: SecretString::from(password),
        email: (!email.is_empty()).then(|| email.to_owned()),
        ..NewAccount::default()
    };
    match state
        .tessera
        .accounts()
        .register_in_browser(account, &client)
        .await
    {
        Ok((browser, _, cookie_value)) => signed_in(&state, &browser, Some(&cookie_value), &back),
        Err(Error::RegistrationDisabled) => registration_closed(&state),
        Err(Error::EmailNotVerified) => pages::email::done(
            &state.site,
            StatusCode::CREATED,
            "Confirm your email address",
            "Your account is ready. We sent a link to your email address: follow it, then sign in.",
            ("/login", "Sign in"),
        ),
        Err(Error::MfaEnrollmentRequired(challenge)) => {
            login_enrol_step(
                &state,
                &headers,
                &back,
                challenge.enrollment_token.expose_secret(),
                &form,
                None,
            )
            .await
        }
        Err(e) => match words::domain_errors(&e, "password", password_min) {
            Some(errors) => {
                let status = match e {
                    Error::UsernameTaken => StatusCode::CONFLICT,
                    Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
                    _ => StatusCode::BAD_REQUEST,
                };
                refuse(status, &errors)
            }
            None => page_failure(&state.site, &e),
        },
    }
}

/// `POST /account/sign-out` — signs this browser out (and what came
/// through it), then to the login page.
pub async fn sign_out(
    State(state): State<AppState>,
    Client(client): Client,
    PersonForm { person, .. }: PersonForm,
) -> Response {
    if let Err(e) = state
        .tessera
        .sso()
        .sso_sign_out(&person.browser, &client)
        .await
    {
        return page_failure(&state.site, &e);
    }
    signed_out(&state)
}
