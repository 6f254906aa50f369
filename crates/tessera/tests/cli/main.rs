//! Tests of the `tessera` binary itself (SPEC §1 and §7): every command runs
//! as a child process in a temporary working directory on a SQLite file
//! there, and `tessera serve` listens on an ephemeral port that its log names.
//! Every child is killed when its test ends (guards with `Drop`), and every
//! wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod backup;
mod clients;
mod keys;
mod serve;
mod tokens;
mod users;
