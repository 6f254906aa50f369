//! A mixed load for `bench/run.sh`, the shape of a real deployment's
//! traffic: of every 100 requests, 90 verify an access token, 8 refresh a
//! session and 2 log in, from `--connections` clients at once, each waiting
//! for its answer before it sends the next request (as `wrk` does).
//! Latency is kept per endpoint, which `wrk` cannot do.
//!
//! ```text
//! mixed --base URL --tokens FILE --seconds S [--connections C] [--users N] [--password P]
//! ```
//! - `--tokens`: access tokens for `GET /auth/verify`, one per line (from
//!   `mint`), used in turn.
//! - Each client logs in once before the load (not measured) and then
//!   rotates its own refresh token; logins cycle through `bench-user-…` of
//!   the first `--users` (default 64) users.
//!
//! Prints one line per endpoint: `name requests per_second p50_ms p99_ms
//! max_ms errors`.

use anyhow::{Context, Result, bail};
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tessera_bench::arg;

#[derive(Clone, Copy)]
enum Kind {
    Verify,
    Refresh,
    Login,
}

const KINDS: [(&str, Kind); 3] = [
    ("GET /auth/verify", Kind::Verify),
    ("POST /auth/refresh", Kind::Refresh),
    ("POST /auth/login", Kind::Login),
];

/// Latencies (µs) and failures of one endpoint.
#[derive(Default)]
struct Record {
    micros: Vec<u64>,
    errors: u64,
}

struct Shared {
    client: reqwest::Client,
    base: String,
    tokens: Vec<String>,
    next_token: AtomicUsize,
    next_user: AtomicUsize,
    users: usize,
    password: String,
}

impl Shared {
    fn user(&self) -> String {
        let i = self.next_user.fetch_add(1, Ordering::Relaxed) % self.users;
        format!("bench-user-{i:07}")
    }

    /// Logs in: the refresh token, or `None` when refused.
    async fn login(&self) -> Result<Option<String>> {
        let body = serde_json::json!({"username": self.user(), "password": self.password});
        let answer = self
            .client
            .post(format!("{}/auth/login", self.base))
            .json(&body)
            .send()
            .await?;
        if !answer.status().is_success() {
            return Ok(None);
        }
        let json: serde_json::Value = answer.json().await?;
        Ok(json["refresh_token"].as_str().map(str::to_owned))
    }
}

/// xorshift64: enough to pick an endpoint, without a crate for it.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn client(
    shared: Arc<Shared>,
    seed: u64,
    start: Instant,
    until: Instant,
) -> Result<[Record; 3]> {
    let mut records: [Record; 3] = Default::default();
    let mut refresh = shared
        .login()
        .await?
        .context("a set-up login was refused")?;
    tokio::time::sleep_until(start.into()).await;
    let mut random = seed | 1;
    while Instant::now() < until {
        let pick = next_random(&mut random) % 100;
        let (slot, kind) = match pick {
            0..90 => (0, Kind::Verify),
            90..98 => (1, Kind::Refresh),
            _ => (2, Kind::Login),
        };
        let started = Instant::now();
        let ok = match kind {
            Kind::Verify => {
                let i = shared.next_token.fetch_add(1, Ordering::Relaxed) % shared.tokens.len();
                shared
                    .client
                    .get(format!("{}/auth/verify", shared.base))
                    .bearer_auth(&shared.tokens[i])
                    .send()
                    .await
                    .is_ok_and(|a| a.status().is_success())
            }
            Kind::Refresh => {
                let answer = shared
                    .client
                    .post(format!("{}/auth/refresh", shared.base))
                    .json(&serde_json::json!({"refresh_token": refresh}))
                    .send()
                    .await;
                match answer {
                    Ok(a) if a.status().is_success() => {
                        let json: serde_json::Value = a.json().await?;
                        match json["refresh_token"].as_str() {
                            Some(t) => {
                                refresh = t.to_owned();
                                true
                            }
                            None => false,
                        }
                    }
                    _ => false,
                }
            }
            Kind::Login => shared.login().await.ok().flatten().is_some(),
        };
        let record = &mut records[slot];
        record
            .micros
            .push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        if !ok {
            record.errors += 1;
        }
    }
    Ok(records)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let usage = "usage: mixed --base URL --tokens FILE --seconds S [--connections C] [--users N] [--password P]";
    let base = arg("--base").context(usage)?;
    let tokens: Vec<String> = std::fs::read_to_string(arg("--tokens").context(usage)?)?
        .lines()
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        bail!("no tokens");
    }
    let seconds: f64 = arg("--seconds").context(usage)?.parse()?;
    let connections: usize = arg("--connections").map_or(Ok(64), |c| c.parse())?;
    let shared = Arc::new(Shared {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .timeout(Duration::from_secs(30))
            .build()?,
        base,
        tokens,
        next_token: AtomicUsize::new(0),
        next_user: AtomicUsize::new(0),
        users: arg("--users").map_or(Ok(64), |u| u.parse())?,
        password: arg("--password").unwrap_or_else(|| "a long passphrase for load tests".into()),
    });
    // The set-up logins happen before the clock starts: each client's
    // first login is part of its start, so the deadline leaves room for it.
    let setup = Duration::from_secs_f64(0.02 * connections as f64 + 1.0);
    let started = Instant::now() + setup;
    let until = started + Duration::from_secs_f64(seconds);
    let clients: Vec<_> = (0..connections)
        .map(|i| {
            let seed = 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1);
            tokio::spawn(client(shared.clone(), seed, started, until))
        })
        .collect();
    let mut totals: [Record; 3] = Default::default();
    for c in clients {
        let records = c.await??;
        for (total, record) in totals.iter_mut().zip(records) {
            total.micros.extend(record.micros);
            total.errors += record.errors;
        }
    }
    let elapsed = until.saturating_duration_since(started).as_secs_f64();
    let mut stdout = std::io::stdout();
    for ((name, _), record) in KINDS.iter().zip(totals.iter_mut()) {
        record.micros.sort_unstable();
        let sorted = &record.micros;
        writeln!(
            stdout,
            "{name}\t{}\t{:.0}\t{:.2}\t{:.2}\t{:.2}\t{}",
            sorted.len(),
            sorted.len() as f64 / elapsed,
            percentile(sorted, 50.0),
            percentile(sorted, 99.0),
            sorted.last().copied().unwrap_or(0) as f64 / 1000.0,
            record.errors
        )?;
    }
    Ok(())
}
