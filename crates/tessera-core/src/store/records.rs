//! The records the store exchanges with the domain: what to insert or
//! change, and what it reads back.

use super::Revocation;
use crate::events::NewEvent;
use crate::model::{Session, User};
use crate::secret::SecretString;
use tessera_token::clock::Millis;
use tessera_token::keys::KeyPurpose;
use uuid::Uuid;

/// Which users a search finds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// The start of their lower-cased username (empty: anyone).
    pub prefix: String,
    /// A role they hold.
    pub role: Option<String>,
    /// Whether they are disabled.
    pub disabled: Option<bool>,
}

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The new user's id.
    pub id: Uuid,
    /// Username as registered.
    pub username: String,
    /// Optional e-mail.
    pub email: Option<String>,
    /// Whether the account may sign in without a verified address (an
    /// operator created it).
    pub email_exempt: bool,
    /// Optional given name.
    pub first_name: Option<String>,
    /// Optional family name.
    pub last_name: Option<String>,
    /// Optional phone.
    pub phone: Option<String>,
    /// Normalised roles.
    pub roles: Vec<String>,
    /// Argon2id PHC string.
    pub password_hash: SecretString,
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

/// A session whose refresh token has just rotated, with its user as the
/// rotation found them (read in the same round trip).
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The session, as the rotation left it.
    pub session: Session,
    /// Its user.
    pub user: User,
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
    /// A browser session to spare, with every session that came through it
    /// (the browser a person acts from on Tessera's pages).
    pub except_browser: Option<Uuid>,
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

/// An audit-log entry, as stored (built from an [`crate::audit::AuditRecord`]).
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
    /// The stream event to write with it, if it implies one (never read back).
    pub stream_event: Option<NewEvent>,
}

/// A filter over the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only entries whose actor or subject is this.
    pub user: Option<String>,
    /// Only entries whose actor is this.
    pub actor: Option<String>,
    /// Only entries whose subject is this.
    pub subject: Option<String>,
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
