//! Wycheproof `json_web_key_test.json`: each key set imported through
//! `PublicJwk::verifying_key` (the strict import) and the JWS checked with it,
//! what the lax path would have let through, and the configured-secret HMAC
//! path for the `oct` keys.

use crate::support::{NOW, Secret, groups, judge, load, result, tc_id, tests};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use tessera_token::crypto::b64url_decode;
use tessera_token::jws::{JwsError, parse_compact_opaque};
use tessera_token::keys::{PublicJwk, SigningKey, is_hmac, parse_alg};
use tessera_token::tokens::{TokenError, verify_jws};

// ---------------------------------------------------------------------------
// json_web_key_test.json

/// What Tessera does with each JWK case: the verdict of `verify_jws` with the
/// case's key set through the `[PublicJwk]` key source, and why.
fn jwk_expectations() -> Vec<(u64, Result<(), TokenError>, &'static str)> {
    use TokenError::*;
    vec![
        (
            1,
            Err(UnknownKey),
            "mixed key set: the HS256 key is `oct`, which Tessera never reads from a JWK (its HMAC secret is configured); the EC member's private `d` is ignored, not refused",
        ),
        (
            2,
            Err(UnknownKey),
            "HS256 key set: `oct` keys are not read from JWKs [deviation]",
        ),
        (
            3,
            Err(UnknownKey),
            "HS256 key set, modified MAC: `oct` keys are not read from JWKs",
        ),
        (
            4,
            Err(UnknownKey),
            "duplicate kid: `oct`, and a kid naming two keys names none",
        ),
        (
            5,
            Ok(()),
            "RS256 2048-bit key: imported, signature verifies",
        ),
        (
            6,
            Err(UnknownKey),
            "alg RSA1_5, use=enc: not a signing key, not imported",
        ),
        (
            7,
            Err(UnknownKey),
            "ROCA-vulnerable modulus: refused at import (fingerprint)",
        ),
        (
            8,
            Err(Malformed(JwsError::Shape)),
            "1024-bit RSA key: refused at import (under 2048 bits); the JWS (empty payload) is refused first by shape",
        ),
        (
            9,
            Err(Malformed(JwsError::Shape)),
            "public exponent 1: refused at import; the JWS (empty payload) is refused first by shape",
        ),
        (
            10,
            Err(UnknownKey),
            "HS256 with a 31-byte key: `oct` not read from JWKs",
        ),
        (
            11,
            Err(UnknownKey),
            "HS384 with a 47-byte key: `oct` not read from JWKs",
        ),
        (
            12,
            Err(UnknownKey),
            "HS512 with a 63-byte key: `oct` not read from JWKs",
        ),
        (
            13,
            Err(UnknownKey),
            "HS256 with a 64-byte key: `oct` not read from JWKs [deviation]",
        ),
        (
            14,
            Err(UnknownKey),
            "HS384 with a 64-byte key: `oct` not read from JWKs [deviation]",
        ),
        (
            15,
            Err(UnknownKey),
            "HS512 with a 64-byte key: `oct` not read from JWKs [deviation]",
        ),
        (
            16,
            Err(UnknownKey),
            "HS256 with an empty key: `oct` not read from JWKs",
        ),
        (
            17,
            Err(UnknownKey),
            "HS384 with an empty key: `oct` not read from JWKs",
        ),
        (
            18,
            Err(UnknownKey),
            "HS512 with an empty key: `oct` not read from JWKs",
        ),
        (
            19,
            Err(UnknownKey),
            "alg ES521 on a P-256 key: unsupported alg, not imported",
        ),
        (
            20,
            Err(UnknownKey),
            "alg ES224 on a P-256 key: unsupported alg, not imported",
        ),
        (
            21,
            Err(UnknownKey),
            "ES256 key with use=enc: refused at import (use must be sig)",
        ),
        (
            22,
            Err(UnknownKey),
            "P-256 point not on the curve: refused at import",
        ),
        (
            23,
            Err(UnknownKey),
            "crv P-384 with alg ES256 and P-256 coordinates: refused at import",
        ),
        (
            24,
            Err(UnknownKey),
            "kty RSA with EC members: refused at import",
        ),
        (
            25,
            Err(UnknownKey),
            "`oct` key with alg A256GCM: not read from JWKs, not a signing alg",
        ),
        (
            26,
            Err(UnknownKey),
            "`oct` key with alg A256KW: not read from JWKs, not a signing alg",
        ),
    ]
}

const OCT_NOT_READ: &str = "a symmetric (`oct`) key in a JWK Set: Tessera never reads HMAC keys \
     from JWKs; its HMAC secret is configured (TESSERA_JWT_SECRET)";

/// Valid JWK cases that Tessera refuses, and why.
const JWK_DEVIATIONS: &[(u64, &str)] = &[
    (2, OCT_NOT_READ),
    (13, OCT_NOT_READ),
    (14, OCT_NOT_READ),
    (15, OCT_NOT_READ),
];

/// The HMAC path for the `oct` cases, as if the key were Tessera's configured
/// secret: whether `SigningKey::from_hmac_secret` + `verify_jws` accepts the
/// JWS, and whether tessera-server's start-up rule for TESSERA_JWT_SECRET (at
/// least 32 bytes, whatever the HS algorithm) would let the secret in.
/// `None` when the HMAC path does not apply; otherwise (the JWS verifies with
/// the secret, start-up accepts the secret).
type HmacPath = Option<(bool, bool)>;

fn hmac_path_expectations() -> Vec<(u64, HmacPath, &'static str)> {
    vec![
        (1, Some((true, true)), "32-byte HS256 key"),
        (2, Some((true, true)), "32-byte HS256 key"),
        (3, Some((false, true)), "modified MAC refused"),
        (
            4,
            None,
            "a kid naming two secrets: one secret is configured, never a set",
        ),
        (
            10,
            Some((true, false)),
            "31-byte HS256 key: start-up refuses it (under 32 bytes)",
        ),
        (
            11,
            Some((true, true)),
            "47-byte HS384 key: GAP, start-up lets it in; RFC 7518 §3.2 wants at least 48 bytes for HS384",
        ),
        (
            12,
            Some((true, true)),
            "63-byte HS512 key: GAP, start-up lets it in; RFC 7518 §3.2 wants at least 64 bytes for HS512",
        ),
        (13, Some((true, true)), "64-byte HS256 key"),
        (14, Some((true, true)), "64-byte HS384 key"),
        (15, Some((true, true)), "64-byte HS512 key"),
        (16, Some((true, false)), "empty key: start-up refuses it"),
        (17, Some((true, false)), "empty key: start-up refuses it"),
        (18, Some((true, false)), "empty key: start-up refuses it"),
        (25, None, "alg A256GCM is not an HMAC algorithm"),
        (26, None, "alg A256KW is not an HMAC algorithm"),
    ]
}

#[test]
fn wycheproof_json_web_key() {
    let file = load("wycheproof/json_web_key_test.json");
    let expectations: BTreeMap<u64, (Result<(), TokenError>, &str)> = jwk_expectations()
        .into_iter()
        .map(|(tc, r, note)| (tc, (r, note)))
        .collect();
    let hmac_expectations: BTreeMap<u64, (HmacPath, &str)> = hmac_path_expectations()
        .into_iter()
        .map(|(tc, r, note)| (tc, (r, note)))
        .collect();
    let mut outcomes = BTreeMap::new();
    let mut mismatches = Vec::new();
    let mut imports = BTreeMap::<&str, usize>::new();
    let mut hmac_seen = BTreeSet::new();
    // Invalid cases the lax path (`decoding_key`, no checks) would accept.
    let mut lax_accepts = BTreeSet::new();
    // Cases whose one asymmetric key `verifying_key` refuses.
    let mut import_refused = BTreeSet::new();
    for group in groups(&file) {
        let set = group
            .get("public")
            .or_else(|| group.get("private"))
            .expect("a key set")["keys"]
            .as_array()
            .expect("keys");
        // Tessera's import: each member as a PublicJwk, used only if
        // `verifying_key` accepts it (the `[PublicJwk]` key source).
        let mut jwks = Vec::new();
        for member in set {
            let verdict = match serde_json::from_value::<PublicJwk>(member.clone()) {
                Ok(jwk) => {
                    let verdict = if member["kty"] == "oct" {
                        "oct: not read"
                    } else if jwk.verifying_key().is_ok() {
                        "imported"
                    } else {
                        "refused by verifying_key"
                    };
                    jwks.push(jwk);
                    verdict
                }
                Err(_) => "not a PublicJwk",
            };
            *imports.entry(verdict).or_default() += 1;
        }
        let one_refused = matches!(
            jwks.as_slice(),
            [jwk] if jwk.kty != "oct" && jwk.verifying_key().is_err()
        );
        for test in tests(group) {
            let tc = tc_id(test);
            if one_refused {
                import_refused.insert(tc);
            }
            let token = test["jws"].as_str().expect("jws");
            let got = verify_jws(token, jwks.as_slice(), NOW, 0).map(|_| ());
            let (want, note) = expectations
                .get(&tc)
                .unwrap_or_else(|| panic!("tcId {tc} has no recorded expectation"));
            if &got != want {
                mismatches.push(format!("tcId {tc}: {got:?}, recorded {want:?} ({note})"));
            }
            eprintln!("  tcId {tc} ({}): {note}", result(test));
            let lax = parse_compact_opaque(token).ok().and_then(|jws| {
                let kid = jws.header.get("kid")?.as_str()?;
                let jwk = jwks.iter().find(|k| k.kid == kid)?;
                let alg = parse_alg(&jwk.alg)?;
                let key = jwk.decoding_key().ok()?;
                let input = jws.signing_input.as_bytes();
                jsonwebtoken::crypto::verify(jws.signature_b64, input, &key, alg).ok()
            });
            if lax == Some(true) && result(test) == "invalid" {
                lax_accepts.insert(tc);
            }
            outcomes.insert(
                tc,
                (result(test).to_owned(), got.is_ok(), format!("{got:?}")),
            );
            // The HMAC path for oct keys named by the token's kid.
            let kid = parse_compact_opaque(token).ok().and_then(|j| {
                j.header
                    .get("kid")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            let named: Vec<&Value> = set
                .iter()
                .filter(|k| k["kty"] == "oct" && k["kid"].as_str() == kid.as_deref())
                .collect();
            if named.is_empty() {
                continue;
            }
            let hmac = match named.as_slice() {
                [one] => one["alg"]
                    .as_str()
                    .and_then(parse_alg)
                    .filter(|a| is_hmac(*a))
                    .map(|alg| {
                        let secret = b64url_decode(one["k"].as_str().unwrap()).unwrap();
                        let source = Secret {
                            kid: kid.clone().unwrap(),
                            key: SigningKey::from_hmac_secret(alg, &secret).unwrap(),
                        };
                        (
                            verify_jws(token, &source, NOW, 0).is_ok(),
                            secret.len() >= 32,
                        )
                    }),
                _ => None,
            };
            hmac_seen.insert(tc);
            let (want, note) = hmac_expectations
                .get(&tc)
                .unwrap_or_else(|| panic!("tcId {tc}: no recorded HMAC-path expectation"));
            if &hmac != want {
                mismatches.push(format!(
                    "tcId {tc} HMAC path: (verifies, start-up accepts) = {hmac:?}, recorded {want:?} ({note})"
                ));
            }
            eprintln!("    HMAC path {hmac:?}: {note}");
        }
    }
    assert_eq!(
        hmac_seen,
        hmac_expectations.keys().copied().collect(),
        "HMAC-path record"
    );
    assert!(
        mismatches.is_empty(),
        "JWK cases differ from the record:\n{}",
        mismatches.join("\n")
    );
    // What the strict import adds: a ROCA modulus, a use=enc key and a key
    // whose crv contradicts its alg all carry signatures that verify.
    assert_eq!(
        lax_accepts,
        BTreeSet::from([7, 21, 23]),
        "invalid JWK cases whose signature verifies with the unchecked key"
    );
    eprintln!(
        "  invalid cases refused only by the strict import (their signatures verify): {lax_accepts:?}"
    );
    assert_eq!(
        import_refused,
        BTreeSet::from([6, 7, 8, 9, 19, 20, 21, 22, 23, 24]),
        "cases whose key the strict import refuses"
    );
    let deviations: BTreeMap<u64, &str> = JWK_DEVIATIONS.iter().copied().collect();
    let tally = judge("json_web_key_test.json", &outcomes, &deviations);
    assert_eq!(tally.ran, expectations.len());
    eprintln!("  key import, per key: {imports:?}");
}
