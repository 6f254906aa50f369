//! Users, sessions and administration: `/me`, `/users/*`, `/sessions/*`,
//! registration switches, the bootstrap admin and the audit log (SPEC §2–4).
//!
//! This file holds what several of the submodules share.

// A failed unwrap in a test is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_changes;
mod audit_log;
mod passwords;
mod profile_updates;
mod registration;
mod sessions;
mod views;

use crate::helpers::*;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// A password that passes the policy for every username used here.
const NEW_PASSWORD: &str = "entirely-new-passphrase-77";

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn full_view_keys() -> BTreeSet<String> {
    set(&[
        "id",
        "username",
        "email",
        "email_verified",
        "first_name",
        "last_name",
        "phone",
        "roles",
        "disabled",
        "created_at",
        "updated_at",
    ])
}

fn basic_view_keys() -> BTreeSet<String> {
    set(&["username", "first_name", "last_name"])
}

/// Asserts that no password, hash or given secret appears anywhere in `body`.
fn assert_no_secrets(body: &Value, secrets: &[&str]) {
    let text = body.to_string();
    for needle in ["password", "hash", "argon2", PASSWORD, NEW_PASSWORD]
        .iter()
        .chain(secrets)
    {
        assert!(
            !text.to_lowercase().contains(&needle.to_lowercase()),
            "{needle:?} found in {text}"
        );
    }
}

/// Asserts that an access token is refused with 401 `invalid_token`.
async fn assert_access_refused(app: &TestApp, access: &str) {
    let r = app.get("/users", Some(access)).await;
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

/// Asserts that an access token is accepted.
async fn assert_access_accepted(app: &TestApp, access: &str) {
    assert_eq!(
        app.get("/users", Some(access)).await.status(),
        StatusCode::OK
    );
}

/// Asserts that a refresh token is refused with 401 `invalid_refresh_token`.
async fn assert_refresh_refused(app: &TestApp, refresh: &str) {
    let r = app.refresh(refresh).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

async fn login_status(app: &TestApp, username: &str, password: &str) -> Response {
    app.post(
        "/auth/login",
        None,
        json!({"username": username, "password": password}),
    )
    .await
}
