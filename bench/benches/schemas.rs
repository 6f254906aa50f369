//! JSON Schema validation of request bodies as the server does it
//! (`tessera_server::schemas::Schemas::validate`, after `serde_json` has
//! parsed the body): a valid register body, an invalid one (which also
//! collects the field errors), and a login body.
//!
//! `cargo bench -p tessera-bench --bench schemas`

#![expect(clippy::expect_used, reason = "a benchmark may stop on broken set-up")]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tessera_server::schemas::Schemas;

fn schemas(c: &mut Criterion) {
    let schemas = Schemas::new("http://127.0.0.1:8080", 12).expect("schemas");
    let register = br#"{"username":"alice_01","password":"correct horse battery staple",
        "email":"alice@example.com","first_name":"Alice","last_name":"Liddell","phone":"+44 20 7946 0000"}"#;
    let invalid = br#"{"username":"a","password":"short","extra":1}"#;
    let login = br#"{"username":"alice_01","password":"correct horse battery staple"}"#;
    let mut group = c.benchmark_group("schemas");
    group.bench_function("register (parse + validate, valid)", |b| {
        b.iter(|| {
            let value: serde_json::Value =
                serde_json::from_slice(black_box(register)).expect("JSON");
            schemas.validate("register", &value).expect("valid");
        })
    });
    group.bench_function("register (parse + validate, invalid)", |b| {
        b.iter(|| {
            let value: serde_json::Value =
                serde_json::from_slice(black_box(invalid)).expect("JSON");
            assert!(schemas.validate("register", &value).is_err());
        })
    });
    group.bench_function("login (parse + validate)", |b| {
        b.iter(|| {
            let value: serde_json::Value = serde_json::from_slice(black_box(login)).expect("JSON");
            schemas.validate("login", &value).expect("valid");
        })
    });
    group.finish();
}

criterion_group!(benches, schemas);
criterion_main!(benches);
