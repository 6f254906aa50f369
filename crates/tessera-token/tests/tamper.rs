//! Property: any single-byte change to a valid signed access token makes
//! `verify_access_token` refuse it, for an ES256 token and an HS256 token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::Algorithm;
use proptest::prelude::*;
use proptest::sample::Index;
use std::sync::{Arc, OnceLock};
use tessera_token::clock::Millis;
use tessera_token::keys::{KeyRing, SigningKey, generate_private_key};
use tessera_token::revocation::RevocationSet;
use tessera_token::tokens::{
    ACCESS_TOKEN_TYP, AccessClaims, Audience, VerifyPolicy, new_jti, sign_jws, verify_access_token,
};

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

/// A ring with one key and a token it signed, made once per test binary.
struct Fixture {
    ring: KeyRing,
    token: String,
}

impl Fixture {
    fn new(key: SigningKey) -> Self {
        let ring = KeyRing::new(vec![Arc::new(key)]);
        let token = sign_jws(ring.signer(NOW).unwrap(), ACCESS_TOKEN_TYP, &claims()).unwrap();
        let fixture = Fixture { ring, token };
        assert!(
            fixture.verify(&fixture.token),
            "the untouched token verifies"
        );
        fixture
    }

    fn verify(&self, token: &str) -> bool {
        verify_access_token(token, &self.ring, &RevocationSet::new(), &policy(), NOW).is_ok()
    }

    /// Replaces the byte at `at` with `byte` (which differs from it); a
    /// result that is not UTF-8 cannot even be presented as a token.
    fn refuses_change(&self, at: Index, byte: u8) -> Result<(), TestCaseError> {
        let mut bytes = self.token.clone().into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        if let Ok(tampered) = String::from_utf8(bytes) {
            prop_assert!(
                !self.verify(&tampered),
                "byte {i} set to {byte:#04x} still verifies: {tampered}"
            );
        }
        Ok(())
    }
}

fn es256() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let der = generate_private_key(Algorithm::ES256).unwrap();
        Fixture::new(SigningKey::from_private_der(Algorithm::ES256, &der, 0, 0, 1).unwrap())
    })
}

fn hs256() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        Fixture::new(
            SigningKey::from_hmac_secret(Algorithm::HS256, b"0123456789abcdef0123456789abcdef")
                .unwrap(),
        )
    })
}

/// A replacement byte: mostly from the token's own alphabet (base64url and
/// `.`), where a change is most likely to still parse, sometimes any byte.
fn replacement() -> impl Strategy<Value = u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    prop_oneof![
        3 => proptest::sample::select(ALPHABET),
        1 => any::<u8>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_single_byte_change_to_an_es256_token_is_refused(at in any::<Index>(), byte in replacement()) {
        es256().refuses_change(at, byte)?;
    }

    #[test]
    fn any_single_byte_change_to_an_hs256_token_is_refused(at in any::<Index>(), byte in replacement()) {
        hs256().refuses_change(at, byte)?;
    }
}

/// Every position, each with a neighbouring character of the alphabet: an
/// exhaustive pass alongside the random one.
#[test]
fn every_position_changed_to_a_neighbour_is_refused() {
    for fixture in [es256(), hs256()] {
        let bytes = fixture.token.as_bytes();
        for i in 0..bytes.len() {
            for byte in [b'A', b'B', b'g', b'w', b'-', b'_', b'.'] {
                if bytes[i] == byte {
                    continue;
                }
                let mut tampered = bytes.to_vec();
                tampered[i] = byte;
                let tampered = String::from_utf8(tampered).unwrap();
                assert!(
                    !fixture.verify(&tampered),
                    "byte {i} set to {:?} still verifies",
                    byte as char
                );
            }
        }
    }
}
