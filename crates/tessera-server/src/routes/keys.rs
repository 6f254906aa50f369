//! Keys and discovery: the JWKS, the OpenID discovery document, and the
//! admin key listing and rotation.

use crate::error::ApiResult;
use crate::extract::AuthUser;
use crate::state::AppState;
use crate::views::KeyView;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tessera_core::oauth::{GrantType, KNOWN_SCOPES};
use tessera_token::keys::alg_name;
use utoipa::ToSchema;

/// `GET /.well-known/jwks.json`
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    responses((status = 200, description = "JWK Set (RFC 7517) of the next, active and retiring public keys")))]
pub async fn jwks(State(state): State<AppState>) -> ApiResult<Response> {
    let mut response = Json(json!({"keys": state.tessera.keys().jwks().await?})).into_response();
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

/// `GET /.well-known/openid-configuration`
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "keys",
    responses((status = 200, description = "OpenID Connect discovery document")))]
pub async fn openid_configuration(State(state): State<AppState>) -> Json<Value> {
    let tessera = &state.tessera;
    let issuer = &tessera.settings().issuer;
    let id_token_algs: Vec<&str> = tessera
        .keys()
        .id_token_algorithms()
        .into_iter()
        .map(alg_name)
        .collect();
    let grants: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
    let client_auth = ["client_secret_basic", "client_secret_post"];
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "scopes_supported": KNOWN_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grants,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": id_token_algs,
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": client_auth,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "sid",
            "preferred_username", "name", "given_name", "family_name", "email", "email_verified", "roles",
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "access_token_signing_alg": alg_name(tessera.settings().alg),
    }))
}

/// `{keys: […]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Every key, newest first.
    pub keys: Vec<KeyView>,
}

/// `GET /admin/keys`
#[utoipa::path(get, path = "/admin/keys", tag = "admin", security(("bearer" = [])), responses((status = 200, body = KeyList)))]
pub async fn list_keys(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<KeyList>> {
    auth.require_admin()?;
    Ok(Json(KeyList {
        keys: state
            .tessera
            .keys()
            .list_keys()
            .await?
            .into_iter()
            .map(KeyView::from)
            .collect(),
    }))
}

/// `POST /admin/keys/rotate`
#[utoipa::path(post, path = "/admin/keys/rotate", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "{kid}: the key that signs from now on"), (status = 409, description = "key_rotation_unavailable (HMAC)")))]
pub async fn rotate_keys(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Value>> {
    let caller = auth.require_admin()?;
    let kid = state
        .tessera
        .keys()
        .rotate_keys(Some(caller.user_id))
        .await?;
    Ok(Json(json!({"kid": kid})))
}
