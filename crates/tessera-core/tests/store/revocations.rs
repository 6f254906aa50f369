//! Revocations: of one session and of a user's sessions, their upserts and
//! cutoffs, and the purge of what has expired.

use crate::support::{
    DAY, MINUTE, NOW, add_session, add_user, audit_entry, audit_log, revoked_subjects, rotation,
};
use std::collections::HashSet;
use std::sync::Arc;
use tessera_core::store::{Revocation, RevocationKind, SessionRevocation, Store};
use uuid::Uuid;

conformance!(
    revoke_session_records_a_durable_revocation,
    revoke_user_sessions_spares_the_exception_and_other_users,
    insert_revocations_upserts_keeping_the_later_cutoffs,
    purge_expired_forgets_dead_revocations_and_sessions,
    purge_expired_keeps_the_spent_tokens_of_a_live_session,
    revoke_session_records_audit_only_for_an_existing_session,
);

// ------------------------------------------------------------- revocations

async fn revoke_session_records_a_durable_revocation(store: Arc<dyn Store>) {
    let mia = add_user(&store, "mia", &[]).await;
    let (session, _) = add_session(&store, mia, NOW).await;
    let until = NOW + 15 * MINUTE;
    let revoked = store
        .revoke_session(session.id, NOW + 1, until, &[])
        .await
        .unwrap()
        .expect("revoked");
    assert_eq!(revoked.id, session.id);
    assert_eq!(revoked.revoked_at, Some(NOW + 1));
    assert!(store.live_sessions(mia, NOW + 2).await.unwrap().is_empty());

    let active = store.active_revocations(NOW + 2).await.unwrap();
    assert_eq!(
        active,
        vec![Revocation {
            kind: RevocationKind::Session,
            subject: session.id.to_string(),
            not_before: 0,
            expires_at: until,
        }]
    );
    // Revoking again keeps the first time and extends the record.
    let again = store
        .revoke_session(session.id, NOW + 5, until + MINUTE, &[])
        .await
        .unwrap()
        .expect("still exists");
    assert_eq!(again.revoked_at, Some(NOW + 1));
    let active = store.active_revocations(NOW + 2).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].expires_at, until + MINUTE);
    // Gone from active once expired.
    assert!(
        store
            .active_revocations(until + MINUTE)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        store
            .revoke_session(Uuid::new_v4(), NOW, until, &[])
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.active_revocations(NOW).await.unwrap().len(),
        1,
        "nothing recorded for unknown sessions"
    );
}

async fn revoke_user_sessions_spares_the_exception_and_other_users(store: Arc<dyn Store>) {
    let nick = add_user(&store, "nick", &[]).await;
    let olga = add_user(&store, "olga", &[]).await;
    let (a, _) = add_session(&store, nick, NOW).await;
    let (b, _) = add_session(&store, nick, NOW + 1).await;
    let (keep, _) = add_session(&store, nick, NOW + 2).await;
    let (theirs, _) = add_session(&store, olga, NOW).await;
    let until = NOW + DAY;

    let revoked = store
        .revoke_user_sessions(
            nick,
            &SessionRevocation {
                except: Some(keep.id),
                except_browser: None,
                now: NOW + 10,
                until,
            },
            &[],
        )
        .await
        .unwrap();
    let ids: HashSet<Uuid> = revoked.iter().map(|s| s.id).collect();
    assert_eq!(ids, HashSet::from([a.id, b.id]));
    assert!(revoked.iter().all(|s| s.revoked_at == Some(NOW + 10)));
    assert_eq!(
        store.live_sessions(nick, NOW + 11).await.unwrap(),
        vec![keep.clone()]
    );
    assert_eq!(
        store.live_sessions(olga, NOW + 11).await.unwrap(),
        vec![theirs.clone()]
    );

    let subjects: HashSet<String> = store
        .active_revocations(NOW + 11)
        .await
        .unwrap()
        .into_iter()
        .inspect(|r| {
            assert_eq!(r.kind, RevocationKind::Session);
            assert_eq!(r.expires_at, until);
        })
        .map(|r| r.subject)
        .collect();
    assert_eq!(
        subjects,
        HashSet::from([a.id.to_string(), b.id.to_string()])
    );

    // Already-revoked sessions are not revoked (or returned) twice.
    let rest = store
        .revoke_user_sessions(
            nick,
            &SessionRevocation {
                except: None,
                except_browser: None,
                now: NOW + 20,
                until,
            },
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|s| s.id).collect::<Vec<_>>(), vec![keep.id]);
    assert_eq!(
        store.session_by_id(a.id).await.unwrap().unwrap().revoked_at,
        Some(NOW + 10)
    );
    assert_eq!(store.active_revocations(NOW + 21).await.unwrap().len(), 3);
    assert!(
        store
            .revoke_user_sessions(
                nick,
                &SessionRevocation {
                    except: None,
                    except_browser: None,
                    now: NOW + 30,
                    until
                },
                &[]
            )
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .live_sessions(olga, NOW + 31)
            .await
            .unwrap()
            .contains(&theirs)
    );
}

async fn insert_revocations_upserts_keeping_the_later_cutoffs(store: Arc<dyn Store>) {
    let rev = |kind, subject: &str, not_before, expires_at| Revocation {
        kind,
        subject: subject.into(),
        not_before,
        expires_at,
    };
    store
        .insert_revocations(&[
            rev(RevocationKind::User, "u-1", NOW, NOW + DAY),
            rev(RevocationKind::Token, "jti-1", 0, NOW + MINUTE),
            rev(RevocationKind::Session, "u-1", 0, NOW + MINUTE),
        ])
        .await
        .unwrap();
    store.insert_revocations(&[]).await.unwrap();
    // Earlier not_before, later expiry: the expiry moves, not_before stays.
    store
        .insert_revocations(&[rev(RevocationKind::User, "u-1", NOW - 5, NOW + 2 * DAY)])
        .await
        .unwrap();
    // Later not_before, earlier expiry: not_before moves, expiry stays.
    store
        .insert_revocations(&[rev(RevocationKind::User, "u-1", NOW + 7, NOW + 1)])
        .await
        .unwrap();
    // The same subject twice in one batch.
    store
        .insert_revocations(&[
            rev(RevocationKind::Token, "jti-2", 0, NOW + 10 * MINUTE),
            rev(RevocationKind::Token, "jti-2", 0, NOW + 5 * MINUTE),
        ])
        .await
        .unwrap();

    let mut active = store.active_revocations(NOW).await.unwrap();
    active.sort_by(|x, y| (x.kind.as_str(), &x.subject).cmp(&(y.kind.as_str(), &y.subject)));
    assert_eq!(
        active,
        vec![
            rev(RevocationKind::Session, "u-1", 0, NOW + MINUTE),
            rev(RevocationKind::Token, "jti-1", 0, NOW + MINUTE),
            rev(RevocationKind::Token, "jti-2", 0, NOW + 10 * MINUTE),
            rev(RevocationKind::User, "u-1", NOW + 7, NOW + 2 * DAY),
        ]
    );
    // Only those still in force (expiry exclusive).
    let later: Vec<String> = store
        .active_revocations(NOW + MINUTE)
        .await
        .unwrap()
        .into_iter()
        .map(|r| format!("{}:{}", r.kind.as_str(), r.subject))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(later, vec!["token:jti-2", "user:u-1"]);
}

async fn purge_expired_forgets_dead_revocations_and_sessions(store: Arc<dyn Store>) {
    let pat = add_user(&store, "pat", &[]).await;
    store
        .insert_revocations(&[
            Revocation {
                kind: RevocationKind::Token,
                subject: "old".into(),
                not_before: 0,
                expires_at: NOW - 1,
            },
            Revocation {
                kind: RevocationKind::Token,
                subject: "edge".into(),
                not_before: 0,
                expires_at: NOW,
            },
            Revocation {
                kind: RevocationKind::Token,
                subject: "fresh".into(),
                not_before: 0,
                expires_at: NOW + 1,
            },
        ])
        .await
        .unwrap();
    let cutoff = NOW - 7 * DAY;
    // Expired long ago, with a spent token: purged (the spent token with it).
    let (long_dead, h) = add_session(&store, pat, cutoff - 2 * DAY).await;
    store
        .rotate_refresh_token(&rotation(h, cutoff - 2 * DAY + 1), None)
        .await
        .unwrap()
        .expect("rotated");
    // Revoked long ago: purged.
    let (revoked_long_ago, _) = add_session(&store, pat, NOW).await;
    store
        .revoke_session(revoked_long_ago.id, cutoff - 1, cutoff, &[])
        .await
        .unwrap();
    // Expired, but after the cutoff: kept (reuse detection still needs it).
    let (recently_expired, _) = add_session(&store, pat, cutoff - DAY + 1).await;
    // Revoked after the cutoff: kept.
    let (recently_revoked, _) = add_session(&store, pat, NOW).await;
    store
        .revoke_session(recently_revoked.id, NOW - 1, cutoff, &[])
        .await
        .unwrap();
    let (live, _) = add_session(&store, pat, NOW).await;

    let purged = store.purge_expired(NOW, cutoff).await.unwrap();
    // Revocations: old, edge, and the two session revocations until `cutoff`;
    // sessions: two; spent tokens: the one spent before every remaining
    // session began.
    assert_eq!(purged, 4 + 2 + 1);
    let left: HashSet<String> = store
        .active_revocations(0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.subject)
        .collect();
    assert_eq!(left, HashSet::from(["fresh".to_owned()]));
    assert!(store.session_by_id(long_dead.id).await.unwrap().is_none());
    assert!(store.spent_refresh_token(&h).await.unwrap().is_none());
    assert!(
        store
            .session_by_id(revoked_long_ago.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session_by_id(recently_expired.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .session_by_id(recently_revoked.id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.session_by_id(live.id).await.unwrap(), Some(live));
    assert_eq!(
        store.purge_expired(NOW, cutoff).await.unwrap(),
        0,
        "idempotent"
    );
    assert!(
        store.user_by_id(pat).await.unwrap().is_some(),
        "users are never purged"
    );
}

async fn purge_expired_keeps_the_spent_tokens_of_a_live_session(store: Arc<dyn Store>) {
    let lou = add_user(&store, "lou", &[]).await;
    // Begun ten days ago and refreshed then for a month of idle lifetime,
    // by a replica whose clock was a minute behind: its first token was
    // spent long before the purge's cutoff, and "before" the session began,
    // yet presenting it again must still be caught as reuse.
    let begun = NOW - 10 * DAY;
    let (session, h0) = add_session(&store, lou, begun).await;
    let mut first = rotation(h0, begun - MINUTE);
    first.idle_ttl_ms = 30 * DAY;
    store
        .rotate_refresh_token(&first, None)
        .await
        .unwrap()
        .expect("rotated");
    // A session that ended long ago, with a token spent before `session`
    // began: forgotten.
    let (ended, h1) = add_session(&store, lou, begun - 3 * DAY).await;
    store
        .rotate_refresh_token(&rotation(h1, begun - 3 * DAY + 1), None)
        .await
        .unwrap()
        .expect("rotated");

    // `ended`, then the token it spent.
    assert_eq!(store.purge_expired(NOW, NOW - DAY).await.unwrap(), 2);
    assert!(store.session_by_id(ended.id).await.unwrap().is_none());
    let spent = store.spent_refresh_token(&h0).await.unwrap();
    let spent = spent.expect("the live session's spent token is still known");
    assert_eq!(
        (spent.session.id, spent.spent_at),
        (session.id, begun - MINUTE)
    );
}

// ------------------------------------------- audit in the same transaction

async fn revoke_session_records_audit_only_for_an_existing_session(store: Arc<dyn Store>) {
    let amy = add_user(&store, "amy", &[]).await;
    let (session, _) = add_session(&store, amy, NOW).await;
    let until = NOW + DAY;
    let revoked_entry = audit_entry("session.revoked", Some("admin"), Some(&amy.to_string()));

    store
        .revoke_session(
            session.id,
            NOW + 1,
            until,
            std::slice::from_ref(&revoked_entry),
        )
        .await
        .unwrap()
        .expect("revoked");
    assert_eq!(audit_log(&store).await, vec![revoked_entry.clone()]);

    assert!(
        store
            .revoke_session(
                Uuid::new_v4(),
                NOW + 2,
                until,
                &[audit_entry(
                    "session.revoked",
                    Some("admin"),
                    Some("nobody")
                )],
            )
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        audit_log(&store).await,
        vec![revoked_entry],
        "nothing recorded for unknown sessions"
    );
    assert_eq!(
        revoked_subjects(&store, NOW + 2).await,
        HashSet::from([(RevocationKind::Session, session.id.to_string())])
    );
}
