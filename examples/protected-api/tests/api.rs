//! protected-api against a real Tessera: a registered user's token reaches
//! `/hello`; no token does not; after a logout the token is refused,
//! learnt from Tessera's event stream.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The same in-process Tessera tessera-verify's tests use.
#[path = "../../../crates/tessera-verify/tests/verify/harness.rs"]
mod harness;

use harness::{ADMIN, PASSWORD, Tessera, wait_for_stream};
use protected_api::{Config, app, verifier};
use reqwest::StatusCode;
use std::time::Duration;

/// Serves protected-api on a free port, trusting `tessera`.
async fn serve(tessera: &Tessera) -> (String, tessera_verify::Verifier) {
    let config = Config::from_lookup(|name| match name {
        "TESSERA_URL" => Some(tessera.base.clone()),
        "TESSERA_EVENTS_USERNAME" => Some(ADMIN.into()),
        "TESSERA_EVENTS_PASSWORD" => Some(PASSWORD.into()),
        _ => None,
    });
    let verifier = verifier(&config).unwrap();
    tokio::time::timeout(Duration::from_secs(10), verifier.ready())
        .await
        .unwrap()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = app(verifier.clone());
    tokio::spawn(async move { axum::serve(listener, service).await });
    (base, verifier)
}

async fn hello(base: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{base}/hello"));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_registered_users_token_gets_their_username() {
    let tessera = Tessera::spawn().await;
    let (api, _verifier) = serve(&tessera).await;
    let alice = tessera.register("alice").await;

    let response = hello(&api, Some(&alice.access)).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"username": "alice"}));
}

#[tokio::test]
async fn no_token_is_401_with_a_bearer_challenge() {
    let tessera = Tessera::spawn().await;
    let (api, _verifier) = serve(&tessera).await;

    let response = hello(&api, None).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn after_logout_the_token_is_401() {
    let tessera = Tessera::spawn().await;
    let (api, verifier) = serve(&tessera).await;
    let alice = tessera.register("alice").await;
    assert_eq!(
        hello(&api, Some(&alice.access)).await.status(),
        StatusCode::OK
    );
    let applied = verifier.stream_state().unwrap().revocations_applied;

    tessera.logout(&alice.access).await;
    wait_for_stream(&verifier, |s| s.revocations_applied > applied).await;

    let response = hello(&api, Some(&alice.access)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
}
