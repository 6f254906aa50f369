//! Durable revocations: what the in-memory revocation set of every replica
//! is rebuilt from, kept until every token an entry could match has expired.

use super::audit::append_audit;
use super::events::insert_event;
use super::records::AuditEntry;
use super::sql::db::Tx;
use super::sql::statement::sql;
use super::{Revocation, RevocationKind, SqlStore, StoreError, StoreResult};
use crate::events;
use async_trait::async_trait;
use tessera_token::clock::Millis;

/// Revocations.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Records revocations (idempotent per kind and subject; the later cut-off wins).
    async fn insert_revocations(&self, entries: &[Revocation]) -> StoreResult<()>;
    /// Revocations still in force at `now`.
    async fn active_revocations(&self, now: Millis) -> StoreResult<Vec<Revocation>>;
    /// Revokes one access token (its `jti`, of subject `sub`, valid until
    /// `exp_ms`): the revocation, its `token.revoked` event and `audit`.
    async fn revoke_access_token(
        &self,
        revocation: &Revocation,
        sub: &str,
        exp_ms: Millis,
        now: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<()>;
}

#[derive(sqlx::FromRow)]
struct RevocationRow {
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

/// Records `r` in `tx`, to be announced when it commits; for an entry
/// already there, the later cut-off and the later expiry win.
pub(crate) async fn insert_revocation(tx: &mut Tx, r: &Revocation) -> StoreResult<()> {
    tx.execute(
        sql("INSERT INTO revocations (kind, subject, not_before, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (kind, subject) DO UPDATE SET \
               not_before = CASE WHEN excluded.not_before > revocations.not_before \
                                 THEN excluded.not_before ELSE revocations.not_before END, \
               expires_at = CASE WHEN excluded.expires_at > revocations.expires_at \
                                 THEN excluded.expires_at ELSE revocations.expires_at END")
        .bind(r.kind.as_str())
        .bind(&r.subject)
        .bind(r.not_before)
        .bind(r.expires_at),
    )
    .await?;
    tx.wrote_revocation(r);
    Ok(())
}

#[async_trait]
impl RevocationStore for SqlStore {
    async fn insert_revocations(&self, entries: &[Revocation]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for e in entries {
            insert_revocation(&mut tx, e).await?;
        }
        tx.commit().await
    }

    async fn active_revocations(&self, now: Millis) -> StoreResult<Vec<Revocation>> {
        let rows: Vec<RevocationRow> = self
            .db
            .fetch_all(
                sql("SELECT kind, subject, not_before, expires_at FROM revocations WHERE expires_at > $1")
                    .bind(now),
            )
            .await?;
        rows.into_iter().map(Revocation::try_from).collect()
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
        insert_revocation(&mut tx, revocation).await?;
        let event = events::token_revoked(&revocation.subject, sub, exp_ms);
        insert_event(&mut tx, now, &event).await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await
    }
}
