//! Reading users: `GET /me`, `GET /users` (the basic view, its `limit` and
//! cursor paging) and `GET /users/{username}` (who sees the full view).

use super::*;

/// An app that lets one test register many users from one address.
async fn roomy_app() -> TestApp {
    TestApp::builder()
        .env("TESSERA_REGISTRATION_RATE", "10000/min")
        .spawn()
        .await
}

/// Every username on every page of `GET /users?limit=…`, and the page sizes.
async fn walk_users(app: &TestApp, token: &str, limit: u32) -> (Vec<String>, Vec<usize>) {
    let mut names = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/users?limit={limit}&cursor={c}"),
            None => format!("/users?limit={limit}"),
        };
        let r = app.get(&path, Some(token)).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let page = json_body(r).await;
        let users = page["users"].as_array().expect("users");
        sizes.push(users.len());
        for u in users {
            assert_eq!(keys(u), basic_view_keys(), "basic view only: {u}");
            names.push(u["username"].as_str().expect("username").to_owned());
        }
        match &page["next_cursor"] {
            Value::Null => break,
            Value::String(c) => cursor = Some(c.clone()),
            other => panic!("next_cursor is {other}"),
        }
        assert!(sizes.len() < 100, "pagination does not end");
    }
    (names, sizes)
}

// ---------------------------------------------------------------- GET /me

#[tokio::test]
async fn me_returns_the_full_view_of_the_caller_without_any_password_or_hash() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let r = app.get("/me", Some(&alice.access)).await;

    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    assert_eq!(keys(&body), set(&["user"]));
    let user = &body["user"];
    assert_eq!(keys(user), full_view_keys());
    assert_eq!(user["username"], "alice");
    assert_eq!(user["id"], alice.body["user"]["id"]);
    assert!(uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok());
    assert_eq!(user["roles"], json!(["user"]));
    assert_eq!(user["disabled"], false);
    assert_eq!(user["email"], Value::Null);
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(user["updated_at"].is_string());
    assert_no_secrets(&body, &[&alice.refresh]);
    assert_no_secrets(&alice.body["user"], &[]);
}

#[tokio::test]
async fn me_without_a_token_is_unauthenticated() {
    let app = TestApp::spawn().await;

    let r = app.get("/me", None).await;

    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

// ---------------------------------------------------------------- GET /users

#[tokio::test]
async fn users_are_listed_by_lower_cased_username_in_the_basic_view() {
    let app = TestApp::spawn().await;
    for name in ["Zed", "adam", "Bob", "carl"] {
        app.register(name).await;
    }
    let carl = app.login("carl", PASSWORD).await;

    let r = app.get("/users", Some(&carl.access)).await;

    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    assert_eq!(keys(&body), set(&["users", "next_cursor"]));
    assert_eq!(body["next_cursor"], Value::Null);
    let users = body["users"].as_array().unwrap();
    let names: Vec<&str> = users
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["adam", "Bob", "carl", "Zed"]);
    for u in users {
        assert_eq!(keys(u), basic_view_keys());
    }
    assert_no_secrets(&body, &[]);
}

#[tokio::test]
async fn users_limit_of_zero_is_a_validation_failure() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let r = app.get("/users?limit=0", Some(&alice.access)).await;

    let body = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(body["error"]["details"][0]["path"], "/limit");
}

#[tokio::test]
async fn users_limit_above_one_hundred_is_a_validation_failure() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let r = app.get("/users?limit=101", Some(&alice.access)).await;

    assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
}

#[tokio::test]
async fn users_limit_that_is_not_a_number_is_a_validation_failure() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let r = app.get("/users?limit=abc", Some(&alice.access)).await;

    assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
}

#[tokio::test]
async fn users_limit_of_one_and_of_one_hundred_are_accepted() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let one = app.get("/users?limit=1", Some(&alice.access)).await;
    let hundred = app.get("/users?limit=100", Some(&alice.access)).await;

    assert_eq!(one.status(), StatusCode::OK);
    assert_eq!(hundred.status(), StatusCode::OK);
}

#[tokio::test]
async fn users_garbage_cursor_is_a_validation_failure() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let r = app.get("/users?cursor=%%%", Some(&alice.access)).await;

    assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
}

#[tokio::test]
async fn users_limit_defaults_to_fifty() {
    let app = roomy_app().await;
    for i in 0..52 {
        app.register(&format!("user{i:02}")).await;
    }
    let me = app.login("user00", PASSWORD).await;

    let r = app.get("/users", Some(&me.access)).await;

    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    assert_eq!(body["users"].as_array().unwrap().len(), 50);
    assert_eq!(body["users"][49]["username"], "user49");
    assert!(body["next_cursor"].is_string());
    let (all, sizes) = walk_users(&app, &me.access, 50).await;
    assert_eq!(sizes, [50, 2]);
    assert_eq!(all.len(), 52);
}

#[tokio::test]
async fn users_are_paged_with_a_cursor_until_next_cursor_is_null() {
    let app = TestApp::spawn().await;
    let names = [
        "golf", "Alpha", "echo", "Delta", "bravo", "FOXTROT", "charlie",
    ];
    for name in names {
        app.register(name).await;
    }
    let golf = app.login("golf", PASSWORD).await;

    let (listed, sizes) = walk_users(&app, &golf.access, 3).await;

    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(
        listed,
        [
            "Alpha", "bravo", "charlie", "Delta", "echo", "FOXTROT", "golf"
        ]
    );
}

#[tokio::test]
async fn users_last_page_that_is_exactly_full_has_a_null_next_cursor() {
    let app = TestApp::spawn().await;
    for name in ["one", "two", "three", "four"] {
        app.register(name).await;
    }
    let one = app.login("one", PASSWORD).await;

    let (listed, sizes) = walk_users(&app, &one.access, 2).await;

    assert_eq!(sizes, [2, 2]);
    assert_eq!(listed, ["four", "one", "three", "two"]);
}

// ------------------------------------------------------- GET /users/{username}

#[tokio::test]
async fn a_user_sees_their_own_full_view_under_any_case_of_their_username() {
    let app = TestApp::spawn().await;
    let alice = app.register("Alice").await;

    let r = app.get("/users/aLiCe", Some(&alice.access)).await;

    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    assert_eq!(keys(&body["user"]), full_view_keys());
    assert_eq!(body["user"]["username"], "Alice");
    assert_no_secrets(&body, &[]);
}

#[tokio::test]
async fn a_user_sees_only_the_basic_view_of_someone_else() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let bob = app.register("bob").await;

    let r = app.get("/users/ALICE", Some(&bob.access)).await;

    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    assert_eq!(keys(&body["user"]), basic_view_keys());
    assert_eq!(body["user"]["username"], "alice");
}

#[tokio::test]
async fn an_admin_sees_the_full_view_of_anyone() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let root = app.admin("root").await;

    let r = app.get("/users/Alice", Some(&root.access)).await;

    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    assert_eq!(keys(&body["user"]), full_view_keys());
    assert_eq!(body["user"]["username"], "alice");
    assert_no_secrets(&body, &[]);
}

#[tokio::test]
async fn getting_an_unknown_user_is_user_not_found() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let r = app.get("/users/nobody", Some(&alice.access)).await;

    assert_error(r, StatusCode::NOT_FOUND, "user_not_found").await;
}
