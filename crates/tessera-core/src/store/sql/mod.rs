//! [`SqlStore`]: the store on SQLite or PostgreSQL. Each concern's SQL lives
//! with its trait (`store/users.rs`, …); this module holds the store itself,
//! the database and its connections (`db`), the checkpoints of SQLite's
//! write-ahead log (`checkpoints`), statements and how they run
//! (`statement`), and the row shapes several concerns share (`rows`).

pub(crate) mod checkpoints;
pub(crate) mod db;
pub(crate) mod group;
pub(crate) mod rows;
pub(crate) mod statement;

use super::commits::{CommitHook, Hook};
use super::{Store, StoreError, StoreResult};
use async_trait::async_trait;
use db::{Db, Tx};
use statement::sql;
use std::sync::Arc;
use tessera_token::clock::Millis;

/// How long before the oldest remaining session began a spent refresh
/// token must have been spent for the purge to forget it: an hour, far
/// more than replicas' clocks can disagree (a session begun on one replica
/// may be rotated on another whose clock is behind).
const SPENT_TOKEN_MARGIN: Millis = 3_600_000;

/// The store on an embedded SQLite file or a PostgreSQL database, with the
/// same SQL for both.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) db: Db,
    /// Hears what each write transaction announces once committed.
    hook: Arc<Hook>,
    /// On SQLite, refresh-token rotations, committed in groups
    /// (`store/sessions.rs`).
    pub(crate) rotations: Option<group::Grouped<rows::RotatedRow>>,
}

impl SqlStore {
    /// Opens the database a URL names: `sqlite://PATH` (created if missing)
    /// or `postgres://…`. Migrations are not run ([`Store::migrate`]).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let db = if url.starts_with("sqlite:") {
            Db::sqlite(url).await?
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Db::postgres(url).await?
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        Ok(SqlStore {
            rotations: super::rotations::grouped_rotations(&db),
            db,
            hook: Arc::default(),
        })
    }

    /// A write transaction.
    pub(crate) async fn begin_write(&self) -> StoreResult<Tx> {
        self.db.begin_write(&self.hook).await
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn migrate(&self) -> StoreResult<()> {
        self.db.migrate().await
    }

    async fn ping(&self) -> StoreResult<()> {
        let _: (i32,) = self.db.fetch_one(sql("SELECT 1")).await?;
        Ok(())
    }

    fn pool_stats(&self) -> Vec<super::PoolStats> {
        self.db.pool_stats()
    }

    fn on_commit(&self, hook: CommitHook) {
        self.hook.set(hook);
    }

    async fn purge_expired(&self, now: Millis, dead_session_cutoff: Millis) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let revocations = tx
            .execute(sql("DELETE FROM revocations WHERE expires_at <= $1").bind(now))
            .await?;
        let sessions = tx
            .execute(
                sql("DELETE FROM sessions WHERE expires_at <= $1 \
                     OR (revoked_at IS NOT NULL AND revoked_at <= $1)")
                .bind(dead_session_cutoff),
            )
            .await?;
        // A spent token outlives its session (no foreign key: see migration
        // 0009) until every remaining session began after it was spent.
        let spent = tx
            .execute(
                sql("DELETE FROM spent_refresh_tokens \
                     WHERE spent_at < COALESCE((SELECT MIN(created_at) FROM sessions), $1) - $2")
                .bind(now)
                .bind(SPENT_TOKEN_MARGIN),
            )
            .await?;
        let throttle = tx
            .execute(
                sql("DELETE FROM throttle WHERE updated_at <= $1 AND blocked_until <= $2")
                    .bind(dead_session_cutoff)
                    .bind(now),
            )
            .await?;
        let challenges = tx
            .execute(sql("DELETE FROM mfa_challenges WHERE expires_at <= $1").bind(now))
            .await?;
        let enrolments = tx
            .execute(
                sql("DELETE FROM factors WHERE confirmed_at IS NULL AND expires_at <= $1")
                    .bind(now),
            )
            .await?;
        let links = tx
            .execute(sql("DELETE FROM email_links WHERE expires_at <= $1").bind(now))
            .await?;
        tx.commit().await?;
        Ok(revocations + sessions + spent + throttle + challenges + enrolments + links)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Session;
    use crate::store::ThrottleStore;
    use std::time::Duration;

    /// A migrated SQLite store in `dir`.
    pub(crate) async fn sqlite(dir: &tempfile::TempDir) -> SqlStore {
        let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// A live first-party session of `user_id`, begun at `at`.
    pub(crate) fn a_session(user_id: uuid::Uuid, at: Millis) -> Session {
        Session {
            id: uuid::Uuid::new_v4(),
            user_id,
            created_at: at,
            last_used_at: at,
            expires_at: at + 1_000,
            max_expires_at: at + 2_000,
            revoked_at: None,
            user_agent: None,
            ip: None,
            client_id: None,
            scope: None,
            browser_session_id: None,
            auth_time: at,
            amr: vec!["pwd".into()],
        }
    }

    /// A request given up while its write transaction is being opened
    /// (a client that hangs up) leaves no transaction behind on SQLite's
    /// one writer: every later write still gets it.
    #[tokio::test]
    async fn a_write_given_up_while_it_begins_leaves_the_writer_free() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(&dir).await;
        use std::future::Future as _;
        for polls in 0..400 {
            let mut begun = Box::pin(store.begin_write());
            for _ in 0..polls % 40 {
                let ready = std::future::poll_fn(|cx| {
                    std::task::Poll::Ready(begun.as_mut().poll(cx).is_ready())
                })
                .await;
                if ready {
                    break;
                }
                if polls % 3 == 0 {
                    tokio::task::yield_now().await;
                } else {
                    std::thread::sleep(Duration::from_micros(polls % 7 * 10));
                }
            }
            drop(begun);
            let next = tokio::time::timeout(Duration::from_secs(5), store.begin_write())
                .await
                .expect("the writer is free again");
            assert!(next.is_ok(), "after {polls} polls: {next:?}");
        }
    }

    #[tokio::test]
    async fn sqlite_writes_take_turns_on_one_connection_and_reads_never_wait() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(&dir).await;
        let Db::Sqlite { writer, .. } = &store.db else {
            panic!("a SQLite store");
        };
        assert_eq!(writer.options().get_max_connections(), 1);

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
    async fn spent_tokens_survive_their_table_being_rebuilt_without_the_sessions_key() {
        use crate::store::{SessionStore, records::NewSession};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        let Db::Sqlite { writer, .. } = &store.db else {
            panic!("a SQLite store");
        };
        // The database as the release before migration 9 left it.
        let earlier = dir.path().join("earlier");
        std::fs::create_dir(&earlier).unwrap();
        let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        for entry in std::fs::read_dir(migrations).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if name.as_str() < "0009" {
                std::fs::copy(&path, earlier.join(name)).unwrap();
            }
        }
        let migrator = sqlx::migrate::Migrator::new(earlier.as_path())
            .await
            .unwrap();
        assert_eq!(migrator.iter().count(), 8);
        migrator.run(writer).await.unwrap();
        let session = a_session(uuid::Uuid::nil(), 1);
        sqlx::query(
            "INSERT INTO users (id, username, username_lower, roles, is_admin, password_hash, \
               created_at, updated_at) VALUES ($1, 'u', 'u', '', FALSE, '', 1, 1)",
        )
        .bind(session.user_id.to_string())
        .execute(writer)
        .await
        .unwrap();
        let new = NewSession {
            session: session.clone(),
            refresh_hash: [1; 32],
        };
        store.insert_session(&new, &[]).await.unwrap();
        sqlx::query(
            "INSERT INTO spent_refresh_tokens (token_hash, session_id, spent_at) \
             SELECT $1, id, 5 FROM sessions",
        )
        .bind(&[7u8; 32][..])
        .execute(writer)
        .await
        .unwrap();

        store.migrate().await.unwrap();
        let spent = store.spent_refresh_token(&[7; 32]).await.unwrap();
        let spent = spent.expect("the spent token is still known");
        assert_eq!((spent.session, spent.spent_at), (session, 5));
        // Found by hash, forgotten by age; tied to no session.
        let indexes: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'index' \
             AND tbl_name = 'spent_refresh_tokens' ORDER BY name",
        )
        .fetch_all(writer)
        .await
        .unwrap();
        let indexes: Vec<&str> = indexes.iter().map(|(n,)| n.as_str()).collect();
        assert_eq!(
            indexes,
            [
                "spent_refresh_tokens_spent_at",
                "sqlite_autoindex_spent_refresh_tokens_1"
            ]
        );
        let keys: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM pragma_foreign_key_list('spent_refresh_tokens')")
                .fetch_all(writer)
                .await
                .unwrap();
        assert!(keys.is_empty(), "spent tokens still reference sessions");
    }

    #[tokio::test]
    async fn sqlite_readers_refuse_to_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(&dir).await;
        let Db::Sqlite { reader, writer, .. } = &store.db else {
            panic!("a SQLite store");
        };
        let write = sqlx::query("DELETE FROM throttle").execute(reader).await;
        assert!(write.is_err(), "the read pool wrote");
        sqlx::query("DELETE FROM throttle")
            .execute(writer)
            .await
            .unwrap();
    }
}
