//! Following key rotation: a new key id is fetched once, and tokens with
//! made-up key ids cannot make the verifier fetch more often than allowed.

use crate::harness::{Tessera, kid_of, wait_for_stream};
use std::sync::Arc;
use std::time::Duration;
use tessera_token::clock::ManualClock;
use tessera_token::crypto::{b64url, b64url_decode};
use tessera_verify::{TokenError, Verifier, VerifyError};

/// `token` with its header's `kid` replaced.
fn with_kid(token: &str, kid: &str) -> String {
    let (header, rest) = token.split_once('.').unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&b64url_decode(header).unwrap()).unwrap();
    header["kid"] = kid.into();
    format!("{}.{rest}", b64url(serde_json::to_vec(&header).unwrap()))
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_when_a_token_names_it() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let clock = ManualClock::starting_now();
    let verifier = Verifier::builder(&tessera.base)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    verifier.verify(&alice.access).await.unwrap();
    assert_eq!(verifier.jwks_fetches(), 1);

    let new_kid = tessera.rotate_keys().await;
    let bob = tessera.register("bob").await;
    assert_eq!(kid_of(&bob.access), new_kid);

    // Within the refetch interval of the last fetch the unknown key id
    // causes no fetch.
    assert_eq!(
        verifier.verify(&bob.access).await.map(drop),
        Err(VerifyError::Invalid(TokenError::UnknownKey))
    );
    assert_eq!(verifier.jwks_fetches(), 1);

    clock.advance(Duration::from_secs(5));
    verifier.verify(&bob.access).await.unwrap();
    verifier.verify(&bob.access).await.unwrap();
    verifier.verify(&alice.access).await.unwrap();
    assert_eq!(
        verifier.jwks_fetches(),
        2,
        "the new key id was fetched once"
    );

    // A made-up key id right after that fetch costs nothing.
    let forged = with_kid(&bob.access, "no-such-key");
    assert_eq!(
        verifier.verify(&forged).await.map(drop),
        Err(VerifyError::Invalid(TokenError::UnknownKey))
    );
    assert_eq!(verifier.jwks_fetches(), 2);
}

#[tokio::test]
async fn a_key_rotated_event_fetches_the_new_key_before_a_token_needs_it() {
    let tessera = Tessera::spawn().await;
    let verifier = Verifier::builder(&tessera.base)
        .events(tessera.admin_tokens())
        .build()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), verifier.ready())
        .await
        .unwrap()
        .unwrap();
    let before = verifier.jwks_fetches();
    let seq = verifier.stream_state().unwrap().last_seq;

    // A rotation renews the access-token key and the ID-token key: two
    // `key.rotated` events, each fetching the JWKS beside the stream.
    let new_kid = tessera.rotate_keys().await;
    wait_for_stream(&verifier, |s| s.last_seq >= seq.map(|n| n + 2)).await;
    for _ in 0..400 {
        if verifier.jwks_fetches() > before + 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let fetched = verifier.jwks_fetches();
    assert!(fetched > before, "the events fetched the keys");
    let bob = tessera.register("bob").await;
    assert_eq!(kid_of(&bob.access), new_kid);

    // The token needs no fetch of its own.
    verifier.verify(&bob.access).await.unwrap();
    assert_eq!(verifier.jwks_fetches(), fetched);
}
