//! Second factors in the store: a TOTP factor is usable once confirmed and
//! accepts each time step once; recovery codes are single use and replaced
//! as a set; the last factor takes the codes with it; challenges are spent
//! once, by use or by too many wrong codes.

use crate::support::{DAY, MINUTE, NOW, add_user, audit_entry, audit_log, random_hash};
use std::sync::Arc;
use tessera_core::mfa::FactorKind;
use tessera_core::store::{Challenge, Store, StoredFactor};
use uuid::Uuid;

conformance!(
    a_totp_factor_is_confirmed_once_and_accepts_each_step_once,
    an_unconfirmed_factor_lapses_and_is_purged,
    recovery_codes_come_with_the_first_factor_work_once_and_are_replaced_as_a_set,
    the_last_factor_takes_the_recovery_codes_and_a_reset_takes_everything,
    a_challenge_is_spent_once_by_use_or_by_wrong_codes,
);

fn totp(user_id: Uuid, created_at: i64) -> StoredFactor {
    StoredFactor {
        id: Uuid::new_v4(),
        user_id,
        kind: FactorKind::Totp,
        name: "Phone".into(),
        secret: Some(vec![7; 20]),
        sealed: false,
        credential_id: None,
        credential: None,
        last_step: None,
        confirmed_at: None,
        expires_at: Some(created_at + 10 * MINUTE),
        created_at,
        last_used_at: None,
    }
}

fn codes(n: u8) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![i; 32]).collect()
}

async fn a_totp_factor_is_confirmed_once_and_accepts_each_step_once(store: Arc<dyn Store>) {
    let ann = add_user(&store, "ann", &[]).await;
    let factor = totp(ann, NOW);
    store.insert_factor(&factor, &[]).await.unwrap();
    assert!(
        store.factors_of(ann).await.unwrap().is_empty(),
        "not active yet"
    );
    assert_eq!(
        store.factor_of(ann, factor.id, NOW).await.unwrap().as_ref(),
        Some(&factor)
    );
    assert!(store.users_with_factors(&[ann]).await.unwrap().is_empty());

    let added = audit_entry("factor.added", Some("ann"), Some("ann"));
    let first = store
        .confirm_factor(
            ann,
            factor.id,
            Some(100),
            NOW + MINUTE,
            &codes(10),
            std::slice::from_ref(&added),
        )
        .await
        .unwrap();
    assert_eq!(first, Some(true), "the first factor stores the codes");
    assert_eq!(audit_log(&store).await, vec![added]);
    assert_eq!(
        store
            .confirm_factor(ann, factor.id, Some(101), NOW + MINUTE, &codes(10), &[])
            .await
            .unwrap(),
        None,
        "confirmed once"
    );
    let active = store.factors_of(ann).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].confirmed_at, Some(NOW + MINUTE));
    assert_eq!(active[0].expires_at, None);
    assert_eq!(active[0].last_step, Some(100));
    assert_eq!(
        store
            .users_with_factors(&[ann, Uuid::new_v4()])
            .await
            .unwrap(),
        vec![ann]
    );

    // The confirming code's step, and any earlier one, never again.
    assert!(!store.use_totp_step(factor.id, 100, NOW).await.unwrap());
    assert!(!store.use_totp_step(factor.id, 99, NOW).await.unwrap());
    assert!(
        store
            .use_totp_step(factor.id, 101, NOW + 2 * MINUTE)
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_totp_step(factor.id, 101, NOW + 2 * MINUTE)
            .await
            .unwrap()
    );
    let used = store.factors_of(ann).await.unwrap();
    assert_eq!(used[0].last_used_at, Some(NOW + 2 * MINUTE));

    // A second factor does not replace the codes.
    let second = totp(ann, NOW + MINUTE);
    store.insert_factor(&second, &[]).await.unwrap();
    assert_eq!(
        store
            .confirm_factor(ann, second.id, Some(5), NOW + 2 * MINUTE, &codes(3), &[])
            .await
            .unwrap(),
        Some(false)
    );
    assert_eq!(store.recovery_codes_left(ann).await.unwrap(), 10);
    // Another person's factor is not theirs to see.
    let bob = add_user(&store, "bob", &[]).await;
    assert_eq!(store.factor_of(bob, factor.id, NOW).await.unwrap(), None);
}

async fn an_unconfirmed_factor_lapses_and_is_purged(store: Arc<dyn Store>) {
    let cy = add_user(&store, "cy", &[]).await;
    let factor = totp(cy, NOW);
    store.insert_factor(&factor, &[]).await.unwrap();
    let lapsed = NOW + 10 * MINUTE;
    assert_eq!(store.factor_of(cy, factor.id, lapsed).await.unwrap(), None);
    assert_eq!(
        store
            .confirm_factor(cy, factor.id, Some(1), lapsed, &codes(10), &[])
            .await
            .unwrap(),
        None
    );
    store.purge_expired(lapsed, lapsed - DAY).await.unwrap();
    assert_eq!(
        store.factor_of(cy, factor.id, NOW).await.unwrap(),
        None,
        "purged"
    );
}

async fn recovery_codes_come_with_the_first_factor_work_once_and_are_replaced_as_a_set(
    store: Arc<dyn Store>,
) {
    let di = add_user(&store, "di", &[]).await;
    let factor = totp(di, NOW);
    store.insert_factor(&factor, &[]).await.unwrap();
    store
        .confirm_factor(di, factor.id, Some(1), NOW, &codes(10), &[])
        .await
        .unwrap();
    assert!(store.use_recovery_code(di, &[3; 32], NOW).await.unwrap());
    assert!(
        !store.use_recovery_code(di, &[3; 32], NOW).await.unwrap(),
        "once"
    );
    assert!(!store.use_recovery_code(di, &[99; 32], NOW).await.unwrap());
    let eve = add_user(&store, "eve", &[]).await;
    assert!(
        !store.use_recovery_code(eve, &[4; 32], NOW).await.unwrap(),
        "not eve's"
    );
    assert_eq!(store.recovery_codes_left(di).await.unwrap(), 9);

    let regenerated = audit_entry("recovery_codes.regenerated", Some("di"), Some("di"));
    let fresh: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i + 100; 32]).collect();
    store
        .replace_recovery_codes(di, &fresh, std::slice::from_ref(&regenerated))
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(di).await.unwrap(), 10);
    assert!(
        !store.use_recovery_code(di, &[4; 32], NOW).await.unwrap(),
        "old set void"
    );
    assert!(store.use_recovery_code(di, &[104; 32], NOW).await.unwrap());
    assert_eq!(audit_log(&store).await, vec![regenerated]);
}

async fn the_last_factor_takes_the_recovery_codes_and_a_reset_takes_everything(
    store: Arc<dyn Store>,
) {
    let fay = add_user(&store, "fay", &[]).await;
    let (a, b) = (totp(fay, NOW), totp(fay, NOW + 1));
    for f in [&a, &b] {
        store.insert_factor(f, &[]).await.unwrap();
        store
            .confirm_factor(fay, f.id, Some(1), NOW, &codes(10), &[])
            .await
            .unwrap();
    }
    let removed = audit_entry("factor.removed", Some("fay"), Some("fay"));
    assert!(
        store
            .remove_factor(fay, a.id, std::slice::from_ref(&removed))
            .await
            .unwrap()
    );
    assert!(
        !store.remove_factor(fay, a.id, &[]).await.unwrap(),
        "gone already"
    );
    assert_eq!(
        store.recovery_codes_left(fay).await.unwrap(),
        10,
        "one factor left"
    );
    assert!(store.remove_factor(fay, b.id, &[]).await.unwrap());
    assert_eq!(
        store.recovery_codes_left(fay).await.unwrap(),
        0,
        "the last took them"
    );
    assert_eq!(audit_log(&store).await, vec![removed]);

    let gus = add_user(&store, "gus", &[]).await;
    let c = totp(gus, NOW);
    store.insert_factor(&c, &[]).await.unwrap();
    store
        .confirm_factor(gus, c.id, Some(1), NOW, &codes(10), &[])
        .await
        .unwrap();
    store.remove_all_factors(gus, &[]).await.unwrap();
    assert!(store.factors_of(gus).await.unwrap().is_empty());
    assert_eq!(store.recovery_codes_left(gus).await.unwrap(), 0);
}

async fn a_challenge_is_spent_once_by_use_or_by_wrong_codes(store: Arc<dyn Store>) {
    let hal = add_user(&store, "hal", &[]).await;
    let challenge = Challenge {
        user_id: Some(hal),
        purpose: "login".into(),
        state: Some("{\"step\":1}".into()),
        failures: 0,
        expires_at: NOW + 5 * MINUTE,
    };
    let (used, guessed) = (random_hash(), random_hash());
    for hash in [&used, &guessed] {
        store.insert_challenge(hash, &challenge).await.unwrap();
    }
    assert_eq!(
        store.challenge(&used, "login", NOW).await.unwrap(),
        Some(challenge.clone())
    );
    assert_eq!(
        store.challenge(&used, "enrollment", NOW).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .challenge(&used, "login", NOW + 5 * MINUTE)
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert!(store.spend_challenge(&used, NOW).await.unwrap());
    assert!(!store.spend_challenge(&used, NOW).await.unwrap(), "once");
    assert_eq!(store.challenge(&used, "login", NOW).await.unwrap(), None);

    for n in 1..=4 {
        assert_eq!(store.challenge_failed(&guessed, 5, NOW).await.unwrap(), n);
        assert!(
            store
                .challenge(&guessed, "login", NOW)
                .await
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(store.challenge_failed(&guessed, 5, NOW).await.unwrap(), 5);
    assert_eq!(
        store.challenge(&guessed, "login", NOW).await.unwrap(),
        None,
        "five wrong codes spend it"
    );
    store.purge_expired(NOW + 5 * MINUTE, NOW).await.unwrap();
    assert!(!store.spend_challenge(&guessed, NOW).await.unwrap());
}
