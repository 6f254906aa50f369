//! Private signing keys at rest: sealed under `TESSERA_MASTER_KEY` when set.

use crate::helpers::*;
use reqwest::StatusCode;
use std::collections::HashMap;
use std::sync::Arc;
use tessera_server::Config;
use tessera_token::clock::SystemClock;
use tessera_token::keys::{SigningKey, parse_alg};

const MASTER: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// Fixed, so tokens stay valid across restarts on other ports.
const ISSUER: &str = "http://tessera.test";
const OTHER: &str = "HxwdHh8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo=";

async fn start_error(database_url: &str, master: Option<&str>) -> String {
    let mut env = HashMap::from([
        ("TESSERA_DATABASE_URL".to_owned(), database_url.to_owned()),
        ("TESSERA_BIND".to_owned(), "127.0.0.1:0".to_owned()),
    ]);
    if let Some(m) = master {
        env.insert("TESSERA_MASTER_KEY".into(), m.into());
    }
    let config = Config::from_vars(&env).unwrap();
    let addr = "127.0.0.1:1".parse().unwrap();
    match tessera_server::serve::start_domain(&config, addr, Arc::new(SystemClock)).await {
        Ok(_) => panic!("start-up should have failed"),
        Err(e) => e.to_string(),
    }
}

async fn stored_keys(url: &str) -> Vec<tessera_core::store::StoredKey> {
    tessera_core::store::connect(url)
        .await
        .unwrap()
        .signing_keys()
        .await
        .unwrap()
}

#[tokio::test]
async fn with_a_master_key_private_keys_are_stored_sealed_and_still_sign() {
    let app = TestApp::builder()
        .env("TESSERA_ISSUER", ISSUER)
        .env("TESSERA_MASTER_KEY", MASTER)
        .spawn()
        .await;
    let alice = app.register("alice").await;
    let url = app.database_url.clone();
    let keys = stored_keys(&url).await;
    assert!(!keys.is_empty());
    for k in &keys {
        assert!(k.encrypted);
        let alg = parse_alg(&k.alg).unwrap();
        assert!(
            SigningKey::from_private_der(alg, &k.private_der, 0, 0, 1).is_err(),
            "not a usable key as stored"
        );
    }
    let _data = app.stop_keeping_data().await;

    let again = TestApp::builder()
        .env("TESSERA_ISSUER", ISSUER)
        .env("TESSERA_MASTER_KEY", MASTER)
        .database_url(&url)
        .spawn()
        .await;
    assert_eq!(
        again.get("/me", Some(&alice.access)).await.status(),
        StatusCode::OK
    );
    again.login("alice", PASSWORD).await;
}

#[tokio::test]
async fn a_wrong_or_missing_master_key_stops_the_start_with_a_clear_message() {
    let app = TestApp::builder()
        .env("TESSERA_ISSUER", ISSUER)
        .env("TESSERA_MASTER_KEY", MASTER)
        .spawn()
        .await;
    let url = app.database_url.clone();
    let _data = app.stop_keeping_data().await;
    let wrong = start_error(&url, Some(OTHER)).await;
    assert!(
        wrong.contains("TESSERA_MASTER_KEY does not open"),
        "{wrong}"
    );
    let missing = start_error(&url, None).await;
    assert!(missing.contains("set TESSERA_MASTER_KEY"), "{missing}");
}

#[tokio::test]
async fn adding_a_master_key_later_seals_the_keys_stored_in_the_clear() {
    let app = TestApp::builder()
        .env("TESSERA_ISSUER", ISSUER)
        .spawn()
        .await;
    let alice = app.register("alice").await;
    let url = app.database_url.clone();
    assert!(stored_keys(&url).await.iter().all(|k| !k.encrypted));
    let _data = app.stop_keeping_data().await;
    let sealed = TestApp::builder()
        .env("TESSERA_ISSUER", ISSUER)
        .env("TESSERA_MASTER_KEY", MASTER)
        .database_url(&url)
        .spawn()
        .await;
    assert!(stored_keys(&url).await.iter().all(|k| k.encrypted));
    assert_eq!(
        sealed.get("/me", Some(&alice.access)).await.status(),
        StatusCode::OK
    );
    let rotated = sealed.admin("root").await;
    let r = sealed
        .post(
            "/admin/keys/rotate",
            Some(&rotated.access),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        stored_keys(&url).await.iter().all(|k| k.encrypted),
        "new keys are sealed too"
    );
}
