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
            rotations: super::sessions::grouped_rotations(&db),
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
        Ok(revocations + sessions + throttle + challenges + enrolments + links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ThrottleStore;
    use std::time::Duration;

    async fn sqlite(dir: &tempfile::TempDir) -> SqlStore {
        let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
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
