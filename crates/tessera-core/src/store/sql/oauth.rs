//! The SQL behind [`OAuthStore`], shared by SQLite and PostgreSQL like the
//! rest of the store.

use super::super::oauth::{
    AuthorizationCode, BrowserSession, NewBrowserSession, OAuthStore, Redemption,
};
use super::super::rows::{SessionRow, parse_uuid, session_columns};
use super::super::{AuditEntry, NewSession, Revocation, StoreError, StoreResult};
use super::{PgStore, SqliteStore, sessions, uuid_opt};
use crate::events;
use crate::model::Session;
use crate::oauth::{GrantType, OAuthClient, StoredClient};
use async_trait::async_trait;
use tessera_token::clock::Millis;
use uuid::Uuid;

/// Columns of `oauth_clients` in [`ClientRow`] order.
const CLIENT_COLUMNS: &str = "client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, \
     grant_types, scopes, id_token_alg, created_at";

#[derive(sqlx::FromRow)]
struct ClientRow {
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

fn to_json(list: &[String]) -> String {
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
struct BrowserSessionRow {
    id: String,
    user_id: String,
    auth_time: i64,
    expires_at: i64,
}

impl TryFrom<BrowserSessionRow> for BrowserSession {
    type Error = StoreError;

    fn try_from(row: BrowserSessionRow) -> StoreResult<Self> {
        Ok(BrowserSession {
            id: parse_uuid(&row.id)?,
            user_id: parse_uuid(&row.user_id)?,
            auth_time: row.auth_time,
            expires_at: row.expires_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    client_id: String,
    user_id: String,
    browser_session_id: Option<String>,
    redirect_uri: String,
    code_challenge: String,
    scope: String,
    nonce: Option<String>,
    auth_time: i64,
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
            expires_at: row.expires_at,
            used_at: row.used_at,
            session_id: row.session_id.as_deref().map(parse_uuid).transpose()?,
        })
    }
}

/// Before redeeming a code (PostgreSQL): lock the code's browser session
/// row, so a redemption and a logout of that browser take turns. Without it,
/// under READ COMMITTED, a logout committing between the redemption's check
/// and its commit would not see the new token session and leave it alive.
/// SQLite needs nothing: it runs one writer at a time.
const PG_LOCK_BROWSER_SESSION: Option<&str> = Some(
    "SELECT 1 FROM browser_sessions WHERE id = \
     (SELECT browser_session_id FROM authorization_codes WHERE code_hash = $1) FOR UPDATE",
);

macro_rules! oauth_sql_store {
    ($store:ty, $db:ty, $lock_browser:expr) => {
        impl $store {
            /// Revokes the live sessions `column` = `value` names, recording
            /// each revocation and its `session.revoked` event.
            async fn revoke_sessions_by_tx(
                tx: &mut sqlx::Transaction<'_, $db>,
                column: &str,
                value: &str,
                now: Millis,
                until: Millis,
            ) -> StoreResult<Vec<Session>> {
                let sql = format!(
                    "UPDATE sessions SET revoked_at = $2 \
                     WHERE {column} = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING {}",
                    session_columns!()
                );
                let rows = sqlx::query_as::<$db, SessionRow>(&sql)
                    .bind(value)
                    .bind(now)
                    .fetch_all(&mut **tx)
                    .await?;
                let revoked = sessions(rows)?;
                for s in &revoked {
                    Self::insert_revocation(tx, &Revocation::session(s.id, until)).await?;
                    let event = events::session_revoked(&s.id.to_string(), &s.user_id.to_string(), until);
                    Self::insert_event_tx(tx, now, &event).await?;
                }
                Ok(revoked)
            }
        }

        #[async_trait]
        impl OAuthStore for $store {
            async fn insert_client(&self, c: &StoredClient, audit: &[AuditEntry]) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let grants: Vec<String> = c.client.grant_types.iter().map(|g| g.as_str().to_owned()).collect();
                sqlx::query::<$db>(
                    "INSERT INTO oauth_clients (client_id, name, secret_hash, redirect_uris, \
                     post_logout_redirect_uris, grant_types, scopes, id_token_alg, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&c.client.client_id)
                .bind(&c.client.name)
                .bind(c.secret_hash.map(|h| h.to_vec()))
                .bind(to_json(&c.client.redirect_uris))
                .bind(to_json(&c.client.post_logout_redirect_uris))
                .bind(to_json(&grants))
                .bind(to_json(&c.client.scopes))
                .bind(&c.client.id_token_alg)
                .bind(c.client.created_at)
                .execute(&mut *tx)
                .await?;
                Self::append_audit_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn clients(&self) -> StoreResult<Vec<OAuthClient>> {
                let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients ORDER BY created_at, client_id");
                sqlx::query_as::<$db, ClientRow>(&sql)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(|r| StoredClient::try_from(r).map(|s| s.client))
                    .collect()
            }

            async fn client_by_id(&self, client_id: &str) -> StoreResult<Option<StoredClient>> {
                if client_id.contains('\0') {
                    return Ok(None);
                }
                let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1");
                sqlx::query_as::<$db, ClientRow>(&sql)
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(StoredClient::try_from)
                    .transpose()
            }

            async fn delete_client(
                &self,
                client_id: &str,
                now: Millis,
                until: Millis,
                revocations: &[Revocation],
                audit: &[AuditEntry],
            ) -> StoreResult<Option<Vec<Session>>> {
                if client_id.contains('\0') {
                    return Ok(None);
                }
                let mut tx = self.begin_write().await?;
                let done = sqlx::query::<$db>("DELETE FROM oauth_clients WHERE client_id = $1")
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                let revoked = Self::revoke_sessions_by_tx(&mut tx, "client_id", client_id, now, until).await?;
                for r in revocations {
                    Self::insert_revocation(&mut tx, r).await?;
                }
                Self::append_audit_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(Some(revoked))
            }

            async fn insert_browser_session(&self, n: &NewBrowserSession, audit: &[AuditEntry]) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>(
                    "INSERT INTO browser_sessions (id, user_id, token_hash, auth_time, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(n.session.id.to_string())
                .bind(n.session.user_id.to_string())
                .bind(&n.token_hash[..])
                .bind(n.session.auth_time)
                .bind(n.session.expires_at)
                .execute(&mut *tx)
                .await?;
                Self::append_audit_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn reauthenticate_browser_session(
                &self,
                id: Uuid,
                auth_time: Millis,
                audit: &[AuditEntry],
            ) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query::<$db>(
                    "UPDATE browser_sessions SET auth_time = $2 \
                     WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
                )
                .bind(id.to_string())
                .bind(auth_time)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                Self::append_audit_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn browser_session(&self, token_hash: &[u8; 32], now: Millis) -> StoreResult<Option<BrowserSession>> {
                sqlx::query_as::<$db, BrowserSessionRow>(
                    "SELECT id, user_id, auth_time, expires_at FROM browser_sessions \
                     WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
                )
                .bind(&token_hash[..])
                .bind(now)
                .fetch_optional(&self.pool)
                .await?
                .map(BrowserSession::try_from)
                .transpose()
            }

            async fn end_browser_session(
                &self,
                id: Uuid,
                now: Millis,
                until: Millis,
                audit: &[AuditEntry],
            ) -> StoreResult<Vec<Session>> {
                let mut tx = self.begin_write().await?;
                sqlx::query::<$db>("UPDATE browser_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(id.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let revoked =
                    Self::revoke_sessions_by_tx(&mut tx, "browser_session_id", &id.to_string(), now, until).await?;
                Self::append_audit_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(revoked)
            }

            async fn insert_authorization_code(&self, hash: &[u8; 32], c: &AuthorizationCode) -> StoreResult<()> {
                sqlx::query::<$db>(
                    "INSERT INTO authorization_codes (code_hash, client_id, user_id, browser_session_id, \
                     redirect_uri, code_challenge, scope, nonce, auth_time, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&hash[..])
                .bind(&c.client_id)
                .bind(c.user_id.to_string())
                .bind(uuid_opt(c.browser_session_id))
                .bind(&c.redirect_uri)
                .bind(&c.code_challenge)
                .bind(&c.scope)
                .bind(&c.nonce)
                .bind(c.auth_time)
                .bind(c.expires_at)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn authorization_code(&self, hash: &[u8; 32]) -> StoreResult<Option<AuthorizationCode>> {
                sqlx::query_as::<$db, CodeRow>(
                    "SELECT client_id, user_id, browser_session_id, redirect_uri, code_challenge, scope, nonce, \
                     auth_time, expires_at, used_at, session_id FROM authorization_codes WHERE code_hash = $1",
                )
                .bind(&hash[..])
                .fetch_optional(&self.pool)
                .await?
                .map(AuthorizationCode::try_from)
                .transpose()
            }

            async fn redeem_authorization_code(
                &self,
                hash: &[u8; 32],
                now: Millis,
                session: &NewSession,
                audit: &[AuditEntry],
            ) -> StoreResult<Redemption> {
                let mut tx = self.begin_write().await?;
                let lock: Option<&str> = $lock_browser;
                if let Some(sql) = lock {
                    sqlx::query::<$db>(sql).bind(&hash[..]).execute(&mut *tx).await?;
                }
                // One conditional UPDATE: of two redemptions racing, exactly
                // one matches the unused row; the session id is written with
                // it, so a later reuse always knows what to revoke. A code
                // whose browser session has ended (logout, logout-all, a
                // password change) no longer redeems: the person signed out.
                let done = sqlx::query::<$db>(
                    "UPDATE authorization_codes SET used_at = $2, session_id = $3 \
                     WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                     AND (browser_session_id IS NULL OR EXISTS (SELECT 1 FROM browser_sessions b \
                          WHERE b.id = authorization_codes.browser_session_id \
                          AND b.revoked_at IS NULL AND b.expires_at > $2))",
                )
                .bind(&hash[..])
                .bind(now)
                .bind(session.session.id.to_string())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    Self::insert_session_tx(&mut tx, session).await?;
                    Self::append_audit_tx(&mut tx, audit).await?;
                    tx.commit().await?;
                    return Ok(Redemption::Redeemed);
                }
                drop(tx);
                Ok(match self.authorization_code(hash).await? {
                    Some(code) if code.used_at.is_some() => Redemption::AlreadyUsed(code.session_id),
                    _ => Redemption::Unknown,
                })
            }

            async fn session_by_refresh_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Session>> {
                sqlx::query_as::<$db, SessionRow>(concat!(
                    "SELECT ", session_columns!(), " FROM sessions WHERE refresh_hash = $1"
                ))
                .bind(&hash[..])
                .fetch_optional(&self.pool)
                .await?
                .map(Session::try_from)
                .transpose()
            }

            async fn revoke_access_token(
                &self,
                revocation: &Revocation,
                sub: &str,
                exp_ms: Millis,
                now: Millis,
                audit: &[AuditEntry],
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                Self::insert_revocation(&mut tx, revocation).await?;
                let event = events::token_revoked(&revocation.subject, sub, exp_ms);
                Self::insert_event_tx(&mut tx, now, &event).await?;
                Self::append_audit_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn purge_oauth(&self, before: Millis) -> StoreResult<u64> {
                let mut tx = self.begin_write().await?;
                let a = sqlx::query::<$db>("DELETE FROM authorization_codes WHERE expires_at <= $1")
                    .bind(before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let b = sqlx::query::<$db>(
                    "DELETE FROM browser_sessions WHERE expires_at <= $1 OR (revoked_at IS NOT NULL AND revoked_at <= $1)",
                )
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(a + b)
            }
        }
    };
}

oauth_sql_store!(SqliteStore, sqlx::Sqlite, None);
oauth_sql_store!(PgStore, sqlx::Postgres, PG_LOCK_BROWSER_SESSION);
