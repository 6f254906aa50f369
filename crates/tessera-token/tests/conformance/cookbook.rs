//! The JOSE cookbook: the RFC 7520 §4 JWS examples (RSA v1.5, PSS, ECDSA,
//! HMAC), the RFC 7520 §3 public keys and the RFC 8037 §A.4 Ed25519 JWS.

use crate::support::{NOW, Secret, load};
use serde_json::{Value, json};
use tessera_token::crypto::{b64url, b64url_decode};
use tessera_token::keys::{PublicJwk, SigningKey, alg_name, parse_alg};
use tessera_token::tokens::{TokenError, verify_jws};

// ---------------------------------------------------------------------------
// The JOSE cookbook: RFC 7520 §4 and RFC 8037 §A.4.

/// The cookbook key with the `alg` the example names (its JWKs carry none,
/// and Tessera pins the algorithm by the key).
fn cookbook_jwk(example: &Value, kid: &str) -> PublicJwk {
    let alg = example["input"]["alg"].as_str().expect("alg");
    let mut key = example["input"]["key"].clone();
    let map = key.as_object_mut().expect("key");
    map.insert("alg".into(), json!(alg));
    map.entry("use").or_insert(json!("sig"));
    map.entry("kid").or_insert(json!(kid));
    serde_json::from_value(key).expect("a PublicJwk")
}

fn flip_first_signature_byte(compact: &str) -> String {
    let (head, sig) = compact.rsplit_once('.').unwrap();
    let mut sig = b64url_decode(sig).unwrap();
    sig[0] ^= 1;
    format!("{head}.{}", b64url(sig))
}

#[test]
fn jose_cookbook() {
    // (example, verified, what Tessera does).
    let mut record: Vec<(&str, bool, String)> = Vec::new();

    // Asymmetric examples, and whether Tessera supports their algorithm.
    for (path, supported) in [
        ("jws/4_1.rsa_v15_signature.json", true),
        ("jws/4_2.rsa-pss_signature.json", false),
        ("jws/4_3.ecdsa_signature.json", false),
        ("curve25519/jws.json", true),
    ] {
        let example = load(&format!("jose-cookbook/{path}"));
        let alg_text = example["input"]["alg"].as_str().unwrap();
        let jwk = cookbook_jwk(&example, "cookbook");
        let signing = &example["signing"];
        let compact = example["output"]["compact"].as_str().unwrap();
        let keys = [jwk.clone()];
        if !supported {
            assert!(
                parse_alg(alg_text).is_none(),
                "{path}: {alg_text} is supported now"
            );
            assert!(jwk.verifying_key().is_err(), "{path}: key imported");
            assert!(verify_jws(compact, keys.as_slice(), NOW, 0).is_err());
            record.push((
                path,
                false,
                format!(
                    "skipped: {alg_text} is not an algorithm Tessera supports; key and JWS refused"
                ),
            ));
            continue;
        }
        let (alg, key) = jwk.verifying_key().expect("the cookbook key imports");
        assert_eq!(alg_name(alg), alg_text);
        let input = signing["sig-input"].as_str().unwrap();
        let sig = signing["sig"].as_str().unwrap();
        assert!(
            jsonwebtoken::crypto::verify(sig, input.as_bytes(), &key, alg).unwrap(),
            "{path}: the signature does not verify"
        );
        assert_eq!(compact, format!("{input}.{sig}"));
        assert!(verify_jws(&flip_first_signature_byte(compact), keys.as_slice(), NOW, 0).is_err());
        if signing["protected"].get("kid").is_some() {
            verify_jws(compact, keys.as_slice(), NOW, 0).expect("the compact JWS verifies");
            record.push((
                path,
                true,
                format!("{alg_text}: signature and compact JWS verify"),
            ));
        } else {
            // RFC 8037's example names no key; Tessera requires a kid.
            assert_eq!(
                verify_jws(compact, keys.as_slice(), NOW, 0).unwrap_err(),
                TokenError::UnknownKey
            );
            record.push((
                path,
                true,
                format!("{alg_text}: signature verifies; the compact form has no kid, which verify_jws requires (refused: UnknownKey)"),
            ));
        }
    }

    // §4.4 HMAC, through the configured-secret path.
    let path = "jws/4_4.hmac-sha2_integrity_protection.json";
    let example = load(&format!("jose-cookbook/{path}"));
    let key = &example["input"]["key"];
    let alg = parse_alg(example["input"]["alg"].as_str().unwrap()).unwrap();
    let secret = b64url_decode(key["k"].as_str().unwrap()).unwrap();
    let source = Secret {
        kid: key["kid"].as_str().unwrap().to_owned(),
        key: SigningKey::from_hmac_secret(alg, &secret).unwrap(),
    };
    let signing = &example["signing"];
    let input = signing["sig-input"].as_str().unwrap();
    let sig = signing["sig"].as_str().unwrap();
    assert_eq!(
        source.key.sign(input.as_bytes()).unwrap(),
        b64url_decode(sig).unwrap(),
        "Tessera's HMAC signer reproduces the example"
    );
    assert!(
        jsonwebtoken::crypto::verify(sig, input.as_bytes(), source.key.decoding_key(), alg)
            .unwrap()
    );
    let compact = example["output"]["compact"].as_str().unwrap();
    verify_jws(compact, &source, NOW, 0).expect("the HS256 example verifies");
    assert!(verify_jws(&flip_first_signature_byte(compact), &source, NOW, 0).is_err());
    record.push((
        path,
        true,
        "HS256: signature reproduced, compact JWS verifies".into(),
    ));

    // §3 public keys: the RSA key (§4.1's) imports; the P-521 key does not.
    let rsa = load("jose-cookbook/jwk/3_3.rsa_public_key.json");
    assert_eq!(
        load("jose-cookbook/jws/4_1.rsa_v15_signature.json")["input"]["key"]["n"],
        rsa["n"]
    );
    let mut rsa_jwk = rsa.clone();
    rsa_jwk["alg"] = json!("RS256");
    let rsa_jwk: PublicJwk = serde_json::from_value(rsa_jwk).unwrap();
    assert!(rsa_jwk.verifying_key().is_ok());
    record.push((
        "jwk/3_3.rsa_public_key.json",
        true,
        "imports as RS256".into(),
    ));
    let mut ec = load("jose-cookbook/jwk/3_1.ec_public_key.json");
    ec["alg"] = json!("ES512");
    let ec: PublicJwk = serde_json::from_value(ec).unwrap();
    assert!(ec.verifying_key().is_err(), "P-521 is not supported");
    record.push((
        "jwk/3_1.ec_public_key.json",
        false,
        "skipped: P-521 (ES512) is not supported; import refused".into(),
    ));

    let verified = record.iter().filter(|r| r.1).count();
    let deviations = record
        .iter()
        .filter(|r| !r.1 || r.2.contains("refused"))
        .count();
    eprintln!(
        "jose-cookbook: ran {}, accepted {verified}, refused {}, deviations {deviations}",
        record.len(),
        record.len() - verified
    );
    for (path, _, what) in &record {
        eprintln!("  {path}: {what}");
    }
    assert_eq!(record.len(), 7);
}
