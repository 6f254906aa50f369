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
const CONSENT: &str = include_str!("../templates/consent.html");
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

/// Fills `template` in one pass: `{{name}}` gets the escaped value,
/// `{{{name}}}` the value as is (only for markup built here from escaped
/// parts). Values are never scanned again, so a placeholder inside a value
/// — a `state` of `{{username}}`, say — stays the text it was.
fn fill(template: &str, escaped: &[(&str, &str)], raw: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let (is_raw, open, close) = if after.starts_with("{{{") {
            (true, 3, "}}}")
        } else {
            (false, 2, "}}")
        };
        let Some(len) = after[open..].find(close) else {
            out.push_str(after);
            return out;
        };
        let name = &after[open..open + len];
        let value = if is_raw {
            raw.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        } else {
            escaped
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| escape(v))
        };
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&after[..open + len + close.len()]),
        }
        rest = &after[open + len + close.len()..];
    }
    out.push_str(rest);
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

/// What an application asks to do with Tessera itself, as a list (empty
/// markup when it asks nothing beyond signing in).
fn asks_list(asks: &[&str]) -> String {
    if asks.is_empty() {
        return String::new();
    }
    let items: String = asks
        .iter()
        .map(|a| format!("<li>{}</li>", escape(a)))
        .collect();
    format!("<p>It asks to:</p>\n<ul class=\"asks\">{items}</ul>")
}

/// The login form for application `app`, with `hidden` fields, the
/// username to fill in, an error to show and what the application asks
/// to do with Tessera itself.
pub fn login(
    status: StatusCode,
    app: &str,
    hidden: &str,
    username: &str,
    error: Option<&str>,
    asks: &[&str],
) -> Response {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let asks = asks_list(asks);
    let content = fill(
        LOGIN,
        &[("app", app), ("username", username)],
        &[("hidden", hidden), ("error", &error), ("asks", &asks)],
    );
    page(status, "Sign in", &content)
}

/// Asks a signed-in person whether application `app` may do what `asks`
/// names with their account.
pub fn consent(app: &str, username: &str, hidden: &str, asks: &[&str]) -> Response {
    let items: String = asks
        .iter()
        .map(|a| format!("<li>{}</li>", escape(a)))
        .collect();
    let asks = format!("<ul class=\"asks\">{items}</ul>");
    let content = fill(
        CONSENT,
        &[("app", app), ("username", username)],
        &[("hidden", hidden), ("asks", &asks)],
    );
    page(StatusCode::OK, "Allow access?", &content)
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
        assert_eq!(
            fill("{{a}} {{b}} {{{c}}", &[("a", "1")], &[]),
            "1 {{b}} {{{c}}"
        );
        let hidden = hidden_fields([("state", "\"><script>")]);
        assert!(hidden.contains("value=\"&quot;&gt;&lt;script&gt;\""));
    }

    #[test]
    fn placeholders_inside_values_are_not_expanded() {
        let out = fill(
            "<b>{{username}}</b>{{{hidden}}}|{{error}}",
            &[("username", "alice"), ("error", "{{{hidden}}}")],
            &[("hidden", "<i>{{username}}</i>")],
        );
        assert_eq!(out, "<b>alice</b><i>{{username}}</i>|{{{hidden}}}");
        let hidden = hidden_fields([("state", "x-{{username}}-y")]);
        let page = fill(
            LOGIN,
            &[("app", "A"), ("username", "alice")],
            &[("hidden", &hidden), ("error", ""), ("asks", "")],
        );
        assert!(page.contains("value=\"x-{{username}}-y\""), "{page}");
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
