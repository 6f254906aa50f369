//! Signing keys: one per generation, newest first, with the audit of their
//! insertion.

use crate::support::{MINUTE, NOW, audit_entry, audit_log};
use std::sync::Arc;
use tessera_core::store::{Store, StoredKey};
use tessera_token::keys::KeyPurpose;

conformance!(
    signing_keys_are_unique_per_generation_and_ordered_newest_first,
    insert_signing_key_records_audit_only_when_it_takes_the_generation,
);

// ------------------------------------------------------------ signing keys

async fn signing_keys_are_unique_per_generation_and_ordered_newest_first(store: Arc<dyn Store>) {
    let key = |kid: &str, generation: i64, encrypted: bool| StoredKey {
        kid: kid.into(),
        purpose: KeyPurpose::Access,
        generation,
        alg: "ES256".into(),
        private_der: vec![0x30, 0x81, generation as u8, 0x00, 0xff],
        encrypted,
        created_at: NOW + generation,
        activates_at: NOW + generation * MINUTE,
    };
    assert!(
        store
            .insert_signing_key(&key("kid-2", 2, false), &[])
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_signing_key(&key("kid-1", 1, true), &[])
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_signing_key(&key("kid-3", 3, false), &[])
            .await
            .unwrap()
    );
    // Another process took generation 3 first.
    assert!(
        !store
            .insert_signing_key(&key("kid-3b", 3, false), &[])
            .await
            .unwrap()
    );
    // The same key twice.
    assert!(
        !store
            .insert_signing_key(&key("kid-1", 4, false), &[])
            .await
            .unwrap()
    );

    let keys = store.signing_keys().await.unwrap();
    let summary: Vec<(String, i64)> = keys.iter().map(|k| (k.kid.clone(), k.generation)).collect();
    assert_eq!(
        summary,
        vec![
            ("kid-3".into(), 3),
            ("kid-2".into(), 2),
            ("kid-1".into(), 1)
        ]
    );
    let k1 = &keys[2];
    let want = key("kid-1", 1, true);
    assert_eq!(k1.alg, "ES256");
    assert_eq!(k1.private_der, want.private_der);
    assert!(k1.encrypted);
    assert!(!keys[0].encrypted);
    assert_eq!(
        (k1.created_at, k1.activates_at),
        (want.created_at, want.activates_at)
    );

    // Concurrent inserts of the same generation: exactly one wins.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let store = store.clone();
        let k = key(&format!("race-{i}"), 5, false);
        tasks.spawn(async move { store.insert_signing_key(&k, &[]).await });
    }
    let mut won = 0;
    while let Some(r) = tasks.join_next().await {
        if r.expect("task").expect("insert") {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.signing_keys().await.unwrap()[0].generation, 5);
}

// ------------------------------------------- audit in the same transaction

async fn insert_signing_key_records_audit_only_when_it_takes_the_generation(store: Arc<dyn Store>) {
    let key = |kid: &str, generation: i64| StoredKey {
        kid: kid.into(),
        purpose: KeyPurpose::Access,
        generation,
        alg: "ES256".into(),
        private_der: vec![0x30, 0x81, generation as u8],
        encrypted: false,
        created_at: NOW,
        activates_at: NOW,
    };
    let rotated = |kid: &str| {
        let mut e = audit_entry("keys.rotated", None, None);
        e.detail = Some(format!(r#"{{"kid":"{kid}"}}"#));
        e
    };

    assert!(
        store
            .insert_signing_key(&key("kid-1", 1), &[rotated("kid-1")])
            .await
            .unwrap()
    );
    assert_eq!(audit_log(&store).await, vec![rotated("kid-1")]);
    // Another process took generation 1 first; the same kid again.
    assert!(
        !store
            .insert_signing_key(&key("kid-1b", 1), &[rotated("kid-1b")])
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_signing_key(&key("kid-1", 2), &[rotated("kid-1")])
            .await
            .unwrap()
    );
    assert_eq!(audit_log(&store).await, vec![rotated("kid-1")]);
    assert_eq!(store.signing_keys().await.unwrap().len(), 1);

    // Concurrent inserts of one generation: one key, one entry.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let store = store.clone();
        let kid = format!("race-{i}");
        let (k, e) = (key(&kid, 2), rotated(&kid));
        tasks.spawn(async move { store.insert_signing_key(&k, &[e]).await });
    }
    let mut won = 0;
    while let Some(r) = tasks.join_next().await {
        if r.expect("task").expect("insert") {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    let winner = store.signing_keys().await.unwrap()[0].kid.clone();
    assert_eq!(
        audit_log(&store).await,
        vec![rotated(&winner), rotated("kid-1")]
    );
}
