//! The OpenAPI 3.1 document, generated from the handlers' annotations and
//! completed by `contract.rs` with every refusal, parameter bound and form
//! body. The request-body components are replaced by the very JSON Schemas
//! the server validates with, so the document cannot drift from what is
//! enforced. `reference.rs` renders it for people; both are served from here
//! (`/openapi.json`, `/docs`).

mod contract;
mod reference;
mod refusals;

use crate::error::ApiError;
use crate::pages;
use crate::routes::{
    auth, clients, email, events, factors, keys, oauth, ops, sessions, sso, users,
};
use crate::schemas::Schemas;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Tessera", description = "Self-hosted authentication and authorization with JSON Web Tokens."),
    paths(
        auth::register, auth::login, events::events, auth::refresh, auth::logout, auth::logout_all, auth::verify,
        users::me, users::list_users, users::get_user, users::update_user, users::change_password,
        users::delete_user, users::user_sessions, sessions::delete_session,
        keys::jwks, keys::openid_configuration, keys::list_keys, keys::rotate_keys,
        ops::healthz, ops::readyz, ops::metrics, ops::list_schemas, ops::schema, ops::audit_log,
        oauth::token, oauth::revoke, oauth::introspect, oauth::userinfo,
        sso::authorize, sso::submit_login, sso::sign_out::logout, sso::sign_out::confirm_logout,
        clients::create_client, clients::list_clients, clients::delete_client,
        auth::login_mfa, factors::list, factors::begin_totp, factors::confirm_totp, factors::remove,
        factors::regenerate_recovery_codes, factors::reset, factors::passkey_options, factors::add_passkey,
        auth::login_mfa_options, auth::passkey_options, auth::passkey_sign_in,
        email::request_reset, email::confirm_reset, email::verify_email, email::resend_verification,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail, crate::error::FieldError)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

/// Request-body components and the schema each must be.
const BODIES: [(&str, &str); 17] = [
    ("RegisterBody", "register"),
    ("LoginBody", "login"),
    ("RefreshBody", "refresh"),
    ("UserUpdateBody", "user_update"),
    ("PasswordChangeBody", "password_change"),
    ("CreateClient", "client_create"),
    ("LoginMfaBody", "login_mfa"),
    ("TotpBody", "factor_totp"),
    ("ConfirmBody", "factor_confirm"),
    ("PasswordBody", "password_confirm"),
    ("MfaOptionsBody", "login_mfa_options"),
    ("PasskeyOptionsBody", "passkey_options"),
    ("PasskeySignInBody", "passkey_sign_in"),
    ("PasskeyBody", "factor_passkey"),
    ("ResetBody", "password_reset"),
    ("ResetConfirmBody", "password_reset_confirm"),
    ("VerifyEmailBody", "verify_email"),
];

/// The OpenAPI document as JSON.
pub fn document(schemas: &Schemas, issuer: &str) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    doc["servers"] = serde_json::json!([{"url": issuer}]);
    // The document describes itself too, and its reference.
    doc["paths"]["/openapi.json"] = serde_json::json!({"get": {
        "tags": ["ops"],
        "operationId": "openapi",
        "responses": {"200": {"description": "this OpenAPI 3.1 document",
            "content": {"application/json": {"schema": {"type": "object"}}}}},
    }});
    doc["paths"]["/docs"] = serde_json::json!({"get": {
        "tags": ["ops"],
        "operationId": "reference",
        "responses": {"200": {"description": "this document as a page for people",
            "content": {"text/html": {"schema": {"type": "string"}}}}},
    }});
    for (component, name) in BODIES {
        if let Some(schema) = schemas.document(name) {
            let mut schema = schema.clone();
            if let Some(map) = schema.as_object_mut() {
                map.remove("$schema");
                map.remove("$id");
            }
            doc["components"]["schemas"][component] = schema;
        }
    }
    contract::declare_extras(&mut doc);
    contract::declare_parameters(&mut doc);
    contract::declare_forms(&mut doc);
    refusals::declare_refusals(&mut doc);
    contract::declare_summaries(&mut doc);
    doc
}

/// `GET /openapi.json` — the document (described by hand in itself).
pub async fn serve_document(State(state): State<AppState>) -> Response {
    let json = state
        .published
        .json
        .get_or_init(|| published(&state).to_string());
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        json.clone(),
    )
        .into_response()
}

/// `GET /docs` — the document as a page for people.
pub async fn serve_reference(State(state): State<AppState>) -> Response {
    let page = state.published.reference.get_or_init(|| {
        reference::render(published(&state), &state.site).map_err(|e| e.to_string())
    });
    match page {
        Ok(html) => pages::html_response(StatusCode::OK, html.clone()),
        Err(cause) => {
            tracing::error!(%cause, "the API reference failed to render");
            ApiError::internal("the API reference failed to render").into_response()
        }
    }
}

/// The document, built when first asked for (most processes never serve it).
fn published(state: &AppState) -> &Value {
    state
        .published
        .document
        .get_or_init(|| document(&state.schemas, &state.tessera.settings().issuer))
}
