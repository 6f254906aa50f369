//! Opens many idle `GET /events` subscriptions to one Tessera process and
//! reports how much resident memory the server gained.
//!
//! ```text
//! subscribers --base http://127.0.0.1:18700 --pid <server pid> --count 10000
//! ```
//! It registers a user, then opens `count` WebSocket connections
//! authenticated with that user's token, 500 at a time, keeps them open for
//! a few seconds, and prints the server's VmRSS before and after.

use anyhow::{Context, Result, bail};
use futures::future::join_all;
use std::io::Write as _;
use std::time::{Duration, Instant};
use tessera_bench::arg;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn rss_kib(pid: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?)
}

#[tokio::main]
async fn main() -> Result<()> {
    let base = arg("--base").unwrap_or_else(|| "http://127.0.0.1:18700".into());
    let pid = arg("--pid").context("--pid <server pid> is required")?;
    let count: usize = arg("--count").unwrap_or_else(|| "10000".into()).parse()?;
    let client = reqwest::Client::new();
    let body = serde_json::json!({"username": "subscriber", "password": "a long passphrase for idle listeners"});
    let mut r = client
        .post(format!("{base}/auth/register"))
        .json(&body)
        .send()
        .await?;
    if r.status() == 409 {
        r = client
            .post(format!("{base}/auth/login"))
            .json(&body)
            .send()
            .await?;
    }
    let token = r.json::<serde_json::Value>().await?["access_token"]
        .as_str()
        .context("token")?
        .to_owned();
    let ws_url = format!("{}/events", base.replacen("http", "ws", 1));

    let before = rss_kib(&pid)?;
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(count);
    while sockets.len() < count {
        let batch = (count - sockets.len()).min(500);
        let mut attempts = Vec::with_capacity(batch);
        for _ in 0..batch {
            let mut request = ws_url.as_str().into_client_request()?;
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
            attempts.push(connect_async(request));
        }
        for result in join_all(attempts).await {
            match result {
                Ok((socket, _)) => sockets.push(socket),
                Err(e) => bail!("connection {} failed: {e}", sockets.len() + 1),
            }
        }
    }
    let opened = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(&pid)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "subscribers:      {}", sockets.len())?;
    writeln!(out, "opened in:        {:.1} s", opened.as_secs_f64())?;
    writeln!(out, "server RSS before: {:.1} MiB", before as f64 / 1024.0)?;
    writeln!(out, "server RSS after:  {:.1} MiB", after as f64 / 1024.0)?;
    writeln!(
        out,
        "per subscriber:   {:.1} KiB",
        (after.saturating_sub(before)) as f64 / sockets.len().max(1) as f64
    )?;
    Ok(())
}
