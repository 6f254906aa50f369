//! Verification by signature and claims: what passes and what does not.

use crate::harness::Tessera;
use std::sync::Arc;
use std::time::Duration;
use tessera_token::clock::{Clock, ManualClock};
use tessera_token::crypto::{b64url, b64url_decode};
use tessera_token::jws::JwsError;
use tessera_verify::{TokenError, Verifier, VerifyError};

fn refused(reason: TokenError) -> Result<(), VerifyError> {
    Err(VerifyError::Invalid(reason))
}

/// `token` with its claims replaced by `edit(claims)`, signature kept.
fn with_claims(token: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&b64url_decode(parts[1]).unwrap()).unwrap();
    edit(&mut claims);
    format!(
        "{}.{}.{}",
        parts[0],
        b64url(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    )
}

#[tokio::test]
async fn a_valid_token_verifies_and_gives_its_claims() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let verifier = Verifier::builder(&tessera.base).build().unwrap();

    let claims = verifier.verify(&alice.access).await.unwrap();

    assert_eq!(claims.username.as_deref(), Some("alice"));
    assert_eq!(claims.iss, tessera.base);
    assert!(claims.has_role("user"));
    assert!(claims.sid.is_some());
    verifier.verify(&alice.access).await.unwrap();
    assert_eq!(verifier.jwks_fetches(), 1, "the keys are cached");
}

#[tokio::test]
async fn a_tampered_token_is_refused() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let verifier = Verifier::builder(&tessera.base).build().unwrap();

    let promoted = with_claims(&alice.access, |c| c["roles"] = serde_json::json!(["admin"]));
    let (head, signature) = alice.access.rsplit_once('.').unwrap();
    let resigned = format!("{head}.{}", b64url([7u8; 64]));
    let unsigned = format!("{head}.");
    let first = if signature.starts_with('A') { 'B' } else { 'A' };
    let flipped = format!("{head}.{first}{}", &signature[1..]);

    for (token, reason) in [
        (promoted, TokenError::BadSignature),
        (resigned, TokenError::BadSignature),
        (unsigned, TokenError::Malformed(JwsError::Shape)),
        (flipped, TokenError::BadSignature),
    ] {
        assert_eq!(
            verifier.verify(&token).await.map(drop),
            refused(reason.clone()),
            "{reason:?}"
        );
    }
    assert!(matches!(
        verifier.verify(&alice.refresh).await,
        Err(VerifyError::Invalid(TokenError::Malformed(_)))
    ));
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let clock = ManualClock::starting_now();
    let verifier = Verifier::builder(&tessera.base)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let exp = verifier.verify(&alice.access).await.unwrap().exp;

    // Past `exp` but within the 60 s leeway: still accepted.
    clock.set(exp * 1000 + 59_000);
    verifier.verify(&alice.access).await.unwrap();
    clock.set(exp * 1000 + 60_000);

    assert_eq!(
        verifier.verify(&alice.access).await.map(drop),
        refused(TokenError::Expired)
    );
}

#[tokio::test]
async fn a_token_for_another_audience_or_issuer_is_refused() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let other_audience = Verifier::builder(&tessera.base)
        .audience("https://api.other.example")
        .build()
        .unwrap();
    let other_issuer = Verifier::builder("https://id.other.example")
        .jwks_url(tessera.url("/.well-known/jwks.json"))
        .build()
        .unwrap();

    assert_eq!(
        other_audience.verify(&alice.access).await.map(drop),
        refused(TokenError::WrongAudience)
    );
    assert_eq!(
        other_issuer.verify(&alice.access).await.map(drop),
        refused(TokenError::WrongIssuer)
    );
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    // The verifier's clock runs two minutes behind Tessera's: beyond the leeway.
    let clock = ManualClock::new(tessera_token::clock::SystemClock.now_ms() - 120_000);
    let verifier = Verifier::builder(&tessera.base)
        .clock(Arc::new(clock))
        .build()
        .unwrap();

    assert_eq!(
        verifier.verify(&alice.access).await.map(drop),
        refused(TokenError::NotYetValid)
    );
}

#[tokio::test]
async fn without_reachable_keys_nothing_verifies() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let base = tessera.base.clone();
    tessera.stop().await;
    let verifier = Verifier::builder(&base)
        .http_client(
            reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();

    assert!(matches!(
        verifier.verify(&alice.access).await,
        Err(VerifyError::KeysUnavailable(_))
    ));
}
