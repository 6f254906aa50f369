//! The audit log: every auth event, appended in the transaction of the change
//! it records, read back by admins.

use super::events::insert_event;
use super::records::{AuditEntry, AuditQuery};
use super::sql::db::Tx;
use super::sql::statement::sql;
use super::{SqlStore, StoreResult};
use async_trait::async_trait;
use tessera_token::clock::Millis;

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends to the audit log (with the entry's stream event).
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    /// Reads the audit log, newest first.
    async fn audit_entries(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;
    /// How many entries of `event` there are per `bucket` milliseconds from
    /// `since`: (bucket number from 0, count), the empty buckets left out.
    async fn audit_counts(
        &self,
        event: &str,
        since: Millis,
        bucket: Millis,
    ) -> StoreResult<Vec<(i64, i64)>>;
    /// Deletes audit entries older than `before`; returns how many.
    async fn purge_audit(&self, before: Millis) -> StoreResult<u64>;
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    event: String,
    actor: Option<String>,
    subject: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    outcome: String,
    detail: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            event: r.event,
            actor: r.actor,
            subject: r.subject,
            ip: r.ip,
            user_agent: r.user_agent,
            outcome: r.outcome,
            detail: r.detail,
            stream_event: None,
        }
    }
}

/// Appends `entries` to the audit log in `tx`, each with its stream event.
pub(crate) async fn append_audit(tx: &mut Tx, entries: &[AuditEntry]) -> StoreResult<()> {
    for e in entries {
        tx.execute(
            sql("INSERT INTO audit_log (at, event, actor, subject, ip, user_agent, outcome, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(e.at)
            .bind(&e.event)
            .bind(&e.actor)
            .bind(&e.subject)
            .bind(&e.ip)
            .bind(&e.user_agent)
            .bind(&e.outcome)
            .bind(&e.detail),
        )
        .await?;
        if let Some(event) = &e.stream_event {
            insert_event(tx, e.at, event).await?;
        }
    }
    Ok(())
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        append_audit(&mut tx, std::slice::from_ref(entry)).await?;
        tx.commit().await
    }

    async fn audit_counts(
        &self,
        event: &str,
        since: Millis,
        bucket: Millis,
    ) -> StoreResult<Vec<(i64, i64)>> {
        self.db
            .fetch_all(
                sql(
                    "SELECT (at - $2) / $3 AS bucket, COUNT(*) AS n FROM audit_log \
                     WHERE at >= $2 AND event = $1 GROUP BY 1 ORDER BY 1",
                )
                .bind(event)
                .bind(since)
                .bind(bucket),
            )
            .await
    }

    async fn audit_entries(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = self
            .db
            .fetch_all(
                sql("SELECT id, at, event, actor, subject, ip, user_agent, outcome, detail \
                     FROM audit_log \
                     WHERE ($1 IS NULL OR actor = $1 OR subject = $1) AND ($2 IS NULL OR event = $2) \
                       AND at >= $3 AND at < $4 AND id < $5 \
                       AND ($7 IS NULL OR actor = $7) AND ($8 IS NULL OR subject = $8) \
                     ORDER BY id DESC LIMIT $6")
                .bind(&q.user)
                .bind(&q.event)
                .bind(q.since.unwrap_or(i64::MIN))
                .bind(q.until.unwrap_or(i64::MAX))
                .bind(q.before_id.unwrap_or(i64::MAX))
                .bind(q.limit)
                .bind(&q.actor)
                .bind(&q.subject),
            )
            .await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    async fn purge_audit(&self, before: Millis) -> StoreResult<u64> {
        self.db
            .execute(sql("DELETE FROM audit_log WHERE at < $1").bind(before))
            .await
    }
}
