//! Tessera's own pages (SPEC §10): signing in to them at `/login`, sign-up
//! at `/register`, and a person's `/account` pages. A "browser" here keeps
//! cookies and never follows a redirect.

mod account;
mod console;
mod second_factor;
mod sign_in;

use crate::helpers::*;
use reqwest::{Response, StatusCode};

/// Form fields.
type Fields<'a> = &'a [(&'a str, &'a str)];

/// The raw `Location` of a redirect (the pages use paths).
fn goes_to(r: &Response) -> String {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "a redirect");
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// A page's HTML, after checking it is a page with the pages' headers.
async fn page(r: Response, status: StatusCode) -> String {
    assert_eq!(r.status(), status);
    let headers = r.headers();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-frame-options"], "DENY");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    r.text().await.unwrap()
}

/// The value of the first hidden field `name` of `html`.
fn field(html: &str, name: &str) -> String {
    hidden_fields(html)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no hidden {name} in {html}"))
}

/// Signs `username` in through `/login` (asking for `back`); the answer.
async fn sign_in_to(browser: &mut Browser<'_>, username: &str, back: &str) -> Response {
    let login = browser
        .get(&format!("/login?{}", form(&[("return_to", back)])))
        .await;
    let html = page(login, StatusCode::OK).await;
    let mut fields = hidden_fields(&html);
    fields.push(("username".into(), username.into()));
    fields.push(("password".into(), PASSWORD.into()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post_form("/login", &fields).await
}

/// Signs `username` in; the account page's HTML.
async fn signed_in(browser: &mut Browser<'_>, username: &str) -> String {
    let r = sign_in_to(browser, username, "/account").await;
    assert_eq!(goes_to(&r), "/account");
    page(browser.get("/account").await, StatusCode::OK).await
}

/// Posts a signed-in form on `path` with the CSRF token of `html`.
async fn post_with(
    browser: &mut Browser<'_>,
    html: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> Response {
    let csrf = field(html, "csrf_token");
    let mut all = vec![("csrf_token", csrf.as_str())];
    all.extend_from_slice(fields);
    browser.post_form(path, &all).await
}
