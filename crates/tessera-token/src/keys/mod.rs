//! Signing keys: the algorithms Tessera signs with, public JWKs for
//! verifiers (`jwk.rs`), parsed key pairs kept for signing and their
//! generation (`signing.rs`), keys parsed once to check signatures
//! (`verifying.rs`), and the key ring that decides which key signs and which
//! still verify (`ring.rs`).

mod jwk;
mod ring;
mod signing;
mod verifying;

pub use jsonwebtoken::Algorithm;
pub use jwk::{JwkSet, PublicJwk};
pub use ring::{KeyPurpose, KeyRing, KeyState, KeyStatus};
pub use signing::{SigningKey, generate_private_key};
pub use verifying::VerifyingKey;

/// The algorithms Tessera signs with.
pub const SUPPORTED_ALGORITHMS: [Algorithm; 8] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
];

/// The JWS name of an algorithm (`ES256`, `EdDSA`, …).
pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        _ => "unsupported",
    }
}

/// Parses one of [`SUPPORTED_ALGORITHMS`] by its exact JWS name.
pub fn parse_alg(name: &str) -> Option<Algorithm> {
    SUPPORTED_ALGORITHMS
        .into_iter()
        .find(|a| alg_name(*a) == name)
}

/// Whether `alg` is an HMAC algorithm (a shared secret, no public key).
pub fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Why a key could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The algorithm is not one Tessera signs with.
    #[error("unsupported algorithm")]
    Unsupported,
    /// The stored private key does not parse for its algorithm.
    #[error("key material is invalid for {0}")]
    Invalid(&'static str),
    /// Signing failed.
    #[error("signing failed")]
    Sign,
}

#[cfg(test)]
mod tests {
    use super::jwk::has_roca_fingerprint;
    use super::*;
    use crate::clock::Millis;
    use crate::crypto::{b64url, b64url_decode};
    use std::sync::Arc;

    fn key(alg: Algorithm, activates_at: Millis, generation: i64) -> Arc<SigningKey> {
        let der = generate_private_key(alg).unwrap();
        Arc::new(SigningKey::from_private_der(alg, &der, 0, activates_at, generation).unwrap())
    }

    #[test]
    fn every_asymmetric_algorithm_signs_and_verifies() {
        for alg in [
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
            Algorithm::RS256,
            Algorithm::PS256,
        ] {
            let k = key(alg, 0, 1);
            let sig = k.sign(b"a.b").unwrap();
            let ok =
                jsonwebtoken::crypto::verify(&b64url(&sig), b"a.b", k.decoding_key(), alg).unwrap();
            assert!(ok, "{alg:?}");
            let bad =
                jsonwebtoken::crypto::verify(&b64url(&sig), b"a.c", k.decoding_key(), alg).unwrap();
            assert!(!bad, "{alg:?}");
            assert_eq!(k.public_jwk().unwrap().alg, alg_name(alg));
        }
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // RFC 7638 §3.1 example key.
        let jwk = PublicJwk {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: "RS256".into(),
            kid: String::new(),
            crv: None,
            x: None,
            y: None,
            n: Some("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into()),
            e: Some("AQAB".into()),
        };
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn ring_statuses_follow_activation_and_token_lifetime() {
        let old = key(Algorithm::ES256, 0, 1);
        let current = key(Algorithm::ES256, 1_000, 2);
        let next = key(Algorithm::ES256, 5_000, 3);
        let ring = KeyRing::new(vec![old.clone(), next.clone(), current.clone()]);
        assert_eq!(ring.signer(2_000).unwrap().kid(), current.kid());
        let states = ring.states(2_000, 900);
        let status = |k: &Arc<SigningKey>| {
            states
                .iter()
                .find(|s| s.key.kid() == k.kid())
                .unwrap()
                .status
        };
        assert_eq!(status(&next), KeyStatus::Next);
        assert_eq!(status(&current), KeyStatus::Active);
        assert_eq!(
            status(&old),
            KeyStatus::Retired,
            "superseded at 1000, tokens dead by 1900"
        );
        let states = ring.states(1_500, 900);
        assert_eq!(
            states
                .iter()
                .find(|s| s.key.kid() == old.kid())
                .unwrap()
                .status,
            KeyStatus::Retiring
        );
        assert!(ring.verifier(old.kid(), 1_500, 900).is_some());
        assert!(ring.verifier(old.kid(), 2_000, 900).is_none());
        assert_eq!(ring.published(2_000, 900).len(), 2);
        assert_eq!(ring.signer(6_000).unwrap().kid(), next.kid());
    }

    #[test]
    fn published_keys_import_strictly_and_mismatches_do_not() {
        for alg in [
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
            Algorithm::RS256,
            Algorithm::PS256,
        ] {
            let k = key(alg, 0, 1);
            let jwk = k.public_jwk().unwrap().clone();
            let (got, decoding) = jwk.verifying_key().unwrap();
            assert_eq!(got, alg);
            let sig = b64url(k.sign(b"a.b").unwrap());
            assert!(jsonwebtoken::crypto::verify(&sig, b"a.b", &decoding, alg).unwrap());
            let enc = PublicJwk {
                use_: "enc".into(),
                ..jwk.clone()
            };
            assert!(enc.verifying_key().is_err(), "{alg:?} use=enc");
            let hmac = PublicJwk {
                alg: "HS256".into(),
                ..jwk.clone()
            };
            assert!(hmac.verifying_key().is_err(), "{alg:?} as HS256");
        }
        let p256 = key(Algorithm::ES256, 0, 1).public_jwk().unwrap().clone();
        let wrong_curve = PublicJwk {
            crv: Some("P-384".into()),
            ..p256.clone()
        };
        assert!(wrong_curve.verifying_key().is_err());
        let mut y = b64url_decode(p256.y.as_deref().unwrap()).unwrap();
        y[31] ^= 1;
        let off_curve = PublicJwk {
            y: Some(b64url(&y)),
            ..p256.clone()
        };
        assert!(
            off_curve.decoding_key().is_ok(),
            "decoding_key does not look"
        );
        assert!(off_curve.verifying_key().is_err());
        let rsa = key(Algorithm::RS256, 0, 1).public_jwk().unwrap().clone();
        let exponent_one = PublicJwk {
            e: Some("AQ".into()),
            ..rsa.clone()
        };
        assert!(exponent_one.verifying_key().is_err());
        let n = b64url_decode(rsa.n.as_deref().unwrap()).unwrap();
        let short = PublicJwk {
            n: Some(b64url(&n[..128])),
            ..rsa
        };
        assert!(short.verifying_key().is_err(), "1024-bit modulus");
    }

    #[test]
    fn roca_fingerprint() {
        // 1 and 65537 lie in the subgroup 65537 generates modulo every
        // prime; 0 and a multiple of 11 are not units modulo 11 at all.
        assert!(has_roca_fingerprint(&[1]));
        assert!(has_roca_fingerprint(&65537u64.to_be_bytes()));
        assert!(!has_roca_fingerprint(&[0]));
        assert!(!has_roca_fingerprint(&(65537u64 * 11).to_be_bytes()));
    }

    #[test]
    fn hmac_keys_are_never_published() {
        let k = SigningKey::from_hmac_secret(Algorithm::HS256, &[7; 32]).unwrap();
        assert!(k.public_jwk().is_none());
        let sig = k.sign(b"m").unwrap();
        assert!(
            jsonwebtoken::crypto::verify(&b64url(&sig), b"m", k.decoding_key(), Algorithm::HS256)
                .unwrap()
        );
    }

    #[test]
    fn a_jwk_set_answers_its_parsed_keys_and_nothing_for_an_ambiguous_or_refused_id() {
        let a = key(Algorithm::ES256, 0, 1);
        let b = key(Algorithm::EdDSA, 0, 1);
        let a_jwk = a.public_jwk().unwrap().clone();
        let b_jwk = b.public_jwk().unwrap().clone();
        let refused = PublicJwk {
            kid: "refused".into(),
            use_: "enc".into(),
            ..a_jwk.clone()
        };
        let twin = PublicJwk {
            kid: "twin".into(),
            ..a_jwk.clone()
        };
        let set = JwkSet::new(&[a_jwk.clone(), b_jwk, refused, twin.clone(), twin]);
        assert_eq!(set.len(), 5);
        let sig = a.sign(b"a.b").unwrap();
        let found = set.key(a.kid()).expect("a's key");
        assert_eq!(found.alg(), Algorithm::ES256);
        assert!(found.verify(b"a.b", &sig));
        assert_eq!(
            set.key(b.kid()).map(VerifyingKey::alg),
            Some(Algorithm::EdDSA)
        );
        assert!(set.has_kid("refused") && set.key("refused").is_none());
        assert!(
            set.has_kid("twin") && set.key("twin").is_none(),
            "ambiguous"
        );
        assert!(!set.has_kid("nobody") && set.key("nobody").is_none());
        assert!(JwkSet::default().is_empty());
    }
}
