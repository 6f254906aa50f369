//! tessera-verify against a real Tessera, started in-process for each test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod events;
mod harness;
mod keys;
mod layer;
mod tokens;
