//! Start-up time for `bench/run.sh`: polls `GET /readyz` (or another path)
//! every millisecond until it answers 200, and prints the milliseconds since
//! an instant the caller noted just before starting the server.
//!
//! ```text
//! ready ADDRESS [--path /readyz] [--since NANOS_SINCE_EPOCH] [--timeout SECONDS]
//! ```
//! `--since` is `date +%s%N` taken before the server was spawned; without it
//! the clock starts when `ready` does. Exits non-zero on timeout.

use anyhow::{Context, Result, bail};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tessera_bench::arg;

fn now_nanos() -> Result<u128> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos())
}

/// Whether one `GET path` answers with status 200.
fn answers_200(address: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(100)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

fn main() -> Result<()> {
    let address: SocketAddr = std::env::args()
        .nth(1)
        .context("usage: ready ADDRESS [--path P] [--since NANOS] [--timeout S]")?
        .parse()
        .context("ADDRESS must be host:port")?;
    let path = arg("--path").unwrap_or_else(|| "/readyz".into());
    let since: u128 = match arg("--since") {
        Some(s) => s.parse().context("--since must be nanoseconds")?,
        None => now_nanos()?,
    };
    let timeout = Duration::from_secs_f64(
        arg("--timeout")
            .map(|s| s.parse())
            .transpose()
            .context("--timeout must be seconds")?
            .unwrap_or(60.0),
    );
    let started = Instant::now();
    while !answers_200(address, &path) {
        if started.elapsed() > timeout {
            bail!("{address}{path} did not answer 200 within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed_ns = now_nanos()?.saturating_sub(since);
    writeln!(std::io::stdout(), "{:.1}", elapsed_ns as f64 / 1e6)?;
    Ok(())
}
