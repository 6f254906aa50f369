//! Tessera's HTTP API: the axum application over the domain in `tessera-core`.
//!
//! # Layout
//!
//! - [`app`]: the route table and its layers.
//! - [`routes`]: handlers, one module per resource.
//! - [`extract`]: [`extract::ValidJson`], [`extract::AuthUser`], [`extract::Client`].
//! - [`error`]: [`error::ApiError`], the one error type, and the error body.
//! - [`schemas`]: the request-body JSON Schemas and their validation.
//! - [`views`]: response bodies.
//! - [`pages`]: the hosted login and sign-out pages (HTML templates in the binary).
//! - [`openapi`]: the generated OpenAPI document.
//! - [`metrics`]: Prometheus metrics: counters and histograms; [`gauges`]:
//!   what is read at scrape time (process, pools, sessions, keys).
//! - [`mail`]: sending mail: the relay, the letters, the queue.
//! - [`observe`]: the layer that times out and records every routed request.
//! - [`config`]: configuration from the environment.
//! - [`serve`]: start-up, serving, upkeep and shutdown.
//! - [`listener`]: accepting connections with timeouts and a cap.
//! - [`state`]: what handlers share.
//! - [`subscribers`]: the `/events` subscription slots and waiting room.

pub mod app;
pub mod browser;
#[cfg(test)]
mod captured_log;
pub mod config;
pub mod error;
pub mod extract;
pub mod gauges;
pub mod listener;
pub mod mail;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod pages;
pub mod routes;
pub mod schemas;
pub mod serve;
pub mod state;
pub mod subscribers;
pub mod views;

pub use config::Config;
pub use serve::{launch, launch_with_clock, shutdown_signal};
