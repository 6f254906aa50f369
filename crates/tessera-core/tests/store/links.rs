//! Mailed links in the store: a link is spent once — even by two callers at
//! the same moment — and only while live; a reset link voids the person's
//! older ones and sets the password with every session ended in the same
//! transaction; a verification link confirms only the address it was sent
//! to, and an address is confirmed on one account at most.

use crate::support::{MINUTE, NOW, add_session, add_user, audit_entry, audit_log, random_hash};
use std::sync::Arc;
use tessera_core::store::{
    EmailLink, LinkKind, SessionRevocation, Store, UserChanges, Verification,
};
use uuid::Uuid;

conformance!(
    a_reset_link_is_spent_once_voids_older_ones_and_ends_every_session,
    a_verification_link_confirms_only_its_address_and_an_address_one_account,
    two_at_once_spend_a_link_once,
    case_is_ignored_beyond_ascii_on_both_databases,
    a_reset_link_works_only_for_the_address_it_was_made_for_and_a_new_password_voids_it,
    expired_links_are_refused_and_purged,
);

fn link(user_id: Uuid, kind: LinkKind, email: &str) -> EmailLink {
    EmailLink {
        user_id,
        kind,
        email: email.into(),
        created_at: NOW,
        expires_at: NOW + 30 * MINUTE,
    }
}

fn revoke_at(now: i64) -> SessionRevocation {
    SessionRevocation {
        except: None,
        except_browser: None,
        now,
        until: now + 30 * MINUTE,
    }
}

async fn set_email(store: &Arc<dyn Store>, user: Uuid, email: &str) {
    let changes = UserChanges {
        email: Some(Some(email.into())),
        ..Default::default()
    };
    store
        .update_user(user, &changes, NOW, &Default::default())
        .await
        .unwrap();
}

async fn a_reset_link_is_spent_once_voids_older_ones_and_ends_every_session(store: Arc<dyn Store>) {
    let ann = add_user(&store, "ann", &[]).await;
    set_email(&store, ann, "ann@example.com").await;
    let (session, _) = add_session(&store, ann, NOW).await;
    let (older, newer) = (random_hash(), random_hash());
    store
        .insert_link(&older, &link(ann, LinkKind::Reset, "ann@example.com"))
        .await
        .unwrap();
    store
        .insert_link(&newer, &link(ann, LinkKind::Reset, "ann@example.com"))
        .await
        .unwrap();
    assert!(
        store
            .link(&older, LinkKind::Reset, NOW)
            .await
            .unwrap()
            .is_none(),
        "voided"
    );
    assert!(
        store
            .link(&newer, LinkKind::Verify, NOW)
            .await
            .unwrap()
            .is_none(),
        "another kind"
    );
    let reset = audit_entry("password.reset", Some("ann"), Some("ann"));
    let done = store
        .reset_with_link(
            &newer,
            "new-hash",
            &revoke_at(NOW + MINUTE),
            std::slice::from_ref(&reset),
        )
        .await
        .unwrap()
        .expect("a live link");
    assert_eq!(done.0, ann);
    assert_eq!(
        done.1.iter().map(|s| s.id).collect::<Vec<_>>(),
        [session.id]
    );
    assert_eq!(audit_log(&store).await, vec![reset]);
    let stored = store.user_by_id(ann).await.unwrap().unwrap();
    assert_eq!(
        tessera_core::secret::ExposeSecret::expose_secret(&stored.password_hash),
        "new-hash"
    );
    let again = store
        .reset_with_link(&newer, "other-hash", &revoke_at(NOW + MINUTE), &[])
        .await
        .unwrap();
    assert!(again.is_none(), "spent");
}

async fn a_verification_link_confirms_only_its_address_and_an_address_one_account(
    store: Arc<dyn Store>,
) {
    let ann = add_user(&store, "ann", &[]).await;
    let bob = add_user(&store, "bob", &[]).await;
    set_email(&store, ann, "shared@example.com").await;
    set_email(&store, bob, "SHARED@example.com").await;
    let (anns, bobs) = (random_hash(), random_hash());
    store
        .insert_link(&anns, &link(ann, LinkKind::Verify, "shared@example.com"))
        .await
        .unwrap();
    store
        .insert_link(&bobs, &link(bob, LinkKind::Verify, "SHARED@example.com"))
        .await
        .unwrap();
    let Verification::Verified(user) = store.verify_with_link(&anns, NOW, &[]).await.unwrap()
    else {
        panic!("ann's link verifies");
    };
    assert!(user.email_verified);
    assert!(
        store
            .email_verified_elsewhere("Shared@Example.com", Some(bob))
            .await
            .unwrap()
    );
    assert!(
        !store
            .email_verified_elsewhere("shared@example.com", Some(ann))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .user_by_verified_email("SHARED@EXAMPLE.COM")
            .await
            .unwrap()
            .unwrap()
            .user
            .id,
        ann
    );
    assert_eq!(
        store.verify_with_link(&bobs, NOW, &[]).await.unwrap(),
        Verification::Taken
    );
    // A link for an address the account no longer has confirms nothing.
    let carl = add_user(&store, "carl", &[]).await;
    set_email(&store, carl, "carl@old.example").await;
    let stale = random_hash();
    store
        .insert_link(&stale, &link(carl, LinkKind::Verify, "carl@old.example"))
        .await
        .unwrap();
    set_email(&store, carl, "carl@new.example").await;
    assert_eq!(
        store.verify_with_link(&stale, NOW, &[]).await.unwrap(),
        Verification::Invalid
    );
    assert!(
        !store
            .user_by_id(carl)
            .await
            .unwrap()
            .unwrap()
            .user
            .email_verified
    );
    // Changing a confirmed address makes it unconfirmed.
    set_email(&store, ann, "ann@new.example").await;
    assert!(
        !store
            .user_by_id(ann)
            .await
            .unwrap()
            .unwrap()
            .user
            .email_verified
    );
}

async fn two_at_once_spend_a_link_once(store: Arc<dyn Store>) {
    let ann = add_user(&store, "ann", &[]).await;
    set_email(&store, ann, "ann@example.com").await;
    let hash = random_hash();
    store
        .insert_link(&hash, &link(ann, LinkKind::Reset, "ann@example.com"))
        .await
        .unwrap();
    let revoke = revoke_at(NOW);
    let (a, b) = tokio::join!(
        store.reset_with_link(&hash, "hash-a", &revoke, &[]),
        store.reset_with_link(&hash, "hash-b", &revoke, &[]),
    );
    let spent = [a.unwrap(), b.unwrap()];
    assert_eq!(spent.iter().filter(|s| s.is_some()).count(), 1, "{spent:?}");
}

async fn expired_links_are_refused_and_purged(store: Arc<dyn Store>) {
    let ann = add_user(&store, "ann", &[]).await;
    let hash = random_hash();
    store
        .insert_link(&hash, &link(ann, LinkKind::Verify, "ann@example.com"))
        .await
        .unwrap();
    let later = NOW + 30 * MINUTE;
    assert!(
        store
            .link(&hash, LinkKind::Verify, later)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.verify_with_link(&hash, later, &[]).await.unwrap(),
        Verification::Invalid
    );
    assert!(store.purge_expired(later, NOW).await.unwrap() >= 1);
    assert!(
        store
            .link(&hash, LinkKind::Verify, NOW)
            .await
            .unwrap()
            .is_none(),
        "gone"
    );
}

async fn a_reset_link_works_only_for_the_address_it_was_made_for_and_a_new_password_voids_it(
    store: Arc<dyn Store>,
) {
    let ann = add_user(&store, "ann", &[]).await;
    set_email(&store, ann, "ann@old.example").await;
    let hash = random_hash();
    store
        .insert_link(&hash, &link(ann, LinkKind::Reset, "ann@old.example"))
        .await
        .unwrap();
    // Moving off the old mailbox voids the link waiting in it.
    set_email(&store, ann, "ann@new.example").await;
    let spent = store
        .reset_with_link(&hash, "new-hash", &revoke_at(NOW), &[])
        .await
        .unwrap();
    assert!(spent.is_none());
    // A password changed another way voids the links still waiting.
    let newer = random_hash();
    store
        .insert_link(&newer, &link(ann, LinkKind::Reset, "ann@new.example"))
        .await
        .unwrap();
    store
        .change_password(ann, "changed-hash", &revoke_at(NOW), &[])
        .await
        .unwrap();
    assert!(
        store
            .link(&newer, LinkKind::Reset, NOW)
            .await
            .unwrap()
            .is_none()
    );
}

async fn case_is_ignored_beyond_ascii_on_both_databases(store: Arc<dyn Store>) {
    let ann = add_user(&store, "ann", &[]).await;
    let bob = add_user(&store, "bob", &[]).await;
    set_email(&store, ann, "ÄRGER@example.de").await;
    set_email(&store, bob, "ärger@example.de").await;
    let (anns, bobs) = (random_hash(), random_hash());
    store
        .insert_link(&anns, &link(ann, LinkKind::Verify, "ÄRGER@example.de"))
        .await
        .unwrap();
    store
        .insert_link(&bobs, &link(bob, LinkKind::Verify, "ärger@example.de"))
        .await
        .unwrap();
    assert!(matches!(
        store.verify_with_link(&anns, NOW, &[]).await.unwrap(),
        Verification::Verified(_)
    ));
    assert_eq!(
        store.verify_with_link(&bobs, NOW, &[]).await.unwrap(),
        Verification::Taken
    );
    let found = store
        .user_by_verified_email("Ärger@Example.de")
        .await
        .unwrap();
    assert_eq!(found.map(|s| s.user.id), Some(ann));
}
