//! Persistence: the [`Store`] the domain talks to, one trait per concern,
//! each in its own module with its SQL, and the records they exchange. The
//! SQL is written once for SQLite and PostgreSQL ([`SqlStore`]); the
//! database URL's scheme picks the backend.
//!
//! # Layout
//!
//! - [`users`], [`sessions`], [`revocations`], [`keys`], [`throttle`],
//!   [`events`], [`audit`], [`oauth`], [`factors`], [`links`]: each
//!   concern's trait and its SQL.
//! - [`records`]: what the store takes and answers.
//! - [`commits`]: what a committed write announces to this process and,
//!   through PostgreSQL notifications, to every replica.
//! - `sql`: [`SqlStore`], connecting, migrations, and the one module that
//!   knows what differs between the two databases (`sql/db.rs`).
//!
//! One trait method is one transaction. Every write that revokes something
//! records its revocation and its stream event in that same transaction, so
//! a committed revocation is never missing from the event stream, and both
//! are announced together when the transaction commits ([`commits`]).

pub mod audit;
pub mod commits;
pub mod events;
pub mod factors;
pub mod keys;
pub mod links;
pub mod oauth;
pub mod records;
pub mod revocations;
mod rotations;
pub mod sessions;
mod sql;
pub mod throttle;
pub mod users;

use async_trait::async_trait;
use std::sync::Arc;
use tessera_token::clock::Millis;

pub use audit::AuditStore;
pub use commits::{CommitHook, Committed};
pub use events::EventStore;
pub use factors::{Challenge, FactorStore, StoredFactor};
pub use keys::KeyStore;
pub use links::{EmailLink, LinkKind, LinkStore, Verification};
pub use oauth::{
    AuthorizationCode, BrowserSession, ClientFields, NewBrowserSession, OAuthStore, Redemption,
};
pub use records::{
    AuditEntry, AuditQuery, FollowUp, Guarded, NewSession, NewUser, Rotated, Rotation,
    SessionRevocation, SpentToken, StoredKey, UserChanges, UserFilter,
};
pub use revocations::RevocationStore;
pub use sessions::SessionStore;
pub use sql::SqlStore;
pub use tessera_token::revocation::{Revocation, RevocationKind};
pub use throttle::ThrottleStore;
pub use users::UserStore;

/// What can go wrong in the store. Nothing here carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write (e.g. a taken username).
    #[error("the record conflicts with an existing one")]
    Conflict,
    /// The database URL is not `sqlite://…` or `postgres://…`.
    #[error("unsupported database URL scheme (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    /// A stored value could not be read back (corruption or a newer schema).
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    /// The database could not be reached, or did not answer in time: the
    /// request may succeed if tried again shortly.
    #[error("the database is unreachable")]
    Unavailable,
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Whether a database error's SQLSTATE says the server is going away,
/// starting, or cannot take the connection: a connection exception (class
/// `08`), a shutdown (`57P01` admin, `57P02` crash), "the database system
/// is starting up or shutting down" (`57P03`), or too many connections
/// (`53300`). What a restart or failover looks like to a statement in
/// flight; tried again shortly, it may succeed.
fn says_unavailable(sqlstate: &str) -> bool {
    // `08P01` (protocol violation) is a client's mistake, not the server
    // going away.
    (sqlstate.starts_with("08") && sqlstate != "08P01")
        || matches!(sqlstate, "57P01" | "57P02" | "57P03" | "53300")
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            // Garbled or cut-short answers usually come from the connection:
            // typically a proxy in front of PostgreSQL (PgBouncer, HAProxy,
            // a cloud SQL proxy) that takes the connection and closes it
            // because the server is down. Logged, in case they are not.
            sqlx::Error::Database(db) if db.code().is_some_and(|c| says_unavailable(&c)) => {
                tracing::warn!(error = %e, "the database is going away");
                StoreError::Unavailable
            }
            sqlx::Error::Protocol(_) => {
                tracing::warn!(error = %e, "the database connection answered garbage");
                StoreError::Unavailable
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable,
            _ => StoreError::Database(e),
        }
    }
}

/// One connection pool's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolStats {
    /// `sqlite_reader`, `sqlite_writer` or `postgres`.
    pub pool: &'static str,
    /// Connections open.
    pub open: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The most it opens.
    pub max: u32,
    /// Seconds spent waiting for its connections (and, for a write
    /// transaction, for the transaction to begin), in all.
    pub wait_seconds: f64,
    /// How many waits that total is of.
    pub waits: u64,
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything Tessera persists: every concern's trait, and upkeep.
#[async_trait]
pub trait Store:
    UserStore
    + SessionStore
    + RevocationStore
    + KeyStore
    + ThrottleStore
    + EventStore
    + AuditStore
    + OAuthStore
    + FactorStore
    + LinkStore
    + Send
    + Sync
    + std::fmt::Debug
{
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// The connection pools now: their names, connections open, idle and
    /// allowed.
    fn pool_stats(&self) -> Vec<PoolStats>;
    /// Has `hook` told, once each write transaction of this process has
    /// committed, which events and revocations it wrote (the first hook
    /// set stays).
    fn on_commit(&self, hook: CommitHook);
    /// Forgets what can no longer matter: expired revocations, long-dead
    /// sessions, refresh tokens spent before every remaining session began,
    /// stale throttle counts, lapsed challenges and unfinished enrolments.
    /// Answers how many rows it deleted.
    async fn purge_expired(&self, now: Millis, dead_session_cutoff: Millis) -> StoreResult<u64>;
}

/// Opens the store a database URL names and runs its migrations.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    let store = SqlStore::connect(url).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

/// The database URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://tessera.db"), "sqlite://tessera.db");
    }

    /// A statement in flight when PostgreSQL shuts down (or an operator
    /// ends its backend) fails with SQLSTATE 57P01: the database is
    /// unavailable, to be tried again (503), not an internal error (500).
    #[tokio::test]
    async fn a_statement_cut_by_a_shutdown_is_unavailable_not_internal() {
        use sqlx::Connection as _;
        let Some(_) = crate::testing::fresh_postgres_url().await else {
            return;
        };
        let url = crate::testing::postgres_admin_url();
        let mut victim = sqlx::PgConnection::connect(&url).await.unwrap();
        let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
        let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()")
            .fetch_one(&mut victim)
            .await
            .unwrap();
        let sleeping = tokio::spawn(async move {
            sqlx::query("SELECT pg_sleep(30)")
                .execute(&mut victim)
                .await
                .map(|_| ())
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&mut admin)
            .await
            .unwrap();
        let cut = sleeping.await.unwrap().unwrap_err();
        assert!(
            matches!(StoreError::from(cut), StoreError::Unavailable),
            "a cut statement must read as unavailable"
        );
        assert!(says_unavailable("57P03") && says_unavailable("08006"));
        assert!(!says_unavailable("23505") && !says_unavailable("42P01"));
        assert!(!says_unavailable("08P01"));
    }

    /// A proxy in front of a stopped PostgreSQL takes the connection, reads
    /// the client's first message and closes it: unavailable (503), not internal (500).
    #[tokio::test]
    async fn a_connection_a_proxy_closes_at_once_is_unavailable() {
        use sqlx::Connection as _;
        let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = proxy.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = proxy.accept().await {
                // Reads what the client sends first, then gives up on it.
                let mut first = [0u8; 64];
                let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut first).await;
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
            }
        });
        let url = format!("postgres://postgres@127.0.0.1:{port}/tessera");
        let refused = sqlx::PgConnection::connect(&url).await.unwrap_err();
        assert!(
            matches!(StoreError::from(refused), StoreError::Unavailable),
            "a connection closed by a proxy must read as unavailable"
        );
    }
}
