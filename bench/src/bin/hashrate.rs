//! The machine's hash limit for `bench/run.sh`: how many Argon2id
//! verifications per second one thread does at Tessera's configured cost
//! ([`HashCost::OWASP`]: m = 19 MiB, t = 2, p = 1), with its memory reused
//! between hashes as Tessera's hashing threads do.
//!
//! ```text
//! hashrate [SECONDS]       (default 5; run it under `taskset -c 0`)
//! ```
//! Prints `hashes_per_second <rate>` and `ms_per_hash <ms>`.

use anyhow::{Context, Result, anyhow};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::io::Write as _;
use std::time::{Duration, Instant};
use tessera_core::password::HashCost;

fn main() -> Result<()> {
    let seconds: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()
        .context("SECONDS must be a number")?
        .unwrap_or(5.0);
    let cost = HashCost::OWASP;
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, Some(32))
        .map_err(|e| anyhow!("{e}"))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut memory = vec![Block::default(); params.block_count()];
    let mut out = [0u8; 32];
    let hash = |memory: &mut [Block], out: &mut [u8; 32]| {
        argon
            .hash_password_into_with_memory(
                b"a long passphrase for load tests",
                b"sixteen byte slt",
                out,
                memory,
            )
            .map_err(|e| anyhow!("{e}"))
    };
    // One warm-up hash touches the memory, as a running server's has been.
    hash(&mut memory, &mut out)?;
    let budget = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut count = 0u32;
    while started.elapsed() < budget {
        hash(&mut memory, &mut out)?;
        count += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "hashes_per_second {:.2}",
        f64::from(count) / elapsed
    )?;
    writeln!(
        stdout,
        "ms_per_hash {:.2}",
        elapsed * 1000.0 / f64::from(count)
    )?;
    Ok(())
}
