//! The audit log: appending, filtering and retention.

use crate::support::{NOW, audit_entry, audit_log};
use std::sync::Arc;
use tessera_core::store::{AuditEntry, AuditQuery, Store};
use tessera_token::clock::Millis;

conformance!(
    audit_entries_are_appended_and_filtered,
    audit_retention_forgets_only_older_entries,
);

async fn audit_entries_are_appended_and_filtered(store: Arc<dyn Store>) {
    let entry = |at: Millis, event: &str, actor: Option<&str>, subject: Option<&str>| AuditEntry {
        id: 0,
        at,
        event: event.into(),
        actor: actor.map(Into::into),
        subject: subject.map(Into::into),
        ip: Some("198.51.100.4".into()),
        user_agent: Some("curl/8".into()),
        outcome: if event.ends_with("failed") {
            "failure"
        } else {
            "success"
        }
        .into(),
        detail: Some(r#"{"reason":"test"}"#.into()),
        stream_event: None,
    };
    let entries = [
        entry(1000, "login.succeeded", Some("u1"), Some("u1")),
        entry(2000, "login.failed", None, Some("alice")),
        entry(3000, "user.deleted", Some("admin"), Some("u1")),
        entry(4000, "login.succeeded", Some("u2"), Some("u2")),
        entry(5000, "login.failed", None, Some("u2")),
    ];
    for e in &entries {
        store.append_audit(e).await.unwrap();
    }
    let mut bare = entry(6000, "keys.rotated", None, None);
    bare.ip = None;
    bare.user_agent = None;
    bare.detail = None;
    store.append_audit(&bare).await.unwrap();

    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut query = AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        };
        f(&mut query);
        query
    };
    let ats = |v: &[AuditEntry]| v.iter().map(|e| e.at).collect::<Vec<_>>();

    let all = store.audit_entries(&q(&|_| {})).await.unwrap();
    assert_eq!(
        ats(&all),
        vec![6000, 5000, 4000, 3000, 2000, 1000],
        "newest first"
    );
    assert!(
        all.windows(2).all(|w| w[0].id > w[1].id),
        "ids increase with appends"
    );
    // Every field round-trips; the id is the store's.
    let first = all.last().unwrap();
    assert_eq!(
        AuditEntry {
            id: 0,
            ..first.clone()
        },
        entries[0]
    );
    assert_eq!(
        AuditEntry {
            id: 0,
            ..all[0].clone()
        },
        bare
    );

    let by_user = store
        .audit_entries(&q(&|q| q.user = Some("u1".into())))
        .await
        .unwrap();
    assert_eq!(ats(&by_user), vec![3000, 1000], "actor or subject");
    let by_admin = store
        .audit_entries(&q(&|q| q.user = Some("admin".into())))
        .await
        .unwrap();
    assert_eq!(ats(&by_admin), vec![3000]);
    let acted = store
        .audit_entries(&q(&|q| q.actor = Some("u1".into())))
        .await
        .unwrap();
    assert_eq!(ats(&acted), vec![1000], "actor only");
    let about = store
        .audit_entries(&q(&|q| q.subject = Some("u1".into())))
        .await
        .unwrap();
    assert_eq!(ats(&about), vec![3000, 1000], "subject only");
    let by_event = store
        .audit_entries(&q(&|q| q.event = Some("login.failed".into())))
        .await
        .unwrap();
    assert_eq!(ats(&by_event), vec![5000, 2000]);
    let both = store
        .audit_entries(&q(&|q| {
            q.user = Some("u2".into());
            q.event = Some("login.failed".into());
        }))
        .await
        .unwrap();
    assert_eq!(ats(&both), vec![5000]);
    let window = store
        .audit_entries(&q(&|q| {
            q.since = Some(2000);
            q.until = Some(4000);
        }))
        .await
        .unwrap();
    assert_eq!(
        ats(&window),
        vec![3000, 2000],
        "since inclusive, until exclusive"
    );
    let cursor = all[2].id; // the 4000 entry
    let page = store
        .audit_entries(&q(&|q| q.before_id = Some(cursor)))
        .await
        .unwrap();
    assert_eq!(ats(&page), vec![3000, 2000, 1000]);
    let limited = store.audit_entries(&q(&|q| q.limit = 2)).await.unwrap();
    assert_eq!(ats(&limited), vec![6000, 5000]);
    let next = store
        .audit_entries(&q(&|q| {
            q.limit = 2;
            q.before_id = Some(limited[1].id);
        }))
        .await
        .unwrap();
    assert_eq!(ats(&next), vec![4000, 3000]);
    assert!(
        store
            .audit_entries(&q(&|q| q.user = Some("nobody".into())))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .audit_entries(&q(&|q| q.user = Some("' OR 1=1 --".into())))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn audit_retention_forgets_only_older_entries(store: Arc<dyn Store>) {
    let old = AuditEntry {
        at: NOW - 10_000,
        ..audit_entry("login.succeeded", Some("u1"), Some("old"))
    };
    let new = AuditEntry {
        at: NOW,
        ..audit_entry("login.succeeded", Some("u1"), Some("new"))
    };
    store.append_audit(&old).await.unwrap();
    store.append_audit(&new).await.unwrap();
    assert_eq!(store.purge_audit(NOW - 5_000).await.unwrap(), 1);
    let left: Vec<_> = audit_log(&store)
        .await
        .into_iter()
        .map(|e| e.subject)
        .collect();
    assert_eq!(left, vec![Some("new".to_owned())]);
}
