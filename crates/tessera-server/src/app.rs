//! The route table and the layers around it — the one place that says which
//! handler answers which path.

use crate::error::ApiError;
use crate::observe::ObserveLayer;
use crate::routes::{
    account, assets, auth, clients, console, email, email_pages, events, factors, keys, oauth, ops,
    security, sessions, sign_in, sso, users,
};
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::routing::{delete, get, post};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Builds the application: every route, the error fallbacks and the layers.
pub fn router(
    state: AppState,
    cors_origins: &[String],
    request_timeout: Duration,
    serve_metrics: bool,
) -> Router {
    let metrics = if serve_metrics {
        Router::new().route("/metrics", get(ops::metrics))
    } else {
        Router::new()
    };
    let router = Router::new()
        .merge(metrics)
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/login/mfa", post(auth::login_mfa))
        .route("/auth/login/mfa/options", post(auth::login_mfa_options))
        .route("/auth/passkey/options", post(auth::passkey_options))
        .route("/auth/passkey", post(auth::passkey_sign_in))
        .route("/auth/password-reset", post(email::request_reset))
        .route("/auth/password-reset/confirm", post(email::confirm_reset))
        .route("/auth/verify-email", post(email::verify_email))
        .route("/me/email/verify", post(email::resend_verification))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/logout-all", post(auth::logout_all))
        .route("/auth/verify", get(auth::verify))
        .route("/events", get(events::events))
        .route("/me", get(users::me))
        .route("/me/factors", get(factors::list))
        .route("/me/factors/totp", post(factors::begin_totp))
        .route(
            "/me/factors/passkey/options",
            post(factors::passkey_options),
        )
        .route("/me/factors/passkey", post(factors::add_passkey))
        .route("/me/factors/totp/{id}/confirm", post(factors::confirm_totp))
        .route("/me/factors/{id}/remove", post(factors::remove))
        .route(
            "/me/recovery-codes",
            post(factors::regenerate_recovery_codes),
        )
        .route("/users/{username}/factors", delete(factors::reset))
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
        .route(
            "/logout",
            get(sso::sign_out::logout).post(sso::sign_out::confirm_logout),
        )
        .route("/assets/tessera.css", get(assets::stylesheet))
        .route("/assets/tessera.svg", get(assets::icon))
        .route("/assets/logo", get(assets::logo))
        .route("/assets/console-events.js", get(assets::console_events))
        .route("/assets/passkeys.js", get(assets::passkeys))
        .route("/", get(sign_in::home))
        .route(
            "/verify-email",
            get(email_pages::verify_page).post(email_pages::verify),
        )
        .route(
            "/reset-password",
            get(email_pages::reset_page).post(email_pages::request_reset),
        )
        .route("/reset-password/confirm", post(email_pages::confirm_reset))
        .route("/login", get(sign_in::login).post(sign_in::submit_login))
        .route("/login/passkey/options", post(sign_in::passkey_options))
        .route("/login/mfa/options", post(sign_in::second_step_options))
        .route(
            "/register",
            get(sign_in::register).post(sign_in::submit_register),
        )
        .route("/account", get(account::profile))
        .route("/account/profile", post(account::save_profile))
        .route("/account/password", post(account::change_password))
        .route("/account/sessions", get(account::sessions))
        .route("/account/sessions/end", post(account::end_session))
        .route(
            "/account/sessions/end-others",
            post(account::end_other_sessions),
        )
        .route("/account/applications", get(account::applications))
        .route(
            "/account/applications/revoke",
            post(account::revoke_application),
        )
        .route("/account/security", get(security::security))
        .route("/account/security/totp", post(security::begin_totp))
        .route(
            "/account/security/totp/confirm",
            post(security::confirm_totp),
        )
        .route(
            "/account/security/factors/remove",
            post(security::remove_factor),
        )
        .route(
            "/account/security/recovery-codes",
            post(security::regenerate_codes),
        )
        .route(
            "/account/security/passkey/options",
            post(security::passkey_options),
        )
        .route("/account/security/passkey", post(security::add_passkey))
        .route(
            "/account/security/email",
            post(security::resend_verification),
        )
        .route("/account/sign-out", post(sign_in::sign_out))
        .route("/console", get(console::overview::overview))
        .route("/console/keys", get(console::overview::keys))
        .route("/console/keys/rotate", post(console::overview::rotate))
        .route("/console/users", get(console::users::search))
        .route("/console/users/{username}", get(console::users::user))
        .route(
            "/console/users/{username}/profile",
            post(console::users::save_profile),
        )
        .route(
            "/console/users/{username}/password",
            post(console::users::set_password),
        )
        .route(
            "/console/users/{username}/sessions/end",
            post(console::users::end_session),
        )
        .route(
            "/console/users/{username}/disable",
            post(console::users::disable),
        )
        .route(
            "/console/users/{username}/enable",
            post(console::users::enable),
        )
        .route(
            "/console/users/{username}/delete",
            post(console::users::delete),
        )
        .route(
            "/console/users/{username}/factors/reset",
            post(console::users::reset_factors),
        )
        .route(
            "/console/clients",
            get(console::clients::list).post(console::clients::create),
        )
        .route("/console/clients/{client_id}", get(console::clients::show))
        .route(
            "/console/clients/{client_id}/uris",
            post(console::clients::save_uris),
        )
        .route(
            "/console/clients/{client_id}/delete",
            post(console::clients::delete),
        )
        .route("/console/audit", get(console::audit::audit))
        .route("/console/events", get(console::audit::events))
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
        .route("/schemas", get(ops::list_schemas))
        .route("/schemas/{name}", get(ops::schema))
        .route("/openapi.json", get(crate::openapi::serve_document))
        .route("/docs", get(crate::openapi::serve_reference))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .route_layer(ObserveLayer::new(
            state.metrics.clone(),
            request_timeout,
            state.trusted_proxies.clone(),
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    // Without configured origins CORS allows nothing, and the layer would
    // only add `Vary` headers (and copy its settings) on every request.
    let router = if cors_origins.is_empty() {
        router
    } else {
        router.layer(cors(cors_origins))
    };
    let router = router.layer(SetResponseHeaderLayer::overriding(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ));
    // Request spans and events are at DEBUG: when the log filter drops them,
    // the layer would only add work to every request.
    let router = if tracing::enabled!(target: "tower_http::trace::on_request", tracing::Level::DEBUG)
    {
        router.layer(TraceLayer::new_for_http().make_span_with(request_span::<axum::body::Body>))
    } else {
        router
    };
    router.with_state(state)
}

/// The router of the separate metrics listener (`TESSERA_METRICS_BIND`):
/// `GET /metrics` alone.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}

/// The span of one request in the DEBUG log: method and path, never the
/// query string, which can carry secrets (`id_token_hint` on `/logout`, a
/// `code` or `state` on a redirect) that must not reach the logs.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        version = ?request.version(),
    )
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
            auth::X_AUTH_SUBJECT,
            auth::X_AUTH_USERNAME,
            auth::X_AUTH_ROLES,
            auth::X_AUTH_CLIENT,
            auth::X_AUTH_SCOPE,
            axum::http::HeaderName::from_static(crate::observe::REQUEST_ID),
        ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn the_debug_request_log_names_the_path_but_never_the_query() {
        let (captured, _guard) = crate::captured_log::Captured::start(tracing::Level::DEBUG);
        let app: Router = Router::new()
            .route("/logout", get(|| async { "signed out" }))
            .layer(TraceLayer::new_for_http().make_span_with(request_span::<Body>));
        let request = Request::get("/logout?id_token_hint=eyJSECRET.eyJSECRET.SIG&state=s3cr3t")
            .body(Body::empty())
            .expect("request");
        let response = app.oneshot(request).await.expect("response");
        assert_eq!(response.status(), axum::http::StatusCode::OK);
        let log = captured.text();
        assert!(log.contains("path=/logout"), "{log}");
        assert!(!log.contains("SECRET"), "{log}");
        assert!(!log.contains("s3cr3t"), "{log}");
        assert!(!log.contains("id_token_hint"), "{log}");
    }
}
