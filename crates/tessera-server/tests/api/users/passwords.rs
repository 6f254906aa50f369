//! `POST /users/{username}/password`: changing one's own password (current
//! password, policy), an admin's reset, and the sessions each revokes.

use super::*;

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
