//! Login throttling and rate limits, their exact counts under concurrency, and
//! the audit of a throttled failure.

use crate::support::{DAY, MINUTE, NOW, audit_entry, audit_log};
use std::sync::Arc;
use tessera_core::store::{AuditEntry, Store};
use tessera_token::clock::Millis;

conformance!(
    login_throttle_counts_failures_per_key_within_a_window_and_blocks,
    rate_limits_count_hits_in_fixed_windows,
    concurrent_throttle_and_rate_limit_counts_are_exact,
    throttle_failure_records_its_audit_entry_with_the_count,
);

// ------------------------------------------------ throttle and rate limits

async fn login_throttle_counts_failures_per_key_within_a_window_and_blocks(store: Arc<dyn Store>) {
    let (user, ip) = ("login:user:alice", "login:ip:192.0.2.1");
    let window = 15 * MINUTE;
    assert_eq!(
        store.throttle_blocked_until([user, ip], NOW).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .throttle_failure(user, NOW, NOW - window, &[])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .throttle_failure(user, NOW + 1, NOW + 1 - window, &[])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .throttle_failure(user, NOW + 2, NOW + 2 - window, &[])
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .throttle_failure(ip, NOW + 2, NOW + 2 - window, &[])
            .await
            .unwrap(),
        1,
        "keys are independent"
    );
    assert_eq!(
        store
            .throttle_blocked_until([user, ip], NOW + 2)
            .await
            .unwrap(),
        None,
        "counting blocks nothing"
    );

    // Blocks: the later of the two keys, and only while in the future.
    store.throttle_block(user, NOW + 5_000).await.unwrap();
    assert_eq!(
        store
            .throttle_blocked_until([user, ip], NOW + 3)
            .await
            .unwrap(),
        Some(NOW + 5_000)
    );
    assert_eq!(
        store
            .throttle_blocked_until([ip, user], NOW + 3)
            .await
            .unwrap(),
        Some(NOW + 5_000)
    );
    assert_eq!(
        store
            .throttle_blocked_until([ip, ip], NOW + 3)
            .await
            .unwrap(),
        None
    );
    store.throttle_block(ip, NOW + 9_000).await.unwrap();
    assert_eq!(
        store
            .throttle_blocked_until([user, ip], NOW + 3)
            .await
            .unwrap(),
        Some(NOW + 9_000)
    );
    assert_eq!(
        store
            .throttle_blocked_until([user, user], NOW + 5_000)
            .await
            .unwrap(),
        None,
        "until is exclusive"
    );
    // Blocking a key that never failed records nothing.
    store
        .throttle_block("login:user:ghost", NOW + DAY)
        .await
        .unwrap();
    assert_eq!(
        store
            .throttle_blocked_until(["login:user:ghost", "login:ip:ghost"], NOW)
            .await
            .unwrap(),
        None
    );

    // Failures older than the window are forgiven: the count starts again.
    let later = NOW + 2 + window + 1;
    assert_eq!(
        store
            .throttle_failure(user, later, later - window, &[])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .throttle_failure(user, later + 1, later + 1 - window, &[])
            .await
            .unwrap(),
        2
    );
    // A success clears the username's count (and its block).
    store.throttle_block(user, later + DAY).await.unwrap();
    store.throttle_clear(user).await.unwrap();
    assert_eq!(
        store
            .throttle_blocked_until([user, user], later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .throttle_failure(user, later + 2, later + 2 - window, &[])
            .await
            .unwrap(),
        1
    );
    store.throttle_clear("login:user:never-seen").await.unwrap();

    // Purging forgets entries idle since the cut-off whose block is over, and no others.
    store.throttle_block(user, later + DAY).await.unwrap();
    let purged = store.purge_expired(later + 3, later + 3).await.unwrap();
    assert_eq!(
        purged, 1,
        "the IP entry (idle, block over); the blocked username stays"
    );
    assert_eq!(
        store
            .throttle_blocked_until([user, ip], later + 3)
            .await
            .unwrap(),
        Some(later + DAY)
    );
    assert_eq!(
        store
            .throttle_failure(ip, later + 4, later + 4 - window, &[])
            .await
            .unwrap(),
        1
    );
}

async fn rate_limits_count_hits_in_fixed_windows(store: Arc<dyn Store>) {
    let key = "register:ip:198.51.100.9";
    assert_eq!(
        store.rate_limit_hit(key, NOW, MINUTE).await.unwrap(),
        (1, NOW + MINUTE)
    );
    assert_eq!(
        store.rate_limit_hit(key, NOW + 10, MINUTE).await.unwrap(),
        (2, NOW + MINUTE)
    );
    assert_eq!(
        store
            .rate_limit_hit(key, NOW + MINUTE - 1, MINUTE)
            .await
            .unwrap(),
        (3, NOW + MINUTE)
    );
    assert_eq!(
        store
            .rate_limit_hit("register:ip:other", NOW + 20, MINUTE)
            .await
            .unwrap(),
        (1, NOW + 20 + MINUTE),
        "keys are independent"
    );
    // The window ends (exclusive): a new one starts at the next hit.
    assert_eq!(
        store
            .rate_limit_hit(key, NOW + MINUTE, MINUTE)
            .await
            .unwrap(),
        (1, NOW + 2 * MINUTE)
    );
    assert_eq!(
        store
            .rate_limit_hit(key, NOW + MINUTE + 5, MINUTE)
            .await
            .unwrap(),
        (2, NOW + 2 * MINUTE)
    );
    assert_eq!(
        store
            .rate_limit_hit(key, NOW + 10 * MINUTE, MINUTE)
            .await
            .unwrap(),
        (1, NOW + 11 * MINUTE)
    );
}

async fn concurrent_throttle_and_rate_limit_counts_are_exact(store: Arc<dyn Store>) {
    let barrier = Arc::new(tokio::sync::Barrier::new(40));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            if i % 2 == 0 {
                let n = store
                    .throttle_failure("login:user:raced", NOW + i, NOW - DAY, &[])
                    .await
                    .expect("failure");
                (true, n)
            } else {
                let (n, _) = store
                    .rate_limit_hit("register:ip:raced", NOW + i, DAY)
                    .await
                    .expect("hit");
                (false, n)
            }
        });
    }
    let (mut failures, mut hits) = (Vec::new(), Vec::new());
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            (true, n) => failures.push(n),
            (false, n) => hits.push(n),
        }
    }
    failures.sort_unstable();
    hits.sort_unstable();
    let want: Vec<i64> = (1..=20).collect();
    assert_eq!(failures, want, "every failure counted once");
    assert_eq!(hits, want, "every hit counted once");
}

// ------------------------------------------- audit in the same transaction

async fn throttle_failure_records_its_audit_entry_with_the_count(store: Arc<dyn Store>) {
    let key = "login:user:bea";
    let window = 15 * MINUTE;
    let failed = |at: Millis| AuditEntry {
        at,
        outcome: "failure".into(),
        ..audit_entry("login.failed", None, Some("bea"))
    };
    assert_eq!(
        store
            .throttle_failure(key, NOW, NOW - window, &[failed(NOW)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(audit_log(&store).await, vec![failed(NOW)]);
    assert_eq!(
        store
            .throttle_failure(key, NOW + 1, NOW + 1 - window, &[failed(NOW + 1)])
            .await
            .unwrap(),
        2
    );
    assert_eq!(audit_log(&store).await, vec![failed(NOW + 1), failed(NOW)]);
    // Without an entry, only the count moves.
    assert_eq!(
        store
            .throttle_failure(key, NOW + 2, NOW + 2 - window, &[])
            .await
            .unwrap(),
        3
    );
    assert_eq!(audit_log(&store).await.len(), 2);
}
