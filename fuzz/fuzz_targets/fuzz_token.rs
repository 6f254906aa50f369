//! Token parsing and verification: `jws::parse_compact` and
//! `tokens::verify_access_token` under a fixed ring, policy and clock.
//!
//! Input: one mode byte, then
//! - mode 0 (`b'0'`): the token text itself;
//! - mode 1 (`b'1'`): `HEADER\nPAYLOAD`, signed here with the fixed HS256 key;
//! - mode 2 (`b'2'`): `HEADER\nPAYLOAD`, signed here with the fixed ES256 key.
//!
//! The signing modes get past the signature check, so the header rules, the
//! claim types, time, issuer, audience and revocation are fuzzed too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tessera_fuzz::{
    AUDIENCE, ISSUER, LEEWAY_SECS, NOW_MS, REVOKED_JTI, REVOKED_SID, keys, policy, revocations,
    ring,
};
use tessera_token::crypto::{b64url, b64url_decode};
use tessera_token::jws::{self, MAX_TOKEN_BYTES};
use tessera_token::keys::{PublicJwk, alg_name};
use tessera_token::tokens::{AccessClaims, TokenError, verify_access_token};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let token = String::from_utf8_lossy(rest);
            check(&token, None);
        }
        m => {
            let (es, hs) = keys();
            let key = if m == 1 { hs } else { es };
            let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let header = &rest[..split];
            let payload = rest.get(split + 1..).unwrap_or_default();
            // The check that walks the claims without building them answers
            // as the parse that builds them.
            assert_eq!(
                jws::check_strict_object(payload).is_ok(),
                jws::strict_object(payload).is_ok(),
            );
            let mut token = format!("{}.{}", b64url(header), b64url(payload));
            let Ok(signature) = key.sign(token.as_bytes()) else {
                panic!("the fixed key failed to sign");
            };
            token.push('.');
            token.push_str(&b64url(&signature));
            check(&token, Some(key.kid()));
        }
    }
});

/// Verifies `token` and checks every invariant; `signed_by` is the kid of the
/// key that really signed it, when the target signed it.
fn check(token: &str, signed_by: Option<&str>) {
    let parsed = jws::parse_compact(token);
    let verified = verify_access_token(token, ring(), revocations(), policy(), NOW_MS);

    // What parse_compact refuses, verification refuses for the same reason;
    // what it accepts is never refused as malformed.
    match (&parsed, &verified) {
        (Err(e), v) => assert_eq!(v, &Err(TokenError::Malformed(e.clone()))),
        (Ok(_), Err(TokenError::Malformed(e))) => {
            panic!("parse_compact accepted a token verification calls malformed ({e})")
        }
        _ => {}
    }

    if let Ok(jws) = &parsed {
        assert!(token.len() <= MAX_TOKEN_BYTES);
        assert!(token.starts_with(jws.signing_input));
        assert!(token.ends_with(jws.signature_b64));
        assert_eq!(
            jws.signing_input.len() + 1 + jws.signature_b64.len(),
            token.len()
        );
        assert_eq!(
            b64url_decode(jws.signature_b64),
            Some(jws.signature.clone())
        );

        // The published JWK Set (the public ES256 key only) decides exactly
        // as the ring does for every token whose kid names the ES256 key.
        let es = &keys().0;
        if jws.header.get("kid").and_then(Value::as_str) == Some(es.kid()) {
            let jwks: Vec<PublicJwk> = es.public_jwk().into_iter().cloned().collect();
            let via_jwks = verify_access_token(token, &jwks[..], revocations(), policy(), NOW_MS);
            assert_eq!(via_jwks, verified);
        }
    }

    let Ok(claims) = &verified else {
        return;
    };
    let Ok(jws) = &parsed else {
        unreachable!("checked above")
    };
    accepted_claims_hold(claims, &jws.header, &jws.payload);

    if let Some(kid) = signed_by {
        // A token the target signed verifies only under the key that signed it.
        assert_eq!(jws.header.get("kid").and_then(Value::as_str), Some(kid));
        // Any change to the signature is caught.
        let mut forged_sig = jws.signature.clone();
        if let Some(last) = forged_sig.last_mut() {
            *last ^= 1;
        }
        let forged = format!("{}.{}", jws.signing_input, b64url(&forged_sig));
        assert_eq!(
            verify_access_token(&forged, ring(), revocations(), policy(), NOW_MS),
            Err(TokenError::BadSignature)
        );
    }
}

/// Everything an accepted token must satisfy under the fixed policy.
fn accepted_claims_hold(
    claims: &AccessClaims,
    header: &serde_json::Map<String, Value>,
    payload: &[u8],
) {
    let alg = header.get("alg").and_then(Value::as_str);
    assert!(
        alg == Some(alg_name(keys().0.alg())) || alg == Some(alg_name(keys().1.alg())),
        "accepted alg {alg:?}"
    );
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    assert!(jws::is_access_token_typ(typ), "accepted typ {typ:?}");
    assert!(!header.contains_key("crit"));

    let now = NOW_MS / 1000;
    assert_eq!(claims.iss, ISSUER);
    assert!(claims.aud.contains(AUDIENCE));
    assert!(now < claims.exp.saturating_add(LEEWAY_SECS), "expired");
    assert!(claims.iat <= now.saturating_add(LEEWAY_SECS), "iat ahead");
    if let Some(nbf) = claims.nbf {
        assert!(nbf <= now.saturating_add(LEEWAY_SECS), "nbf ahead");
    }
    assert_ne!(claims.sid.as_deref(), Some(REVOKED_SID));
    assert_ne!(claims.jti, REVOKED_JTI);
    if claims.sub == "revoked-user" {
        assert!(claims.issued_at_ms() >= NOW_MS);
    }

    // The claims are exactly what the payload says.
    let reparsed: AccessClaims =
        serde_json::from_slice(payload).unwrap_or_else(|e| panic!("payload re-parse: {e}"));
    assert_eq!(&reparsed, claims);
}
