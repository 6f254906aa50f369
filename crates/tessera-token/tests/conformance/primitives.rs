//! Wycheproof primitive vectors (ECDSA P-256/P-384 in P1363 form, Ed25519,
//! RSA PKCS#1 v1.5 and PSS 2048, HMAC-SHA256) through the crypto path Tessera
//! verifies with: a `DecodingKey` from key components and
//! `jsonwebtoken::crypto::verify`.

use crate::support::{groups, hex, judge, load, result, tc_id, tests};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tessera_token::crypto::b64url;
use tessera_token::keys::{PublicJwk, SigningKey, alg_name};

// ---------------------------------------------------------------------------
// Primitive vectors: the crypto path Tessera verifies with.

/// A PublicJwk for a vector's key, with the `alg` and `use` Tessera pins.
fn public_jwk(mut jwk: Value, alg: Algorithm) -> PublicJwk {
    let map = jwk.as_object_mut().expect("a JWK object");
    map.insert("alg".into(), json!(alg_name(alg)));
    map.insert("use".into(), json!("sig"));
    map.entry("kid").or_insert(json!("vector"));
    serde_json::from_value(jwk).expect("a PublicJwk")
}

/// An EC group's key: its JWK, or its uncompressed point when it has none.
fn ec_jwk(group: &Value, alg: Algorithm) -> PublicJwk {
    if let Some(jwk) = group.get("publicKeyJwk") {
        return public_jwk(jwk.clone(), alg);
    }
    let point = hex(group["publicKey"]["uncompressed"].as_str().expect("point"));
    let half = (point.len() - 1) / 2;
    let crv = if alg == Algorithm::ES256 {
        "P-256"
    } else {
        "P-384"
    };
    public_jwk(
        json!({
            "kty": "EC",
            "crv": crv,
            "x": b64url(&point[1..=half]),
            "y": b64url(&point[1 + half..]),
        }),
        alg,
    )
}

/// Verifies every case of a signature file through the crypto path with
/// `key_of(group)`'s components; the cases whose group key the strict import
/// (`verifying_key`) would refuse must be exactly `import_refused_expected`.
fn signature_file(
    name: &str,
    alg: Algorithm,
    key_of: impl Fn(&Value) -> PublicJwk,
    import_refused_expected: &[u64],
) {
    let file = load(&format!("wycheproof/{name}"));
    let mut outcomes = BTreeMap::new();
    let mut import_refused = Vec::new();
    for group in groups(&file) {
        let jwk = key_of(group);
        if jwk.verifying_key().is_err() {
            import_refused.extend(tests(group).iter().map(tc_id));
        }
        let key = jwk.decoding_key().expect("key components");
        for test in tests(group) {
            let tc = tc_id(test);
            let msg = hex(test["msg"].as_str().expect("msg"));
            let sig = hex(test["sig"].as_str().expect("sig"));
            let ok = jsonwebtoken::crypto::verify(&b64url(&sig), &msg, &key, alg).unwrap_or(false);
            outcomes.insert(tc, (result(test).to_owned(), ok, String::new()));
        }
    }
    judge(name, &outcomes, &BTreeMap::new());
    eprintln!("  cases whose key PublicJwk::verifying_key would refuse: {import_refused:?}");
    assert_eq!(
        import_refused, import_refused_expected,
        "{name}: strict import"
    );
}

#[test]
fn wycheproof_ecdsa_p256_p1363() {
    signature_file(
        "ecdsa_secp256r1_sha256_p1363_test.json",
        Algorithm::ES256,
        |g| ec_jwk(g, Algorithm::ES256),
        &[],
    );
}

#[test]
fn wycheproof_ecdsa_p384_p1363() {
    signature_file(
        "ecdsa_secp384r1_sha384_p1363_test.json",
        Algorithm::ES384,
        |g| ec_jwk(g, Algorithm::ES384),
        &[],
    );
}

#[test]
fn wycheproof_ed25519() {
    signature_file(
        "ed25519_test.json",
        Algorithm::EdDSA,
        |g| public_jwk(g["publicKeyJwk"].clone(), Algorithm::EdDSA),
        &[],
    );
}

#[test]
fn wycheproof_rsa_pkcs1_2048_sha256() {
    signature_file(
        "rsa_signature_2048_sha256_test.json",
        Algorithm::RS256,
        |g| public_jwk(g["keyJwk"].clone(), Algorithm::RS256),
        // Two groups have public exponent 3: the crypto path verifies them,
        // the strict import wants at least 65537.
        &[258, 259],
    );
}

#[test]
fn wycheproof_rsa_pss_2048_sha256_salt_32() {
    signature_file(
        "rsa_pss_2048_sha256_mgf1_32_test.json",
        Algorithm::PS256,
        |g| public_jwk(g["publicKeyJwk"].clone(), Algorithm::PS256),
        &[],
    );
}

#[test]
fn wycheproof_hmac_sha256() {
    let name = "hmac_sha256_test.json";
    let file = load(&format!("wycheproof/{name}"));
    let mut outcomes = BTreeMap::new();
    let mut deviations = BTreeMap::new();
    for group in groups(&file) {
        let truncated = group["tagSize"].as_u64() != Some(256);
        for test in tests(group) {
            let tc = tc_id(test);
            let key = SigningKey::from_hmac_secret(
                Algorithm::HS256,
                &hex(test["key"].as_str().expect("key")),
            )
            .expect("an HMAC key");
            let msg = hex(test["msg"].as_str().expect("msg"));
            let tag = hex(test["tag"].as_str().expect("tag"));
            let ok = jsonwebtoken::crypto::verify(
                &b64url(&tag),
                &msg,
                key.decoding_key(),
                Algorithm::HS256,
            )
            .unwrap_or(false);
            outcomes.insert(tc, (result(test).to_owned(), ok, String::new()));
            if truncated && result(test) == "valid" {
                deviations.insert(
                    tc,
                    "a truncated tag: an HS256 JWS signature is the whole 256-bit MAC",
                );
            }
        }
    }
    judge(name, &outcomes, &deviations);
}
