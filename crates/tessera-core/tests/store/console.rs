//! What the console asks of the store: users found by prefix, role and
//! status a page at a time; counts of users and live sessions; sign-ins per
//! hour; a client's redirect URIs replaced.

use crate::support::{DAY, NOW, add_client, add_session, add_user, audit_entry, audit_log, done};
use std::sync::Arc;
use tessera_core::store::{Store, UserChanges, UserFilter};

conformance!(
    users_are_found_by_prefix_role_and_status_a_page_at_a_time,
    users_and_live_sessions_are_counted,
    sign_ins_are_counted_per_hour,
    a_clients_redirect_uris_are_replaced_with_its_audit,
);

async fn users_are_found_by_prefix_role_and_status_a_page_at_a_time(store: Arc<dyn Store>) {
    for (name, roles) in [
        ("Ann", &["admin"][..]),
        ("anna", &["editor"][..]),
        ("annabel", &[][..]),
        ("anne_x", &["edit_r"][..]),
        ("bob", &["admin"][..]),
        ("zed", &[][..]),
    ] {
        add_user(&store, name, roles).await;
    }
    let annabel = store
        .user_by_username("annabel")
        .await
        .unwrap()
        .unwrap()
        .user;
    let disable = UserChanges {
        disabled: Some(true),
        ..UserChanges::default()
    };
    done(
        store
            .update_user(annabel.id, &disable, NOW, &Default::default())
            .await
            .unwrap(),
    );

    let names = |users: Vec<tessera_core::model::User>| -> Vec<String> {
        users.into_iter().map(|u| u.username).collect()
    };
    let find = |prefix: &str, role: Option<&str>, disabled: Option<bool>| UserFilter {
        prefix: prefix.into(),
        role: role.map(Into::into),
        disabled,
    };
    let all = |f: UserFilter| {
        let store = store.clone();
        async move { names(store.search_users(&f, None, 100).await.unwrap()) }
    };
    assert_eq!(
        all(find("ann", None, None)).await,
        ["Ann", "anna", "annabel", "anne_x"]
    );
    assert_eq!(all(find("anna", None, None)).await, ["anna", "annabel"]);
    assert_eq!(all(find("", Some("admin"), None)).await, ["Ann", "bob"]);
    assert_eq!(all(find("", Some("editor"), None)).await, ["anna"]);
    // `_` is a wildcard to LIKE, never to the search.
    assert_eq!(all(find("", Some("edit_r"), None)).await, ["anne_x"]);
    assert_eq!(all(find("", None, Some(true))).await, ["annabel"]);
    assert_eq!(
        all(find("a", None, Some(false))).await,
        ["Ann", "anna", "anne_x"]
    );
    assert!(all(find("q", None, None)).await.is_empty());
    // A page at a time, after the last lower-cased username.
    let first = names(
        store
            .search_users(&find("a", None, None), None, 2)
            .await
            .unwrap(),
    );
    assert_eq!(first, ["Ann", "anna"]);
    let next = names(
        store
            .search_users(&find("a", None, None), Some("anna"), 2)
            .await
            .unwrap(),
    );
    assert_eq!(next, ["annabel", "anne_x"]);
}

async fn users_and_live_sessions_are_counted(store: Arc<dyn Store>) {
    assert_eq!(store.count_users().await.unwrap(), 0);
    let a = add_user(&store, "alice", &[]).await;
    let b = add_user(&store, "bob", &[]).await;
    add_session(&store, a, NOW).await;
    add_session(&store, b, NOW).await;
    let (old, _) = add_session(&store, b, NOW - 3 * DAY).await;
    assert_eq!(store.count_users().await.unwrap(), 2);
    // Sessions idle-expire a day after they begin.
    assert!(old.expires_at < NOW);
    assert_eq!(store.count_live_sessions(NOW).await.unwrap(), 2);
}

async fn sign_ins_are_counted_per_hour(store: Arc<dyn Store>) {
    const HOUR: i64 = 3_600_000;
    let since = NOW - 24 * HOUR;
    for (at, event) in [
        (since - 1, "login.succeeded"),
        (since, "login.succeeded"),
        (since + HOUR - 1, "login.succeeded"),
        (since + 5 * HOUR, "login.failed"),
        (since + 5 * HOUR + 10, "login.succeeded"),
        (since + 23 * HOUR, "login.succeeded"),
    ] {
        let mut entry = audit_entry(event, None, Some("alice"));
        entry.at = at;
        store.append_audit(&entry).await.unwrap();
    }
    let ok = store
        .audit_counts("login.succeeded", since, HOUR)
        .await
        .unwrap();
    assert_eq!(ok, [(0, 2), (5, 1), (23, 1)]);
    let failed = store
        .audit_counts("login.failed", since, HOUR)
        .await
        .unwrap();
    assert_eq!(failed, [(5, 1)]);
}

async fn a_clients_redirect_uris_are_replaced_with_its_audit(store: Arc<dyn Store>) {
    add_client(&store, "photos").await;
    let uris = vec!["https://photos.example/new".to_owned()];
    let entry = audit_entry("client.updated", Some("admin"), Some("photos"));
    let fields = tessera_core::store::ClientFields {
        name: "Photos 2".into(),
        redirect_uris: uris.clone(),
        post_logout_redirect_uris: vec![],
        scopes: vec!["openid".into()],
    };
    let revoked = store
        .update_client("photos", &fields, None, std::slice::from_ref(&entry))
        .await
        .unwrap();
    assert_eq!(revoked, Some(vec![]));
    let client = store.client_by_id("photos").await.unwrap().unwrap().client;
    assert_eq!(client.redirect_uris, uris);
    assert!(client.post_logout_redirect_uris.is_empty());
    assert_eq!(
        (client.name.as_str(), client.scopes.clone()),
        ("Photos 2", vec!["openid".to_owned()])
    );
    assert!(
        store
            .update_client("nobody", &fields, None, &[entry])
            .await
            .unwrap()
            .is_none()
    );
    let log = audit_log(&store).await;
    assert_eq!(
        log.iter().filter(|e| e.event == "client.updated").count(),
        1
    );
}
