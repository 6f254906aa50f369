//! What `/metrics` reads at the moment it is scraped, beside the counters
//! of [`crate::metrics`]: the process (memory, CPU, open files, from
//! `/proc` on Linux), the database pools, live sessions and users, the
//! signing keys (the active key's age, the time to the next rotation) and
//! the `/events` subscribers.

use crate::state::AppState;
use std::fmt::Write as _;
use tessera_core::service::KeyInfo;
use tessera_core::store::PoolStats;
use tessera_token::keys::{KeyPurpose, KeyStatus};

/// One gauge: its HELP and TYPE lines and its samples.
fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// A counter that only grows (CPU seconds).
fn counter(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

/// The process's resident memory, CPU seconds, open and allowed files, from
/// `/proc/self` (Linux; nothing elsewhere). CPU time is in clock ticks of
/// 1/100 s, Linux's `USER_HZ` on every architecture it runs on.
fn process(out: &mut String) {
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm")
        && let Some(pages) = statm
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<f64>().ok())
    {
        gauge(
            out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            &[(String::new(), pages * 4096.0)],
        );
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        // The command name (field 2) may hold spaces: count from its end.
        && let Some((_, rest)) = stat.rsplit_once(')')
    {
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
        counter(
            out,
            "process_cpu_seconds_total",
            "User and system CPU time spent in seconds.",
            (ticks(11) + ticks(12)) / 100.0,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge(
            out,
            "process_open_fds",
            "Number of open file descriptors.",
            &[(String::new(), fds.count() as f64)],
        );
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits")
        && let Some(max) = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|m| m.parse::<f64>().ok())
    {
        gauge(
            out,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            &[(String::new(), max)],
        );
    }
}

/// One figure of a pool.
type PoolFigure = fn(&PoolStats) -> f64;

fn pools(out: &mut String, pools: &[PoolStats]) {
    let samples = |f: fn(&PoolStats) -> u32| -> Vec<(String, f64)> {
        pools
            .iter()
            .map(|p| (format!("{{pool=\"{}\"}}", p.pool), f64::from(f(p))))
            .collect()
    };
    gauge(
        out,
        "tessera_db_connections_in_use",
        "Database connections taken from the pool.",
        &samples(|p| p.open.saturating_sub(p.idle)),
    );
    gauge(
        out,
        "tessera_db_connections_idle",
        "Database connections open and idle.",
        &samples(|p| p.idle),
    );
    gauge(
        out,
        "tessera_db_connections_max",
        "The most connections the pool opens.",
        &samples(|p| p.max),
    );
    let totals: [(&str, &str, PoolFigure); 2] = [
        (
            "tessera_db_connection_wait_seconds_total",
            "Seconds spent waiting for a connection of the pool (for a write transaction: until it began).",
            |p| p.wait_seconds,
        ),
        (
            "tessera_db_connection_waits_total",
            "Connections taken from the pool (each a wait, however short).",
            |p| p.waits as f64,
        ),
    ];
    for (name, help, value) in totals {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for p in pools {
            let _ = writeln!(out, "{name}{{pool=\"{}\"}} {}", p.pool, value(p));
        }
    }
}

/// The active access-token key's age, and the seconds until the next
/// automatic rotation (negative when overdue; absent when rotation is off).
fn keys(out: &mut String, keys: &[KeyInfo], now_ms: i64, rotation: Option<std::time::Duration>) {
    let active = keys
        .iter()
        .filter(|k| k.purpose == KeyPurpose::Access && k.status == KeyStatus::Active)
        .map(|k| k.activates_at)
        .max();
    let Some(since) = active else { return };
    gauge(
        out,
        "tessera_signing_key_age_seconds",
        "How long the active access-token key has signed.",
        &[(String::new(), (now_ms - since) as f64 / 1000.0)],
    );
    if let Some(period) = rotation {
        let due = since + i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
        gauge(
            out,
            "tessera_signing_key_next_rotation_seconds",
            "Seconds until the next automatic key rotation.",
            &[(String::new(), (due - now_ms) as f64 / 1000.0)],
        );
    }
    let published = keys
        .iter()
        .filter(|k| k.status != KeyStatus::Retired)
        .count();
    gauge(
        out,
        "tessera_signing_keys_published",
        "Keys in the JWKS.",
        &[(String::new(), published as f64)],
    );
}

/// Everything read at scrape time, in the text exposition format.
pub async fn render(state: &AppState) -> String {
    let mut out = String::new();
    process(&mut out);
    pools(&mut out, &state.tessera.pool_stats());
    // The counts need the database; while it is unreachable they are left
    // out rather than failing the scrape.
    if let Ok((users, live)) = state.tessera.counts().await {
        gauge(
            &mut out,
            "tessera_users",
            "Registered users.",
            &[(String::new(), users as f64)],
        );
        gauge(
            &mut out,
            "tessera_live_sessions",
            "Sessions that can still be refreshed.",
            &[(String::new(), live as f64)],
        );
    }
    let settings = state.tessera.settings();
    let rotation = settings
        .key_rotation
        .filter(|_| !tessera_token::keys::is_hmac(settings.alg));
    // Likewise the keys, while a first start's ID-token key cannot be stored.
    if let Ok(list) = state.tessera.keys().list_keys().await {
        keys(&mut out, &list, state.tessera.clock().now_ms(), rotation);
    }
    gauge(
        &mut out,
        "tessera_events_subscribers",
        "Open /events subscriptions.",
        &[(String::new(), state.subscribers.open() as f64)],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_reads_itself_on_linux() {
        let mut out = String::new();
        process(&mut out);
        if cfg!(target_os = "linux") {
            for name in [
                "process_resident_memory_bytes",
                "process_cpu_seconds_total",
                "process_open_fds",
                "process_max_fds",
            ] {
                let line = out
                    .lines()
                    .find(|l| l.starts_with(&format!("{name} ")))
                    .unwrap_or_else(|| panic!("{name} missing: {out}"));
                let value: f64 = line
                    .split(' ')
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .expect("a number");
                assert!(value >= 0.0, "{line}");
            }
        }
    }
}
