//! End-to-end tests: the real server on port 0, spoken to over HTTP.

// A failed expectation is how a test reports; panicking is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod mailbox;

mod at_rest;
mod auth;
mod cached;
mod contract;
mod conventions;
mod email;
mod events;
mod factors;
mod hostile;
mod keys;
mod metrics;
mod mfa_policy;
mod oauth;
mod outage;
mod pages;
mod passkeys;
mod postgres;
mod refresh;
mod rejections;
mod sso;
mod throttle;
mod tokens;
mod users;
