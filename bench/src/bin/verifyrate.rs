//! The verification limit for `bench/run.sh`: how many access-token
//! signatures one thread can check per second with aws-lc-rs alone, the
//! public key parsed beforehand and nothing else done — no parsing, no
//! claims, no HTTP. A server that checks a signature on every request
//! cannot answer more requests per second per core than this.
//!
//! ```text
//! verifyrate [SECONDS]     (default 3 per algorithm)
//! ```
//! Prints `es256_per_second N` and `hs256_per_second N`, each over a token
//! of the size Tessera issues.

use anyhow::{Context, Result};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey,
};
use std::hint::black_box;
use std::io::Write as _;
use std::time::{Duration, Instant};

/// A signing input the size of a Tessera access token's (header and claims,
/// base64url), about 480 bytes.
const INPUT: &[u8] = &[b'e'; 480];

/// Runs `check` for `seconds`, answering checks per second.
fn rate(seconds: f64, mut check: impl FnMut() -> bool) -> Result<f64> {
    let until = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < until {
        for _ in 0..64 {
            anyhow::ensure!(black_box(check()), "a valid signature was refused");
        }
        done += 64;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    let seconds: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()
        .context("SECONDS must be a number")?
        .unwrap_or(3.0);
    let rng = SystemRandom::new();
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref())?;
    let signature = pair.sign(&rng, INPUT)?;
    let public = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())?;
    let es256 = rate(seconds, || {
        public
            .verify_sig(black_box(INPUT), signature.as_ref())
            .is_ok()
    })?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]);
    let tag = hmac::sign(&key, INPUT);
    let hs256 = rate(seconds, || {
        hmac::verify(&key, black_box(INPUT), tag.as_ref()).is_ok()
    })?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "es256_per_second {es256:.0}")?;
    writeln!(stdout, "hs256_per_second {hs256:.0}")?;
    Ok(())
}
