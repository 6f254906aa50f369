//! What the store keeps for OAuth 2.0 and single sign-on: clients, browser
//! sessions and authorization codes, and the [`OAuthStore`] operations on them.

use super::audit::append_audit;
use super::records::{AuditEntry, NewSession};
use super::revocations::insert_revocation;
use super::sessions::{SessionsOf, insert_session, revoke_sessions_of};
use super::sql::statement::sql;
use super::{Revocation, SqlStore, StoreResult};
use crate::model::Session;
use crate::oauth::{OAuthClient, StoredClient};
use async_trait::async_trait;
use tessera_token::clock::Millis;
use uuid::Uuid;

mod rows;
use rows::{BrowserSessionRow, CLIENT_COLUMNS, ClientRow, CodeRow, to_json};

/// A browser signed in at the hosted login page: the server side of the
/// single sign-on cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    /// Its id.
    pub id: Uuid,
    /// Who signed in.
    pub user_id: Uuid,
    /// When they entered their password.
    pub auth_time: Millis,
    /// How they signed in (RFC 8176 `amr`).
    pub amr: Vec<String>,
    /// When it ends.
    pub expires_at: Millis,
}

/// A browser session to insert.
#[derive(Debug, Clone)]
pub struct NewBrowserSession {
    /// The session.
    pub session: BrowserSession,
    /// SHA-256 of the cookie's value.
    pub token_hash: [u8; 32],
    /// The browser's own session, inserted with it: how the browser appears
    /// among the person's sessions (no client, `browser_session_id` this
    /// one, a refresh token nobody holds). Ending it ends the browser
    /// session.
    pub device: Option<NewSession>,
}

/// An authorization code's grant: what redeeming it gives, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// The client it was issued to.
    pub client_id: String,
    /// The user who authorized it.
    pub user_id: Uuid,
    /// The browser session it came through.
    pub browser_session_id: Option<Uuid>,
    /// The redirect URI of the request (the token request must repeat it).
    pub redirect_uri: String,
    /// The PKCE `S256` challenge.
    pub code_challenge: String,
    /// The granted scope (space-separated).
    pub scope: String,
    /// The request's `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// When the person entered their password.
    pub auth_time: Millis,
    /// How they signed in (RFC 8176 `amr`).
    pub amr: Vec<String>,
    /// When the code stops working.
    pub expires_at: Millis,
    /// When it was redeemed, if it was.
    pub used_at: Option<Millis>,
    /// The token session its redemption created.
    pub session_id: Option<Uuid>,
}

/// What became of an attempt to redeem a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// Redeemed now; the session was created.
    Redeemed,
    /// It had been redeemed before: the session that redemption created.
    AlreadyUsed(Option<Uuid>),
    /// No such code, it expired, or its browser session ended.
    Unknown,
}

/// What an administrator may change of a client, as it is to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFields {
    /// Its name.
    pub name: String,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Its post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// The scopes it may ask for.
    pub scopes: Vec<String>,
}

/// Storage for OAuth clients, single sign-on and authorization codes. One
/// method is one transaction.
#[async_trait]
pub trait OAuthStore: Send + Sync {
    /// Registers a client and records `audit`; [`super::StoreError::Conflict`]
    /// if the id is taken.
    async fn insert_client(&self, client: &StoredClient, audit: &[AuditEntry]) -> StoreResult<()>;
    /// Sets a client's name, redirect URIs and scopes, recording `audit`;
    /// with `revoke` (`(now, until)`), ends every session issued to it, in
    /// the same transaction. The sessions ended; `None` if it does not exist.
    async fn update_client(
        &self,
        client_id: &str,
        changed: &ClientFields,
        revoke: Option<(Millis, Millis)>,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Vec<Session>>>;
    /// Replaces a confidential client's secret hash, recording `audit`;
    /// `false` if there is no such confidential client.
    async fn replace_client_secret(
        &self,
        client_id: &str,
        secret_hash: &[u8; 32],
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    /// Every client, oldest first.
    async fn clients(&self) -> StoreResult<Vec<OAuthClient>>;
    /// One client with its secret's hash.
    async fn client_by_id(&self, client_id: &str) -> StoreResult<Option<StoredClient>>;
    /// Deletes a client: revokes the sessions issued to it (recording their
    /// revocations until `until`), records `revocations` and `audit`; returns
    /// the revoked sessions, or `None` if there is no such client.
    async fn delete_client(
        &self,
        client_id: &str,
        now: Millis,
        until: Millis,
        revocations: &[Revocation],
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Vec<Session>>>;

    /// Starts a browser session and records `audit`.
    async fn insert_browser_session(
        &self,
        session: &NewBrowserSession,
        audit: &[AuditEntry],
    ) -> StoreResult<()>;
    /// Records that the person of a live browser session entered their
    /// password again at `auth_time`, signing in as `amr` says (and
    /// `audit`); `false` if the session has ended.
    async fn reauthenticate_browser_session(
        &self,
        id: Uuid,
        auth_time: Millis,
        amr: &[String],
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    /// The live browser session whose cookie hashes to `token_hash`.
    async fn browser_session(
        &self,
        token_hash: &[u8; 32],
        now: Millis,
    ) -> StoreResult<Option<BrowserSession>>;
    /// Ends a browser session and every token session that came through it
    /// (their access tokens refused until `until`), recording `audit`;
    /// returns the token sessions ended.
    async fn end_browser_session(
        &self,
        id: Uuid,
        now: Millis,
        until: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<Vec<Session>>;

    /// Stores a new authorization code under the hash of its value.
    async fn insert_authorization_code(
        &self,
        code_hash: &[u8; 32],
        code: &AuthorizationCode,
    ) -> StoreResult<()>;
    /// The code whose value hashes to `code_hash`, redeemed or not.
    async fn authorization_code(
        &self,
        code_hash: &[u8; 32],
    ) -> StoreResult<Option<AuthorizationCode>>;
    /// Redeems a code at `now` if it is unused and unexpired and the browser
    /// session it came through (if any) has not ended, creating `session`
    /// and recording `audit` in the same transaction.
    async fn redeem_authorization_code(
        &self,
        code_hash: &[u8; 32],
        now: Millis,
        session: &NewSession,
        audit: &[AuditEntry],
    ) -> StoreResult<Redemption>;

    /// Forgets spent or expired codes and ended browser sessions older than `before`.
    async fn purge_oauth(&self, before: Millis) -> StoreResult<u64>;
}

/// Locks the browser session of the code `$1` names (PostgreSQL), so a
/// redemption and a logout of that browser take turns. Without it, under
/// READ COMMITTED, a logout committing between the redemption's check and
/// its commit would not see the new token session and leave it alive.
const LOCK_CODE_BROWSER_SESSION: &str = "SELECT 1 FROM browser_sessions WHERE id = \
     (SELECT browser_session_id FROM authorization_codes WHERE code_hash = $1) FOR UPDATE";

#[async_trait]
impl OAuthStore for SqlStore {
    async fn insert_client(&self, c: &StoredClient, audit: &[AuditEntry]) -> StoreResult<()> {
        let grants: Vec<String> = c
            .client
            .grant_types
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect();
        let mut tx = self.begin_write().await?;
        tx.execute(
            sql(
                "INSERT INTO oauth_clients (client_id, name, secret_hash, redirect_uris, \
                 post_logout_redirect_uris, grant_types, scopes, id_token_alg, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&c.client.client_id)
            .bind(&c.client.name)
            .bind(c.secret_hash.as_ref().map(<[u8; 32]>::as_slice))
            .bind(to_json(&c.client.redirect_uris))
            .bind(to_json(&c.client.post_logout_redirect_uris))
            .bind(to_json(&grants))
            .bind(to_json(&c.client.scopes))
            .bind(&c.client.id_token_alg)
            .bind(c.client.created_at),
        )
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await
    }

    async fn update_client(
        &self,
        client_id: &str,
        c: &ClientFields,
        revoke: Option<(Millis, Millis)>,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Vec<Session>>> {
        let mut tx = self.begin_write().await?;
        let changed = tx
            .execute(
                sql("UPDATE oauth_clients SET name = $2, redirect_uris = $3, \
                     post_logout_redirect_uris = $4, scopes = $5 WHERE client_id = $1")
                .bind(client_id)
                .bind(&c.name)
                .bind(to_json(&c.redirect_uris))
                .bind(to_json(&c.post_logout_redirect_uris))
                .bind(to_json(&c.scopes)),
            )
            .await?;
        if changed == 0 {
            return Ok(None);
        }
        let revoked = match revoke {
            Some((now, until)) => {
                revoke_sessions_of(&mut tx, SessionsOf::Client(client_id), now, until).await?
            }
            None => Vec::new(),
        };
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Some(revoked))
    }

    async fn replace_client_secret(
        &self,
        client_id: &str,
        secret_hash: &[u8; 32],
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let changed = tx
            .execute(
                sql("UPDATE oauth_clients SET secret_hash = $2 \
                     WHERE client_id = $1 AND secret_hash IS NOT NULL")
                .bind(client_id)
                .bind(secret_hash),
            )
            .await?;
        if changed == 0 {
            return Ok(false);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn clients(&self) -> StoreResult<Vec<OAuthClient>> {
        let query =
            format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients ORDER BY created_at, client_id");
        let rows: Vec<ClientRow> = self.db.fetch_all(sql(&query)).await?;
        rows.into_iter()
            .map(|r| StoredClient::try_from(r).map(|s| s.client))
            .collect()
    }

    async fn client_by_id(&self, client_id: &str) -> StoreResult<Option<StoredClient>> {
        if client_id.contains('\0') {
            return Ok(None);
        }
        let query = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1");
        let row: Option<ClientRow> = self.db.fetch_optional(sql(&query).bind(client_id)).await?;
        row.map(StoredClient::try_from).transpose()
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
        let deleted = tx
            .execute(sql("DELETE FROM oauth_clients WHERE client_id = $1").bind(client_id))
            .await?;
        if deleted != 1 {
            return Ok(None);
        }
        let revoked =
            revoke_sessions_of(&mut tx, SessionsOf::Client(client_id), now, until).await?;
        for r in revocations {
            insert_revocation(&mut tx, r).await?;
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Some(revoked))
    }

    async fn insert_browser_session(
        &self,
        n: &NewBrowserSession,
        audit: &[AuditEntry],
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            sql(
                "INSERT INTO browser_sessions (id, user_id, token_hash, auth_time, expires_at, amr) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(n.session.id)
            .bind(n.session.user_id)
            .bind(&n.token_hash)
            .bind(n.session.auth_time)
            .bind(n.session.expires_at)
            .bind(crate::mfa::amr::to_stored(&n.session.amr)),
        )
        .await?;
        if let Some(device) = &n.device {
            insert_session(&mut tx, device).await?;
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await
    }

    async fn reauthenticate_browser_session(
        &self,
        id: Uuid,
        auth_time: Millis,
        amr: &[String],
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let changed = tx
            .execute(
                sql("UPDATE browser_sessions SET auth_time = $2, amr = $3 \
                     WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2")
                .bind(id)
                .bind(auth_time)
                .bind(crate::mfa::amr::to_stored(amr)),
            )
            .await?;
        if changed != 1 {
            return Ok(false);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn browser_session(
        &self,
        token_hash: &[u8; 32],
        now: Millis,
    ) -> StoreResult<Option<BrowserSession>> {
        let row: Option<BrowserSessionRow> = self
            .db
            .fetch_optional(
                sql(
                    "SELECT id, user_id, auth_time, amr, expires_at FROM browser_sessions \
                     WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
                )
                .bind(token_hash)
                .bind(now),
            )
            .await?;
        row.map(BrowserSession::try_from).transpose()
    }

    async fn end_browser_session(
        &self,
        id: Uuid,
        now: Millis,
        until: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<Vec<Session>> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            sql("UPDATE browser_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now),
        )
        .await?;
        let revoked =
            revoke_sessions_of(&mut tx, SessionsOf::BrowserSession(id), now, until).await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn insert_authorization_code(
        &self,
        hash: &[u8; 32],
        c: &AuthorizationCode,
    ) -> StoreResult<()> {
        self.db
            .execute(
                sql("INSERT INTO authorization_codes (code_hash, client_id, user_id, browser_session_id, \
                     redirect_uri, code_challenge, scope, nonce, auth_time, expires_at, amr) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                .bind(hash)
                .bind(&c.client_id)
                .bind(c.user_id)
                .bind(c.browser_session_id)
                .bind(&c.redirect_uri)
                .bind(&c.code_challenge)
                .bind(&c.scope)
                .bind(&c.nonce)
                .bind(c.auth_time)
                .bind(c.expires_at)
                .bind(crate::mfa::amr::to_stored(&c.amr)),
            )
            .await?;
        Ok(())
    }

    async fn authorization_code(&self, hash: &[u8; 32]) -> StoreResult<Option<AuthorizationCode>> {
        let row: Option<CodeRow> = self
            .db
            .fetch_optional(
                sql(
                    "SELECT client_id, user_id, browser_session_id, redirect_uri, code_challenge, \
                     scope, nonce, auth_time, amr, expires_at, used_at, session_id \
                     FROM authorization_codes WHERE code_hash = $1",
                )
                .bind(hash),
            )
            .await?;
        row.map(AuthorizationCode::try_from).transpose()
    }

    async fn redeem_authorization_code(
        &self,
        hash: &[u8; 32],
        now: Millis,
        session: &NewSession,
        audit: &[AuditEntry],
    ) -> StoreResult<Redemption> {
        let mut tx = self.begin_write().await?;
        tx.lock_rows(sql(LOCK_CODE_BROWSER_SESSION).bind(hash))
            .await?;
        // One conditional UPDATE: of two redemptions racing, exactly one
        // matches the unused row; the session id is written with it, so a
        // later reuse always knows what to revoke. A code whose browser
        // session has ended (logout, logout-all, a password change) no
        // longer redeems: the person signed out.
        let redeemed = tx
            .execute(
                sql(
                    "UPDATE authorization_codes SET used_at = $2, session_id = $3 \
                     WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                     AND (browser_session_id IS NULL OR EXISTS (SELECT 1 FROM browser_sessions b \
                          WHERE b.id = authorization_codes.browser_session_id \
                          AND b.revoked_at IS NULL AND b.expires_at > $2))",
                )
                .bind(hash)
                .bind(now)
                .bind(session.session.id),
            )
            .await?;
        if redeemed == 1 {
            insert_session(&mut tx, session).await?;
            append_audit(&mut tx, audit).await?;
            tx.commit().await?;
            return Ok(Redemption::Redeemed);
        }
        drop(tx);
        Ok(match self.authorization_code(hash).await? {
            Some(code) if code.used_at.is_some() => Redemption::AlreadyUsed(code.session_id),
            _ => Redemption::Unknown,
        })
    }

    async fn purge_oauth(&self, before: Millis) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let codes = tx
            .execute(sql("DELETE FROM authorization_codes WHERE expires_at <= $1").bind(before))
            .await?;
        let browsers = tx
            .execute(
                sql("DELETE FROM browser_sessions WHERE expires_at <= $1 \
                     OR (revoked_at IS NOT NULL AND revoked_at <= $1)")
                .bind(before),
            )
            .await?;
        tx.commit().await?;
        Ok(codes + browsers)
    }
}
