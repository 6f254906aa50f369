//! Verifying keys, parsed once: a public key held as aws-lc's parsed form
//! (the point or modulus decoded and checked when the key is made, not on
//! each signature), or an HMAC key with its pads computed. A signature check
//! is then the cryptography alone.

use super::{KeyError, alg_name};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey,
    RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, RsaPublicKeyComponents,
    VerificationAlgorithm,
};
use jsonwebtoken::Algorithm;
use jsonwebtoken::{DecodingKey, DecodingKeyKind};

/// How a key checks a signature. One per key, never in bulk, so the HMAC
/// key's size does not matter.
#[derive(Debug, Clone)]
#[expect(clippy::large_enum_variant, reason = "one per key, never in bulk")]
enum Check {
    /// ECDSA, Ed25519 or RSA: the public key, parsed.
    Public(ParsedPublicKey),
    /// HS256/384/512: the shared secret as an HMAC key.
    Hmac(hmac::Key),
}

/// A key that checks signatures of one algorithm, parsed once. Cloning
/// shares the parsed key.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    alg: Algorithm,
    check: Check,
}

/// What aws-lc verifies `alg` with, for the asymmetric algorithms Tessera
/// accepts (RSA: 2048 to 8192 bits, as `jsonwebtoken` verifies).
fn public_algorithm(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match alg {
        Algorithm::ES256 => &ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &ED25519,
        Algorithm::RS256 => &RSA_PKCS1_2048_8192_SHA256,
        Algorithm::PS256 => &RSA_PSS_2048_8192_SHA256,
        _ => return None,
    })
}

impl VerifyingKey {
    /// The verifying key of `alg` for a decoded key: an EC point (SEC1,
    /// uncompressed), an Ed25519 key, an RSA modulus and exponent or RSA
    /// public key DER, or an HMAC secret. The key must be of `alg`'s family:
    /// a public key is never read as an HMAC secret.
    pub fn new(alg: Algorithm, key: &DecodingKey) -> Result<Self, KeyError> {
        let invalid = || KeyError::Invalid(alg_name(alg));
        if key.family() != alg.family() {
            return Err(invalid());
        }
        let hmac_alg = match alg {
            Algorithm::HS256 => Some(hmac::HMAC_SHA256),
            Algorithm::HS384 => Some(hmac::HMAC_SHA384),
            Algorithm::HS512 => Some(hmac::HMAC_SHA512),
            _ => None,
        };
        let check = match (hmac_alg, key.kind()) {
            (Some(hmac_alg), DecodingKeyKind::SecretOrDer(secret)) => {
                Check::Hmac(hmac::Key::new(hmac_alg, secret))
            }
            (Some(_), DecodingKeyKind::RsaModulusExponent { .. }) => return Err(invalid()),
            (None, kind) => {
                let verification = public_algorithm(alg).ok_or(KeyError::Unsupported)?;
                let parsed = match kind {
                    DecodingKeyKind::SecretOrDer(bytes) => {
                        ParsedPublicKey::new(verification, bytes)
                    }
                    DecodingKeyKind::RsaModulusExponent { n, e } => {
                        let der = RsaPublicKeyComponents { n, e }
                            .as_der()
                            .map_err(|_| invalid())?;
                        ParsedPublicKey::new(verification, der.as_ref())
                    }
                };
                Check::Public(parsed.map_err(|_| invalid())?)
            }
        };
        Ok(VerifyingKey { alg, check })
    }

    /// The algorithm this key checks.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Whether `signature` is this key's signature of `message`. An HMAC tag
    /// is compared in constant time.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.check {
            Check::Public(key) => key.verify_sig(message, signature).is_ok(),
            Check::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{SigningKey, generate_private_key};

    const ASYMMETRIC: [Algorithm; 5] = [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::RS256,
        Algorithm::PS256,
    ];

    fn signing_key(alg: Algorithm) -> SigningKey {
        let der = generate_private_key(alg).unwrap();
        SigningKey::from_private_der(alg, &der, 0, 0, 1).unwrap()
    }

    #[test]
    fn the_parsed_key_agrees_with_jsonwebtoken_on_every_algorithm() {
        for alg in ASYMMETRIC {
            let k = signing_key(alg);
            let sig = k.sign(b"a.b").unwrap();
            // Made from the published JWK, as a verifier outside would.
            let (jwk_alg, decoding) = k.public_jwk().unwrap().verifying_key().unwrap();
            let from_jwk = VerifyingKey::new(jwk_alg, &decoding).unwrap();
            for key in [k.verifying_key(), &from_jwk] {
                assert_eq!(key.alg(), alg);
                assert!(key.verify(b"a.b", &sig), "{alg:?}");
                assert!(!key.verify(b"a.c", &sig), "{alg:?}: another message");
                let mut flipped = sig.clone();
                flipped[5] ^= 1;
                assert!(
                    !key.verify(b"a.b", &flipped),
                    "{alg:?}: a changed signature"
                );
                assert!(!key.verify(b"a.b", &sig[1..]), "{alg:?}: a short signature");
                assert!(!key.verify(b"a.b", b""), "{alg:?}: no signature");
            }
            let b64 = crate::crypto::b64url(&sig);
            assert!(jsonwebtoken::crypto::verify(&b64, b"a.b", k.decoding_key(), alg).unwrap());
        }
    }

    #[test]
    fn another_keys_signature_is_refused() {
        for alg in ASYMMETRIC {
            let sig = signing_key(alg).sign(b"a.b").unwrap();
            assert!(
                !signing_key(alg).verifying_key().verify(b"a.b", &sig),
                "{alg:?}"
            );
        }
        let a = SigningKey::from_hmac_secret(Algorithm::HS256, &[1; 32]).unwrap();
        let b = SigningKey::from_hmac_secret(Algorithm::HS256, &[2; 32]).unwrap();
        let tag = a.sign(b"a.b").unwrap();
        assert!(a.verifying_key().verify(b"a.b", &tag));
        assert!(!b.verifying_key().verify(b"a.b", &tag));
        assert!(
            !a.verifying_key().verify(b"a.b", &tag[..31]),
            "a truncated tag"
        );
    }

    #[test]
    fn a_key_is_parsed_only_for_an_algorithm_of_its_kind() {
        let es = signing_key(Algorithm::ES256);
        let rsa = signing_key(Algorithm::RS256);
        // An EC point read as an RSA key, an RSA key read as an EC point, a
        // P-256 point as P-384, and a public key as an HMAC secret (or
        // back): each is refused when the key is made, never at a signature.
        assert!(VerifyingKey::new(Algorithm::RS256, es.decoding_key()).is_err());
        assert!(VerifyingKey::new(Algorithm::ES256, rsa.decoding_key()).is_err());
        assert!(VerifyingKey::new(Algorithm::ES384, es.decoding_key()).is_err());
        assert!(VerifyingKey::new(Algorithm::HS256, rsa.decoding_key()).is_err());
        assert!(VerifyingKey::new(Algorithm::HS256, es.decoding_key()).is_err());
        let hs = SigningKey::from_hmac_secret(Algorithm::HS256, &[1; 32]).unwrap();
        assert!(VerifyingKey::new(Algorithm::ES256, hs.decoding_key()).is_err());
        assert_eq!(
            VerifyingKey::new(Algorithm::RS512, rsa.decoding_key()).err(),
            Some(KeyError::Unsupported)
        );
        let off_curve = DecodingKey::from_ec_components(
            &crate::crypto::b64url([1u8; 32]),
            &crate::crypto::b64url([2u8; 32]),
        )
        .unwrap();
        assert!(VerifyingKey::new(Algorithm::ES256, &off_curve).is_err());
    }
}
