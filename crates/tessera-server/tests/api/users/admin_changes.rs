//! What an admin's changes to an account do at once: disabling, role changes
//! and `DELETE /users/{username}` refuse the account's live tokens, and the
//! last admin can be neither demoted, disabled nor deleted.

use super::*;
use std::time::Duration;

// ------------------------------- PATCH /users/{username}: disabled, roles

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

    let access = make_bob_an_editor(&app, &root, &bob).await;
    let r = app.get("/auth/verify", Some(&access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-roles"], "editor,user");
    assert_access_accepted(&app, &access).await;
}

/// `root` makes `bob` an editor: bob's access token is refused at once and
/// his refresh token yields one with the new roles, which this returns.
async fn make_bob_an_editor(app: &TestApp, root: &Session, bob: &Session) -> String {
    let r = app
        .patch(
            "/users/bob",
            Some(&root.access),
            json!({"roles": ["editor"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_access_refused(app, &bob.access).await;
    let r = app.refresh(&bob.refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let refreshed = json_body(r).await;
    assert_eq!(refreshed["user"]["roles"], json!(["editor", "user"]));
    refreshed["access_token"].as_str().unwrap().to_owned()
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

/// A token's mint time is a millisecond. One minted in the very millisecond
/// of a role change, before it, carries the old roles and is refused; one
/// minted in that millisecond after it carries the new ones and is accepted.
#[tokio::test]
async fn a_role_change_in_the_millisecond_a_token_was_minted_refuses_it_and_not_the_next() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let bob = app.register("bob").await;
    // The clock stands still from here: one millisecond.
    let access = make_bob_an_editor(&app, &root, &bob).await;
    assert_access_accepted(&app, &access).await;
}
