//! Throttle state: failure counts and blocks per username and address, and
//! fixed-window rate counts, shared by every replica on one database and
//! kept across restarts. Each change is one atomic statement.

use super::audit::append_audit;
use super::records::AuditEntry;
use super::sql::statement::sql;
use super::{SqlStore, StoreResult};
use async_trait::async_trait;
use tessera_token::clock::Millis;

/// Throttle counts and blocks.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// The latest `blocked_until` of `keys` if it is after `now`.
    async fn throttle_blocked_until(
        &self,
        keys: [&str; 2],
        now: Millis,
    ) -> StoreResult<Option<Millis>>;
    /// Counts an attempt for `key`, starting a new count when the previous
    /// one was before `window_start`; records `audit`; returns the count.
    async fn throttle_failure(
        &self,
        key: &str,
        now: Millis,
        window_start: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<i64>;
    /// Blocks `key` until `until`.
    async fn throttle_block(&self, key: &str, until: Millis) -> StoreResult<()>;
    /// Forgets `key`'s failures.
    async fn throttle_clear(&self, key: &str) -> StoreResult<()>;
    /// Counts one event against a fixed window of `window_ms`; returns the
    /// count in the window and when the window ends.
    async fn rate_limit_hit(
        &self,
        key: &str,
        now: Millis,
        window_ms: Millis,
    ) -> StoreResult<(i64, Millis)>;
}

#[async_trait]
impl ThrottleStore for SqlStore {
    async fn throttle_blocked_until(
        &self,
        keys: [&str; 2],
        now: Millis,
    ) -> StoreResult<Option<Millis>> {
        let (until,): (Option<i64>,) = self
            .db
            .fetch_one(
                sql("SELECT MAX(blocked_until) FROM throttle WHERE key IN ($1, $2)")
                    .bind(keys[0])
                    .bind(keys[1]),
            )
            .await?;
        Ok(until.filter(|u| *u > now))
    }

    async fn throttle_failure(
        &self,
        key: &str,
        now: Millis,
        window_start: Millis,
        audit: &[AuditEntry],
    ) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let (hits,): (i64,) = tx
            .fetch_one(
                sql("INSERT INTO throttle (key, hits, blocked_until, updated_at) VALUES ($1, 1, 0, $2) \
                     ON CONFLICT (key) DO UPDATE SET \
                       hits = CASE WHEN throttle.updated_at < $3 THEN 1 ELSE throttle.hits + 1 END, \
                       updated_at = $2 \
                     RETURNING hits")
                .bind(key)
                .bind(now)
                .bind(window_start),
            )
            .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(hits)
    }

    async fn throttle_block(&self, key: &str, until: Millis) -> StoreResult<()> {
        // Never shortens a longer wait another replica set meanwhile.
        self.db
            .execute(
                sql("UPDATE throttle SET blocked_until = \
                       CASE WHEN $2 > blocked_until THEN $2 ELSE blocked_until END \
                     WHERE key = $1")
                .bind(key)
                .bind(until),
            )
            .await?;
        Ok(())
    }

    async fn throttle_clear(&self, key: &str) -> StoreResult<()> {
        self.db
            .execute(sql("DELETE FROM throttle WHERE key = $1").bind(key))
            .await?;
        Ok(())
    }

    async fn rate_limit_hit(
        &self,
        key: &str,
        now: Millis,
        window_ms: Millis,
    ) -> StoreResult<(i64, Millis)> {
        let end = now.saturating_add(window_ms);
        self.db
            .write_returning(
                sql("INSERT INTO throttle (key, hits, blocked_until, updated_at) VALUES ($1, 1, $3, $2) \
                     ON CONFLICT (key) DO UPDATE SET \
                       hits = CASE WHEN throttle.blocked_until <= $2 THEN 1 ELSE throttle.hits + 1 END, \
                       blocked_until = CASE WHEN throttle.blocked_until <= $2 \
                                            THEN $3 ELSE throttle.blocked_until END, \
                       updated_at = $2 \
                     RETURNING hits, blocked_until")
                .bind(key)
                .bind(now)
                .bind(end),
            )
            .await
    }
}
