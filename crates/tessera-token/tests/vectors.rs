//! Conformance of the token layer against test vectors nobody on this project
//! wrote: Project Wycheproof (C2SP) and the JOSE cookbook (RFC 7520, RFC 8037),
//! kept in `tests/vectors/` with their licences (see its README.md).
//!
//! * JWS cases go through [`verify_jws`]: the rules `verify_access_token`
//!   applies to every JWS (strict compact parsing, `alg` pinned by the key the
//!   `kid` names, `none` and unsupported algorithms refused, `crit` refused,
//!   embedded `jwk`/`jku` never used) and the signature, with the test group's
//!   key imported as Tessera imports keys. Access-token rules (`typ`, claims)
//!   do not apply to these vectors; every case is also run through
//!   `verify_access_token`, which must refuse all of them.
//! * JWK cases import each key through `PublicJwk::verifying_key`, the strict
//!   import the `[PublicJwk]` key source uses.
//! * Primitive vectors check the crypto path Tessera verifies with: a
//!   `DecodingKey` from key components and `jsonwebtoken::crypto::verify`.
//!
//! Wherever Tessera's answer differs from the vector's, the case is listed
//! with its reason in a deviation table, and each test asserts that the
//! deviations that happened are exactly the listed ones.
//!
//! The folder is part of the repository, so a missing file fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use tessera_token::clock::Millis;
use tessera_token::crypto::{b64url, b64url_decode};
use tessera_token::jws::{JwsError, parse_compact_opaque};
use tessera_token::keys::{PublicJwk, SigningKey, alg_name, is_hmac, parse_alg};
use tessera_token::revocation::RevocationSet;
use tessera_token::tokens::{KeySource, TokenError, VerifyPolicy, verify_access_token, verify_jws};

/// The vendored vectors, `tests/vectors/`.
const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");

/// Any instant: none of these vectors carries claims Tessera would check.
const NOW: Millis = 1_700_000_000_000;

fn load(relative: &str) -> Value {
    let path = format!("{VECTORS}/{relative}");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("test vector missing at {path} ({e})"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn groups(file: &Value) -> &[Value] {
    file["testGroups"].as_array().expect("testGroups")
}

fn tests(group: &Value) -> &[Value] {
    group["tests"].as_array().expect("tests")
}

fn tc_id(test: &Value) -> u64 {
    test["tcId"].as_u64().expect("tcId")
}

fn result(test: &Value) -> &str {
    test["result"].as_str().expect("result")
}

/// What happened to the cases of one file.
#[derive(Debug, Default)]
struct Tally {
    ran: usize,
    accepted: usize,
    refused: usize,
    /// Cases decided against the vector's verdict, each listed with its
    /// reason.
    deviations: usize,
    /// `acceptable` cases and how each was decided.
    acceptable: Vec<(u64, bool)>,
}

impl Tally {
    fn count(&mut self, accepted: bool) {
        self.ran += 1;
        if accepted {
            self.accepted += 1;
        } else {
            self.refused += 1;
        }
    }

    fn report(&self, file: &str) {
        eprintln!(
            "{file}: ran {}, accepted {}, refused {}, deviations {}{}",
            self.ran,
            self.accepted,
            self.refused,
            self.deviations,
            if self.acceptable.is_empty() {
                String::new()
            } else {
                format!(", acceptable (tcId, accepted) {:?}", self.acceptable)
            }
        );
        assert!(self.ran > 0, "{file} yielded no cases");
    }
}

/// Checks every case against the vector's verdict and the deviation table:
/// `outcomes` maps tcId to (vector result, accepted, what Tessera said).
fn judge(
    file: &str,
    outcomes: &BTreeMap<u64, (String, bool, String)>,
    deviations: &BTreeMap<u64, &'static str>,
) -> Tally {
    let mut tally = Tally::default();
    let mut wrong = Vec::new();
    for (&tc, (expected, accepted, said)) in outcomes {
        tally.count(*accepted);
        let listed = deviations.get(&tc);
        match (expected.as_str(), *accepted, listed) {
            ("valid", true, None) | ("invalid", false, None) => {}
            ("valid", false, Some(_)) | ("invalid", true, Some(_)) => tally.deviations += 1,
            ("acceptable", accepted, None) => tally.acceptable.push((tc, accepted)),
            _ => wrong.push(format!(
                "tcId {tc}: vector says {expected}, Tessera {} ({said}); deviation table: {listed:?}",
                if *accepted { "accepted" } else { "refused" }
            )),
        }
    }
    let unknown: Vec<_> = deviations
        .keys()
        .filter(|tc| !outcomes.contains_key(tc))
        .collect();
    assert!(
        unknown.is_empty(),
        "{file}: deviation table names cases that do not exist: {unknown:?}"
    );
    assert!(
        wrong.is_empty(),
        "{file}: {} case(s) differ from the vectors and the deviation table:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    tally.report(file);
    tally
}

// ---------------------------------------------------------------------------
// Key sources: how the vectors' keys enter Tessera.

/// A configured HMAC secret (Tessera never reads a symmetric key from a JWK)
/// under the vector's key id.
struct Secret {
    kid: String,
    key: SigningKey,
}

impl KeySource for Secret {
    fn verifying_key(
        &self,
        kid: &str,
        _now_ms: Millis,
        _lifetime: Millis,
    ) -> Option<(Algorithm, Cow<'_, DecodingKey>)> {
        (kid == self.kid).then(|| (self.key.alg(), Cow::Borrowed(self.key.decoding_key())))
    }
}

/// The key a Wycheproof JWS group verifies with: its public JWK through the
/// `[PublicJwk]` key source (strict import), or its `oct` key as a configured
/// HMAC secret. An error, with the reason, when the JWK does not even parse
/// as a `PublicJwk` (then nothing verifies).
fn group_key_source(group: &Value) -> Result<Box<dyn KeySource>, String> {
    let jwk = group
        .get("public")
        .or_else(|| group.get("private"))
        .expect("a key");
    if jwk["kty"] == "oct" {
        let alg = jwk["alg"]
            .as_str()
            .and_then(parse_alg)
            .filter(|a| is_hmac(*a))
            .ok_or("oct key without an HS* alg")?;
        let secret = b64url_decode(jwk["k"].as_str().expect("k")).expect("k is base64url");
        return Ok(Box::new(Secret {
            kid: jwk["kid"].as_str().expect("kid").to_owned(),
            key: SigningKey::from_hmac_secret(alg, &secret).expect("an HMAC key"),
        }));
    }
    let jwk: PublicJwk =
        serde_json::from_value(jwk.clone()).map_err(|e| format!("not a PublicJwk: {e}"))?;
    Ok(Box::new(Jwks(vec![jwk])))
}

/// A JWK Set: the `[PublicJwk]` key source, owned.
struct Jwks(Vec<PublicJwk>);

impl KeySource for Jwks {
    fn verifying_key(
        &self,
        kid: &str,
        now_ms: Millis,
        lifetime: Millis,
    ) -> Option<(Algorithm, Cow<'_, DecodingKey>)> {
        self.0.as_slice().verifying_key(kid, now_ms, lifetime)
    }
}

/// A key source with no keys, for a group whose key Tessera cannot read.
struct NoKeys;

impl KeySource for NoKeys {
    fn verifying_key(
        &self,
        _kid: &str,
        _now_ms: Millis,
        _lifetime: Millis,
    ) -> Option<(Algorithm, Cow<'_, DecodingKey>)> {
        None
    }
}

fn access_policy() -> VerifyPolicy {
    VerifyPolicy {
        issuer: "https://id.test".into(),
        audience: "https://id.test".into(),
        leeway_secs: 60,
        token_lifetime_ms: 960_000,
    }
}

// ---------------------------------------------------------------------------
// json_web_signature_test.json

const RS384: &str = "alg RS384 is not one Tessera supports: the group's key is not imported";
const RS512: &str = "alg RS512 is not one Tessera supports: the group's key is not imported";
const PS384: &str = "alg PS384 is not one Tessera supports: the group's key is not imported";
const PS512: &str = "alg PS512 is not one Tessera supports: the group's key is not imported";
const EMPTY_UNSUPPORTED: &str = "empty payload, refused by shape before any key is looked up \
     (the group's alg is not supported either)";
const ES521: &str =
    "the key's alg ES521 (ES512, P-521) is not one Tessera supports: the key is not imported";
const EMPTY_PAYLOAD: &str = "empty payload: Tessera requires three non-empty parts \
     (an access token's payload is a JSON object, never empty)";
const EMPTY_NO_USE: &str = "empty payload, refused by shape (Tessera requires three non-empty \
     parts); the group's JWK also lacks `use`";
const NO_USE: &str = "the group's JWK has no `use` member; Tessera's PublicJwk requires \
     use=sig, so the key is not imported";
const KEY_OPS_ONLY: &str = "the group's JWK has key_ops but no `use` member; Tessera's \
     PublicJwk requires use=sig, so the key is not imported";
const PS384_ON_PS256_KEY: &str = "header alg PS384 on a key whose alg is PS256: the algorithm \
     is pinned by the key (and PS384 is not supported)";
const COPY_OF_357: &str = "marked invalid upstream, but the token is byte-identical to tcId 357 \
     (valid): the padding its comment names is not in it, so accepting 357 accepts this \
     (asserted below; a known defect of these two vectors)";
const NON_CANONICAL_B64: &str = "a `?` inside a base64url part: Tessera's strict decoder refuses \
     it (README: refusing is correct for Tessera)";

/// Wycheproof JWS cases Tessera decides against the vector: (tcId, Tessera's
/// verdict, why).
fn jws_deviations() -> Vec<(u64, Result<(), TokenError>, &'static str)> {
    use TokenError::*;
    let shape = Err(Malformed(JwsError::Shape));
    vec![
        (259, shape.clone(), EMPTY_NO_USE),
        (260, Err(UnknownKey), NO_USE),
        (261, Err(UnknownKey), NO_USE),
        (262, Err(UnknownKey), NO_USE),
        (263, Err(UnknownKey), NO_USE),
        (264, shape.clone(), EMPTY_UNSUPPORTED),
        (265, Err(UnknownKey), RS384),
        (266, Err(UnknownKey), RS384),
        (267, Err(UnknownKey), RS384),
        (268, shape.clone(), EMPTY_UNSUPPORTED),
        (269, Err(UnknownKey), RS512),
        (270, Err(UnknownKey), RS512),
        (271, Err(UnknownKey), RS512),
        (272, shape.clone(), EMPTY_PAYLOAD),
        (320, shape.clone(), EMPTY_UNSUPPORTED),
        (321, Err(UnknownKey), PS384),
        (322, Err(UnknownKey), PS384),
        (323, Err(UnknownKey), PS384),
        (325, shape, EMPTY_UNSUPPORTED),
        (326, Err(UnknownKey), PS512),
        (327, Err(UnknownKey), PS512),
        (328, Err(UnknownKey), PS512),
        (346, Err(AlgorithmMismatch), PS384_ON_PS256_KEY),
        (347, Err(UnknownKey), ES521),
        (349, Err(UnknownKey), KEY_OPS_ONLY),
        (350, Err(UnknownKey), KEY_OPS_ONLY),
        (351, Err(UnknownKey), ES521),
        (367, Ok(()), COPY_OF_357),
        (370, Ok(()), COPY_OF_357),
        (372, Err(Malformed(JwsError::Base64)), NON_CANONICAL_B64),
        (373, Err(Malformed(JwsError::Base64)), NON_CANONICAL_B64),
    ]
}

/// Invalid cases whose refusal must come from a particular rule: the attacks
/// the suite names, refused for the right reason and not by accident.
fn jws_refusal_reasons() -> Vec<(u64, TokenError)> {
    use TokenError::*;
    vec![
        // A MAC keyed with the EC verification key: alg is pinned by the key.
        (31, AlgorithmMismatch),
        // An embedded attacker jwk is never used: the group's key refuses it.
        (32, BadSignature),
        // JSON serialization is not a compact JWS.
        (17, Malformed(JwsError::Shape)),
        // alg none (no signature, then with a signature part but no kid).
        (16, Malformed(JwsError::Shape)),
        // Wrong primitive: RS256 header on a PS512 key (not importable).
        (332, UnknownKey),
        // Keys for encryption (use=enc or key_ops=[encrypt]): not imported.
        (353, UnknownKey),
        (354, UnknownKey),
        (355, UnknownKey),
        (356, UnknownKey),
        // Non-canonical base64url and padding.
        (361, Malformed(JwsError::Base64)),
        (365, Malformed(JwsError::Base64)),
        (374, Malformed(JwsError::Base64)),
        // ECDSA r or s zero or out of range.
        (386, BadSignature),
        (401, BadSignature),
    ]
}

#[test]
fn wycheproof_json_web_signature() {
    let file = load("wycheproof/json_web_signature_test.json");
    let revocations = RevocationSet::new();
    let policy = access_policy();
    let mut outcomes = BTreeMap::new();
    let mut errors = BTreeMap::new();
    let mut refusals: BTreeMap<String, usize> = BTreeMap::new();
    let mut tokens = BTreeMap::new();
    for group in groups(&file) {
        let keys = group_key_source(group);
        let keys: &dyn KeySource = match &keys {
            Ok(k) => k.as_ref(),
            Err(why) => {
                let first = tests(group).first().map(tc_id);
                eprintln!("  group from tcId {first:?}: key not imported: {why}");
                &NoKeys
            }
        };
        for test in tests(group) {
            let tc = tc_id(test);
            let token = match &test["jws"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let got = verify_jws(&token, keys, NOW, 0).map(|_| ());
            tokens.insert(tc, token.clone());
            // Not one of these is an access token.
            assert!(
                verify_access_token(&token, keys, &revocations, &policy, NOW).is_err(),
                "tcId {tc} accepted as an access token"
            );
            if let Err(e) = &got {
                *refusals.entry(format!("{e:?}")).or_default() += 1;
                errors.insert(tc, e.clone());
            }
            outcomes.insert(
                tc,
                (result(test).to_owned(), got.is_ok(), format!("{got:?}")),
            );
        }
    }
    for tc in [367, 370] {
        assert_eq!(
            tokens[&tc], tokens[&357],
            "tcId {tc} is no longer a copy of 357"
        );
    }
    let table = jws_deviations();
    let deviations: BTreeMap<u64, &str> = table.iter().map(|(tc, _, why)| (*tc, *why)).collect();
    assert_eq!(deviations.len(), table.len(), "a tcId listed twice");
    let tally = judge("json_web_signature_test.json", &outcomes, &deviations);
    assert_eq!(tally.ran, file["numberOfTests"].as_u64().unwrap() as usize);
    eprintln!("  refusals by reason: {refusals:?}");
    for (tc, verdict, reason) in &table {
        eprintln!("  deviation tcId {tc} ({verdict:?}): {reason}");
        let got = errors.get(tc).map_or(Ok(()), |e| Err(e.clone()));
        assert_eq!(
            &got, verdict,
            "tcId {tc}: Tessera's verdict is not the listed one"
        );
    }
    for (tc, want) in jws_refusal_reasons() {
        assert_eq!(
            errors.get(&tc),
            Some(&want),
            "tcId {tc} refused for another reason"
        );
    }
}

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

// ---------------------------------------------------------------------------
// Primitive vectors: the crypto path Tessera verifies with.

/// A PublicJwk for a vector's key, with the `alg` and `use` Tessera pins.
fn public_jwk(mut jwk: Value, alg: Algorithm) -> PublicJwk {
    let map = jwk.as_object_mut().expect("a JWK object");
    map.insert("alg".into(), json!(alg_name(alg)));
    map.insert("use".into(), json!("sig"));
    map.entry("kid").or_insert(json!("vector"));
    serde_json::from_value(jwk).expect("a PublicJwk")
}

/// An EC group's key: its JWK, or its uncompressed point when it has none.
fn ec_jwk(group: &Value, alg: Algorithm) -> PublicJwk {
    if let Some(jwk) = group.get("publicKeyJwk") {
        return public_jwk(jwk.clone(), alg);
    }
    let point = hex(group["publicKey"]["uncompressed"].as_str().expect("point"));
    let half = (point.len() - 1) / 2;
    let crv = if alg == Algorithm::ES256 {
        "P-256"
    } else {
        "P-384"
    };
    public_jwk(
        json!({
            "kty": "EC",
            "crv": crv,
            "x": b64url(&point[1..=half]),
            "y": b64url(&point[1 + half..]),
        }),
        alg,
    )
}

/// Verifies every case of a signature file through the crypto path with
/// `key_of(group)`'s components; the cases whose group key the strict import
/// (`verifying_key`) would refuse must be exactly `import_refused_expected`.
fn signature_file(
    name: &str,
    alg: Algorithm,
    key_of: impl Fn(&Value) -> PublicJwk,
    import_refused_expected: &[u64],
) {
    let file = load(&format!("wycheproof/{name}"));
    let mut outcomes = BTreeMap::new();
    let mut import_refused = Vec::new();
    for group in groups(&file) {
        let jwk = key_of(group);
        if jwk.verifying_key().is_err() {
            import_refused.extend(tests(group).iter().map(tc_id));
        }
        let key = jwk.decoding_key().expect("key components");
        for test in tests(group) {
            let tc = tc_id(test);
            let msg = hex(test["msg"].as_str().expect("msg"));
            let sig = hex(test["sig"].as_str().expect("sig"));
            let ok = jsonwebtoken::crypto::verify(&b64url(&sig), &msg, &key, alg).unwrap_or(false);
            outcomes.insert(tc, (result(test).to_owned(), ok, String::new()));
        }
    }
    judge(name, &outcomes, &BTreeMap::new());
    eprintln!("  cases whose key PublicJwk::verifying_key would refuse: {import_refused:?}");
    assert_eq!(
        import_refused, import_refused_expected,
        "{name}: strict import"
    );
}

#[test]
fn wycheproof_ecdsa_p256_p1363() {
    signature_file(
        "ecdsa_secp256r1_sha256_p1363_test.json",
        Algorithm::ES256,
        |g| ec_jwk(g, Algorithm::ES256),
        &[],
    );
}

#[test]
fn wycheproof_ecdsa_p384_p1363() {
    signature_file(
        "ecdsa_secp384r1_sha384_p1363_test.json",
        Algorithm::ES384,
        |g| ec_jwk(g, Algorithm::ES384),
        &[],
    );
}

#[test]
fn wycheproof_ed25519() {
    signature_file(
        "ed25519_test.json",
        Algorithm::EdDSA,
        |g| public_jwk(g["publicKeyJwk"].clone(), Algorithm::EdDSA),
        &[],
    );
}

#[test]
fn wycheproof_rsa_pkcs1_2048_sha256() {
    signature_file(
        "rsa_signature_2048_sha256_test.json",
        Algorithm::RS256,
        |g| public_jwk(g["keyJwk"].clone(), Algorithm::RS256),
        // Two groups have public exponent 3: the crypto path verifies them,
        // the strict import wants at least 65537.
        &[258, 259],
    );
}

#[test]
fn wycheproof_rsa_pss_2048_sha256_salt_32() {
    signature_file(
        "rsa_pss_2048_sha256_mgf1_32_test.json",
        Algorithm::PS256,
        |g| public_jwk(g["publicKeyJwk"].clone(), Algorithm::PS256),
        &[],
    );
}

#[test]
fn wycheproof_hmac_sha256() {
    let name = "hmac_sha256_test.json";
    let file = load(&format!("wycheproof/{name}"));
    let mut outcomes = BTreeMap::new();
    let mut deviations = BTreeMap::new();
    for group in groups(&file) {
        let truncated = group["tagSize"].as_u64() != Some(256);
        for test in tests(group) {
            let tc = tc_id(test);
            let key = SigningKey::from_hmac_secret(
                Algorithm::HS256,
                &hex(test["key"].as_str().expect("key")),
            )
            .expect("an HMAC key");
            let msg = hex(test["msg"].as_str().expect("msg"));
            let tag = hex(test["tag"].as_str().expect("tag"));
            let ok = jsonwebtoken::crypto::verify(
                &b64url(&tag),
                &msg,
                key.decoding_key(),
                Algorithm::HS256,
            )
            .unwrap_or(false);
            outcomes.insert(tc, (result(test).to_owned(), ok, String::new()));
            if truncated && result(test) == "valid" {
                deviations.insert(
                    tc,
                    "a truncated tag: an HS256 JWS signature is the whole 256-bit MAC",
                );
            }
        }
    }
    judge(name, &outcomes, &deviations);
}

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
