//! The admin guard: no update or deletion, however concurrent, leaves the store
//! without an enabled admin.

use crate::support::{NOW, add_user, done};
use std::sync::Arc;
use tessera_core::store::{FollowUp, Guarded, Store, UserChanges};
use uuid::Uuid;

conformance!(
    update_user_keeps_an_enabled_admin,
    delete_user_keeps_an_enabled_admin,
    concurrent_demotions_and_deletions_keep_an_enabled_admin,
);

async fn update_user_keeps_an_enabled_admin(store: Arc<dyn Store>) {
    let root = add_user(&store, "root", &["admin"]).await;
    let plain = add_user(&store, "plain", &[]).await;
    let demote = UserChanges {
        roles: Some(vec!["user".into()]),
        ..UserChanges::default()
    };
    let disable = UserChanges {
        disabled: Some(true),
        ..UserChanges::default()
    };
    let demote_and_disable = UserChanges {
        roles: Some(vec!["user".into()]),
        disabled: Some(true),
        ..UserChanges::default()
    };

    // The only enabled admin can be neither demoted nor disabled.
    for change in [&demote, &disable, &demote_and_disable] {
        assert_eq!(
            store
                .update_user(root, change, NOW, &FollowUp::default())
                .await
                .unwrap(),
            Guarded::LastAdmin,
            "{change:?}"
        );
    }
    let still = store.user_by_id(root).await.unwrap().unwrap().user;
    assert!(
        still.is_admin() && !still.disabled,
        "refused changes leave no trace"
    );
    // ...but other changes to them go through, including re-stating admin.
    let profile = UserChanges {
        email: Some(Some("root@example.com".into())),
        roles: Some(vec!["admin".into(), "ops".into(), "user".into()]),
        disabled: Some(false),
        ..UserChanges::default()
    };
    done(
        store
            .update_user(root, &profile, NOW, &FollowUp::default())
            .await
            .unwrap(),
    );
    // Changes to non-admins are never guarded.
    done(
        store
            .update_user(plain, &disable, NOW, &FollowUp::default())
            .await
            .unwrap(),
    );
    done(
        store
            .update_user(plain, &demote, NOW, &FollowUp::default())
            .await
            .unwrap(),
    );

    // A disabled admin does not count as the other admin.
    let sleeper = add_user(&store, "sleeper", &["admin"]).await;
    done(
        store
            .update_user(sleeper, &disable, NOW, &FollowUp::default())
            .await
            .unwrap(),
    );
    assert_eq!(
        store
            .update_user(root, &demote, NOW, &FollowUp::default())
            .await
            .unwrap(),
        Guarded::LastAdmin
    );

    // With a second enabled admin, the first may go; then the second is the last.
    let second = add_user(&store, "second", &["admin"]).await;
    let u = done(
        store
            .update_user(root, &demote, NOW, &FollowUp::default())
            .await
            .unwrap(),
    );
    assert!(!u.is_admin());
    assert_eq!(
        store
            .update_user(second, &disable, NOW, &FollowUp::default())
            .await
            .unwrap(),
        Guarded::LastAdmin
    );
    // Re-enabling the disabled admin makes room again.
    let enable = UserChanges {
        disabled: Some(false),
        ..UserChanges::default()
    };
    done(
        store
            .update_user(sleeper, &enable, NOW, &FollowUp::default())
            .await
            .unwrap(),
    );
    assert!(
        done(
            store
                .update_user(second, &disable, NOW, &FollowUp::default())
                .await
                .unwrap()
        )
        .disabled
    );
    // Promoting a user is always allowed.
    let promote = UserChanges {
        roles: Some(vec!["admin".into(), "user".into()]),
        ..UserChanges::default()
    };
    assert!(
        done(
            store
                .update_user(plain, &promote, NOW, &FollowUp::default())
                .await
                .unwrap()
        )
        .is_admin()
    );
}

async fn delete_user_keeps_an_enabled_admin(store: Arc<dyn Store>) {
    let root = add_user(&store, "root", &["admin"]).await;
    let plain = add_user(&store, "plain", &[]).await;
    assert_eq!(
        store.delete_user(root, &FollowUp::default()).await.unwrap(),
        Guarded::LastAdmin
    );
    assert!(store.user_by_id(root).await.unwrap().is_some());

    let deleted = done(
        store
            .delete_user(plain, &FollowUp::default())
            .await
            .unwrap(),
    );
    assert_eq!(deleted.username, "plain");
    assert!(store.user_by_id(plain).await.unwrap().is_none());
    assert_eq!(
        store
            .delete_user(plain, &FollowUp::default())
            .await
            .unwrap(),
        Guarded::NotFound
    );
    assert_eq!(
        store
            .delete_user(Uuid::new_v4(), &FollowUp::default())
            .await
            .unwrap(),
        Guarded::NotFound
    );

    // A disabled admin can always be deleted, and does not count as another admin.
    let sleeper = add_user(&store, "sleeper", &["admin"]).await;
    let disable = UserChanges {
        disabled: Some(true),
        ..UserChanges::default()
    };
    done(
        store
            .update_user(sleeper, &disable, NOW, &FollowUp::default())
            .await
            .unwrap(),
    );
    assert_eq!(
        store.delete_user(root, &FollowUp::default()).await.unwrap(),
        Guarded::LastAdmin
    );
    done(
        store
            .delete_user(sleeper, &FollowUp::default())
            .await
            .unwrap(),
    );

    // With two enabled admins, either may be deleted; then the other is the last.
    let second = add_user(&store, "second", &["admin"]).await;
    assert_eq!(
        done(store.delete_user(root, &FollowUp::default()).await.unwrap()).username,
        "root"
    );
    assert_eq!(
        store
            .delete_user(second, &FollowUp::default())
            .await
            .unwrap(),
        Guarded::LastAdmin
    );
    // The name is free again.
    add_user(&store, "ROOT", &[]).await;
}

async fn concurrent_demotions_and_deletions_keep_an_enabled_admin(store: Arc<dyn Store>) {
    let demote = UserChanges {
        roles: Some(vec!["user".into()]),
        ..UserChanges::default()
    };
    let disable = UserChanges {
        disabled: Some(true),
        ..UserChanges::default()
    };
    let enabled_admins = |store: Arc<dyn Store>| async move {
        store
            .list_users(None, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.is_admin() && !u.disabled)
            .map(|u| u.id)
            .collect::<Vec<_>>()
    };
    let mut a = add_user(&store, "admin-a", &["admin"]).await;
    for round in 0..12 {
        // Exactly two enabled admins, each removed by a different request at once.
        let b = add_user(&store, &format!("admin-b{round}"), &["admin"]).await;
        assert_eq!(enabled_admins(store.clone()).await.len(), 2);
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = tokio::task::JoinSet::new();
        for (id, how) in [(a, round % 3), (b, (round / 3) % 3)] {
            let (store, barrier) = (store.clone(), barrier.clone());
            let (demote, disable) = (demote.clone(), disable.clone());
            tasks.spawn(async move {
                barrier.wait().await;
                let outcome = match how {
                    0 => store
                        .update_user(id, &demote, NOW, &FollowUp::default())
                        .await
                        .map(|g| g.into_unit()),
                    1 => store
                        .update_user(id, &disable, NOW, &FollowUp::default())
                        .await
                        .map(|g| g.into_unit()),
                    _ => store
                        .delete_user(id, &FollowUp::default())
                        .await
                        .map(|g| g.into_unit()),
                };
                outcome.expect("guarded change")
            });
        }
        let mut outcomes = Vec::new();
        while let Some(r) = tasks.join_next().await {
            outcomes.push(r.expect("task"));
        }
        outcomes.sort_by_key(|g| *g == Guarded::LastAdmin);
        assert_eq!(
            outcomes,
            vec![Guarded::Done(()), Guarded::LastAdmin],
            "round {round}: exactly one of the two is refused"
        );
        let left = enabled_admins(store.clone()).await;
        assert_eq!(left.len(), 1, "round {round}: one enabled admin remains");
        a = left[0];
    }
}

trait IntoUnit {
    fn into_unit(self) -> Guarded<()>;
}
impl<T> IntoUnit for Guarded<T> {
    fn into_unit(self) -> Guarded<()> {
        match self {
            Guarded::Done(_) => Guarded::Done(()),
            Guarded::NotFound => Guarded::NotFound,
            Guarded::LastAdmin => Guarded::LastAdmin,
        }
    }
}
