//! `/me` and `/users/*`: profiles, listing, changes, passwords, deletion, sessions.

use super::present;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Client, RequestBody, ValidJson};
use crate::extract::{Path, Query};
use crate::state::AppState;
use crate::views::{BasicUser, FullUser, SessionView, UserEnvelope};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_core::secret::{ExposeSecret, SecretString};
use tessera_core::service::ProfileChanges;
use utoipa::ToSchema;

/// Body of `PATCH /users/{username}` (schema `user_update`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdateBody {
    /// E-mail; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// Given name; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Option<String>>,
    /// Family name; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Option<String>>,
    /// Phone; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// Roles (admins only); `user` is always kept.
    pub roles: Option<Vec<String>>,
    /// Disable or enable (admins only).
    pub disabled: Option<bool>,
    /// The caller's own password: required when they change or clear
    /// their own `email`.
    #[schema(value_type = Option<String>)]
    pub current_password: Option<SecretString>,
}

impl RequestBody for UserUpdateBody {
    const SCHEMA: &'static str = "user_update";
}

/// Body of `POST /users/{username}/password` (schema `password_change`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeBody {
    /// Required when changing one's own password.
    #[schema(value_type = Option<String>)]
    pub current_password: Option<SecretString>,
    /// The new password.
    #[schema(value_type = String)]
    pub new_password: SecretString,
}

impl RequestBody for PasswordChangeBody {
    const SCHEMA: &'static str = "password_change";
}

/// Query of `GET /users`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// One page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// Basic views, ordered by lower-cased username.
    pub users: Vec<BasicUser>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// A user's live sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// Newest first.
    pub sessions: Vec<SessionView>,
}

/// `GET /me`
#[utoipa::path(get, path = "/me", tag = "users", security(("bearer" = [])), responses((status = 200, body = UserEnvelope)))]
pub async fn me(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<UserEnvelope>> {
    let caller = auth.person()?;
    let user = state
        .tessera
        .accounts()
        .user_by_id(caller.user_id)
        .await
        .map_err(|_| ApiError::InvalidToken)?;
    Ok(Json(UserEnvelope { user: user.into() }))
}

/// `GET /users`
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, description = "1–100, default 50"), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = UserList)))]
pub async fn list_users(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<UserList>> {
    auth.person()?;
    let limit = match q.limit.as_deref() {
        None => 50,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::invalid("/limit", "must be a whole number from 1 to 100"))?,
    };
    let page = state
        .tessera
        .accounts()
        .list_users(limit, q.cursor.as_deref())
        .await?;
    Ok(Json(UserList {
        users: page.items.into_iter().map(BasicUser::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// `GET /users/{username}`
#[utoipa::path(get, path = "/users/{username}", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path)), responses((status = 200, description = "{user}: full view for self and admins, basic for others"), (status = 404, description = "user_not_found")))]
pub async fn get_user(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(username): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = auth.person()?;
    let user = state.tessera.accounts().user(&username).await?;
    let view = if caller.is_admin || user.id == caller.user_id {
        json!({"user": FullUser::from(user)})
    } else {
        json!({"user": BasicUser::from(user)})
    };
    Ok(Json(view))
}

/// `PATCH /users/{username}`
#[utoipa::path(patch, path = "/users/{username}", tag = "users", security(("bearer" = [])), request_body = UserUpdateBody,
    params(("username" = String, Path)),
    responses((status = 200, body = UserEnvelope), (status = 403, description = "forbidden"), (status = 409, description = "last_admin")))]
pub async fn update_user(
    State(state): State<AppState>,
    Client(client): Client,
    auth: AuthUser,
    Path(username): Path<String>,
    ValidJson(body): ValidJson<UserUpdateBody>,
) -> ApiResult<Json<UserEnvelope>> {
    let caller = auth.require_self_or_admin(&username)?;
    let changes = ProfileChanges {
        email: body.email,
        first_name: body.first_name,
        last_name: body.last_name,
        phone: body.phone,
        roles: body.roles,
        disabled: body.disabled,
        current_password: body.current_password,
    };
    if changes.is_administrative() && !caller.is_admin {
        return Err(auth.not_admin("only admins may change roles or disabled"));
    }
    if changes.is_empty() {
        return Err(ApiError::invalid("", "must change at least one field"));
    }
    let user = state
        .tessera
        .accounts()
        .update_user(&caller, &username, changes, &client)
        .await?;
    Ok(Json(UserEnvelope { user: user.into() }))
}

/// `POST /users/{username}/password`
#[utoipa::path(post, path = "/users/{username}/password", tag = "users", security(("bearer" = [])), request_body = PasswordChangeBody,
    params(("username" = String, Path)), responses((status = 204, description = "changed; other sessions revoked")))]
pub async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    auth: AuthUser,
    Path(username): Path<String>,
    ValidJson(body): ValidJson<PasswordChangeBody>,
) -> ApiResult<StatusCode> {
    let caller = auth.require_self_or_admin(&username)?;
    state
        .tessera
        .accounts()
        .change_password(
            &caller,
            &username,
            body.current_password
                .as_ref()
                .map(ExposeSecret::expose_secret),
            body.new_password.expose_secret(),
            &client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /users/{username}`
#[utoipa::path(delete, path = "/users/{username}", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path)), responses((status = 200, description = "{message: deleted}"), (status = 409, description = "last_admin")))]
pub async fn delete_user(
    State(state): State<AppState>,
    Client(client): Client,
    auth: AuthUser,
    Path(username): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = auth.require_admin()?;
    state
        .tessera
        .accounts()
        .delete_user(Some(&caller), &username, &client)
        .await?;
    Ok(Json(json!({"message": "deleted"})))
}

/// `GET /users/{username}/sessions`
#[utoipa::path(get, path = "/users/{username}/sessions", tag = "sessions", security(("bearer" = [])),
    params(("username" = String, Path)), responses((status = 200, body = SessionList)))]
pub async fn user_sessions(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(username): Path<String>,
) -> ApiResult<Json<SessionList>> {
    auth.require_self_or_admin(&username)?;
    let user = state.tessera.accounts().user(&username).await?;
    let sessions = state.tessera.sessions().sessions_of(user.id).await?;
    Ok(Json(SessionList {
        sessions: sessions.into_iter().map(SessionView::from).collect(),
    }))
}
