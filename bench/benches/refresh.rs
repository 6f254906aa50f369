//! The refresh path in process: `Sessions::refresh` on a SQLite file, what
//! `POST /auth/refresh` costs without HTTP. Each call rotates a real token
//! (the rotating UPDATE, the spent token and the audit entry in one
//! transaction, the user's row read with it) and signs a new ES256 access
//! token.
//!
//! - `one at a time`: each rotation commits alone, the latency of a refresh
//!   on an idle server;
//! - `64 in flight`: 64 sessions refresh at once, as under load, and the
//!   store commits concurrent rotations in groups; the time is per refresh.
//!
//! `cargo bench -p tessera-bench --bench refresh`

#![expect(clippy::expect_used, reason = "a benchmark may stop on broken set-up")]

use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_core::password::HashCost;
use tessera_core::secret::{ExposeSecret as _, SecretString};
use tessera_core::service::{NewAccount, Registration};
use tessera_core::settings::RateLimit;
use tessera_core::{ClientInfo, Settings, Tessera};
use tessera_token::clock::SystemClock;

/// How many sessions refresh at once in the loaded case.
const IN_FLIGHT: usize = 64;

/// A server's domain on a fresh SQLite file with `users` signed-in users;
/// their refresh tokens.
async fn signed_in(dir: &std::path::Path, users: usize) -> (Arc<Tessera>, Vec<String>) {
    let url = format!("sqlite://{}", dir.join("tessera.db").display());
    let store = tessera_core::store::connect(&url).await.expect("store");
    let mut settings = Settings::new("http://127.0.0.1:8080");
    // Registration is only the set-up: a cheap hash, no rate limit.
    settings.hash_cost = HashCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    settings.registration_rate = RateLimit {
        count: u32::MAX,
        per: Duration::from_secs(1),
    };
    let tessera = Arc::new(
        Tessera::start(store, settings, Arc::new(SystemClock))
            .await
            .expect("domain"),
    );
    let mut tokens = Vec::new();
    for i in 0..users {
        let account = NewAccount {
            username: format!("bench-user-{i:04}"),
            password: SecretString::from("a long passphrase for benches"),
            ..NewAccount::default()
        };
        let Registration::SignedIn(issued) = tessera
            .accounts()
            .register(account, &ClientInfo::default())
            .await
            .expect("register")
        else {
            panic!("registration did not sign in");
        };
        tokens.push(issued.refresh_token.expose_secret().to_owned());
    }
    (tessera, tokens)
}

/// Refreshes `token`, answering its successor.
async fn refresh(tessera: &Tessera, token: &str) -> String {
    let issued = tessera
        .sessions()
        .refresh(token, &ClientInfo::default())
        .await
        .expect("refresh");
    issued.refresh_token.expose_secret().to_owned()
}

fn refresh_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let (tessera, tokens) = runtime.block_on(signed_in(dir.path(), IN_FLIGHT + 1));
    let mut group = c.benchmark_group("refresh (SQLite, ES256)");

    let mut token = tokens[0].clone();
    group.bench_function("one at a time", |b| {
        b.iter(|| token = runtime.block_on(refresh(&tessera, &token)));
    });

    let mut tokens: Vec<String> = tokens.into_iter().skip(1).collect();
    group.bench_function(format!("{IN_FLIGHT} in flight, per refresh"), |b| {
        b.iter_custom(|rounds| {
            let started = Instant::now();
            let mut done = 0u64;
            while done < rounds {
                // Spawned inside the runtime, so that they run at once.
                let batch = std::mem::take(&mut tokens);
                let tessera = tessera.clone();
                tokens = runtime
                    .block_on(async move {
                        let tasks = batch.into_iter().map(|t| {
                            let tessera = tessera.clone();
                            tokio::spawn(async move { refresh(&tessera, &t).await })
                        });
                        futures::future::join_all(tasks).await
                    })
                    .into_iter()
                    .map(|t| t.expect("task"))
                    .collect();
                done += tokens.len() as u64;
            }
            started.elapsed().mul_f64(rounds as f64 / done as f64)
        });
    });
    group.finish();
}

criterion_group!(benches, refresh_path);
criterion_main!(benches);
