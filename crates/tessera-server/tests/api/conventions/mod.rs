//! The conventions of SPEC §2 and the operational endpoints, one room
//! each: what bodies and paths are refused and how (`input.rs`), the
//! headers every answer carries (`headers.rs`), and forward-auth, health,
//! metrics, OpenAPI and the published schemas (`service.rs`).

mod headers;
mod input;
mod service;

use crate::helpers::*;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, Response};
use serde_json::Value;

/// Sends a raw body with an optional `Content-Type`.
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut req = app.client.request(method, app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request")
}

fn detail_paths(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|e| e["path"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn header<'r>(r: &'r Response, name: &str) -> Option<&'r str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}
