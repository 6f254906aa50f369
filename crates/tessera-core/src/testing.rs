//! Test support shared by the workspace's test suites: a fresh database per
//! test on either backend. Compiled only for tests (feature `testing`).

use tessera_token::crypto::{b64url, random_bytes};

/// The PostgreSQL server tests use (`TESSERA_TEST_POSTGRES_URL`, default the
/// local trust-auth server's `test` database).
pub fn postgres_admin_url() -> String {
    std::env::var("TESSERA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Whether PostgreSQL tests must run (`CI=true`) rather than be skipped when
/// no server answers.
pub fn postgres_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A URL naming a new, empty PostgreSQL schema of its own, or `None` when no
/// server answers and PostgreSQL is not required. Panics under `CI=true` if
/// PostgreSQL is unreachable, so the suite can never skip it silently there.
pub async fn fresh_postgres_url() -> Option<String> {
    use sqlx::Connection as _;
    let admin = postgres_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) if postgres_required() => {
            panic!("PostgreSQL is required under CI=true but unreachable at {admin}: {e}")
        }
        Err(e) => {
            eprintln!("skipping PostgreSQL test: {e}");
            return None;
        }
    };
    let schema = format!(
        "t_{}",
        b64url(random_bytes::<9>())
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create schema {schema}: {e}"));
    let sep = if admin.contains('?') { '&' } else { '?' };
    Some(format!("{admin}{sep}options=-c%20search_path%3D{schema}"))
}

/// A URL naming a new SQLite file in `dir`.
pub fn fresh_sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("tessera.db").display())
}
