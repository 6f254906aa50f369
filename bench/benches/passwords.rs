//! Argon2id at Tessera's configured cost (`HashCost::OWASP`: m = 19 MiB,
//! t = 2, p = 1) through `tessera_core::password::PasswordHasher` — the
//! path every registration and login takes, hashing pool included — and the
//! common-password check of the password policy.
//!
//! `cargo bench -p tessera-bench --bench passwords`

#![expect(clippy::expect_used, reason = "a benchmark may stop on broken set-up")]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tessera_core::password::{HashCost, PasswordHasher, PasswordPolicy, is_common_password};

const PASSWORD: &str = "a long passphrase for load tests";

fn passwords(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let hasher = PasswordHasher::new(HashCost::OWASP, 1).expect("hasher");
    let hash = runtime
        .block_on(hasher.hash(PASSWORD.into()))
        .expect("hash");
    let mut group = c.benchmark_group("argon2id m=19456 t=2 p=1");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("hash", |b| {
        b.iter(|| runtime.block_on(hasher.hash(black_box(PASSWORD).into())))
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            let verified = runtime
                .block_on(hasher.verify(black_box(PASSWORD).into(), Some(hash.clone())))
                .expect("verify");
            assert!(verified.ok);
        })
    });
    group.finish();
    let policy = PasswordPolicy { min_chars: 12 };
    // The first call builds the list; measure the lookups after it.
    assert!(is_common_password("password"));
    c.bench_function("password policy (common-password list lookup)", |b| {
        b.iter(|| policy.check(black_box("alice"), black_box(PASSWORD)))
    });
}

criterion_group!(benches, passwords);
criterion_main!(benches);
