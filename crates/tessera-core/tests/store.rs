//! The conformance suite of the `Store` trait: every case is one async
//! function over `Arc<dyn Store>`, run on SQLite (a file in a tempdir) and on
//! PostgreSQL (a fresh schema; skipped when no server answers, except under
//! `CI=true`, where an unreachable PostgreSQL fails the test).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use tessera_core::events::NewEvent;
use tessera_core::model::Session;
use tessera_core::oauth::{GrantType, OAuthClient, StoredClient};
use tessera_core::secret::ExposeSecret;
use tessera_core::store::{
    AuditEntry, AuditQuery, AuthorizationCode, BrowserSession, FollowUp, Guarded,
    NewBrowserSession, NewSession, NewUser, Redemption, Revocation, RevocationKind, Rotation,
    SessionRevocation, Store, StoreError, StoredKey, UserChanges,
};
use tessera_token::clock::Millis;
use tessera_token::crypto::sha256;
use tessera_token::keys::KeyPurpose;
use uuid::Uuid;

/// A fixed "now" for the suite; the store never reads a clock itself.
const NOW: Millis = 1_700_000_000_000;
const MINUTE: Millis = 60_000;
const DAY: Millis = 86_400_000;

/// Generates, for every case, a test on SQLite and one on PostgreSQL.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let url = tessera_core::testing::fresh_sqlite_url(dir.path());
                    let store = tessera_core::store::connect(&url).await.expect("connect to SQLite");
                    super::$case(store).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(url) = tessera_core::testing::fresh_postgres_url().await else {
                        return;
                    };
                    let store = tessera_core::store::connect(&url).await.expect("connect to PostgreSQL");
                    super::$case(store).await;
                }
            )*
        }
    };
}

conformance!(
    migrations_are_idempotent_and_the_store_answers,
    users_are_found_by_username_ignoring_case_and_by_id,
    usernames_are_unique_ignoring_case,
    concurrent_inserts_of_one_username_admit_exactly_one,
    users_are_listed_by_lowercased_username_with_cursor_and_limit,
    update_user_sets_and_clears_profile_fields_roles_and_disabled,
    update_user_keeps_an_enabled_admin,
    delete_user_keeps_an_enabled_admin,
    deleting_a_user_deletes_their_sessions_and_spent_tokens,
    password_hashes_are_replaced,
    sessions_are_inserted_found_and_listed_live_newest_first,
    a_refresh_token_rotates_exactly_once,
    rotation_is_capped_by_the_absolute_lifetime_and_refused_on_dead_sessions,
    spent_tokens_return_the_sealed_successor_only_for_the_latest,
    revoke_session_records_a_durable_revocation,
    revoke_user_sessions_spares_the_exception_and_other_users,
    insert_revocations_upserts_keeping_the_later_cutoffs,
    purge_expired_forgets_dead_revocations_and_sessions,
    signing_keys_are_unique_per_generation_and_ordered_newest_first,
    audit_entries_are_appended_and_filtered,
    audit_retention_forgets_only_older_entries,
    events_are_written_with_revocations_and_purged_but_the_newest_kept,
    concurrent_rotations_of_one_token_mint_exactly_one_successor,
    concurrent_demotions_and_deletions_keep_an_enabled_admin,
    login_throttle_counts_failures_per_key_within_a_window_and_blocks,
    rate_limits_count_hits_in_fixed_windows,
    concurrent_throttle_and_rate_limit_counts_are_exact,
    insert_user_writes_the_first_session_and_audit_with_the_user_or_nothing,
    update_user_applies_its_follow_up_only_when_the_change_goes_through,
    delete_user_revokes_sessions_before_the_cascade_and_records_audit_or_nothing,
    change_password_revokes_all_but_the_exception_and_records_audit,
    rotate_refresh_token_records_audit_for_the_sessions_user_only_when_it_rotates,
    revoke_session_records_audit_only_for_an_existing_session,
    insert_signing_key_records_audit_only_when_it_takes_the_generation,
    throttle_failure_records_its_audit_entry_with_the_count,
    insert_session_and_revoke_user_sessions_record_their_audit,
    clients_are_inserted_listed_oldest_first_and_found_with_their_secret_hash,
    deleting_a_client_revokes_its_sessions_with_events_and_revocations,
    a_browser_session_is_found_by_its_cookie_hash_only_while_live,
    a_live_browser_session_can_be_reauthenticated_an_ended_one_cannot,
    ending_a_browser_session_revokes_the_token_sessions_that_came_through_it,
    an_authorization_code_is_redeemed_exactly_once,
    concurrent_redemptions_of_one_code_admit_exactly_one,
    a_logout_racing_a_redemption_never_leaves_a_live_token_session,
    an_expired_or_unknown_code_is_not_redeemed,
    session_by_refresh_hash_finds_the_session_of_the_current_token_only,
    revoke_access_token_records_the_revocation_a_token_revoked_event_and_audit,
    purge_oauth_forgets_expired_codes_and_ended_browser_sessions,
    revoke_user_sessions_also_ends_the_users_browser_sessions,
    deleting_a_user_forgets_their_browser_sessions_and_codes,
    a_refresh_token_rotates_only_for_the_client_its_session_belongs_to,
);

// ---------------------------------------------------------------- helpers

fn new_user(username: &str, roles: &[&str]) -> NewUser {
    let mut roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    roles.push("user".into());
    roles.sort();
    roles.dedup();
    NewUser {
        id: Uuid::new_v4(),
        username: username.into(),
        email: None,
        first_name: None,
        last_name: None,
        phone: None,
        roles,
        password_hash: format!("$argon2id$v=19$m=64,t=1,p=1$c2FsdA$hash-of-{username}").into(),
        now: NOW,
    }
}

async fn add_user(store: &Arc<dyn Store>, username: &str, roles: &[&str]) -> Uuid {
    store
        .insert_user(&new_user(username, roles), None, &[])
        .await
        .expect("insert user")
        .id
}

fn random_hash() -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    out[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    out
}

/// A session of `user_id` created at `created_at`, idle-expiring a day later.
fn new_session(user_id: Uuid, created_at: Millis) -> (NewSession, [u8; 32]) {
    let hash = random_hash();
    let session = Session {
        id: Uuid::new_v4(),
        user_id,
        created_at,
        last_used_at: created_at,
        expires_at: created_at + DAY,
        max_expires_at: created_at + 90 * DAY,
        revoked_at: None,
        user_agent: Some("store-test/1.0".into()),
        ip: Some("192.0.2.7".into()),
        client_id: None,
        scope: None,
        browser_session_id: None,
        auth_time: created_at,
    };
    (
        NewSession {
            session,
            refresh_hash: hash,
        },
        hash,
    )
}

async fn add_session(
    store: &Arc<dyn Store>,
    user_id: Uuid,
    created_at: Millis,
) -> (Session, [u8; 32]) {
    let (new, hash) = new_session(user_id, created_at);
    store
        .insert_session(&new, &[])
        .await
        .expect("insert session");
    (new.session, hash)
}

fn rotation(old: [u8; 32], now: Millis) -> Rotation {
    Rotation {
        old_hash: old,
        new_hash: random_hash(),
        sealed_new: random_hash().to_vec(),
        now,
        idle_ttl_ms: DAY,
        client_id: None,
    }
}

fn done<T: std::fmt::Debug>(g: Guarded<T>) -> T {
    match g {
        Guarded::Done(v) => v,
        other => panic!("expected Done, got {other:?}"),
    }
}

/// An audit entry as a caller hands it to the store (the store assigns the id).
fn audit_entry(event: &str, actor: Option<&str>, subject: Option<&str>) -> AuditEntry {
    AuditEntry {
        id: 0,
        at: NOW,
        event: event.into(),
        actor: actor.map(Into::into),
        subject: subject.map(Into::into),
        ip: Some("192.0.2.7".into()),
        user_agent: Some("store-test/1.0".into()),
        outcome: "success".into(),
        detail: Some(r#"{"via":"store-test"}"#.into()),
        stream_event: None,
    }
}

/// The whole audit log, newest first, with the store's ids cleared so
/// entries compare equal to what was handed in.
async fn audit_log(store: &Arc<dyn Store>) -> Vec<AuditEntry> {
    store
        .audit_entries(&AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("audit entries")
        .into_iter()
        .map(|e| AuditEntry { id: 0, ..e })
        .collect()
}

/// The subjects of the revocations in force at `now`, by kind.
async fn revoked_subjects(
    store: &Arc<dyn Store>,
    now: Millis,
) -> HashSet<(RevocationKind, String)> {
    store
        .active_revocations(now)
        .await
        .expect("active revocations")
        .into_iter()
        .map(|r| (r.kind, r.subject))
        .collect()
}

// ------------------------------------------------------------------ cases

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

async fn deleting_a_user_deletes_their_sessions_and_spent_tokens(store: Arc<dyn Store>) {
    let erin = add_user(&store, "erin", &[]).await;
    let frank = add_user(&store, "frank", &[]).await;
    let (s1, h1) = add_session(&store, erin, NOW).await;
    let (s2, _) = add_session(&store, erin, NOW + 1).await;
    let (other, _) = add_session(&store, frank, NOW).await;
    store
        .rotate_refresh_token(&rotation(h1, NOW + MINUTE), &[])
        .await
        .unwrap()
        .expect("rotated");
    assert!(store.spent_refresh_token(&h1).await.unwrap().is_some());

    done(store.delete_user(erin, &FollowUp::default()).await.unwrap());
    assert!(store.session_by_id(s1.id).await.unwrap().is_none());
    assert!(store.session_by_id(s2.id).await.unwrap().is_none());
    assert!(store.live_sessions(erin, NOW).await.unwrap().is_empty());
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
        .rotate_refresh_token(&r1, &[])
        .await
        .unwrap()
        .expect("first rotation");
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
            .rotate_refresh_token(&rotation(h0, NOW + MINUTE), &[])
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .rotate_refresh_token(&rotation(h0, NOW + 2 * MINUTE), &[])
            .await
            .unwrap()
            .is_none()
    );
    // An unknown token: nothing.
    assert!(
        store
            .rotate_refresh_token(&rotation(random_hash(), NOW), &[])
            .await
            .unwrap()
            .is_none()
    );
    // The new token rotates, once.
    let r2 = rotation(r1.new_hash, NOW + 2 * MINUTE);
    assert!(
        store
            .rotate_refresh_token(&r2, &[])
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .rotate_refresh_token(&rotation(r1.new_hash, NOW + 3 * MINUTE), &[])
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .rotate_refresh_token(&rotation(r2.new_hash, NOW + 3 * MINUTE), &[])
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
        .rotate_refresh_token(&rotation(h, NOW + MINUTE), &[])
        .await
        .unwrap()
        .expect("rotated");
    assert_eq!(
        rotated.expires_at,
        NOW + 2 * MINUTE,
        "never past max_expires_at"
    );

    // Expired: refused (expiry is exclusive).
    let (expired, h) = add_session(&store, kim, NOW).await;
    assert!(
        store
            .rotate_refresh_token(&rotation(h, expired.expires_at), &[])
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
            .rotate_refresh_token(&rotation(h, NOW + 1), &[])
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
        .rotate_refresh_token(&r1, &[])
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
        .rotate_refresh_token(&r2, &[])
        .await
        .unwrap()
        .expect("rotate t1");
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
        .rotate_refresh_token(&rotation(h, cutoff - 2 * DAY + 1), &[])
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
    // Revocations: old, edge, and the two session revocations until `cutoff`; sessions: two.
    assert_eq!(purged, 4 + 2);
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
                .rotate_refresh_token(&r, &[])
                .await
                .map(|s| s.map(|s| (s, r.new_hash, r.sealed_new)))
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
            .rotate_refresh_token(&rotation(new_hash, NOW + DAY / 2), &[])
            .await
            .unwrap()
            .is_some()
    );
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
        .rotate_refresh_token(&r1, std::slice::from_ref(&refreshed))
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
            .rotate_refresh_token(
                &rotation(h0, NOW + 2 * MINUTE),
                std::slice::from_ref(&refreshed)
            )
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .rotate_refresh_token(
                &rotation(random_hash(), NOW + 2 * MINUTE),
                std::slice::from_ref(&refreshed)
            )
            .await
            .unwrap()
            .is_none()
    );
    let (expired, h_expired) = add_session(&store, zoe, NOW).await;
    assert!(
        store
            .rotate_refresh_token(
                &rotation(h_expired, expired.expires_at),
                std::slice::from_ref(&refreshed)
            )
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(audit_log(&store).await, vec![attributed.clone()]);

    // An entry that names its actor and subject keeps them.
    let named = audit_entry("token.refreshed", Some("actor-x"), Some("subject-y"));
    let r2 = rotation(r1.new_hash, NOW + 3 * MINUTE);
    let rotated = store
        .rotate_refresh_token(&r2, std::slice::from_ref(&named))
        .await
        .unwrap()
        .expect("rotated again");
    assert_eq!(rotated.id, session.id);
    assert_eq!(audit_log(&store).await, vec![named, attributed]);
}

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

async fn events_are_written_with_revocations_and_purged_but_the_newest_kept(store: Arc<dyn Store>) {
    // An audit entry's stream event is written with it, in its transaction.
    let first = AuditEntry {
        at: NOW - 10_000,
        stream_event: Some(NewEvent {
            kind: "login.succeeded",
            sub: Some("u1".into()),
            payload: serde_json::json!({"sub": "u1", "username": "alice"}),
        }),
        ..audit_entry("login.succeeded", Some("u1"), Some("alice"))
    };
    let second = AuditEntry {
        at: NOW,
        stream_event: Some(NewEvent {
            kind: "key.rotated",
            sub: None,
            payload: serde_json::json!({"kid": "kid-1"}),
        }),
        ..audit_entry("key.rotated", None, Some("kid-1"))
    };
    // An entry without one writes none.
    store
        .append_audit(&audit_entry("register", Some("u2"), Some("bob")))
        .await
        .unwrap();
    store.append_audit(&first).await.unwrap();
    store.append_audit(&second).await.unwrap();
    let events = store.events_after(0, 10).await.unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.admin_only))
        .collect();
    assert_eq!(
        kinds,
        vec![("login.succeeded", true), ("key.rotated", false)]
    );
    assert!(events[0].seq < events[1].seq);
    assert_eq!(events[0].payload["username"], "alice");
    // Purging everything still keeps the newest, so `seq` keeps counting up.
    assert_eq!(store.purge_events(i64::MAX).await.unwrap(), 1);
    let (oldest, newest) = store.event_bounds().await.unwrap();
    assert_eq!((oldest, newest), (Some(events[1].seq), Some(events[1].seq)));
}

// ------------------------------------------------ OAuth and single sign-on

fn oauth_client(client_id: &str, secret: Option<&str>, created_at: Millis) -> StoredClient {
    StoredClient {
        client: OAuthClient {
            client_id: client_id.into(),
            name: format!("App {client_id}"),
            confidential: secret.is_some(),
            redirect_uris: vec![format!("https://{client_id}.example/cb")],
            post_logout_redirect_uris: vec![format!("https://{client_id}.example/bye")],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: vec!["openid".into(), "profile".into()],
            id_token_alg: secret.map(|_| "ES256".to_owned()),
            created_at,
        },
        secret_hash: secret.map(|s| sha256(s.as_bytes())),
    }
}

async fn add_client(store: &Arc<dyn Store>, client_id: &str) {
    store
        .insert_client(&oauth_client(client_id, None, NOW), &[])
        .await
        .expect("insert client");
}

/// A session like [`new_session`]'s, issued to `client_id` through `browser`.
async fn add_oauth_session(
    store: &Arc<dyn Store>,
    user_id: Uuid,
    client_id: Option<&str>,
    browser: Option<Uuid>,
) -> (Session, [u8; 32]) {
    let (mut new, hash) = new_session(user_id, NOW);
    new.session.client_id = client_id.map(Into::into);
    new.session.scope = client_id.map(|_| "openid profile".to_owned());
    new.session.browser_session_id = browser;
    store
        .insert_session(&new, &[])
        .await
        .expect("insert session");
    (new.session, hash)
}

/// A browser session of `user_id` from `NOW`, live for a day; its cookie hash.
async fn add_browser_session(store: &Arc<dyn Store>, user_id: Uuid) -> (BrowserSession, [u8; 32]) {
    add_browser_session_until(store, user_id, NOW + DAY).await
}

/// A browser session of `user_id` from `NOW` until `expires_at`; its cookie hash.
async fn add_browser_session_until(
    store: &Arc<dyn Store>,
    user_id: Uuid,
    expires_at: Millis,
) -> (BrowserSession, [u8; 32]) {
    let session = BrowserSession {
        id: Uuid::new_v4(),
        user_id,
        auth_time: NOW,
        expires_at,
    };
    let token_hash = random_hash();
    store
        .insert_browser_session(
            &NewBrowserSession {
                session: session.clone(),
                token_hash,
            },
            &[],
        )
        .await
        .expect("insert browser session");
    (session, token_hash)
}

fn code(client_id: &str, user_id: Uuid, browser: Option<Uuid>) -> AuthorizationCode {
    AuthorizationCode {
        client_id: client_id.into(),
        user_id,
        browser_session_id: browser,
        redirect_uri: format!("https://{client_id}.example/cb"),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        scope: "openid profile".into(),
        nonce: Some("n-0S6_WzA2Mj".into()),
        auth_time: NOW - MINUTE,
        expires_at: NOW + MINUTE,
        used_at: None,
        session_id: None,
    }
}

/// The stream events after `seq` 0, as (type, sub, payload).
async fn events(store: &Arc<dyn Store>) -> Vec<(String, Option<String>, serde_json::Value)> {
    store
        .events_after(0, 1000)
        .await
        .expect("events")
        .into_iter()
        .map(|e| (e.kind, e.sub, e.payload))
        .collect()
}

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

async fn a_browser_session_is_found_by_its_cookie_hash_only_while_live(store: Arc<dyn Store>) {
    let hal = add_user(&store, "hal", &[]).await;
    let login = audit_entry("login.succeeded", Some("hal"), Some("hal"));
    let session = BrowserSession {
        id: Uuid::new_v4(),
        user_id: hal,
        auth_time: NOW,
        expires_at: NOW + DAY,
    };
    let hash = random_hash();
    store
        .insert_browser_session(
            &NewBrowserSession {
                session: session.clone(),
                token_hash: hash,
            },
            std::slice::from_ref(&login),
        )
        .await
        .unwrap();
    assert_eq!(audit_log(&store).await, vec![login]);

    assert_eq!(
        store.browser_session(&hash, NOW).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        store.browser_session(&hash, NOW + DAY - 1).await.unwrap(),
        Some(session.clone())
    );
    assert!(
        store
            .browser_session(&hash, NOW + DAY)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .browser_session(&random_hash(), NOW)
            .await
            .unwrap()
            .is_none()
    );
    let mut near = hash;
    near[31] ^= 1;
    assert!(store.browser_session(&near, NOW).await.unwrap().is_none());

    store
        .end_browser_session(session.id, NOW + 5, NOW + DAY, &[])
        .await
        .unwrap();
    assert!(
        store
            .browser_session(&hash, NOW + 6)
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_live_browser_session_can_be_reauthenticated_an_ended_one_cannot(store: Arc<dyn Store>) {
    let una = add_user(&store, "una", &[]).await;
    let (browser, hash) = add_browser_session(&store, una).await;
    let again = audit_entry("login.succeeded", Some("una"), Some("una"));
    assert!(
        store
            .reauthenticate_browser_session(browser.id, NOW + MINUTE, std::slice::from_ref(&again))
            .await
            .unwrap()
    );
    assert_eq!(
        store.browser_session(&hash, NOW + MINUTE).await.unwrap(),
        Some(BrowserSession {
            auth_time: NOW + MINUTE,
            ..browser.clone()
        }),
        "only auth_time moves"
    );
    assert_eq!(audit_log(&store).await, vec![again]);

    store
        .end_browser_session(browser.id, NOW + 2 * MINUTE, NOW + DAY, &[])
        .await
        .unwrap();
    let late = audit_entry("login.succeeded", Some("una"), Some("una"));
    assert!(
        !store
            .reauthenticate_browser_session(browser.id, NOW + 3 * MINUTE, &[late])
            .await
            .unwrap()
    );
    assert_eq!(audit_log(&store).await.len(), 1, "nothing recorded");
    assert!(
        !store
            .reauthenticate_browser_session(Uuid::new_v4(), NOW, &[])
            .await
            .unwrap()
    );
    let (expired, _) = add_browser_session_until(&store, una, NOW + MINUTE).await;
    assert!(
        !store
            .reauthenticate_browser_session(expired.id, NOW + MINUTE, &[])
            .await
            .unwrap()
    );
}

async fn ending_a_browser_session_revokes_the_token_sessions_that_came_through_it(
    store: Arc<dyn Store>,
) {
    let ida = add_user(&store, "ida", &[]).await;
    add_client(&store, "app").await;
    let (browser, hash) = add_browser_session(&store, ida).await;
    let (other_browser, other_hash) = add_browser_session(&store, ida).await;
    let (a, _) = add_oauth_session(&store, ida, Some("app"), Some(browser.id)).await;
    let (b, _) = add_oauth_session(&store, ida, Some("app"), Some(browser.id)).await;
    let (elsewhere, _) = add_oauth_session(&store, ida, Some("app"), Some(other_browser.id)).await;
    let (first_party, _) = add_oauth_session(&store, ida, None, None).await;
    let events_before = events(&store).await.len();

    let until = NOW + DAY;
    let logout = audit_entry("logout", Some("ida"), Some("ida"));
    let ended = store
        .end_browser_session(browser.id, NOW + 10, until, std::slice::from_ref(&logout))
        .await
        .unwrap();
    let ids: HashSet<Uuid> = ended.iter().map(|s| s.id).collect();
    assert_eq!(ids, HashSet::from([a.id, b.id]));
    assert!(
        store
            .browser_session(&hash, NOW + 11)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.browser_session(&other_hash, NOW + 11).await.unwrap(),
        Some(other_browser)
    );
    let live: HashSet<Uuid> = store
        .live_sessions(ida, NOW + 11)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, HashSet::from([elsewhere.id, first_party.id]));

    let active = revoked_subjects(&store, NOW + 11).await;
    assert_eq!(
        active,
        HashSet::from([
            (RevocationKind::Session, a.id.to_string()),
            (RevocationKind::Session, b.id.to_string()),
        ])
    );
    let sids: HashSet<String> = events(&store)
        .await
        .split_off(events_before)
        .into_iter()
        .filter(|(kind, _, _)| kind == "session.revoked")
        .map(|(_, _, payload)| payload["sid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sids, HashSet::from([a.id.to_string(), b.id.to_string()]));
    assert_eq!(audit_log(&store).await, vec![logout]);

    // Ending it again ends nothing more.
    assert!(
        store
            .end_browser_session(browser.id, NOW + 20, until, &[])
            .await
            .unwrap()
            .is_empty()
    );
}

async fn an_authorization_code_is_redeemed_exactly_once(store: Arc<dyn Store>) {
    let jo = add_user(&store, "jo", &[]).await;
    add_client(&store, "app").await;
    let (browser, _) = add_browser_session(&store, jo).await;
    let hash = random_hash();
    let issued = code("app", jo, Some(browser.id));
    store
        .insert_authorization_code(&hash, &issued)
        .await
        .unwrap();
    assert_eq!(
        store.authorization_code(&hash).await.unwrap(),
        Some(issued.clone())
    );
    assert!(
        store
            .authorization_code(&random_hash())
            .await
            .unwrap()
            .is_none()
    );

    let (session, _) = new_session(jo, NOW);
    let redeemed = audit_entry("token.issued", Some("jo"), Some("jo"));
    assert_eq!(
        store
            .redeem_authorization_code(&hash, NOW + 1, &session, std::slice::from_ref(&redeemed))
            .await
            .unwrap(),
        Redemption::Redeemed
    );
    assert_eq!(
        store.session_by_id(session.session.id).await.unwrap(),
        Some(session.session.clone()),
        "the session is created with the redemption"
    );
    let spent = store.authorization_code(&hash).await.unwrap().unwrap();
    assert_eq!(spent.used_at, Some(NOW + 1));
    assert_eq!(spent.session_id, Some(session.session.id));
    assert_eq!(audit_log(&store).await, vec![redeemed]);

    // The second redemption names the first one's session and creates nothing.
    let (second, _) = new_session(jo, NOW);
    let again = audit_entry("token.issued", Some("jo"), Some("jo"));
    assert_eq!(
        store
            .redeem_authorization_code(&hash, NOW + 2, &second, &[again])
            .await
            .unwrap(),
        Redemption::AlreadyUsed(Some(session.session.id))
    );
    assert!(
        store
            .session_by_id(second.session.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(audit_log(&store).await.len(), 1);
    assert_eq!(
        store
            .authorization_code(&hash)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(NOW + 1)
    );
}

async fn a_logout_racing_a_redemption_never_leaves_a_live_token_session(store: Arc<dyn Store>) {
    let kim = add_user(&store, "kim", &[]).await;
    add_client(&store, "app").await;
    // Many rounds, each racing one redemption against the logout of its
    // browser: whichever commits first, no live session may survive both.
    for round in 0..25 {
        let (browser, _) = add_browser_session(&store, kim).await;
        let hash = random_hash();
        store
            .insert_authorization_code(&hash, &code("app", kim, Some(browser.id)))
            .await
            .unwrap();
        let (mut session, _) = new_session(kim, NOW);
        session.session.browser_session_id = Some(browser.id);
        let sid = session.session.id;
        let (redeemer, ender) = (store.clone(), store.clone());
        let redeem = tokio::spawn(async move {
            redeemer
                .redeem_authorization_code(&hash, NOW + 1, &session, &[])
                .await
                .unwrap()
        });
        let end = tokio::spawn(async move {
            ender
                .end_browser_session(browser.id, NOW + 1, NOW + DAY, &[])
                .await
                .unwrap()
        });
        let (redeemed, _) = (redeem.await.unwrap(), end.await.unwrap());
        let live = store
            .session_by_id(sid)
            .await
            .unwrap()
            .is_some_and(|s| s.is_live(NOW + 2));
        assert!(
            !live,
            "round {round}: {redeemed:?} left a live session after the logout"
        );
    }
}

async fn concurrent_redemptions_of_one_code_admit_exactly_one(store: Arc<dyn Store>) {
    let kim = add_user(&store, "kim", &[]).await;
    add_client(&store, "app").await;
    let hash = random_hash();
    store
        .insert_authorization_code(&hash, &code("app", kim, None))
        .await
        .unwrap();
    let sessions: Vec<NewSession> = (0..8).map(|_| new_session(kim, NOW).0).collect();
    let outcomes = futures_join(sessions.iter().map(|s| {
        let store = store.clone();
        let s = s.clone();
        async move {
            store
                .redeem_authorization_code(&hash, NOW + 1, &s, &[])
                .await
                .unwrap()
        }
    }))
    .await;
    let winners: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| **o == Redemption::Redeemed)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = sessions[winners[0]].session.id;
    for (i, outcome) in outcomes.iter().enumerate() {
        if i != winners[0] {
            assert_eq!(*outcome, Redemption::AlreadyUsed(Some(winner)));
        }
    }
    let live: Vec<Uuid> = store
        .live_sessions(kim, NOW + 2)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, vec![winner], "one session, the winner's");
}

/// Runs futures concurrently on the runtime's threads; their outputs in order.
async fn futures_join<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

async fn an_expired_or_unknown_code_is_not_redeemed(store: Arc<dyn Store>) {
    let lou = add_user(&store, "lou", &[]).await;
    add_client(&store, "app").await;
    let hash = random_hash();
    let issued = code("app", lou, None);
    store
        .insert_authorization_code(&hash, &issued)
        .await
        .unwrap();
    let (late, _) = new_session(lou, NOW);
    assert_eq!(
        store
            .redeem_authorization_code(&hash, issued.expires_at, &late, &[])
            .await
            .unwrap(),
        Redemption::Unknown
    );
    assert!(
        store
            .session_by_id(late.session.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .authorization_code(&hash)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        None
    );
    let (stranger, _) = new_session(lou, NOW);
    assert_eq!(
        store
            .redeem_authorization_code(&random_hash(), NOW, &stranger, &[])
            .await
            .unwrap(),
        Redemption::Unknown
    );
    assert!(store.live_sessions(lou, NOW).await.unwrap().is_empty());
    // A code whose browser session has ended no longer redeems.
    let (browser, _) = add_browser_session(&store, lou).await;
    let orphan = random_hash();
    store
        .insert_authorization_code(&orphan, &code("app", lou, Some(browser.id)))
        .await
        .unwrap();
    store
        .end_browser_session(browser.id, NOW, NOW + DAY, &[])
        .await
        .unwrap();
    let (after_logout, _) = new_session(lou, NOW);
    assert_eq!(
        store
            .redeem_authorization_code(&orphan, NOW + 1, &after_logout, &[])
            .await
            .unwrap(),
        Redemption::Unknown
    );
    assert!(
        store
            .session_by_id(after_logout.session.id)
            .await
            .unwrap()
            .is_none()
    );
    // A millisecond earlier it was still good.
    let (in_time, _) = new_session(lou, NOW);
    assert_eq!(
        store
            .redeem_authorization_code(&hash, issued.expires_at - 1, &in_time, &[])
            .await
            .unwrap(),
        Redemption::Redeemed
    );
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
        .rotate_refresh_token(&turn, &[])
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

async fn purge_oauth_forgets_expired_codes_and_ended_browser_sessions(store: Arc<dyn Store>) {
    let ona = add_user(&store, "ona", &[]).await;
    add_client(&store, "app").await;
    let cutoff = NOW + DAY;
    let old_code = random_hash();
    let live_code = random_hash();
    store
        .insert_authorization_code(&old_code, &code("app", ona, None))
        .await
        .unwrap();
    store
        .insert_authorization_code(
            &live_code,
            &AuthorizationCode {
                expires_at: cutoff + MINUTE,
                ..code("app", ona, None)
            },
        )
        .await
        .unwrap();
    // Expired by the cut-off; ended before it; ended after it; live.
    let (_, expired_hash) = add_browser_session_until(&store, ona, cutoff).await;
    let (ended_early, _) = add_browser_session_until(&store, ona, cutoff + DAY).await;
    let (ended_late, _) = add_browser_session_until(&store, ona, cutoff + DAY).await;
    let (live, live_hash) = add_browser_session_until(&store, ona, cutoff + DAY).await;
    store
        .end_browser_session(ended_early.id, NOW + 1, cutoff, &[])
        .await
        .unwrap();
    store
        .end_browser_session(ended_late.id, cutoff + 1, cutoff + DAY, &[])
        .await
        .unwrap();

    assert_eq!(store.purge_oauth(cutoff).await.unwrap(), 3);
    assert!(store.authorization_code(&old_code).await.unwrap().is_none());
    assert!(
        store
            .authorization_code(&live_code)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .browser_session(&expired_hash, NOW)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.browser_session(&live_hash, cutoff).await.unwrap(),
        Some(live)
    );
    assert_eq!(store.purge_oauth(cutoff).await.unwrap(), 0, "idempotent");
    // The one ended after the cut-off goes at a later purge.
    assert_eq!(store.purge_oauth(cutoff + 1).await.unwrap(), 1);
}

async fn revoke_user_sessions_also_ends_the_users_browser_sessions(store: Arc<dyn Store>) {
    let pat = add_user(&store, "pat", &[]).await;
    let quinn = add_user(&store, "quinn", &[]).await;
    let (_, pats) = add_browser_session(&store, pat).await;
    let (_, pats_other) = add_browser_session(&store, pat).await;
    let (quinns_session, quinns) = add_browser_session(&store, quinn).await;
    let (keep, _) = add_session(&store, pat, NOW).await;

    store
        .revoke_user_sessions(
            pat,
            &SessionRevocation {
                except: Some(keep.id),
                now: NOW + 10,
                until: NOW + DAY,
            },
            &[],
        )
        .await
        .unwrap();
    for hash in [pats, pats_other] {
        assert!(
            store
                .browser_session(&hash, NOW + 11)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(
        store.browser_session(&quinns, NOW + 11).await.unwrap(),
        Some(quinns_session)
    );
    assert_eq!(
        store.live_sessions(pat, NOW + 11).await.unwrap(),
        vec![keep],
        "the spared token session lives on"
    );
}

async fn deleting_a_user_forgets_their_browser_sessions_and_codes(store: Arc<dyn Store>) {
    let ray = add_user(&store, "ray", &[]).await;
    let sam = add_user(&store, "sam", &[]).await;
    add_client(&store, "app").await;
    let (_, rays) = add_browser_session(&store, ray).await;
    let (sams_session, sams) = add_browser_session(&store, sam).await;
    let code_hash = random_hash();
    store
        .insert_authorization_code(&code_hash, &code("app", ray, None))
        .await
        .unwrap();
    done(store.delete_user(ray, &FollowUp::default()).await.unwrap());
    assert!(store.browser_session(&rays, NOW).await.unwrap().is_none());
    assert!(
        store
            .authorization_code(&code_hash)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.browser_session(&sams, NOW).await.unwrap(),
        Some(sams_session)
    );
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
                .rotate_refresh_token(&turn, &[])
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
            .rotate_refresh_token(&turn, &[])
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
            .rotate_refresh_token(&turn, &[])
            .await
            .unwrap()
            .is_some()
    );
    let turn = rotation(own_hash, NOW + MINUTE);
    assert!(
        store
            .rotate_refresh_token(&turn, &[])
            .await
            .unwrap()
            .is_some()
    );
}
