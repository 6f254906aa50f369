//! The pages people see: askama templates (`templates/`) compiled into the
//! binary, escaped automatically and filled in one pass, served with headers
//! that forbid framing, caching and scripts (the API reference at `/docs` is
//! served with the same headers). `sign_in.rs` holds the sign-in pages,
//! `account.rs` a person's own pages, `email.rs` the pages mailed links
//! open; every page carries the deployment's
//! name and logo ([`Site`]).

pub mod account;
pub mod console;
pub mod email;
pub mod security;
pub mod sign_in;
pub mod words;

pub use sign_in::{
    CodeForm, EnrolForm, LoginForm, RegisterForm, consent, enrol, first_codes, login,
    logout_confirmation, message, register, second_factor,
};

use askama::Template;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// No scripts, no framing, styles only from ourselves.
///
/// No `form-action`: the sign-in forms' answers redirect to the
/// applications, which browsers would count against it.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";
/// The same, with scripts from Tessera itself talking to Tessera only.
const CSP_WITH_SCRIPT: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
                   style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What every page shows of the deployment, and how the pages behave.
#[derive(Debug, Clone)]
pub struct Site {
    /// The deployment's name (`TESSERA_DISPLAY_NAME`).
    pub name: String,
    /// Its logo (`TESSERA_LOGO`), served at `/assets/logo`.
    pub logo: Option<Logo>,
    /// How recent a sign-in console changes need (`TESSERA_CONSOLE_REAUTH`).
    pub console_reauth: Duration,
}

impl Default for Site {
    fn default() -> Self {
        Site {
            name: "Tessera".to_owned(),
            logo: None,
            console_reauth: Duration::from_secs(15 * 60),
        }
    }
}

impl Site {
    /// Whether there is a logo to show.
    pub fn has_logo(&self) -> bool {
        self.logo.is_some()
    }
}

/// An image file read at start-up.
#[derive(Clone, PartialEq, Eq)]
pub struct Logo {
    /// Its bytes.
    pub bytes: axum::body::Bytes,
    /// Its media type, from the file's extension.
    pub content_type: &'static str,
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Logo({}, {} bytes)", self.content_type, self.bytes.len())
    }
}

/// What is wrong with which field of a form, to show next to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    /// Adds `message` for `field`.
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push((field.to_owned(), message.into()));
    }

    /// The message for `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// Whether `field` has one.
    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every message, in order.
    pub fn messages(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(f, m)| (f.as_str(), m.as_str()))
    }
}

/// Hidden form fields that carry a request through a page.
#[derive(Debug, Clone, Default)]
pub struct Hidden(Vec<(String, String)>);

impl Hidden {
    /// Adds a field.
    pub fn push(&mut self, name: &str, value: &str) {
        self.0.push((name.to_owned(), value.to_owned()));
    }

    /// The fields, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Hidden {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(fields: I) -> Self {
        Hidden(
            fields
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
        )
    }
}

/// `template` as a complete page with `status` and the pages' headers.
pub(crate) fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => html_response(status, html),
        Err(e) => failed_to_render(&e),
    }
}

/// `template` as a page that runs Tessera's own scripts (the passkey
/// buttons): [`html_response_with_script`]'s headers.
pub(crate) fn page_with_script(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => html_response_with_script(status, html),
        Err(e) => failed_to_render(&e),
    }
}

/// The answer when a page could not be rendered (a bug of ours).
pub fn failed_to_render(e: &askama::Error) -> Response {
    tracing::error!(cause = %e, "a page failed to render");
    html_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong.".to_owned(),
    )
}

/// `html` with `status` and the pages' headers: no scripts, no framing, no
/// caching, styles only from Tessera.
pub fn html_response(status: StatusCode, html: impl Into<axum::body::Body>) -> Response {
    with_headers(status, html, CSP)
}

/// Like [`html_response`], for the pages that run a script: Tessera's own
/// (`script-src 'self'`, never inline), talking only to Tessera.
pub fn html_response_with_script(
    status: StatusCode,
    html: impl Into<axum::body::Body>,
) -> Response {
    with_headers(status, html, CSP_WITH_SCRIPT)
}

fn with_headers(
    status: StatusCode,
    html: impl Into<axum::body::Body>,
    csp: &'static str,
) -> Response {
    let mut response = (status, html.into()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("content-security-policy", HeaderValue::from_static(csp));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}
