//! Handlers, one module per resource; `app.rs` holds the route table.

pub mod account;
pub mod assets;
pub mod auth;
pub mod clients;
pub mod console;
pub mod email;
pub mod email_pages;
pub mod events;
pub mod factors;
pub mod keys;
pub mod oauth;
pub mod ops;
pub mod security;
pub mod sessions;
pub mod sign_in;
pub mod sso;
pub mod users;

use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::response::{IntoResponse, Response};

/// Marks an answer carrying tokens as never to be cached (RFC 6749 §5.1).
pub fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Deserialises a present JSON field, keeping `null` as `Some(None)`, so a
/// PATCH can tell "clear this" from "leave it".
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}
