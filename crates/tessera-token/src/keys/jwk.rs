//! Public keys as JWKs (RFC 7517): as published in the JWKS, with their RFC
//! 7638 thumbprints, and imported strictly for verification.

use super::{KeyError, VerifyingKey, alg_name, is_hmac, parse_alg};
use crate::crypto::{b64url, b64url_decode, sha256};
use jsonwebtoken::Algorithm;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};

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
    /// The verifying key of a JWK from outside (a JWK Set read to verify
    /// tokens), parsed once, under stricter rules than [`Self::decoding_key`]:
    /// `use` is `sig`; `alg` is one of the asymmetric
    /// [`SUPPORTED_ALGORITHMS`] and agrees with `kty` and `crv`; EC
    /// coordinates have the curve's length and name a point on it; an Ed25519
    /// key has 32 bytes; an RSA modulus is odd, has 2048 to 8192 bits and
    /// lacks the ROCA fingerprint, and the exponent is odd and at least 65537.
    pub fn parsed_key(&self) -> Result<VerifyingKey, KeyError> {
        let invalid = || KeyError::Invalid("jwk");
        let bytes = |v: &Option<String>| v.as_deref().and_then(b64url_decode).ok_or_else(invalid);
        if self.use_ != "sig" {
            return Err(invalid());
        }
        let alg = parse_alg(&self.alg)
            .filter(|a| !is_hmac(*a))
            .ok_or_else(invalid)?;
        // Whether the point is on the curve is for the parse below to say.
        let sound = match (alg, self.kty.as_str(), self.crv.as_deref()) {
            (Algorithm::ES256, "EC", Some("P-256")) | (Algorithm::ES384, "EC", Some("P-384")) => {
                let len = if alg == Algorithm::ES256 { 32 } else { 48 };
                bytes(&self.x)?.len() == len && bytes(&self.y)?.len() == len
            }
            (Algorithm::EdDSA, "OKP", Some("Ed25519")) => bytes(&self.x)?.len() == 32,
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
        VerifyingKey::new(alg, &self.decoding_key()?).map_err(|_| invalid())
    }

    /// [`Self::parsed_key`]'s algorithm, with the key as `jsonwebtoken`
    /// reads it.
    pub fn verifying_key(&self) -> Result<(Algorithm, DecodingKey), KeyError> {
        let key = self.parsed_key()?;
        Ok((key.alg(), self.decoding_key()?))
    }
}

/// A JWK Set as a key source, each key parsed once when the set is made
/// (by a verifier, when it fetches the JWKS), not on every token.
#[derive(Debug, Default)]
pub struct JwkSet {
    keys: Vec<(String, Result<VerifyingKey, KeyError>)>,
}

impl JwkSet {
    /// The set of `jwks`; a key that [`PublicJwk::parsed_key`] refuses is
    /// kept by its id, and verifies nothing.
    pub fn new(jwks: &[PublicJwk]) -> Self {
        JwkSet {
            keys: jwks
                .iter()
                .map(|k| (k.kid.clone(), k.parsed_key()))
                .collect(),
        }
    }

    /// Whether a key has this id (usable or not).
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|(k, _)| k == kid)
    }

    /// The usable key `kid` names: none when no key or two keys have that id
    /// (an ambiguous id verifies nothing) or when the key was refused.
    pub fn key(&self, kid: &str) -> Option<&VerifyingKey> {
        let mut named = self.keys.iter().filter(|(k, _)| k == kid);
        let (_, key) = named.next()?;
        if named.next().is_some() {
            return None;
        }
        key.as_ref().ok()
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
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
pub(super) fn has_roca_fingerprint(modulus: &[u8]) -> bool {
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

pub(super) fn jwk_base(
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
