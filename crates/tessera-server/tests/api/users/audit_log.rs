//! `GET /admin/audit`: admins only, every auth event recorded without
//! passwords, tokens or hashes, filtered by event or user, paged by cursor.

use super::*;

/// The whole audit log (newest first) as seen by an admin.
async fn audit_entries(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/admin/audit?limit=500{query}"), Some(admin))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    json_body(r).await["entries"]
        .as_array()
        .expect("entries")
        .clone()
}

fn events(entries: &[Value]) -> BTreeSet<String> {
    entries
        .iter()
        .map(|e| e["event"].as_str().expect("event").to_owned())
        .collect()
}

// ------------------------------------------------------------ audit log

#[tokio::test]
async fn the_audit_log_is_forbidden_to_non_admins() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;

    let r = app.get("/admin/audit", Some(&bob.access)).await;

    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn the_audit_log_without_a_token_is_unauthenticated() {
    let app = TestApp::spawn().await;

    let r = app.get("/admin/audit", None).await;

    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

/// Produces register, login.succeeded, login.failed, logout, password.changed,
/// role.changed and user.deleted for `bob`; returns bob's id, the admin's
/// token and every secret that went over the wire.
async fn audited_history(app: &TestApp) -> (String, String, Vec<String>) {
    let bob = app.register("bob").await;
    let id = bob.body["user"]["id"].as_str().unwrap().to_owned();
    let login = app.login("bob", PASSWORD).await;
    let r = login_status(app, "bob", "a-wrong-guess-of-a-password").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .post("/auth/logout", Some(&login.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .post(
            "/users/bob/password",
            Some(&bob.access),
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let root = app.admin("root").await;
    let r = app
        .patch(
            "/users/bob",
            Some(&root.access),
            json!({"roles": ["editor"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.delete("/users/bob", Some(&root.access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let secrets = vec![
        bob.access,
        bob.refresh,
        login.access,
        login.refresh,
        root.access.clone(),
        root.refresh,
        "a-wrong-guess-of-a-password".to_owned(),
    ];
    (id, root.access, secrets)
}

#[tokio::test]
async fn the_audit_log_records_auth_events_without_passwords_tokens_or_hashes() {
    let app = TestApp::spawn().await;
    let (_, root, secrets) = audited_history(&app).await;

    let r = app.get("/admin/audit?limit=500", Some(&root)).await;

    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    let entries = body["entries"].as_array().unwrap();
    let seen = events(entries);
    for event in [
        "register",
        "login.succeeded",
        "login.failed",
        "logout",
        "password.changed",
        "role.changed",
        "user.deleted",
    ] {
        assert!(seen.contains(event), "{event} missing from {seen:?}");
    }
    let text = body.to_string();
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "a secret leaked: {secret}");
    }
    for needle in [PASSWORD, NEW_PASSWORD, "argon2", "hash"] {
        assert!(!text.contains(needle), "{needle} found in {text}");
    }
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
}

#[tokio::test]
async fn the_audit_log_filters_by_event() {
    let app = TestApp::spawn().await;
    let (_, root, _) = audited_history(&app).await;

    let entries = audit_entries(&app, &root, "&event=login.failed").await;

    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["event"], "login.failed");
    assert_eq!(entries[0]["outcome"], "failure");
}

#[tokio::test]
async fn the_audit_log_filters_by_user() {
    let app = TestApp::spawn().await;
    let (bob, root, _) = audited_history(&app).await;
    app.register("carol").await;

    let entries = audit_entries(&app, &root, &format!("&user={bob}")).await;

    assert!(!entries.is_empty());
    for e in &entries {
        assert!(
            e["actor"] == bob.as_str() || e["subject"] == bob.as_str(),
            "not about bob: {e}"
        );
    }
    let seen = events(&entries);
    for event in [
        "register",
        "password.changed",
        "role.changed",
        "user.deleted",
    ] {
        assert!(seen.contains(event), "{event} missing from {seen:?}");
    }
}

#[tokio::test]
async fn the_audit_log_pages_with_a_cursor() {
    let app = TestApp::spawn().await;
    let (_, root, _) = audited_history(&app).await;
    let all: Vec<i64> = audit_entries(&app, &root, "")
        .await
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert!(all.len() > 4);

    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/audit?limit=3&cursor={c}"),
            None => "/admin/audit?limit=3".to_owned(),
        };
        let r = app.get(&path, Some(&root)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let page = json_body(r).await;
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 3);
        paged.extend(entries.iter().map(|e| e["id"].as_i64().unwrap()));
        match &page["next_cursor"] {
            Value::Null => break,
            Value::String(c) => cursor = Some(c.clone()),
            other => panic!("next_cursor is {other}"),
        }
        assert!(paged.len() <= all.len(), "pagination does not end");
    }

    assert_eq!(paged, all);
}
