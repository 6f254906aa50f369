//! Token sessions: one per sign-in, holding the current refresh token's
//! hash; rotation with its grace window (the rotation's SQL is in
//! `rotations.rs`); revocation of one session, of a user's, a client's or
//! a browser session's.

use super::audit::append_audit;
use super::events::insert_event;
use super::records::{AuditEntry, NewSession, Rotated, Rotation, SessionRevocation, SpentToken};
use super::revocations::insert_revocation;
use super::sql::db::Tx;
use super::sql::rows::{SessionRow, SpentRow, session_columns};
use super::sql::statement::sql;
use super::{Revocation, SqlStore, StoreResult};
use crate::events;
use crate::model::Session;
use async_trait::async_trait;
use tessera_token::clock::Millis;
use uuid::Uuid;

/// Token sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Inserts a session and the audit entries recording it.
    async fn insert_session(&self, session: &NewSession, audit: &[AuditEntry]) -> StoreResult<()>;
    /// Finds a session by id.
    async fn session_by_id(&self, id: Uuid) -> StoreResult<Option<Session>>;
    /// The session whose current refresh token hashes to `hash` (revoked
    /// or not).
    async fn session_by_refresh_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Session>>;
    /// How many sessions are live at `now`.
    async fn count_live_sessions(&self, now: Millis) -> StoreResult<i64>;
    /// Live sessions of a user, newest first.
    async fn live_sessions(&self, user_id: Uuid, now: Millis) -> StoreResult<Vec<Session>>;
    /// Rotates a live session's refresh token if `old_hash` is its current
    /// one and the session belongs to `rotation.client_id`, recording
    /// `audit` (attributed to the session's user where it names no actor or
    /// subject; a refresh streams no event). Answers the session with its
    /// user.
    async fn rotate_refresh_token(
        &self,
        rotation: &Rotation,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<Option<Rotated>>;
    /// Finds a refresh token that has already been rotated away.
    async fn spent_refresh_token(&self, hash: &[u8; 32]) -> StoreResult<Option<SpentToken>>;
    /// Revokes one session and records the revocation and `audit`; `None` if
    /// it does not exist.
    async fn revoke_session(
        &self,
        id: Uuid,
        now: Millis,
        until: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Session>>;
    /// Revokes every live session of `user_id` issued to OAuth client
    /// `client_id` (the person revoking an application's access), recording
    /// `audit`; returns those revoked.
    async fn revoke_application(
        &self,
        user_id: Uuid,
        client_id: &str,
        now: Millis,
        until: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<Vec<Session>>;
    /// Notes that the browser of browser session `browser` was used at
    /// `now`: its own session's `last_used_at` moves, at most once a minute.
    async fn touch_browser(&self, browser: Uuid, now: Millis) -> StoreResult<()>;
    /// Revokes a user's live sessions (but `revoke.except`) and records `audit`;
    /// returns those revoked.
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        revoke: &SessionRevocation,
        audit: &[AuditEntry],
    ) -> StoreResult<Vec<Session>>;
}

pub(crate) fn sessions(rows: Vec<SessionRow>) -> StoreResult<Vec<Session>> {
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

/// Inserts a session in `tx`.
pub(crate) async fn insert_session(tx: &mut Tx, n: &NewSession) -> StoreResult<()> {
    let s = &n.session;
    tx.execute(
        sql("INSERT INTO sessions (id, user_id, refresh_hash, created_at, last_used_at, expires_at, \
             max_expires_at, user_agent, ip, client_id, scope, browser_session_id, auth_time, amr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")
        .bind(s.id)
        .bind(s.user_id)
        .bind(&n.refresh_hash)
        .bind(s.created_at)
        .bind(s.last_used_at)
        .bind(s.expires_at)
        .bind(s.max_expires_at)
        .bind(&s.user_agent)
        .bind(&s.ip)
        .bind(&s.client_id)
        .bind(&s.scope)
        .bind(s.browser_session_id)
        .bind(s.auth_time)
        .bind(crate::mfa::amr::to_stored(&s.amr)),
    )
    .await?;
    Ok(())
}

/// Records, for each session just revoked, its revocation (until `until`,
/// when its access tokens would have expired) and its `session.revoked` event.
async fn record_revoked(
    tx: &mut Tx,
    revoked: &[Session],
    now: Millis,
    until: Millis,
) -> StoreResult<()> {
    for s in revoked {
        insert_revocation(tx, &Revocation::session(s.id, until)).await?;
        let event = events::session_revoked(&s.id.to_string(), &s.user_id.to_string(), until);
        insert_event(tx, now, &event).await?;
    }
    Ok(())
}

/// Revokes a user's live sessions (but `r.except`) and their browser
/// sessions in `tx`, recording each revocation and event.
pub(crate) async fn revoke_user_sessions(
    tx: &mut Tx,
    user_id: Uuid,
    r: &SessionRevocation,
) -> StoreResult<Vec<Session>> {
    let rows: Vec<SessionRow> = tx
        .fetch_all(
            sql(concat!(
                "UPDATE sessions SET revoked_at = $3 \
                 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $3 \
                   AND ($2 IS NULL OR id <> $2) \
                   AND ($4 IS NULL OR browser_session_id IS NULL OR browser_session_id <> $4) \
                 RETURNING ",
                session_columns!()
            ))
            .bind(user_id)
            .bind(r.except)
            .bind(r.now)
            .bind(r.except_browser),
        )
        .await?;
    let revoked = sessions(rows)?;
    // Single sign-on in browsers ends with the sessions.
    tx.execute(
        sql("UPDATE browser_sessions SET revoked_at = $2 \
             WHERE user_id = $1 AND revoked_at IS NULL AND ($3 IS NULL OR id <> $3)")
        .bind(user_id)
        .bind(r.now)
        .bind(r.except_browser),
    )
    .await?;
    record_revoked(tx, &revoked, r.now, r.until).await?;
    Ok(revoked)
}

/// What a set of sessions to revoke is named by.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SessionsOf<'a> {
    /// Every session issued to this OAuth client.
    Client(&'a str),
    /// Every session that came through this browser session.
    BrowserSession(Uuid),
    /// Every session of this user issued to this OAuth client.
    UserOfClient(Uuid, &'a str),
    /// Every session signed in without a second factor, of administrators
    /// or of everyone (`true`), of one user or all.
    WithoutMfa(bool, Option<Uuid>),
}

/// Revokes the live sessions `of` names in `tx`, recording each revocation
/// and event.
pub(crate) async fn revoke_sessions_of(
    tx: &mut Tx,
    of: SessionsOf<'_>,
    now: Millis,
    until: Millis,
) -> StoreResult<Vec<Session>> {
    let statement = match of {
        SessionsOf::Client(client_id) => sql(concat!(
            "UPDATE sessions SET revoked_at = $2 \
             WHERE client_id = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING ",
            session_columns!()
        ))
        .bind(client_id),
        SessionsOf::BrowserSession(id) => sql(concat!(
            "UPDATE sessions SET revoked_at = $2 \
             WHERE browser_session_id = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING ",
            session_columns!()
        ))
        .bind(id),
        SessionsOf::UserOfClient(_, client_id) => sql(concat!(
            "UPDATE sessions SET revoked_at = $2 \
             WHERE user_id = $3 AND client_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             RETURNING ",
            session_columns!()
        ))
        .bind(client_id),
        SessionsOf::WithoutMfa(everyone, _) => sql(concat!(
            "UPDATE sessions SET revoked_at = $2 \
             WHERE revoked_at IS NULL AND expires_at > $2 \
             AND (amr IS NULL OR amr NOT LIKE '%mfa%') AND ($3 IS NULL OR user_id = $3) \
             AND user_id IN (SELECT id FROM users WHERE $1 OR is_admin) RETURNING ",
            session_columns!()
        ))
        .bind(everyone),
    };
    let statement = statement.bind(now);
    let statement = match of {
        SessionsOf::UserOfClient(user_id, _) => statement.bind(user_id),
        SessionsOf::WithoutMfa(_, user) => statement.bind(user),
        _ => statement,
    };
    let rows: Vec<SessionRow> = tx.fetch_all(statement).await?;
    let revoked = sessions(rows)?;
    record_revoked(tx, &revoked, now, until).await?;
    Ok(revoked)
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn insert_session(&self, n: &NewSession, audit: &[AuditEntry]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_session(&mut tx, n).await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await
    }

    async fn revoke_application(
        &self,
        user_id: Uuid,
        client_id: &str,
        now: Millis,
        until: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<Vec<Session>> {
        let mut tx = self.begin_write().await?;
        let revoked = revoke_sessions_of(
            &mut tx,
            SessionsOf::UserOfClient(user_id, client_id),
            now,
            until,
        )
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn count_live_sessions(&self, now: Millis) -> StoreResult<i64> {
        let (n,): (i64,) = self
            .db
            .fetch_one(
                sql("SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1")
                    .bind(now),
            )
            .await?;
        Ok(n)
    }

    async fn touch_browser(&self, browser: Uuid, now: Millis) -> StoreResult<()> {
        // Most page loads find it fresh, and need no write.
        let last: Option<(i64,)> = self
            .db
            .fetch_optional(
                sql("SELECT last_used_at FROM sessions \
                     WHERE browser_session_id = $1 AND client_id IS NULL AND revoked_at IS NULL")
                .bind(browser),
            )
            .await?;
        if last.is_none_or(|(at,)| at >= now.saturating_sub(60_000)) {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        tx.execute(
            sql("UPDATE sessions SET last_used_at = $2 \
                 WHERE browser_session_id = $1 AND client_id IS NULL AND revoked_at IS NULL \
                   AND last_used_at < $3")
            .bind(browser)
            .bind(now)
            .bind(now.saturating_sub(60_000)),
        )
        .await?;
        tx.commit().await
    }

    async fn session_by_id(&self, id: Uuid) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> = self
            .db
            .fetch_optional(
                sql(concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions WHERE id = $1"
                ))
                .bind(id),
            )
            .await?;
        row.map(Session::try_from).transpose()
    }

    async fn session_by_refresh_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> = self
            .db
            .fetch_optional(
                sql(concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions WHERE refresh_hash = $1"
                ))
                .bind(hash),
            )
            .await?;
        row.map(Session::try_from).transpose()
    }

    async fn live_sessions(&self, user_id: Uuid, now: Millis) -> StoreResult<Vec<Session>> {
        sessions(
            self.db
                .fetch_all(
                    sql(concat!(
                        "SELECT ",
                        session_columns!(),
                        " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
                          ORDER BY created_at DESC, id"
                    ))
                    .bind(user_id)
                    .bind(now),
                )
                .await?,
        )
    }

    async fn rotate_refresh_token(
        &self,
        r: &Rotation,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<Option<Rotated>> {
        super::rotations::rotate(&self.db, self.rotations.as_ref(), r, audit).await
    }

    async fn spent_refresh_token(&self, hash: &[u8; 32]) -> StoreResult<Option<SpentToken>> {
        let row: Option<SpentRow> = self
            .db
            .fetch_optional(
                sql("SELECT s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, \
                       s.max_expires_at, s.revoked_at, s.user_agent, s.ip, s.client_id, s.scope, \
                       s.browser_session_id, s.auth_time, s.amr, t.spent_at, s.prev_refresh_hash, s.grace_sealed \
                     FROM spent_refresh_tokens t JOIN sessions s ON s.id = t.session_id \
                     WHERE t.token_hash = $1")
                .bind(hash),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let is_latest = row.prev_refresh_hash.as_deref() == Some(&hash[..]);
        Ok(Some(SpentToken {
            session: Session::try_from(row.session)?,
            spent_at: row.spent_at,
            sealed_successor: if is_latest { row.grace_sealed } else { None },
        }))
    }

    async fn revoke_session(
        &self,
        id: Uuid,
        now: Millis,
        until: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Session>> {
        let mut tx = self.begin_write().await?;
        let row: Option<SessionRow> = tx
            .fetch_optional(
                sql(concat!(
                    "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING ",
                    session_columns!()
                ))
                .bind(id)
                .bind(now),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let session = Session::try_from(row)?;
        insert_revocation(&mut tx, &Revocation::session(id, until)).await?;
        if session.revoked_at == Some(now) {
            let event =
                events::session_revoked(&id.to_string(), &session.user_id.to_string(), until);
            insert_event(&mut tx, now, &event).await?;
        }
        append_audit(&mut tx, &owned_by(audit, &session)).await?;
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
        let revoked = revoke_user_sessions(&mut tx, user_id, revoke).await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(revoked)
    }
}
