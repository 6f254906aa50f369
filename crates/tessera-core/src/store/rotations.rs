//! The refresh-token rotation (SPEC §5) as the databases run it: one
//! script on SQLite (run in groups on its one writer), one statement on
//! PostgreSQL. The conditional UPDATE (the token presented must be the
//! session's current one, the session live and issued to the client
//! presenting it), the spent token and the audit entry, its actor and
//! subject the session's user unless given, commit together, and the
//! rotated session comes back with its user's row.

use super::StoreResult;
use super::records::{AuditEntry, Rotated, Rotation};
use super::sql::db::Db;
use super::sql::group::Grouped;
use super::sql::rows::{RotatedRow, prefixed_user_columns, session_columns};
use super::sql::statement::{Param, script};

/// How many parameters a rotation binds.
const ROTATE_ARITY: usize = 15;

/// The statements of a refresh-token rotation on SQLite, `$call` standing
/// for the index of its row. Each reads its call's parameters from a
/// `VALUES` row, so that a group of rotations runs each statement once
/// (`group.rs`); the same token presented twice in one group rotates the
/// session once, for one of the two calls (SQLite's `UPDATE … FROM` updates
/// a row at most once). The statements after the UPDATE find each rotated
/// session by its new hash (256 random bits) and its old one. A failure
/// rolls the whole transaction back (and the group's calls run again one
/// by one), so `OR FAIL` on the UPDATE and the INSERTs means what the
/// default `OR ABORT` would; but with it SQLite keeps no statement journal
/// (a copy of every page a statement that changes several rows is about to
/// change, for undoing that statement alone, spilled to a temporary file
/// past 64 KiB), which for a group's UPDATE over a large sessions table
/// took a seventh of the writer's time (BENCHMARKS.md).
macro_rules! rotate_sqlite_body {
    ($call:literal) => {
        concat!(
            "WITH v (old_hash, new_hash, sealed, now, idle_ms, client, unbound) AS \
               (VALUES ($1, $2, $3, $4, $5, $6, $7)) \
             UPDATE OR FAIL sessions SET prev_refresh_hash = refresh_hash, refresh_hash = v.new_hash, \
               grace_sealed = v.sealed, rotated_at = v.now, last_used_at = v.now, \
               expires_at = CASE WHEN v.now + v.idle_ms < max_expires_at \
                 THEN v.now + v.idle_ms ELSE max_expires_at END \
             FROM v WHERE refresh_hash = v.old_hash AND revoked_at IS NULL AND expires_at > v.now \
               AND (client_id = v.client OR (client_id IS NULL AND v.unbound)); \
             WITH v (old_hash, new_hash, now) AS (VALUES ($1, $2, $4)) \
             INSERT OR FAIL INTO spent_refresh_tokens (token_hash, session_id, spent_at) \
               SELECT v.old_hash, s.id, v.now FROM v JOIN sessions s \
               ON s.refresh_hash = v.new_hash AND s.prev_refresh_hash = v.old_hash; \
             WITH v (old_hash, new_hash, at, event, actor, subject, ip, user_agent, outcome, detail) AS \
               (VALUES ($1, $2, $8, $9, $10, $11, $12, $13, $14, $15)) \
             INSERT OR FAIL INTO audit_log (at, event, actor, subject, ip, user_agent, outcome, detail) \
               SELECT v.at, v.event, COALESCE(v.actor, s.user_id), COALESCE(v.subject, s.user_id), \
                 v.ip, v.user_agent, v.outcome, v.detail \
               FROM v JOIN sessions s ON s.refresh_hash = v.new_hash AND s.prev_refresh_hash = v.old_hash \
               WHERE v.at IS NOT NULL; \
             WITH v (call, old_hash, new_hash) AS (VALUES (",
            $call,
            ", $1, $2)) SELECT v.call AS call, s.*, ",
            prefixed_user_columns!(),
            " FROM v JOIN (SELECT refresh_hash, prev_refresh_hash, ",
            session_columns!(),
            " FROM sessions) s ON s.refresh_hash = v.new_hash AND s.prev_refresh_hash = v.old_hash \
             JOIN users u ON u.id = s.user_id"
        )
    };
}

/// The same rotation as one script of its own (`Script` pairs it with
/// PostgreSQL's statement; SQLite stores run rotations in groups).
const ROTATE_SQLITE: &str = concat!("BEGIN IMMEDIATE; ", rotate_sqlite_body!("0"), "; COMMIT");

/// The same rotation on PostgreSQL, as one statement.
const ROTATE_POSTGRES: &str = concat!(
    "WITH s AS (UPDATE sessions SET prev_refresh_hash = refresh_hash, refresh_hash = $2, \
       grace_sealed = $3, rotated_at = $4, last_used_at = $4, \
       expires_at = CASE WHEN $4 + $5 < max_expires_at THEN $4 + $5 ELSE max_expires_at END \
     WHERE refresh_hash = $1 AND revoked_at IS NULL AND expires_at > $4 \
       AND (client_id = $6 OR (client_id IS NULL AND $7)) \
     RETURNING ",
    session_columns!(),
    "), spent AS (INSERT INTO spent_refresh_tokens (token_hash, session_id, spent_at) \
       SELECT $1, id, $4 FROM s), \
     audit AS (INSERT INTO audit_log (at, event, actor, subject, ip, user_agent, outcome, detail) \
       SELECT $8, $9, COALESCE($10, user_id), COALESCE($11, user_id), $12, $13, $14, $15 \
       FROM s WHERE $8 IS NOT NULL) \
     SELECT s.*, ",
    prefixed_user_columns!(),
    " FROM s JOIN users u ON u.id = s.user_id"
);

/// On SQLite, the rotations that run in groups on the writer ([`Grouped`]);
/// PostgreSQL runs concurrent rotations itself.
pub(crate) fn grouped_rotations(db: &Db) -> Option<Grouped<RotatedRow>> {
    match db {
        Db::Sqlite {
            writer,
            writer_waits,
            ..
        } => Some(Grouped::start(
            rotate_sqlite_body!("$0"),
            ROTATE_ARITY,
            writer.clone(),
            writer_waits.clone(),
        )),
        Db::Postgres { .. } => None,
    }
}

/// Rotates `r`'s token, recording `audit`, through `grouped` when SQLite
/// runs rotations in groups.
pub(crate) async fn rotate(
    db: &Db,
    grouped: Option<&Grouped<RotatedRow>>,
    r: &Rotation,
    audit: Option<&AuditEntry>,
) -> StoreResult<Option<Rotated>> {
    // One round trip: the conditional UPDATE (of any number of
    // concurrent refreshes with one token, exactly one matches the row),
    // the spent token and the audit entry, attributed to the session's
    // user, commit together, and the rotated session comes back with its
    // user's row; a token that matches nothing changes nothing. On
    // SQLite, concurrent rotations commit in groups.
    debug_assert!(
        audit.is_none_or(|a| a.stream_event.is_none()),
        "a refresh streams no event"
    );
    let params: Vec<Param<'static>> = vec![
        r.old_hash.to_vec().into(),
        r.new_hash.to_vec().into(),
        r.sealed_new.clone().into(),
        r.now.into(),
        r.idle_ttl_ms.into(),
        r.client_id.clone().into(),
        r.client_id.is_none().into(),
        audit.map(|a| a.at).into(),
        audit.map(|a| a.event.clone()).into(),
        audit.and_then(|a| a.actor.clone()).into(),
        audit.and_then(|a| a.subject.clone()).into(),
        audit.and_then(|a| a.ip.clone()).into(),
        audit.and_then(|a| a.user_agent.clone()).into(),
        audit.map(|a| a.outcome.clone()).into(),
        audit.and_then(|a| a.detail.clone()).into(),
    ];
    debug_assert_eq!(params.len(), ROTATE_ARITY);
    let rows: Vec<RotatedRow> = match grouped {
        Some(grouped) => grouped.call(params).await?,
        None => {
            db.write_script(script(ROTATE_SQLITE, ROTATE_POSTGRES).bind_all(params))
                .await?
        }
    };
    rows.into_iter().next().map(Rotated::try_from).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::SqlStore;
    use crate::store::sql::statement::sql;
    use crate::store::sql::tests::{a_session, sqlite};
    use crate::store::sql::{db::WRITER_ROW_BUFFER, group};
    use crate::store::{NewSession, NewUser, UserStore};
    use uuid::Uuid;

    /// When the test stores' one session began.
    const NOW: i64 = 1_700_000_000_000;

    /// A store on a fresh SQLite file holding one user, `username`, signed
    /// in at [`NOW`] with the refresh token whose hash is `[7; 32]`; that
    /// session's id.
    async fn one_session(dir: &tempfile::TempDir, username: &str) -> (SqlStore, Uuid) {
        let store = sqlite(dir).await;
        let user = NewUser {
            id: Uuid::new_v4(),
            username: username.into(),
            email: None,
            email_exempt: false,
            first_name: None,
            last_name: None,
            phone: None,
            roles: vec!["user".into()],
            password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$hash".to_owned().into(),
            now: NOW,
        };
        let session = NewSession {
            session: a_session(user.id, NOW),
            refresh_hash: [7; 32],
        };
        store.insert_user(&user, Some(&session), &[]).await.unwrap();
        (store, session.session.id)
    }

    /// A group of rotations runs in the next larger prepared form, the spare
    /// calls' parameters all NULL: such a call must touch nothing, even
    /// beside a session whose previous token is NULL (its first).
    #[tokio::test]
    async fn a_rotation_with_every_parameter_null_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = one_session(&dir, "padded").await;
        let counts = "SELECT (SELECT count(*) FROM spent_refresh_tokens), \
                        (SELECT count(*) FROM audit_log), \
                        (SELECT count(*) FROM sessions WHERE prev_refresh_hash IS NULL AND last_used_at = $1)";
        let before: (i64, i64, i64) = store.db.fetch_one(sql(counts).bind(NOW)).await.unwrap();
        let rows: Vec<RotatedRow> = store
            .db
            .write_script(
                script(ROTATE_SQLITE, ROTATE_POSTGRES)
                    .bind_all(vec![Param::Int(None); ROTATE_ARITY]),
            )
            .await
            .unwrap();
        assert!(rows.is_empty(), "a padded call answers no row");
        let after: (i64, i64, i64) = store.db.fetch_one(sql(counts).bind(NOW)).await.unwrap();
        assert_eq!(after, before);
        assert_eq!(before.2, 1, "the session is still unrotated");
    }

    /// Two calls presenting one token in the same group: the session
    /// rotates once, for the call that hears it back, and the spent token
    /// keeps that call's successor.
    #[tokio::test]
    async fn one_token_twice_in_one_group_rotates_the_session_once() {
        let dir = tempfile::tempdir().unwrap();
        let (store, session) = one_session(&dir, "twice").await;
        let store = std::sync::Arc::new(store);
        // Spawned before the runner wakes (one thread), so both calls, and a
        // third for another token, run as one group.
        let calls: Vec<_> = [[7; 32], [7; 32], [9; 32]]
            .into_iter()
            .enumerate()
            .map(|(i, old_hash)| {
                let store = store.clone();
                tokio::spawn(async move {
                    let rotation = Rotation {
                        old_hash,
                        new_hash: [10 + i as u8; 32],
                        sealed_new: vec![i as u8],
                        now: NOW + 10,
                        idle_ttl_ms: 500,
                        client_id: None,
                    };
                    rotate(&store.db, store.rotations.as_ref(), &rotation, None).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap().unwrap().map(|r| r.session.id));
        }
        let rotated: Vec<usize> = (0..3).filter(|&i| answers[i].is_some()).collect();
        assert_eq!(rotated.len(), 1, "{answers:?}");
        let winner = rotated[0];
        assert!(winner < 2);
        assert_eq!(answers[winner], Some(session));
        let (hash, sealed, spent): (Vec<u8>, Vec<u8>, i64) = store
            .db
            .fetch_one(sql(
                "SELECT refresh_hash, grace_sealed, (SELECT count(*) FROM spent_refresh_tokens) \
                 FROM sessions",
            ))
            .await
            .unwrap();
        assert_eq!(hash, vec![10 + winner as u8; 32]);
        assert_eq!(sealed, vec![winner as u8]);
        assert_eq!(spent, 1);
        let grouped = store.rotations.as_ref().unwrap();
        assert_eq!(grouped.committed(), 1, "the three calls ran as one group");
    }

    /// No statement of a rotation on SQLite that writes can abort (undo
    /// itself alone): so SQLite keeps no statement journal for a group of
    /// rotations. SQLite journals a statement that may change several rows
    /// if its program holds one of these (the opcodes its own debug check of
    /// that decision, `sqlite3VdbeAssertMayAbort`, looks for): a `Halt` or
    /// `HaltIfNull` with an error code (P1) and `OE_Abort` (2) as P2, a call
    /// of an SQL function, or the counting of an immediate foreign key.
    #[tokio::test]
    async fn no_statement_of_a_rotation_can_abort() {
        use sqlx::Row;
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = one_session(&dir, "journal").await;
        let Db::Sqlite { writer, .. } = &store.db else {
            unreachable!("a SQLite store")
        };
        let body = rotate_sqlite_body!("0");
        let writes: Vec<&str> = body
            .split(';')
            .filter(|s| s.contains("UPDATE") || s.contains("INSERT"))
            .collect();
        assert_eq!(writes.len(), 3, "the UPDATE and two INSERTs");
        for statement in writes {
            let explain = format!("EXPLAIN {statement}");
            let program = sqlx::raw_sql(&explain).fetch_all(writer).await.unwrap();
            assert!(!program.is_empty(), "{statement}");
            for op in &program {
                let (opcode, p1, p2): (String, i64, i64) = (op.get(1), op.get(2), op.get(3));
                let aborts = match opcode.as_str() {
                    "Halt" | "HaltIfNull" => p1 != 0 && p2 == 2,
                    "Function" | "PureFunc" => true,
                    "FkCounter" => p1 == 0 && p2 == 1,
                    _ => false,
                };
                assert!(
                    !aborts,
                    "{opcode} {p1} {p2}: this statement can abort, and so needs a statement \
                     journal: {statement}"
                );
            }
        }
    }

    #[test]
    fn a_full_group_of_rotations_fits_in_the_writers_row_buffer() {
        // Each statement of the script sends one result, and the final
        // SELECT one row per call.
        let script = group::grouped_sql(rotate_sqlite_body!("$0"), group::MOST, ROTATE_ARITY);
        let results = script.sql.split(';').count() + group::MOST;
        assert!(
            results <= WRITER_ROW_BUFFER,
            "a group of {} rotations sends {results} results",
            group::MOST
        );
    }
}
