//! Keys and discovery (SPEC §4): the JWKS, the OpenID discovery document,
//! the admin key listing, manual rotation with a retiring key, automatic
//! rotation with pre-publication, and every signing algorithm end to end.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tessera_core::password::HashCost;
use tessera_core::secret::ExposeSecret;
use tessera_core::{ClientInfo, Tessera};
use tessera_token::clock::Clock;
use tessera_token::keys::{KeyStatus, PublicJwk, SigningKey, parse_alg};
use tessera_token::revocation::RevocationSet;
use tessera_token::tokens::{AccessClaims, Audience, VerifyPolicy, new_jti, sign_jws};

const MINUTE: u64 = 60;
const HOUR: u64 = 3_600;
/// Access TTL (15 min) plus leeway (60 s): how long a superseded key verifies.
const TOKEN_LIFETIME: Duration = Duration::from_secs(16 * MINUTE);

/// The decoded JOSE header of a compact JWS.
fn jwt_header(token: &str) -> Value {
    let header = token.split('.').next().expect("a header");
    let bytes = tessera_token::crypto::b64url_decode(header).expect("base64url header");
    serde_json::from_slice(&bytes).expect("JSON header")
}

fn kid_of(token: &str) -> String {
    jwt_header(token)["kid"].as_str().expect("kid").to_owned()
}

async fn jwks(app: &TestApp) -> Value {
    let r = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    json_body(r).await
}

/// The access-token keys of a JWKS of an ES256 server (the RS256 key there
/// signs ID tokens).
fn kids(set: &Value) -> Vec<String> {
    set["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["alg"] != "RS256")
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

/// The kids of the keys of `alg` in a JWKS.
fn kids_of_alg(set: &Value, alg: &str) -> Vec<String> {
    set["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["alg"] == alg)
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

/// The access-token keys a domain lists.
async fn access_keys(domain: &tessera_core::Tessera) -> Vec<tessera_core::service::KeyInfo> {
    domain
        .keys()
        .list_keys()
        .await
        .expect("keys")
        .into_iter()
        .filter(|k| k.purpose == tessera_token::keys::KeyPurpose::Access)
        .collect()
}

/// The keys of one `use` (`access`, `id_token`) an admin's key list shows.
fn listed<'a>(body: &'a Value, purpose: &str) -> Vec<&'a Value> {
    body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["use"] == purpose)
        .collect()
}

/// `GET /admin/keys` as a map kid → status.
async fn key_statuses(app: &TestApp, admin_token: &str) -> Vec<(String, String)> {
    let r = app.get("/admin/keys", Some(admin_token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().expect("kid").to_owned(),
                k["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

fn status_of(statuses: &[(String, String)], kid: &str) -> Option<String> {
    statuses
        .iter()
        .find(|(k, _)| k == kid)
        .map(|(_, s)| s.clone())
}

/// Verifies `token` with nothing but the published JWK Set, as a relying
/// service would.
fn verify_with_jwks(app: &TestApp, set: &Value, token: &str) -> AccessClaims {
    let keys: Vec<PublicJwk> = serde_json::from_value(set["keys"].clone()).expect("JWKs");
    let policy = VerifyPolicy {
        issuer: app.base.clone(),
        audience: app.base.clone(),
        leeway_secs: 60,
        token_lifetime_ms: 16 * 60 * 1000,
    };
    tessera_token::tokens::verify_access_token(
        token,
        keys.as_slice(),
        &RevocationSet::new(),
        &policy,
        app.clock.now_ms(),
    )
    .expect("the token verifies against the JWKS")
}

/// Private members of any JWK type (RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

#[tokio::test]
async fn the_jwks_publishes_the_active_public_key_and_nothing_private() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let r = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .is_ok_and(|ct| ct.contains("json"))
    );
    let set = json_body(r).await;
    let keys = set["keys"].as_array().expect("keys");
    // The access-token key, and the RS256 key of ID tokens (published from
    // the start, before it signs anything).
    assert_eq!(keys.len(), 2, "{set}");
    assert!(
        keys.iter()
            .any(|k| k["alg"] == "RS256" && k["kty"] == "RSA")
    );
    let key = keys.iter().find(|k| k["alg"] == "ES256").expect("ES256");
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["use"], "sig");
    assert!(key["x"].is_string() && key["y"].is_string());
    for member in PRIVATE_MEMBERS {
        assert!(key.get(member).is_none(), "{member} in {key}");
    }
    // The kid is the one tokens name, and the key alone verifies them.
    let kid = key["kid"].as_str().expect("kid");
    assert!(!kid.is_empty());
    let header = jwt_header(&alice.access);
    assert_eq!(header["kid"], kid);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    let claims = verify_with_jwks(&app, &set, &alice.access);
    assert_eq!(claims.username.as_deref(), Some("alice"));
}

#[tokio::test]
async fn the_discovery_document_describes_this_server() {
    let app = TestApp::spawn().await;
    let r = app.get("/.well-known/openid-configuration", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc = json_body(r).await;
    let base = &app.base;
    assert_eq!(doc["issuer"], *base);
    assert_eq!(doc["jwks_uri"], format!("{base}/.well-known/jwks.json"));
    assert_eq!(doc["token_endpoint"], format!("{base}/oauth/token"));
    assert_eq!(doc["revocation_endpoint"], format!("{base}/oauth/revoke"));
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{base}/oauth/introspect")
    );
    assert_eq!(doc["userinfo_endpoint"], format!("{base}/userinfo"));
    let grants = doc["grant_types_supported"].as_array().expect("grants");
    for grant in ["password", "refresh_token"] {
        assert!(grants.contains(&json!(grant)), "{grant} in {grants:?}");
    }
    let algs = doc["id_token_signing_alg_values_supported"]
        .as_array()
        .expect("algorithms");
    assert!(algs.contains(&json!("ES256")), "{algs:?}");
    assert!(!algs.contains(&json!("none")));

    // The issuer is what tokens carry, and the jwks_uri answers.
    let alice = app.register("alice").await;
    let set = jwks(&app).await;
    assert_eq!(verify_with_jwks(&app, &set, &alice.access).iss, *base);
    let jwks_uri = doc["jwks_uri"].as_str().expect("jwks_uri");
    let r = app.client.get(jwks_uri).send().await.expect("jwks");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn admin_keys_is_for_admins_only() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let r = app.get("/admin/keys", None).await;
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = app.get("/admin/keys", Some(&alice.access)).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app
        .post("/admin/keys/rotate", Some(&alice.access), json!({}))
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.post("/admin/keys/rotate", None, json!({})).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // The refused rotation changed nothing.
    assert_eq!(kids(&jwks(&app).await).len(), 1);

    let admin = app.admin("root").await;
    let r = app.get("/admin/keys", Some(&admin.access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    let keys = listed(&body, "access");
    assert_eq!(keys.len(), 1, "{body}");
    assert_eq!(listed(&body, "id_token").len(), 1, "{body}");
    let key = keys[0];
    assert_eq!(key["kid"], kid_of(&admin.access));
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["status"], "active");
    for field in ["created_at", "activates_at"] {
        let text = key[field].as_str().expect(field);
        assert!(
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{field}: {text}"
        );
    }
    assert!(key["retire_after"].is_null());
    for member in PRIVATE_MEMBERS {
        assert!(key.get(member).is_none(), "{member} in {key}");
    }
    assert!(!body.to_string().contains("private"));
}

/// A token signed by the stored key `kid` with a lifetime far beyond the
/// access TTL, so only the key's retirement can make it invalid.
async fn long_lived_token_signed_by(app: &TestApp, kid: &str, user: &Session) -> String {
    let store = tessera_core::store::connect(&app.database_url)
        .await
        .expect("store");
    let stored = store
        .signing_keys()
        .await
        .expect("keys")
        .into_iter()
        .find(|k| k.kid == kid)
        .expect("the key is stored");
    assert!(!stored.encrypted, "no master key in this test");
    let alg = parse_alg(&stored.alg).expect("alg");
    let key = SigningKey::from_private_der(
        alg,
        &stored.private_der,
        stored.created_at,
        stored.activates_at,
        stored.generation,
    )
    .expect("key");
    let genuine = verify_with_jwks(app, &jwks(app).await, &user.access);
    let now = app.clock.now_ms();
    let claims = AccessClaims {
        iss: app.base.clone(),
        sub: genuine.sub,
        aud: Audience::One(app.base.clone()),
        exp: now / 1000 + 86_400,
        iat: now / 1000,
        nbf: Some(now / 1000),
        jti: new_jti(now),
        sid: genuine.sid,
        username: genuine.username,
        roles: genuine.roles,
        client_id: None,
        scope: None,
        amr: None,
        auth_time: None,
    };
    sign_jws(&key, "at+jwt", &claims).expect("sign")
}

#[tokio::test]
async fn manual_rotation_signs_with_the_new_key_and_retires_the_old_one() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let admin = app.admin("root").await;
    let old_kid = kid_of(&alice.access);
    let old_long_lived = long_lived_token_signed_by(&app, &old_kid, &alice).await;
    assert_eq!(
        app.get("/me", Some(&old_long_lived)).await.status(),
        StatusCode::OK,
        "a token signed by the active key is accepted"
    );

    app.clock.advance(Duration::from_secs(MINUTE));
    let r = app
        .post("/admin/keys/rotate", Some(&admin.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let new_kid = json_body(r).await["kid"].as_str().expect("kid").to_owned();
    assert_ne!(new_kid, old_kid);

    // New tokens are signed by the new key…
    let fresh = app.login("alice", PASSWORD).await;
    assert_eq!(kid_of(&fresh.access), new_kid);
    assert_eq!(jwt_header(&fresh.access)["alg"], "ES256");
    // …old ones still verify, and both keys are published.
    assert_eq!(
        app.get("/me", Some(&alice.access)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/me", Some(&old_long_lived)).await.status(),
        StatusCode::OK
    );
    let set = jwks(&app).await;
    let published = kids(&set);
    assert_eq!(published.len(), 2, "{set}");
    assert!(published.contains(&old_kid) && published.contains(&new_kid));
    verify_with_jwks(&app, &set, &alice.access);
    verify_with_jwks(&app, &set, &fresh.access);
    let statuses = key_statuses(&app, &admin.access).await;
    assert_eq!(status_of(&statuses, &new_kid).as_deref(), Some("active"));
    assert_eq!(status_of(&statuses, &old_kid).as_deref(), Some("retiring"));
    let listed = json_body(app.get("/admin/keys", Some(&admin.access)).await).await;
    let retiring = listed["keys"]
        .as_array()
        .and_then(|ks| ks.iter().find(|k| k["kid"] == old_kid.as_str()))
        .expect("old key listed")
        .clone();
    assert!(retiring["retire_after"].is_string(), "{retiring}");

    // Just before every token it signed has expired, it still verifies.
    app.clock.advance(TOKEN_LIFETIME - Duration::from_secs(1));
    assert!(kids(&jwks(&app).await).contains(&old_kid));
    assert_eq!(
        app.get("/me", Some(&old_long_lived)).await.status(),
        StatusCode::OK
    );

    // Then it is retired: gone from the JWKS, its tokens refused.
    app.clock.advance(Duration::from_secs(2));
    assert_eq!(kids(&jwks(&app).await), vec![new_kid.clone()]);
    let r = app.get("/me", Some(&old_long_lived)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let r = app.get("/me", Some(&alice.access)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let admin = app.login("root", PASSWORD).await;
    assert_eq!(kid_of(&admin.access), new_kid);
    let statuses = key_statuses(&app, &admin.access).await;
    assert_eq!(status_of(&statuses, &old_kid).as_deref(), Some("retired"));
    assert_eq!(status_of(&statuses, &new_kid).as_deref(), Some("active"));
    // The new key's long-lived token is still fine.
    let new_long_lived = long_lived_token_signed_by(&app, &new_kid, &admin).await;
    assert_eq!(
        app.get("/me", Some(&new_long_lived)).await.status(),
        StatusCode::OK
    );
}

async fn status_in(domain: &Tessera, kid: &str) -> Option<KeyStatus> {
    domain
        .keys()
        .list_keys()
        .await
        .expect("keys")
        .into_iter()
        .find(|k| k.kid == kid)
        .map(|k| k.status)
}

/// Automatic rotation with pre-publication. The running server's upkeep
/// reloads keys only every 60 seconds of real time, so the rotation is driven
/// through the domain (`maintain()` on a second `Tessera` over the same
/// database and clock, as another replica would), and what a server shows is
/// checked on a second server started on that database.
#[tokio::test]
async fn automatic_rotation_prepublishes_the_next_key_before_it_signs() {
    let rotation_env = [
        ("TESSERA_KEY_ROTATION", "2h"),
        ("TESSERA_KEY_PREPUBLISH", "1h"),
    ];
    let mut builder = TestApp::builder();
    for (k, v) in rotation_env {
        builder = builder.env(k, v);
    }
    let app = builder.spawn().await;
    let alice = app.register("alice").await;
    app.admin("root").await;
    let first_kid = kid_of(&alice.access);

    let store = tessera_core::store::connect(&app.database_url)
        .await
        .expect("store");
    let mut settings = tessera_core::Settings::new(app.base.clone());
    settings.key_rotation = Some(Duration::from_secs(2 * HOUR));
    settings.key_prepublish = Duration::from_secs(HOUR);
    settings.hash_cost = HashCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let domain = Tessera::start(store, settings, Arc::new(app.clock.clone()))
        .await
        .expect("domain");
    let client = ClientInfo::default();

    // Not yet within the pre-publication period: nothing happens.
    domain.maintain().await.expect("maintain");
    app.clock.advance(Duration::from_secs(59 * MINUTE));
    domain.maintain().await.expect("maintain");
    assert_eq!(access_keys(&domain).await.len(), 1);

    // 61 minutes in: the next key is published, but does not sign yet.
    app.clock.advance(Duration::from_secs(2 * MINUTE));
    domain.maintain().await.expect("maintain");
    let keys = access_keys(&domain).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let next = keys
        .iter()
        .find(|k| k.status == KeyStatus::Next)
        .expect("a next key")
        .clone();
    assert_eq!(
        status_in(&domain, &first_kid).await,
        Some(KeyStatus::Active)
    );
    let first = keys.iter().find(|k| k.kid == first_kid).expect("first key");
    // It signs when the first key is two hours old, but never less than the
    // pre-publication hour after it appeared: here, one hour from now.
    let published_at = app.clock.now_ms();
    assert_eq!(
        next.activates_at,
        (first.activates_at + 2 * 3_600_000).max(published_at + 3_600_000)
    );
    assert!(next.activates_at - published_at >= 3_600_000);
    let published: Vec<String> = domain
        .keys()
        .jwks()
        .await
        .expect("jwks")
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert!(published.contains(&next.kid) && published.contains(&first_kid));
    let token = domain
        .sessions()
        .login("alice", PASSWORD, &client)
        .await
        .expect("login");
    assert_eq!(kid_of(token.access_token.expose_secret()), first_kid);
    // Running maintenance again does not add yet another key.
    domain.maintain().await.expect("maintain");
    assert_eq!(access_keys(&domain).await.len(), 2);

    // A server started on this database publishes the next key too.
    let mut builder = TestApp::builder().database_url(&app.database_url);
    for (k, v) in rotation_env {
        builder = builder.env(k, v);
    }
    let replica = builder.spawn().await;
    replica.clock.set(app.clock.now_ms());
    let set = jwks(&replica).await;
    let published = kids(&set);
    assert_eq!(published.len(), 2, "{set}");
    assert!(published.contains(&next.kid) && published.contains(&first_kid));
    let root = replica.login("root", PASSWORD).await;
    assert_eq!(kid_of(&root.access), first_kid);
    let statuses = key_statuses(&replica, &root.access).await;
    assert_eq!(status_of(&statuses, &next.kid).as_deref(), Some("next"));
    assert_eq!(status_of(&statuses, &first_kid).as_deref(), Some("active"));

    // A second before it activates, the first key still signs.
    let until_activation = u64::try_from(next.activates_at - app.clock.now_ms()).expect("future");
    let almost = Duration::from_millis(until_activation) - Duration::from_secs(1);
    app.clock.advance(almost);
    replica.clock.advance(almost);
    assert_eq!(status_in(&domain, &next.kid).await, Some(KeyStatus::Next));
    let root = replica.login("root", PASSWORD).await;
    assert_eq!(kid_of(&root.access), first_kid);

    // Then the next key signs and the first is retiring.
    app.clock.advance(Duration::from_secs(1));
    replica.clock.advance(Duration::from_secs(1));
    assert_eq!(status_in(&domain, &next.kid).await, Some(KeyStatus::Active));
    assert_eq!(
        status_in(&domain, &first_kid).await,
        Some(KeyStatus::Retiring)
    );
    let token = domain
        .sessions()
        .login("alice", PASSWORD, &client)
        .await
        .expect("login");
    assert_eq!(kid_of(token.access_token.expose_secret()), next.kid);
    let root = replica.login("root", PASSWORD).await;
    assert_eq!(kid_of(&root.access), next.kid);
    let statuses = key_statuses(&replica, &root.access).await;
    assert_eq!(status_of(&statuses, &next.kid).as_deref(), Some("active"));
    assert_eq!(
        status_of(&statuses, &first_kid).as_deref(),
        Some("retiring")
    );
    assert_eq!(kids(&jwks(&replica).await).len(), 2);

    // Once every token of the first key has expired, it is retired.
    app.clock.advance(TOKEN_LIFETIME);
    replica.clock.advance(TOKEN_LIFETIME);
    assert_eq!(
        status_in(&domain, &first_kid).await,
        Some(KeyStatus::Retired)
    );
    assert_eq!(kids(&jwks(&replica).await), vec![next.kid.clone()]);
    let root = replica.login("root", PASSWORD).await;
    let statuses = key_statuses(&replica, &root.access).await;
    assert_eq!(status_of(&statuses, &first_kid).as_deref(), Some("retired"));
}

/// Register, `/me`, the JWKS key and an independent verification with it.
async fn asymmetric_algorithm_end_to_end(alg: &str, kty: &str, crv: Option<&str>) {
    let app = TestApp::builder().env("TESSERA_JWT_ALG", alg).spawn().await;
    let alice = app.register("alice").await;
    let me = app.get("/me", Some(&alice.access)).await;
    assert_eq!(me.status(), StatusCode::OK, "{alg}");
    assert_eq!(json_body(me).await["user"]["username"], "alice");
    let header = jwt_header(&alice.access);
    assert_eq!(header["alg"], alg);
    assert_eq!(header["typ"], "at+jwt");

    let set = jwks(&app).await;
    let keys: Vec<&Value> = set["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["alg"] == alg)
        .collect();
    assert_eq!(keys.len(), 1, "{set}");
    let key = keys[0];
    assert_eq!(key["kty"], kty, "{alg}");
    assert_eq!(key["alg"], alg);
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"], header["kid"]);
    match crv {
        Some(crv) => assert_eq!(key["crv"], crv, "{alg}"),
        None => {
            assert!(key.get("crv").is_none(), "{key}");
            assert!(key["n"].is_string() && key["e"].is_string(), "{key}");
        }
    }
    for member in PRIVATE_MEMBERS {
        assert!(key.get(member).is_none(), "{member} in {key}");
    }
    let claims = verify_with_jwks(&app, &set, &alice.access);
    assert_eq!(claims.username.as_deref(), Some("alice"));

    // Refresh and rotation work with it too.
    let r = app.refresh(&alice.refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let admin = app.admin("root").await;
    let r = app
        .post("/admin/keys/rotate", Some(&admin.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let kid = json_body(r).await["kid"].as_str().expect("kid").to_owned();
    let fresh = app.login("alice", PASSWORD).await;
    assert_eq!(kid_of(&fresh.access), kid);
    assert_eq!(jwt_header(&fresh.access)["alg"], alg);
    verify_with_jwks(&app, &jwks(&app).await, &fresh.access);
}

#[tokio::test]
async fn es256_works_end_to_end() {
    asymmetric_algorithm_end_to_end("ES256", "EC", Some("P-256")).await;
}

#[tokio::test]
async fn es384_works_end_to_end() {
    asymmetric_algorithm_end_to_end("ES384", "EC", Some("P-384")).await;
}

#[tokio::test]
async fn eddsa_works_end_to_end() {
    asymmetric_algorithm_end_to_end("EdDSA", "OKP", Some("Ed25519")).await;
}

#[tokio::test]
async fn rs256_works_end_to_end() {
    asymmetric_algorithm_end_to_end("RS256", "RSA", None).await;
}

#[tokio::test]
async fn ps256_works_end_to_end() {
    asymmetric_algorithm_end_to_end("PS256", "RSA", None).await;
}

/// HMAC: tokens work, nothing is published, and rotation is refused.
async fn hmac_algorithm_end_to_end(alg: &str, secret: &str) {
    let app = TestApp::builder()
        .env("TESSERA_JWT_ALG", alg)
        .env("TESSERA_JWT_SECRET", secret)
        .env("TESSERA_ADMIN_USERNAME", "root")
        .env("TESSERA_ADMIN_PASSWORD", PASSWORD)
        .spawn()
        .await;
    let alice = app.register("alice").await;
    let me = app.get("/me", Some(&alice.access)).await;
    assert_eq!(me.status(), StatusCode::OK, "{alg}");
    let header = jwt_header(&alice.access);
    assert_eq!(header["alg"], alg);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(app.refresh(&alice.refresh).await.status(), StatusCode::OK);

    let set = jwks(&app).await;
    assert_eq!(
        kids_of_alg(&set, alg),
        Vec::<String>::new(),
        "a shared secret is never published"
    );

    let admin = app.login("root", PASSWORD).await;
    let r = app
        .post("/admin/keys/rotate", Some(&admin.access), json!({}))
        .await;
    assert_error(r, StatusCode::CONFLICT, "key_rotation_unavailable").await;
    let r = app.get("/admin/keys", Some(&admin.access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    let keys = listed(&body, "access");
    assert_eq!(keys.len(), 1, "{body}");
    assert_eq!(keys[0]["alg"], alg);
    assert_eq!(keys[0]["status"], "active");
    assert_eq!(keys[0]["kid"], header["kid"]);
    let secret_bytes = secret.strip_prefix("base64:").unwrap_or(secret);
    assert!(!body.to_string().contains(secret_bytes));

    // Still nothing published, and the same key signs after the refusal.
    assert_eq!(kids_of_alg(&jwks(&app).await, alg), Vec::<String>::new());
    let fresh = app.login("alice", PASSWORD).await;
    assert_eq!(kid_of(&fresh.access), kid_of(&alice.access));
    assert_eq!(
        app.get("/me", Some(&fresh.access)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn hs256_works_end_to_end_and_cannot_rotate() {
    hmac_algorithm_end_to_end("HS256", "0123456789abcdef0123456789abcdef").await;
}

#[tokio::test]
async fn hs384_works_end_to_end_and_cannot_rotate() {
    hmac_algorithm_end_to_end(
        "HS384",
        "a shared secret of forty-eight bytes or more, see RFC 7518",
    )
    .await;
}

#[tokio::test]
async fn hs512_works_end_to_end_and_cannot_rotate() {
    // 64 random-looking bytes, given as base64 (RFC 7518 §3.2: HS512 keys are at least 64 bytes).
    hmac_algorithm_end_to_end(
        "HS512",
        "base64:q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEg==",
    )
    .await;
}

#[test]
fn an_hmac_secret_shorter_than_32_bytes_is_refused_at_start_up() {
    let env = [
        ("TESSERA_JWT_ALG", "HS256"),
        ("TESSERA_JWT_SECRET", "0123456789abcdef0123456789abcde"),
    ];
    let err = tessera_server::Config::from_vars(env).expect_err("a 31-byte secret");
    assert_eq!(err.var, "TESSERA_JWT_SECRET");
    let env = [("TESSERA_JWT_ALG", "HS384")];
    let err = tessera_server::Config::from_vars(env).expect_err("no secret");
    assert_eq!(err.var, "TESSERA_JWT_SECRET");
}
