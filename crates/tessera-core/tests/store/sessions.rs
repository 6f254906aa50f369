//! Token sessions: insertion and listing, refresh-token rotation (once, capped,
//! concurrent) and the spent tokens it leaves, with their audit.

use crate::support::{
    DAY, MINUTE, NOW, add_session, add_user, audit_entry, audit_log, new_session, random_hash,
    rotation,
};
use std::sync::Arc;
use tessera_core::store::{AuditEntry, SessionRevocation, Store, StoreError};
use uuid::Uuid;

conformance!(
    sessions_are_inserted_found_and_listed_live_newest_first,
    a_refresh_token_rotates_exactly_once,
    rotation_is_capped_by_the_absolute_lifetime_and_refused_on_dead_sessions,
    spent_tokens_return_the_sealed_successor_only_for_the_latest,
    concurrent_rotations_of_one_token_mint_exactly_one_successor,
    concurrent_rotations_of_many_sessions_each_commit_with_their_own_user,
    rotate_refresh_token_records_audit_for_the_sessions_user_only_when_it_rotates,
    a_rotation_that_fails_halfway_leaves_nothing_and_the_next_write_goes_through,
    insert_session_and_revoke_user_sessions_record_their_audit,
);

// --------------------------------------------------- sessions and rotation

async fn sessions_are_inserted_found_and_listed_live_newest_first(store: Arc<dyn Store>) {
    let heidi = add_user(&store, "heidi", &[]).await;
    let ivan = add_user(&store, "ivan", &[]).await;
    let (oldest, _) = add_session(&store, heidi, NOW - 3 * MINUTE).await;
    let (middle, _) = add_session(&store, heidi, NOW - 2 * MINUTE).await;
    let (newest, _) = add_session(&store, heidi, NOW - MINUTE).await;
    let (revoked, _) = add_session(&store, heidi, NOW - 30_000).await;
    let (mut expired, _) = new_session(heidi, NOW - 2 * DAY);
    expired.session.user_agent = None;
    expired.session.ip = None;
    store.insert_session(&expired, &[]).await.unwrap();
    add_session(&store, ivan, NOW).await;

    assert_eq!(
        store.session_by_id(middle.id).await.unwrap(),
        Some(middle.clone())
    );
    assert_eq!(
        store.session_by_id(expired.session.id).await.unwrap(),
        Some(expired.session.clone()),
        "nulls round-trip"
    );
    assert!(store.session_by_id(Uuid::new_v4()).await.unwrap().is_none());

    store
        .revoke_session(revoked.id, NOW, NOW + DAY, &[])
        .await
        .unwrap()
        .expect("revoked");
    let live = store.live_sessions(heidi, NOW).await.unwrap();
    assert_eq!(live, vec![newest.clone(), middle, oldest.clone()]);
    // Expiry is exclusive: a session expiring exactly now is dead.
    let at_expiry = store.live_sessions(heidi, oldest.expires_at).await.unwrap();
    assert!(!at_expiry.contains(&oldest));
    assert!(at_expiry.contains(&newest));
    assert_eq!(store.live_sessions(ivan, NOW).await.unwrap().len(), 1);
    assert!(
        store
            .live_sessions(Uuid::new_v4(), NOW)
            .await
            .unwrap()
            .is_empty()
    );

    // A refresh hash belongs to one session only.
    let (mut dup, _) = new_session(ivan, NOW);
    dup.refresh_hash = {
        let (n, h) = new_session(ivan, NOW);
        store.insert_session(&n, &[]).await.unwrap();
        h
    };
    assert!(matches!(
        store.insert_session(&dup, &[]).await.unwrap_err(),
        StoreError::Conflict
    ));
    // A session needs an existing user.
    let (orphan, _) = new_session(Uuid::new_v4(), NOW);
    assert!(store.insert_session(&orphan, &[]).await.is_err());
}

async fn a_refresh_token_rotates_exactly_once(store: Arc<dyn Store>) {
    let judy = add_user(&store, "judy", &[]).await;
    let (session, h0) = add_session(&store, judy, NOW).await;
    let r1 = rotation(h0, NOW + MINUTE);
    let rotated = store
        .rotate_refresh_token(&r1, None)
        .await
        .unwrap()
        .expect("first rotation");
    // The session's user comes back with it, as stored.
    assert_eq!(
        Some(rotated.user),
        store.user_by_id(judy).await.unwrap().map(|u| u.user)
    );
    let rotated = rotated.session;
    assert_eq!(rotated.id, session.id);
    assert_eq!(rotated.last_used_at, NOW + MINUTE);
    assert_eq!(
        rotated.expires_at,
        NOW + MINUTE + DAY,
        "rotation extends the idle expiry"
    );
    assert_eq!(rotated.created_at, NOW);
    assert_eq!(
        store.session_by_id(session.id).await.unwrap(),
        Some(rotated.clone())
    );

    // The same old token again: nothing.
    assert!(
        store
            .rotate_refresh_token(&rotation(h0, NOW + MINUTE), None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .rotate_refresh_token(&rotation(h0, NOW + 2 * MINUTE), None)
            .await
            .unwrap()
            .is_none()
    );
    // An unknown token: nothing.
    assert!(
        store
            .rotate_refresh_token(&rotation(random_hash(), NOW), None)
            .await
            .unwrap()
            .is_none()
    );
    // The new token rotates, once.
    let r2 = rotation(r1.new_hash, NOW + 2 * MINUTE);
    assert!(
        store
            .rotate_refresh_token(&r2, None)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .rotate_refresh_token(&rotation(r1.new_hash, NOW + 3 * MINUTE), None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .rotate_refresh_token(&rotation(r2.new_hash, NOW + 3 * MINUTE), None)
            .await
            .unwrap()
            .is_some()
    );
}

async fn rotation_is_capped_by_the_absolute_lifetime_and_refused_on_dead_sessions(
    store: Arc<dyn Store>,
) {
    let kim = add_user(&store, "kim", &[]).await;
    let (mut near_end, h) = new_session(kim, NOW);
    near_end.session.max_expires_at = NOW + 2 * MINUTE;
    near_end.session.expires_at = NOW + 2 * MINUTE;
    store.insert_session(&near_end, &[]).await.unwrap();
    let rotated = store
        .rotate_refresh_token(&rotation(h, NOW + MINUTE), None)
        .await
        .unwrap()
        .expect("rotated")
        .session;
    assert_eq!(
        rotated.expires_at,
        NOW + 2 * MINUTE,
        "never past max_expires_at"
    );

    // Expired: refused (expiry is exclusive).
    let (expired, h) = add_session(&store, kim, NOW).await;
    assert!(
        store
            .rotate_refresh_token(&rotation(h, expired.expires_at), None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store.spent_refresh_token(&h).await.unwrap().is_none(),
        "a refused rotation spends nothing"
    );
    // Revoked: refused.
    let (revoked, h) = add_session(&store, kim, NOW).await;
    store
        .revoke_session(revoked.id, NOW, NOW + DAY, &[])
        .await
        .unwrap();
    assert!(
        store
            .rotate_refresh_token(&rotation(h, NOW + 1), None)
            .await
            .unwrap()
            .is_none()
    );
}

async fn spent_tokens_return_the_sealed_successor_only_for_the_latest(store: Arc<dyn Store>) {
    let leo = add_user(&store, "leo", &[]).await;
    let (session, t0) = add_session(&store, leo, NOW).await;
    assert!(
        store.spent_refresh_token(&t0).await.unwrap().is_none(),
        "not yet spent"
    );

    let r1 = rotation(t0, NOW + MINUTE);
    store
        .rotate_refresh_token(&r1, None)
        .await
        .unwrap()
        .expect("rotate t0");
    let spent = store
        .spent_refresh_token(&t0)
        .await
        .unwrap()
        .expect("t0 spent");
    assert_eq!(spent.session.id, session.id);
    assert_eq!(spent.spent_at, NOW + MINUTE);
    assert_eq!(spent.sealed_successor.as_deref(), Some(&r1.sealed_new[..]));

    let r2 = rotation(r1.new_hash, NOW + 2 * MINUTE);
    let after = store
        .rotate_refresh_token(&r2, None)
        .await
        .unwrap()
        .expect("rotate t1")
        .session;
    let spent0 = store
        .spent_refresh_token(&t0)
        .await
        .unwrap()
        .expect("t0 still known");
    assert_eq!(spent0.sealed_successor, None, "t0 is no longer the latest");
    assert_eq!(spent0.spent_at, NOW + MINUTE);
    let spent1 = store
        .spent_refresh_token(&r1.new_hash)
        .await
        .unwrap()
        .expect("t1 spent");
    assert_eq!(spent1.sealed_successor.as_deref(), Some(&r2.sealed_new[..]));
    assert_eq!(spent1.spent_at, NOW + 2 * MINUTE);
    assert_eq!(
        spent1.session, after,
        "the spent token carries its session's current state"
    );
    assert!(
        store
            .spent_refresh_token(&r2.new_hash)
            .await
            .unwrap()
            .is_none(),
        "current token"
    );
    assert!(
        store
            .spent_refresh_token(&random_hash())
            .await
            .unwrap()
            .is_none()
    );

    // Revocation shows on the spent token's session.
    store
        .revoke_session(session.id, NOW + 3 * MINUTE, NOW + DAY, &[])
        .await
        .unwrap();
    let spent1 = store
        .spent_refresh_token(&r1.new_hash)
        .await
        .unwrap()
        .expect("t1 spent");
    assert_eq!(spent1.session.revoked_at, Some(NOW + 3 * MINUTE));
}

async fn concurrent_rotations_of_one_token_mint_exactly_one_successor(store: Arc<dyn Store>) {
    let quinn = add_user(&store, "quinn", &[]).await;
    let (session, old) = add_session(&store, quinn, NOW).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = store.clone();
        let barrier = barrier.clone();
        tasks.spawn(async move {
            let r = rotation(old, NOW + MINUTE + i);
            barrier.wait().await;
            store
                .rotate_refresh_token(&r, None)
                .await
                .map(|s| s.map(|s| (s.session, r.new_hash, r.sealed_new)))
        });
    }
    let mut winners = Vec::new();
    while let Some(r) = tasks.join_next().await {
        if let Some(w) = r.expect("task").expect("rotation must not error") {
            winners.push(w);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation wins");
    let (winner, new_hash, sealed) = winners.pop().unwrap();
    assert_eq!(winner.id, session.id);
    let spent = store
        .spent_refresh_token(&old)
        .await
        .unwrap()
        .expect("spent");
    assert_eq!(
        spent.sealed_successor,
        Some(sealed),
        "the winner's successor is the one kept"
    );
    assert_eq!(spent.spent_at, winner.last_used_at);
    // The winner's token is the session's current one.
    assert!(
        store
            .rotate_refresh_token(&rotation(new_hash, NOW + DAY / 2), None)
            .await
            .unwrap()
            .is_some()
    );
}

// ------------------------------------------- audit in the same transaction

/// Many sessions of many users refreshing at once (on SQLite they commit in
/// groups): each rotates, comes back with its own user, and leaves its own
/// spent token and audit entry; a second round with the new tokens rotates
/// again.
async fn concurrent_rotations_of_many_sessions_each_commit_with_their_own_user(
    store: Arc<dyn Store>,
) {
    let mut sessions = Vec::new();
    for i in 0..40 {
        let user = add_user(&store, &format!("crowd-{i:02}"), &[]).await;
        let (session, hash) = add_session(&store, user, NOW).await;
        sessions.push((user, session.id, hash));
    }
    let refreshed = audit_entry("token.refreshed", None, None);
    for round in 1..=2 {
        let mut tasks = tokio::task::JoinSet::new();
        for (user, session, hash) in sessions.drain(..) {
            let (store, refreshed) = (store.clone(), refreshed.clone());
            tasks.spawn(async move {
                let r = rotation(hash, NOW + round * MINUTE);
                let rotated = store
                    .rotate_refresh_token(&r, Some(&refreshed))
                    .await
                    .expect("rotation must not error")
                    .expect("every session rotates");
                assert_eq!(rotated.session.id, session);
                assert_eq!(rotated.user.id, user, "each rotation hears its own user");
                assert_eq!(rotated.session.last_used_at, NOW + round * MINUTE);
                let spent = store.spent_refresh_token(&hash).await.unwrap();
                assert_eq!(spent.map(|s| s.session.id), Some(session));
                (user, session, r.new_hash)
            });
        }
        while let Some(done) = tasks.join_next().await {
            sessions.push(done.expect("task"));
        }
    }
    let audit = audit_log(&store).await;
    assert_eq!(audit.len(), 80, "one audit entry per rotation");
    for (user, _, _) in &sessions {
        let mine = audit
            .iter()
            .filter(|e| e.actor.as_deref() == Some(&user.to_string()))
            .count();
        assert_eq!(mine, 2, "each user's two refreshes are theirs");
    }
}

async fn rotate_refresh_token_records_audit_for_the_sessions_user_only_when_it_rotates(
    store: Arc<dyn Store>,
) {
    let zoe = add_user(&store, "zoe", &[]).await;
    let zoe_id = zoe.to_string();
    let (session, h0) = add_session(&store, zoe, NOW).await;
    // The caller knows only the token, not whose it is.
    let refreshed = audit_entry("token.refreshed", None, None);

    let r1 = rotation(h0, NOW + MINUTE);
    store
        .rotate_refresh_token(&r1, Some(&refreshed))
        .await
        .unwrap()
        .expect("rotated");
    let attributed = AuditEntry {
        actor: Some(zoe_id.clone()),
        subject: Some(zoe_id.clone()),
        ..refreshed.clone()
    };
    assert_eq!(audit_log(&store).await, vec![attributed.clone()]);

    // The same old token again, an unknown one, one on an expired session: no rotation, no audit.
    assert!(
        store
            .rotate_refresh_token(&rotation(h0, NOW + 2 * MINUTE), Some(&refreshed))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .rotate_refresh_token(&rotation(random_hash(), NOW + 2 * MINUTE), Some(&refreshed))
            .await
            .unwrap()
            .is_none()
    );
    let (expired, h_expired) = add_session(&store, zoe, NOW).await;
    assert!(
        store
            .rotate_refresh_token(&rotation(h_expired, expired.expires_at), Some(&refreshed))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(audit_log(&store).await, vec![attributed.clone()]);

    // An entry that names its actor and subject keeps them.
    let named = audit_entry("token.refreshed", Some("actor-x"), Some("subject-y"));
    let r2 = rotation(r1.new_hash, NOW + 3 * MINUTE);
    let rotated = store
        .rotate_refresh_token(&r2, Some(&named))
        .await
        .unwrap()
        .expect("rotated again")
        .session;
    assert_eq!(rotated.id, session.id);
    assert_eq!(audit_log(&store).await, vec![named, attributed]);
}

async fn insert_session_and_revoke_user_sessions_record_their_audit(store: Arc<dyn Store>) {
    let cleo = add_user(&store, "cleo", &[]).await;
    let cleo_id = cleo.to_string();
    let login = audit_entry("login.succeeded", Some(&cleo_id), Some(&cleo_id));
    let (first, _) = new_session(cleo, NOW);
    store
        .insert_session(&first, std::slice::from_ref(&login))
        .await
        .unwrap();
    assert_eq!(audit_log(&store).await, vec![login.clone()]);

    // A session that conflicts (its refresh hash is taken) records nothing.
    let (mut dup, _) = new_session(cleo, NOW + 1);
    dup.refresh_hash = first.refresh_hash;
    assert!(matches!(
        store
            .insert_session(&dup, std::slice::from_ref(&login))
            .await
            .unwrap_err(),
        StoreError::Conflict
    ));
    assert!(store.session_by_id(dup.session.id).await.unwrap().is_none());
    assert_eq!(audit_log(&store).await, vec![login.clone()]);

    let logout_all = audit_entry("sessions.revoked", Some(&cleo_id), Some(&cleo_id));
    let revoked = store
        .revoke_user_sessions(
            cleo,
            &SessionRevocation {
                except: None,
                except_browser: None,
                now: NOW + 2,
                until: NOW + DAY,
            },
            std::slice::from_ref(&logout_all),
        )
        .await
        .unwrap();
    assert_eq!(
        revoked.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![first.session.id]
    );
    assert_eq!(audit_log(&store).await, vec![logout_all, login]);
}

async fn a_rotation_that_fails_halfway_leaves_nothing_and_the_next_write_goes_through(
    store: Arc<dyn Store>,
) {
    let yan = add_user(&store, "yan", &[]).await;
    let (first, h1) = add_session(&store, yan, NOW).await;
    let (_, h2) = add_session(&store, yan, NOW).await;
    // A successor hash another session already holds: the UPDATE itself
    // fails on the unique index, after the rotation's transaction began.
    let mut clash = rotation(h1, NOW + MINUTE);
    clash.new_hash = h2;
    let refreshed = audit_entry("token.refreshed", None, None);
    assert!(
        store
            .rotate_refresh_token(&clash, Some(&refreshed))
            .await
            .is_err()
    );
    assert_eq!(
        store.session_by_id(first.id).await.unwrap(),
        Some(first.clone()),
        "the session is untouched"
    );
    assert!(store.spent_refresh_token(&h1).await.unwrap().is_none());
    assert!(audit_log(&store).await.is_empty(), "no audit entry either");
    // The writer is not left inside the failed transaction: the next
    // rotation of the same token commits, and so does an unrelated write.
    store
        .rotate_refresh_token(&rotation(h1, NOW + MINUTE), Some(&refreshed))
        .await
        .unwrap()
        .expect("rotated");
    assert_eq!(audit_log(&store).await.len(), 1);
    add_user(&store, "zed", &[]).await;
}
