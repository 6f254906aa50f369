//! The rows of `oauth_clients`, `browser_sessions` and
//! `authorization_codes` as the database returns them, and their checked
//! conversion into the store's records.

use super::{AuthorizationCode, BrowserSession};
use crate::oauth::{GrantType, OAuthClient, StoredClient};
use crate::store::sql::rows::parse_uuid;
use crate::store::{StoreError, StoreResult};

/// Columns of `oauth_clients` in [`ClientRow`] order.
pub(super) const CLIENT_COLUMNS: &str = "client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, \
     grant_types, scopes, id_token_alg, created_at";

#[derive(sqlx::FromRow)]
pub(super) struct ClientRow {
    client_id: String,
    name: String,
    secret_hash: Option<Vec<u8>>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    scopes: String,
    id_token_alg: Option<String>,
    created_at: i64,
}

fn json_list(text: &str, column: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(format!("oauth_clients.{column}")))
}

pub(super) fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

impl TryFrom<ClientRow> for StoredClient {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> StoreResult<Self> {
        let grant_types = json_list(&row.grant_types, "grant_types")?
            .iter()
            .map(|g| {
                GrantType::parse(g)
                    .ok_or_else(|| StoreError::Corrupt("oauth_clients.grant_types".into()))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let secret_hash = match row.secret_hash {
            Some(h) => Some(
                <[u8; 32]>::try_from(h.as_slice())
                    .map_err(|_| StoreError::Corrupt("oauth_clients.secret_hash".into()))?,
            ),
            None => None,
        };
        Ok(StoredClient {
            client: OAuthClient {
                client_id: row.client_id,
                name: row.name,
                confidential: secret_hash.is_some(),
                redirect_uris: json_list(&row.redirect_uris, "redirect_uris")?,
                post_logout_redirect_uris: json_list(
                    &row.post_logout_redirect_uris,
                    "post_logout_redirect_uris",
                )?,
                grant_types,
                scopes: json_list(&row.scopes, "scopes")?,
                id_token_alg: row.id_token_alg,
                created_at: row.created_at,
            },
            secret_hash,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct BrowserSessionRow {
    id: String,
    user_id: String,
    auth_time: i64,
    amr: Option<String>,
    expires_at: i64,
}

impl TryFrom<BrowserSessionRow> for BrowserSession {
    type Error = StoreError;

    fn try_from(row: BrowserSessionRow) -> StoreResult<Self> {
        Ok(BrowserSession {
            id: parse_uuid(&row.id)?,
            user_id: parse_uuid(&row.user_id)?,
            auth_time: row.auth_time,
            amr: crate::mfa::amr::from_stored(row.amr.as_deref()),
            expires_at: row.expires_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CodeRow {
    client_id: String,
    user_id: String,
    browser_session_id: Option<String>,
    redirect_uri: String,
    code_challenge: String,
    scope: String,
    nonce: Option<String>,
    auth_time: i64,
    amr: Option<String>,
    expires_at: i64,
    used_at: Option<i64>,
    session_id: Option<String>,
}

impl TryFrom<CodeRow> for AuthorizationCode {
    type Error = StoreError;

    fn try_from(row: CodeRow) -> StoreResult<Self> {
        Ok(AuthorizationCode {
            client_id: row.client_id,
            user_id: parse_uuid(&row.user_id)?,
            browser_session_id: row
                .browser_session_id
                .as_deref()
                .map(parse_uuid)
                .transpose()?,
            redirect_uri: row.redirect_uri,
            code_challenge: row.code_challenge,
            scope: row.scope,
            nonce: row.nonce,
            auth_time: row.auth_time,
            amr: crate::mfa::amr::from_stored(row.amr.as_deref()),
            expires_at: row.expires_at,
            used_at: row.used_at,
            session_id: row.session_id.as_deref().map(parse_uuid).transpose()?,
        })
    }
}
