//! The SQL behind [`Store`], written once and instantiated for SQLite and
//! PostgreSQL. Both dialects accept the same statements here (`$n`
//! placeholders, `RETURNING`, `ON CONFLICT`); only connecting and the
//! migration sets differ.

use super::rows::{
    AuditRow, EventRow, KeyRow, RevocationRow, SessionRow, SpentRow, UserRow, roles_json,
    session_columns, user_columns,
};
use super::{
    AuditEntry, AuditQuery, FollowUp, Guarded, NewSession, NewUser, Revocation, Rotation,
    SessionRevocation, SpentToken, Store, StoreResult, StoredKey, UserChanges,
};
use crate::events::{self, NewEvent};
use crate::model::{ROLE_ADMIN, Session, StoredUser, User};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;
use tessera_token::clock::Millis;
use tessera_token::events::Event;
use uuid::Uuid;

mod oauth;

/// The store on an embedded SQLite database (WAL mode).
///
/// SQLite runs one write transaction at a time. Writes therefore go through
/// a pool of one connection, where they queue in arrival order inside the
/// process, while reads share the other pool and never wait for a writer
/// (WAL). Left to contend on one pool, writers would meet `SQLITE_BUSY` and
/// sleep in SQLite's busy handler, which favours no one: under a burst of
/// refreshes a few requests would wait seconds while others pass them.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file a `sqlite://PATH` URL names.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        // WAL lets readers proceed during a write; `synchronous = NORMAL` in WAL
        // mode keeps every committed transaction across a crash of the process
        // (the OS holds the written WAL), and `busy_timeout` makes a writer
        // wait for another process's write (e.g. the CLI's) instead of failing.
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // The writer first: it creates the file and switches it to WAL.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        // Readers refuse to write (`query_only`): a write sent to the wrong
        // pool fails at once instead of racing the writer.
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.pragma("query_only", "ON"))
            .await?;
        Ok(Self { pool, writer })
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock at once,
    /// so a transaction that reads before it writes cannot find, at its
    /// first write, that another process wrote since its read.
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// The store on PostgreSQL, for several replicas sharing one database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool: PostgreSQL runs concurrent writers itself.
    writer: PgPool,
}

impl PgStore {
    /// Connects to the database a `postgres://…` URL names.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self {
            writer: pool.clone(),
            pool,
        })
    }

    /// The underlying pool (for `LISTEN/NOTIFY` and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A write transaction.
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.writer.begin().await?)
    }
}

fn uuid_opt(id: Option<Uuid>) -> Option<String> {
    id.map(|u| u.to_string())
}

fn sessions(rows: Vec<SessionRow>) -> StoreResult<Vec<Session>> {
    rows.into_iter().map(Session::try_from).collect()
}

/// Audit entries about a session: those without an actor or subject are
/// attributed to the session's user.
fn owned_by(audit: &[AuditEntry], session: &Session) -> Vec<AuditEntry> {
    audit
        .iter()
        .map(|e| AuditEntry {
            actor: e
                .actor
                .clone()
                .or_else(|| Some(session.user_id.to_string())),
            subject: e
                .subject
                .clone()
                .or_else(|| Some(session.user_id.to_string())),
            ..e.clone()
        })
        .collect()
}

/// `(set?, value)` pairs for the nullable profile fields of [`UserChanges`].
fn field(change: &Option<Option<String>>) -> (bool, Option<String>) {
    match change {
        Some(v) => (true, v.clone()),
        None => (false, None),
    }
}

/// Serialises the changes that could remove an enabled admin (PostgreSQL).
///
/// The last-admin guard reads the other admins in the same statement that
/// changes this one; under PostgreSQL's READ COMMITTED two such statements on
/// two admins would each see the other still in place and both succeed,
/// leaving none. A transaction-scoped advisory lock taken first makes them
/// take turns, and each statement's snapshot then sees the other's outcome.
/// SQLite needs nothing: it runs one writer at a time.
const PG_ADMIN_GUARD_LOCK: Option<&str> = Some("SELECT pg_advisory_xact_lock(7465737301)");

/// Before writing an event (PostgreSQL): a transaction-scoped lock, so
/// event-writing transactions commit in `seq` order and a reader that has
/// seen `seq` N can never later meet a smaller one; and a notification,
/// delivered to every replica's listener when the transaction commits.
const PG_EVENT_SQL: Option<(&str, &str)> = Some((
    "SELECT pg_advisory_xact_lock(7465737302)",
    "SELECT pg_notify('tessera_events', '')",
));

macro_rules! sql_store {
    ($store:ty, $db:ty, $migrations:literal, $admin_lock:expr, $event_sql:expr) => {
        impl $store {
            /// Writes a stream event in the transaction.
            async fn insert_event_tx(tx: &mut sqlx::Transaction<'_, $db>, at: Millis, e: &NewEvent) -> StoreResult<()> {
                let event_sql: Option<(&str, &str)> = $event_sql;
                if let Some((lock, _)) = event_sql {
                    sqlx::query::<$db>(lock).execute(&mut **tx).await?;
                }
                sqlx::query::<$db>("INSERT INTO events (at, type, sub, admin_only, payload) VALUES ($1, $2, $3, $4, $5)")
                    .bind(at)
                    .bind(e.kind)
                    .bind(&e.sub)
                    .bind(e.admin_only())
                    .bind(e.payload.to_string())
                    .execute(&mut **tx)
                    .await?;
                if let Some((_, notify)) = event_sql {
                    sqlx::query::<$db>(notify).execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// Takes the lock that serialises guarded admin changes, if the backend needs one.
            async fn lock_admin_guard(tx: &mut sqlx::Transaction<'_, $db>) -> StoreResult<()> {
                let lock: Option<&str> = $admin_lock;
                if let Some(sql) = lock {
                    sqlx::query::<$db>(sql).execute(&mut **tx).await?;
                }
                Ok(())
            }

            async fn append_audit_tx(tx: &mut sqlx::Transaction<'_, $db>, entries: &[AuditEntry]) -> StoreResult<()> {
                for e in entries {
                    sqlx::query::<$db>(
                        "INSERT INTO audit_log (at, event, actor, subject, ip, user_agent, outcome, detail) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(e.at)
                    .bind(&e.event)
                    .bind(&e.actor)
                    .bind(&e.subject)
                    .bind(&e.ip)
                    .bind(&e.user_agent)
                    .bind(&e.outcome)
                    .bind(&e.detail)
                    .execute(&mut **tx)
                    .await?;
                    if let Some(event) = events::from_audit(e) {
                        Self::insert_event_tx(tx, e.at, &event).await?;
                    }
                }
                Ok(())
            }

            async fn insert_session_tx(tx: &mut sqlx::Transaction<'_, $db>, n: &NewSession) -> StoreResult<()> {
                let s = &n.session;
                sqlx::query::<$db>(
                    "INSERT INTO sessions (id, user_id, refresh_hash, created_at, last_used_at, expires_at, \
                     max_expires_at, user_agent, ip, client_id, scope, browser_session_id, auth_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(s.id.to_string())
                .bind(s.user_id.to_string())
                .bind(&n.refresh_hash[..])
                .bind(s.created_at)
                .bind(s.last_used_at)
                .bind(s.expires_at)
                .bind(s.max_expires_at)
                .bind(&s.user_agent)
                .bind(&s.ip)
                .bind(&s.client_id)
                .bind(&s.scope)
                .bind(uuid_opt(s.browser_session_id))
                .bind(s.auth_time)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn revoke_user_sessions_tx(
                tx: &mut sqlx::Transaction<'_, $db>,
                user_id: Uuid,
                r: &SessionRevocation,
            ) -> StoreResult<Vec<Session>> {
                let rows = sqlx::query_as::<$db, SessionRow>(concat!(
                    "UPDATE sessions SET revoked_at = $3 \
                     WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $3 AND ($2 IS NULL OR id <> $2) \
                     RETURNING ", session_columns!()
                ))
                .bind(user_id.to_string())
                .bind(uuid_opt(r.except))
                .bind(r.now)
                .fetch_all(&mut **tx)
                .await?;
                let revoked = sessions(rows)?;
                // Single sign-on in browsers ends with the sessions.
                sqlx::query::<$db>(
                    "UPDATE browser_sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                )
                .bind(user_id.to_string())
                .bind(r.now)
                .execute(&mut **tx)
                .await?;
                for s in &revoked {
                    Self::insert_revocation(tx, &Revocation::session(s.id, r.until)).await?;
                    let event = events::session_revoked(&s.id.to_string(), &s.user_id.to_string(), r.until);
                    Self::insert_event_tx(tx, r.now, &event).await?;
                }
                Ok(revoked)
            }

            /// Applies what a guarded user change brings with it.
            async fn follow_up_tx(tx: &mut sqlx::Transaction<'_, $db>, user_id: Uuid, f: &FollowUp) -> StoreResult<()> {
                if let Some(r) = &f.revoke_sessions {
                    Self::revoke_user_sessions_tx(tx, user_id, r).await?;
                }
                for r in &f.revocations {
                    Self::insert_revocation(tx, r).await?;
                }
                Self::append_audit_tx(tx, &f.audit).await
            }

            async fn insert_revocation(tx: &mut sqlx::Transaction<'_, $db>, r: &Revocation) -> StoreResult<()> {
                sqlx::query::<$db>(
                    "INSERT INTO revocations (kind, subject, not_before, expires_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (kind, subject) DO UPDATE SET \
                       not_before = CASE WHEN excluded.not_before > revocations.not_before \
                                         THEN excluded.not_before ELSE revocations.not_before END, \
                       expires_at = CASE WHEN excluded.expires_at > revocations.expires_at \
                                         THEN excluded.expires_at ELSE revocations.expires_at END",
                )
                .bind(r.kind.as_str())
                .bind(&r.subject)
                .bind(r.not_before)
                .bind(r.expires_at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn migrate(&self) -> StoreResult<()> {
                sqlx::migrate!($migrations).run(&self.writer).await?;
                Ok(())
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query::<$db>("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn insert_user(&self, u: &NewUser, first_session: Option<&NewSession>, audit: &[AuditEntry]) -> StoreResult<User> {
                let mut tx = self.begin_write().await?;
                let row = sqlx::query_as::<$db, UserRow>(concat!(
                    "INSERT INTO users (id, username, username_lower, email, first_name, last_name, phone, roles, \
                     is_admin, disabled, password_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE, $10, $11, $11) RETURNING ",
                    user_columns!()
                ))
                .bind(u.id.to_string())
                .bind(&u.username)
                .bind(u.username.to_lowercase())
                .bind(&u.email)
                .bind(&u.first_name)
                .bind(&u.last_name)
                .bind(&u.phone)
                .bind(roles_json(&u.roles))
                .bind(u.roles.iter().any(|r| r == ROLE_ADMIN))
                .bind(&u.password_hash)
                .bind(u.now)
                .fetch_one(&mut *tx)
                .await?;
                if let Some(session) = first_session {
                    Self::insert_session_tx(&mut tx, session).await?;
                }
                Self::append_audit_tx(&mut tx, audit).await?;
                tx.commit().await?;
                User::try_from(row)
            }

            async fn user_by_username(&self, username: &str) -> StoreResult<Option<StoredUser>> {
                // No username holds U+0000 (PostgreSQL text cannot even be
                // compared with one): such a name names nobody.
                if username.contains('\0') {
                    return Ok(None);
                }
                sqlx::query_as::<$db, UserRow>(concat!("SELECT ", user_columns!(), " FROM users WHERE username_lower = $1"))
                    .bind(username.to_lowercase())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(StoredUser::try_from)
                    .transpose()
            }

            async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<StoredUser>> {
                sqlx::query_as::<$db, UserRow>(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(StoredUser::try_from)
                    .transpose()
            }

            async fn list_users(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
                sqlx::query_as::<$db, UserRow>(concat!(
                    "SELECT ", user_columns!(),
                    " FROM users WHERE username_lower > $1 ORDER BY username_lower LIMIT $2"
                ))
                .bind(after.unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(User::try_from)
                .collect()
            }

            async fn update_user(&self, id: Uuid, c: &UserChanges, now: Millis, follow: &FollowUp) -> StoreResult<Guarded<User>> {
                let (set_email, email) = field(&c.email);
                let (set_first, first) = field(&c.first_name);
                let (set_last, last) = field(&c.last_name);
                let (set_phone, phone) = field(&c.phone);
                let roles = c.roles.as_deref().map(roles_json);
                let is_admin = c.roles.as_ref().map(|r| r.iter().any(|r| r == ROLE_ADMIN));
                // The guard keeps at least one enabled admin: the change goes
                // through if the user remains an enabled admin, was not one, or
                // another enabled admin exists.
                let mut tx = self.begin_write().await?;
                if c.roles.is_some() || c.disabled == Some(true) {
                    Self::lock_admin_guard(&mut tx).await?;
                }
                let row = sqlx::query_as::<$db, UserRow>(concat!(
                    "UPDATE users SET \
                       email = CASE WHEN $2 THEN $3 ELSE email END, \
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
                     RETURNING ", user_columns!()
                ))
                .bind(id.to_string())
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
                .fetch_optional(&mut *tx)
                .await?;
                if row.is_some() {
                    Self::follow_up_tx(&mut tx, id, follow).await?;
                }
                tx.commit().await?;
                match row {
                    Some(row) => Ok(Guarded::Done(User::try_from(row)?)),
                    None if self.user_by_id(id).await?.is_some() => Ok(Guarded::LastAdmin),
                    None => Ok(Guarded::NotFound),
                }
            }

            async fn set_password_hash(&self, id: Uuid, hash: &str, now: Millis) -> StoreResult<bool> {
                let done = sqlx::query::<$db>("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(hash)
                    .bind(now)
                    .execute(&self.writer)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn change_password(
                &self,
                id: Uuid,
                hash: &str,
                revoke: &SessionRevocation,
                audit: &[AuditEntry],
            ) -> StoreResult<Option<Vec<Session>>> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query::<$db>("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(hash)
                    .bind(revoke.now)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                let revoked = Self::revoke_user_sessions_tx(&mut tx, id, revoke).await?;
                Self::append_audit_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(Some(revoked))
            }

            async fn delete_user(&self, id: Uuid, follow: &FollowUp) -> StoreResult<Guarded<User>> {
                let mut tx = self.begin_write().await?;
                Self::lock_admin_guard(&mut tx).await?;
                // Revocations first: the delete cascades to the sessions.
                Self::follow_up_tx(&mut tx, id, follow).await?;
                let row = sqlx::query_as::<$db, UserRow>(concat!(
                    "DELETE FROM users WHERE id = $1 AND ( \
                       NOT (is_admin AND NOT disabled) \
                       OR EXISTS (SELECT 1 FROM users o WHERE o.id <> $1 AND o.is_admin AND NOT o.disabled)) \
                     RETURNING ", user_columns!()
                ))
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    drop(tx);
                    return Ok(if self.user_by_id(id).await?.is_some() { Guarded::LastAdmin } else { Guarded::NotFound });
                };
                tx.commit().await?;
                Ok(Guarded::Done(User::try_from(row)?))
            }

            async fn insert_session(&self, n: &NewSession, audit: &[AuditEntry]) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                Self::insert_session_tx(&mut tx, n).await?;
                Self::append_audit_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn session_by_id(&self, id: Uuid) -> StoreResult<Option<Session>> {
                sqlx::query_as::<$db, SessionRow>(concat!("SELECT ", session_columns!(), " FROM sessions WHERE id = $1"))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Session::try_from)
                    .transpose()
            }

            async fn live_sessions(&self, user_id: Uuid, now: Millis) -> StoreResult<Vec<Session>> {
                sessions(
                    sqlx::query_as::<$db, SessionRow>(concat!(
                        "SELECT ", session_columns!(),
                        " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
                          ORDER BY created_at DESC, id"
                    ))
                    .bind(user_id.to_string())
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn rotate_refresh_token(&self, r: &Rotation, audit: &[AuditEntry]) -> StoreResult<Option<Session>> {
                let mut tx = self.begin_write().await?;
                // A single conditional UPDATE: of any number of concurrent
                // refreshes with one token, exactly one matches the row.
                let row = sqlx::query_as::<$db, SessionRow>(concat!(
                    "UPDATE sessions SET prev_refresh_hash = refresh_hash, refresh_hash = $2, grace_sealed = $3, \
                       rotated_at = $4, last_used_at = $4, \
                       expires_at = CASE WHEN $4 + $5 < max_expires_at THEN $4 + $5 ELSE max_expires_at END \
                     WHERE refresh_hash = $1 AND revoked_at IS NULL AND expires_at > $4 \
                       AND (client_id = $6 OR (client_id IS NULL AND $7)) \
                     RETURNING ", session_columns!()
                ))
                .bind(&r.old_hash[..])
                .bind(&r.new_hash[..])
                .bind(&r.sealed_new)
                .bind(r.now)
                .bind(r.idle_ttl_ms)
                .bind(r.client_id.as_deref())
                .bind(r.client_id.is_none())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let session = Session::try_from(row)?;
                sqlx::query::<$db>("INSERT INTO spent_refresh_tokens (token_hash, session_id, spent_at) VALUES ($1, $2, $3)")
                    .bind(&r.old_hash[..])
                    .bind(session.id.to_string())
                    .bind(r.now)
                    .execute(&mut *tx)
                    .await?;
                Self::append_audit_tx(&mut tx, &owned_by(audit, &session)).await?;
                tx.commit().await?;
                Ok(Some(session))
            }

            async fn spent_refresh_token(&self, hash: &[u8; 32]) -> StoreResult<Option<SpentToken>> {
                let row = sqlx::query_as::<$db, SpentRow>(
                    "SELECT s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.max_expires_at, \
                       s.revoked_at, s.user_agent, s.ip, s.client_id, s.scope, s.browser_session_id, s.auth_time, \
                       t.spent_at, s.prev_refresh_hash, s.grace_sealed \
                     FROM spent_refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = $1",
                )
                .bind(&hash[..])
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let is_latest = row.prev_refresh_hash.as_deref() == Some(&hash[..]);
                Ok(Some(SpentToken {
                    session: Session::try_from(row.session)?,
                    spent_at: row.spent_at,
                    sealed_successor: if is_latest { row.grace_sealed } else { None },
                }))
            }

            async fn revoke_session(&self, id: Uuid, now: Millis, until: Millis, audit: &[AuditEntry]) -> StoreResult<Option<Session>> {
                let mut tx = self.begin_write().await?;
                let row = sqlx::query_as::<$db, SessionRow>(concat!(
                    "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING ",
                    session_columns!()
                ))
                .bind(id.to_string())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let session = Session::try_from(row)?;
                Self::insert_revocation(&mut tx, &Revocation::session(id, until)).await?;
                if session.revoked_at == Some(now) {
                    let event = events::session_revoked(&id.to_string(), &session.user_id.to_string(), until);
                    Self::insert_event_tx(&mut tx, now, &event).await?;
                }
                Self::append_audit_tx(&mut tx, &owned_by(audit, &session)).await?;
                tx.commit().await?;
                Ok(Some(session))
            }

            async fn revoke_user_sessions(
                &self,
                user_id: Uuid,
                revoke: &SessionRevocation,
                audit: &[AuditEntry],
            ) -> StoreResult<Vec<Session>> {
                let mut tx = self.begin_write().await?;
                let revoked = Self::revoke_user_sessions_tx(&mut tx, user_id, revoke).await?;
                Self::append_audit_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(revoked)
            }

            async fn insert_revocations(&self, entries: &[Revocation]) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                for e in entries {
                    Self::insert_revocation(&mut tx, e).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn active_revocations(&self, now: Millis) -> StoreResult<Vec<Revocation>> {
                sqlx::query_as::<$db, RevocationRow>(
                    "SELECT kind, subject, not_before, expires_at FROM revocations WHERE expires_at > $1",
                )
                .bind(now)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Revocation::try_from)
                .collect()
            }

            async fn purge_expired(&self, now: Millis, dead_session_cutoff: Millis) -> StoreResult<u64> {
                let mut tx = self.begin_write().await?;
                let a = sqlx::query::<$db>("DELETE FROM revocations WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let b = sqlx::query::<$db>(
                    "DELETE FROM sessions WHERE expires_at <= $1 OR (revoked_at IS NOT NULL AND revoked_at <= $1)",
                )
                .bind(dead_session_cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let c = sqlx::query::<$db>("DELETE FROM throttle WHERE updated_at <= $1 AND blocked_until <= $2")
                    .bind(dead_session_cutoff)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(a + b + c)
            }

            async fn insert_signing_key(&self, k: &StoredKey, audit: &[AuditEntry]) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query::<$db>(
                    "INSERT INTO signing_keys (kid, generation, alg, private_der, encrypted, created_at, activates_at, purpose) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                )
                .bind(&k.kid)
                .bind(k.generation)
                .bind(&k.alg)
                .bind(&k.private_der)
                .bind(k.encrypted)
                .bind(k.created_at)
                .bind(k.activates_at)
                .bind(k.purpose.as_str())
                .execute(&mut *tx)
                .await?;
                let inserted = done.rows_affected() == 1;
                if inserted {
                    Self::append_audit_tx(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(inserted)
            }

            async fn update_signing_key_material(&self, kid: &str, private_der: &[u8], encrypted: bool) -> StoreResult<()> {
                sqlx::query::<$db>("UPDATE signing_keys SET private_der = $2, encrypted = $3 WHERE kid = $1")
                    .bind(kid)
                    .bind(private_der)
                    .bind(encrypted)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
                sqlx::query_as::<$db, KeyRow>(
                    "SELECT kid, generation, alg, private_der, encrypted, created_at, activates_at, purpose \
                     FROM signing_keys ORDER BY purpose, generation DESC",
                )
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(StoredKey::try_from)
                .collect()
            }

            async fn throttle_blocked_until(&self, keys: [&str; 2], now: Millis) -> StoreResult<Option<Millis>> {
                let until: Option<i64> = sqlx::query_scalar::<$db, Option<i64>>(
                    "SELECT MAX(blocked_until) FROM throttle WHERE key IN ($1, $2)",
                )
                .bind(keys[0])
                .bind(keys[1])
                .fetch_one(&self.pool)
                .await?;
                Ok(until.filter(|u| *u > now))
            }

            async fn throttle_failure(&self, key: &str, now: Millis, window_start: Millis, audit: &[AuditEntry]) -> StoreResult<i64> {
                let mut tx = self.begin_write().await?;
                let hits = sqlx::query_scalar::<$db, i64>(
                    "INSERT INTO throttle (key, hits, blocked_until, updated_at) VALUES ($1, 1, 0, $2) \
                     ON CONFLICT (key) DO UPDATE SET \
                       hits = CASE WHEN throttle.updated_at < $3 THEN 1 ELSE throttle.hits + 1 END, \
                       updated_at = $2 \
                     RETURNING hits",
                )
                .bind(key)
                .bind(now)
                .bind(window_start)
                .fetch_one(&mut *tx)
                .await?;
                Self::append_audit_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(hits)
            }

            async fn throttle_block(&self, key: &str, until: Millis) -> StoreResult<()> {
                // Never shortens a longer wait another replica set meanwhile.
                sqlx::query::<$db>(
                    "UPDATE throttle SET blocked_until = CASE WHEN $2 > blocked_until THEN $2 ELSE blocked_until END \
                     WHERE key = $1",
                )
                    .bind(key)
                    .bind(until)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn throttle_clear(&self, key: &str) -> StoreResult<()> {
                sqlx::query::<$db>("DELETE FROM throttle WHERE key = $1").bind(key).execute(&self.writer).await?;
                Ok(())
            }

            async fn rate_limit_hit(&self, key: &str, now: Millis, window_ms: Millis) -> StoreResult<(i64, Millis)> {
                let end = now.saturating_add(window_ms);
                Ok(sqlx::query_as::<$db, (i64, i64)>(
                    "INSERT INTO throttle (key, hits, blocked_until, updated_at) VALUES ($1, 1, $3, $2) \
                     ON CONFLICT (key) DO UPDATE SET \
                       hits = CASE WHEN throttle.blocked_until <= $2 THEN 1 ELSE throttle.hits + 1 END, \
                       blocked_until = CASE WHEN throttle.blocked_until <= $2 THEN $3 ELSE throttle.blocked_until END, \
                       updated_at = $2 \
                     RETURNING hits, blocked_until",
                )
                .bind(key)
                .bind(now)
                .bind(end)
                .fetch_one(&self.writer)
                .await?)
            }

            async fn events_after(&self, after: i64, limit: u32) -> StoreResult<Vec<Event>> {
                sqlx::query_as::<$db, EventRow>(
                    "SELECT seq, at, type, sub, admin_only, payload FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Event::try_from)
                .collect()
            }

            async fn event_bounds(&self) -> StoreResult<(Option<i64>, Option<i64>)> {
                Ok(sqlx::query_as::<$db, (Option<i64>, Option<i64>)>("SELECT MIN(seq), MAX(seq) FROM events")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn purge_events(&self, before: Millis) -> StoreResult<u64> {
                // The newest event always stays, so `seq` keeps counting up
                // on SQLite (AUTOINCREMENT) and replay knows where it stands.
                let done = sqlx::query::<$db>(
                    "DELETE FROM events WHERE at < $1 AND seq < (SELECT MAX(seq) FROM events)",
                )
                .bind(before)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected())
            }

            async fn purge_audit(&self, before: Millis) -> StoreResult<u64> {
                let done = sqlx::query::<$db>("DELETE FROM audit_log WHERE at < $1").bind(before).execute(&self.writer).await?;
                Ok(done.rows_affected())
            }

            async fn append_audit(&self, e: &AuditEntry) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                Self::append_audit_tx(&mut tx, std::slice::from_ref(e)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn audit_entries(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
                Ok(sqlx::query_as::<$db, AuditRow>(
                    "SELECT id, at, event, actor, subject, ip, user_agent, outcome, detail FROM audit_log \
                     WHERE ($1 IS NULL OR actor = $1 OR subject = $1) AND ($2 IS NULL OR event = $2) \
                       AND at >= $3 AND at < $4 AND id < $5 \
                     ORDER BY id DESC LIMIT $6",
                )
                .bind(&q.user)
                .bind(&q.event)
                .bind(q.since.unwrap_or(i64::MIN))
                .bind(q.until.unwrap_or(i64::MAX))
                .bind(q.before_id.unwrap_or(i64::MAX))
                .bind(i64::from(q.limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(AuditEntry::from)
                .collect())
            }
        }
    };
}

sql_store!(SqliteStore, sqlx::Sqlite, "migrations/sqlite", None, None);
sql_store!(
    PgStore,
    sqlx::Postgres,
    "migrations/postgres",
    PG_ADMIN_GUARD_LOCK,
    PG_EVENT_SQL
);

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite(dir: &tempfile::TempDir) -> SqliteStore {
        let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    #[tokio::test]
    async fn sqlite_writes_take_turns_on_one_connection_and_reads_never_wait() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(&dir).await;
        assert_eq!(store.writer.options().get_max_connections(), 1);

        let held = store.begin_write().await.unwrap();
        // Reads answer while a write transaction is open (WAL, other pool).
        let read = tokio::time::timeout(
            Duration::from_secs(5),
            store.throttle_blocked_until(["a", "b"], 0),
        );
        assert_eq!(
            read.await.expect("a read waited for the writer").unwrap(),
            None
        );
        // A second write queues for the writer and goes through once it is free.
        let queued = store.clone();
        let second = tokio::spawn(async move { queued.rate_limit_hit("k", 0, 1_000).await });
        tokio::task::yield_now().await;
        assert!(
            !second.is_finished(),
            "a write ran beside an open write transaction"
        );
        held.commit().await.unwrap();
        let hit = tokio::time::timeout(Duration::from_secs(5), second).await;
        assert_eq!(
            hit.expect("the queued write never ran").unwrap().unwrap(),
            (1, 1_000)
        );
    }

    #[tokio::test]
    async fn sqlite_readers_refuse_to_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(&dir).await;
        let write = sqlx::query("DELETE FROM throttle")
            .execute(&store.pool)
            .await;
        assert!(write.is_err(), "the read pool wrote");
        sqlx::query("DELETE FROM throttle")
            .execute(&store.writer)
            .await
            .unwrap();
    }
}
