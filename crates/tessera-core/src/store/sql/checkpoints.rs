//! Checkpoints of SQLite's write-ahead log, kept off the writer's path.
//!
//! In WAL mode every commit appends the pages it changed to the `-wal` file;
//! a checkpoint copies them back into the database file and syncs both to
//! disk. Left to itself, SQLite has the connection whose commit takes the
//! WAL past 1,000 pages run the checkpoint, inside that commit. With one
//! writer connection, every write queued behind it then waits for the copy
//! and its two `fsync`s: under a steady load of refreshes, a few groups of
//! requests every second.
//!
//! Here a connection of its own checkpoints the WAL every
//! [`CHECKPOINT_EVERY`] while writes are happening. The checkpoint is
//! passive: it copies what no reader still needs and never blocks the
//! writer, which goes on appending meanwhile. The writer keeps SQLite's
//! automatic checkpoint only as a safety net, at [`WRITER_CHECKPOINT_PAGES`]
//! (a WAL the checkpointer could not keep small, for example behind a long
//! read).
//!
//! With `synchronous = NORMAL`, an acknowledged write survives a crash of
//! the process at once, and a power loss once a checkpoint has synced the
//! WAL: while writes go on, within about [`CHECKPOINT_EVERY`] of their
//! commit.

use super::db::Waits;
use sqlx::SqlitePool;
use std::sync::Weak;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// How often the WAL is checkpointed while writes happen.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// The WAL's size in pages at which the writer checkpoints it itself
/// (SQLite's default is 1,000): 40 MB of 4 KiB pages.
pub(crate) const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// Starts checkpointing on `pool` (one connection of its own) every
/// [`CHECKPOINT_EVERY`] in which `writer` was taken, as `writes` counts, or
/// was busy at the last checkpoint (a write then in progress commits after
/// it); stops once the database is dropped and `writes` with it.
pub(crate) fn spawn(pool: SqlitePool, writer: SqlitePool, writes: Weak<Waits>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (mut seen, mut writing) = (0, false);
        loop {
            tick.tick().await;
            let Some(count) = writes.upgrade().map(|w| w.count()) else {
                break;
            };
            if count == seen && !writing {
                continue;
            }
            seen = count;
            writing = writer.num_idle() == 0;
            if let Err(e) = checkpoint(&pool).await {
                // The writer's own automatic checkpoint still bounds the WAL.
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
        pool.close().await;
    })
}

/// One passive checkpoint: copies every frame no reader still needs.
async fn checkpoint(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(pool)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::db::Db;
    use std::sync::Arc;
    use std::time::Instant;

    #[tokio::test]
    async fn writes_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let db = Db::sqlite(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let Db::Sqlite {
            writer,
            writer_waits,
            ..
        } = &db
        else {
            unreachable!()
        };
        // About 100 pages: far below the writer's own checkpoint threshold,
        // so only the checkpointer copies them into the database file.
        let mut connection = writer_waits.timed(writer.acquire()).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE t (b BLOB); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) \
             INSERT INTO t SELECT randomblob(1000) FROM n",
        )
        .execute(&mut *connection)
        .await
        .unwrap();
        drop(connection);
        let file_len = || std::fs::metadata(&path).map_or(0, |m| m.len());
        let deadline = Instant::now() + Duration::from_secs(5);
        while file_len() < 400_000 {
            assert!(
                Instant::now() < deadline,
                "the database file holds {} bytes 5 s after the writes",
                file_len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn the_checkpointer_stops_once_the_database_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("gone.db").display());
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .connect_lazy(&format!("{url}?mode=rwc"))
            .unwrap();
        let writes = Arc::new(Waits::default());
        let task = spawn(pool.clone(), pool, Arc::downgrade(&writes));
        drop(writes);
        tokio::time::timeout(CHECKPOINT_EVERY * 5, task)
            .await
            .expect("the checkpointer stops")
            .unwrap();
    }
}
