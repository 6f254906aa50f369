//! Operations: health, readiness, metrics, schemas and the audit log.

use crate::error::{ApiError, ApiResult};
use crate::extract::AuthUser;
use crate::extract::{Path, Query};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_core::store::AuditQuery;
use tessera_token::clock::rfc3339;

/// `GET /healthz`
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "the process is up")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// How long `/readyz` waits for the database.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /readyz`
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, description = "the database answers"), (status = 503, description = "it does not, within 2 s")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    // A load balancer's probe wants an answer, not a wait: a database that
    // does not answer within 2 s counts as unreachable.
    let checked = tokio::time::timeout(READY_TIMEOUT, state.tessera.check_database()).await;
    match checked.unwrap_or(Err(tessera_core::Error::Store(
        tessera_core::store::StoreError::Unavailable,
    ))) {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            let body = json!({"error": {"status": 503, "code": "unavailable", "message": "the database is not reachable"}});
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// `GET /metrics`
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics.render();
    text.push_str(&crate::gauges::render(&state).await);
    let mut response = text.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `GET /schemas`
#[utoipa::path(get, path = "/schemas", tag = "ops", responses((status = 200, description = "the names of the request-body schemas")))]
pub async fn list_schemas(State(state): State<AppState>) -> Json<Value> {
    let issuer = &state.tessera.settings().issuer;
    let schemas: Vec<Value> = state
        .schemas
        .names()
        .map(|n| json!({"name": n, "url": format!("{issuer}/schemas/{n}.json")}))
        .collect();
    Json(json!({"schemas": schemas}))
}

/// `GET /schemas/{name}` (`register.json`, `login.json`, …)
#[utoipa::path(get, path = "/schemas/{name}", tag = "ops", params(("name" = String, Path, description = "e.g. register.json")),
    responses((status = 200, description = "a JSON Schema (draft 2020-12)"), (status = 404, description = "not_found")))]
pub async fn schema(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let name = name.strip_suffix(".json").unwrap_or(&name);
    let document = state.schemas.document(name).ok_or(ApiError::NotFound)?;
    let mut response = Json(document.clone()).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/schema+json"),
    );
    Ok(response)
}

/// Query of `GET /admin/audit`.
#[derive(Debug, Deserialize)]
pub struct AuditParams {
    user: Option<String>,
    event: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

fn parse_time(field: &str, text: &Option<String>) -> ApiResult<Option<i64>> {
    let Some(text) = text else { return Ok(None) };
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::invalid(field, "must be an RFC 3339 timestamp"))?;
    Ok(Some(
        i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
    ))
}

/// `GET /admin/audit`
#[utoipa::path(get, path = "/admin/audit", tag = "admin", security(("bearer" = [])),
    params(("user" = Option<String>, Query), ("event" = Option<String>, Query), ("since" = Option<String>, Query),
           ("until" = Option<String>, Query), ("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, description = "{entries, next_cursor}, newest first")))]
pub async fn audit_log(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(p): Query<AuditParams>,
) -> ApiResult<Json<Value>> {
    auth.require_admin()?;
    let limit = match p.limit.as_deref() {
        None => 50,
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::invalid("/limit", "must be 1 to 500"))?,
    };
    let before_id =
        match p.cursor.as_deref() {
            None => None,
            Some(c) => Some(c.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                ApiError::invalid("/cursor", "not a cursor from a previous page")
            })?),
        };
    let query = AuditQuery {
        user: p.user,
        event: p.event,
        since: parse_time("/since", &p.since)?,
        until: parse_time("/until", &p.until)?,
        before_id,
        limit,
        ..AuditQuery::default()
    };
    let entries = state.tessera.audit_log(&query).await?;
    let next_cursor = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id.to_string()))
        .flatten();
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            json!({
                "id": e.id, "at": rfc3339(e.at), "event": e.event, "actor": e.actor, "subject": e.subject,
                "ip": e.ip, "user_agent": e.user_agent, "outcome": e.outcome,
                "detail": e.detail.and_then(|d| serde_json::from_str::<Value>(&d).ok()),
            })
        })
        .collect();
    Ok(Json(
        json!({"entries": entries, "next_cursor": next_cursor}),
    ))
}
