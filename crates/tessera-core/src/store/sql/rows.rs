//! The row shapes several concerns share (users and sessions), their column
//! lists, and their conversion to domain records.

use crate::model::{Session, StoredUser, User};
use crate::store::StoreError;
use uuid::Uuid;

/// Columns of `users` in [`UserRow`] order.
macro_rules! user_columns {
    () => {
        "id, username, email, email_verified, email_exempt, first_name, last_name, phone, roles, disabled, password_hash, created_at, updated_at"
    };
}
/// Columns of `sessions` in [`SessionRow`] order.
macro_rules! session_columns {
    () => {
        "id, user_id, created_at, last_used_at, expires_at, max_expires_at, revoked_at, user_agent, ip, \
         client_id, scope, browser_session_id, auth_time, amr"
    };
}
pub(crate) use {session_columns, user_columns};

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    username: String,
    email: Option<String>,
    email_verified: bool,
    email_exempt: bool,
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
                email_verified: row.email_verified,
                email_exempt: row.email_exempt,
                first_name: row.first_name,
                last_name: row.last_name,
                phone: row.phone,
                roles,
                disabled: row.disabled,
                created_at: row.created_at,
                updated_at: row.updated_at,
            },
            password_hash: row.password_hash.into(),
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
pub(crate) struct SessionRow {
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
    amr: Option<String>,
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
            amr: crate::mfa::amr::from_stored(row.amr.as_deref()),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SpentRow {
    #[sqlx(flatten)]
    pub(crate) session: SessionRow,
    pub(crate) spent_at: i64,
    pub(crate) prev_refresh_hash: Option<Vec<u8>>,
    pub(crate) grace_sealed: Option<Vec<u8>>,
}

pub(crate) fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| StoreError::Corrupt(format!("bad uuid {text:?}")))
}

pub(crate) fn roles_json(roles: &[String]) -> String {
    serde_json::to_string(roles).unwrap_or_else(|_| "[\"user\"]".to_owned())
}
