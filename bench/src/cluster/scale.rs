//! Write throughput of the mixed load with 1, 2, 3… replicas on one
//! PostgreSQL (with `fsync` on), normalised by the CPU the replicas and the
//! database used, and how often event-writing transactions queued on the
//! event log's lock meanwhile.

use super::fleet::{self, Fleet, FleetConfig};
use super::load::{self, Worker};
use super::record::{self, Outcome};
use super::target::Target;
use anyhow::{Result, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One fleet size's figures.
#[derive(Debug)]
pub struct Row {
    /// Replicas.
    pub replicas: usize,
    /// Acknowledged writes per second, and by kind.
    pub writes_per_second: f64,
    /// Acknowledged writes by kind.
    pub by_kind: BTreeMap<&'static str, usize>,
    /// All requests per second.
    pub requests_per_second: f64,
    /// CPU seconds per second used by the replicas and PostgreSQL.
    pub cores_busy: f64,
    /// Acknowledged writes per CPU second.
    pub writes_per_cpu_second: f64,
    /// The mean number of transactions waiting for an advisory lock.
    pub lock_waiters: f64,
    /// The share of samples in which at least one waited.
    pub lock_contended: f64,
}

/// CPU seconds used so far by `pids`.
fn cpu(pids: &[u32]) -> f64 {
    pids.iter().map(|&p| fleet::cpu_seconds(p)).sum()
}

/// Runs the load on fleets of each size in `sizes` (a fresh database each).
pub async fn scale(
    tessera: PathBuf,
    sizes: &[usize],
    workers: usize,
    warmup: Duration,
    measure: Duration,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &replicas in sizes {
        let fleet = Fleet::start(FleetConfig {
            tessera: tessera.clone(),
            replicas,
            env: Vec::new(),
            durable: true,
        })
        .await?;
        let target = Arc::new(Target::new(
            fleet.front(),
            fleet.replica_urls(),
            format!("s{replicas}"),
        )?);
        if !target.admin_login().await {
            bail!("the administrator cannot sign in");
        }
        let mut pool: Vec<Worker> = (0..workers).map(Worker::new).collect();
        pool = drive(&target, pool, warmup).await?;

        let sampler = LockSampler::start(fleet.postgres.url()).await?;
        let pids = fleet.pids();
        let from = target.record.requests.lock().map(|l| l.len()).unwrap_or(0);
        let cpu_before = cpu(&pids);
        let started = Instant::now();
        let _ = drive(&target, pool, measure).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let cpu_used = cpu(&fleet.pids()) - cpu_before;
        let (lock_waiters, lock_contended) = sampler.finish().await;
        let requests = record::snapshot(&target.record.requests)[from..].to_vec();
        let mut by_kind = BTreeMap::new();
        for q in requests
            .iter()
            .filter(|q| q.op.writes() && q.outcome == Outcome::Expected)
        {
            *by_kind.entry(q.op.name()).or_default() += 1;
        }
        let writes: usize = by_kind.values().sum();
        target.wait_for_probes().await;
        rows.push(Row {
            replicas,
            writes_per_second: writes as f64 / elapsed,
            by_kind,
            requests_per_second: requests.len() as f64 / elapsed,
            cores_busy: cpu_used / elapsed,
            writes_per_cpu_second: writes as f64 / cpu_used.max(f64::EPSILON),
            lock_waiters,
            lock_contended,
        });
        drop(fleet);
    }
    Ok(rows)
}

/// Runs the workers for `span`, then stops them.
async fn drive(target: &Arc<Target>, workers: Vec<Worker>, span: Duration) -> Result<Vec<Worker>> {
    target.stop.store(false, Ordering::Relaxed);
    let handles: Vec<_> = workers
        .into_iter()
        .map(|w| tokio::spawn(load::run_worker(target.clone(), w)))
        .collect();
    tokio::time::sleep(span).await;
    target.stop.store(true, Ordering::Relaxed);
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await?);
    }
    Ok(out)
}

/// Samples `pg_stat_activity` every 10 ms for backends waiting on an
/// advisory lock.
struct LockSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<(u64, u64, u64)>,
}

impl LockSampler {
    async fn start(url: String) -> Result<Self> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let (mut samples, mut waiters, mut contended) = (0u64, 0u64, 0u64);
            while !flag.load(Ordering::Relaxed) {
                let waiting: Result<i64, _> = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'",
                )
                .fetch_one(&pool)
                .await;
                if let Ok(n) = waiting {
                    samples += 1;
                    waiters += n.max(0) as u64;
                    contended += u64::from(n > 0);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (samples, waiters, contended)
        });
        Ok(LockSampler { stop, task })
    }

    /// The mean waiters and the share of samples with any.
    async fn finish(self) -> (f64, f64) {
        self.stop.store(true, Ordering::Relaxed);
        let (samples, waiters, contended) = self.task.await.unwrap_or((0, 0, 0));
        if samples == 0 {
            return (0.0, 0.0);
        }
        (
            waiters as f64 / samples as f64,
            contended as f64 / samples as f64,
        )
    }
}

/// The figures as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| replicas | writes/s | of which login / refresh / logout | requests/s | cores busy (replicas + PostgreSQL) | writes per CPU-second | waiting on the event lock (mean / share of samples) |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let kind = |k: &str| r.by_kind.get(k).copied().unwrap_or(0);
        out.push_str(&format!(
            "| {} | {:.0} | {} / {} / {} | {:.0} | {:.2} | {:.0} | {:.3} / {:.1}% |\n",
            r.replicas,
            r.writes_per_second,
            kind("login"),
            kind("refresh") + kind("refresh ×2"),
            kind("logout"),
            r.requests_per_second,
            r.cores_busy,
            r.writes_per_cpu_second,
            r.lock_waiters,
            r.lock_contended * 100.0
        ));
    }
    out
}
