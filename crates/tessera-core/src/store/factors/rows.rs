//! The rows of `factors` and `challenges` as the database returns them,
//! and their checked conversion into the store's records.

use super::{Challenge, StoredFactor};
use crate::mfa::FactorKind;
use crate::store::sql::rows::parse_uuid;
use crate::store::{StoreError, StoreResult};

/// Columns of `factors` in [`FactorRow`] order.
pub(super) const FACTOR_COLUMNS: &str = "id, user_id, kind, name, secret, sealed, credential_id, credential, \
     last_step, confirmed_at, expires_at, created_at, last_used_at";

#[derive(sqlx::FromRow)]
pub(super) struct FactorRow {
    id: String,
    user_id: String,
    kind: String,
    name: String,
    secret: Option<Vec<u8>>,
    sealed: bool,
    credential_id: Option<Vec<u8>>,
    credential: Option<String>,
    last_step: Option<i64>,
    confirmed_at: Option<i64>,
    expires_at: Option<i64>,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl TryFrom<FactorRow> for StoredFactor {
    type Error = StoreError;

    fn try_from(row: FactorRow) -> StoreResult<Self> {
        Ok(StoredFactor {
            id: parse_uuid(&row.id)?,
            user_id: parse_uuid(&row.user_id)?,
            kind: FactorKind::parse(&row.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("factors.kind {:?}", row.kind)))?,
            name: row.name,
            secret: row.secret,
            sealed: row.sealed,
            credential_id: row.credential_id,
            credential: row.credential,
            last_step: row.last_step,
            confirmed_at: row.confirmed_at,
            expires_at: row.expires_at,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ChallengeRow {
    user_id: Option<String>,
    purpose: String,
    state: Option<String>,
    failures: i64,
    expires_at: i64,
}

impl TryFrom<ChallengeRow> for Challenge {
    type Error = StoreError;

    fn try_from(row: ChallengeRow) -> StoreResult<Self> {
        Ok(Challenge {
            user_id: row.user_id.as_deref().map(parse_uuid).transpose()?,
            purpose: row.purpose,
            state: row.state,
            failures: row.failures,
            expires_at: row.expires_at,
        })
    }
}
