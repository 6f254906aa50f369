//! ID tokens: RS256 by default, verified with the published JWKS.

use super::*;

// ------------------------------------------------------------------ ID tokens

#[tokio::test]
async fn the_id_token_is_rs256_with_the_openid_connect_claims() {
    let (app, alice, client) = code_setup().await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let code = sign_in_for_code(&mut browser, &request, "alice").await;
    let tokens = app.token_ok(None, &request.redeem(&code)).await;
    let id_token = str_of(&tokens, "id_token");

    let (header, _) = jwt_parts(id_token);
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], "RS256");
    let (access_header, _) = jwt_parts(str_of(&tokens, "access_token"));
    assert_eq!(access_header["alg"], "ES256", "access tokens keep theirs");

    let claims = verify_with_jwks(&app, id_token, &client.id).await;
    assert_eq!(claims["iss"], app.base.as_str());
    assert_eq!(claims["sub"], alice.body["user"]["id"]);
    assert_eq!(claims["aud"], client.id.as_str());
    assert_eq!(claims["azp"], client.id.as_str());
    assert_eq!(claims["nonce"], request.nonce.as_str());
    let iat = claims["iat"].as_i64().unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(exp > iat);
    assert!(auth_time <= iat && auth_time > iat - 60);
    assert_eq!(claims["preferred_username"], "alice");
}

#[tokio::test]
async fn with_hs256_access_tokens_the_jwks_holds_only_the_rs256_id_key_from_the_start() {
    let app = TestApp::builder()
        .env("TESSERA_JWT_ALG", "HS256")
        .env(
            "TESSERA_JWT_SECRET",
            "an-hs256-secret-of-at-least-32-bytes!",
        )
        .spawn()
        .await;
    // Published at start-up, before any client exists: a relying party
    // that caches the JWKS now can check the first ID token.
    let cached = app.jwks().await["keys"].as_array().unwrap().clone();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert_eq!(cached[0]["alg"], "RS256");

    let root = app.admin("root").await;
    app.register("alice").await;
    let client = app
        .create_client(&root.access, public_password("cli", &["openid"]))
        .await;
    let keys = app.jwks().await["keys"].as_array().unwrap().clone();
    assert_eq!(keys, cached, "the same key, nothing new");
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["alg"], "RS256");

    let tokens = app
        .token_ok(None, &alice_password(&[("client_id", &client.id)]))
        .await;
    let (access_header, _) = jwt_parts(str_of(&tokens, "access_token"));
    assert_eq!(access_header["alg"], "HS256");
    let id_token = str_of(&tokens, "id_token");
    let (header, _) = jwt_parts(id_token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], keys[0]["kid"]);
    verify_with_jwks(&app, id_token, &client.id).await;
    assert_eq!(token_status(&app, id_token).await, StatusCode::UNAUTHORIZED);
}

/// A first start answers before its RS256 ID-token key exists (making it
/// takes an RSA key generation); whoever needs the key first waits for
/// it, and callers at the same moment end with one key between them.
#[tokio::test]
async fn the_id_token_key_is_made_once_by_whoever_needs_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let store = tessera_core::store::connect(&url).await.unwrap();
    let stored = store.clone();
    let mut settings = tessera_core::Settings::new("http://tessera.test");
    settings.hash_cost = tessera_core::password::HashCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let clock = std::sync::Arc::new(tessera_token::clock::SystemClock);
    let domain = tessera_core::Tessera::start(store, settings, clock)
        .await
        .unwrap();
    // The keys stored, by algorithm; read from the store, since a list of
    // the domain's keys would itself make a missing ID-token key.
    let stored_keys = || async {
        let keys = stored.signing_keys().await.unwrap();
        keys.into_iter().map(|k| (k.alg, k.kid)).collect::<Vec<_>>()
    };
    let algs: Vec<String> = stored_keys()
        .await
        .into_iter()
        .map(|(alg, _)| alg)
        .collect();
    assert_eq!(algs, ["ES256"], "the access key alone is made at start");

    let keys = domain.keys();
    let (a, b, c, d) = tokio::join!(
        keys.ensure_id_token_key(),
        keys.ensure_id_token_key(),
        keys.ensure_id_token_key(),
        keys.ensure_id_token_key(),
    );
    for made in [a, b, c, d] {
        made.unwrap();
    }
    let made: Vec<String> = stored_keys()
        .await
        .into_iter()
        .filter(|(alg, _)| alg == "RS256")
        .map(|(_, kid)| kid)
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let published: Vec<String> = domain
        .keys()
        .jwks()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert!(published.contains(&made[0]), "{published:?}");
}

#[tokio::test]
async fn a_client_registered_for_es256_gets_es256_id_tokens() {
    let (app, root, _) = app_with_alice().await;
    let mut registration = public_password("cli", &["openid"]);
    registration["id_token_signed_response_alg"] = json!("ES256");
    let client = app.create_client(&root.access, registration).await;
    assert_eq!(
        client.body["client"]["id_token_signed_response_alg"],
        "ES256"
    );
    let tokens = app
        .token_ok(None, &alice_password(&[("client_id", &client.id)]))
        .await;
    let id_token = str_of(&tokens, "id_token");
    let (header, _) = jwt_parts(id_token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "JWT");
    verify_with_jwks(&app, id_token, &client.id).await;
    // Signed by the access-token key, and still no access token.
    assert_eq!(token_status(&app, id_token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_unsupported_id_token_algorithm_is_refused_at_registration() {
    let (app, root, _) = app_with_alice().await;
    for alg in ["HS256", "none", "PS256", "RS257"] {
        let mut registration = public_password("cli", &["openid"]);
        registration["id_token_signed_response_alg"] = json!(alg);
        let r = app
            .post("/admin/clients", Some(&root.access), registration)
            .await;
        assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    }
    let mut registration = public_password("cli", &["openid"]);
    registration["id_token_signed_response_alg"] = json!("RS256");
    app.create_client(&root.access, registration).await;
}

#[tokio::test]
async fn an_id_token_is_never_accepted_as_an_access_token() {
    // With RS256 access tokens, ID tokens come from the very same key.
    let app = TestApp::builder()
        .env("TESSERA_JWT_ALG", "RS256")
        .spawn()
        .await;
    let root = app.admin("root").await;
    app.register("alice").await;
    let client = app
        .create_client(&root.access, public_password("cli", &["openid"]))
        .await;
    let tokens = app
        .token_ok(None, &alice_password(&[("client_id", &client.id)]))
        .await;
    let id_token = str_of(&tokens, "id_token");
    let access = str_of(&tokens, "access_token");
    assert_eq!(jwt_parts(id_token).0["kid"], jwt_parts(access).0["kid"]);
    for path in ["/auth/verify", "/userinfo"] {
        assert_eq!(app.get(path, Some(access)).await.status(), StatusCode::OK);
    }
    // The client's access token is not for Tessera's own API (no tessera:account).
    assert_eq!(
        app.get("/me", Some(access)).await.status(),
        StatusCode::FORBIDDEN
    );
    for path in ["/me", "/auth/verify", "/userinfo"] {
        let r = app.get(path, Some(id_token)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}
