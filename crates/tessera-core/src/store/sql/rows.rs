//! The row shapes several concerns share (users and sessions), their column
//! lists, and their conversion to domain records.

use crate::model::{Session, StoredUser, User};
use crate::store::{Rotated, StoreError};
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
/// The columns of `users` as `u`, named `u_…`, for a row that also holds a
/// session's columns ([`RotatedRow`]).
macro_rules! prefixed_user_columns {
    () => {
        "u.id AS u_id, u.username AS u_username, u.email AS u_email, \
         u.email_verified AS u_email_verified, u.email_exempt AS u_email_exempt, \
         u.first_name AS u_first_name, u.last_name AS u_last_name, u.phone AS u_phone, \
         u.roles AS u_roles, u.disabled AS u_disabled, u.password_hash AS u_password_hash, \
         u.created_at AS u_created_at, u.updated_at AS u_updated_at"
    };
}
pub(crate) use {prefixed_user_columns, session_columns, user_columns};

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

/// A session just rotated, with its user's row ([`prefixed_user_columns`]).
#[derive(sqlx::FromRow)]
pub(crate) struct RotatedRow {
    #[sqlx(flatten)]
    session: SessionRow,
    u_id: String,
    u_username: String,
    u_email: Option<String>,
    u_email_verified: bool,
    u_email_exempt: bool,
    u_first_name: Option<String>,
    u_last_name: Option<String>,
    u_phone: Option<String>,
    u_roles: String,
    u_disabled: bool,
    u_password_hash: String,
    u_created_at: i64,
    u_updated_at: i64,
}

impl TryFrom<RotatedRow> for Rotated {
    type Error = StoreError;

    fn try_from(row: RotatedRow) -> Result<Self, StoreError> {
        let user = UserRow {
            id: row.u_id,
            username: row.u_username,
            email: row.u_email,
            email_verified: row.u_email_verified,
            email_exempt: row.u_email_exempt,
            first_name: row.u_first_name,
            last_name: row.u_last_name,
            phone: row.u_phone,
            roles: row.u_roles,
            disabled: row.u_disabled,
            password_hash: row.u_password_hash,
            created_at: row.u_created_at,
            updated_at: row.u_updated_at,
        };
        Ok(Rotated {
            session: Session::try_from(row.session)?,
            user: StoredUser::try_from(user)?.user,
        })
    }
}

pub(crate) fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| StoreError::Corrupt(format!("bad uuid {text:?}")))
}

pub(crate) fn roles_json(roles: &[String]) -> String {
    serde_json::to_string(roles).unwrap_or_else(|_| "[\"user\"]".to_owned())
}
