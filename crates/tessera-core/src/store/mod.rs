//! Persistence: the [`Store`] trait the domain talks to, the records it
//! exchanges, and its two implementations (SQLite and PostgreSQL) chosen by
//! the database URL's scheme.

mod oauth;
mod rows;
mod sql;

use crate::model::{Session, StoredUser, User};
use async_trait::async_trait;
use std::sync::Arc;
use tessera_token::clock::Millis;
use tessera_token::keys::KeyPurpose;
use uuid::Uuid;

pub use oauth::{AuthorizationCode, BrowserSession, NewBrowserSession, OAuthStore, Redemption};
pub use sql::{PgStore, SqliteStore};
pub use tessera_token::revocation::{Revocation, RevocationKind};

/// What can go wrong in the store. Nothing here carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write (e.g. a taken username).
    #[error("the record conflicts with an existing one")]
    Conflict,
    /// The database URL is not `sqlite://…` or `postgres://…`.
    #[error("unsupported database URL scheme (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    /// A stored value could not be read back (corruption or a newer schema).
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => StoreError::Database(e),
        }
    }
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The new user's id.
    pub id: Uuid,
    /// Username as registered.
    pub username: String,
    /// Optional e-mail.
    pub email: Option<String>,
    /// Optional given name.
    pub first_name: Option<String>,
    /// Optional family name.
    pub last_name: Option<String>,
    /// Optional phone.
    pub phone: Option<String>,
    /// Normalised roles.
    pub roles: Vec<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Creation time.
    pub now: Millis,
}

/// A change to a user; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// New e-mail.
    pub email: Option<Option<String>>,
    /// New given name.
    pub first_name: Option<Option<String>>,
    /// New family name.
    pub last_name: Option<Option<String>>,
    /// New phone.
    pub phone: Option<Option<String>>,
    /// New roles (normalised).
    pub roles: Option<Vec<String>>,
    /// Enable or disable.
    pub disabled: Option<bool>,
}

/// What became of a guarded change to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guarded<T> {
    /// The change was made.
    Done(T),
    /// No such user.
    NotFound,
    /// Refused: it would leave no enabled admin.
    LastAdmin,
}

/// A session to insert.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session.
    pub session: Session,
    /// SHA-256 of its first refresh token.
    pub refresh_hash: [u8; 32],
}

/// A refresh-token rotation to apply atomically.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// Hash of the token presented.
    pub old_hash: [u8; 32],
    /// Hash of the token that replaces it.
    pub new_hash: [u8; 32],
    /// The new token sealed under a key derived from the old one (grace window).
    pub sealed_new: Vec<u8>,
    /// Now.
    pub now: Millis,
    /// The idle lifetime granted by this rotation.
    pub idle_ttl_ms: Millis,
    /// The OAuth client the session must belong to (`None`: first-party).
    pub client_id: Option<String>,
}

/// A refresh token that was already rotated away, with its session.
#[derive(Debug, Clone)]
pub struct SpentToken {
    /// The session it belonged to.
    pub session: Session,
    /// When it was rotated away.
    pub spent_at: Millis,
    /// Its replacement, sealed, if it is the session's most recently rotated token.
    pub sealed_successor: Option<Vec<u8>>,
}

/// A signing key as stored.
#[derive(Clone)]
pub struct StoredKey {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// What the key signs.
    pub purpose: KeyPurpose,
    /// Monotonic generation, unique within its purpose, so two replicas
    /// cannot both add "the next" key.
    pub generation: i64,
    /// JWS algorithm name.
    pub alg: String,
    /// PKCS#8 DER of the private key (sealed when `encrypted`).
    pub private_der: Vec<u8>,
    /// Whether `private_der` is sealed under the master key.
    pub encrypted: bool,
    /// When it was created.
    pub created_at: Millis,
    /// When it starts (or started) signing.
    pub activates_at: Millis,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("purpose", &self.purpose)
            .field("generation", &self.generation)
            .field("alg", &self.alg)
            .field("encrypted", &self.encrypted)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

/// Revoking a user's live sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRevocation {
    /// A session to spare (the caller's own).
    pub except: Option<Uuid>,
    /// Now.
    pub now: Millis,
    /// Until when the revocations must be remembered.
    pub until: Millis,
}

/// What a guarded user change brings with it, applied in the same
/// transaction only when the change goes through.
#[derive(Debug, Clone, Default)]
pub struct FollowUp {
    /// Revoke the user's live sessions.
    pub revoke_sessions: Option<SessionRevocation>,
    /// Revocations to record (e.g. a cut-off for the user's tokens).
    pub revocations: Vec<Revocation>,
    /// Audit entries recording the change.
    pub audit: Vec<AuditEntry>,
}

/// An audit-log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Sequence number (assigned by the store).
    pub id: i64,
    /// When it happened.
    pub at: Millis,
    /// Event name, e.g. `login.failed`.
    pub event: String,
    /// Who acted (user id), when known.
    pub actor: Option<String>,
    /// Whom it concerns (user id or username), when known.
    pub subject: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// Extra JSON detail (never secrets).
    pub detail: Option<String>,
}

/// A filter over the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only entries whose actor or subject is this.
    pub user: Option<String>,
    /// Only this event.
    pub event: Option<String>,
    /// From this time (inclusive).
    pub since: Option<Millis>,
    /// Until this time (exclusive).
    pub until: Option<Millis>,
    /// Only entries with an id below this (cursor; newest first).
    pub before_id: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// Everything Tessera persists. One method is one transaction.
#[async_trait]
pub trait Store: OAuthStore + Send + Sync + std::fmt::Debug {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Inserts a user, with their first session if given, and the audit
    /// entries recording it; [`StoreError::Conflict`] if the username is taken.
    async fn insert_user(
        &self,
        user: &NewUser,
        first_session: Option<&NewSession>,
        audit: &[AuditEntry],
    ) -> StoreResult<User>;
    /// Finds a user by username, ignoring case.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<StoredUser>>;
    /// Finds a user by id.
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<StoredUser>>;
    /// Users ordered by lower-cased username, after `after` (a lower-cased username).
    async fn list_users(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>>;
    /// Applies `changes`, refusing to leave no enabled admin; when the change
    /// goes through, `follow` is applied in the same transaction.
    async fn update_user(
        &self,
        id: Uuid,
        changes: &UserChanges,
        now: Millis,
        follow: &FollowUp,
    ) -> StoreResult<Guarded<User>>;
    /// Replaces a password hash (a transparent parameter upgrade; not audited).
    async fn set_password_hash(&self, id: Uuid, hash: &str, now: Millis) -> StoreResult<bool>;
    /// Replaces a password hash, revokes sessions and records `audit`, in one
    /// transaction; `None` if the user does not exist.
    async fn change_password(
        &self,
        id: Uuid,
        hash: &str,
        revoke: &SessionRevocation,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Vec<Session>>>;
    /// Deletes a user (and their sessions), refusing to delete the last
    /// enabled admin; `follow` is applied in the same transaction.
    async fn delete_user(&self, id: Uuid, follow: &FollowUp) -> StoreResult<Guarded<User>>;

    /// Inserts a session and the audit entries recording it.
    async fn insert_session(&self, session: &NewSession, audit: &[AuditEntry]) -> StoreResult<()>;
    /// Finds a session by id.
    async fn session_by_id(&self, id: Uuid) -> StoreResult<Option<Session>>;
    /// Live sessions of a user, newest first.
    async fn live_sessions(&self, user_id: Uuid, now: Millis) -> StoreResult<Vec<Session>>;
    /// Rotates a live session's refresh token if `old_hash` is its current
    /// one, recording `audit` (attributed to the session's user where an
    /// entry names no actor or subject).
    async fn rotate_refresh_token(
        &self,
        rotation: &Rotation,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Session>>;
    /// Finds a refresh token that has already been rotated away.
    async fn spent_refresh_token(&self, hash: &[u8; 32]) -> StoreResult<Option<SpentToken>>;
    /// Revokes one session and records the revocation and `audit`; `None` if
    /// it does not exist.
    async fn revoke_session(
        &self,
        id: Uuid,
        now: Millis,
        until: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Session>>;
    /// Revokes a user's live sessions (but `revoke.except`) and records `audit`;
    /// returns those revoked.
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        revoke: &SessionRevocation,
        audit: &[AuditEntry],
    ) -> StoreResult<Vec<Session>>;

    /// Records revocations (idempotent per kind and subject; the later cut-off wins).
    async fn insert_revocations(&self, entries: &[Revocation]) -> StoreResult<()>;
    /// Revocations still in force at `now`.
    async fn active_revocations(&self, now: Millis) -> StoreResult<Vec<Revocation>>;
    /// Forgets what can no longer matter: expired revocations and long-dead sessions.
    async fn purge_expired(&self, now: Millis, dead_session_cutoff: Millis) -> StoreResult<u64>;

    /// Adds a signing key and records `audit`; `false` (and nothing recorded)
    /// if another process took that generation first.
    async fn insert_signing_key(&self, key: &StoredKey, audit: &[AuditEntry]) -> StoreResult<bool>;
    /// Replaces a key's stored private material (to seal it under a master key).
    async fn update_signing_key_material(
        &self,
        kid: &str,
        private_der: &[u8],
        encrypted: bool,
    ) -> StoreResult<()>;
    /// All signing keys, by purpose, newest generation first.
    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>>;

    /// The latest `blocked_until` of `keys` if it is after `now`.
    async fn throttle_blocked_until(
        &self,
        keys: [&str; 2],
        now: Millis,
    ) -> StoreResult<Option<Millis>>;
    /// Counts an attempt for `key`, starting a new count when the previous
    /// one was before `window_start`; records `audit`; returns the count.
    async fn throttle_failure(
        &self,
        key: &str,
        now: Millis,
        window_start: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<i64>;
    /// Blocks `key` until `until`.
    async fn throttle_block(&self, key: &str, until: Millis) -> StoreResult<()>;
    /// Forgets `key`'s failures.
    async fn throttle_clear(&self, key: &str) -> StoreResult<()>;
    /// Counts one event against a fixed window of `window_ms`; returns the
    /// count in the window and when the window ends.
    async fn rate_limit_hit(
        &self,
        key: &str,
        now: Millis,
        window_ms: Millis,
    ) -> StoreResult<(i64, Millis)>;

    /// Stream events after `after`, oldest first, at most `limit`.
    async fn events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<tessera_token::events::Event>>;
    /// The oldest and newest `seq` still kept.
    async fn event_bounds(&self) -> StoreResult<(Option<i64>, Option<i64>)>;
    /// Deletes events older than `before` (never the newest); returns how many.
    async fn purge_events(&self, before: Millis) -> StoreResult<u64>;
    /// Deletes audit entries older than `before`; returns how many.
    async fn purge_audit(&self, before: Millis) -> StoreResult<u64>;
    /// Appends to the audit log.
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    /// Reads the audit log, newest first.
    async fn audit_entries(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;
}

/// Opens the store a database URL names and runs its migrations.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(url).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(PgStore::connect(url).await?)
    } else {
        return Err(StoreError::UnsupportedUrl);
    };
    store.migrate().await?;
    Ok(store)
}

/// Calls `wake` whenever a transaction that wrote events commits in another
/// process (PostgreSQL `LISTEN tessera_events`), and once after each
/// (re)connection so nothing sent while disconnected is missed. Reconnects
/// with a pause after failures; never returns. Does nothing for SQLite, whose
/// single process wakes its own hub.
pub async fn watch_event_notifications(url: String, wake: impl Fn() + Send) {
    if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
        return;
    }
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen("tessera_events").await {
                Ok(()) => {
                    wake();
                    loop {
                        match listener.recv().await {
                            Ok(_) => wake(),
                            Err(e) => {
                                tracing::warn!(error = %e, "event notifications interrupted");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for events"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot connect for event notifications"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// The database URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://tessera.db"), "sqlite://tessera.db");
    }
}
