//! The database and its connections. A statement (`statement.rs`) runs on
//! whichever database the URL named; this module is the one place that
//! knows what really differs between the two: the pools, how a write
//! transaction begins, a write script's one round trip, the locks
//! PostgreSQL needs where SQLite runs one writer at a time, how a committed
//! transaction announces what it wrote, the time limits, and the migration
//! sets.

use super::checkpoints;
use super::statement::{Row, Script, Statement};

use super::super::commits::{self, Committed, Hook};
use super::super::{Revocation, StoreError, StoreResult};
use super::statement::{Fetch, execute, one, run, sql};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Locks PostgreSQL needs where SQLite, running one writer at a time, needs
/// none. Each is transaction-scoped.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lock {
    /// Serialises the changes that could remove an enabled admin.
    ///
    /// The last-admin guard reads the other admins in the same statement
    /// that changes this one; under READ COMMITTED two such statements on
    /// two admins would each see the other still in place and both succeed,
    /// leaving none. Taken first, the lock makes them take turns, and each
    /// statement's snapshot then sees the other's outcome.
    AdminGuard,
    /// Serialises event writes, so event-writing transactions commit in
    /// `seq` order and a reader that has seen `seq` N never later meets a
    /// smaller one.
    Events,
}

impl Lock {
    fn sql(self) -> &'static str {
        match self {
            Lock::AdminGuard => "SELECT pg_advisory_xact_lock(7465737301)",
            Lock::Events => "SELECT pg_advisory_xact_lock(7465737302)",
        }
    }
}

/// The database and its connection pools.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    /// An embedded SQLite file in WAL mode.
    ///
    /// SQLite runs one write transaction at a time. Writes therefore go
    /// through a pool of one connection, where they queue in arrival order
    /// inside the process, while reads share the other pool and never wait
    /// for a writer (WAL). Left to contend on one pool, writers would meet
    /// `SQLITE_BUSY` and sleep in SQLite's busy handler, which favours no
    /// one: under a burst of refreshes a few requests would wait seconds
    /// while others pass them.
    Sqlite {
        /// Readers, opened `query_only`.
        reader: SqlitePool,
        /// The one writer connection.
        writer: SqlitePool,
        /// How long statements waited for a reader.
        reader_waits: Arc<Waits>,
        /// How long statements and transactions waited for the writer.
        writer_waits: Arc<Waits>,
    },
    /// PostgreSQL, for several replicas sharing one database; it runs
    /// concurrent writers itself.
    Postgres {
        /// The connections.
        pool: PgPool,
        /// The schema the deployment works in, which names it in its
        /// notifications.
        scope: Arc<str>,
        /// How long statements and transactions waited for a connection.
        waits: Arc<Waits>,
    },
}

/// The time spent waiting for connections of one pool.
#[derive(Debug, Default)]
pub(crate) struct Waits {
    nanos: AtomicU64,
    count: AtomicU64,
}

impl Waits {
    /// Awaits `taking` (a connection, or a transaction's start), counting
    /// how long it took.
    pub(super) async fn timed<T>(&self, taking: impl Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let taken = taking.await;
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        taken
    }

    /// How many waits there were.
    pub(super) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Seconds waited in all, and how many waits.
    fn totals(&self) -> (f64, u64) {
        (
            self.nanos.load(Ordering::Relaxed) as f64 / 1e9,
            self.count.load(Ordering::Relaxed),
        )
    }
}

/// How long one PostgreSQL operation (taking a connection included) may
/// take before the database counts as unreachable: a stopped or cut-off
/// server answers nothing, and a request must fail fast rather than hang.
const PG_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// How long taking a PostgreSQL connection from the pool may take.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How many results (one per statement, one per row) the SQLite writer's
/// thread may queue for the task that runs the statements. sqlx's default
/// is 50, fewer than a full group of rotations sends (`group.rs`): the
/// thread then waits for a free slot at each further result, and on a busy
/// core every result costs two thread switches. A buffer that holds a whole
/// group lets the thread run the group through.
pub(crate) const WRITER_ROW_BUFFER: usize = 1024;

/// `operation` on PostgreSQL, bounded by [`PG_OPERATION_TIMEOUT`].
async fn bounded<T>(operation: impl Future<Output = Result<T, sqlx::Error>>) -> StoreResult<T> {
    match tokio::time::timeout(PG_OPERATION_TIMEOUT, operation).await {
        Ok(done) => Ok(done?),
        Err(_) => Err(StoreError::Unavailable),
    }
}

impl Db {
    /// Opens (creating if needed) the SQLite file a `sqlite://PATH` URL names.
    pub(crate) async fn sqlite(url: &str) -> StoreResult<Self> {
        // WAL lets readers proceed during a write; `synchronous = NORMAL` in
        // WAL mode keeps every committed transaction across a crash of the
        // process (the OS holds the written WAL), and `busy_timeout` makes a
        // writer wait for another process's write (e.g. the CLI's) instead
        // of failing.
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // The writer first: it creates the file and switches it to WAL.
        // An embedded connection cannot be lost the way a network one can,
        // so neither pool pings a connection before handing it out (a round
        // trip to the connection's thread on every statement).
        // The writer checkpoints the WAL itself only as a safety net
        // (`checkpoints.rs`), and buffers a whole group's results
        // ([`WRITER_ROW_BUFFER`]).
        // sqlx runs each connection on a thread of its own; the names
        // (`sqlite-writer`, `sqlite-read-N`, `sqlite-ckpt`) tell them apart
        // in `top -H`, `perf` and a debugger.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .thread_name(|_| "sqlite-writer".into())
                    .row_buffer_size(WRITER_ROW_BUFFER)
                    .pragma(
                        "wal_autocheckpoint",
                        checkpoints::WRITER_CHECKPOINT_PAGES.to_string(),
                    ),
            )
            .await?;
        // Readers refuse to write (`query_only`): a write sent to the wrong
        // pool fails at once instead of racing the writer.
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .thread_name(|id| format!("sqlite-read-{id}"))
                    .pragma("query_only", "ON"),
            )
            .await?;
        let writer_waits = Arc::<Waits>::default();
        checkpoints::spawn(
            SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .connect_lazy_with(options.thread_name(|_| "sqlite-ckpt".into())),
            writer.clone(),
            Arc::downgrade(&writer_waits),
        );
        Ok(Db::Sqlite {
            reader,
            writer,
            reader_waits: Arc::default(),
            writer_waits,
        })
    }

    /// Connects to the PostgreSQL database a `postgres://…` URL names.
    pub(crate) async fn postgres(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(PG_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        let scope = bounded(commits::scope_of(&pool)).await?.into();
        Ok(Db::Postgres {
            pool,
            scope,
            waits: Arc::default(),
        })
    }

    /// Each pool's connections: open, idle and allowed.
    pub(crate) fn pool_stats(&self) -> Vec<crate::store::PoolStats> {
        fn of<D: sqlx::Database>(
            pool: &'static str,
            p: &sqlx::Pool<D>,
            waits: &Waits,
        ) -> crate::store::PoolStats {
            let (wait_seconds, waits) = waits.totals();
            crate::store::PoolStats {
                pool,
                open: p.size(),
                idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
                max: p.options().get_max_connections(),
                wait_seconds,
                waits,
            }
        }
        match self {
            Db::Sqlite {
                reader,
                writer,
                reader_waits,
                writer_waits,
            } => vec![
                of("sqlite_reader", reader, reader_waits),
                of("sqlite_writer", writer, writer_waits),
            ],
            Db::Postgres { pool, waits, .. } => vec![of("postgres", pool, waits)],
        }
    }

    /// Applies the backend's pending migrations. A database already
    /// migrated further, by a newer build, is used as it is: during a
    /// rolling upgrade old and new replicas share it, which works because
    /// a release's migrations only add (docs/operations.md, "Upgrades").
    pub(crate) async fn migrate(&self) -> StoreResult<()> {
        let newest_known = match self {
            Db::Sqlite { writer, .. } => {
                let mut migrator = sqlx::migrate!("migrations/sqlite");
                migrator.set_ignore_missing(true).run(writer).await?;
                migrator.iter().map(|m| m.version).max()
            }
            Db::Postgres { pool, .. } => {
                let mut migrator = sqlx::migrate!("migrations/postgres");
                migrator.set_ignore_missing(true).run(pool).await?;
                migrator.iter().map(|m| m.version).max()
            }
        };
        let (newest_applied,): (Option<i64>,) = self
            .fetch_one(sql(
                "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
            ))
            .await?;
        if newest_applied > newest_known {
            tracing::warn!(
                database = newest_applied,
                this_build = newest_known,
                "the database was migrated by a newer Tessera; this build runs on it"
            );
        }
        Ok(())
    }

    /// A write transaction. On SQLite, `BEGIN IMMEDIATE` takes the write lock
    /// at once, so a transaction that reads before it writes cannot find, at
    /// its first write, that another process wrote since its read.
    /// What it writes is announced to `hook` once it commits.
    pub(crate) async fn begin_write(&self, hook: &Arc<Hook>) -> StoreResult<Tx> {
        let conn = match self {
            Db::Sqlite {
                writer,
                writer_waits,
                ..
            } => {
                // Opened on a task of its own, which always finishes: sqlx
                // awaits once more between SQLite's answer to a custom BEGIN
                // and the transaction's creation, and a request given up
                // there (its client hung up) would leave the one writer
                // inside a transaction that nobody ends, every later write
                // refused. If the caller is gone, the transaction is dropped
                // with the task's output, and so rolled back.
                let (writer, waits) = (writer.clone(), writer_waits.clone());
                let begun =
                    tokio::spawn(
                        async move { waits.timed(writer.begin_with("BEGIN IMMEDIATE")).await },
                    );
                TxConn::Sqlite(begun.await.map_err(|_| sqlx::Error::WorkerCrashed)??)
            }
            Db::Postgres {
                pool, waits, scope, ..
            } => TxConn::Postgres(bounded(waits.timed(pool.begin())).await?, scope.clone()),
        };
        Ok(Tx {
            conn,
            committed: Committed::default(),
            hook: hook.clone(),
        })
    }

    /// Reads the one row `statement` answers.
    pub(crate) async fn fetch_one<R: Row>(&self, statement: Statement<'_>) -> StoreResult<R> {
        one(self.read(statement, Fetch::One).await?)
    }

    /// Reads the row `statement` answers, if any.
    pub(crate) async fn fetch_optional<R: Row>(
        &self,
        statement: Statement<'_>,
    ) -> StoreResult<Option<R>> {
        Ok(self
            .read(statement, Fetch::Optional)
            .await?
            .into_iter()
            .next())
    }

    /// Reads every row `statement` answers.
    pub(crate) async fn fetch_all<R: Row>(&self, statement: Statement<'_>) -> StoreResult<Vec<R>> {
        self.read(statement, Fetch::All).await
    }

    async fn read<R: Row>(&self, statement: Statement<'_>, fetch: Fetch) -> StoreResult<Vec<R>> {
        Ok(match self {
            Db::Sqlite {
                reader,
                reader_waits,
                ..
            } => {
                let mut connection = reader_waits.timed(reader.acquire()).await?;
                run(&mut *connection, statement, fetch).await?
            }
            Db::Postgres { pool, waits, .. } => {
                bounded(async {
                    let mut connection = waits.timed(pool.acquire()).await?;
                    run(&mut *connection, statement, fetch).await
                })
                .await?
            }
        })
    }

    /// Runs one write statement on its own (its own transaction): the rows
    /// it changed.
    pub(crate) async fn execute(&self, statement: Statement<'_>) -> StoreResult<u64> {
        Ok(match self {
            Db::Sqlite {
                writer,
                writer_waits,
                ..
            } => {
                let mut connection = writer_waits.timed(writer.acquire()).await?;
                execute(&mut *connection, statement).await?
            }
            Db::Postgres { pool, waits, .. } => {
                bounded(async {
                    let mut connection = waits.timed(pool.acquire()).await?;
                    execute(&mut *connection, statement).await
                })
                .await?
            }
        })
    }

    /// Runs one write statement on its own and reads the row it answers
    /// (an upsert's `RETURNING`).
    pub(crate) async fn write_returning<R: Row>(&self, statement: Statement<'_>) -> StoreResult<R> {
        one(match self {
            Db::Sqlite {
                writer,
                writer_waits,
                ..
            } => {
                let mut connection = writer_waits.timed(writer.acquire()).await?;
                run(&mut *connection, statement, Fetch::One).await?
            }
            Db::Postgres { pool, waits, .. } => {
                bounded(async {
                    let mut connection = waits.timed(pool.acquire()).await?;
                    run(&mut *connection, statement, Fetch::One).await
                })
                .await?
            }
        })
    }

    /// Runs `script` in one round trip, answering its rows.
    ///
    /// On SQLite the script runs on a task of its own: a request given up
    /// halfway cannot stop it between `BEGIN` and `COMMIT` and leave the one
    /// writer connection inside a transaction. When a statement fails, the
    /// transaction is rolled back before the connection goes back.
    pub(crate) async fn write_script<R: Row + 'static>(
        &self,
        script: Script,
    ) -> StoreResult<Vec<R>> {
        match self {
            Db::Sqlite {
                writer,
                writer_waits,
                ..
            } => {
                let (writer, waits) = (writer.clone(), writer_waits.clone());
                let task = tokio::spawn(async move {
                    let mut connection = waits.timed(writer.acquire()).await?;
                    let rows = run(&mut *connection, script.for_sqlite(), Fetch::All).await;
                    if rows.is_err() {
                        // Fails harmlessly when no transaction is open (the
                        // failure was BEGIN's own).
                        let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
                    }
                    rows
                });
                Ok(task.await.map_err(|_| sqlx::Error::WorkerCrashed)??)
            }
            Db::Postgres { pool, waits, .. } => Ok(bounded(async {
                let mut connection = waits.timed(pool.acquire()).await?;
                run(&mut *connection, script.for_postgres(), Fetch::All).await
            })
            .await?),
        }
    }
}

/// A write transaction on either database. Dropped without
/// [`Tx::commit`], it rolls back.
#[derive(Debug)]
pub(crate) struct Tx {
    conn: TxConn,
    /// What it will announce once committed.
    committed: Committed,
    /// Who hears it in this process.
    hook: Arc<Hook>,
}

/// The transaction's connection.
#[derive(Debug)]
enum TxConn {
    /// On SQLite's writer connection.
    Sqlite(Transaction<'static, Sqlite>),
    /// On PostgreSQL, in the deployment its schema names.
    Postgres(Transaction<'static, Postgres>, Arc<str>),
}

impl Tx {
    async fn run<R: Row>(&mut self, statement: Statement<'_>, fetch: Fetch) -> StoreResult<Vec<R>> {
        Ok(match &mut self.conn {
            TxConn::Sqlite(tx) => run(&mut **tx, statement, fetch).await?,
            TxConn::Postgres(tx, _) => bounded(run(&mut **tx, statement, fetch)).await?,
        })
    }

    /// The one row `statement` answers.
    pub(crate) async fn fetch_one<R: Row>(&mut self, statement: Statement<'_>) -> StoreResult<R> {
        one(self.run(statement, Fetch::One).await?)
    }

    /// The row `statement` answers, if any.
    pub(crate) async fn fetch_optional<R: Row>(
        &mut self,
        statement: Statement<'_>,
    ) -> StoreResult<Option<R>> {
        Ok(self
            .run(statement, Fetch::Optional)
            .await?
            .into_iter()
            .next())
    }

    /// Every row `statement` answers.
    pub(crate) async fn fetch_all<R: Row>(
        &mut self,
        statement: Statement<'_>,
    ) -> StoreResult<Vec<R>> {
        self.run(statement, Fetch::All).await
    }

    /// Runs `statement` for its effect: the rows it changed.
    pub(crate) async fn execute(&mut self, statement: Statement<'_>) -> StoreResult<u64> {
        Ok(match &mut self.conn {
            TxConn::Sqlite(tx) => execute(&mut **tx, statement).await?,
            TxConn::Postgres(tx, _) => bounded(execute(&mut **tx, statement)).await?,
        })
    }

    /// Takes `lock` for the rest of the transaction where the backend needs it.
    pub(crate) async fn lock(&mut self, lock: Lock) -> StoreResult<()> {
        if let TxConn::Postgres(tx, _) = &mut self.conn {
            bounded(sqlx::query(lock.sql()).execute(&mut **tx)).await?;
        }
        Ok(())
    }

    /// Locks the row `statement` selects `FOR UPDATE` where the backend needs
    /// it (SQLite's one writer already excludes every other).
    pub(crate) async fn lock_rows(&mut self, statement: Statement<'_>) -> StoreResult<()> {
        if let TxConn::Postgres(tx, _) = &mut self.conn {
            bounded(execute(&mut **tx, statement)).await?;
        }
        Ok(())
    }

    /// Notes that the transaction wrote the event `seq`, to be announced
    /// when it commits.
    pub(crate) fn wrote_event(&mut self, seq: i64) {
        self.committed.seqs.push(seq);
    }

    /// Notes that the transaction recorded `revocation`, to be announced
    /// when it commits.
    pub(crate) fn wrote_revocation(&mut self, revocation: &Revocation) {
        self.committed.revocations.push(revocation.clone());
    }

    /// Commits, then announces what was written: on PostgreSQL to every
    /// replica's listener (notifications sent just before the commit and
    /// delivered with it), and to this process's hook.
    pub(crate) async fn commit(self) -> StoreResult<()> {
        let Tx {
            conn,
            committed,
            hook,
        } = self;
        match conn {
            TxConn::Sqlite(tx) => tx.commit().await?,
            TxConn::Postgres(mut tx, scope) => {
                if !committed.is_empty() {
                    bounded(commits::notify(&mut tx, &committed, &scope)).await?;
                }
                bounded(tx.commit()).await?;
            }
        }
        if !committed.is_empty() {
            hook.announce(&committed);
        }
        Ok(())
    }
}
