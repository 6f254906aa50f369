//! The verification limit for `bench/run.sh`: how many access-token
//! signatures one thread can check per second with aws-lc-rs alone, the
//! public key parsed beforehand and nothing else done — no parsing, no
//! claims, no HTTP. A server that checks a signature on every request
//! cannot answer more requests per second per core than this.
//!
//! ```text
//! verifyrate [SECONDS [FIGURE...]]     (default 3 s per figure, all figures)
//! ```
//! Prints the FIGUREs named (all three if none), each over inputs of the
//! size of a Tessera token's:
//! - `es256` → `es256_per_second N`: one ES256 signature checked again and
//!   again;
//! - `es256_distinct` → `es256_distinct_per_second N`: 100,000 signatures
//!   over as many different inputs, checked in turn, each copied into a
//!   buffer first, as a server meets them under the kit's load of 100,000
//!   distinct tokens. One signature checked again and again runs faster
//!   (by 6–7% where measured, and 1,000 different signatures, which fit in
//!   the CPU's caches, ran no faster than 100,000), so this is the limit
//!   that load is held to;
//! - `hs256` → `hs256_per_second N`: one HS256 tag checked again and again.

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

/// The figures `verifyrate` can take, in the order it takes them by default.
const FIGURES: [&str; 3] = ["es256", "es256_distinct", "hs256"];

/// How many different ES256 signatures `es256_distinct_per_second` checks
/// in turn: as many as the kit's load of distinct tokens sends.
const DISTINCT: usize = 100_000;

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
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args
        .next()
        .map(|s| s.parse())
        .transpose()
        .context("SECONDS must be a number")?
        .unwrap_or(3.0);
    let mut figures: Vec<String> = args.collect();
    if figures.is_empty() {
        figures = FIGURES.map(String::from).to_vec();
    }
    if let Some(other) = figures.iter().find(|f| !FIGURES.contains(&f.as_str())) {
        anyhow::bail!("unknown figure {other}: es256, es256_distinct or hs256");
    }
    let mut stdout = std::io::stdout();
    for figure in figures {
        let per_second = match figure.as_str() {
            "es256" => es256(seconds, 1)?,
            "es256_distinct" => es256(seconds, DISTINCT)?,
            _ => hs256(seconds)?,
        };
        writeln!(stdout, "{figure}_per_second {per_second:.0}")?;
    }
    Ok(())
}

/// ES256 checks per second over `count` signatures of as many different
/// inputs, checked in turn.
fn es256(seconds: f64, count: usize) -> Result<f64> {
    let rng = SystemRandom::new();
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref())?;
    let public = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())?;
    let inputs: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let mut input = INPUT.to_vec();
            input[..20].copy_from_slice(format!("{i:020}").as_bytes());
            input
        })
        .collect();
    let signatures = inputs
        .iter()
        .map(|input| pair.sign(&rng, input))
        .collect::<Result<Vec<_>, _>>()?;
    // Each check reads its token from a buffer just written, as a server
    // checks a token it has just read from its socket: the 100,000 inputs
    // lie far outside the CPU's caches, a received token does not.
    let (mut input, mut signature) = (Vec::with_capacity(INPUT.len()), [0; 64]);
    let mut next = 0;
    rate(seconds, || {
        next = (next + 1) % count;
        input.clear();
        input.extend_from_slice(&inputs[next]);
        signature.copy_from_slice(signatures[next].as_ref());
        public
            .verify_sig(black_box(&input), black_box(&signature))
            .is_ok()
    })
}

/// HS256 checks per second of one tag.
fn hs256(seconds: f64) -> Result<f64> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]);
    let tag = hmac::sign(&key, INPUT);
    rate(seconds, || {
        hmac::verify(&key, black_box(INPUT), tag.as_ref()).is_ok()
    })
}
