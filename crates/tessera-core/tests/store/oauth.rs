//! OAuth clients and the token sessions issued to them: client lifecycle,
//! refresh-hash lookups, per-client rotation and access-token revocation.

use crate::support::{
    DAY, MINUTE, NOW, add_client, add_oauth_session, add_user, audit_entry, audit_log, events,
    oauth_client, random_hash, revoked_subjects, rotation,
};
use std::collections::HashSet;
use std::sync::Arc;
use tessera_core::store::{Revocation, RevocationKind, Store, StoreError};
use uuid::Uuid;

conformance!(
    clients_are_inserted_listed_oldest_first_and_found_with_their_secret_hash,
    deleting_a_client_revokes_its_sessions_with_events_and_revocations,
    session_by_refresh_hash_finds_the_session_of_the_current_token_only,
    revoke_access_token_records_the_revocation_a_token_revoked_event_and_audit,
    a_refresh_token_rotates_only_for_the_client_its_session_belongs_to,
);

async fn clients_are_inserted_listed_oldest_first_and_found_with_their_secret_hash(
    store: Arc<dyn Store>,
) {
    assert!(store.clients().await.unwrap().is_empty());
    let created = audit_entry("client.created", Some("admin"), Some("web"));
    let web = oauth_client("web", Some("s3cret"), NOW + 1);
    let spa = oauth_client("spa", None, NOW);
    store
        .insert_client(&web, std::slice::from_ref(&created))
        .await
        .unwrap();
    store.insert_client(&spa, &[]).await.unwrap();
    assert_eq!(audit_log(&store).await, vec![created]);

    assert_eq!(
        store.clients().await.unwrap(),
        vec![spa.client.clone(), web.client.clone()]
    );
    let found = store.client_by_id("web").await.unwrap().expect("web");
    assert_eq!(found.client, web.client);
    assert!(found.client.confidential);
    assert!(found.secret_matches("s3cret"));
    assert!(!found.secret_matches("s3cres"));
    let found = store.client_by_id("spa").await.unwrap().expect("spa");
    assert!(!found.client.confidential);
    assert!(found.secret_hash.is_none());

    // Ids are exact: no other case, no prefix, no NUL trick.
    for id in ["WEB", "we", "web ", "web\0", ""] {
        assert!(store.client_by_id(id).await.unwrap().is_none(), "{id:?}");
    }
    // A taken id is a conflict, and records nothing.
    let again = audit_entry("client.created", Some("admin"), Some("web-again"));
    assert!(matches!(
        store
            .insert_client(&oauth_client("web", None, NOW + 2), &[again])
            .await
            .unwrap_err(),
        StoreError::Conflict
    ));
    assert_eq!(audit_log(&store).await.len(), 1);
    assert_eq!(store.clients().await.unwrap().len(), 2);
}

async fn deleting_a_client_revokes_its_sessions_with_events_and_revocations(store: Arc<dyn Store>) {
    let gus = add_user(&store, "gus", &[]).await;
    add_client(&store, "app").await;
    add_client(&store, "other").await;
    let (a, _) = add_oauth_session(&store, gus, Some("app"), None).await;
    let (b, _) = add_oauth_session(&store, gus, Some("app"), None).await;
    let (already, _) = add_oauth_session(&store, gus, Some("app"), None).await;
    store
        .revoke_session(already.id, NOW + 1, NOW + DAY, &[])
        .await
        .unwrap();
    let (theirs, _) = add_oauth_session(&store, gus, Some("other"), None).await;
    let (first_party, _) = add_oauth_session(&store, gus, None, None).await;
    let events_before = events(&store).await.len();

    let until = NOW + DAY;
    let cut_off = Revocation {
        kind: RevocationKind::User,
        subject: "app".into(),
        not_before: NOW + 11,
        expires_at: until,
    };
    let deleted = audit_entry("client.deleted", Some("admin"), Some("app"));
    let revoked = store
        .delete_client(
            "app",
            NOW + 10,
            until,
            std::slice::from_ref(&cut_off),
            std::slice::from_ref(&deleted),
        )
        .await
        .unwrap()
        .expect("the client existed");
    let ids: HashSet<Uuid> = revoked.iter().map(|s| s.id).collect();
    assert_eq!(ids, HashSet::from([a.id, b.id]), "live sessions only");
    assert!(revoked.iter().all(|s| s.revoked_at == Some(NOW + 10)));

    assert!(store.client_by_id("app").await.unwrap().is_none());
    assert_eq!(store.clients().await.unwrap().len(), 1);
    let live: HashSet<Uuid> = store
        .live_sessions(gus, NOW + 11)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, HashSet::from([theirs.id, first_party.id]));
    assert_eq!(
        store
            .session_by_id(already.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(NOW + 1),
        "an earlier revocation keeps its time"
    );

    let active = revoked_subjects(&store, NOW + 11).await;
    for s in [a.id, b.id] {
        assert!(active.contains(&(RevocationKind::Session, s.to_string())));
    }
    assert!(active.contains(&(RevocationKind::User, "app".to_owned())));
    assert!(!active.contains(&(RevocationKind::Session, theirs.id.to_string())));

    let new_events: Vec<_> = events(&store).await.split_off(events_before);
    let revoked_sids: HashSet<String> = new_events
        .iter()
        .filter(|(kind, _, _)| kind == "session.revoked")
        .inspect(|(_, sub, payload)| {
            assert_eq!(sub.as_deref(), Some(gus.to_string().as_str()));
            assert_eq!(payload["exp"], until / 1000);
        })
        .map(|(_, _, payload)| payload["sid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        revoked_sids,
        HashSet::from([a.id.to_string(), b.id.to_string()])
    );
    assert_eq!(audit_log(&store).await, vec![deleted]);

    // A second delete finds nothing and records nothing.
    let again = audit_entry("client.deleted", Some("admin"), Some("app"));
    assert!(
        store
            .delete_client("app", NOW + 20, until, &[], &[again])
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(audit_log(&store).await.len(), 1);
}

async fn session_by_refresh_hash_finds_the_session_of_the_current_token_only(
    store: Arc<dyn Store>,
) {
    let max = add_user(&store, "max", &[]).await;
    add_client(&store, "app").await;
    let (session, hash) = add_oauth_session(&store, max, Some("app"), None).await;
    assert_eq!(
        store.session_by_refresh_hash(&hash).await.unwrap(),
        Some(session.clone())
    );
    assert!(
        store
            .session_by_refresh_hash(&random_hash())
            .await
            .unwrap()
            .is_none()
    );
    let mut turn = rotation(hash, NOW + MINUTE);
    turn.client_id = Some("app".into());
    store
        .rotate_refresh_token(&turn, None)
        .await
        .unwrap()
        .expect("rotated");
    assert!(
        store
            .session_by_refresh_hash(&hash)
            .await
            .unwrap()
            .is_none()
    );
    let current = store
        .session_by_refresh_hash(&turn.new_hash)
        .await
        .unwrap()
        .expect("the new token's session");
    assert_eq!(current.id, session.id);
    assert_eq!(current.client_id.as_deref(), Some("app"));
    assert_eq!(current.scope.as_deref(), Some("openid profile"));
    // A revoked session is still found, showing it is revoked.
    store
        .revoke_session(session.id, NOW + 2 * MINUTE, NOW + DAY, &[])
        .await
        .unwrap();
    let revoked = store
        .session_by_refresh_hash(&turn.new_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW + 2 * MINUTE));
}

async fn revoke_access_token_records_the_revocation_a_token_revoked_event_and_audit(
    store: Arc<dyn Store>,
) {
    let ned = add_user(&store, "ned", &[]).await;
    let exp_ms = NOW + 15 * MINUTE;
    let revocation = Revocation {
        kind: RevocationKind::Token,
        subject: "jti-123".into(),
        not_before: 0,
        expires_at: exp_ms + MINUTE,
    };
    let entry = audit_entry("token.revoked", Some("ned"), Some("ned"));
    store
        .revoke_access_token(
            &revocation,
            &ned.to_string(),
            exp_ms,
            NOW,
            std::slice::from_ref(&entry),
        )
        .await
        .unwrap();
    assert_eq!(
        store.active_revocations(NOW).await.unwrap(),
        vec![revocation]
    );
    assert!(
        store
            .active_revocations(exp_ms + MINUTE)
            .await
            .unwrap()
            .is_empty()
    );
    let stream = store.events_after(0, 10).await.unwrap();
    let event = stream
        .iter()
        .find(|e| e.kind == "token.revoked")
        .expect("a token.revoked event");
    assert_eq!(event.sub.as_deref(), Some(ned.to_string().as_str()));
    assert!(!event.admin_only, "the user sees it too");
    assert_eq!(event.at, NOW);
    assert_eq!(
        event.payload,
        serde_json::json!({"jti": "jti-123", "sub": ned.to_string(), "exp": exp_ms / 1000})
    );
    assert_eq!(audit_log(&store).await, vec![entry]);
}

async fn a_refresh_token_rotates_only_for_the_client_its_session_belongs_to(store: Arc<dyn Store>) {
    let max = add_user(&store, "max", &[]).await;
    add_client(&store, "app").await;
    add_client(&store, "other").await;
    let (_, app_hash) = add_oauth_session(&store, max, Some("app"), None).await;
    let (_, own_hash) = add_oauth_session(&store, max, None, None).await;
    for client_id in [None, Some("other")] {
        let mut turn = rotation(app_hash, NOW + MINUTE);
        turn.client_id = client_id.map(Into::into);
        assert!(
            store
                .rotate_refresh_token(&turn, None)
                .await
                .unwrap()
                .is_none(),
            "{client_id:?} rotated app's token"
        );
    }
    let mut turn = rotation(own_hash, NOW + MINUTE);
    turn.client_id = Some("app".into());
    assert!(
        store
            .rotate_refresh_token(&turn, None)
            .await
            .unwrap()
            .is_none(),
        "a client rotated a first-party token"
    );
    // Nothing was spent by the refused attempts: the right callers still rotate.
    let mut turn = rotation(app_hash, NOW + MINUTE);
    turn.client_id = Some("app".into());
    assert!(
        store
            .rotate_refresh_token(&turn, None)
            .await
            .unwrap()
            .is_some()
    );
    let turn = rotation(own_hash, NOW + MINUTE);
    assert!(
        store
            .rotate_refresh_token(&turn, None)
            .await
            .unwrap()
            .is_some()
    );
}
