//! Several replicas under faults: a fleet of `tessera serve` processes on
//! one PostgreSQL database behind nginx, a mixed load whose every
//! acknowledged write is recorded, faults injected under that load, and
//! the checks afterwards (`bench/cluster.sh`, and the short form in the
//! binary's tests).
//!
//! - [`fleet`]: PostgreSQL, the replicas, nginx.
//! - [`link`]: the proxy that slows or cuts one replica's database link.
//! - [`load`]: the workers and their model.
//! - [`record`]: what the load observed.
//! - [`target`]: where the load goes, and the probe after each logout.
//! - [`checks`]: what is verified once a fault is over.
//! - [`report`]: a phase as a row of the results table.
//! - [`scale`]: write throughput with 1, 2, 3… replicas.

pub mod checks;
pub mod fleet;
pub mod link;
pub mod load;
pub mod record;
pub mod report;
pub mod scale;
pub mod target;

use anyhow::{Context, Result, bail};
use fleet::Fleet;
use link::Link;
use load::Worker;
use record::{Op, Outcome};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use target::Target;

/// A fault, injected while the load runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: the load alone, for comparison.
    None,
    /// `kill -9` of a replica, started again after a while.
    Kill,
    /// PostgreSQL stopped (`pg_ctl stop -m fast`) and started again.
    PostgresRestart,
    /// Every PostgreSQL process stopped where it stands (`SIGSTOP`), then
    /// resumed (`SIGCONT`).
    PostgresPause,
    /// Replica 0's database link delays every chunk by 50 ms each way.
    LinkSlow,
    /// Replica 0's database link drops everything (a partition), then
    /// comes back.
    LinkCut,
    /// The signing key rotates by itself (`TESSERA_KEY_ROTATION`) while the
    /// load runs.
    KeyRotation,
    /// Every replica in turn: `SIGTERM`, started again as the next build,
    /// ready before the next one goes.
    RollingRestart,
}

impl Fault {
    /// Every fault, in the order a full run takes them.
    pub const ALL: [Fault; 8] = [
        Fault::None,
        Fault::Kill,
        Fault::PostgresRestart,
        Fault::PostgresPause,
        Fault::LinkSlow,
        Fault::LinkCut,
        Fault::KeyRotation,
        Fault::RollingRestart,
    ];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Kill => "kill",
            Fault::PostgresRestart => "pg-restart",
            Fault::PostgresPause => "pg-pause",
            Fault::LinkSlow => "link-slow",
            Fault::LinkCut => "link-cut",
            Fault::KeyRotation => "rotation",
            Fault::RollingRestart => "rolling",
        }
    }

    /// The fault a name stands for.
    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// How long each part of a phase lasts.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Load before the fault.
    pub before: Duration,
    /// How long a killed replica or a stopped PostgreSQL stays down.
    pub down: Duration,
    /// How long PostgreSQL stays paused, and a link slow or cut.
    pub pause: Duration,
    /// Load after everything is ready again.
    pub after: Duration,
    /// The longest to wait for an automatic key rotation.
    pub rotation_wait: Duration,
}

impl Timing {
    /// The long form: 10 s outages.
    pub const LONG: Timing = Timing {
        before: Duration::from_secs(5),
        down: Duration::from_secs(5),
        pause: Duration::from_secs(10),
        after: Duration::from_secs(8),
        rotation_wait: Duration::from_secs(200),
    };

    /// The short form the test suite runs.
    pub const SHORT: Timing = Timing {
        before: Duration::from_secs(2),
        down: Duration::from_secs(2),
        pause: Duration::from_secs(4),
        after: Duration::from_secs(4),
        rotation_wait: Duration::from_secs(200),
    };
}

/// The end of a phase whose error rate must be back to 0.
pub const TAIL: Duration = Duration::from_secs(2);

/// A whole run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The build the fleet starts as.
    pub tessera: PathBuf,
    /// The build a rolling restart moves to (the same one when `None`).
    pub next_tessera: Option<PathBuf>,
    /// Replicas.
    pub replicas: usize,
    /// Concurrent load workers.
    pub workers: usize,
    /// Faults, in order, on one fleet.
    pub faults: Vec<Fault>,
    /// How long things last.
    pub timing: Timing,
}

/// What one phase (one fault under load) showed.
#[derive(Debug, Default)]
pub struct Phase {
    /// The fault.
    pub fault: Option<Fault>,
    /// From the fault's start until it was undone.
    pub fault_time: Duration,
    /// Requests of the load in the phase.
    pub requests: usize,
    /// Load requests per second over the phase.
    pub rate: f64,
    /// Acknowledged writes, by kind.
    pub acknowledged: BTreeMap<&'static str, usize>,
    /// Failed requests (5xx or none) while the fault lasted, and all then.
    pub failed_during: (usize, usize),
    /// Failed requests after the fault was undone, and all then.
    pub failed_after: (usize, usize),
    /// From the fault's end to the end of the last failed request.
    pub recovery: Duration,
    /// Failed requests in the last [`TAIL`] of the phase, and all then:
    /// the error rate once things have settled.
    pub failed_tail: (usize, usize),
    /// The slowest failed request.
    pub slowest_failure: Duration,
    /// What that request was.
    pub slowest_failure_op: Option<Op>,
    /// Verifications of live tokens while the fault lasted: accepted, all.
    pub verified_during: (usize, usize),
    /// From the fault's start to the first `/readyz` that was not 200.
    pub not_ready_after: Option<Duration>,
    /// From the fault's end until every replica's `/readyz` was 200 again.
    pub ready_again_after: Option<Duration>,
    /// Revocation bounds measured after logouts in this phase (sorted).
    pub revocation_bounds: Vec<Duration>,
    /// Acknowledged writes found missing.
    pub lost: Vec<String>,
    /// Promises broken (during the load and in the checks).
    pub violations: Vec<String>,
    /// Other unpredicted answers.
    pub anomalies: Vec<String>,
    /// Failed requests (writes, verifications, checks) by reason.
    pub failures: BTreeMap<String, usize>,
    /// Revoked tokens a replica cut off from the database accepted (only
    /// with `link-cut`).
    pub stale_while_cut_off: Vec<String>,
    /// Requests the checks made, and how many got no answer.
    pub checks: (usize, usize),
    /// What the fault did, in words (which replica, which key).
    pub note: String,
}

impl Phase {
    /// All acknowledged writes.
    pub fn acknowledged_total(&self) -> usize {
        self.acknowledged.values().sum()
    }

    /// A percentile of the revocation bounds.
    pub fn bound(&self, percentile: f64) -> Option<Duration> {
        let n = self.revocation_bounds.len();
        if n == 0 {
            return None;
        }
        let i = ((n as f64 * percentile).ceil() as usize).clamp(1, n) - 1;
        Some(self.revocation_bounds[i])
    }

    /// Whether writes were acknowledged and every answer was the one
    /// predicted: nothing lost, no promise broken, nothing unexpected, and
    /// every check answered.
    pub fn clean(&self) -> bool {
        self.acknowledged_total() > 0
            && self.lost.is_empty()
            && self.violations.is_empty()
            && self.anomalies.is_empty()
            && self.checks.1 == 0
    }
}

/// `/readyz` of every replica, sampled every 100 ms.
struct Readiness {
    samples: Arc<std::sync::Mutex<Vec<(Instant, usize, bool)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Readiness {
    fn start(replicas: Vec<String>) -> Self {
        let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(2_500))
            .build()
            .unwrap_or_default();
        for (i, base) in replicas.into_iter().enumerate() {
            let (samples, stop, client) = (samples.clone(), stop.clone(), client.clone());
            tokio::spawn(async move {
                let url = format!("{base}/readyz");
                while !stop.load(Ordering::Relaxed) {
                    let at = Instant::now();
                    let ready = client
                        .get(&url)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if let Ok(mut s) = samples.lock() {
                        s.push((at, i, ready));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
        Readiness { samples, stop }
    }

    fn finish(self) -> Vec<(Instant, usize, bool)> {
        self.stop.store(true, Ordering::Relaxed);
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// The active access-token key's id, from `/admin/keys`.
async fn active_kid(target: &Target) -> Option<String> {
    let url = format!("{}/admin/keys", target.front);
    match target
        .as_admin(|client, admin| client.get(&url).bearer_auth(admin))
        .await
    {
        target::Answer::Status(200, body) => body["keys"]
            .as_array()?
            .iter()
            .find(|k| k["status"] == "active" && k["alg"] != "RS256")
            .and_then(|k| k["kid"].as_str().map(str::to_owned)),
        _ => None,
    }
}

/// Injects `fault` and undoes it; returns a note on what it did.
async fn inject(fleet: &mut Fleet, target: &Target, fault: Fault, plan: &Plan) -> Result<String> {
    let t = plan.timing;
    Ok(match fault {
        Fault::None => {
            tokio::time::sleep(t.pause).await;
            String::new()
        }
        Fault::Kill => {
            let victim = 1 % fleet.len();
            fleet.kill9(victim)?;
            tokio::time::sleep(t.down).await;
            let binary = fleet.binary().to_owned();
            fleet.launch(victim, &binary)?;
            format!("replica {victim} killed for {:?}", t.down)
        }
        Fault::PostgresRestart => {
            fleet
                .postgres
                .shut_down()
                .map_err(|why| anyhow::anyhow!(why))?;
            tokio::time::sleep(t.down).await;
            fleet
                .postgres
                .launch()
                .map_err(|why| anyhow::anyhow!(why))?;
            format!("stopped for {:?}", t.down)
        }
        Fault::PostgresPause => {
            fleet.postgres.pause();
            tokio::time::sleep(t.pause).await;
            fleet.postgres.resume();
            format!("paused for {:?}", t.pause)
        }
        Fault::LinkSlow => {
            fleet.link.set(Link::Slow(Duration::from_millis(50)));
            tokio::time::sleep(t.pause).await;
            fleet.link.set(Link::Up);
            format!("replica 0's link +50 ms each way for {:?}", t.pause)
        }
        Fault::LinkCut => {
            if let Ok(mut cut) = target.cut_off.lock() {
                *cut = Some((0, Instant::now(), None));
            }
            fleet.link.set(Link::Cut);
            tokio::time::sleep(t.pause).await;
            fleet.link.set(Link::Up);
            if let Ok(mut cut) = target.cut_off.lock()
                && let Some((_, _, back)) = cut.as_mut()
            {
                *back = Some(Instant::now());
            }
            format!("replica 0's link cut for {:?}", t.pause)
        }
        Fault::KeyRotation => {
            let first = active_kid(target).await.context("no active key")?;
            let started = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if let Some(now) = active_kid(target).await
                    && now != first
                {
                    break format!(
                        "key {first} → {now} after {:.0} s",
                        started.elapsed().as_secs_f64()
                    );
                }
                if started.elapsed() > t.rotation_wait {
                    bail!("no key rotation within {:?}", t.rotation_wait);
                }
            }
        }
        Fault::RollingRestart => {
            let next = plan
                .next_tessera
                .clone()
                .unwrap_or_else(|| fleet.binary().to_owned());
            let mut stops = Vec::new();
            for i in 0..fleet.len() {
                stops.push(fleet.terminate(i).await?);
                fleet.launch(i, &next)?;
                fleet.wait_ready(i).await?;
                // nginx sends the replica requests again only once the
                // failure it saw has aged past `fail_timeout`. Stopping the
                // next one sooner could leave it none: "no live upstreams".
                tokio::time::sleep(2 * fleet::FAIL_TIMEOUT).await;
            }
            let slowest = stops.iter().max().copied().unwrap_or_default();
            format!(
                "{} replicas onto {} (slowest stop {:.2} s)",
                fleet.len(),
                next.display(),
                slowest.as_secs_f64()
            )
        }
    })
}

/// Runs one phase: load, the fault, recovery, more load, then the checks.
pub async fn phase(
    fleet: &mut Fleet,
    target: &Arc<Target>,
    workers: Vec<Worker>,
    fault: Fault,
    plan: &Plan,
) -> Result<(Phase, Vec<Worker>)> {
    let (requests_from, bounds_from, violations_from, anomalies_from, stale_from, failures_from) = {
        let r = &target.record;
        (
            r.requests.lock().map(|l| l.len()).unwrap_or(0),
            r.revocation_bounds.lock().map(|l| l.len()).unwrap_or(0),
            r.violations.lock().map(|l| l.len()).unwrap_or(0),
            r.anomalies.lock().map(|l| l.len()).unwrap_or(0),
            r.stale_while_cut_off.lock().map(|l| l.len()).unwrap_or(0),
            r.failures.lock().map(|l| l.len()).unwrap_or(0),
        )
    };
    target.stop.store(false, Ordering::Relaxed);
    let started = Instant::now();
    let handles: Vec<_> = workers
        .into_iter()
        .map(|w| tokio::spawn(load::run_worker(target.clone(), w)))
        .collect();
    let readiness = Readiness::start(fleet.replica_urls());
    tokio::time::sleep(plan.timing.before).await;

    let injected = Instant::now();
    let note = inject(fleet, target, fault, plan).await?;
    let healed = Instant::now();
    for i in 0..fleet.len() {
        fleet.wait_ready(i).await?;
    }
    tokio::time::sleep(plan.timing.after).await;

    target.stop.store(true, Ordering::Relaxed);
    let mut workers = Vec::new();
    for h in handles {
        workers.push(h.await?);
    }
    let ended = Instant::now();
    let samples = readiness.finish();
    target.wait_for_probes().await;

    let checked = checks::check(target, &mut workers, 0).await;

    let r = &target.record;
    let requests: Vec<record::Request> = record::snapshot(&r.requests)[requests_from..].to_vec();
    let mut out = Phase {
        fault: Some(fault),
        fault_time: healed - injected,
        requests: requests.len(),
        rate: requests.len() as f64 / (ended - started).as_secs_f64(),
        note,
        ..Phase::default()
    };
    for q in &requests {
        let end = q.sent + q.took;
        // Error rates are of requests through the balancer; a verify sent
        // straight to a replica that is down fails by construction.
        let failed = q.outcome == Outcome::Failed;
        if q.op == Op::VerifyLive && q.sent >= injected && q.sent < healed {
            out.verified_during.1 += 1;
            out.verified_during.0 += usize::from(q.outcome == Outcome::Expected);
        }
        if !q.op.writes() {
            continue;
        }
        if q.op.writes() && q.outcome == Outcome::Expected {
            *out.acknowledged.entry(q.op.name()).or_default() += 1;
        }
        if failed && q.took >= out.slowest_failure {
            out.slowest_failure = q.took;
            out.slowest_failure_op = Some(q.op);
        }
        if q.sent >= injected && q.sent < healed {
            out.failed_during.1 += 1;
            out.failed_during.0 += usize::from(failed);
        } else if q.sent >= healed {
            out.failed_after.1 += 1;
            out.failed_after.0 += usize::from(failed);
        }
        if failed && end > healed {
            out.recovery = out.recovery.max(end - healed);
        }
        if q.sent + TAIL >= ended {
            out.failed_tail.1 += 1;
            out.failed_tail.0 += usize::from(failed);
        }
    }
    out.not_ready_after = samples
        .iter()
        .filter(|(at, _, ready)| *at >= injected && !ready)
        .map(|(at, _, _)| *at - injected)
        .min();
    let mut again = Duration::ZERO;
    for i in 0..fleet.len() {
        let last_down = samples
            .iter()
            .filter(|(at, r, ready)| *r == i && !ready && *at >= injected)
            .map(|(at, _, _)| *at)
            .max();
        if let Some(down) = last_down {
            let up = samples
                .iter()
                .filter(|(at, r, ready)| *r == i && *ready && *at > down)
                .map(|(at, _, _)| *at)
                .min()
                .unwrap_or(ended);
            again = again.max(up.saturating_duration_since(healed));
        }
    }
    out.ready_again_after = out.not_ready_after.map(|_| again);
    let mut bounds = record::snapshot(&r.revocation_bounds)[bounds_from..].to_vec();
    bounds.sort();
    out.revocation_bounds = bounds;
    out.violations = record::snapshot(&r.violations)[violations_from..].to_vec();
    out.violations.extend(checked.violations);
    out.anomalies = record::snapshot(&r.anomalies)[anomalies_from..].to_vec();
    out.stale_while_cut_off = record::snapshot(&r.stale_while_cut_off)[stale_from..].to_vec();
    for reason in &record::snapshot(&r.failures)[failures_from..] {
        *out.failures.entry(reason.clone()).or_default() += 1;
    }
    out.lost = checked.lost;
    out.checks = (checked.requests, checked.unanswered);
    Ok((out, workers))
}

/// Starts the fleet of `plan` and runs its faults in order, handing each
/// phase's result to `report` as it ends.
pub async fn run(plan: &Plan, mut report: impl FnMut(&Phase)) -> Result<Vec<Phase>> {
    let mut env = Vec::new();
    if plan.faults.contains(&Fault::KeyRotation) {
        // A rotation about every minute: the maintenance tick is a minute.
        env.push(("TESSERA_KEY_ROTATION".to_owned(), "1m".to_owned()));
        env.push(("TESSERA_KEY_PREPUBLISH".to_owned(), "20s".to_owned()));
    }
    let mut fleet = Fleet::start(fleet::FleetConfig {
        tessera: plan.tessera.clone(),
        replicas: plan.replicas,
        env,
        durable: false,
    })
    .await?;
    let run_id = format!(
        "c{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() % 1_000_000_000)
            .unwrap_or(0)
    );
    let target = Arc::new(Target::new(fleet.front(), fleet.replica_urls(), run_id)?);
    if !target.admin_login().await {
        bail!("the administrator cannot sign in");
    }
    let mut workers: Vec<Worker> = (0..plan.workers).map(Worker::new).collect();
    let mut phases = Vec::new();
    for &fault in &plan.faults {
        let (result, next) = phase(&mut fleet, &target, workers, fault, plan).await?;
        workers = next;
        report(&result);
        phases.push(result);
    }
    Ok(phases)
}
