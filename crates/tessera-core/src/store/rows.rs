//! Row shapes shared by both backends and their conversion to domain records.

use super::{AuditEntry, Revocation, RevocationKind, StoreError, StoredKey};
use crate::model::{Session, StoredUser, User};
use tessera_token::keys::KeyPurpose;
use uuid::Uuid;

/// Columns of `users` in [`UserRow`] order.
macro_rules! user_columns {
    () => {
        "id, username, email, first_name, last_name, phone, roles, disabled, password_hash, created_at, updated_at"
    };
}
/// Columns of `sessions` in [`SessionRow`] order.
macro_rules! session_columns {
    () => {
        "id, user_id, created_at, last_used_at, expires_at, max_expires_at, revoked_at, user_agent, ip, \
         client_id, scope, browser_session_id, auth_time"
    };
}
pub(super) use {session_columns, user_columns};

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: String,
    username: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    roles: String,
    disabled: bool,
    password_hash: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UserRow> for StoredUser {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        let roles: Vec<String> = serde_json::from_str(&row.roles)
            .map_err(|_| StoreError::Corrupt("users.roles".into()))?;
        Ok(StoredUser {
            user: User {
                id: parse_uuid(&row.id)?,
                username: row.username,
                email: row.email,
                first_name: row.first_name,
                last_name: row.last_name,
                phone: row.phone,
                roles,
                disabled: row.disabled,
                created_at: row.created_at,
                updated_at: row.updated_at,
            },
            password_hash: row.password_hash,
        })
    }
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        StoredUser::try_from(row).map(|s| s.user)
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SessionRow {
    id: String,
    user_id: String,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
    max_expires_at: i64,
    revoked_at: Option<i64>,
    user_agent: Option<String>,
    ip: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    browser_session_id: Option<String>,
    auth_time: Option<i64>,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;

    fn try_from(row: SessionRow) -> Result<Self, StoreError> {
        Ok(Session {
            id: parse_uuid(&row.id)?,
            user_id: parse_uuid(&row.user_id)?,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            max_expires_at: row.max_expires_at,
            revoked_at: row.revoked_at,
            user_agent: row.user_agent,
            ip: row.ip,
            client_id: row.client_id,
            scope: row.scope,
            browser_session_id: row
                .browser_session_id
                .as_deref()
                .map(parse_uuid)
                .transpose()?,
            // Sessions from before OAuth began with a password entered at creation.
            auth_time: row.auth_time.unwrap_or(row.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SpentRow {
    #[sqlx(flatten)]
    pub(super) session: SessionRow,
    pub(super) spent_at: i64,
    pub(super) prev_refresh_hash: Option<Vec<u8>>,
    pub(super) grace_sealed: Option<Vec<u8>>,
}

#[derive(sqlx::FromRow)]
pub(super) struct RevocationRow {
    kind: String,
    subject: String,
    not_before: i64,
    expires_at: i64,
}

impl TryFrom<RevocationRow> for Revocation {
    type Error = StoreError;

    fn try_from(row: RevocationRow) -> Result<Self, StoreError> {
        Ok(Revocation {
            kind: RevocationKind::parse(&row.kind)
                .ok_or_else(|| StoreError::Corrupt("revocations.kind".into()))?,
            subject: row.subject,
            not_before: row.not_before,
            expires_at: row.expires_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct KeyRow {
    kid: String,
    generation: i64,
    alg: String,
    private_der: Vec<u8>,
    encrypted: bool,
    created_at: i64,
    activates_at: i64,
    purpose: String,
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> Result<Self, StoreError> {
        Ok(StoredKey {
            purpose: KeyPurpose::parse(&row.purpose)
                .ok_or_else(|| StoreError::Corrupt("signing_keys.purpose".into()))?,
            kid: row.kid,
            generation: row.generation,
            alg: row.alg,
            private_der: row.private_der,
            encrypted: row.encrypted,
            created_at: row.created_at,
            activates_at: row.activates_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: i64,
    at: i64,
    event: String,
    actor: Option<String>,
    subject: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    outcome: String,
    detail: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            event: r.event,
            actor: r.actor,
            subject: r.subject,
            ip: r.ip,
            user_agent: r.user_agent,
            outcome: r.outcome,
            detail: r.detail,
        }
    }
}

pub(super) fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| StoreError::Corrupt(format!("bad uuid {text:?}")))
}

pub(super) fn roles_json(roles: &[String]) -> String {
    serde_json::to_string(roles).unwrap_or_else(|_| "[\"user\"]".to_owned())
}

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    seq: i64,
    at: i64,
    #[sqlx(rename = "type")]
    kind: String,
    sub: Option<String>,
    admin_only: bool,
    payload: String,
}

impl TryFrom<EventRow> for tessera_token::events::Event {
    type Error = StoreError;

    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(tessera_token::events::Event {
            seq: r.seq,
            at: r.at,
            kind: r.kind,
            sub: r.sub,
            admin_only: r.admin_only,
            payload: serde_json::from_str(&r.payload)
                .map_err(|_| StoreError::Corrupt("events.payload".into()))?,
        })
    }
}
