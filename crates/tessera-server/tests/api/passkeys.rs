//! Passkeys through the API (SPEC §11), with `webauthn-authenticator-rs`'s
//! software passkey in the browser's place: adding one (the options are the
//! bare WebAuthn L3 dictionary), the recovery codes that come with the
//! first factor, a passkey as the second step of a login, its challenge
//! working once, the signature counter moving, and the refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

/// Where people reach Tessera in these tests: WebAuthn needs a domain name.
const PUBLIC_URL: &str = "https://id.tessera.test";

fn origin() -> Url {
    Url::parse(PUBLIC_URL).unwrap()
}

async fn passkey_app() -> TestApp {
    TestApp::builder()
        .env("TESSERA_PUBLIC_URL", PUBLIC_URL)
        .spawn()
        .await
}

/// Adds a passkey held by `key` to `session`'s account; the answer.
async fn add_passkey(app: &TestApp, session: &Session, key: &mut SoftPasskey) -> Value {
    let r = app
        .post(
            "/me/factors/passkey/options",
            Some(&session.access),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let options = json_body(r).await["options"].clone();
    let options: CreationChallengeResponse =
        serde_json::from_value(json!({"publicKey": options})).unwrap();
    let credential = key.do_registration(origin(), options).unwrap();
    let r = app
        .post(
            "/me/factors/passkey",
            Some(&session.access),
            json!({"name": "Laptop", "credential": credential}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    json_body(r).await
}

/// The assertion `key` makes for `options` (the bare request dictionary).
fn assert_with(key: &mut SoftPasskey, options: &Value) -> Value {
    let options: RequestChallengeResponse =
        serde_json::from_value(json!({"publicKey": options})).unwrap();
    serde_json::to_value(key.do_authentication(origin(), options).unwrap()).unwrap()
}

#[tokio::test]
async fn a_passkey_is_added_with_its_options_and_then_is_the_second_step() {
    let app = passkey_app().await;
    let alice = app.register("alice").await;
    let r = app
        .post(
            "/me/factors/passkey/options",
            Some(&alice.access),
            json!({"password": "not the password at all"}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let r = app
        .post(
            "/me/factors/passkey/options",
            Some(&alice.access),
            json!({"password": PASSWORD}),
        )
        .await;
    let options = json_body(r).await["options"].clone();
    // The bare PublicKeyCredentialCreationOptionsJSON.
    assert!(options.get("publicKey").is_none(), "{options}");
    assert_eq!(options["rp"]["id"], "id.tessera.test");
    assert_eq!(options["attestation"], "none");
    let user_id = options["user"]["id"].as_str().unwrap();
    let raw = tessera_token::crypto::b64url_decode(user_id).unwrap();
    assert_eq!(
        raw,
        uuid::Uuid::parse_str(alice.body["user"]["id"].as_str().unwrap())
            .unwrap()
            .as_bytes()
    );
    let algs: Vec<i64> = options["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alg"].as_i64().unwrap())
        .collect();
    assert!(
        algs.contains(&-7) && algs.contains(&-257),
        "ES256 and RS256: {algs:?}"
    );

    let mut key = SoftPasskey::new(true);
    let added = add_passkey(&app, &alice, &mut key).await;
    assert_eq!(added["factor"]["type"], "passkey");
    assert_eq!(added["factor"]["name"], "Laptop");
    assert_eq!(added["recovery_codes"].as_array().unwrap().len(), 10);

    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    let body = assert_error(r, StatusCode::UNAUTHORIZED, "mfa_required").await;
    assert_eq!(
        body["error"]["factors"],
        json!(["passkey", "recovery_code"])
    );
    let token = body["error"]["mfa_token"].as_str().unwrap();
    let r = app
        .post("/auth/login/mfa/options", None, json!({"mfa_token": token}))
        .await;
    let options = json_body(r).await["options"].clone();
    assert_eq!(
        options["userVerification"], "preferred",
        "as a second factor"
    );
    assert_eq!(options["allowCredentials"].as_array().unwrap().len(), 1);
    let assertion = assert_with(&mut key, &options);
    let r = app
        .post(
            "/auth/login/mfa",
            None,
            json!({"mfa_token": token, "credential": assertion}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens = json_body(r).await;
    assert_eq!(
        jwt_parts(tokens["access_token"].as_str().unwrap()).1["amr"],
        json!(["pwd", "hwk", "mfa"])
    );

    // The same assertion (its challenge spent) does not sign in again.
    let token = crate::factors::mfa_token(&app, "alice").await;
    let r = app
        .post(
            "/auth/login/mfa",
            None,
            json!({"mfa_token": token, "credential": assertion}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    // A fresh one does, and the stored signature counter moves.
    let store = tessera_core::store::connect(&app.database_url)
        .await
        .unwrap();
    let user = store.user_by_username("alice").await.unwrap().unwrap().user;
    let counter = |factors: &[tessera_core::store::StoredFactor]| -> u64 {
        let stored: Value =
            serde_json::from_str(factors[0].credential.as_deref().unwrap()).unwrap();
        stored["cred"]["counter"].as_u64().unwrap()
    };
    let before = counter(&store.factors_of(user.id).await.unwrap());
    let r = app
        .post("/auth/login/mfa/options", None, json!({"mfa_token": token}))
        .await;
    let options = json_body(r).await["options"].clone();
    let r = app
        .post(
            "/auth/login/mfa",
            None,
            json!({"mfa_token": token, "credential": assert_with(&mut key, &options)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let after = counter(&store.factors_of(user.id).await.unwrap());
    assert!(after > before, "the sign count moved: {before} → {after}");
    app.stop().await;
}

#[tokio::test]
async fn another_persons_key_or_a_forged_answer_is_refused() {
    let app = passkey_app().await;
    let bob = app.register("bob").await;
    let mut bobs_key = SoftPasskey::new(true);
    add_passkey(&app, &bob, &mut bobs_key).await;
    let eve = app.register("eve").await;
    let mut eves_key = SoftPasskey::new(true);
    add_passkey(&app, &eve, &mut eves_key).await;

    let token = crate::factors::mfa_token(&app, "bob").await;
    let r = app
        .post("/auth/login/mfa/options", None, json!({"mfa_token": token}))
        .await;
    let options = json_body(r).await["options"].clone();
    // Eve's key cannot answer for Bob (it holds none of his credentials).
    let options_req: RequestChallengeResponse =
        serde_json::from_value(json!({"publicKey": options})).unwrap();
    assert!(eves_key.do_authentication(origin(), options_req).is_err());
    // A tampered signature is refused.
    let mut assertion = assert_with(&mut bobs_key, &options);
    let signature = assertion["response"]["signature"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    assertion["response"]["signature"] = json!(format!("{flipped}{}", &signature[1..]));
    let r = app
        .post(
            "/auth/login/mfa",
            None,
            json!({"mfa_token": token, "credential": assertion}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    // Not a credential at all.
    let r = app
        .post(
            "/auth/login/mfa",
            None,
            json!({"mfa_token": token, "credential": {"id": 1}}),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    // Both a code and a credential: refused by the schema.
    let r = app
        .post(
            "/auth/login/mfa",
            None,
            json!({"mfa_token": token, "code": "123456", "credential": {}}),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    app.stop().await;
}

#[tokio::test]
async fn without_a_domain_name_passkeys_say_so() {
    let app = TestApp::spawn().await;
    let cy = app.register("cyd").await;
    let r = app
        .post(
            "/me/factors/passkey/options",
            Some(&cy.access),
            json!({"password": PASSWORD}),
        )
        .await;
    let body = assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TESSERA_PUBLIC_URL")
    );
    let r = app.post("/auth/passkey/options", None, json!({})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    app.stop().await;
}

#[tokio::test]
async fn passwordless_options_ask_for_a_discoverable_credential_with_user_verification() {
    let app = passkey_app().await;
    let r = app.post("/auth/passkey/options", None, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let options = json_body(r).await["options"].clone();
    assert_eq!(options["userVerification"], "required");
    assert_eq!(options["rpId"], "id.tessera.test");
    assert_eq!(options["allowCredentials"], json!([]));
    // An answer to no open challenge is refused like a wrong password.
    let forged = json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {
            "clientDataJSON": tessera_token::crypto::b64url(br#"{"type":"webauthn.get","challenge":"AAAA","origin":"https://id.tessera.test"}"#),
            "authenticatorData": "AAAA", "signature": "AAAA", "userHandle": "AAAA"
        },
        "extensions": {}
    });
    let r = app
        .post("/auth/passkey", None, json!({"credential": forged}))
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    app.stop().await;
}

#[tokio::test]
async fn a_ceremony_begun_before_a_restart_finishes_after_it() {
    // One issuer across the restart, so the access token stays good.
    let app = TestApp::builder()
        .env("TESSERA_ISSUER", PUBLIC_URL)
        .env("TESSERA_PUBLIC_URL", PUBLIC_URL)
        .spawn()
        .await;
    let dan = app.register("dan").await;
    let r = app
        .post(
            "/me/factors/passkey/options",
            Some(&dan.access),
            json!({"password": PASSWORD}),
        )
        .await;
    let options = json_body(r).await["options"].clone();
    let url = app.database_url.clone();
    let _data = app.stop_keeping_data().await;
    let again = TestApp::builder()
        .env("TESSERA_ISSUER", PUBLIC_URL)
        .env("TESSERA_PUBLIC_URL", PUBLIC_URL)
        .database_url(&url)
        .spawn()
        .await;
    let mut key = SoftPasskey::new(true);
    let options: CreationChallengeResponse =
        serde_json::from_value(json!({"publicKey": options})).unwrap();
    let credential = key.do_registration(origin(), options).unwrap();
    let r = again
        .post(
            "/me/factors/passkey",
            Some(&dan.access),
            json!({"credential": credential}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Its challenge worked once.
    let r = again
        .post(
            "/me/factors/passkey",
            Some(&dan.access),
            json!({"credential": credential}),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    again.stop().await;
}

#[tokio::test]
async fn postgres_a_ceremony_begun_on_one_replica_finishes_on_another() {
    let Some(first) = TestApp::builder()
        .postgres()
        .env("TESSERA_ISSUER", PUBLIC_URL)
        .env("TESSERA_PUBLIC_URL", PUBLIC_URL)
        .try_spawn()
        .await
    else {
        return;
    };
    let second = TestApp::builder()
        .database_url(&first.database_url)
        .env("TESSERA_ISSUER", PUBLIC_URL)
        .env("TESSERA_PUBLIC_URL", PUBLIC_URL)
        .try_spawn()
        .await
        .expect("second replica");
    let eva = first.register("eva").await;
    let mut key = SoftPasskey::new(true);
    let r = first
        .post(
            "/me/factors/passkey/options",
            Some(&eva.access),
            json!({"password": PASSWORD}),
        )
        .await;
    let options = json_body(r).await["options"].clone();
    let options: CreationChallengeResponse =
        serde_json::from_value(json!({"publicKey": options})).unwrap();
    let credential = key.do_registration(origin(), options).unwrap();
    let r = second
        .post(
            "/me/factors/passkey",
            Some(&eva.access),
            json!({"credential": credential}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let r = second
        .post(
            "/auth/login",
            None,
            json!({"username": "eva", "password": PASSWORD}),
        )
        .await;
    let body = assert_error(r, StatusCode::UNAUTHORIZED, "mfa_required").await;
    let token = body["error"]["mfa_token"].as_str().unwrap();
    let r = second
        .post("/auth/login/mfa/options", None, json!({"mfa_token": token}))
        .await;
    let options = json_body(r).await["options"].clone();
    let r = first
        .post(
            "/auth/login/mfa",
            None,
            json!({"mfa_token": token, "credential": assert_with(&mut key, &options)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    first.stop().await;
    second.stop().await;
}
