//! `/me/factors`, `/me/recovery-codes` and `DELETE /users/{username}/factors`:
//! a person's second factors and recovery codes, and an administrator's
//! reset (SPEC §11). The `/me/factors…` endpoints also take the
//! `enrollment_token` of a person the policy sends to set up a factor (and
//! nothing else does); confirming that first factor completes their sign-in.
//! The second step of signing in is `auth.rs`'s.

use super::no_store;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Client, Path, RequestBody, ValidJson, bearer_token};
use crate::state::AppState;
use crate::views::{FactorView, TokenResponse};
use axum::Json;
use axum::extract::FromRequestParts;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_core::secret::{self, ExposeSecret, SecretString};
use tessera_core::service::Caller;
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

/// Body of `POST /me/factors/passkey` (schema `factor_passkey`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyBody {
    /// A name for the passkey ("Laptop"); default "Passkey".
    pub name: Option<String>,
    /// The browser's `RegistrationResponseJSON`, answering the options of
    /// `POST /me/factors/passkey/options`.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

impl RequestBody for PasskeyBody {
    const SCHEMA: &'static str = "factor_passkey";
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

/// Who calls a `/me/factors…` endpoint: a person's access token, or the
/// `enrollment_token` of a person setting up the factor the policy demands.
#[derive(Debug)]
pub struct FactorCaller {
    /// The person.
    pub caller: Caller,
    /// The enrollment token they came with, if that is how.
    pub enrollment_token: Option<String>,
}

impl FromRequestParts<AppState> for FactorCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers)?.ok_or(ApiError::Unauthenticated)?;
        // An access token is a JWT (it has dots); an enrollment token never does.
        if !token.contains('.') {
            let caller = state
                .tessera
                .factors()
                .enrollment_caller(token)
                .await?
                .ok_or(ApiError::InvalidToken)?;
            return Ok(FactorCaller {
                caller,
                enrollment_token: Some(token.to_owned()),
            });
        }
        let auth = AuthUser::from_request_parts(parts, state).await?;
        Ok(FactorCaller {
            caller: auth.person()?,
            enrollment_token: None,
        })
    }
}

/// `GET /me/factors`
#[utoipa::path(get, path = "/me/factors", tag = "factors", security(("bearer" = [])),
    responses((status = 200, body = FactorList)))]
pub async fn list(
    State(state): State<AppState>,
    FactorCaller { caller, .. }: FactorCaller,
) -> ApiResult<Json<FactorList>> {
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
    FactorCaller { caller, .. }: FactorCaller,
    ValidJson(body): ValidJson<TotpBody>,
) -> ApiResult<Response> {
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
    responses((status = 200, body = ConfirmedFactor, description = "the factor is active (with an enrollment_token: also the token response of the completed sign-in)"), (status = 400, description = "invalid_code"),
              (status = 404, description = "no such enrolment, or it lapsed")))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    Client(client): Client,
    FactorCaller {
        caller,
        enrollment_token,
    }: FactorCaller,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<ConfirmBody>,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let factors = state.tessera.factors();
    let code = body.code.expose_secret();
    let Some(token) = enrollment_token else {
        let confirmed = factors.confirm_totp(&caller, id, code, &client).await?;
        return Ok(no_store(Json(ConfirmedFactor {
            factor: confirmed.factor.into(),
            recovery_codes: confirmed.recovery_codes.map(RecoveryCodes),
        })));
    };
    // The first factor of a person the policy sent to enrol: the sign-in
    // is complete, and the answer carries its tokens.
    let (user, confirmed) = factors
        .confirm_totp_enrolling(&token, id, code, &client)
        .await?;
    let tokens = state.tessera.sessions().enrolled(user, &client).await?;
    let mut body = serde_json::to_value(TokenResponse::from(tokens)).map_err(ApiError::internal)?;
    body["factor"] =
        serde_json::to_value(FactorView::from(confirmed.factor)).map_err(ApiError::internal)?;
    if let Some(codes) = confirmed.recovery_codes {
        body["recovery_codes"] =
            serde_json::to_value(RecoveryCodes(codes)).map_err(ApiError::internal)?;
    }
    Ok(no_store(Json(body)))
}

/// `POST /me/factors/passkey/options`
#[utoipa::path(post, path = "/me/factors/passkey/options", tag = "factors", security(("bearer" = [])), request_body = PasswordBody,
    responses((status = 200, body = crate::routes::auth::PasskeyOptions), (status = 401, description = "invalid_credentials: wrong password")))]
pub async fn passkey_options(
    State(state): State<AppState>,
    Client(client): Client,
    FactorCaller { caller, .. }: FactorCaller,
    ValidJson(body): ValidJson<PasswordBody>,
) -> ApiResult<Response> {
    let options = state
        .tessera
        .passkeys()
        .registration_options(&caller, Some(body.password.expose_secret()), &client)
        .await?;
    Ok(no_store(Json(crate::routes::auth::PasskeyOptions {
        options,
    })))
}

/// `POST /me/factors/passkey`
#[utoipa::path(post, path = "/me/factors/passkey", tag = "factors", security(("bearer" = [])), request_body = PasskeyBody,
    responses((status = 201, body = ConfirmedFactor, description = "the passkey is active (with an enrollment_token: also the token response of the completed sign-in)")))]
pub async fn add_passkey(
    State(state): State<AppState>,
    Client(client): Client,
    FactorCaller {
        caller,
        enrollment_token,
    }: FactorCaller,
    ValidJson(body): ValidJson<PasskeyBody>,
) -> ApiResult<Response> {
    let confirmed = state
        .tessera
        .passkeys()
        .register(&caller, body.name, &body.credential, &client)
        .await?;
    let Some(token) = enrollment_token else {
        return Ok(no_store((
            StatusCode::CREATED,
            Json(ConfirmedFactor {
                factor: confirmed.factor.into(),
                recovery_codes: confirmed.recovery_codes.map(RecoveryCodes),
            }),
        )));
    };
    // The first factor of a person the policy sent to enrol: the sign-in
    // is complete, and the answer carries its tokens.
    let factors = state.tessera.factors();
    factors.spend_enrollment(&token).await?;
    let user = state.tessera.accounts().user_by_id(caller.user_id).await?;
    let tokens = state
        .tessera
        .sessions()
        .enrolled_with_passkey(user, &client)
        .await?;
    let body = enrolled_body(tokens, confirmed)?;
    Ok(no_store((StatusCode::CREATED, Json(body))))
}

/// The answer to a first factor added with an `enrollment_token`: the
/// token response, the factor and the recovery codes.
fn enrolled_body(
    tokens: tessera_core::service::IssuedTokens,
    confirmed: tessera_core::service::Confirmed,
) -> ApiResult<serde_json::Value> {
    let mut body = serde_json::to_value(TokenResponse::from(tokens)).map_err(ApiError::internal)?;
    body["factor"] =
        serde_json::to_value(FactorView::from(confirmed.factor)).map_err(ApiError::internal)?;
    if let Some(codes) = confirmed.recovery_codes {
        body["recovery_codes"] =
            serde_json::to_value(RecoveryCodes(codes)).map_err(ApiError::internal)?;
    }
    Ok(body)
}

/// `POST /me/factors/{id}/remove`
#[utoipa::path(post, path = "/me/factors/{id}/remove", tag = "factors", security(("bearer" = [])), request_body = PasswordBody,
    params(("id" = String, Path)),
    responses((status = 204, description = "removed (the last one takes the recovery codes)"),
              (status = 401, description = "invalid_credentials: wrong password"), (status = 404, description = "no such factor")))]
pub async fn remove(
    State(state): State<AppState>,
    Client(client): Client,
    FactorCaller { caller, .. }: FactorCaller,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<PasswordBody>,
) -> ApiResult<StatusCode> {
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
    FactorCaller {
        caller,
        enrollment_token,
    }: FactorCaller,
    ValidJson(body): ValidJson<PasswordBody>,
) -> ApiResult<Response> {
    // Recovery codes come with a factor; an enrollment token is for setting
    // up the first one and nothing else.
    if enrollment_token.is_some() {
        return Err(ApiError::InvalidToken);
    }
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
