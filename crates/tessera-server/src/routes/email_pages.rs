//! The pages mailed links open (SPEC §12): `/verify-email` (a button, so a
//! mail scanner following the link verifies nothing), `/reset-password`
//! (ask for a link; with a link's token, choose a new password). These
//! forms carry no CSRF token: each posts an unguessable link token or
//! asks for a mail anyone may ask for, so a forged post achieves nothing.

use crate::browser::{PageForm, page_failure};
use crate::extract::Client;
use crate::pages::{self, FieldErrors, words};
use crate::routes::email::spawn_reset;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_core::Error;
use tessera_core::service::ResetRequest;

/// `?token=` of a mailed link.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    /// The link's token.
    pub token: Option<String>,
}

/// The page for a link that does not (or no longer) work.
fn dead_link(state: &AppState, ask_again: (&str, &str)) -> Response {
    pages::email::done(
        &state.site,
        StatusCode::BAD_REQUEST,
        "This link does not work",
        "It was used already, has expired, or a newer link replaced it.",
        ask_again,
    )
}

/// The page when this server sends no mail.
fn no_mail(state: &AppState) -> Response {
    pages::message(
        &state.site,
        StatusCode::SERVICE_UNAVAILABLE,
        "Email is not set up",
        "This server sends no mail, so it cannot send you a link. Ask your administrator to reset your password.",
    )
}

/// How long a reset link works, in words.
fn reset_lifetime(state: &AppState) -> String {
    let minutes = state
        .tessera
        .settings()
        .reset_ttl
        .as_secs()
        .div_ceil(60)
        .max(1);
    match minutes {
        1 => "1 minute".to_owned(),
        60 => "1 hour".to_owned(),
        m if m % 60 == 0 => format!("{} hours", m / 60),
        m => format!("{m} minutes"),
    }
}

/// `GET /verify-email?token=…`
pub async fn verify_page(State(state): State<AppState>, Query(q): Query<LinkQuery>) -> Response {
    match q.token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => pages::email::verify_email(&state.site, token),
        None => dead_link(&state, ("/account/security", "Ask for a new link")),
    }
}

/// `POST /verify-email`
pub async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    PageForm(form): PageForm,
) -> Response {
    let token = form.get("token").unwrap_or_default();
    match state.tessera.email().verify(token, &client).await {
        Ok(_) => pages::email::done(
            &state.site,
            StatusCode::OK,
            "Your address is confirmed",
            "Thank you. Mail about your account, such as password resets, goes to it from now on.",
            ("/account/security", "Go to your account"),
        ),
        Err(Error::InvalidLink) => dead_link(&state, ("/account/security", "Ask for a new link")),
        Err(Error::EmailTaken) => pages::email::done(
            &state.site,
            StatusCode::CONFLICT,
            "This address is taken",
            "Another account has confirmed this address already. Use another address on your account.",
            ("/account", "Go to your account"),
        ),
        Err(e) => page_failure(&state.site, &e),
    }
}

/// `GET /reset-password` (the request form) and `GET /reset-password?token=…`
/// (the new-password form of a live link).
pub async fn reset_page(State(state): State<AppState>, Query(q): Query<LinkQuery>) -> Response {
    let Some(token) = q.token.filter(|t| !t.is_empty()) else {
        if !state.tessera.email().available() {
            return no_mail(&state);
        }
        let lifetime = reset_lifetime(&state);
        return pages::email::reset_request(&state.site, StatusCode::OK, "", &lifetime, None);
    };
    match state.tessera.email().reset_link_is_live(&token).await {
        Ok(true) => pages::email::reset_password(
            &state.site,
            StatusCode::OK,
            &token,
            state.tessera.settings().password_min_length,
            &FieldErrors::default(),
        ),
        Ok(false) => dead_link(&state, ("/reset-password", "Ask for a new link")),
        Err(e) => page_failure(&state.site, &e),
    }
}

/// `POST /reset-password`: asks for a link.
pub async fn request_reset(
    State(state): State<AppState>,
    Client(client): Client,
    PageForm(form): PageForm,
) -> Response {
    if !state.tessera.email().available() {
        return no_mail(&state);
    }
    let account = form.get("account").unwrap_or_default().trim();
    let lifetime = reset_lifetime(&state);
    if account.is_empty() || account.chars().count() > 254 || account.contains('\0') {
        return pages::email::reset_request(
            &state.site,
            StatusCode::BAD_REQUEST,
            account,
            &lifetime,
            Some("Enter your username or your email address."),
        );
    }
    let request = if account.contains('@') {
        ResetRequest::Email(account.to_owned())
    } else {
        ResetRequest::Username(account.to_owned())
    };
    spawn_reset(&state.tessera, &state.reset_jobs, request, client);
    pages::email::done(
        &state.site,
        StatusCode::OK,
        "Check your mail",
        &format!(
            "If that matches an account with a confirmed address, a link to choose a new password is on its way there. It works for {lifetime}. Nothing arrived? Check your spam folder, or ask your administrator."
        ),
        ("/login", "Back to sign in"),
    )
}

/// `POST /reset-password/confirm`: sets the new password.
pub async fn confirm_reset(
    State(state): State<AppState>,
    Client(client): Client,
    PageForm(form): PageForm,
) -> Response {
    let token = form.get("token").unwrap_or_default();
    let password = form.get("new_password").unwrap_or_default();
    let min = state.tessera.settings().password_min_length;
    let refuse = |errors: &FieldErrors| {
        pages::email::reset_password(&state.site, StatusCode::BAD_REQUEST, token, min, errors)
    };
    if password != form.get("repeat").unwrap_or_default() {
        let mut errors = FieldErrors::default();
        errors.push(
            "repeat",
            "The two passwords differ. Type the same one twice.",
        );
        return refuse(&errors);
    }
    match state
        .tessera
        .email()
        .confirm_reset(token, password, &client)
        .await
    {
        Ok(()) => pages::email::done(
            &state.site,
            StatusCode::OK,
            "Your password was changed",
            "You were signed out everywhere. Sign in with your new password.",
            ("/login", "Sign in"),
        ),
        Err(Error::InvalidLink) => dead_link(&state, ("/reset-password", "Ask for a new link")),
        Err(e) => match words::domain_errors(&e, "new_password", min) {
            Some(errors) => refuse(&errors),
            None => page_failure(&state.site, &e),
        },
    }
}
