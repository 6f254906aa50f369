//! Single sign-on in the browser (SPEC §8, issue 4): `GET /authorize` and
//! its checks, the hosted login page (CSRF, escaping, security headers), the
//! session cookie that makes the second application skip the password, and
//! RP-initiated logout. A "browser" here keeps cookies and never follows a
//! redirect, so every `Location` is looked at.

mod consent;
mod login;
mod logout;

use crate::helpers::*;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// An app with admin `root`, user `alice` and a public code-flow client.
async fn sso_setup() -> (TestApp, Session, OAuthApp) {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    app.register("alice").await;
    let client = app
        .create_client(&root.access, public_code_client("Photo App"))
        .await;
    (app, root, client)
}

/// `/authorize?…` for `request` without the parameters named in `without`
/// and with `extra` added.
fn authorize_path(request: &CodeRequest, without: &[&str], extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = request
        .params(&[])
        .into_iter()
        .filter(|(k, _)| !without.contains(k))
        .collect();
    params.extend_from_slice(extra);
    format!("/authorize?{}", form(&params))
}

/// A faulty request: the parameters left out, those added, the error expected.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

/// Asserts a hosted HTML page with `status` that redirects nowhere; its text.
async fn assert_page(r: Response, status: StatusCode) -> String {
    assert_eq!(r.status(), status);
    assert!(
        r.headers().get("location").is_none(),
        "a page, never a redirect"
    );
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    r.text().await.unwrap()
}

/// The `Set-Cookie` header that sets cookie `name`, if any.
fn set_cookie(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// The attributes of a `Set-Cookie` value, lower-cased and trimmed.
fn attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

/// The error a redirect back to the client carries, after checking it goes
/// to the registered URI with the `state` and `iss` and without a code.
fn redirected_error(app: &TestApp, r: &Response, request: &CodeRequest) -> String {
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let url = location(r);
    assert!(url.as_str().starts_with(REDIRECT_URI), "{url}");
    let params = query_map(&url);
    assert_eq!(params.get("state"), Some(&request.state), "{url}");
    assert_eq!(params.get("iss"), Some(&app.base), "{url}");
    assert!(!params.contains_key("code"), "{url}");
    assert!(params.contains_key("error_description"), "{url}");
    params.get("error").expect("error").clone()
}

/// `token` with its last character changed.
fn tampered(token: &str) -> String {
    let last = if token.ends_with('A') { 'B' } else { 'A' };
    format!("{}{last}", &token[..token.len() - 1])
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn claims_of(token: &str) -> Value {
    jwt_parts(token).1
}

/// Whether `access` is accepted (200) or refused (401), by `/auth/verify`:
/// it takes every valid token, whoever it was issued to.
async fn token_status(app: &TestApp, access: &str) -> StatusCode {
    app.get("/auth/verify", Some(access)).await.status()
}

/// Whether `browser` is signed in: `/authorize` answers with a code
/// straight away rather than the login page.
async fn is_signed_in(browser: &mut Browser<'_>, client: &OAuthApp) -> bool {
    let request = CodeRequest::new(client);
    let r = browser.get(&request.path(&[])).await;
    match r.status() {
        StatusCode::SEE_OTHER => {
            code_from(browser.app(), &r, &request);
            true
        }
        StatusCode::OK => {
            assert!(r.text().await.unwrap().contains("name=\"password\""));
            false
        }
        other => panic!("unexpected {other}"),
    }
}
