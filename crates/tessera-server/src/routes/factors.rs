//! `/me/factors`, `/me/recovery-codes` and `DELETE /users/{username}/factors`:
//! a person's second factors and recovery codes, and an administrator's
//! reset (SPEC §11). The second step of signing in is `auth.rs`'s.

use super::no_store;
use crate::error::ApiResult;
use crate::extract::{AuthUser, Client, Path, RequestBody, ValidJson};
use crate::state::AppState;
use crate::views::FactorView;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_core::secret::{self, ExposeSecret, SecretString};
use utoipa::ToSchema;
use uuid::Uuid;

/// Body of `POST /me/factors/totp` (schema `factor_totp`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpBody {
    /// The current password.
    #[schema(value_type = String)]
    pub password: SecretString,
    /// A name for the factor ("Phone"); default "Authenticator app".
    pub name: Option<String>,
}

impl RequestBody for TotpBody {
    const SCHEMA: &'static str = "factor_totp";
}

/// Body of `POST /me/factors/totp/{id}/confirm` (schema `factor_confirm`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// A code from the app.
    #[schema(value_type = String)]
    pub code: SecretString,
}

impl RequestBody for ConfirmBody {
    const SCHEMA: &'static str = "factor_confirm";
}

/// Body of `POST /me/factors/{id}/remove` and `POST /me/recovery-codes`
/// (schema `password_confirm`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// The current password.
    #[schema(value_type = String)]
    pub password: SecretString,
}

impl RequestBody for PasswordBody {
    const SCHEMA: &'static str = "password_confirm";
}

/// A person's factors.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorList {
    /// Active factors, oldest first.
    pub factors: Vec<FactorView>,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

/// A TOTP factor waiting for its first code.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// The factor (not active yet).
    pub factor: FactorView,
    /// The secret, unpadded base32 (shown once).
    #[serde(serialize_with = "secret::expose")]
    #[schema(value_type = String)]
    pub secret: SecretString,
    /// `otpauth://totp/…` for an authenticator app.
    #[serde(serialize_with = "secret::expose")]
    #[schema(value_type = String)]
    pub otpauth_uri: SecretString,
}

/// A factor made active, with the recovery codes when it is the first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmedFactor {
    /// The factor.
    pub factor: FactorView,
    /// Shown once, with the first factor only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub recovery_codes: Option<RecoveryCodes>,
}

/// Recovery codes as shown once.
#[derive(Debug, ToSchema)]
#[schema(value_type = Vec<String>)]
pub struct RecoveryCodes(pub Vec<SecretString>);

impl Serialize for RecoveryCodes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ExposeSecret::expose_secret))
    }
}

/// A new set of recovery codes.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewRecoveryCodes {
    /// Shown once; the previous set no longer works.
    #[schema(value_type = Vec<String>)]
    pub recovery_codes: RecoveryCodes,
}

/// `GET /me/factors`
#[utoipa::path(get, path = "/me/factors", tag = "factors", security(("bearer" = [])),
    responses((status = 200, body = FactorList)))]
pub async fn list(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<FactorList>> {
    let caller = auth.person()?;
    let list = state.tessera.factors().list(caller.user_id).await?;
    Ok(Json(FactorList {
        factors: list.factors.into_iter().map(FactorView::from).collect(),
        recovery_codes_left: list.recovery_codes_left,
    }))
}

/// `POST /me/factors/totp`
#[utoipa::path(post, path = "/me/factors/totp", tag = "factors", security(("bearer" = [])), request_body = TotpBody,
    responses((status = 201, body = TotpEnrolment), (status = 401, description = "invalid_credentials: wrong password")))]
pub async fn begin_totp(
    State(state): State<AppState>,
    Client(client): Client,
    auth: AuthUser,
    ValidJson(body): ValidJson<TotpBody>,
) -> ApiResult<Response> {
    let caller = auth.person()?;
    let enrolment = state
        .tessera
        .factors()
        .begin_totp(&caller, body.password.expose_secret(), body.name, &client)
        .await?;
    Ok(no_store((
        StatusCode::CREATED,
        Json(TotpEnrolment {
            factor: enrolment.factor.into(),
            secret: enrolment.secret.base32,
            otpauth_uri: enrolment.secret.uri,
        }),
    )))
}

/// `POST /me/factors/totp/{id}/confirm`
#[utoipa::path(post, path = "/me/factors/totp/{id}/confirm", tag = "factors", security(("bearer" = [])), request_body = ConfirmBody,
    params(("id" = String, Path)),
    responses((status = 200, body = ConfirmedFactor), (status = 400, description = "invalid_code"),
              (status = 404, description = "no such enrolment, or it lapsed")))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    Client(client): Client,
    auth: AuthUser,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<ConfirmBody>,
) -> ApiResult<Response> {
    let caller = auth.person()?;
    let id = parse_id(&id)?;
    let confirmed = state
        .tessera
        .factors()
        .confirm_totp(&caller, id, body.code.expose_secret(), &client)
        .await?;
    Ok(no_store(Json(ConfirmedFactor {
        factor: confirmed.factor.into(),
        recovery_codes: confirmed.recovery_codes.map(RecoveryCodes),
    })))
}

/// `POST /me/factors/{id}/remove`
#[utoipa::path(post, path = "/me/factors/{id}/remove", tag = "factors", security(("bearer" = [])), request_body = PasswordBody,
    params(("id" = String, Path)),
    responses((status = 204, description = "removed (the last one takes the recovery codes)"),
              (status = 401, description = "invalid_credentials: wrong password"), (status = 404, description = "no such factor")))]
pub async fn remove(
    State(state): State<AppState>,
    Client(client): Client,
    auth: AuthUser,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<PasswordBody>,
) -> ApiResult<StatusCode> {
    let caller = auth.person()?;
    let id = parse_id(&id)?;
    state
        .tessera
        .factors()
        .remove(&caller, id, body.password.expose_secret(), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /me/recovery-codes`
#[utoipa::path(post, path = "/me/recovery-codes", tag = "factors", security(("bearer" = [])), request_body = PasswordBody,
    responses((status = 200, body = NewRecoveryCodes), (status = 401, description = "invalid_credentials: wrong password"),
              (status = 403, description = "no second factor yet")))]
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    Client(client): Client,
    auth: AuthUser,
    ValidJson(body): ValidJson<PasswordBody>,
) -> ApiResult<Response> {
    let caller = auth.person()?;
    let codes = state
        .tessera
        .factors()
        .regenerate_recovery_codes(&caller, body.password.expose_secret(), &client)
        .await?;
    Ok(no_store(Json(NewRecoveryCodes {
        recovery_codes: RecoveryCodes(codes),
    })))
}

/// `DELETE /users/{username}/factors`
#[utoipa::path(delete, path = "/users/{username}/factors", tag = "factors", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 204, description = "every factor and recovery code of the user removed"),
              (status = 403, description = "admin role required"), (status = 404, description = "user_not_found")))]
pub async fn reset(
    State(state): State<AppState>,
    Client(client): Client,
    auth: AuthUser,
    Path(username): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = auth.require_admin()?;
    state
        .tessera
        .factors()
        .reset(Some(&caller), &username, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A factor id from the path; anything else names no factor.
fn parse_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| crate::error::ApiError::NotFound)
}
