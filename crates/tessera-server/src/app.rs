//! The route table and the layers around it — the one place that says which
//! handler answers which path.

use crate::error::ApiError;
use crate::metrics::track;
use crate::routes::{auth, clients, events, keys, oauth, ops, sessions, sso, users};
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Builds the application: every route, the error fallbacks and the layers.
pub fn router(state: AppState, cors_origins: &[String], request_timeout: Duration) -> Router {
    let openapi = Arc::new(crate::openapi::document(
        &state.schemas,
        &state.tessera.settings().issuer,
    ));
    Router::new()
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/logout-all", post(auth::logout_all))
        .route("/auth/verify", get(auth::verify))
        .route("/events", get(events::events))
        .route("/me", get(users::me))
        .route("/users", get(users::list_users))
        .route(
            "/users/{username}",
            get(users::get_user)
                .patch(users::update_user)
                .delete(users::delete_user),
        )
        .route("/users/{username}/password", post(users::change_password))
        .route("/users/{username}/sessions", get(users::user_sessions))
        .route("/sessions/{id}", delete(sessions::delete_session))
        .route("/.well-known/jwks.json", get(keys::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(keys::openid_configuration),
        )
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/oauth/introspect", post(oauth::introspect))
        .route("/userinfo", get(oauth::userinfo).post(oauth::userinfo))
        .route("/authorize", get(sso::authorize).post(sso::submit_login))
        .route("/logout", get(sso::logout).post(sso::confirm_logout))
        .route("/assets/tessera.css", get(sso::stylesheet))
        .route(
            "/admin/clients",
            get(clients::list_clients).post(clients::create_client),
        )
        .route("/admin/clients/{client_id}", delete(clients::delete_client))
        .route("/admin/keys", get(keys::list_keys))
        .route("/admin/keys/rotate", post(keys::rotate_keys))
        .route("/admin/audit", get(ops::audit_log))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/schemas", get(ops::list_schemas))
        .route("/schemas/{name}", get(ops::schema))
        .route(
            "/openapi.json",
            get(move || async move { axum::Json(openapi.as_ref().clone()) }),
        )
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .route_layer(middleware::from_fn_with_state(state.metrics.clone(), track))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            time_limit(request, next, request_timeout)
        }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors(cors_origins))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Answers 408 in the error shape when a request (slow body included) takes
/// longer than allowed, so a slow client cannot hold a worker.
async fn time_limit(request: Request, next: Next, limit: Duration) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout.into_response(),
    }
}

/// CORS for the configured origins only; none by default.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([
            HeaderName::from_static("x-auth-subject"),
            HeaderName::from_static("x-auth-username"),
            HeaderName::from_static("x-auth-roles"),
        ])
}
