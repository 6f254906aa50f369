//! What a committed write tells every replica at once: the `seq` of each
//! event it wrote and the revocations it made ([`Committed`]).
//!
//! This process hears it from the transaction itself, right after the
//! commit ([`Store::on_commit`](super::Store::on_commit)). Other replicas on
//! PostgreSQL hear it from the `NOTIFY tessera_events` payloads the
//! transaction sends just before committing, which PostgreSQL delivers with
//! the commit ([`listen`]). A replica therefore refuses a token revoked
//! elsewhere without reading the database, even when the database stops
//! right after the commit, and needs to re-read its revocations only when a
//! notification was missed (while its listener was reconnecting, or for a
//! write of another process on SQLite).
//!
//! Notification channels are per database, not per schema: each payload
//! names the schema of the deployment that sent it, and a listener ignores
//! the content of another deployment's (it still wakes the hub, which finds
//! nothing new).

use super::{Revocation, RevocationKind};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The PostgreSQL notification channel.
const CHANNEL: &str = "tessera_events";
/// How much of PostgreSQL's 8,000-byte payload limit one notification uses.
const PAYLOAD_BUDGET: usize = 7_000;

/// What one committed transaction announces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    /// The `seq` of each event it wrote: every revocation those events
    /// stand for is in [`Committed::revocations`] (or in an earlier
    /// notification of the same transaction).
    pub seqs: Vec<i64>,
    /// The revocations it recorded.
    pub revocations: Vec<Revocation>,
    /// Set when a notification held a revocation this build cannot read:
    /// the hearer must re-read every revocation from the store.
    pub incomplete: bool,
}

/// One notification's payload: `{"d": schema, "r": [[kind, subject,
/// not_before, expires_at], …], "s": [seq, …]}`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Payload {
    #[serde(default)]
    d: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    r: Vec<(String, String, i64, i64)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    s: Vec<i64>,
}

impl Committed {
    /// Whether there is nothing to announce.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty() && self.revocations.is_empty() && !self.incomplete
    }

    /// The notification payloads that carry it, in the order to send them:
    /// the revocations first, spread over as many payloads as they need,
    /// then the `seq`s, so that a `seq` arrives only after every revocation
    /// of its transaction (PostgreSQL delivers one transaction's
    /// notifications in the order they were sent).
    /// `scope` names the deployment (its PostgreSQL schema).
    pub(crate) fn payloads(&self, scope: &str) -> Vec<String> {
        let mut payloads = Vec::new();
        let fresh = || Payload {
            d: scope.to_owned(),
            ..Payload::default()
        };
        let mut current = fresh();
        let mut size = scope.len() * 2;
        let mut flush = |current: &mut Payload, size: &mut usize| {
            if !current.r.is_empty() || !current.s.is_empty() {
                let full = std::mem::replace(current, fresh());
                // Plain strings and numbers always serialise.
                payloads.push(serde_json::to_string(&full).unwrap_or_default());
            }
            *size = scope.len() * 2;
        };
        for r in &self.revocations {
            // The subject as JSON (escapes included), two numbers and the
            // punctuation around them.
            let cost = r.subject.len() * 2 + 60;
            if size + cost > PAYLOAD_BUDGET {
                flush(&mut current, &mut size);
            }
            size += cost;
            current.r.push((
                r.kind.as_str().to_owned(),
                r.subject.clone(),
                r.not_before,
                r.expires_at,
            ));
        }
        for &seq in &self.seqs {
            if size + 21 > PAYLOAD_BUDGET {
                flush(&mut current, &mut size);
            }
            size += 21;
            current.s.push(seq);
        }
        flush(&mut current, &mut size);
        payloads
    }

    /// Reads one payload heard by the deployment `scope`. An empty or
    /// unreadable one (an older build's plain wake-up), or another
    /// deployment's, announces nothing; the reader then learns from the
    /// database, as it would have.
    pub fn parse(payload: &str, scope: &str) -> Committed {
        let Ok(p) = serde_json::from_str::<Payload>(payload) else {
            return Committed::default();
        };
        if p.d != scope {
            return Committed::default();
        }
        let mut heard = Committed {
            seqs: p.s,
            ..Committed::default()
        };
        for (kind, subject, not_before, expires_at) in p.r {
            match RevocationKind::parse(&kind) {
                Some(kind) => heard.revocations.push(Revocation {
                    kind,
                    subject,
                    not_before,
                    expires_at,
                }),
                // A kind of a newer build: apply the others, and have the
                // whole set re-read from the store.
                None => heard.incomplete = true,
            }
        }
        heard
    }
}

/// Called with what each transaction of this process announces, once it
/// has committed.
pub type CommitHook = Box<dyn Fn(&Committed) + Send + Sync>;

/// Where the store keeps the [`CommitHook`], once set.
#[derive(Default)]
pub(crate) struct Hook(OnceLock<CommitHook>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Hook")
            .field(&self.0.get().is_some())
            .finish()
    }
}

impl Hook {
    /// Sets the hook; a second one is ignored.
    pub(crate) fn set(&self, hook: CommitHook) {
        let _ = self.0.set(hook);
    }

    /// Tells the hook, if any, about `committed`.
    pub(crate) fn announce(&self, committed: &Committed) {
        if let Some(hook) = self.0.get() {
            hook(committed);
        }
    }
}

/// Sends `committed` to every replica's listener, to be delivered when
/// `tx` commits.
pub(crate) async fn notify(
    tx: &mut sqlx::PgConnection,
    committed: &Committed,
    scope: &str,
) -> Result<(), sqlx::Error> {
    for payload in committed.payloads(scope) {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// The schema a connection works in: what names a deployment among those
/// sharing one database.
pub(crate) async fn scope_of<'c, E>(connection: E) -> Result<String, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    sqlx::query_scalar("SELECT COALESCE(current_schema(), '')")
        .fetch_one(connection)
        .await
}

/// Calls `heard` with what every transaction of this deployment that
/// committed in any process on the PostgreSQL database at `url` announces
/// (`LISTEN tessera_events`), and with an empty [`Committed`] after each
/// (re)connection, so that what was sent while disconnected is read from
/// the database. Reconnects with a pause after failures; never returns.
/// Does nothing for SQLite, whose single process hears its own commits.
pub async fn listen(url: String, heard: impl Fn(Committed) + Send) {
    if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
        return;
    }
    loop {
        if let Err(e) = listen_once(&url, &heard).await {
            tracing::warn!(error = %e, "event notifications interrupted");
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// One connection's worth of [`listen`]: returns when it fails.
async fn listen_once(url: &str, heard: &impl Fn(Committed)) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    let scope = scope_of(&mut listener).await?;
    listener.listen(CHANNEL).await?;
    heard(Committed::default());
    loop {
        match listener.try_recv().await? {
            Some(n) => heard(Committed::parse(n.payload(), &scope)),
            // The connection was lost: the next call reconnects, and what
            // was announced meanwhile is read from the database.
            None => heard(Committed::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(n: usize) -> Revocation {
        Revocation::session(uuid::Uuid::from_u128(n as u128), 1_000 + n as i64)
    }

    #[test]
    fn a_payload_reads_back_as_what_was_announced() {
        let committed = Committed {
            seqs: vec![7, 8],
            revocations: vec![
                session(1),
                Revocation {
                    kind: RevocationKind::User,
                    subject: "9d3c\"odd\\".into(),
                    not_before: 5,
                    expires_at: 6,
                },
            ],
            incomplete: false,
        };
        let payloads = committed.payloads("public");
        assert_eq!(payloads.len(), 1);
        assert_eq!(Committed::parse(&payloads[0], "public"), committed);
        // Another deployment on the same database hears nothing of it.
        assert!(Committed::parse(&payloads[0], "t_other").is_empty());
    }

    #[test]
    fn many_revocations_spread_over_payloads_within_the_limit_with_the_seqs_last() {
        let committed = Committed {
            seqs: (1..=3).collect(),
            revocations: (0..500).map(session).collect(),
            incomplete: false,
        };
        let payloads = committed.payloads("public");
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() < 8_000));
        let heard: Vec<Committed> = payloads
            .iter()
            .map(|p| Committed::parse(p, "public"))
            .collect();
        let (last, earlier) = heard.split_last().unwrap_or_else(|| unreachable!());
        assert!(earlier.iter().all(|c| c.seqs.is_empty()));
        assert_eq!(last.seqs, vec![1, 2, 3]);
        let revocations: Vec<Revocation> = heard.into_iter().flat_map(|c| c.revocations).collect();
        assert_eq!(revocations, committed.revocations);
    }

    #[test]
    fn an_older_builds_empty_payload_announces_nothing() {
        assert!(Committed::parse("", "public").is_empty());
        assert!(Committed::default().payloads("public").is_empty());
    }

    #[test]
    fn an_unknown_kind_is_skipped_and_asks_for_a_reload() {
        let heard = Committed::parse(
            "{\"d\":\"public\",\"r\":[[\"group\",\"x\",0,1],[\"token\",\"j\",0,9]],\"s\":[4]}",
            "public",
        );
        assert!(heard.incomplete);
        assert_eq!(heard.seqs, vec![4]);
        assert_eq!(heard.revocations.len(), 1);
        assert_eq!(heard.revocations[0].subject, "j");
    }
}
