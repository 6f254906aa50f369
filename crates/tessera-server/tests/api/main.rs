//! End-to-end tests: the real server on port 0, spoken to over HTTP.

mod helpers;

mod at_rest;
mod auth;
mod conventions;
mod keys;
mod postgres;
mod refresh;
mod throttle;
mod tokens;
mod users;
