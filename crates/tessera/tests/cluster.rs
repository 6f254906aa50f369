//! Several replicas under faults, the short form (docs/operations.md):
//! three replicas of this build on a PostgreSQL server of the test's own,
//! behind nginx, under the mixed load of `bench/cluster.sh` (registrations,
//! logins, refreshes and two at once of one token, logouts, role and
//! password changes, deletions, and `/auth/verify` on every replica), with
//! every acknowledged write recorded. One `kill -9` of a replica, one
//! PostgreSQL restart and one 4 s pause; after each, every acknowledged
//! write must be there, every revoked token refused by every replica, no
//! refresh token honoured twice, and the errors gone.
//!
//! It needs root (PostgreSQL runs as the `postgres` user), PostgreSQL's
//! server binaries and nginx; without them it is skipped, except under
//! `CI=true`, where that is a failure (`.ci/run` installs nginx).

use std::path::PathBuf;
use std::time::Duration;
use tessera_bench::cluster::{Fault, Plan, Timing, run};

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Why the run cannot happen here, if it cannot.
fn missing() -> Option<String> {
    let nginx = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .any(|p| std::path::Path::new(p).is_file());
    let postgres = std::fs::read_dir("/usr/lib/postgresql").is_ok();
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    match (nginx, postgres, root) {
        (false, _, _) => Some("no nginx (apt-get install nginx)".into()),
        (_, false, _) => Some("no PostgreSQL server binaries".into()),
        (_, _, false) => Some("not root".into()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_lose_nothing_acknowledged_through_a_kill_a_database_restart_and_a_pause() {
    if let Some(why) = missing() {
        assert!(!ci(), "CI=true requires the cluster run: {why}");
        eprintln!("SKIPPED cluster: {why}");
        return;
    }
    let plan = Plan {
        tessera: PathBuf::from(env!("CARGO_BIN_EXE_tessera")),
        next_tessera: None,
        replicas: 3,
        workers: 8,
        faults: vec![Fault::Kill, Fault::PostgresRestart, Fault::PostgresPause],
        timing: Timing::SHORT,
    };
    let phases = run(&plan, |phase| {
        eprintln!("{}\n    {}", phase.row(), phase.details().join("\n    "));
    })
    .await
    .expect("the cluster run");
    assert_eq!(phases.len(), 3);
    for phase in &phases {
        let name = phase.fault.map_or("?", Fault::name);
        let report = format!("{name}: {}\n{}", phase.row(), phase.details().join("\n"));
        assert!(phase.clean(), "{report}");
        // Some of every kind of write was acknowledged, and checked.
        for kind in ["register", "login", "refresh", "logout", "role change"] {
            assert!(
                phase.acknowledged.get(kind).is_some_and(|n| *n > 0),
                "no {kind}: {report}"
            );
        }
        assert!(!phase.revocation_bounds.is_empty(), "{report}");
        // Failing requests fail fast (a connection in 3 s at most), and
        // the errors are over once everything is ready again.
        assert!(phase.slowest_failure < Duration::from_secs(6), "{report}");
        assert_eq!(phase.failed_tail.0, 0, "{report}");
        assert!(phase.failed_after.1 > 0, "{report}");
    }
    for phase in &phases[1..] {
        let name = phase.fault.map_or("?", Fault::name);
        let report = format!("{name}: {}", phase.row());
        // The database was out of reach: /readyz said so within its 2 s
        // limit (and a sample's 100 ms), and was 200 again within seconds.
        let not_ready = phase.not_ready_after.expect(&report);
        assert!(not_ready < Duration::from_millis(2_500), "{report}");
        assert!(
            phase.ready_again_after.expect(&report) < Duration::from_secs(5),
            "{report}"
        );
        // Verification answered from memory meanwhile: every live token
        // checked during the outage was accepted.
        assert_eq!(phase.verified_during.0, phase.verified_during.1, "{report}");
    }
}
