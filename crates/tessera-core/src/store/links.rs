//! Links sent by mail (SPEC §12): stored only as the hash of their token,
//! each spent once; following one verifies an address or resets a password
//! in the same transaction that spends it.

use super::audit::append_audit;
use super::records::{AuditEntry, SessionRevocation};
use super::sessions::revoke_user_sessions;
use super::sql::rows::{UserRow, user_columns};
use super::sql::statement::sql;
use super::users::fold_email;
use super::{SqlStore, StoreResult};
use crate::model::{Session, StoredUser, User};
use async_trait::async_trait;
use tessera_token::clock::Millis;
use uuid::Uuid;

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// Proves an address.
    Verify,
    /// Sets a new password.
    Reset,
}

impl LinkKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Verify => "verify",
            LinkKind::Reset => "reset",
        }
    }
}

/// A link as stored (its token is known only by its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailLink {
    /// Whose account it acts on.
    pub user_id: Uuid,
    /// What it does.
    pub kind: LinkKind,
    /// The address it was sent to.
    pub email: String,
    /// When it was made.
    pub created_at: Millis,
    /// When it stops working.
    pub expires_at: Millis,
}

/// What following a verification link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The address is verified; the account as it now is.
    Verified(User),
    /// No live link of that kind, or the account's address is no longer
    /// the one it was sent to.
    Invalid,
    /// Another account has verified the address meanwhile.
    Taken,
}

/// Links sent by mail.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Stores a link under the hash of its token; a reset link voids the
    /// person's older ones in the same transaction.
    async fn insert_link(&self, hash: &[u8; 32], link: &EmailLink) -> StoreResult<()>;
    /// The live link `hash` names, of `kind`.
    async fn link(
        &self,
        hash: &[u8; 32],
        kind: LinkKind,
        now: Millis,
    ) -> StoreResult<Option<EmailLink>>;
    /// Spends a verification link and marks the address it was sent to
    /// verified, when the account still has that address.
    async fn verify_with_link(
        &self,
        hash: &[u8; 32],
        now: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<Verification>;
    /// Spends a reset link: sets the password hash, ends every session of
    /// the person and records `audit`, in one transaction. The person's id
    /// and the sessions ended; `None` if the link is not live.
    async fn reset_with_link(
        &self,
        hash: &[u8; 32],
        password_hash: &str,
        revoke: &SessionRevocation,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<(Uuid, Vec<Session>)>>;
    /// The account whose verified address is `email` (ignoring case).
    async fn user_by_verified_email(&self, email: &str) -> StoreResult<Option<StoredUser>>;
    /// Whether an account other than `except` has verified `email`.
    async fn email_verified_elsewhere(
        &self,
        email: &str,
        except: Option<Uuid>,
    ) -> StoreResult<bool>;
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    user_id: String,
    kind: String,
    email: String,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<LinkRow> for EmailLink {
    type Error = super::StoreError;

    fn try_from(row: LinkRow) -> Result<Self, Self::Error> {
        let kind = match row.kind.as_str() {
            "verify" => LinkKind::Verify,
            "reset" => LinkKind::Reset,
            _ => return Err(super::StoreError::Corrupt("email_links.kind".into())),
        };
        Ok(EmailLink {
            user_id: Uuid::parse_str(&row.user_id)
                .map_err(|_| super::StoreError::Corrupt("email_links.user_id".into()))?,
            kind,
            email: row.email,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

/// Deletes the live link `hash` names, of `kind`, returning it.
const SPEND: &str = "DELETE FROM email_links WHERE token_hash = $1 AND kind = $2 AND expires_at > $3 \
                     RETURNING user_id, kind, email, created_at, expires_at";

#[async_trait]
impl LinkStore for SqlStore {
    async fn insert_link(&self, hash: &[u8; 32], link: &EmailLink) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if link.kind == LinkKind::Reset {
            tx.execute(
                sql("DELETE FROM email_links WHERE user_id = $1 AND kind = $2")
                    .bind(link.user_id)
                    .bind(link.kind.as_str()),
            )
            .await?;
        }
        tx.execute(
            sql("INSERT INTO email_links (token_hash, user_id, kind, email, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(hash)
            .bind(link.user_id)
            .bind(link.kind.as_str())
            .bind(&link.email)
            .bind(link.created_at)
            .bind(link.expires_at),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn link(
        &self,
        hash: &[u8; 32],
        kind: LinkKind,
        now: Millis,
    ) -> StoreResult<Option<EmailLink>> {
        let row: Option<LinkRow> = self
            .db
            .fetch_optional(
                sql(
                    "SELECT user_id, kind, email, created_at, expires_at FROM email_links \
                     WHERE token_hash = $1 AND kind = $2 AND expires_at > $3",
                )
                .bind(hash)
                .bind(kind.as_str())
                .bind(now),
            )
            .await?;
        row.map(EmailLink::try_from).transpose()
    }

    async fn verify_with_link(
        &self,
        hash: &[u8; 32],
        now: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<Verification> {
        let mut tx = self.begin_write().await?;
        let row: Option<LinkRow> = tx
            .fetch_optional(
                sql(SPEND)
                    .bind(hash)
                    .bind(LinkKind::Verify.as_str())
                    .bind(now),
            )
            .await?;
        let Some(link) = row.map(EmailLink::try_from).transpose()? else {
            return Ok(Verification::Invalid);
        };
        // Only the address it was sent to, and only while the account has it.
        let verified: StoreResult<Option<UserRow>> = tx
            .fetch_optional(
                sql(concat!(
                    "UPDATE users SET email_verified = TRUE, updated_at = $3 \
                     WHERE id = $1 AND email = $2 RETURNING ",
                    user_columns!()
                ))
                .bind(link.user_id)
                .bind(&link.email)
                .bind(now),
            )
            .await;
        let user = match verified {
            Ok(Some(row)) => User::try_from(row)?,
            Ok(None) => {
                // The account moved on to another address: the link is spent.
                tx.commit().await?;
                return Ok(Verification::Invalid);
            }
            Err(super::StoreError::Conflict) => return Ok(Verification::Taken),
            Err(e) => return Err(e),
        };
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Verification::Verified(user))
    }

    async fn reset_with_link(
        &self,
        hash: &[u8; 32],
        password_hash: &str,
        revoke: &SessionRevocation,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<(Uuid, Vec<Session>)>> {
        let mut tx = self.begin_write().await?;
        let row: Option<LinkRow> = tx
            .fetch_optional(
                sql(SPEND)
                    .bind(hash)
                    .bind(LinkKind::Reset.as_str())
                    .bind(revoke.now),
            )
            .await?;
        let Some(link) = row.map(EmailLink::try_from).transpose()? else {
            return Ok(None);
        };
        // Only while the account still has the address the link was made
        // for: moving off a lost mailbox voids the links waiting in it.
        let changed = tx
            .execute(
                sql("UPDATE users SET password_hash = $2, updated_at = $3 \
                     WHERE id = $1 AND COALESCE(email, '') = $4")
                .bind(link.user_id)
                .bind(password_hash)
                .bind(revoke.now)
                .bind(&link.email),
            )
            .await?;
        if changed != 1 {
            tx.commit().await?;
            return Ok(None);
        }
        let revoked = revoke_user_sessions(&mut tx, link.user_id, revoke).await?;
        // Sign-ins half done with the old password end too.
        tx.execute(sql("DELETE FROM mfa_challenges WHERE user_id = $1").bind(link.user_id))
            .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Some((link.user_id, revoked)))
    }

    async fn user_by_verified_email(&self, email: &str) -> StoreResult<Option<StoredUser>> {
        if email.contains('\0') {
            return Ok(None);
        }
        let row: Option<UserRow> = self
            .db
            .fetch_optional(
                sql(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE email_lower = $1 AND email_verified"
                ))
                .bind(fold_email(email)),
            )
            .await?;
        row.map(StoredUser::try_from).transpose()
    }

    async fn email_verified_elsewhere(
        &self,
        email: &str,
        except: Option<Uuid>,
    ) -> StoreResult<bool> {
        let (n,): (i64,) = self
            .db
            .fetch_one(
                sql("SELECT COUNT(*) FROM users \
                     WHERE email_lower = $1 AND email_verified AND ($2 IS NULL OR id <> $2)")
                .bind(fold_email(email))
                .bind(except),
            )
            .await?;
        Ok(n > 0)
    }
}
