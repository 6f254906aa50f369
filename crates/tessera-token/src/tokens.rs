//! Access tokens (RFC 9068 profile): their claims, how they are signed, and
//! the complete acceptance policy of RFC 8725 applied before a token is
//! believed — shape, key pinning, `typ`, `crit`, signature, time, issuer,
//! audience and revocation.

use crate::clock::Millis;
use crate::crypto::b64url;
use crate::jws::{CompactJws, JwsError, is_access_token_typ, parse_compact, parse_compact_opaque};
use crate::keys::{JwkSet, KeyError, KeyRing, PublicJwk, SigningKey, VerifyingKey, alg_name};
use crate::revocation::RevocationSet;
use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::{Arc, RwLock};
use uuid::Uuid;

/// The `typ` header of access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// `aud`: one audience or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` names `audience`.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(a) => a == audience,
            Audience::Many(v) => v.iter().any(|a| a == audience),
        }
    }
}

/// The claims of a Tessera access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id (or the client id for `client_credentials`).
    pub sub: String,
    /// Audience.
    pub aud: Audience,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id (a UUIDv7, which also records the minting millisecond).
    pub jti: String,
    /// Session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// OAuth client, where one is involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// OAuth scope, where a client is involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// How the person signed in (RFC 8176: `pwd`, `otp`, `hwk`, `mfa`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// When the person signed in (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

impl AccessClaims {
    /// When the token was minted, to the millisecond (from the UUIDv7 `jti`,
    /// falling back to `iat`).
    pub fn issued_at_ms(&self) -> Millis {
        Uuid::parse_str(&self.jti)
            .ok()
            .and_then(|u| u.get_timestamp())
            .map(|t| {
                let (secs, nanos) = t.to_unix();
                i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000)
                    + i64::from(nanos / 1_000_000)
            })
            .unwrap_or(self.iat.saturating_mul(1000))
    }

    /// Whether the roles include `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles
            .as_ref()
            .is_some_and(|r| r.iter().any(|x| x == role))
    }
}

/// A new unique token id that records `now_ms`.
pub fn new_jti(now_ms: Millis) -> String {
    let secs = u64::try_from(now_ms.div_euclid(1000)).unwrap_or(0);
    let nanos = u32::try_from(now_ms.rem_euclid(1000) * 1_000_000).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, nanos)).to_string()
}

/// Why a token was refused. The client only ever learns "invalid_token";
/// the variant is for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Failed the structural checks.
    #[error("malformed token: {0}")]
    Malformed(#[from] JwsError),
    /// The header has no usable `alg`, or it is `none`.
    #[error("unacceptable alg")]
    BadAlgorithm,
    /// `alg` differs from the algorithm of the key named by `kid`.
    #[error("alg does not match the key")]
    AlgorithmMismatch,
    /// No `kid`, or no such (unretired) key.
    #[error("unknown key")]
    UnknownKey,
    /// `typ` is not `at+jwt`.
    #[error("wrong token type")]
    WrongType,
    /// A `crit` header is present.
    #[error("crit header present")]
    Critical,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Claims missing or of the wrong type.
    #[error("bad claims")]
    BadClaims,
    /// `exp` has passed.
    #[error("expired")]
    Expired,
    /// `nbf` or `iat` is in the future.
    #[error("not yet valid")]
    NotYetValid,
    /// `iss` does not match.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not match.
    #[error("wrong audience")]
    WrongAudience,
    /// Its session, itself or its user's earlier tokens were revoked.
    #[error("revoked")]
    Revoked,
    /// Signing failed (no active key).
    #[error("cannot sign: {0}")]
    Signing(#[from] KeyError),
}

/// The current key ring, replaced whole when keys change.
#[derive(Debug, Default)]
pub struct SharedKeyRing(RwLock<Arc<KeyRing>>);

impl SharedKeyRing {
    /// The ring in force now.
    pub fn current(&self) -> Arc<KeyRing> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the ring.
    pub fn replace(&self, ring: KeyRing) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ring);
    }
}

/// Signs a JWS with `key`, header `{"alg","typ","kid"}`.
pub fn sign_jws(key: &SigningKey, typ: &str, claims: &impl Serialize) -> Result<String, KeyError> {
    #[derive(Serialize)]
    struct Header<'a> {
        alg: &'a str,
        typ: &'a str,
        kid: &'a str,
    }
    let header = serde_json::to_vec(&Header {
        alg: alg_name(key.alg()),
        typ,
        kid: key.kid(),
    })
    .map_err(|_| KeyError::Sign)?;
    let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
    let mut out = format!("{}.{}", b64url(header), b64url(payload));
    let signature = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&b64url(signature));
    Ok(out)
}

/// What verification checks claims against.
#[derive(Debug, Clone)]
pub struct VerifyPolicy {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// Clock-skew tolerance in seconds.
    pub leeway_secs: i64,
    /// How long after supersession a key still verifies (ms).
    pub token_lifetime_ms: Millis,
}

/// Where verification finds the key a `kid` names; the key is pinned to its
/// algorithm ([`VerifyingKey::alg`]).
pub trait KeySource {
    /// The verifying key for `kid` at `now_ms`, if it may verify.
    fn verifying_key(
        &self,
        kid: &str,
        now_ms: Millis,
        token_lifetime_ms: Millis,
    ) -> Option<Cow<'_, VerifyingKey>>;
}

impl KeySource for KeyRing {
    fn verifying_key(
        &self,
        kid: &str,
        now_ms: Millis,
        token_lifetime_ms: Millis,
    ) -> Option<Cow<'_, VerifyingKey>> {
        self.verifier(kid, now_ms, token_lifetime_ms)
            .map(|k| Cow::Borrowed(k.verifying_key()))
    }
}

/// A published JWK Set as a key source (for verifying with only public
/// keys), parsing the key a token names on each use; [`JwkSet`] parses each
/// key once.
impl KeySource for [PublicJwk] {
    fn verifying_key(
        &self,
        kid: &str,
        _now_ms: Millis,
        _lifetime: Millis,
    ) -> Option<Cow<'_, VerifyingKey>> {
        // A kid that names two keys is ambiguous: neither is used.
        let mut named = self.iter().filter(|k| k.kid == kid);
        let jwk = named.next()?;
        if named.next().is_some() {
            return None;
        }
        jwk.parsed_key().ok().map(Cow::Owned)
    }
}

impl KeySource for JwkSet {
    fn verifying_key(
        &self,
        kid: &str,
        _now_ms: Millis,
        _lifetime: Millis,
    ) -> Option<Cow<'_, VerifyingKey>> {
        self.key(kid).map(Cow::Borrowed)
    }
}

/// Verifies an access token under every rule of SPEC §5 at `now_ms`.
pub fn verify_access_token(
    token: &str,
    ring: &(impl KeySource + ?Sized),
    revocations: &RevocationSet,
    policy: &VerifyPolicy,
    now_ms: Millis,
) -> Result<AccessClaims, TokenError> {
    verify_access_token_keyed(token, ring, revocations, policy, now_ms).map(|v| v.claims)
}

/// An access token that passed [`verify_access_token`], with the key that
/// verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// Its claims.
    pub claims: AccessClaims,
    /// The `kid` of the key whose signature it carries.
    pub kid: String,
    /// That key's algorithm.
    pub alg: Algorithm,
}

/// [`verify_access_token`], also naming the key that verified the token (so
/// a cache can tell later whether that key still verifies).
pub fn verify_access_token_keyed(
    token: &str,
    ring: &(impl KeySource + ?Sized),
    revocations: &RevocationSet,
    policy: &VerifyPolicy,
    now_ms: Millis,
) -> Result<VerifiedToken, TokenError> {
    // 1. Size, shape, canonical base64url, JSON objects without duplicates.
    let jws = parse_compact(token)?;
    let header = &jws.header;
    // 2. The algorithm is pinned by the key the `kid` names.
    let alg = header_alg(header)?;
    // 3. typ, crit; jku/jwk/x5u/x5c are never consulted.
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .ok_or(TokenError::WrongType)?;
    if !is_access_token_typ(typ) {
        return Err(TokenError::WrongType);
    }
    refuse_crit(header)?;
    // 2 and 4. The key `kid` names, its algorithm, and the signature.
    let (kid, key_alg) = verify_signature(&jws, alg, ring, now_ms, policy.token_lifetime_ms)?;
    // 5 and 6. Claims: types, time, issuer, audience, revocation.
    let claims: AccessClaims =
        serde_json::from_slice(&jws.payload).map_err(|_| TokenError::BadClaims)?;
    check_claims(&claims, revocations, policy, now_ms)?;
    Ok(VerifiedToken {
        claims,
        kid: kid.to_owned(),
        alg: key_alg,
    })
}

/// Rules 5 and 6 of SPEC §5 on a token's claims at `now_ms`: `exp` in the
/// future and `nbf`/`iat` not, each within the leeway; `iss` and `aud`; and
/// neither its session, nor itself, nor its user's earlier tokens revoked.
/// These are the checks that can change their answer for one token over
/// time, so a cache of verified tokens repeats them on every use.
pub fn check_claims(
    claims: &AccessClaims,
    revocations: &RevocationSet,
    policy: &VerifyPolicy,
    now_ms: Millis,
) -> Result<(), TokenError> {
    let now = now_ms.div_euclid(1000);
    let leeway = policy.leeway_secs;
    if now >= claims.exp.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now.saturating_add(leeway))
        || claims.iat > now.saturating_add(leeway)
    {
        return Err(TokenError::NotYetValid);
    }
    if claims.iss != policy.issuer {
        return Err(TokenError::WrongIssuer);
    }
    if !claims.aud.contains(&policy.audience) {
        return Err(TokenError::WrongAudience);
    }
    // 6. Revocation.
    if revocations.is_revoked(
        claims.sid.as_deref(),
        &claims.jti,
        &claims.sub,
        claims.issued_at_ms(),
    ) {
        return Err(TokenError::Revoked);
    }
    Ok(())
}

/// Verifies any compact JWS, not only an access token, under the rules of
/// SPEC §5 that do not concern claims: size, shape, canonical base64url, a
/// JSON header without duplicates, `alg` present and not `none`, no `crit`,
/// `kid` naming a key of `keys`, `alg` equal to that key's algorithm, and the
/// signature. `typ` and the payload are not examined; `jku`, `jwk`, `x5u` and
/// `x5c` are never consulted. [`verify_access_token`] applies the same steps.
pub fn verify_jws<'a>(
    token: &'a str,
    keys: &(impl KeySource + ?Sized),
    now_ms: Millis,
    token_lifetime_ms: Millis,
) -> Result<CompactJws<'a>, TokenError> {
    let jws = parse_compact_opaque(token)?;
    let alg = header_alg(&jws.header)?;
    refuse_crit(&jws.header)?;
    verify_signature(&jws, alg, keys, now_ms, token_lifetime_ms)?;
    Ok(jws)
}

/// The header's `alg`; a missing one and `none` are refused.
fn header_alg(header: &serde_json::Map<String, Value>) -> Result<&str, TokenError> {
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(TokenError::BadAlgorithm)?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(TokenError::BadAlgorithm);
    }
    Ok(alg)
}

/// A `crit` header is refused: Tessera understands no extension.
fn refuse_crit(header: &serde_json::Map<String, Value>) -> Result<(), TokenError> {
    if header.contains_key("crit") {
        return Err(TokenError::Critical);
    }
    Ok(())
}

/// Finds the key `kid` names, requires `alg` to be that key's algorithm, and
/// checks the signature with the key's own algorithm. Answers the `kid` and
/// the algorithm.
fn verify_signature<'j>(
    jws: &'j CompactJws<'_>,
    alg: &str,
    keys: &(impl KeySource + ?Sized),
    now_ms: Millis,
    token_lifetime_ms: Millis,
) -> Result<(&'j str, Algorithm), TokenError> {
    let kid = jws
        .header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(TokenError::UnknownKey)?;
    let key = keys
        .verifying_key(kid, now_ms, token_lifetime_ms)
        .ok_or(TokenError::UnknownKey)?;
    if alg != alg_name(key.alg()) {
        return Err(TokenError::AlgorithmMismatch);
    }
    if !key.verify(jws.signing_input.as_bytes(), &jws.signature) {
        return Err(TokenError::BadSignature);
    }
    Ok((kid, key.alg()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_private_key;
    use crate::revocation::{Revocation, RevocationKind};

    const NOW: Millis = 1_700_000_000_000;

    fn policy() -> VerifyPolicy {
        VerifyPolicy {
            issuer: "https://id.test".into(),
            audience: "https://id.test".into(),
            leeway_secs: 60,
            token_lifetime_ms: 960_000,
        }
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "https://id.test".into(),
            sub: "user-1".into(),
            aud: Audience::One("https://id.test".into()),
            exp: NOW / 1000 + 900,
            iat: NOW / 1000,
            nbf: Some(NOW / 1000),
            jti: new_jti(NOW),
            sid: Some("sid-1".into()),
            username: Some("alice".into()),
            roles: Some(vec!["user".into()]),
            client_id: None,
            scope: None,
            amr: None,
            auth_time: None,
        }
    }

    fn ring() -> KeyRing {
        let der = generate_private_key(Algorithm::ES256).unwrap();
        KeyRing::new(vec![Arc::new(
            SigningKey::from_private_der(Algorithm::ES256, &der, 0, 0, 1).unwrap(),
        )])
    }

    #[test]
    fn a_signed_token_verifies() {
        let ring = ring();
        let token = sign_jws(ring.signer(NOW).unwrap(), ACCESS_TOKEN_TYP, &claims()).unwrap();
        let got =
            verify_access_token(&token, &ring, &RevocationSet::new(), &policy(), NOW).unwrap();
        assert_eq!(got, claims_with_jti(&got.jti));
    }

    fn claims_with_jti(jti: &str) -> AccessClaims {
        AccessClaims {
            jti: jti.into(),
            ..claims()
        }
    }

    #[test]
    fn jti_records_the_minting_millisecond() {
        let c = AccessClaims {
            jti: new_jti(NOW + 123),
            ..claims()
        };
        assert_eq!(c.issued_at_ms(), NOW + 123);
    }

    #[test]
    fn expiry_and_not_before_respect_the_leeway() {
        let ring = ring();
        let token = sign_jws(ring.signer(NOW).unwrap(), ACCESS_TOKEN_TYP, &claims()).unwrap();
        let revs = RevocationSet::new();
        assert!(verify_access_token(&token, &ring, &revs, &policy(), NOW + 959_000).is_ok());
        assert_eq!(
            verify_access_token(&token, &ring, &revs, &policy(), NOW + 960_000),
            Err(TokenError::Expired)
        );
        assert!(verify_access_token(&token, &ring, &revs, &policy(), NOW - 60_000).is_ok());
        assert_eq!(
            verify_access_token(&token, &ring, &revs, &policy(), NOW - 61_000),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn verify_jws_applies_the_header_rules_to_any_payload() {
        let ring = ring();
        let key = ring.signer(NOW).unwrap();
        let sign = |header: &str, payload: &str| {
            let input = format!("{}.{}", b64url(header), b64url(payload));
            let sig = b64url(key.sign(input.as_bytes()).unwrap());
            format!("{input}.{sig}")
        };
        let kid = key.kid();
        let plain = sign(&format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#), "not JSON");
        let jws = verify_jws(&plain, &ring, NOW, 0).unwrap();
        assert_eq!(jws.payload, b"not JSON");
        assert_eq!(
            verify_access_token(&plain, &ring, &RevocationSet::new(), &policy(), NOW).unwrap_err(),
            TokenError::Malformed(JwsError::Json)
        );
        let crit = sign(
            &format!(r#"{{"alg":"ES256","kid":"{kid}","crit":["exp"],"exp":1}}"#),
            "x",
        );
        assert_eq!(
            verify_jws(&crit, &ring, NOW, 0).unwrap_err(),
            TokenError::Critical
        );
        let other_alg = sign(&format!(r#"{{"alg":"ES384","kid":"{kid}"}}"#), "x");
        assert_eq!(
            verify_jws(&other_alg, &ring, NOW, 0).unwrap_err(),
            TokenError::AlgorithmMismatch
        );
        let none = sign(&format!(r#"{{"alg":"none","kid":"{kid}"}}"#), "x");
        assert_eq!(
            verify_jws(&none, &ring, NOW, 0).unwrap_err(),
            TokenError::BadAlgorithm
        );
        let no_kid = sign(r#"{"alg":"ES256"}"#, "x");
        assert_eq!(
            verify_jws(&no_kid, &ring, NOW, 0).unwrap_err(),
            TokenError::UnknownKey
        );
    }

    #[test]
    fn an_ambiguous_kid_in_a_jwk_set_names_no_key() {
        let ring = ring();
        let token = sign_jws(ring.signer(NOW).unwrap(), ACCESS_TOKEN_TYP, &claims()).unwrap();
        let jwk = ring.keys()[0].public_jwk().unwrap().clone();
        let revs = RevocationSet::new();
        assert!(
            verify_access_token(&token, [jwk.clone()].as_slice(), &revs, &policy(), NOW).is_ok()
        );
        let other = ring_jwk_with_kid(&jwk.kid);
        assert_eq!(
            verify_access_token(&token, [jwk, other].as_slice(), &revs, &policy(), NOW),
            Err(TokenError::UnknownKey)
        );
    }

    fn ring_jwk_with_kid(kid: &str) -> PublicJwk {
        PublicJwk {
            kid: kid.into(),
            ..ring().keys()[0].public_jwk().unwrap().clone()
        }
    }

    #[test]
    fn revoked_session_is_refused() {
        let ring = ring();
        let token = sign_jws(ring.signer(NOW).unwrap(), ACCESS_TOKEN_TYP, &claims()).unwrap();
        let revs = RevocationSet::new();
        revs.apply(&Revocation {
            kind: RevocationKind::Session,
            subject: "sid-1".into(),
            not_before: 0,
            expires_at: NOW + 1_000_000,
        });
        assert_eq!(
            verify_access_token(&token, &ring, &revs, &policy(), NOW),
            Err(TokenError::Revoked)
        );
    }
}
