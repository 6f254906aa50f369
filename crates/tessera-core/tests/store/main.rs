//! The conformance suite of the `Store` trait: every case is one async
//! function over `Arc<dyn Store>`, run on SQLite (a file in a tempdir) and on
//! PostgreSQL (a fresh schema; skipped when no server answers, except under
//! `CI=true`, where an unreachable PostgreSQL fails the test).
//!
//! The suite is one test binary split by concern; each module lists its own
//! cases with `conformance!`, so a test is named `<module>::<backend>::<case>`:
//!
//! - `users`: lookup, uniqueness, listing, profile updates, deletion and
//!   passwords, with the audit each change records in its transaction (and
//!   the smoke case: migrations are idempotent and the store answers);
//! - `admin`: the guard that always keeps an enabled admin;
//! - `sessions`: token sessions, refresh-token rotation and spent tokens;
//! - `revocations`: durable revocations, their upserts and the purge;
//! - `keys`: signing keys;
//! - `audit`: the audit log and its retention;
//! - `events`: the event stream;
//! - `throttle`: login throttling and rate limits;
//! - `oauth`: OAuth clients, refresh-hash lookups, per-client rotation and
//!   access-token revocation;
//! - `sso`: browser sessions and authorization codes;
//! - `factors`: second factors, recovery codes and sign-in challenges;
//! - `links`: mailed links (address confirmation, password reset);
//! - `support`: the shared constants and helpers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Generates, for every case of the invoking module, a test on SQLite and one
/// on PostgreSQL, in that module's `sqlite` and `postgres` submodules.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let url = tessera_core::testing::fresh_sqlite_url(dir.path());
                    let store = tessera_core::store::connect(&url).await.expect("connect to SQLite");
                    super::$case(store).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(url) = tessera_core::testing::fresh_postgres_url().await else {
                        return;
                    };
                    let store = tessera_core::store::connect(&url).await.expect("connect to PostgreSQL");
                    super::$case(store).await;
                }
            )*
        }
    };
}

mod support;

mod admin;
mod audit;
mod console;
mod events;
mod factors;
mod keys;
mod links;
mod oauth;
mod revocations;
mod sessions;
mod sso;
mod throttle;
mod users;
