//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `GET
//! /logout` and its confirmation form, `POST /logout`.

use super::redirect_to;
use crate::browser::page_failure;
use crate::browser::{
    CSRF_FIELD, PageForm, browser_session, cookie, csrf_cookie, csrf_ok, session_cookie, set_cookie,
};
use crate::extract::Client;
use crate::pages::{self, Hidden};
use crate::routes::oauth::OAuthForm;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tessera_core::service::LogoutTarget;
use tessera_core::store::BrowserSession;
use tessera_token::crypto::{b64url, random_bytes};

/// The logout parameters carried through the confirmation form.
const LOGOUT_FIELDS: [&str; 4] = [
    "client_id",
    "id_token_hint",
    "post_logout_redirect_uri",
    "state",
];

/// Ends the browser's session (if any), clears its cookie, and goes on to
/// the registered post-logout redirect URI, or to a "signed out" page that
/// says why the application's own page could not follow.
pub(super) async fn finish_logout(
    state: &AppState,
    client: &tessera_core::ClientInfo,
    browser: Option<BrowserSession>,
    target: LogoutTarget,
    client_state: Option<&str>,
) -> Response {
    if let Some(b) = browser
        && let Err(e) = state.tessera.sso().sso_sign_out(&b, client).await
    {
        return page_failure(&state.site, &e);
    }
    let mut response = match (target.redirect_uri, target.problem) {
        (Some(uri), _) => {
            let params: Vec<(&str, &str)> =
                client_state.map(|s| ("state", s)).into_iter().collect();
            redirect_to(&state.site, &uri, &params)
        }
        (None, Some(problem)) => pages::message(
            &state.site,
            StatusCode::OK,
            "You are signed out",
            &format!("{problem} You can close this window."),
        ),
        (None, None) => pages::message(
            &state.site,
            StatusCode::OK,
            "You are signed out",
            "You can close this window.",
        ),
    };
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(state, &session_cookie(state), "", 0, "Lax"),
    );
    response
}

/// `GET /logout` — RP-initiated logout. With an `id_token_hint` for the
/// signed-in user (or nobody signed in) it signs out at once; otherwise it
/// asks for confirmation, so a link on another site cannot sign anyone out.
#[utoipa::path(get, path = "/logout", tag = "oauth",
    responses((status = 200, description = "signed out, or the confirmation page (text/html)"),
              (status = 303, description = "signed out: on to the registered post_logout_redirect_uri"),
              (status = 400, description = "nobody is signed in and the post_logout_redirect_uri cannot be followed (text/html)")))]
pub async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(form) = OAuthForm::parse(query.unwrap_or_default().as_bytes()) else {
        return pages::message(
            &state.site,
            StatusCode::BAD_REQUEST,
            "Cannot sign out",
            "The request repeats a parameter.",
        );
    };
    let target = match state
        .tessera
        .sso()
        .logout_target(
            form.get("client_id"),
            form.get("id_token_hint"),
            form.get("post_logout_redirect_uri"),
        )
        .await
    {
        Ok(t) => t,
        Err(e) => return page_failure(&state.site, &e),
    };
    let signed_in = match browser_session(&state, &headers).await {
        Ok(s) => s,
        Err(e) => return page_failure(&state.site, &e),
    };
    match signed_in {
        // Nobody to sign out, and nowhere to go: say why.
        None if target.problem.is_some() => pages::message(
            &state.site,
            StatusCode::BAD_REQUEST,
            "Cannot return to the application",
            target.problem.as_deref().unwrap_or_default(),
        ),
        // Ask first, unless the request names the signed-in person
        // authentically; a redirect that cannot be followed also asks, so
        // the person sees why they will stay here.
        Some((_, user)) if target.hinted_user != Some(user.id) || target.problem.is_some() => {
            let csrf = cookie(&headers, &csrf_cookie(&state))
                .filter(|c| c.len() == 43)
                .unwrap_or_else(|| b64url(random_bytes::<32>()));
            let mut hidden: Hidden = LOGOUT_FIELDS
                .iter()
                .filter_map(|k| form.get(k).map(|v| (*k, v)))
                .collect();
            hidden.push(CSRF_FIELD, &csrf);
            let mut response = pages::logout_confirmation(
                &state.site,
                &user.username,
                &hidden,
                target.problem.as_deref(),
            );
            response.headers_mut().append(
                SET_COOKIE,
                set_cookie(&state, &csrf_cookie(&state), &csrf, 3600, "Strict"),
            );
            response
        }
        signed_in => {
            finish_logout(
                &state,
                &client,
                signed_in.map(|(b, _)| b),
                target,
                form.get("state"),
            )
            .await
        }
    }
}

/// `POST /logout` — the confirmation form's submission.
#[utoipa::path(post, path = "/logout", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "csrf_token and the logout request"),
    responses((status = 200, description = "signed out (text/html)"),
              (status = 303, description = "signed out: on to the registered post_logout_redirect_uri"),
              (status = 403, description = "the CSRF token did not match")))]
pub async fn confirm_logout(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    PageForm(form): PageForm,
) -> Response {
    if !csrf_ok(&state, &headers, &form) {
        return pages::message(
            &state.site,
            StatusCode::FORBIDDEN,
            "Cannot sign out",
            "The sign-out form expired. Please try again.",
        );
    }
    let target = match state
        .tessera
        .sso()
        .logout_target(
            form.get("client_id"),
            form.get("id_token_hint"),
            form.get("post_logout_redirect_uri"),
        )
        .await
    {
        Ok(t) => t,
        Err(e) => return page_failure(&state.site, &e),
    };
    let browser = match browser_session(&state, &headers).await {
        Ok(s) => s.map(|(b, _)| b),
        Err(e) => return page_failure(&state.site, &e),
    };
    finish_logout(&state, &client, browser, target, form.get("state")).await
}
