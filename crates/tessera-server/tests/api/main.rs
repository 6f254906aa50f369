//! End-to-end tests: the real server on port 0, spoken to over HTTP.

mod helpers;

mod auth;
mod conventions;
mod keys;
mod refresh;
mod throttle;
mod tokens;
mod users;
