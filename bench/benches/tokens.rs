//! Access tokens per algorithm: signing, Tessera's full verification
//! (`tokens::verify_access_token`: strict parsing, header rules, key pinning,
//! signature, claims, revocation — what a token not seen before costs, the
//! cache-miss path), a hit in the cache of verified tokens (`VerifiedCache`,
//! what `Tessera::verify_access_token` does for a token seen before), a bare
//! `jsonwebtoken::decode` of the same token with issuer, audience and expiry
//! checked, and the signature check alone with aws-lc-rs and the public key
//! parsed beforehand — the most verifications per second a core can do, the
//! limit of the miss path.
//!
//! `cargo bench -p tessera-bench --bench tokens`

#![expect(clippy::expect_used, reason = "a benchmark may stop on broken set-up")]

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey,
    RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, RsaPublicKeyComponents,
    VerificationAlgorithm,
};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, Validation};
use std::hint::black_box;
use std::sync::Arc;
use tessera_token::keys::{KeyRing, SigningKey, alg_name, generate_private_key};
use tessera_token::revocation::RevocationSet;
use tessera_token::tokens::{
    ACCESS_TOKEN_TYP, AccessClaims, Audience, VerifyPolicy, new_jti, sign_jws, verify_access_token,
};
use tessera_token::verified_cache::VerifiedCache;

const ISSUER: &str = "http://127.0.0.1:8080";

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit")
}

fn claims(now: i64) -> AccessClaims {
    AccessClaims {
        iss: ISSUER.into(),
        sub: "0190a5b4-7f3c-7a4e-9c1d-3b2f6e8d9a10".into(),
        aud: Audience::One(ISSUER.into()),
        exp: now / 1000 + 900,
        iat: now / 1000,
        nbf: Some(now / 1000),
        jti: new_jti(now),
        sid: Some("5d1c7b0e-8a2f-4c3d-9e6b-1f0a2b3c4d5e".into()),
        username: Some("alice".into()),
        roles: Some(vec!["user".into(), "admin".into()]),
        client_id: None,
        scope: None,
        amr: None,
        auth_time: None,
    }
}

fn ring(alg: Algorithm) -> KeyRing {
    let key = if alg == Algorithm::HS256 {
        SigningKey::from_hmac_secret(alg, b"a benchmark secret of at least 32 bytes")
            .expect("HMAC key")
    } else {
        let der = generate_private_key(alg).expect("key generation");
        SigningKey::from_private_der(alg, &der, 0, 0, 1).expect("key parsing")
    };
    KeyRing::new(vec![Arc::new(key)])
}

fn tokens(c: &mut Criterion) {
    let policy = VerifyPolicy {
        issuer: ISSUER.into(),
        audience: ISSUER.into(),
        leeway_secs: 60,
        token_lifetime_ms: 960_000,
    };
    let revocations = RevocationSet::new();
    for alg in [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::HS256,
    ] {
        let name = alg_name(alg);
        let ring = ring(alg);
        let now = now_ms();
        let key = ring.signer(now).expect("a signing key");
        let claims = claims(now);
        let token = sign_jws(key, ACCESS_TOKEN_TYP, &claims).expect("signing");
        let mut group = c.benchmark_group(name);
        group.bench_function("sign", |b| {
            b.iter(|| sign_jws(key, ACCESS_TOKEN_TYP, black_box(&claims)))
        });
        group.bench_function("verify (tessera)", |b| {
            b.iter(|| {
                verify_access_token(black_box(&token), &ring, &revocations, &policy, now)
                    .expect("valid")
            })
        });
        let cache = VerifiedCache::default();
        cache
            .verify(&token, &ring, &revocations, &policy, now)
            .expect("valid");
        group.bench_function("verify (tessera, cached)", |b| {
            b.iter(|| {
                cache
                    .verify(black_box(&token), &ring, &revocations, &policy, now)
                    .expect("valid")
            })
        });
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[ISSUER]);
        validation.leeway = 60;
        let decoding = key.decoding_key();
        group.bench_function("verify (bare jsonwebtoken::decode)", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<AccessClaims>(black_box(&token), decoding, &validation)
                    .expect("valid")
            })
        });
        if let Some(public) = key.public_jwk() {
            let (alg, decoding) = public.verifying_key().expect("a sound JWK");
            let verification: &'static dyn VerificationAlgorithm = match alg {
                Algorithm::ES256 => &ECDSA_P256_SHA256_FIXED,
                Algorithm::ES384 => &ECDSA_P384_SHA384_FIXED,
                Algorithm::EdDSA => &ED25519,
                Algorithm::PS256 => &RSA_PSS_2048_8192_SHA256,
                _ => &RSA_PKCS1_2048_8192_SHA256,
            };
            let bytes = match decoding.kind() {
                jsonwebtoken::DecodingKeyKind::SecretOrDer(bytes) => bytes.clone(),
                jsonwebtoken::DecodingKeyKind::RsaModulusExponent { n, e } => {
                    RsaPublicKeyComponents { n, e }
                        .as_der()
                        .expect("an RSA key")
                        .as_ref()
                        .to_vec()
                }
            };
            let parsed = ParsedPublicKey::new(verification, bytes).expect("a public key");
            let (input, signature) = token.rsplit_once('.').expect("a JWS");
            let signature = tessera_token::crypto::b64url_decode(signature).expect("base64url");
            group.bench_function("signature only (bare aws-lc-rs, key parsed)", |b| {
                b.iter(|| {
                    parsed
                        .verify_sig(black_box(input.as_bytes()), &signature)
                        .expect("valid")
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, tokens);
criterion_main!(benches);
