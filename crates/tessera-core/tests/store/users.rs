//! Users: lookup, uniqueness, listing, profile updates, deletion and passwords,
//! with the audit each change records in its transaction. The suite's smoke
//! case (migrations are idempotent and the store answers) opens it; it ends
//! with an older build opening a database a newer one migrated further.

use crate::support::{
    DAY, MINUTE, NOW, add_session, add_user, audit_entry, audit_log, done, new_session, new_user,
    revoked_subjects, rotation,
};
use std::collections::HashSet;
use std::sync::Arc;
use tessera_core::secret::ExposeSecret;
use tessera_core::store::{
    FollowUp, Guarded, Revocation, RevocationKind, SessionRevocation, Store, StoreError,
    UserChanges,
};
use uuid::Uuid;

conformance!(
    migrations_are_idempotent_and_the_store_answers,
    users_are_found_by_username_ignoring_case_and_by_id,
    usernames_are_unique_ignoring_case,
    concurrent_inserts_of_one_username_admit_exactly_one,
    users_are_listed_by_lowercased_username_with_cursor_and_limit,
    update_user_sets_and_clears_profile_fields_roles_and_disabled,
    deleting_a_user_deletes_their_sessions_and_orphans_their_spent_tokens,
    password_hashes_are_replaced,
    insert_user_writes_the_first_session_and_audit_with_the_user_or_nothing,
    update_user_applies_its_follow_up_only_when_the_change_goes_through,
    delete_user_revokes_sessions_before_the_cascade_and_records_audit_or_nothing,
    change_password_revokes_all_but_the_exception_and_records_audit,
);

// ------------------------------------------------------------------- users

async fn migrations_are_idempotent_and_the_store_answers(store: Arc<dyn Store>) {
    store.migrate().await.expect("second migration run");
    store.ping().await.expect("ping");
    assert!(store.list_users(None, 10).await.expect("list").is_empty());
    assert!(store.signing_keys().await.expect("keys").is_empty());
}

async fn users_are_found_by_username_ignoring_case_and_by_id(store: Arc<dyn Store>) {
    let mut user = new_user("Alice.Smith", &["admin"]);
    user.email = Some("alice@example.com".into());
    user.first_name = Some("Alice".into());
    user.last_name = Some("Smith".into());
    user.phone = Some("+1 555 0100".into());
    let inserted = store.insert_user(&user, None, &[]).await.expect("insert");
    assert_eq!(inserted.id, user.id);
    assert_eq!(inserted.username, "Alice.Smith", "stored as registered");
    assert_eq!(inserted.roles, vec!["admin", "user"]);
    assert!(!inserted.disabled);
    assert_eq!((inserted.created_at, inserted.updated_at), (NOW, NOW));

    for spelling in ["Alice.Smith", "alice.smith", "ALICE.SMITH", "aLiCe.SmItH"] {
        let found = store
            .user_by_username(spelling)
            .await
            .expect("lookup")
            .unwrap_or_else(|| panic!("{spelling} not found"));
        assert_eq!(found.user, inserted, "{spelling}");
        assert_eq!(
            found.password_hash.expose_secret(),
            user.password_hash.expose_secret()
        );
    }
    let by_id = store
        .user_by_id(user.id)
        .await
        .expect("by id")
        .expect("found");
    assert_eq!(by_id.user, inserted);
    assert_eq!(by_id.user.email.as_deref(), Some("alice@example.com"));
    assert_eq!(by_id.user.phone.as_deref(), Some("+1 555 0100"));

    assert!(
        store
            .user_by_username("alice")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        store
            .user_by_username("alice.smith2")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        store
            .user_by_id(Uuid::new_v4())
            .await
            .expect("by id")
            .is_none()
    );
    // SQL metacharacters are data, not syntax.
    assert!(
        store
            .user_by_username("x' OR '1'='1")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(store.user_by_username("%").await.expect("lookup").is_none());
}

async fn usernames_are_unique_ignoring_case(store: Arc<dyn Store>) {
    add_user(&store, "bob", &[]).await;
    for taken in ["bob", "BOB", "Bob"] {
        let err = store
            .insert_user(&new_user(taken, &[]), None, &[])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict), "{taken}: {err:?}");
    }
    // A duplicate id is a conflict too.
    let mut same_id = new_user("robert", &[]);
    same_id.id = store
        .user_by_username("bob")
        .await
        .unwrap()
        .unwrap()
        .user
        .id;
    assert!(matches!(
        store.insert_user(&same_id, None, &[]).await.unwrap_err(),
        StoreError::Conflict
    ));
    assert_eq!(store.list_users(None, 10).await.unwrap().len(), 1);
    add_user(&store, "bobby", &[]).await;
}

async fn concurrent_inserts_of_one_username_admit_exactly_one(store: Arc<dyn Store>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = store.clone();
        let name = if i % 2 == 0 { "Carol" } else { "carol" };
        tasks.spawn(async move { store.insert_user(&new_user(name, &[]), None, &[]).await });
    }
    let (mut ok, mut conflicts) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict) => conflicts += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!((ok, conflicts), (1, 19));
    assert_eq!(store.list_users(None, 100).await.unwrap().len(), 1);
}

async fn users_are_listed_by_lowercased_username_with_cursor_and_limit(store: Arc<dyn Store>) {
    // Punctuation, digits and case: a linguistic collation (en_US) would
    // ignore the punctuation and interleave these differently from bytes.
    let names = [
        "zed", "Alpha", "a.bc", "a-bc", "a_bc", "a1bc", "A2bc", "abc", "ab.d", "ab-d", "ab_d",
        "ab0d", "_under", "-dash", ".dot", "9lives", "Beta", "b.a", "ba", "BAA",
    ];
    for n in names {
        add_user(&store, n, &[]).await;
    }
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.sort_by_key(|n| n.to_lowercase().into_bytes());

    let all: Vec<String> = store
        .list_users(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(all, expected, "one page");

    for page_size in [1u32, 3, 7] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = store
                .list_users(cursor.as_deref(), page_size)
                .await
                .unwrap();
            assert!(page.len() <= page_size as usize, "limit {page_size}");
            let Some(last) = page.last() else { break };
            cursor = Some(last.username.to_lowercase());
            seen.extend(page.into_iter().map(|u| u.username));
            assert!(seen.len() <= names.len(), "pagination does not end");
        }
        assert_eq!(seen, expected, "pages of {page_size}");
    }

    // The cursor is exclusive and need not name an existing user.
    let after_b: Vec<String> = store
        .list_users(Some("b"), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    let want: Vec<String> = expected
        .iter()
        .filter(|n| n.to_lowercase().as_str() > "b")
        .cloned()
        .collect();
    assert_eq!(after_b, want);
    assert!(store.list_users(Some("zed"), 100).await.unwrap().is_empty());
    assert_eq!(store.list_users(None, 2).await.unwrap().len(), 2);
}

async fn update_user_sets_and_clears_profile_fields_roles_and_disabled(store: Arc<dyn Store>) {
    let id = add_user(&store, "dave", &[]).await;
    let later = NOW + MINUTE;

    let set = UserChanges {
        email: Some(Some("dave@example.com".into())),
        first_name: Some(Some("Dave".into())),
        last_name: Some(Some("Jones".into())),
        phone: Some(Some("+44 20 7946 0000".into())),
        ..UserChanges::default()
    };
    let u = done(
        store
            .update_user(id, &set, later, &FollowUp::default())
            .await
            .unwrap(),
    );
    assert_eq!(u.email.as_deref(), Some("dave@example.com"));
    assert_eq!(u.first_name.as_deref(), Some("Dave"));
    assert_eq!(u.last_name.as_deref(), Some("Jones"));
    assert_eq!(u.phone.as_deref(), Some("+44 20 7946 0000"));
    assert_eq!((u.created_at, u.updated_at), (NOW, later));

    // Clearing one field leaves the others.
    let clear = UserChanges {
        phone: Some(None),
        first_name: Some(None),
        ..UserChanges::default()
    };
    let u = done(
        store
            .update_user(id, &clear, later + 1, &FollowUp::default())
            .await
            .unwrap(),
    );
    assert_eq!(u.phone, None);
    assert_eq!(u.first_name, None);
    assert_eq!(u.email.as_deref(), Some("dave@example.com"));
    assert_eq!(u.last_name.as_deref(), Some("Jones"));

    // An empty change touches only updated_at.
    let u = done(
        store
            .update_user(id, &UserChanges::default(), later + 2, &FollowUp::default())
            .await
            .unwrap(),
    );
    assert_eq!(u.email.as_deref(), Some("dave@example.com"));
    assert_eq!(u.updated_at, later + 2);

    let roles = UserChanges {
        roles: Some(vec!["auditor".into(), "user".into()]),
        ..UserChanges::default()
    };
    let u = done(
        store
            .update_user(id, &roles, later + 3, &FollowUp::default())
            .await
            .unwrap(),
    );
    assert_eq!(u.roles, vec!["auditor", "user"]);
    assert!(!u.is_admin());

    let disable = UserChanges {
        disabled: Some(true),
        ..UserChanges::default()
    };
    let u = done(
        store
            .update_user(id, &disable, later + 4, &FollowUp::default())
            .await
            .unwrap(),
    );
    assert!(u.disabled);
    assert_eq!(u.roles, vec!["auditor", "user"], "roles untouched");
    let stored = store.user_by_id(id).await.unwrap().unwrap();
    assert_eq!(stored.user, u, "the change is persisted");
    assert!(stored.user.disabled);

    let enable = UserChanges {
        disabled: Some(false),
        ..UserChanges::default()
    };
    assert!(
        !done(
            store
                .update_user(id, &enable, later + 5, &FollowUp::default())
                .await
                .unwrap()
        )
        .disabled
    );

    assert_eq!(
        store
            .update_user(Uuid::new_v4(), &set, later, &FollowUp::default())
            .await
            .unwrap(),
        Guarded::NotFound
    );
}

async fn deleting_a_user_deletes_their_sessions_and_orphans_their_spent_tokens(
    store: Arc<dyn Store>,
) {
    let erin = add_user(&store, "erin", &[]).await;
    let frank = add_user(&store, "frank", &[]).await;
    let (s1, h1) = add_session(&store, erin, NOW).await;
    let (s2, _) = add_session(&store, erin, NOW + 1).await;
    let (other, _) = add_session(&store, frank, NOW).await;
    store
        .rotate_refresh_token(&rotation(h1, NOW + MINUTE), None)
        .await
        .unwrap()
        .expect("rotated");
    assert!(store.spent_refresh_token(&h1).await.unwrap().is_some());

    done(store.delete_user(erin, &FollowUp::default()).await.unwrap());
    assert!(store.session_by_id(s1.id).await.unwrap().is_none());
    assert!(store.session_by_id(s2.id).await.unwrap().is_none());
    assert!(store.live_sessions(erin, NOW).await.unwrap().is_empty());
    // Its row stays until the purge, but no longer leads to a session.
    assert!(store.spent_refresh_token(&h1).await.unwrap().is_none());
    assert_eq!(store.session_by_id(other.id).await.unwrap(), Some(other));
}

async fn password_hashes_are_replaced(store: Arc<dyn Store>) {
    let id = add_user(&store, "grace", &[]).await;
    assert!(
        store
            .set_password_hash(id, "$argon2id$new", NOW + 5)
            .await
            .unwrap()
    );
    let u = store.user_by_username("GRACE").await.unwrap().unwrap();
    assert_eq!(u.password_hash.expose_secret(), "$argon2id$new");
    assert_eq!(u.user.updated_at, NOW + 5);
    assert!(
        !store
            .set_password_hash(Uuid::new_v4(), "x", NOW)
            .await
            .unwrap()
    );
}

// ------------------------------------------- audit in the same transaction

async fn insert_user_writes_the_first_session_and_audit_with_the_user_or_nothing(
    store: Arc<dyn Store>,
) {
    let user = new_user("Uma", &[]);
    let (first, _) = new_session(user.id, NOW);
    let id = user.id.to_string();
    let registered = audit_entry("user.registered", Some(&id), Some(&id));
    let inserted = store
        .insert_user(&user, Some(&first), std::slice::from_ref(&registered))
        .await
        .expect("insert with a first session");
    assert_eq!(inserted.id, user.id);
    assert_eq!(
        store.session_by_id(first.session.id).await.unwrap(),
        Some(first.session.clone())
    );
    assert_eq!(
        store.live_sessions(user.id, NOW).await.unwrap(),
        vec![first.session.clone()]
    );
    assert_eq!(audit_log(&store).await, vec![registered.clone()]);

    // A taken username: no user, no session, no audit entry.
    let taken = new_user("UMA", &[]);
    let (second, _) = new_session(taken.id, NOW + 1);
    let taken_id = taken.id.to_string();
    let err = store
        .insert_user(
            &taken,
            Some(&second),
            &[audit_entry(
                "user.registered",
                Some(&taken_id),
                Some(&taken_id),
            )],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert!(store.user_by_id(taken.id).await.unwrap().is_none());
    assert!(
        store
            .session_by_id(second.session.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(audit_log(&store).await, vec![registered.clone()]);

    // A first session that conflicts (a refresh hash already in use) takes
    // the user and the audit entry down with it.
    let free = new_user("victor", &[]);
    let (mut clash, _) = new_session(free.id, NOW + 2);
    clash.refresh_hash = first.refresh_hash;
    let err = store
        .insert_user(
            &free,
            Some(&clash),
            &[audit_entry("user.registered", None, Some("victor"))],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert!(store.user_by_username("victor").await.unwrap().is_none());
    assert!(
        store
            .session_by_id(clash.session.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(audit_log(&store).await, vec![registered]);
    // ...and the name is still free.
    add_user(&store, "victor", &[]).await;
}

async fn update_user_applies_its_follow_up_only_when_the_change_goes_through(
    store: Arc<dyn Store>,
) {
    let root = add_user(&store, "root", &["admin"]).await;
    let (s1, _) = add_session(&store, root, NOW).await;
    let (s2, _) = add_session(&store, root, NOW + 1).await;
    let demote = UserChanges {
        roles: Some(vec!["user".into()]),
        ..UserChanges::default()
    };
    let until = NOW + DAY;
    let cut_off = Revocation {
        kind: RevocationKind::User,
        subject: root.to_string(),
        not_before: NOW + 10,
        expires_at: until,
    };
    let updated = audit_entry("user.updated", Some("someone"), Some(&root.to_string()));
    let follow = FollowUp {
        revoke_sessions: Some(SessionRevocation {
            except: None,
            except_browser: None,
            now: NOW + 10,
            until,
        }),
        revocations: vec![cut_off.clone()],
        audit: vec![updated.clone()],
    };

    // Refused as the last admin: none of the follow-up happens.
    assert_eq!(
        store
            .update_user(root, &demote, NOW + 10, &follow)
            .await
            .unwrap(),
        Guarded::LastAdmin
    );
    assert!(store.active_revocations(NOW + 10).await.unwrap().is_empty());
    assert!(audit_log(&store).await.is_empty());
    assert_eq!(
        store.live_sessions(root, NOW + 10).await.unwrap(),
        vec![s2.clone(), s1.clone()],
        "sessions untouched"
    );
    // Nor for a user that does not exist.
    assert_eq!(
        store
            .update_user(Uuid::new_v4(), &demote, NOW + 10, &follow)
            .await
            .unwrap(),
        Guarded::NotFound
    );
    assert!(store.active_revocations(NOW + 10).await.unwrap().is_empty());
    assert!(audit_log(&store).await.is_empty());

    // With another admin the change goes through, and all of the follow-up with it.
    let other = add_user(&store, "other", &["admin"]).await;
    let (theirs, _) = add_session(&store, other, NOW).await;
    let u = done(
        store
            .update_user(root, &demote, NOW + 10, &follow)
            .await
            .unwrap(),
    );
    assert!(!u.is_admin());
    assert!(
        store
            .live_sessions(root, NOW + 11)
            .await
            .unwrap()
            .is_empty()
    );
    for s in [&s1, &s2] {
        assert_eq!(
            store.session_by_id(s.id).await.unwrap().unwrap().revoked_at,
            Some(NOW + 10)
        );
    }
    assert_eq!(
        store.live_sessions(other, NOW + 11).await.unwrap(),
        vec![theirs],
        "only the changed user's sessions"
    );
    assert_eq!(
        revoked_subjects(&store, NOW + 11).await,
        HashSet::from([
            (RevocationKind::Session, s1.id.to_string()),
            (RevocationKind::Session, s2.id.to_string()),
            (RevocationKind::User, root.to_string()),
        ])
    );
    assert!(
        store
            .active_revocations(NOW + 11)
            .await
            .unwrap()
            .contains(&cut_off)
    );
    assert_eq!(audit_log(&store).await, vec![updated]);
}

async fn delete_user_revokes_sessions_before_the_cascade_and_records_audit_or_nothing(
    store: Arc<dyn Store>,
) {
    let until = NOW + DAY;
    let follow_for = |id: Uuid| FollowUp {
        revoke_sessions: Some(SessionRevocation {
            except: None,
            except_browser: None,
            now: NOW + 10,
            until,
        }),
        revocations: vec![Revocation {
            kind: RevocationKind::User,
            subject: id.to_string(),
            not_before: NOW + 10,
            expires_at: until,
        }],
        audit: vec![audit_entry(
            "user.deleted",
            Some("someone"),
            Some(&id.to_string()),
        )],
    };

    // Refused as the last admin: nothing recorded, sessions untouched.
    let root = add_user(&store, "root", &["admin"]).await;
    let (root_session, _) = add_session(&store, root, NOW).await;
    assert_eq!(
        store.delete_user(root, &follow_for(root)).await.unwrap(),
        Guarded::LastAdmin
    );
    assert!(store.user_by_id(root).await.unwrap().is_some());
    assert_eq!(
        store.live_sessions(root, NOW + 10).await.unwrap(),
        vec![root_session]
    );
    assert!(store.active_revocations(NOW + 10).await.unwrap().is_empty());
    assert!(audit_log(&store).await.is_empty());
    // No such user: nothing recorded either.
    let ghost = Uuid::new_v4();
    assert_eq!(
        store.delete_user(ghost, &follow_for(ghost)).await.unwrap(),
        Guarded::NotFound
    );
    assert!(store.active_revocations(NOW + 10).await.unwrap().is_empty());
    assert!(audit_log(&store).await.is_empty());

    // Deleted: the sessions are gone with the user, their revocations remain.
    let wendy = add_user(&store, "wendy", &[]).await;
    let (a, _) = add_session(&store, wendy, NOW).await;
    let (b, _) = add_session(&store, wendy, NOW + 1).await;
    let follow = follow_for(wendy);
    assert_eq!(
        done(store.delete_user(wendy, &follow).await.unwrap()).username,
        "wendy"
    );
    for s in [&a, &b] {
        assert!(store.session_by_id(s.id).await.unwrap().is_none());
    }
    assert_eq!(
        revoked_subjects(&store, NOW + 11).await,
        HashSet::from([
            (RevocationKind::Session, a.id.to_string()),
            (RevocationKind::Session, b.id.to_string()),
            (RevocationKind::User, wendy.to_string()),
        ])
    );
    assert_eq!(audit_log(&store).await, follow.audit);
}

async fn change_password_revokes_all_but_the_exception_and_records_audit(store: Arc<dyn Store>) {
    let xena = add_user(&store, "xena", &[]).await;
    let yuri = add_user(&store, "yuri", &[]).await;
    let (a, _) = add_session(&store, xena, NOW).await;
    let (b, _) = add_session(&store, xena, NOW + 1).await;
    let (keep, _) = add_session(&store, xena, NOW + 2).await;
    let (theirs, _) = add_session(&store, yuri, NOW).await;
    let until = NOW + DAY;
    let revoke = SessionRevocation {
        except: Some(keep.id),
        except_browser: None,
        now: NOW + 10,
        until,
    };
    let changed = audit_entry(
        "password.changed",
        Some(&xena.to_string()),
        Some(&xena.to_string()),
    );

    let revoked = store
        .change_password(
            xena,
            "$argon2id$changed",
            &revoke,
            std::slice::from_ref(&changed),
        )
        .await
        .unwrap()
        .expect("the user exists");
    assert_eq!(
        revoked.iter().map(|s| s.id).collect::<HashSet<_>>(),
        HashSet::from([a.id, b.id])
    );
    assert!(revoked.iter().all(|s| s.revoked_at == Some(NOW + 10)));
    let stored = store.user_by_id(xena).await.unwrap().unwrap();
    assert_eq!(stored.password_hash.expose_secret(), "$argon2id$changed");
    assert_eq!(stored.user.updated_at, NOW + 10);
    assert_eq!(
        store.live_sessions(xena, NOW + 11).await.unwrap(),
        vec![keep]
    );
    assert_eq!(
        store.live_sessions(yuri, NOW + 11).await.unwrap(),
        vec![theirs]
    );
    assert_eq!(
        revoked_subjects(&store, NOW + 11).await,
        HashSet::from([
            (RevocationKind::Session, a.id.to_string()),
            (RevocationKind::Session, b.id.to_string()),
        ])
    );
    assert_eq!(audit_log(&store).await, vec![changed.clone()]);

    // No such user: None, and nothing recorded.
    assert_eq!(
        store
            .change_password(
                Uuid::new_v4(),
                "$argon2id$x",
                &SessionRevocation {
                    except: None,
                    except_browser: None,
                    now: NOW + 20,
                    until,
                },
                &[audit_entry("password.changed", None, Some("nobody"))],
            )
            .await
            .unwrap(),
        None
    );
    assert_eq!(audit_log(&store).await, vec![changed]);
    assert_eq!(store.active_revocations(NOW + 21).await.unwrap().len(), 2);
}

// ---------------------------------------------------- a newer build's schema

/// Marks the database at `url` as migrated by a build newer than this one.
async fn record_a_newer_migration(url: &str) {
    let sql = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
               VALUES (29991231000000, 'from a newer build', TRUE, $1, 0)";
    macro_rules! insert_with {
        ($pool:ty) => {{
            let pool = <$pool>::connect(url).await.expect("connect");
            sqlx::query(sql)
                .bind(vec![0u8])
                .execute(&pool)
                .await
                .expect("insert");
            pool.close().await;
        }};
    }
    if url.starts_with("sqlite:") {
        insert_with!(sqlx::SqlitePool);
    } else {
        insert_with!(sqlx::PgPool);
    }
}

/// During a rolling upgrade the old build starts on a database the new
/// one has migrated further: it must open it and work, not refuse.
async fn a_database_migrated_by_a_newer_build_still_opens(url: &str) {
    let store = tessera_core::store::connect(url).await.expect("first open");
    store.ping().await.expect("ping");
    drop(store);
    record_a_newer_migration(url).await;
    let store = tessera_core::store::connect(url)
        .await
        .expect("an older build opens a database migrated further");
    store
        .insert_user(&new_user("after-upgrade", &["user"]), None, &[])
        .await
        .expect("and writes to it");
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_build_still_opens_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = tessera_core::testing::fresh_sqlite_url(dir.path());
    a_database_migrated_by_a_newer_build_still_opens(&url).await;
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_build_still_opens_on_postgres() {
    let Some(url) = tessera_core::testing::fresh_postgres_url().await else {
        return;
    };
    a_database_migrated_by_a_newer_build_still_opens(&url).await;
}
