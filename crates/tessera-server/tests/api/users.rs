//! Users, sessions and administration: `/me`, `/users/*`, `/sessions/*`,
//! registration switches, the bootstrap admin and the audit log (SPEC §2–4).

// A failed unwrap in a test is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::helpers::*;
use futures::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// A password that passes the policy for every username used here.
const NEW_PASSWORD: &str = "entirely-new-passphrase-77";

/// An app that lets one test register many users from one address.
async fn roomy_app() -> TestApp {
    TestApp::builder()
        .env("TESSERA_REGISTRATION_RATE", "10000/min")
        .spawn()
        .await
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn full_view_keys() -> BTreeSet<String> {
    set(&[
        "id",
        "username",
        "email",
        "first_name",
        "last_name",
        "phone",
        "roles",
        "disabled",
        "created_at",
        "updated_at",
    ])
}

fn basic_view_keys() -> BTreeSet<String> {
    set(&["username", "first_name", "last_name"])
}

/// Asserts that no password, hash or given secret appears anywhere in `body`.
fn assert_no_secrets(body: &Value, secrets: &[&str]) {
    let text = body.to_string();
    for needle in ["password", "hash", "argon2", PASSWORD, NEW_PASSWORD]
        .iter()
        .chain(secrets)
    {
        assert!(
            !text.to_lowercase().contains(&needle.to_lowercase()),
            "{needle:?} found in {text}"
        );
    }
}

/// Logs in with an explicit `User-Agent`; asserts 200.
async fn login_with_agent(app: &TestApp, username: &str, agent: &str) -> Session {
    let r = app
        .client
        .post(app.url("/auth/login"))
        .header("User-Agent", agent)
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK, "login {username}");
    session_from(username, PASSWORD, json_body(r).await)
}

/// Asserts that an access token is refused with 401 `invalid_token`.
async fn assert_access_refused(app: &TestApp, access: &str) {
    let r = app.get("/users", Some(access)).await;
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

/// Asserts that an access token is accepted.
async fn assert_access_accepted(app: &TestApp, access: &str) {
    assert_eq!(
        app.get("/users", Some(access)).await.status(),
        StatusCode::OK
    );
}

/// Asserts that a refresh token is refused with 401 `invalid_refresh_token`.
async fn assert_refresh_refused(app: &TestApp, refresh: &str) {
    let r = app.refresh(refresh).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

async fn login_status(app: &TestApp, username: &str, password: &str) -> Response {
    app.post(
        "/auth/login",
        None,
        json!({"username": username, "password": password}),
    )
    .await
}

/// The live sessions of `username` as seen with `token`.
async fn sessions_of(app: &TestApp, username: &str, token: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/users/{username}/sessions"), Some(token))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    json_body(r).await["sessions"]
        .as_array()
        .expect("sessions array")
        .clone()
}

/// The id of the one session whose user agent is `agent`.
async fn session_id_by_agent(app: &TestApp, username: &str, token: &str, agent: &str) -> String {
    let sessions = sessions_of(app, username, token).await;
    let matching: Vec<&Value> = sessions
        .iter()
        .filter(|s| s["user_agent"] == agent)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one session with {agent} in {sessions:?}"
    );
    matching[0]["id"].as_str().expect("id").to_owned()
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

// ----------------------------------------------------- PATCH /users/{username}

#[tokio::test]
async fn a_user_sets_their_own_names_email_and_phone() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    app.clock.advance(Duration::from_secs(5));

    let r = app
        .patch(
            "/users/ALICE",
            Some(&alice.access),
            json!({"first_name": "Alice", "last_name": "Liddell",
                   "email": "alice@example.com", "phone": "+44 20 7946 0000"}),
        )
        .await;

    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    let user = &body["user"];
    assert_eq!(keys(user), full_view_keys());
    assert_eq!(user["first_name"], "Alice");
    assert_eq!(user["last_name"], "Liddell");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["phone"], "+44 20 7946 0000");
    assert_ne!(user["updated_at"], user["created_at"]);
    assert_no_secrets(&body, &[]);
    let me = json_body(app.get("/me", Some(&alice.access)).await).await;
    assert_eq!(me["user"], *user);
}

#[tokio::test]
async fn a_null_clears_one_profile_field_and_leaves_the_others() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let r = app
        .patch(
            "/users/alice",
            Some(&alice.access),
            json!({"first_name": "Alice", "email": "alice@example.com", "phone": "555-0100"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = app
        .patch("/users/alice", Some(&alice.access), json!({"phone": null}))
        .await;

    assert_eq!(r.status(), StatusCode::OK);
    let user = json_body(r).await["user"].clone();
    assert_eq!(user["phone"], Value::Null);
    assert_eq!(user["first_name"], "Alice");
    assert_eq!(user["email"], "alice@example.com");
}

#[tokio::test]
async fn a_non_admin_sending_roles_is_forbidden() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let r = app
        .patch(
            "/users/alice",
            Some(&alice.access),
            json!({"roles": ["admin"]}),
        )
        .await;

    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let me = json_body(app.get("/me", Some(&alice.access)).await).await;
    assert_eq!(me["user"]["roles"], json!(["user"]));
}

#[tokio::test]
async fn a_non_admin_sending_disabled_is_forbidden() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let r = app
        .patch(
            "/users/alice",
            Some(&alice.access),
            json!({"disabled": false, "first_name": "Al"}),
        )
        .await;

    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let me = json_body(app.get("/me", Some(&alice.access)).await).await;
    assert_eq!(me["user"]["first_name"], Value::Null);
}

#[tokio::test]
async fn patching_someone_else_without_being_admin_is_forbidden() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let bob = app.register("bob").await;

    let r = app
        .patch(
            "/users/alice",
            Some(&bob.access),
            json!({"first_name": "Eve"}),
        )
        .await;

    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn an_unknown_field_is_a_validation_failure_naming_its_path() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let r = app
        .patch(
            "/users/alice",
            Some(&alice.access),
            json!({"first_name": "Alice", "nickname": "al"}),
        )
        .await;

    let body = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    let paths: Vec<&Value> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["path"])
        .collect();
    assert_eq!(paths, [&json!("/nickname")]);
}

#[tokio::test]
async fn patching_the_username_or_password_is_a_validation_failure() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let r = app
        .patch(
            "/users/alice",
            Some(&alice.access),
            json!({"username": "mallory"}),
        )
        .await;

    let body = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(body["error"]["details"][0]["path"], "/username");
    let r = app
        .patch(
            "/users/alice",
            Some(&alice.access),
            json!({"password": NEW_PASSWORD}),
        )
        .await;
    let body = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(body["error"]["details"][0]["path"], "/password");
    assert!(!body.to_string().contains(NEW_PASSWORD));
}

#[tokio::test]
async fn an_empty_patch_is_a_validation_failure() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let r = app
        .patch("/users/alice", Some(&alice.access), json!({}))
        .await;

    assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
}

#[tokio::test]
async fn null_roles_from_an_admin_is_a_validation_failure() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let root = app.admin("root").await;

    let r = app
        .patch("/users/alice", Some(&root.access), json!({"roles": null}))
        .await;

    let body = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(body["error"]["details"][0]["path"], "/roles");
}

#[tokio::test]
async fn null_disabled_from_an_admin_is_a_validation_failure() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let root = app.admin("root").await;

    let r = app
        .patch(
            "/users/alice",
            Some(&root.access),
            json!({"disabled": null}),
        )
        .await;

    let body = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(body["error"]["details"][0]["path"], "/disabled");
}

#[tokio::test]
async fn an_invalid_email_is_a_validation_failure() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let r = app
        .patch(
            "/users/alice",
            Some(&alice.access),
            json!({"email": "not-an-address"}),
        )
        .await;

    let body = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(body["error"]["details"][0]["path"], "/email");
}

#[tokio::test]
async fn an_admin_sets_roles_and_user_is_always_added_back() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let root = app.admin("root").await;

    let r = app
        .patch(
            "/users/alice",
            Some(&root.access),
            json!({"roles": ["editor"]}),
        )
        .await;

    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    assert_eq!(keys(&body["user"]), full_view_keys());
    assert_eq!(body["user"]["roles"], json!(["editor", "user"]));
    let r = app
        .patch("/users/alice", Some(&root.access), json!({"roles": []}))
        .await;
    assert_eq!(json_body(r).await["user"]["roles"], json!(["user"]));
}

#[tokio::test]
async fn an_admin_changes_someone_elses_profile() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let root = app.admin("root").await;

    let r = app
        .patch(
            "/users/alice",
            Some(&root.access),
            json!({"last_name": "Liddell"}),
        )
        .await;

    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["user"]["last_name"], "Liddell");
}

#[tokio::test]
async fn patching_an_unknown_user_as_admin_is_user_not_found() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;

    let r = app
        .patch(
            "/users/nobody",
            Some(&root.access),
            json!({"first_name": "N"}),
        )
        .await;

    assert_error(r, StatusCode::NOT_FOUND, "user_not_found").await;
}

#[tokio::test]
async fn disabling_a_user_refuses_their_access_token_refresh_token_and_login_at_once() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let root = app.admin("root").await;

    let r = app
        .patch("/users/bob", Some(&root.access), json!({"disabled": true}))
        .await;

    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["user"]["disabled"], true);
    assert_access_refused(&app, &bob.access).await;
    assert_refresh_refused(&app, &bob.refresh).await;
    let r = login_status(&app, "bob", PASSWORD).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn an_enabled_again_user_can_log_in_again() {
    let app = TestApp::spawn().await;
    app.register("bob").await;
    let root = app.admin("root").await;
    let r = app
        .patch("/users/bob", Some(&root.access), json!({"disabled": true}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = app
        .patch("/users/bob", Some(&root.access), json!({"disabled": false}))
        .await;

    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["user"]["disabled"], false);
    let bob = app.login("bob", PASSWORD).await;
    assert_access_accepted(&app, &bob.access).await;
}

#[tokio::test]
async fn removing_admin_from_the_last_admin_is_last_admin() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;

    let r = app
        .patch(
            "/users/root",
            Some(&root.access),
            json!({"roles": ["user"]}),
        )
        .await;

    assert_error(r, StatusCode::CONFLICT, "last_admin").await;
    let me = json_body(app.get("/me", Some(&root.access)).await).await;
    assert_eq!(me["user"]["roles"], json!(["admin", "user"]));
}

#[tokio::test]
async fn disabling_the_last_admin_is_last_admin() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;

    let r = app
        .patch("/users/root", Some(&root.access), json!({"disabled": true}))
        .await;

    assert_error(r, StatusCode::CONFLICT, "last_admin").await;
    assert_access_accepted(&app, &root.access).await;
}

#[tokio::test]
async fn an_admin_may_be_demoted_while_another_admin_remains() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    app.admin("second").await;

    let r = app
        .patch("/users/second", Some(&root.access), json!({"roles": []}))
        .await;

    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["user"]["roles"], json!(["user"]));
}

#[tokio::test]
async fn a_role_change_refuses_earlier_access_tokens_while_refresh_yields_the_new_roles() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let root = app.admin("root").await;
    app.clock.advance(Duration::from_secs(1));

    let r = app
        .patch(
            "/users/bob",
            Some(&root.access),
            json!({"roles": ["editor"]}),
        )
        .await;

    assert_eq!(r.status(), StatusCode::OK);
    assert_access_refused(&app, &bob.access).await;
    let r = app.refresh(&bob.refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let refreshed = json_body(r).await;
    assert_eq!(refreshed["user"]["roles"], json!(["editor", "user"]));
    let access = refreshed["access_token"].as_str().unwrap();
    let r = app.get("/auth/verify", Some(access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-roles"], "editor,user");
    assert_access_accepted(&app, access).await;
}

// ------------------------------------------------ POST /users/{u}/password

#[tokio::test]
async fn changing_ones_password_with_a_wrong_current_password_is_invalid_credentials() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;

    let r = app
        .post(
            "/users/bob/password",
            Some(&bob.access),
            json!({"current_password": "not-my-password-at-all", "new_password": NEW_PASSWORD}),
        )
        .await;

    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    app.login("bob", PASSWORD).await;
}

#[tokio::test]
async fn changing_ones_password_without_the_current_password_is_a_validation_failure() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;

    let r = app
        .post(
            "/users/bob/password",
            Some(&bob.access),
            json!({"new_password": NEW_PASSWORD}),
        )
        .await;

    let body = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(body["error"]["details"][0]["path"], "/current_password");
    app.login("bob", PASSWORD).await;
}

#[tokio::test]
async fn an_admin_changing_their_own_password_must_give_the_current_one() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;

    let r = app
        .post(
            "/users/root/password",
            Some(&root.access),
            json!({"new_password": NEW_PASSWORD}),
        )
        .await;

    assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
}

#[tokio::test]
async fn a_new_password_that_is_too_short_is_a_validation_failure() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;

    let r = app
        .post(
            "/users/bob/password",
            Some(&bob.access),
            json!({"current_password": PASSWORD, "new_password": "short-pw"}),
        )
        .await;

    let body = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(body["error"]["details"][0]["path"], "/new_password");
    assert!(!body.to_string().contains("short-pw"));
}

#[tokio::test]
async fn a_new_password_containing_the_username_is_too_weak() {
    let app = TestApp::spawn().await;
    let bobby = app.register("bobby").await;

    let r = app
        .post(
            "/users/bobby/password",
            Some(&bobby.access),
            json!({"current_password": PASSWORD, "new_password": "my-name-is-BOBBY-ok"}),
        )
        .await;

    assert_error(r, StatusCode::BAD_REQUEST, "password_too_weak").await;
}

#[tokio::test]
async fn a_common_new_password_is_too_common() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;

    let r = app
        .post(
            "/users/bob/password",
            Some(&bob.access),
            json!({"current_password": PASSWORD, "new_password": "password1234"}),
        )
        .await;

    assert_error(r, StatusCode::BAD_REQUEST, "password_too_common").await;
}

#[tokio::test]
async fn changing_ones_password_revokes_the_other_sessions_but_keeps_the_current_one() {
    let app = TestApp::spawn().await;
    let other = app.register("bob").await;
    let current = app.login("bob", PASSWORD).await;

    let r = app
        .post(
            "/users/bob/password",
            Some(&current.access),
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;

    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_access_refused(&app, &other.access).await;
    assert_refresh_refused(&app, &other.refresh).await;
    assert_access_accepted(&app, &current.access).await;
    assert_eq!(app.refresh(&current.refresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn after_a_password_change_only_the_new_password_logs_in() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;

    let r = app
        .post(
            "/users/bob/password",
            Some(&bob.access),
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;

    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = login_status(&app, "bob", PASSWORD).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    app.login("bob", NEW_PASSWORD).await;
}

#[tokio::test]
async fn an_admin_resetting_a_password_revokes_all_of_that_users_sessions() {
    let app = TestApp::spawn().await;
    let first = app.register("bob").await;
    let second = app.login("bob", PASSWORD).await;
    let root = app.admin("root").await;

    let r = app
        .post(
            "/users/BOB/password",
            Some(&root.access),
            json!({"new_password": NEW_PASSWORD}),
        )
        .await;

    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for s in [&first, &second] {
        assert_access_refused(&app, &s.access).await;
        assert_refresh_refused(&app, &s.refresh).await;
    }
    assert_access_accepted(&app, &root.access).await;
    let r = login_status(&app, "bob", PASSWORD).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    app.login("bob", NEW_PASSWORD).await;
}

#[tokio::test]
async fn a_non_admin_changing_another_users_password_is_forbidden() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;

    let r = app
        .post(
            "/users/bob/password",
            Some(&carol.access),
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;

    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert_access_accepted(&app, &bob.access).await;
    app.login("bob", PASSWORD).await;
}

// ----------------------------------------------------- DELETE /users/{u}

#[tokio::test]
async fn deleting_a_user_without_being_admin_is_forbidden() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let bob = app.register("bob").await;

    let r = app.delete("/users/alice", Some(&bob.access)).await;

    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    app.login("alice", PASSWORD).await;
}

#[tokio::test]
async fn an_admin_deletes_a_user_and_their_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let root = app.admin("root").await;

    let r = app.delete("/users/Bob", Some(&root.access)).await;

    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await, json!({"message": "deleted"}));
    assert_access_refused(&app, &bob.access).await;
    assert_refresh_refused(&app, &bob.refresh).await;
    let r = app.get("/users/bob", Some(&root.access)).await;
    assert_error(r, StatusCode::NOT_FOUND, "user_not_found").await;
    let r = login_status(&app, "bob", PASSWORD).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn deleting_a_missing_user_is_user_not_found() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;

    let r = app.delete("/users/nobody", Some(&root.access)).await;

    assert_error(r, StatusCode::NOT_FOUND, "user_not_found").await;
}

#[tokio::test]
async fn deleting_the_last_admin_is_last_admin() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;

    let r = app.delete("/users/root", Some(&root.access)).await;

    assert_error(r, StatusCode::CONFLICT, "last_admin").await;
    assert_access_accepted(&app, &root.access).await;
}

#[tokio::test]
async fn an_admin_may_be_deleted_while_another_admin_remains() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    app.admin("second").await;

    let r = app.delete("/users/second", Some(&root.access)).await;

    assert_eq!(r.status(), StatusCode::OK);
}

// ------------------------------------------------------------- sessions

#[tokio::test]
async fn a_user_lists_their_live_sessions_with_user_agent_and_ip() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    login_with_agent(&app, "bob", "tessera-tests/1.0 (laptop)").await;

    let r = app.get("/users/BOB/sessions", Some(&bob.access)).await;

    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    assert_no_secrets(&body, &[&bob.refresh]);
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    for s in sessions {
        assert_eq!(
            keys(s),
            set(&[
                "id",
                "created_at",
                "last_used_at",
                "expires_at",
                "user_agent",
                "ip"
            ])
        );
        assert!(uuid::Uuid::parse_str(s["id"].as_str().unwrap()).is_ok());
        assert_eq!(s["ip"], "127.0.0.1");
        assert!(s["created_at"].is_string() && s["expires_at"].is_string());
        assert!(s["last_used_at"].is_string());
    }
    let agents: BTreeSet<String> = sessions
        .iter()
        .map(|s| s["user_agent"].to_string())
        .collect();
    assert!(
        agents.contains("\"tessera-tests/1.0 (laptop)\""),
        "{agents:?}"
    );
}

#[tokio::test]
async fn an_admin_lists_anyones_sessions() {
    let app = TestApp::spawn().await;
    app.register("bob").await;
    let root = app.admin("root").await;

    let sessions = sessions_of(&app, "bob", &root.access).await;

    assert_eq!(sessions.len(), 1);
}

#[tokio::test]
async fn listing_someone_elses_sessions_without_being_admin_is_forbidden() {
    let app = TestApp::spawn().await;
    app.register("bob").await;
    let carol = app.register("carol").await;

    let r = app.get("/users/bob/sessions", Some(&carol.access)).await;

    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn listing_the_sessions_of_a_missing_user_as_admin_is_user_not_found() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;

    let r = app.get("/users/nobody/sessions", Some(&root.access)).await;

    assert_error(r, StatusCode::NOT_FOUND, "user_not_found").await;
}

#[tokio::test]
async fn logged_out_sessions_are_not_listed() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let gone = login_with_agent(&app, "bob", "soon-gone").await;
    let r = app
        .post("/auth/logout", Some(&gone.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let sessions = sessions_of(&app, "bob", &bob.access).await;

    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["user_agent"], Value::Null);
}

#[tokio::test]
async fn expired_sessions_are_not_listed() {
    let app = TestApp::spawn().await;
    app.register("bob").await;
    login_with_agent(&app, "bob", "old-one").await;
    app.clock.advance(Duration::from_secs(15 * 24 * 3600));
    let fresh = login_with_agent(&app, "bob", "new-one").await;

    let sessions = sessions_of(&app, "bob", &fresh.access).await;

    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["user_agent"], "new-one");
}

#[tokio::test]
async fn the_owner_revokes_one_of_their_sessions_and_its_access_token_is_refused() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let phone = login_with_agent(&app, "bob", "phone").await;
    let sid = session_id_by_agent(&app, "bob", &bob.access, "phone").await;

    let r = app
        .delete(&format!("/sessions/{sid}"), Some(&bob.access))
        .await;

    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_access_refused(&app, &phone.access).await;
    assert_refresh_refused(&app, &phone.refresh).await;
    assert_access_accepted(&app, &bob.access).await;
    let sessions = sessions_of(&app, "bob", &bob.access).await;
    assert!(sessions.iter().all(|s| s["id"] != sid.as_str()));
}

#[tokio::test]
async fn another_non_admin_revoking_a_session_gets_not_found() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let sessions = sessions_of(&app, "bob", &bob.access).await;
    let sid = sessions[0]["id"].as_str().unwrap();

    let r = app
        .delete(&format!("/sessions/{sid}"), Some(&carol.access))
        .await;

    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    assert_access_accepted(&app, &bob.access).await;
}

#[tokio::test]
async fn an_admin_revokes_anyones_session() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let root = app.admin("root").await;
    let sessions = sessions_of(&app, "bob", &root.access).await;
    let sid = sessions[0]["id"].as_str().unwrap();

    let r = app
        .delete(&format!("/sessions/{sid}"), Some(&root.access))
        .await;

    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_access_refused(&app, &bob.access).await;
    assert_refresh_refused(&app, &bob.refresh).await;
}

#[tokio::test]
async fn revoking_an_unknown_session_is_not_found() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;

    let r = app
        .delete(
            &format!("/sessions/{}", uuid::Uuid::new_v4()),
            Some(&bob.access),
        )
        .await;

    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn revoking_a_malformed_session_id_is_not_found() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;

    let r = app.delete("/sessions/not-a-uuid", Some(&bob.access)).await;

    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn revoking_an_already_revoked_session_is_not_found() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    login_with_agent(&app, "bob", "tablet").await;
    let sid = session_id_by_agent(&app, "bob", &bob.access, "tablet").await;
    let path = format!("/sessions/{sid}");
    assert_eq!(
        app.delete(&path, Some(&bob.access)).await.status(),
        StatusCode::NO_CONTENT
    );

    let r = app.delete(&path, Some(&bob.access)).await;

    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

// ------------------------------------------- registration and bootstrap

#[tokio::test]
async fn registration_when_disabled_is_registration_disabled() {
    let app = TestApp::builder()
        .env("TESSERA_ALLOW_REGISTRATION", "false")
        .spawn()
        .await;

    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;

    assert_error(r, StatusCode::FORBIDDEN, "registration_disabled").await;
    let r = login_status(&app, "alice", PASSWORD).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn the_bootstrap_admin_logs_in_with_the_admin_role() {
    let password = "bootstrap-passphrase-99";
    let app = TestApp::builder()
        .env("TESSERA_ADMIN_USERNAME", "boss")
        .env("TESSERA_ADMIN_PASSWORD", password)
        .spawn()
        .await;

    let boss = app.login("BOSS", password).await;

    assert_eq!(boss.body["user"]["username"], "boss");
    assert_eq!(boss.body["user"]["roles"], json!(["admin", "user"]));
    let r = app.get("/admin/audit", Some(&boss.access)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_registrations_of_one_username_yield_exactly_one_created() {
    let app = TestApp::spawn().await;
    let body = json!({"username": "racer", "password": PASSWORD});

    let responses = join_all((0..10).map(|_| app.post("/auth/register", None, body.clone()))).await;

    let mut created = 0;
    for r in responses {
        if r.status() == StatusCode::CREATED {
            created += 1;
        } else {
            assert_error(r, StatusCode::CONFLICT, "username_taken").await;
        }
    }
    assert_eq!(created, 1);
    app.login("racer", PASSWORD).await;
}

#[tokio::test]
async fn concurrent_registrations_differing_only_in_case_yield_exactly_one_created() {
    let app = TestApp::spawn().await;
    let names = [
        "racer", "Racer", "RACER", "rAcer", "raCer", "racEr", "raceR", "RaCeR", "rAcEr", "RACEr",
    ];

    let responses = join_all(names.iter().map(|n| {
        app.post(
            "/auth/register",
            None,
            json!({"username": n, "password": PASSWORD}),
        )
    }))
    .await;

    let mut winners = Vec::new();
    for (name, r) in names.iter().zip(responses) {
        if r.status() == StatusCode::CREATED {
            winners.push(*name);
        } else {
            assert_error(r, StatusCode::CONFLICT, "username_taken").await;
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let me = app.login("RACER", PASSWORD).await;
    assert_eq!(me.body["user"]["username"], winners[0]);
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
