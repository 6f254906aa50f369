//! Registration, login, refresh, logout: the walk-through of the README.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn register_login_me_refresh_logout_then_the_old_token_is_refused() {
    let app = TestApp::spawn().await;
    let registered = app.register("alice").await;
    assert_eq!(registered.body["token_type"], "Bearer");
    assert_eq!(registered.body["expires_in"], 900);
    assert_eq!(registered.body["user"]["username"], "alice");
    assert_eq!(registered.body["user"]["roles"], json!(["user"]));

    let login = app.login("ALICE", PASSWORD).await;
    let me = json_body(app.get("/me", Some(&login.access)).await).await;
    assert_eq!(me["user"]["username"], "alice");

    let refreshed = app.refresh(&login.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed = json_body(refreshed).await;
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    assert_ne!(refreshed["refresh_token"], login.refresh);

    let r = app.post("/auth/logout", Some(&access), json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.get("/me", Some(&access)).await;
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let r = app
        .refresh(refreshed["refresh_token"].as_str().unwrap())
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    // The other session (registration) is untouched.
    assert_eq!(
        app.get("/me", Some(&registered.access)).await.status(),
        StatusCode::OK
    );
}
