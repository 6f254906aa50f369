//! `PATCH /users/{username}`: a user's own profile fields, what only an admin
//! may send (`roles`, `disabled`), and the validation of the patch body.

use super::*;
use std::time::Duration;

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
                   "email": "alice@example.com", "phone": "+44 20 7946 0000",
                   "current_password": PASSWORD}),
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
            json!({"first_name": "Alice", "email": "alice@example.com", "phone": "555-0100",
                   "current_password": PASSWORD}),
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
async fn profile_text_with_u0000_is_refused_by_the_schema_naming_each_field() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;

    let r = app
        .patch(
            "/users/alice",
            Some(&alice.access),
            json!({"first_name": "Al\u{0}ice", "phone": "555\u{0}", "last_name": "Liddell"}),
        )
        .await;

    let body = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(
        body["error"]["details"],
        json!([
            {"path": "/first_name", "message": "must not contain U+0000"},
            {"path": "/phone", "message": "must not contain U+0000"},
        ])
    );
    // What the schema describes is what the server takes.
    let schema = json_body(app.get("/schemas/user_update", None).await).await;
    assert_eq!(schema["properties"]["phone"]["pattern"], "^[^\u{0}]*$");
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
