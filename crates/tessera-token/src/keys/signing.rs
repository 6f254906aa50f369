//! Signing keys: generated per algorithm, parsed once into key pairs that
//! sign directly, each with its public JWK and `kid`.

use super::jwk::jwk_base;
use super::{KeyError, PublicJwk, VerifyingKey, alg_name};
use crate::clock::Millis;
use crate::crypto::{b64url, sha256};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair,
};
use jsonwebtoken::Algorithm;
use jsonwebtoken::DecodingKey;

/// Parsed key pairs differ in size; one per key, so boxing buys nothing.
#[expect(
    clippy::large_enum_variant,
    reason = "one signer per key, never in bulk"
)]
enum Signer {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair, &'static dyn RsaEncoding),
    Hmac(hmac::Key),
}

/// A parsed signing key with what verifies its signatures.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    signer: Signer,
    decoding: DecodingKey,
    verifying: VerifyingKey,
    jwk: Option<PublicJwk>,
    /// Creation time.
    pub created_at: Millis,
    /// When it starts (or started) signing.
    pub activates_at: Millis,
    /// Generation (0 for a configured HMAC secret).
    pub generation: i64,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

/// Generates a new private key for `alg` as PKCS#8 DER.
pub fn generate_private_key(alg: Algorithm) -> Result<Vec<u8>, KeyError> {
    let rng = SystemRandom::new();
    let der = match alg {
        Algorithm::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|d| d.as_ref().to_vec()),
        Algorithm::ES384 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .map(|d| d.as_ref().to_vec()),
        Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng).map(|d| d.as_ref().to_vec()),
        Algorithm::RS256 | Algorithm::PS256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .and_then(|k| k.as_der().map(|d| d.as_ref().to_vec())),
        _ => return Err(KeyError::Unsupported),
    };
    der.map_err(|_| KeyError::Invalid(alg_name(alg)))
}

impl SigningKey {
    /// Parses a stored asymmetric private key (PKCS#8 DER).
    pub fn from_private_der(
        alg: Algorithm,
        der: &[u8],
        created_at: Millis,
        activates_at: Millis,
        generation: i64,
    ) -> Result<Self, KeyError> {
        let invalid = || KeyError::Invalid(alg_name(alg));
        let (signer, mut jwk) = match alg {
            Algorithm::ES256 | Algorithm::ES384 => {
                let (signing, crv, coord) = if alg == Algorithm::ES256 {
                    (&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32)
                } else {
                    (&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48)
                };
                let kp = EcdsaKeyPair::from_pkcs8(signing, der).map_err(|_| invalid())?;
                let point = kp.public_key().as_ref();
                if point.len() != 1 + 2 * coord || point[0] != 4 {
                    return Err(invalid());
                }
                let jwk = jwk_base(
                    "EC",
                    alg,
                    Some(crv),
                    Some(&point[1..=coord]),
                    Some(&point[1 + coord..]),
                );
                (Signer::Ecdsa(kp), jwk)
            }
            Algorithm::EdDSA => {
                let kp = Ed25519KeyPair::from_pkcs8(der).map_err(|_| invalid())?;
                let jwk = jwk_base(
                    "OKP",
                    alg,
                    Some("Ed25519"),
                    Some(kp.public_key().as_ref()),
                    None,
                );
                (Signer::Ed25519(kp), jwk)
            }
            Algorithm::RS256 | Algorithm::PS256 => {
                let kp = RsaKeyPair::from_pkcs8(der).map_err(|_| invalid())?;
                let public = kp.public_key();
                let mut jwk = jwk_base("RSA", alg, None, None, None);
                jwk.n = Some(b64url(public.modulus().big_endian_without_leading_zero()));
                jwk.e = Some(b64url(public.exponent().big_endian_without_leading_zero()));
                let encoding: &'static dyn RsaEncoding = if alg == Algorithm::RS256 {
                    &RSA_PKCS1_SHA256
                } else {
                    &RSA_PSS_SHA256
                };
                (Signer::Rsa(kp, encoding), jwk)
            }
            _ => return Err(KeyError::Unsupported),
        };
        jwk.kid = jwk.thumbprint();
        let decoding = jwk.decoding_key()?;
        let verifying = VerifyingKey::new(alg, &decoding)?;
        Ok(SigningKey {
            kid: jwk.kid.clone(),
            alg,
            signer,
            decoding,
            verifying,
            jwk: Some(jwk),
            created_at,
            activates_at,
            generation,
        })
    }

    /// An HMAC key from a configured shared secret. Its id is derived from the
    /// secret by a one-way hash, so it changes when the secret does.
    pub fn from_hmac_secret(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        let hmac_alg = match alg {
            Algorithm::HS256 => hmac::HMAC_SHA256,
            Algorithm::HS384 => hmac::HMAC_SHA384,
            Algorithm::HS512 => hmac::HMAC_SHA512,
            _ => return Err(KeyError::Unsupported),
        };
        let mut material = b"tessera hmac key id\0".to_vec();
        material.extend_from_slice(secret);
        let kid = b64url(&sha256(&material)[..12]);
        let decoding = DecodingKey::from_secret(secret);
        let verifying = VerifyingKey::new(alg, &decoding)?;
        Ok(SigningKey {
            kid,
            alg,
            signer: Signer::Hmac(hmac::Key::new(hmac_alg, secret)),
            decoding,
            verifying,
            jwk: None,
            created_at: 0,
            activates_at: 0,
            generation: 0,
        })
    }

    /// Key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key is pinned to.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK (`None` for HMAC keys, which are never published).
    pub fn public_jwk(&self) -> Option<&PublicJwk> {
        self.jwk.as_ref()
    }

    /// This key's public half (or secret) as `jsonwebtoken` reads it.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The key that verifies this key's signatures, parsed once.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// Signs `message`, returning the raw JWS signature bytes.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.signer {
            Signer::Ecdsa(kp) => kp
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec()),
            Signer::Ed25519(kp) => Ok(kp.sign(message).as_ref().to_vec()),
            Signer::Rsa(kp, encoding) => {
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(*encoding, &SystemRandom::new(), message, &mut sig)
                    .map(|()| sig)
            }
            Signer::Hmac(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
        }
        .map_err(|_| KeyError::Sign)
    }
}
