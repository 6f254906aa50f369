//! `GET /users/{username}/sessions` and `DELETE /sessions/{id}`: listing live
//! sessions, who may see and revoke them, and revocation refusing their tokens.

use super::*;
use std::time::Duration;

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
