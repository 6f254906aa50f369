//! The event stream: written with audit entries, purged but never emptied.

use crate::support::{NOW, audit_entry};
use std::sync::Arc;
use tessera_core::events::NewEvent;
use tessera_core::store::{AuditEntry, Store};

conformance!(events_are_written_with_revocations_and_purged_but_the_newest_kept);

async fn events_are_written_with_revocations_and_purged_but_the_newest_kept(store: Arc<dyn Store>) {
    // An audit entry's stream event is written with it, in its transaction.
    let first = AuditEntry {
        at: NOW - 10_000,
        stream_event: Some(NewEvent {
            kind: "login.succeeded",
            sub: Some("u1".into()),
            payload: serde_json::json!({"sub": "u1", "username": "alice"}),
        }),
        ..audit_entry("login.succeeded", Some("u1"), Some("alice"))
    };
    let second = AuditEntry {
        at: NOW,
        stream_event: Some(NewEvent {
            kind: "key.rotated",
            sub: None,
            payload: serde_json::json!({"kid": "kid-1"}),
        }),
        ..audit_entry("key.rotated", None, Some("kid-1"))
    };
    // An entry without one writes none.
    store
        .append_audit(&audit_entry("register", Some("u2"), Some("bob")))
        .await
        .unwrap();
    store.append_audit(&first).await.unwrap();
    store.append_audit(&second).await.unwrap();
    let events = store.events_after(0, 10).await.unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.admin_only))
        .collect();
    assert_eq!(
        kinds,
        vec![("login.succeeded", true), ("key.rotated", false)]
    );
    assert!(events[0].seq < events[1].seq);
    assert_eq!(events[0].payload["username"], "alice");
    // Purging everything still keeps the newest, so `seq` keeps counting up.
    assert_eq!(store.purge_events(i64::MAX).await.unwrap(), 1);
    let (oldest, newest) = store.event_bounds().await.unwrap();
    assert_eq!((oldest, newest), (Some(events[1].seq), Some(events[1].seq)));
}
