//! Several replicas under faults (`bench/cluster.sh` runs it).
//!
//! ```text
//! cluster [--tessera target/release/tessera] [--next-tessera PATH]
//!         [--replicas 3] [--workers 24] [--faults none,kill,…] [--short]
//! cluster --scale [--sizes 1,2,3] [--workers 24] [--seconds 20]
//! ```
//!
//! The first form starts a fleet (a PostgreSQL of its own, the replicas,
//! nginx) and runs each fault under a mixed load, printing a Markdown row
//! per fault and what went wrong; it exits 1 when anything acknowledged was
//! lost or a promise was broken. Faults: `none`, `kill`, `pg-restart`,
//! `pg-pause`, `link-slow`, `link-cut`, `rotation`, `rolling` (all of them
//! by default). `--short` uses the short timings of the test suite.
//!
//! The second measures write throughput with each fleet size (PostgreSQL
//! with `fsync` on) and prints a Markdown table. Must run as root (the
//! database server runs as the `postgres` user).

use anyhow::{Context, Result, bail};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;
use tessera_bench::cluster::{self, Fault, Plan, Timing, scale};
use tessera_bench::{arg, flag};

fn number(name: &str, default: usize) -> Result<usize> {
    arg(name).map_or(Ok(default), |v| {
        v.parse().with_context(|| format!("{name}: not a number"))
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let tessera = PathBuf::from(arg("--tessera").unwrap_or("target/release/tessera".into()));
    if !tessera.is_file() {
        bail!(
            "{} does not exist (cargo build --release -p tessera)",
            tessera.display()
        );
    }
    let workers = number("--workers", 24)?;
    if flag("--scale") {
        let sizes: Vec<usize> = arg("--sizes")
            .unwrap_or("1,2,3".into())
            .split(',')
            .map(|s| s.trim().parse().context("--sizes: numbers"))
            .collect::<Result<_>>()?;
        let seconds = number("--seconds", 20)? as u64;
        let rows = scale::scale(
            tessera,
            &sizes,
            workers,
            Duration::from_secs(5),
            Duration::from_secs(seconds),
        )
        .await?;
        write!(std::io::stdout(), "{}", scale::table(&rows))?;
        return Ok(());
    }
    let faults = match arg("--faults") {
        None => Fault::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|f| Fault::parse(f.trim()).with_context(|| format!("unknown fault {f}")))
            .collect::<Result<_>>()?,
    };
    let plan = Plan {
        tessera,
        next_tessera: arg("--next-tessera").map(PathBuf::from),
        replicas: number("--replicas", 3)?,
        workers,
        faults,
        timing: if flag("--short") {
            Timing::SHORT
        } else {
            Timing::LONG
        },
    };
    let mut out = std::io::stdout();
    writeln!(out, "{}", cluster::Phase::header())?;
    let phases = cluster::run(&plan, |phase| {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{}", phase.row());
        for line in phase.details() {
            let _ = writeln!(out, "    {line}");
        }
    })
    .await?;
    if phases.iter().all(cluster::Phase::clean) {
        writeln!(
            out,
            "every acknowledged write was there and no promise was broken"
        )?;
        Ok(())
    } else {
        bail!("something acknowledged was lost or a promise was broken (see above)")
    }
}
