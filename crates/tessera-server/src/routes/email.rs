//! Email's API (SPEC §12): asking for a reset link and setting a password
//! with it, verifying an address, and asking for its link again.

use crate::error::ApiResult;
use crate::extract::{AuthUser, Client, RequestBody, ValidJson};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use tessera_core::Tessera;
use tessera_core::model::ClientInfo;
use tessera_core::secret::{ExposeSecret, SecretString};
use tessera_core::service::ResetRequest;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

/// Reset requests looked into at once, off the requests that made them.
pub const RESET_JOBS: usize = 64;

/// Body of `POST /auth/password-reset` (schema `password_reset`): one of
/// the two.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// A verified address.
    pub email: Option<String>,
    /// A username.
    pub username: Option<String>,
}

impl RequestBody for ResetBody {
    const SCHEMA: &'static str = "password_reset";
}

/// Body of `POST /auth/password-reset/confirm` (schema `password_reset_confirm`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmBody {
    /// The token of the mailed link.
    #[schema(value_type = String)]
    #[serde(deserialize_with = "any_token")]
    pub token: SecretString,
    /// The new password.
    #[schema(value_type = String)]
    pub new_password: SecretString,
}

impl RequestBody for ResetConfirmBody {
    const SCHEMA: &'static str = "password_reset_confirm";
}

/// Body of `POST /auth/verify-email` (schema `verify_email`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailBody {
    /// The token of the mailed link.
    #[schema(value_type = String)]
    #[serde(deserialize_with = "any_token")]
    pub token: SecretString,
}

impl RequestBody for VerifyEmailBody {
    const SCHEMA: &'static str = "verify_email";
}

/// A link token as sent: a string is kept; anything else is no token at
/// all, and so `invalid_link` like any token that is not a live link.
fn any_token<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(SecretString::from(
        value.as_str().unwrap_or_default().to_owned(),
    ))
}

/// What `POST /auth/verify-email` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    /// The address now verified.
    pub email: String,
    /// Always `true`.
    pub email_verified: bool,
}

/// The one answer of `POST /auth/password-reset` and `POST /me/email/verify`.
fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))).into_response()
}

/// Looks into a reset request off the request that made it, so the answer
/// takes the same time whatever the request names; at most [`RESET_JOBS`]
/// at once (past that, the request is dropped and logged).
pub fn spawn_reset(
    tessera: &Arc<Tessera>,
    jobs: &Arc<Semaphore>,
    request: ResetRequest,
    client: ClientInfo,
) {
    let Ok(permit) = jobs.clone().try_acquire_owned() else {
        tracing::warn!("too many password-reset requests at once; one was dropped");
        return;
    };
    let tessera = tessera.clone();
    tokio::spawn(async move {
        if let Err(e) = tessera.email().request_reset(request, &client).await {
            tracing::warn!(error = %e, "a password-reset request failed");
        }
        drop(permit);
    });
}

/// `POST /auth/password-reset`
#[utoipa::path(post, path = "/auth/password-reset", tag = "auth", request_body = ResetBody,
    responses((status = 202, description = "the same answer whether or not such an account exists")))]
pub async fn request_reset(
    State(state): State<AppState>,
    Client(client): Client,
    ValidJson(body): ValidJson<ResetBody>,
) -> ApiResult<Response> {
    state.tessera.email().check_reset_available()?;
    let request = match (body.email, body.username) {
        (Some(email), _) => ResetRequest::Email(email),
        (None, Some(username)) => ResetRequest::Username(username),
        // The schema demands one of the two.
        (None, None) => return Ok(accepted()),
    };
    spawn_reset(&state.tessera, &state.reset_jobs, request, client);
    Ok(accepted())
}

/// `POST /auth/password-reset/confirm`
#[utoipa::path(post, path = "/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmBody,
    responses((status = 204, description = "password set; every session ended")))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    Client(client): Client,
    ValidJson(body): ValidJson<ResetConfirmBody>,
) -> ApiResult<StatusCode> {
    state
        .tessera
        .email()
        .confirm_reset(
            body.token.expose_secret(),
            body.new_password.expose_secret(),
            &client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/verify-email`
#[utoipa::path(post, path = "/auth/verify-email", tag = "auth", request_body = VerifyEmailBody,
    responses((status = 200, body = Verified)))]
pub async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    ValidJson(body): ValidJson<VerifyEmailBody>,
) -> ApiResult<Json<Verified>> {
    let user = state
        .tessera
        .email()
        .verify(body.token.expose_secret(), &client)
        .await?;
    Ok(Json(Verified {
        email: user.email.unwrap_or_default(),
        email_verified: user.email_verified,
    }))
}

/// `POST /me/email/verify`
#[utoipa::path(post, path = "/me/email/verify", tag = "users", security(("bearer" = [])),
    responses((status = 202, description = "a link is on its way (at most one a minute)")))]
pub async fn resend_verification(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Response> {
    let caller = auth.person()?;
    state.tessera.email().resend_verification(&caller).await?;
    Ok(accepted())
}
