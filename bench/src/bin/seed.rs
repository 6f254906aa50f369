//! Fills a Tessera SQLite database with users for `bench/run.sh`'s
//! scale-with-data scenarios, fast: the schema comes from Tessera's own
//! migrations, one Argon2id hash is computed at Tessera's configured cost,
//! and the rows are generated inside SQLite in batches of 100,000.
//!
//! ```text
//! seed --db PATH --users N [--password PASSWORD]
//! ```
//! Users are `bench-user-0000000` … (seven digits), role `user`, all with
//! the same password (default `a long passphrase for load tests`), so any of
//! them can log in. Ids are distinct, valid UUIDs. The database is created
//! (and migrated) if it does not exist; run it before the server starts.

use anyhow::{Context, Result, bail};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection};
use std::io::Write as _;
use std::time::Instant;
use tessera_bench::arg;
use tessera_core::password::{HashCost, PasswordHasher};
use tessera_core::secret::ExposeSecret;

const BATCH: u64 = 100_000;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let Some(db) = arg("--db") else {
        bail!("usage: seed --db PATH --users N [--password PASSWORD]");
    };
    let users: u64 = arg("--users")
        .context("--users N is required")?
        .parse()
        .context("--users must be a number")?;
    if users > 10_000_000 {
        bail!("--users is at most 10,000,000 (seven-digit names)");
    }
    let password = arg("--password").unwrap_or_else(|| "a long passphrase for load tests".into());
    let started = Instant::now();
    let url = format!("sqlite://{db}");
    // Tessera's own migrations create the schema.
    drop(tessera_core::store::connect(&url).await?);
    let hash = PasswordHasher::new(HashCost::OWASP, 1)?
        .hash(password.into())
        .await?;
    let mut conn = SqliteConnectOptions::new()
        .filename(&db)
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let now = i64::try_from(now)?;
    let mut first = 0;
    while first < users {
        let last = (first + BATCH).min(users) - 1;
        let mut tx = conn.begin().await?;
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) \
             INSERT INTO users (id, username, username_lower, roles, is_admin, disabled, \
                                password_hash, created_at, updated_at) \
             SELECT printf('00000000-0000-4000-8000-%012x', i), printf('bench-user-%07d', i), \
                    printf('bench-user-%07d', i), '[\"user\"]', FALSE, FALSE, $3, $4, $4 FROM n",
        )
        .bind(i64::try_from(first)?)
        .bind(i64::try_from(last)?)
        .bind(hash.expose_secret())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        first = last + 1;
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    writeln!(
        std::io::stdout(),
        "seeded {users} users into {db} in {:.1} s",
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}
