//! `/sessions/{id}`: revoking one session.

use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::extract::{AuthUser, Client};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;

/// `DELETE /sessions/{id}`
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "revoked"), (status = 404, description = "not_found")))]
pub async fn delete_session(
    State(state): State<AppState>,
    Client(client): Client,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let caller = auth.person()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    state
        .tessera
        .sessions()
        .delete_session(&caller, id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
