//! The hosted pages (login, sign-out, messages): HTML templates compiled
//! into the binary, filled with escaped values, served with headers that
//! forbid framing, caching and scripts.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("../templates/page.html");
const LOGIN: &str = include_str!("../templates/login.html");
const LOGOUT: &str = include_str!("../templates/logout.html");
const MESSAGE: &str = include_str!("../templates/message.html");
/// The pages' stylesheet, served at `/assets/tessera.css`.
pub const STYLESHEET: &str = include_str!("../templates/tessera.css");

/// No scripts, no framing, styles only from ourselves.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Fills `template`: `{{name}}` gets the escaped value, `{{{name}}}` the
/// value as is (only for markup built here from escaped parts).
fn fill(template: &str, escaped: &[(&str, &str)], raw: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in raw {
        out = out.replace(&format!("{{{{{{{name}}}}}}}"), value);
    }
    for (name, value) in escaped {
        out = out.replace(&format!("{{{{{name}}}}}"), &escape(value));
    }
    out
}

/// Hidden form fields, escaped.
pub fn hidden_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    fields
        .into_iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape(name),
                escape(value)
            )
        })
        .collect()
}

/// A complete page with `status`.
fn page(status: StatusCode, title: &str, content: &str) -> Response {
    let html = fill(PAGE, &[("title", title)], &[("content", content)]);
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// The login form for application `app`, with `hidden` fields, the
/// username to fill in and an error to show.
pub fn login(
    status: StatusCode,
    app: &str,
    hidden: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let content = fill(
        LOGIN,
        &[("app", app), ("username", username)],
        &[("hidden", hidden), ("error", &error)],
    );
    page(status, "Sign in", &content)
}

/// The sign-out confirmation for `username`.
pub fn logout_confirmation(username: &str, hidden: &str) -> Response {
    let content = fill(LOGOUT, &[("username", username)], &[("hidden", hidden)]);
    page(StatusCode::OK, "Sign out", &content)
}

/// A page saying one thing.
pub fn message(status: StatusCode, heading: &str, message: &str) -> Response {
    let content = fill(MESSAGE, &[("heading", heading), ("message", message)], &[]);
    page(status, heading, &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_placeholders_filled() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
        let out = fill("{{a}}|{{{b}}}", &[("a", "<i>")], &[("b", "<i>")]);
        assert_eq!(out, "&lt;i&gt;|<i>");
        let hidden = hidden_fields([("state", "\"><script>")]);
        assert!(hidden.contains("value=\"&quot;&gt;&lt;script&gt;\""));
    }

    #[test]
    fn the_login_page_has_labelled_fields_and_no_script() {
        let body = LOGIN.to_owned() + PAGE;
        assert!(body.contains("<label for=\"username\">"));
        assert!(body.contains("<label for=\"password\">"));
        assert!(body.contains("autocomplete=\"current-password\""));
        assert!(!body.contains("<script"));
        assert!(PAGE.contains("name=\"viewport\""));
    }
}
