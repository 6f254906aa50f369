//! What the store keeps for OAuth 2.0 and single sign-on: clients, browser
//! sessions and authorization codes, and the [`OAuthStore`] operations on them.

use super::{AuditEntry, NewSession, Revocation, StoreResult};
use crate::model::Session;
use crate::oauth::{OAuthClient, StoredClient};
use async_trait::async_trait;
use tessera_token::clock::Millis;
use uuid::Uuid;

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

/// Storage for OAuth clients, single sign-on and authorization codes. One
/// method is one transaction.
#[async_trait]
pub trait OAuthStore: Send + Sync {
    /// Registers a client and records `audit`; [`super::StoreError::Conflict`]
    /// if the id is taken.
    async fn insert_client(&self, client: &StoredClient, audit: &[AuditEntry]) -> StoreResult<()>;
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
    /// password again at `auth_time` (and `audit`); `false` if the session
    /// has ended.
    async fn reauthenticate_browser_session(
        &self,
        id: Uuid,
        auth_time: Millis,
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

    /// The session whose current refresh token hashes to `hash`.
    async fn session_by_refresh_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Session>>;
    /// Revokes one access token: records `revocation` and a `token.revoked`
    /// event for `sub` (valid until `exp_ms`), and `audit`.
    async fn revoke_access_token(
        &self,
        revocation: &Revocation,
        sub: &str,
        exp_ms: Millis,
        now: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<()>;
    /// Forgets spent or expired codes and ended browser sessions older than `before`.
    async fn purge_oauth(&self, before: Millis) -> StoreResult<u64>;
}
