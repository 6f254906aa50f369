//! Measures how long a logout answered by one Tessera process takes to be
//! refused by a `tessera-verify` verifier that follows the event stream of
//! *another* process sharing the same PostgreSQL database.
//!
//! ```text
//! propagation --a http://127.0.0.1:18711 --b http://127.0.0.1:18712 --count 1000
//!             [--admin-username bench-admin] [--admin-password …] [--csv FILE]
//! ```
//!
//! Both processes must share one database and one `TESSERA_ISSUER`, and
//! have the admin created (`TESSERA_ADMIN_USERNAME`/`TESSERA_ADMIN_PASSWORD`;
//! the same variables are read here when the flags are absent). The tool
//! registers (or logs in) a test user through A, then builds a `Verifier`
//! whose keys and `/events` stream (subscribed as the admin) come from B.
//! For each of `count` iterations it logs the user in through A (a fresh
//! session), checks that the verifier accepts the access token, sends
//! `POST /auth/logout` to A, notes the instant the `204` arrives, and calls
//! `verifier.verify(token)` in a tight loop (yielding between tries, for at
//! most 5 s) until it is refused. The time from the `204` to that refusal is
//! the sample. Everything is sequential: one login, one logout at a time.

use anyhow::{Context, Result, bail};
use std::io::Write as _;
use std::time::{Duration, Instant};
use tessera_bench::arg;
use tessera_verify::{PasswordLogin, Verifier};

/// The longest a revocation may take before the iteration counts as failed.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest the verifier may take to fetch keys and connect its stream.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// The test user (created through A if missing).
const USERNAME: &str = "revocation-probe";
const PASSWORD: &str = "a long passphrase for propagation runs";

/// Only loopback targets: this tool is for local measurements.
fn loopback_base(name: &str) -> Result<String> {
    let base = arg(name).with_context(|| format!("{name} http://127.0.0.1:PORT is required"))?;
    let base = base.trim_end_matches('/').to_owned();
    let url = reqwest::Url::parse(&base).with_context(|| format!("{name}: not a URL"))?;
    if url.scheme() != "http" || url.host_str() != Some("127.0.0.1") {
        bail!("{name} must be http://127.0.0.1:PORT (got {base})");
    }
    Ok(base)
}

/// Why one iteration produced no sample.
#[derive(Default)]
struct Failures {
    login: u64,
    not_accepted: u64,
    logout: u64,
    not_refused: u64,
}

impl Failures {
    fn total(&self) -> u64 {
        self.login + self.not_accepted + self.logout + self.not_refused
    }
}

/// The value at quantile `q` (nearest rank) of sorted samples.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn issuer_of(http: &reqwest::Client, base: &str) -> Result<String> {
    let doc: serde_json::Value = http
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    doc["issuer"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{base}: discovery document without issuer"))
}

/// A fresh session for the test user through `base`: its access token.
async fn login(http: &reqwest::Client, base: &str) -> Result<String> {
    let body = serde_json::json!({"username": USERNAME, "password": PASSWORD});
    let response = http
        .post(format!("{base}/auth/login"))
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        bail!("login answered {status}");
    }
    let answer: serde_json::Value = response.json().await?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("login answered without access_token")
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = loopback_base("--a")?;
    let b = loopback_base("--b")?;
    let count: usize = arg("--count").unwrap_or_else(|| "1000".into()).parse()?;
    if count == 0 || count > 100_000 {
        bail!("--count must be between 1 and 100000");
    }
    let admin_username = arg("--admin-username")
        .or_else(|| std::env::var("TESSERA_ADMIN_USERNAME").ok())
        .context("--admin-username (or TESSERA_ADMIN_USERNAME) is required")?;
    let admin_password = arg("--admin-password")
        .or_else(|| std::env::var("TESSERA_ADMIN_PASSWORD").ok())
        .context("--admin-password (or TESSERA_ADMIN_PASSWORD) is required")?;
    let csv = arg("--csv");

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let issuer = issuer_of(&http, &a).await?;
    let issuer_b = issuer_of(&http, &b).await?;
    if issuer != issuer_b {
        bail!("A and B have different issuers ({issuer} vs {issuer_b}): set one TESSERA_ISSUER");
    }

    // The test user, registered through A (or already there).
    let body = serde_json::json!({"username": USERNAME, "password": PASSWORD});
    let registered = http
        .post(format!("{a}/auth/register"))
        .json(&body)
        .send()
        .await?;
    let status = registered.status();
    if !status.is_success() && status != 409 {
        let text = registered.text().await.unwrap_or_default();
        bail!("registering the test user through A answered {status}: {text}");
    }

    // The verifier: keys and events from B, subscribed as the admin.
    let ws_b = format!("ws://{}", b.trim_start_matches("http://"));
    let verifier = Verifier::builder(issuer.clone())
        .jwks_url(format!("{b}/.well-known/jwks.json"))
        .events_url(format!("{ws_b}/events"))
        .events(PasswordLogin::new(&b, admin_username, admin_password))
        .build()?;
    tokio::time::timeout(READY_TIMEOUT, verifier.ready())
        .await
        .context("the verifier did not connect to B's event stream in time")??;

    let mut samples: Vec<Duration> = Vec::with_capacity(count);
    let mut failures = Failures::default();
    let started = Instant::now();
    for _ in 0..count {
        let token = match login(&http, &a).await {
            Ok(t) => t,
            Err(_) => {
                failures.login += 1;
                continue;
            }
        };
        if verifier.verify(&token).await.is_err() {
            failures.not_accepted += 1;
            continue;
        }
        let answer = http
            .post(format!("{a}/auth/logout"))
            .bearer_auth(&token)
            .send()
            .await;
        let answered = Instant::now();
        match answer {
            Ok(r) if r.status() == 204 => {}
            _ => {
                failures.logout += 1;
                continue;
            }
        }
        let refused = loop {
            if verifier.verify(&token).await.is_err() {
                break Some(answered.elapsed());
            }
            if answered.elapsed() > REFUSAL_TIMEOUT {
                break None;
            }
            tokio::task::yield_now().await;
        };
        match refused {
            Some(elapsed) => samples.push(elapsed),
            None => failures.not_refused += 1,
        }
    }
    let total = started.elapsed();

    if let Some(path) = csv {
        let mut file = std::fs::File::create(&path).with_context(|| format!("creating {path}"))?;
        writeln!(file, "iteration,propagation_us")?;
        for (i, d) in samples.iter().enumerate() {
            writeln!(file, "{i},{}", d.as_micros())?;
        }
    }

    let mut sorted = samples.clone();
    sorted.sort_unstable();
    let mean = if sorted.is_empty() {
        Duration::ZERO
    } else {
        sorted.iter().sum::<Duration>() / u32::try_from(sorted.len()).unwrap_or(u32::MAX)
    };
    let state = verifier.stream_state();
    let mut out = std::io::stdout().lock();
    writeln!(out, "logout through:   {a}")?;
    writeln!(out, "verifier follows: {b} (/events as an admin)")?;
    writeln!(
        out,
        "iterations:       {count} in {:.1} s",
        total.as_secs_f64()
    )?;
    writeln!(out, "measured:         {}", sorted.len())?;
    writeln!(
        out,
        "failures:         {} (login {}, not accepted before logout {}, logout not 204 {}, not refused within {} s {})",
        failures.total(),
        failures.login,
        failures.not_accepted,
        failures.logout,
        REFUSAL_TIMEOUT.as_secs(),
        failures.not_refused
    )?;
    writeln!(out, "204 -> first refusal (ms):")?;
    writeln!(
        out,
        "  min   {:8.3}",
        ms(sorted.first().copied().unwrap_or_default())
    )?;
    writeln!(out, "  mean  {:8.3}", ms(mean))?;
    writeln!(out, "  p50   {:8.3}", ms(quantile(&sorted, 0.50)))?;
    writeln!(out, "  p90   {:8.3}", ms(quantile(&sorted, 0.90)))?;
    writeln!(out, "  p99   {:8.3}", ms(quantile(&sorted, 0.99)))?;
    writeln!(
        out,
        "  max   {:8.3}",
        ms(sorted.last().copied().unwrap_or_default())
    )?;
    if let Some(s) = state {
        writeln!(
            out,
            "stream:           connected {}, revocations applied {}, replays truncated {}",
            s.connected, s.revocations_applied, s.replays_truncated
        )?;
    }
    if failures.total() > 0 {
        bail!("{} iterations failed", failures.total());
    }
    Ok(())
}
