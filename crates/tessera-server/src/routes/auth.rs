//! `/auth/*`: register, login (and its second step), passkey sign-in, refresh,
//! logout, logout-all and forward-auth verify.

use super::no_store;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Client, RequestBody, ValidJson};
use crate::state::AppState;
use crate::views::{FullUser, TokenResponse};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_core::secret::{ExposeSecret, SecretString};
use tessera_core::service::{NewAccount, Proof, Registration};
use utoipa::ToSchema;

/// Body of `POST /auth/register` (schema `register`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// `^[A-Za-z0-9_.-]{3,32}$`.
    pub username: String,
    /// At least the configured minimum, at most 128 characters.
    #[schema(value_type = String)]
    pub password: SecretString,
    /// E-mail.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

impl RequestBody for RegisterBody {
    const SCHEMA: &'static str = "register";
}

/// Body of `POST /auth/login` (schema `login`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Username (any case).
    pub username: String,
    /// Password.
    #[schema(value_type = String)]
    pub password: SecretString,
}

impl RequestBody for LoginBody {
    const SCHEMA: &'static str = "login";
}

/// Body of `POST /auth/login/mfa` (schema `login_mfa`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginMfaBody {
    /// The `mfa_token` of the `mfa_required` answer.
    #[schema(value_type = String)]
    pub mfa_token: SecretString,
    /// A code from the authenticator app, or a recovery code.
    #[schema(value_type = Option<String>)]
    pub code: Option<SecretString>,
    /// Or a passkey's `AuthenticationResponseJSON`, answering the options of
    /// `POST /auth/login/mfa/options`.
    #[schema(value_type = Option<Object>)]
    pub credential: Option<Value>,
}

impl RequestBody for LoginMfaBody {
    const SCHEMA: &'static str = "login_mfa";
}

/// Body of `POST /auth/login/mfa/options` (schema `login_mfa_options`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaOptionsBody {
    /// The `mfa_token` of the `mfa_required` answer.
    #[schema(value_type = String)]
    pub mfa_token: SecretString,
}

impl RequestBody for MfaOptionsBody {
    const SCHEMA: &'static str = "login_mfa_options";
}

/// Body of `POST /auth/passkey/options` (schema `passkey_options`): `{}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyOptionsBody {}

impl RequestBody for PasskeyOptionsBody {
    const SCHEMA: &'static str = "passkey_options";
}

/// Body of `POST /auth/passkey` (schema `passkey_sign_in`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignInBody {
    /// The passkey's `AuthenticationResponseJSON`.
    #[schema(value_type = Object)]
    pub credential: Value,
}

impl RequestBody for PasskeySignInBody {
    const SCHEMA: &'static str = "passkey_sign_in";
}

/// WebAuthn options for the browser (`navigator.credentials`), as the bare
/// L3 JSON dictionary.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyOptions {
    /// `PublicKeyCredentialCreationOptionsJSON` or `…RequestOptionsJSON`.
    #[schema(value_type = Object)]
    pub options: Value,
}

/// Body of `POST /auth/refresh` (schema `refresh`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// The refresh token.
    #[schema(value_type = String)]
    pub refresh_token: SecretString,
}

impl RequestBody for RefreshBody {
    const SCHEMA: &'static str = "refresh";
}

/// `POST /auth/register`
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterBody,
    responses((status = 201, body = TokenResponse), (status = 400, body = crate::error::ErrorBody),
              (status = 403, description = "registration_disabled"), (status = 409, description = "username_taken")))]
pub async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    ValidJson(body): ValidJson<RegisterBody>,
) -> ApiResult<Response> {
    let account = NewAccount {
        username: body.username,
        password: body.password,
        email: body.email,
        first_name: body.first_name,
        last_name: body.last_name,
        phone: body.phone,
        roles: Vec::new(),
    };
    match state.tessera.accounts().register(account, &client).await? {
        Registration::SignedIn(tokens) => Ok(no_store((
            StatusCode::CREATED,
            Json(TokenResponse::from(*tokens)),
        ))),
        Registration::MustVerify(user) => Ok(no_store((
            StatusCode::CREATED,
            Json(json!({"user": FullUser::from(user)})),
        ))),
        Registration::MustEnrol { user, enrollment } => Ok(no_store((
            StatusCode::CREATED,
            Json(json!({
                "user": FullUser::from(user),
                "enrollment_token": enrollment.enrollment_token.expose_secret(),
            })),
        ))),
    }
}

/// `POST /auth/login`
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = TokenResponse), (status = 401, description = "invalid_credentials"),
              (status = 429, description = "too_many_attempts")))]
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    ValidJson(body): ValidJson<LoginBody>,
) -> ApiResult<Response> {
    let result = state
        .tessera
        .sessions()
        .login(&body.username, body.password.expose_secret(), &client)
        .await;
    state.metrics.count_result("login", &result);
    Ok(no_store(Json(TokenResponse::from(result?))))
}

/// `POST /auth/login/mfa`
#[utoipa::path(post, path = "/auth/login/mfa", tag = "auth", request_body = LoginMfaBody,
    responses((status = 200, body = TokenResponse), (status = 401, description = "invalid_code or invalid_mfa_token"),
              (status = 429, description = "too_many_attempts")))]
pub async fn login_mfa(
    State(state): State<AppState>,
    Client(client): Client,
    ValidJson(body): ValidJson<LoginMfaBody>,
) -> ApiResult<Response> {
    let proof = match (&body.code, &body.credential) {
        (Some(code), None) => Proof::Code(code.expose_secret()),
        (None, Some(credential)) => Proof::Passkey(credential),
        _ => return Err(ApiError::invalid("/code", "give a code or a credential")),
    };
    let result = state
        .tessera
        .sessions()
        .login_second_step(body.mfa_token.expose_secret(), proof, &client)
        .await;
    state.metrics.count_result("login", &result);
    Ok(no_store(Json(TokenResponse::from(result?))))
}

/// `POST /auth/login/mfa/options`
#[utoipa::path(post, path = "/auth/login/mfa/options", tag = "auth", request_body = MfaOptionsBody,
    responses((status = 200, body = PasskeyOptions), (status = 401, description = "invalid_mfa_token")))]
pub async fn login_mfa_options(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<MfaOptionsBody>,
) -> ApiResult<Response> {
    let options = state
        .tessera
        .factors()
        .passkey_options(body.mfa_token.expose_secret())
        .await?;
    Ok(no_store(Json(PasskeyOptions { options })))
}

/// `POST /auth/passkey/options`
#[utoipa::path(post, path = "/auth/passkey/options", tag = "auth", request_body = PasskeyOptionsBody,
    responses((status = 200, body = PasskeyOptions)))]
pub async fn passkey_options(
    State(state): State<AppState>,
    ValidJson(_): ValidJson<PasskeyOptionsBody>,
) -> ApiResult<Response> {
    let options = state.tessera.passkeys().sign_in_options().await?;
    Ok(no_store(Json(PasskeyOptions { options })))
}

/// `POST /auth/passkey`
#[utoipa::path(post, path = "/auth/passkey", tag = "auth", request_body = PasskeySignInBody,
    responses((status = 200, body = TokenResponse), (status = 401, description = "invalid_credentials"),
              (status = 429, description = "too_many_attempts")))]
pub async fn passkey_sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    ValidJson(body): ValidJson<PasskeySignInBody>,
) -> ApiResult<Response> {
    let result = state
        .tessera
        .sessions()
        .login_with_passkey(&body.credential, &client)
        .await;
    state.metrics.count_result("login", &result);
    Ok(no_store(Json(TokenResponse::from(result?))))
}

/// `POST /auth/refresh`
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, body = TokenResponse), (status = 401, description = "invalid_refresh_token")))]
pub async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    ValidJson(body): ValidJson<RefreshBody>,
) -> ApiResult<Response> {
    let result = state
        .tessera
        .sessions()
        .refresh(body.refresh_token.expose_secret(), &client)
        .await;
    state.metrics.count_result("refresh", &result);
    Ok(no_store(Json(TokenResponse::from(result?))))
}

/// `POST /auth/logout`
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "the session is revoked"), (status = 401, description = "unauthenticated or invalid_token")))]
pub async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    auth: AuthUser,
) -> ApiResult<StatusCode> {
    let caller = auth.person()?;
    state.tessera.sessions().logout(&caller, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/logout-all`
#[utoipa::path(post, path = "/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "every session of the user is revoked")))]
pub async fn logout_all(
    State(state): State<AppState>,
    Client(client): Client,
    auth: AuthUser,
) -> ApiResult<StatusCode> {
    let caller = auth.person()?;
    state
        .tessera
        .sessions()
        .logout_all(&caller, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The forward-auth header naming the token's subject.
pub const X_AUTH_SUBJECT: HeaderName = HeaderName::from_static("x-auth-subject");
/// The forward-auth header naming the token's username (absent for client tokens).
pub const X_AUTH_USERNAME: HeaderName = HeaderName::from_static("x-auth-username");
/// The forward-auth header listing the token's roles, comma-separated.
pub const X_AUTH_ROLES: HeaderName = HeaderName::from_static("x-auth-roles");
/// The forward-auth header naming the OAuth client the token was issued to
/// (absent for Tessera's own tokens).
pub const X_AUTH_CLIENT: HeaderName = HeaderName::from_static("x-auth-client");
/// The forward-auth header holding the token's OAuth scope, space-separated
/// (absent when it has none).
pub const X_AUTH_SCOPE: HeaderName = HeaderName::from_static("x-auth-scope");

/// `GET /auth/verify` — for reverse-proxy forward-auth.
#[utoipa::path(get, path = "/auth/verify", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "valid; X-Auth-Subject, X-Auth-Username, X-Auth-Roles headers, and X-Auth-Client, X-Auth-Scope for tokens issued to an OAuth client"),
              (status = 401, description = "unauthenticated or invalid_token")))]
pub async fn verify(auth: AuthUser) -> ApiResult<Response> {
    let value = |s: &str| HeaderValue::from_str(s).map_err(|_| ApiError::InvalidToken);
    let claims = &auth.claims;
    let roles = claims.roles.as_deref().unwrap_or_default().join(",");
    // Written straight into the response: no second map to copy from.
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(X_AUTH_SUBJECT, value(&claims.sub)?);
    if let Some(username) = &claims.username {
        headers.insert(X_AUTH_USERNAME, value(username)?);
    }
    headers.insert(X_AUTH_ROLES, value(&roles)?);
    if let Some(client_id) = &claims.client_id {
        headers.insert(X_AUTH_CLIENT, value(client_id)?);
    }
    if let Some(scope) = &claims.scope {
        headers.insert(X_AUTH_SCOPE, value(scope)?);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::users::PasswordChangeBody;

    #[test]
    fn request_bodies_never_show_their_secrets_in_debug() {
        let secret = "correct horse battery staple";
        let register: RegisterBody =
            serde_json::from_value(serde_json::json!({"username": "alice", "password": secret}))
                .unwrap();
        let login: LoginBody =
            serde_json::from_value(serde_json::json!({"username": "alice", "password": secret}))
                .unwrap();
        let refresh: RefreshBody =
            serde_json::from_value(serde_json::json!({"refresh_token": secret})).unwrap();
        let change: PasswordChangeBody = serde_json::from_value(
            serde_json::json!({"current_password": secret, "new_password": secret}),
        )
        .unwrap();
        for debug in [
            format!("{register:?}"),
            format!("{login:?}"),
            format!("{refresh:?}"),
            format!("{change:?}"),
        ] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert_eq!(login.password.expose_secret(), secret);
    }
}
