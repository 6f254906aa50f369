//! OAuth client registration, for admins: `/admin/clients`.

use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::extract::{AuthUser, Client, RequestBody, ValidJson};
use crate::state::AppState;
use crate::views::ClientView;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_core::oauth::GrantType;
use tessera_core::service::NewClient;
use utoipa::ToSchema;

/// `POST /admin/clients` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateClient {
    /// Name shown on the login page.
    pub name: String,
    /// Where authorization responses may go (exact match).
    pub redirect_uris: Vec<String>,
    /// Where `GET /logout` may send the browser afterwards.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `password`, `client_credentials`.
    pub grant_types: Vec<String>,
    /// Scopes it may be granted (`openid`, `profile`, `email`, `events:read`, or your own).
    pub scopes: Vec<String>,
    /// Whether it gets a secret.
    pub confidential: bool,
    /// `RS256` (default) or the access-token algorithm when asymmetric.
    pub id_token_signed_response_alg: Option<String>,
}

impl RequestBody for CreateClient {
    const SCHEMA: &'static str = "client_create";
}

/// `{client, client_secret?}`
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClient {
    /// The client.
    pub client: ClientView,
    /// The secret of a confidential client: shown this once, stored only as a hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// `{clients: […]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    /// Every client, oldest first.
    pub clients: Vec<ClientView>,
}

/// `POST /admin/clients`
#[utoipa::path(post, path = "/admin/clients", tag = "admin", security(("bearer" = [])),
    request_body = CreateClient,
    responses((status = 201, body = CreatedClient), (status = 400, description = "validation_failed")))]
pub async fn create_client(
    State(state): State<AppState>,
    Client(client): Client,
    auth: AuthUser,
    ValidJson(body): ValidJson<CreateClient>,
) -> ApiResult<Response> {
    let caller = auth.require_admin()?;
    let grant_types = body
        .grant_types
        .iter()
        .enumerate()
        .map(|(i, g)| {
            GrantType::parse(g).ok_or_else(|| {
                ApiError::invalid(&format!("/grant_types/{i}"), "unknown grant type")
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let new = NewClient {
        name: body.name,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        grant_types,
        scopes: body.scopes,
        confidential: body.confidential,
        id_token_alg: body.id_token_signed_response_alg,
    };
    let (created, secret) = state
        .tessera
        .clients()
        .register_client(new, Some(caller.user_id), &client)
        .await?;
    let body = CreatedClient {
        client: created.into(),
        client_secret: secret,
    };
    Ok(super::no_store((StatusCode::CREATED, Json(body))))
}

/// `GET /admin/clients`
#[utoipa::path(get, path = "/admin/clients", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ClientList)))]
pub async fn list_clients(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<ClientList>> {
    auth.require_admin()?;
    let clients = state.tessera.clients().clients().await?;
    Ok(Json(ClientList {
        clients: clients.into_iter().map(ClientView::from).collect(),
    }))
}

/// `DELETE /admin/clients/{client_id}`
#[utoipa::path(delete, path = "/admin/clients/{client_id}", tag = "admin", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client id")),
    responses((status = 204, description = "deleted; its sessions and tokens are revoked"), (status = 404, description = "not_found")))]
pub async fn delete_client(
    State(state): State<AppState>,
    Client(client): Client,
    auth: AuthUser,
    Path(client_id): Path<String>,
) -> ApiResult<Response> {
    let caller = auth.require_admin()?;
    state
        .tessera
        .clients()
        .delete_client(&client_id, Some(caller.user_id), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
