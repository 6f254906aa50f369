//! The event stream's log: events written in the transaction of the change
//! they describe, numbered by `seq`, read back for replay and purged after
//! the retention time.

use super::sql::db::{Lock, Tx};
use super::sql::statement::sql;
use super::{SqlStore, StoreError, StoreResult};
use crate::events::NewEvent;
use async_trait::async_trait;
use tessera_token::clock::Millis;
use tessera_token::events::Event;

/// The event log.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stream events after `after`, oldest first, at most `limit`.
    async fn events_after(&self, after: i64, limit: u32) -> StoreResult<Vec<Event>>;
    /// The oldest and newest `seq` still kept.
    async fn event_bounds(&self) -> StoreResult<(Option<i64>, Option<i64>)>;
    /// Deletes events older than `before` (never the newest); returns how many.
    async fn purge_events(&self, before: Millis) -> StoreResult<u64>;
}

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    at: i64,
    #[sqlx(rename = "type")]
    kind: String,
    sub: Option<String>,
    admin_only: bool,
    payload: String,
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;

    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(Event {
            seq: r.seq,
            at: r.at,
            kind: r.kind,
            sub: r.sub,
            admin_only: r.admin_only,
            payload: serde_json::from_str(&r.payload)
                .map_err(|_| StoreError::Corrupt("events.payload".into()))?,
        })
    }
}

/// Writes `event` in `tx`. Event-writing transactions take turns, so they
/// commit in `seq` order, and every replica is told its `seq` once `tx`
/// commits.
pub(crate) async fn insert_event(tx: &mut Tx, at: Millis, event: &NewEvent) -> StoreResult<()> {
    tx.lock(Lock::Events).await?;
    let (seq,): (i64,) = tx
        .fetch_one(
            sql("INSERT INTO events (at, type, sub, admin_only, payload) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING seq")
            .bind(at)
            .bind(event.kind)
            .bind(&event.sub)
            .bind(event.admin_only())
            .bind(event.payload.to_string()),
        )
        .await?;
    tx.wrote_event(seq);
    Ok(())
}

#[async_trait]
impl EventStore for SqlStore {
    async fn events_after(&self, after: i64, limit: u32) -> StoreResult<Vec<Event>> {
        let rows: Vec<EventRow> = self
            .db
            .fetch_all(
                sql(
                    "SELECT seq, at, type, sub, admin_only, payload FROM events \
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(after)
                .bind(limit),
            )
            .await?;
        rows.into_iter().map(Event::try_from).collect()
    }

    async fn event_bounds(&self) -> StoreResult<(Option<i64>, Option<i64>)> {
        self.db
            .fetch_one(sql("SELECT MIN(seq), MAX(seq) FROM events"))
            .await
    }

    async fn purge_events(&self, before: Millis) -> StoreResult<u64> {
        // The newest event always stays, so `seq` keeps counting up on
        // SQLite (AUTOINCREMENT) and replay knows where it stands.
        self.db
            .execute(
                sql("DELETE FROM events WHERE at < $1 AND seq < (SELECT MAX(seq) FROM events)")
                    .bind(before),
            )
            .await
    }
}
