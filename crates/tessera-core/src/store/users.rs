//! Accounts: users, unique case-insensitively, with the guard that always
//! keeps an enabled admin; a change's follow-up (revoked sessions, cut-offs,
//! audit) commits with it.

use super::audit::append_audit;
use super::records::{
    AuditEntry, FollowUp, Guarded, NewSession, NewUser, SessionRevocation, UserChanges, UserFilter,
};
use super::revocations::insert_revocation;
use super::sessions::{insert_session, revoke_user_sessions};
use super::sql::db::{Lock, Tx};
use super::sql::rows::{UserRow, roles_json, user_columns};
use super::sql::statement::sql;
use super::{SqlStore, StoreResult};
use crate::model::{ROLE_ADMIN, Session, StoredUser, User};
use crate::secret::ExposeSecret;
use async_trait::async_trait;
use tessera_token::clock::Millis;
use uuid::Uuid;

/// Users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user, with their first session if given, and the audit
    /// entries recording it; [`super::StoreError::Conflict`] if the username
    /// is taken.
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
    /// The users `filter` finds, ordered by lower-cased username, after
    /// `after`: a range of the username index, so as quick with a million
    /// users as with ten.
    async fn search_users(
        &self,
        filter: &UserFilter,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>>;
    /// How many users there are.
    async fn count_users(&self) -> StoreResult<i64>;
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
}

/// An address as Tessera compares it, ignoring case (full Unicode lower
/// case, the same on both databases).
pub(crate) fn fold_email(email: &str) -> String {
    email.to_lowercase()
}

/// `(set?, value)` for a nullable field of [`UserChanges`].
fn field(change: &Option<Option<String>>) -> (bool, Option<&str>) {
    match change {
        Some(v) => (true, v.as_deref()),
        None => (false, None),
    }
}

/// Applies what a guarded user change brings with it, in `tx`.
async fn follow_up(tx: &mut Tx, user_id: Uuid, f: &FollowUp) -> StoreResult<()> {
    if let Some(r) = &f.revoke_sessions {
        revoke_user_sessions(tx, user_id, r).await?;
    }
    for r in &f.revocations {
        insert_revocation(tx, r).await?;
    }
    append_audit(tx, &f.audit).await
}

impl SqlStore {
    /// After a guarded change matched no row: was the user there (the guard
    /// refused), or not?
    async fn refused_or_missing<T>(&self, id: Uuid) -> StoreResult<Guarded<T>> {
        Ok(if self.user_by_id(id).await?.is_some() {
            Guarded::LastAdmin
        } else {
            Guarded::NotFound
        })
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn insert_user(
        &self,
        u: &NewUser,
        first_session: Option<&NewSession>,
        audit: &[AuditEntry],
    ) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        let row: UserRow = tx
            .fetch_one(
                sql(concat!(
                    "INSERT INTO users (id, username, username_lower, email, first_name, last_name, \
                     phone, roles, is_admin, disabled, password_hash, created_at, updated_at, \
                     email_exempt, email_lower) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE, $10, $11, $11, $12, $13) \
                     RETURNING ",
                    user_columns!()
                ))
                .bind(u.id)
                .bind(&u.username)
                .bind(u.username.to_lowercase())
                .bind(&u.email)
                .bind(&u.first_name)
                .bind(&u.last_name)
                .bind(&u.phone)
                .bind(roles_json(&u.roles))
                .bind(u.roles.iter().any(|r| r == ROLE_ADMIN))
                .bind(u.password_hash.expose_secret())
                .bind(u.now)
                .bind(u.email_exempt)
                .bind(u.email.as_deref().map(fold_email)),
            )
            .await?;
        if let Some(session) = first_session {
            insert_session(&mut tx, session).await?;
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        User::try_from(row)
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<StoredUser>> {
        // No username holds U+0000 (PostgreSQL text cannot even be compared
        // with one): such a name names nobody.
        if username.contains('\0') {
            return Ok(None);
        }
        let row: Option<UserRow> = self
            .db
            .fetch_optional(
                sql(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE username_lower = $1"
                ))
                .bind(username.to_lowercase()),
            )
            .await?;
        row.map(StoredUser::try_from).transpose()
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<StoredUser>> {
        let row: Option<UserRow> = self
            .db
            .fetch_optional(
                sql(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE id = $1"
                ))
                .bind(id),
            )
            .await?;
        row.map(StoredUser::try_from).transpose()
    }

    async fn list_users(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = self
            .db
            .fetch_all(
                sql(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE username_lower > $1 ORDER BY username_lower LIMIT $2"
                ))
                .bind(after.unwrap_or(""))
                .bind(limit),
            )
            .await?;
        rows.into_iter().map(User::try_from).collect()
    }

    async fn search_users(
        &self,
        f: &UserFilter,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        // One lower bound and one upper bound on the username index, so
        // both databases read just the range: usernames are ASCII below
        // U+007F, so every name with the prefix sorts before the prefix
        // followed by U+007F. Each filter is a condition only when given,
        // so the (is_admin | disabled, username_lower) indexes serve it.
        let end = format!("{}\u{7f}", f.prefix);
        let (lower, from) = match after {
            Some(after) if after >= f.prefix.as_str() => (">", after),
            _ => (">=", f.prefix.as_str()),
        };
        let admin = f.role.as_deref() == Some(ROLE_ADMIN);
        let role = f
            .role
            .as_deref()
            .filter(|r| *r != ROLE_ADMIN)
            .map(|r| format!("%\"{r}\"%"));
        let mut text = format!(
            "SELECT {} FROM users WHERE username_lower {lower} $1 AND username_lower < $2",
            user_columns!()
        );
        if admin {
            text.push_str(" AND is_admin = TRUE");
        }
        let mut next = 3;
        let mut numbered = |condition: &str| {
            text.push_str(&condition.replace('?', &format!("${next}")));
            next += 1;
        };
        if role.is_some() {
            numbered(" AND roles LIKE ?");
        }
        if f.disabled.is_some() {
            numbered(" AND disabled = ?");
        }
        numbered(" ORDER BY username_lower LIMIT ?");
        let mut statement = sql(&text).bind(from).bind(end.as_str());
        if let Some(role) = role.as_deref() {
            statement = statement.bind(role);
        }
        if let Some(disabled) = f.disabled {
            statement = statement.bind(disabled);
        }
        let statement = statement.bind(limit);
        let rows: Vec<UserRow> = self.db.fetch_all(statement).await?;
        let users: Vec<User> = rows
            .into_iter()
            .map(User::try_from)
            .collect::<StoreResult<_>>()?;
        // `LIKE` treats `_` as any character: keep exact holders only.
        Ok(match &f.role {
            Some(role) => users
                .into_iter()
                .filter(|u| u.roles.contains(role))
                .collect(),
            None => users,
        })
    }

    async fn count_users(&self) -> StoreResult<i64> {
        let (n,): (i64,) = self.db.fetch_one(sql("SELECT COUNT(*) FROM users")).await?;
        Ok(n)
    }

    async fn update_user(
        &self,
        id: Uuid,
        c: &UserChanges,
        now: Millis,
        follow: &FollowUp,
    ) -> StoreResult<Guarded<User>> {
        let (set_email, email) = field(&c.email);
        let (set_first, first) = field(&c.first_name);
        let (set_last, last) = field(&c.last_name);
        let (set_phone, phone) = field(&c.phone);
        let roles = c.roles.as_deref().map(roles_json);
        let is_admin = c.roles.as_ref().map(|r| r.iter().any(|r| r == ROLE_ADMIN));
        let mut tx = self.begin_write().await?;
        if c.roles.is_some() || c.disabled == Some(true) {
            tx.lock(Lock::AdminGuard).await?;
        }
        // The guard keeps at least one enabled admin: the change goes
        // through if the user remains an enabled admin, was not one, or
        // another enabled admin exists.
        let row: Option<UserRow> = tx
            .fetch_optional(
                sql(concat!(
                    "UPDATE users SET \
                       email = CASE WHEN $2 THEN $3 ELSE email END, \
                       email_lower = CASE WHEN $2 THEN $14 ELSE email_lower END, \
                       email_verified = CASE WHEN $2 THEN FALSE ELSE email_verified END, \
                       first_name = CASE WHEN $4 THEN $5 ELSE first_name END, \
                       last_name = CASE WHEN $6 THEN $7 ELSE last_name END, \
                       phone = CASE WHEN $8 THEN $9 ELSE phone END, \
                       roles = COALESCE($10, roles), \
                       is_admin = COALESCE($11, is_admin), \
                       disabled = COALESCE($12, disabled), \
                       updated_at = $13 \
                     WHERE id = $1 AND ( \
                       (COALESCE($11, is_admin) AND NOT COALESCE($12, disabled)) \
                       OR NOT (is_admin AND NOT disabled) \
                       OR EXISTS (SELECT 1 FROM users o WHERE o.id <> $1 AND o.is_admin AND NOT o.disabled)) \
                     RETURNING ",
                    user_columns!()
                ))
                .bind(id)
                .bind(set_email)
                .bind(email)
                .bind(set_first)
                .bind(first)
                .bind(set_last)
                .bind(last)
                .bind(set_phone)
                .bind(phone)
                .bind(roles)
                .bind(is_admin)
                .bind(c.disabled)
                .bind(now)
                .bind(email.map(fold_email)),
            )
            .await?;
        let Some(row) = row else {
            drop(tx);
            return self.refused_or_missing(id).await;
        };
        follow_up(&mut tx, id, follow).await?;
        tx.commit().await?;
        Ok(Guarded::Done(User::try_from(row)?))
    }

    async fn set_password_hash(&self, id: Uuid, hash: &str, now: Millis) -> StoreResult<bool> {
        let changed = self
            .db
            .execute(
                sql("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(hash)
                    .bind(now),
            )
            .await?;
        Ok(changed == 1)
    }

    async fn change_password(
        &self,
        id: Uuid,
        hash: &str,
        revoke: &SessionRevocation,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Vec<Session>>> {
        let mut tx = self.begin_write().await?;
        let changed = tx
            .execute(
                sql("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(hash)
                    .bind(revoke.now),
            )
            .await?;
        if changed != 1 {
            return Ok(None);
        }
        let revoked = revoke_user_sessions(&mut tx, id, revoke).await?;
        // A new password voids the reset links still waiting.
        tx.execute(sql("DELETE FROM email_links WHERE user_id = $1 AND kind = 'reset'").bind(id))
            .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Some(revoked))
    }

    async fn delete_user(&self, id: Uuid, follow: &FollowUp) -> StoreResult<Guarded<User>> {
        let mut tx = self.begin_write().await?;
        tx.lock(Lock::AdminGuard).await?;
        // Revocations first: the delete cascades to the sessions.
        follow_up(&mut tx, id, follow).await?;
        let row: Option<UserRow> = tx
            .fetch_optional(
                sql(concat!(
                    "DELETE FROM users WHERE id = $1 AND ( \
                       NOT (is_admin AND NOT disabled) \
                       OR EXISTS (SELECT 1 FROM users o WHERE o.id <> $1 AND o.is_admin AND NOT o.disabled)) \
                     RETURNING ",
                    user_columns!()
                ))
                .bind(id),
            )
            .await?;
        let Some(row) = row else {
            drop(tx);
            return self.refused_or_missing(id).await;
        };
        tx.commit().await?;
        Ok(Guarded::Done(User::try_from(row)?))
    }
}
