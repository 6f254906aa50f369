//! Second factors in the store: TOTP factors and passkeys, recovery codes,
//! and the short-lived challenges of a sign-in in progress. Every "use once"
//! rule is one conditional statement, so two replicas racing with the same
//! code or token cannot both win.

use super::audit::append_audit;
use super::records::AuditEntry;
use super::sessions::{SessionsOf, revoke_sessions_of};
use super::sql::rows::parse_uuid;
use super::sql::statement::sql;
use super::{SqlStore, StoreResult};
use crate::mfa::FactorKind;
use crate::model::Session;
use async_trait::async_trait;
use tessera_token::clock::Millis;
use uuid::Uuid;

mod rows;
use rows::{ChallengeRow, FACTOR_COLUMNS, FactorRow};

/// A second factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFactor {
    /// Its id.
    pub id: Uuid,
    /// Whose it is.
    pub user_id: Uuid,
    /// TOTP or passkey.
    pub kind: FactorKind,
    /// The name the person gave it.
    pub name: String,
    /// A TOTP factor's secret (sealed when `sealed`).
    pub secret: Option<Vec<u8>>,
    /// Whether `secret` is sealed under the master key.
    pub sealed: bool,
    /// A passkey's credential id.
    pub credential_id: Option<Vec<u8>>,
    /// A passkey's stored credential (JSON).
    pub credential: Option<String>,
    /// The last TOTP time step it accepted.
    pub last_step: Option<i64>,
    /// When it was confirmed; `None` while enrolment is unfinished.
    pub confirmed_at: Option<Millis>,
    /// When an unconfirmed factor lapses.
    pub expires_at: Option<Millis>,
    /// When it was added.
    pub created_at: Millis,
    /// When it last signed someone in.
    pub last_used_at: Option<Millis>,
}

/// A short-lived single-use token of a sign-in in progress, or a WebAuthn
/// ceremony's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Whose sign-in (none for a passwordless ceremony, which learns the
    /// person from the credential).
    pub user_id: Option<Uuid>,
    /// What it is for (`login`, `enrollment`, a ceremony).
    pub purpose: String,
    /// What it carries (a ceremony's state, what the sign-in has proven).
    pub state: Option<String>,
    /// Wrong codes presented with it.
    pub failures: i64,
    /// When it stops working.
    pub expires_at: Millis,
}

/// Second factors, recovery codes and challenges.
#[async_trait]
pub trait FactorStore: Send + Sync {
    /// Adds a factor and records `audit`.
    async fn insert_factor(&self, factor: &StoredFactor, audit: &[AuditEntry]) -> StoreResult<()>;
    /// A person's confirmed factors, oldest first.
    async fn factors_of(&self, user_id: Uuid) -> StoreResult<Vec<StoredFactor>>;
    /// One of a person's factors, confirmed or (until it lapses at `now`) not.
    async fn factor_of(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: Millis,
    ) -> StoreResult<Option<StoredFactor>>;
    /// The passkey with `credential_id`, confirmed.
    async fn factor_by_credential(&self, credential_id: &[u8])
    -> StoreResult<Option<StoredFactor>>;
    /// Confirms an unconfirmed, unlapsed TOTP factor with the code of time
    /// step `step` (which it then never accepts again); when the person had
    /// no confirmed factor before, stores `first_codes` as their recovery
    /// codes. Records `audit`. `None` if the factor is not (or no longer)
    /// waiting; otherwise whether `first_codes` were stored.
    async fn confirm_factor(
        &self,
        user_id: Uuid,
        id: Uuid,
        step: Option<i64>,
        now: Millis,
        first_codes: &[Vec<u8>],
        audit: &[AuditEntry],
    ) -> StoreResult<Option<bool>>;
    /// Records that a TOTP factor accepted the code of `step`, if `step` is
    /// later than any it accepted before; `false` otherwise (a replay).
    async fn use_totp_step(&self, id: Uuid, step: i64, now: Millis) -> StoreResult<bool>;
    /// Records a passkey's use: its new stored credential.
    async fn use_passkey(&self, id: Uuid, credential: &str, now: Millis) -> StoreResult<()>;
    /// Spends one of a person's unused recovery codes; `false` if it is not one.
    async fn use_recovery_code(&self, user_id: Uuid, hash: &[u8], now: Millis)
    -> StoreResult<bool>;
    /// How many unused recovery codes a person has.
    async fn recovery_codes_left(&self, user_id: Uuid) -> StoreResult<i64>;
    /// Replaces a person's recovery codes with `hashes` and records `audit`.
    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        hashes: &[Vec<u8>],
        audit: &[AuditEntry],
    ) -> StoreResult<()>;
    /// Removes one factor (and, when it was the last confirmed one, the
    /// recovery codes); records `audit`. `false` if there was no such factor.
    async fn remove_factor(
        &self,
        user_id: Uuid,
        id: Uuid,
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    /// Removes every factor and recovery code of a person; records `audit`.
    async fn remove_all_factors(&self, user_id: Uuid, audit: &[AuditEntry]) -> StoreResult<()>;
    /// Ends the live sessions and browser sessions signed in without a
    /// second factor, of administrators or of `everyone`, of `user` alone
    /// or of all; records each revocation and event. The sessions ended.
    async fn revoke_sessions_without_mfa(
        &self,
        user: Option<Uuid>,
        everyone: bool,
        now: Millis,
        until: Millis,
    ) -> StoreResult<Vec<Session>>;
    /// The TOTP factors whose secret is stored in the clear: id and secret.
    async fn unsealed_secrets(&self) -> StoreResult<Vec<(Uuid, Vec<u8>)>>;
    /// Replaces a factor's clear secret with its `sealed` form; `false` if
    /// it was sealed meanwhile.
    async fn seal_secret(&self, id: Uuid, sealed: &[u8]) -> StoreResult<bool>;
    /// Which of `user_ids` have a confirmed factor.
    async fn users_with_factors(&self, user_ids: &[Uuid]) -> StoreResult<Vec<Uuid>>;
    /// Stores a challenge under the hash of its token.
    async fn insert_challenge(&self, hash: &[u8; 32], challenge: &Challenge) -> StoreResult<()>;
    /// The unspent, unexpired challenge `hash` names, for `purpose`.
    async fn challenge(
        &self,
        hash: &[u8; 32],
        purpose: &str,
        now: Millis,
    ) -> StoreResult<Option<Challenge>>;
    /// Counts a wrong code against a challenge, spending it at `max`
    /// failures; the count.
    async fn challenge_failed(&self, hash: &[u8; 32], max: i64, now: Millis) -> StoreResult<i64>;
    /// Spends a challenge; `false` if it was spent already or expired.
    async fn spend_challenge(&self, hash: &[u8; 32], now: Millis) -> StoreResult<bool>;
}

#[async_trait]
impl FactorStore for SqlStore {
    async fn insert_factor(&self, f: &StoredFactor, audit: &[AuditEntry]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            sql(
                "INSERT INTO factors (id, user_id, kind, name, secret, sealed, credential_id, \
                 credential, last_step, confirmed_at, expires_at, created_at, last_used_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(f.id)
            .bind(f.user_id)
            .bind(f.kind.as_str())
            .bind(&f.name)
            .bind(f.secret.as_deref())
            .bind(f.sealed)
            .bind(f.credential_id.as_deref())
            .bind(&f.credential)
            .bind(f.last_step)
            .bind(f.confirmed_at)
            .bind(f.expires_at)
            .bind(f.created_at)
            .bind(f.last_used_at),
        )
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await
    }

    async fn factors_of(&self, user_id: Uuid) -> StoreResult<Vec<StoredFactor>> {
        let rows: Vec<FactorRow> = self
            .db
            .fetch_all(
                sql(&format!(
                    "SELECT {FACTOR_COLUMNS} FROM factors \
                     WHERE user_id = $1 AND confirmed_at IS NOT NULL ORDER BY created_at, id"
                ))
                .bind(user_id),
            )
            .await?;
        rows.into_iter().map(StoredFactor::try_from).collect()
    }

    async fn factor_of(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: Millis,
    ) -> StoreResult<Option<StoredFactor>> {
        let row: Option<FactorRow> = self
            .db
            .fetch_optional(
                sql(&format!(
                    "SELECT {FACTOR_COLUMNS} FROM factors WHERE user_id = $1 AND id = $2 \
                     AND (confirmed_at IS NOT NULL OR expires_at > $3)"
                ))
                .bind(user_id)
                .bind(id)
                .bind(now),
            )
            .await?;
        row.map(StoredFactor::try_from).transpose()
    }

    async fn factor_by_credential(
        &self,
        credential_id: &[u8],
    ) -> StoreResult<Option<StoredFactor>> {
        let row: Option<FactorRow> = self
            .db
            .fetch_optional(
                sql(&format!(
                    "SELECT {FACTOR_COLUMNS} FROM factors \
                     WHERE credential_id = $1 AND confirmed_at IS NOT NULL"
                ))
                .bind(credential_id),
            )
            .await?;
        row.map(StoredFactor::try_from).transpose()
    }

    async fn confirm_factor(
        &self,
        user_id: Uuid,
        id: Uuid,
        step: Option<i64>,
        now: Millis,
        first_codes: &[Vec<u8>],
        audit: &[AuditEntry],
    ) -> StoreResult<Option<bool>> {
        let mut tx = self.begin_write().await?;
        let (others,): (i64,) = tx
            .fetch_one(
                sql("SELECT COUNT(*) FROM factors \
                     WHERE user_id = $1 AND confirmed_at IS NOT NULL AND id <> $2")
                .bind(user_id)
                .bind(id),
            )
            .await?;
        let confirmed = tx
            .execute(
                sql(
                    "UPDATE factors SET confirmed_at = $3, expires_at = NULL, last_step = $4, \
                       last_used_at = $3 \
                     WHERE user_id = $1 AND id = $2 AND confirmed_at IS NULL AND expires_at > $3",
                )
                .bind(user_id)
                .bind(id)
                .bind(now)
                .bind(step),
            )
            .await?;
        if confirmed != 1 {
            return Ok(None);
        }
        let first = others == 0 && !first_codes.is_empty();
        if first {
            replace_codes(&mut tx, user_id, first_codes).await?;
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Some(first))
    }

    async fn use_totp_step(&self, id: Uuid, step: i64, now: Millis) -> StoreResult<bool> {
        let changed = self
            .db
            .execute(
                sql("UPDATE factors SET last_step = $2, last_used_at = $3 \
                     WHERE id = $1 AND confirmed_at IS NOT NULL \
                     AND (last_step IS NULL OR last_step < $2)")
                .bind(id)
                .bind(step)
                .bind(now),
            )
            .await?;
        Ok(changed == 1)
    }

    async fn use_passkey(&self, id: Uuid, credential: &str, now: Millis) -> StoreResult<()> {
        self.db
            .execute(
                sql("UPDATE factors SET credential = $2, last_used_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(credential)
                    .bind(now),
            )
            .await?;
        Ok(())
    }

    async fn use_recovery_code(
        &self,
        user_id: Uuid,
        hash: &[u8],
        now: Millis,
    ) -> StoreResult<bool> {
        let changed = self
            .db
            .execute(
                sql("UPDATE recovery_codes SET used_at = $3 \
                     WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
                .bind(user_id)
                .bind(hash)
                .bind(now),
            )
            .await?;
        Ok(changed == 1)
    }

    async fn recovery_codes_left(&self, user_id: Uuid) -> StoreResult<i64> {
        let (left,): (i64,) = self
            .db
            .fetch_one(
                sql("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
                    .bind(user_id),
            )
            .await?;
        Ok(left)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        hashes: &[Vec<u8>],
        audit: &[AuditEntry],
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        replace_codes(&mut tx, user_id, hashes).await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await
    }

    async fn remove_factor(
        &self,
        user_id: Uuid,
        id: Uuid,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let removed = tx
            .execute(
                sql("DELETE FROM factors WHERE user_id = $1 AND id = $2")
                    .bind(user_id)
                    .bind(id),
            )
            .await?;
        if removed != 1 {
            return Ok(false);
        }
        tx.execute(
            sql(
                "DELETE FROM recovery_codes WHERE user_id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM factors WHERE user_id = $1 AND confirmed_at IS NOT NULL)",
            )
            .bind(user_id),
        )
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn remove_all_factors(&self, user_id: Uuid, audit: &[AuditEntry]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        tx.execute(sql("DELETE FROM factors WHERE user_id = $1").bind(user_id))
            .await?;
        tx.execute(sql("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id))
            .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await
    }

    async fn revoke_sessions_without_mfa(
        &self,
        user: Option<Uuid>,
        everyone: bool,
        now: Millis,
        until: Millis,
    ) -> StoreResult<Vec<Session>> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            sql("UPDATE browser_sessions SET revoked_at = $2 \
                 WHERE revoked_at IS NULL AND expires_at > $2 \
                 AND (amr IS NULL OR amr NOT LIKE '%mfa%') AND ($3 IS NULL OR user_id = $3) \
                 AND user_id IN (SELECT id FROM users WHERE $1 OR is_admin)")
            .bind(everyone)
            .bind(now)
            .bind(user),
        )
        .await?;
        let revoked =
            revoke_sessions_of(&mut tx, SessionsOf::WithoutMfa(everyone, user), now, until).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn unsealed_secrets(&self) -> StoreResult<Vec<(Uuid, Vec<u8>)>> {
        let rows: Vec<(String, Vec<u8>)> = self
            .db
            .fetch_all(sql(
                "SELECT id, secret FROM factors WHERE sealed = FALSE AND secret IS NOT NULL",
            ))
            .await?;
        rows.into_iter()
            .map(|(id, secret)| Ok((parse_uuid(&id)?, secret)))
            .collect()
    }

    async fn seal_secret(&self, id: Uuid, sealed: &[u8]) -> StoreResult<bool> {
        let changed = self
            .db
            .execute(
                sql("UPDATE factors SET secret = $2, sealed = TRUE WHERE id = $1 AND sealed = FALSE")
                    .bind(id)
                    .bind(sealed),
            )
            .await?;
        Ok(changed == 1)
    }

    async fn users_with_factors(&self, user_ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        let mut found = Vec::new();
        // One indexed lookup per id: a console page shows at most a hundred.
        for id in user_ids {
            let row: Option<(String,)> = self
                .db
                .fetch_optional(
                    sql("SELECT user_id FROM factors \
                         WHERE user_id = $1 AND confirmed_at IS NOT NULL LIMIT 1")
                    .bind(*id),
                )
                .await?;
            if row.is_some() {
                found.push(*id);
            }
        }
        Ok(found)
    }

    async fn insert_challenge(&self, hash: &[u8; 32], c: &Challenge) -> StoreResult<()> {
        self.db
            .execute(
                sql(
                    "INSERT INTO mfa_challenges (token_hash, user_id, purpose, state, failures, \
                     expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(hash)
                .bind(c.user_id)
                .bind(&c.purpose)
                .bind(&c.state)
                .bind(c.failures)
                .bind(c.expires_at),
            )
            .await?;
        Ok(())
    }

    async fn challenge(
        &self,
        hash: &[u8; 32],
        purpose: &str,
        now: Millis,
    ) -> StoreResult<Option<Challenge>> {
        let row: Option<ChallengeRow> = self
            .db
            .fetch_optional(
                sql("SELECT user_id, purpose, state, failures, expires_at FROM mfa_challenges \
                     WHERE token_hash = $1 AND purpose = $2 AND spent_at IS NULL AND expires_at > $3")
                .bind(hash)
                .bind(purpose)
                .bind(now),
            )
            .await?;
        row.map(Challenge::try_from).transpose()
    }

    async fn challenge_failed(&self, hash: &[u8; 32], max: i64, now: Millis) -> StoreResult<i64> {
        let (failures,): (i64,) = self
            .db
            .write_returning(
                sql("UPDATE mfa_challenges SET failures = failures + 1, \
                       spent_at = CASE WHEN failures + 1 >= $2 THEN $3 ELSE spent_at END \
                     WHERE token_hash = $1 RETURNING failures")
                .bind(hash)
                .bind(max)
                .bind(now),
            )
            .await?;
        Ok(failures)
    }

    async fn spend_challenge(&self, hash: &[u8; 32], now: Millis) -> StoreResult<bool> {
        let changed = self
            .db
            .execute(
                sql("UPDATE mfa_challenges SET spent_at = $2 \
                     WHERE token_hash = $1 AND spent_at IS NULL AND expires_at > $2")
                .bind(hash)
                .bind(now),
            )
            .await?;
        Ok(changed == 1)
    }
}

/// Replaces a person's recovery codes in `tx`.
async fn replace_codes(
    tx: &mut super::sql::db::Tx,
    user_id: Uuid,
    hashes: &[Vec<u8>],
) -> StoreResult<()> {
    tx.execute(sql("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id))
        .await?;
    for hash in hashes {
        tx.execute(
            sql("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id)
                .bind(hash),
        )
        .await?;
    }
    Ok(())
}
