//! The event hub: new events are read from the store (woken by this
//! process's own writes, by PostgreSQL notifications from other replicas, or
//! by a periodic poll), applied to this process's revocation set and keys,
//! and broadcast to live subscribers.
//!
//! Revocations usually arrive before their events: each committed write
//! announces its revocations and event `seq`s ([`Committed`]), to this
//! process at once and to other replicas in its notification, and
//! [`take_in`] applies them. An event is broadcast only once its
//! revocations are in force here; for one whose announcement was missed,
//! the hub re-reads every revocation from the store first.

use super::{Context, Tessera};
use crate::error::Result;
use crate::store::Committed;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use tessera_token::events::Event;
use tessera_token::revocation::RevocationSet;
use tokio::sync::{Mutex, Notify, broadcast};

/// How many events a subscriber may fall behind before it is disconnected.
pub const SUBSCRIBER_QUEUE: usize = 4096;
/// Events read from the store per query.
const BATCH: u32 = 500;

/// Fan-out of committed events to this process's subscribers.
#[derive(Debug)]
pub struct EventHub {
    sender: broadcast::Sender<Arc<Event>>,
    /// The newest `seq` broadcast.
    last_seq: AtomicI64,
    /// `seq`s after `last_seq` whose revocations were announced and applied.
    applied: std::sync::Mutex<BTreeSet<i64>>,
    /// Set when an announcement could not be read whole: the next poll
    /// re-reads every revocation.
    reload: AtomicBool,
    /// Serialises polls, so events go out once and in order.
    polling: Mutex<()>,
    /// Wakes the poller.
    wake: Notify,
}

impl Default for EventHub {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(SUBSCRIBER_QUEUE).0,
            last_seq: AtomicI64::new(0),
            applied: std::sync::Mutex::default(),
            reload: AtomicBool::new(false),
            polling: Mutex::new(()),
            wake: Notify::new(),
        }
    }
}

impl EventHub {
    /// Asks the poller to look for new events now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when someone asked for a poll.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// The newest `seq` broadcast so far.
    pub fn last_seq(&self) -> i64 {
        self.last_seq.load(Ordering::SeqCst)
    }

    fn applied(&self) -> std::sync::MutexGuard<'_, BTreeSet<i64>> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that the revocations of events `seqs` are in force.
    fn mark_applied(&self, seqs: &[i64]) {
        let last = self.last_seq();
        self.applied()
            .extend(seqs.iter().copied().filter(|&seq| seq > last));
    }

    /// Whether the revocations of every event in `seqs` are in force.
    fn all_applied(&self, seqs: &[i64]) -> bool {
        let applied = self.applied();
        seqs.iter().all(|seq| applied.contains(seq))
    }

    /// Forgets the marks of events broadcast already.
    fn forget_applied(&self) {
        let last = self.last_seq();
        let mut applied = self.applied();
        *applied = applied.split_off(&(last + 1));
    }
}

/// Puts into force what a committed transaction announced (here or on
/// another replica): its revocations, then the mark that its events'
/// revocations are applied; then wakes the hub to broadcast the events.
pub(super) fn take_in(revocations: &RevocationSet, hub: &EventHub, committed: &Committed) {
    revocations.apply_all(&committed.revocations);
    if committed.incomplete {
        hub.reload.store(true, Ordering::SeqCst);
    }
    hub.mark_applied(&committed.seqs);
    hub.wake();
}

/// Whether an event of this type stands for a revocation.
fn revokes(kind: &str) -> bool {
    matches!(
        kind,
        "session.revoked" | "token.revoked" | "roles.changed" | "user.deleted" | "user.updated"
    )
}

/// The event stream: the hub, live subscriptions and the stored history.
#[derive(Debug, Clone, Copy)]
pub struct Events<'a> {
    pub(super) tessera: &'a Tessera,
}

impl std::ops::Deref for Events<'_> {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.tessera.ctx
    }
}

impl Events<'_> {
    /// A live feed of events committed from now on (all of them; filter with
    /// [`Event::visible_to`]).
    pub fn subscribe_events(&self) -> broadcast::Receiver<Arc<Event>> {
        self.hub.sender.subscribe()
    }

    /// Events after `after` from the store, for replay.
    pub async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>> {
        Ok(self.store.events_after(after, limit).await?)
    }

    /// The oldest and newest `seq` kept.
    pub async fn event_bounds(&self) -> Result<(Option<i64>, Option<i64>)> {
        Ok(self.store.event_bounds().await?)
    }

    /// Starts broadcasting after the newest stored event (history is for
    /// replay). Start-up calls it *before* it loads keys and revocations:
    /// whatever another replica commits after this read is then an event
    /// the hub's first poll applies, and whatever it committed before is in
    /// what is loaded next. Read after the loads, a revocation committed in
    /// between would be in neither.
    pub(super) async fn start_hub(&self) -> Result<()> {
        let (_, newest) = self.store.event_bounds().await?;
        self.hub
            .last_seq
            .store(newest.unwrap_or(0), Ordering::SeqCst);
        Ok(())
    }

    /// Reads committed events not yet seen, brings this process's
    /// revocations (unless announced already) and keys up to date with
    /// them, then broadcasts them. Returns how many were read.
    pub async fn poll_events(&self) -> Result<usize> {
        let _guard = self.hub.polling.lock().await;
        let mut total = 0;
        loop {
            let after = self.hub.last_seq();
            let batch = self.store.events_after(after, BATCH).await?;
            if batch.is_empty() {
                return Ok(total);
            }
            let revoking: Vec<i64> = batch
                .iter()
                .filter(|e| revokes(&e.kind))
                .map(|e| e.seq)
                .collect();
            // In this order: `take_in` raises the flag before it marks.
            let announced = self.hub.all_applied(&revoking);
            let unread = self.hub.reload.swap(false, Ordering::SeqCst);
            if unread || !announced {
                // An announcement was missed (the listener was
                // reconnecting, or another process wrote to SQLite) or held
                // a revocation this build cannot read: what the store holds
                // now includes these events' revocations.
                self.reload_revocations().await?;
            }
            if batch.iter().any(|e| e.kind == "key.rotated") {
                self.tessera.keys().reload_keys().await?;
            }
            total += batch.len();
            let full = batch.len() == BATCH as usize;
            for event in batch {
                self.hub.last_seq.store(event.seq, Ordering::SeqCst);
                // No subscribers is not an error.
                let _ = self.hub.sender.send(Arc::new(event));
            }
            self.hub.forget_applied();
            if !full {
                return Ok(total);
            }
        }
    }
}
