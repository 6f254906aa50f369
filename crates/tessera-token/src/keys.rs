//! Signing keys: generation per algorithm, parsed key pairs kept for signing,
//! public JWKs for verifiers, RFC 7638 key ids, and the key ring that decides
//! which key signs and which still verify.

use crate::clock::Millis;
use crate::crypto::{b64url, b64url_decode, sha256};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED,
    ECDSA_P384_SHA384_FIXED_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
    ParsedPublicKey, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair,
};
pub use jsonwebtoken::Algorithm;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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

/// A public key in JWK form (RFC 7517), as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Key type: `EC`, `OKP` or `RSA`.
    pub kty: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// The one algorithm this key is for.
    pub alg: String,
    /// Key id.
    pub kid: String,
    /// Curve (`P-256`, `P-384`, `Ed25519`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    /// EC x coordinate or OKP public key.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
}

impl PublicJwk {
    /// The RFC 7638 thumbprint (SHA-256, base64url) of the required members.
    pub fn thumbprint(&self) -> String {
        let s = |v: &Option<String>| {
            serde_json::to_string(v.as_deref().unwrap_or("")).unwrap_or_default()
        };
        let canonical = match self.kty.as_str() {
            "EC" => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                s(&self.crv),
                s(&self.x),
                s(&self.y)
            ),
            "OKP" => format!(
                r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
                s(&self.crv),
                s(&self.x)
            ),
            _ => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, s(&self.e), s(&self.n)),
        };
        b64url(sha256(canonical.as_bytes()))
    }

    /// The decoding key for this JWK.
    pub fn decoding_key(&self) -> Result<DecodingKey, KeyError> {
        fn get(v: &Option<String>) -> Result<&str, KeyError> {
            v.as_deref().ok_or(KeyError::Invalid("jwk"))
        }
        match self.kty.as_str() {
            "EC" => DecodingKey::from_ec_components(get(&self.x)?, get(&self.y)?),
            "OKP" => DecodingKey::from_ed_components(get(&self.x)?),
            "RSA" => DecodingKey::from_rsa_components(get(&self.n)?, get(&self.e)?),
            _ => return Err(KeyError::Invalid("jwk")),
        }
        .map_err(|_| KeyError::Invalid("jwk"))
    }
}

impl PublicJwk {
    /// The algorithm and verifying key of a JWK from outside (a JWK Set read
    /// to verify tokens), under stricter rules than [`Self::decoding_key`]:
    /// `use` is `sig`; `alg` is one of the asymmetric
    /// [`SUPPORTED_ALGORITHMS`] and agrees with `kty` and `crv`; EC
    /// coordinates have the curve's length and name a point on it; an Ed25519
    /// key has 32 bytes; an RSA modulus is odd, has 2048 to 8192 bits and
    /// lacks the ROCA fingerprint, and the exponent is odd and at least 65537.
    pub fn verifying_key(&self) -> Result<(Algorithm, DecodingKey), KeyError> {
        let invalid = || KeyError::Invalid("jwk");
        let bytes = |v: &Option<String>| v.as_deref().and_then(b64url_decode).ok_or_else(invalid);
        if self.use_ != "sig" {
            return Err(invalid());
        }
        let alg = parse_alg(&self.alg)
            .filter(|a| !is_hmac(*a))
            .ok_or_else(invalid)?;
        let sound = match (alg, self.kty.as_str(), self.crv.as_deref()) {
            (Algorithm::ES256, "EC", Some("P-256")) | (Algorithm::ES384, "EC", Some("P-384")) => {
                let (verification, len) = if alg == Algorithm::ES256 {
                    (&ECDSA_P256_SHA256_FIXED, 32)
                } else {
                    (&ECDSA_P384_SHA384_FIXED, 48)
                };
                let (x, y) = (bytes(&self.x)?, bytes(&self.y)?);
                let point = [&[4][..], &x, &y].concat();
                x.len() == len
                    && y.len() == len
                    && ParsedPublicKey::new(verification, point).is_ok()
            }
            (Algorithm::EdDSA, "OKP", Some("Ed25519")) => {
                let x = bytes(&self.x)?;
                x.len() == 32 && ParsedPublicKey::new(&ED25519, x).is_ok()
            }
            (Algorithm::RS256 | Algorithm::PS256, "RSA", None) => {
                let (n, e) = (bytes(&self.n)?, bytes(&self.e)?);
                let n = trim_leading_zeros(&n);
                let e = trim_leading_zeros(&e);
                let n_bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
                let e_odd = e.last().is_some_and(|b| b & 1 == 1);
                let e_at_least_65537 = e.len() > 3 || (e.len() == 3 && e >= &[1, 0, 1][..]);
                (2048..=8192).contains(&n_bits)
                    && n.last().is_some_and(|b| b & 1 == 1)
                    && e_odd
                    && e_at_least_65537
                    && e.len() <= 32
                    && !has_roca_fingerprint(n)
            }
            _ => false,
        };
        if !sound {
            return Err(invalid());
        }
        Ok((alg, self.decoding_key()?))
    }
}

fn trim_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Whether an RSA modulus has the fingerprint of the keys made by the flawed
/// Infineon generator (ROCA, CVE-2017-15361): modulo each of these small
/// primes it lies in the subgroup generated by 65537, which a sound modulus
/// almost never does.
fn has_roca_fingerprint(modulus: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let residue = modulus
            .iter()
            .fold(0u32, |acc, &b| (acc * 256 + u32::from(b)) % p);
        let generator = 65537 % p;
        let mut power = 1;
        loop {
            if power == residue {
                return true;
            }
            power = power * generator % p;
            if power == 1 {
                return false;
            }
        }
    })
}

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
        Ok(SigningKey {
            kid: jwk.kid.clone(),
            alg,
            signer,
            decoding,
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
        Ok(SigningKey {
            kid,
            alg,
            signer: Signer::Hmac(hmac::Key::new(hmac_alg, secret)),
            decoding: DecodingKey::from_secret(secret),
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

    /// The key that verifies this key's signatures.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
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

fn jwk_base(
    kty: &str,
    alg: Algorithm,
    crv: Option<&str>,
    x: Option<&[u8]>,
    y: Option<&[u8]>,
) -> PublicJwk {
    PublicJwk {
        kty: kty.to_owned(),
        use_: "sig".to_owned(),
        alg: alg_name(alg).to_owned(),
        kid: String::new(),
        crv: crv.map(str::to_owned),
        x: x.map(b64url),
        y: y.map(b64url),
        n: None,
        e: None,
    }
}

/// What a key signs. Each purpose is its own family of keys with its own
/// rotation; both are published in the JWKS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum KeyPurpose {
    /// Access tokens (the configured `TESSERA_JWT_ALG`).
    #[serde(rename = "access")]
    Access,
    /// OpenID Connect ID tokens (RS256), kept beside an access key of
    /// another algorithm because OpenID Connect Discovery requires RS256.
    #[serde(rename = "id_token")]
    IdToken,
}

impl KeyPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Access => "access",
            KeyPurpose::IdToken => "id",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "access" => Some(KeyPurpose::Access),
            "id" => Some(KeyPurpose::IdToken),
            _ => None,
        }
    }
}

/// Where a key stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Published, not yet signing.
    Next,
    /// Signing new tokens.
    Active,
    /// Superseded; still verifies tokens it signed that have not expired.
    Retiring,
    /// Every token it signed has expired.
    Retired,
}

/// A key with its status at some instant.
#[derive(Debug, Clone)]
pub struct KeyState {
    /// The key.
    pub key: Arc<SigningKey>,
    /// Its status.
    pub status: KeyStatus,
    /// When a superseded key stops verifying (`None` while next or active).
    pub retire_after: Option<Millis>,
}

/// Every known key, ordered newest activation first.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Vec<Arc<SigningKey>>,
}

impl KeyRing {
    /// A ring of `keys` in any order.
    pub fn new(mut keys: Vec<Arc<SigningKey>>) -> Self {
        keys.sort_by(|a, b| {
            b.activates_at
                .cmp(&a.activates_at)
                .then(b.generation.cmp(&a.generation))
        });
        Self { keys }
    }

    /// All keys, newest activation first.
    pub fn keys(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }

    /// The key that signs at `now`: the most recently activated one.
    pub fn signer(&self, now: Millis) -> Option<&Arc<SigningKey>> {
        self.keys.iter().find(|k| k.activates_at <= now)
    }

    /// Each key's status at `now`, given the longest a token lives past its
    /// key's retirement (`token_lifetime`: access TTL plus leeway).
    pub fn states(&self, now: Millis, token_lifetime: Millis) -> Vec<KeyState> {
        let mut superseded_at: Option<Millis> = None;
        let mut out = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            let (status, retire_after) = if key.activates_at > now {
                (KeyStatus::Next, None)
            } else if let Some(at) = superseded_at {
                let retire = at.saturating_add(token_lifetime);
                (
                    if now < retire {
                        KeyStatus::Retiring
                    } else {
                        KeyStatus::Retired
                    },
                    Some(retire),
                )
            } else {
                (KeyStatus::Active, None)
            };
            if key.activates_at <= now {
                superseded_at = Some(key.activates_at);
            }
            out.push(KeyState {
                key: key.clone(),
                status,
                retire_after,
            });
        }
        out
    }

    /// The key named `kid` if it may verify tokens at `now` (not retired).
    pub fn verifier(
        &self,
        kid: &str,
        now: Millis,
        token_lifetime: Millis,
    ) -> Option<&Arc<SigningKey>> {
        let mut superseded_at: Option<Millis> = None;
        for key in &self.keys {
            let retired = key.activates_at <= now
                && superseded_at.is_some_and(|at| now >= at.saturating_add(token_lifetime));
            if key.kid == kid {
                return (!retired).then_some(key);
            }
            if key.activates_at <= now {
                superseded_at = Some(key.activates_at);
            }
        }
        None
    }

    /// The public keys to publish at `now`: next, active and retiring.
    pub fn published(&self, now: Millis, token_lifetime: Millis) -> Vec<PublicJwk> {
        self.states(now, token_lifetime)
            .into_iter()
            .filter(|s| s.status != KeyStatus::Retired)
            .filter_map(|s| s.key.public_jwk().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
