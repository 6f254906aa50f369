//! Checkpoints of SQLite's write-ahead log, kept off the writer's path.
//!
//! In WAL mode every commit appends the pages it changed to the `-wal` file;
//! a checkpoint copies them back into the database file and syncs both to
//! disk. Left to itself, SQLite has the connection whose commit takes the
//! WAL past 1,000 pages run the checkpoint, inside that commit. With one
//! writer connection, every write queued behind it then waits for the copy
//! and its `fsync`s: under a steady load of refreshes, a few groups of
//! requests every second.
//!
//! Here a connection of its own checkpoints the WAL every
//! [`CHECKPOINT_EVERY`] while writes are happening. The checkpoint is
//! passive: it copies what no reader still needs and never blocks the
//! writer, which goes on appending meanwhile. But SQLite syncs the database
//! file, and so lets the next write start the WAL again from its
//! beginning, only once a checkpoint has reached the WAL's end, which never
//! happens while the writer keeps appending. So when the WAL holds
//! [`CATCH_UP_FRAMES`] or more, the round finishes the job: it has the
//! kernel write out what the first pass copied (`syncfs`, which no request
//! waits for), copies what was appended meanwhile in a second passive
//! pass, then takes the writer for a last pass that copies the little
//! appended during the second and syncs the two files, with little left
//! to write. The writer keeps SQLite's automatic checkpoint only as a safety
//! net, at [`WRITER_CHECKPOINT_PAGES`] (a WAL the checkpointer could not
//! keep small, for example behind a long read). How long each round held
//! the writer is logged at `debug`, with the WAL's length (in frames) when
//! the first and the second pass began.
//!
//! With `synchronous = NORMAL`, an acknowledged write survives a crash of
//! the process at once, and a power loss once a checkpoint has synced the
//! WAL: while writes go on, within about [`CHECKPOINT_EVERY`] of their
//! commit.

use super::db::Waits;
use sqlx::SqlitePool;
use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// How often the WAL is checkpointed while writes happen.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// The WAL's length in frames (pages) from which a round finishes its
/// checkpoint with the writer held (SQLite's own threshold is 1,000).
const CATCH_UP_FRAMES: i64 = 1_000;

/// The WAL's size in pages at which the writer checkpoints it itself
/// (SQLite's default is 1,000): 40 MB of 4 KiB pages.
pub(crate) const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// Starts checkpointing on `pool` (one connection of its own) every
/// [`CHECKPOINT_EVERY`] in which `writer` was taken, as `writes` counts, or
/// was busy at the last checkpoint (a write then in progress commits after
/// it); stops once the database is dropped and `writes` with it.
pub(crate) fn spawn(pool: SqlitePool, writer: SqlitePool, writes: Weak<Waits>) -> JoinHandle<()> {
    let dir = match pool.connect_options().get_filename().parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
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
            if let Err(e) = round(&pool, &writer, &dir).await {
                // The writer's own automatic checkpoint still bounds the WAL.
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
        pool.close().await;
    })
}

/// One round on `pool`: a passive checkpoint and, if the WAL had reached
/// [`CATCH_UP_FRAMES`], the database's filesystem written out (`dir`
/// holds the database), a second passive pass over what was appended
/// meanwhile, and a last pass with `writer` held, which reaches the WAL's
/// end.
async fn round(pool: &SqlitePool, writer: &SqlitePool, dir: &Path) -> Result<(), sqlx::Error> {
    let frames = checkpoint(pool).await?;
    if frames < CATCH_UP_FRAMES {
        return Ok(());
    }
    write_out(dir.to_owned()).await;
    // The writer appended all through the first pass and the write-out;
    // copying that beside it leaves the held pass only what it appends
    // during this one.
    let second_frames = checkpoint(pool).await?;
    let held = writer.acquire().await?;
    let since = Instant::now();
    checkpoint(pool).await?;
    drop(held);
    tracing::debug!(
        frames,
        second_frames,
        held_us = since.elapsed().as_micros(),
        "WAL checkpointed to its end"
    );
    Ok(())
}

/// One passive checkpoint: copies every frame no reader still needs.
/// Answers how many frames the WAL held when it began.
async fn checkpoint(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
    let (_busy, frames, _copied): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(pool)
            .await?;
    Ok(frames)
}

/// Has the kernel write out the dirty pages of the filesystem holding
/// `dir`, on a blocking thread. Only an opened directory is needed for
/// that: a descriptor of the database file itself, once closed, would drop
/// the locks SQLite's connections in this process hold on it. Best effort:
/// on failure, the later passes' own `fsync`s simply have more to write.
async fn write_out(dir: PathBuf) {
    #[cfg(target_os = "linux")]
    {
        let synced = tokio::task::spawn_blocking(move || {
            let dir = std::fs::File::open(dir)?;
            rustix::fs::syncfs(&dir).map_err(std::io::Error::from)
        })
        .await;
        if let Ok(Err(e)) = synced {
            tracing::debug!(error = %e, "syncfs before a checkpoint failed");
        }
    }
    #[cfg(not(target_os = "linux"))]
    drop(dir);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::db::Db;
    use std::sync::Arc;

    /// The SQLite database at `path`, with its writer and the count of
    /// the writer's uses.
    async fn open(path: &std::path::Path) -> (Db, SqlitePool, Arc<Waits>) {
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
        let (writer, waits) = (writer.clone(), writer_waits.clone());
        (db, writer, waits)
    }

    #[tokio::test]
    async fn writes_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let (_db, writer, writer_waits) = open(&path).await;
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

    /// How many times the WAL at `path` has started again from its
    /// beginning: the checkpoint sequence number of its header (bytes
    /// 12–15, big-endian), which SQLite advances at every restart.
    fn wal_restarts(path: &std::path::Path) -> u32 {
        use std::io::Read;
        let mut header = [0; 16];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut header))
            .unwrap();
        u32::from_be_bytes([header[12], header[13], header[14], header[15]])
    }

    #[tokio::test]
    async fn under_steady_writes_the_wal_starts_again_from_its_beginning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steady.db");
        let wal = dir.path().join("steady.db-wal");
        let (_db, writer, writer_waits) = open(&path).await;
        sqlx::raw_sql(
            "CREATE TABLE t (b BLOB); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 64) \
             INSERT INTO t SELECT randomblob(65536) FROM n",
        )
        .execute(&writer)
        .await
        .unwrap();
        let before = wal_restarts(&wal);
        // 64 KiB rewritten every 5 ms or more, never pausing, until the WAL
        // has started again twice, for at most 28 MiB: about 17 pages a
        // write (the row's leaf and 16 of overflow), some 7,600 in all,
        // which with the 1,040 or so of the table above stay below the
        // writer's own checkpoint (10,000 pages), so only the checkpointer's
        // rounds can start the WAL again. (The WAL's size is no measure: a
        // round held up on a busy machine lets the file grow, and a
        // restarted WAL keeps its length.)
        let (mut written, mut row, mut restarts) = (0, 0, 0);
        while restarts < 2 && written < 28 << 20 {
            let mut connection = writer_waits.timed(writer.acquire()).await.unwrap();
            sqlx::query("UPDATE t SET b = randomblob(65536) WHERE rowid = $1")
                .bind(row % 64 + 1)
                .execute(&mut *connection)
                .await
                .unwrap();
            drop(connection);
            (written, row) = (written + 65_536, row + 1);
            tokio::time::sleep(Duration::from_millis(5)).await;
            restarts = wal_restarts(&wal).wrapping_sub(before);
        }
        assert!(
            restarts >= 2,
            "the WAL started again {restarts} times while {written} bytes were written"
        );
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
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the checkpointer stops")
            .unwrap();
    }
}
