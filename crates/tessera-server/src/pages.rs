//! The hosted pages (login, consent, sign-out, messages): askama templates
//! (`templates/`) compiled into the binary, escaped automatically and filled
//! in one pass, served with headers that forbid framing, caching and scripts
//! (the API reference at `/docs` is served with the same headers).

use askama::Template;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// No scripts, no framing, styles only from ourselves.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Hidden form fields that carry a request through a page.
#[derive(Debug, Clone, Default)]
pub struct Hidden(Vec<(String, String)>);

impl Hidden {
    /// Adds a field.
    pub fn push(&mut self, name: &str, value: &str) {
        self.0.push((name.to_owned(), value.to_owned()));
    }

    /// The fields, in order.
    fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
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

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    app: &'a str,
    username: &'a str,
    error: Option<&'a str>,
    asks: &'a [&'a str],
    hidden: &'a Hidden,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    app: &'a str,
    username: &'a str,
    asks: &'a [&'a str],
    hidden: &'a Hidden,
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    username: &'a str,
    hidden: &'a Hidden,
    notice: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    heading: &'a str,
    message: &'a str,
}

/// `template` as a complete page with `status` and the pages' headers.
fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => html_response(status, html),
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
    let mut response = (status, html.into()).into_response();
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
/// username to fill in, an error to show and what the application asks
/// to do with Tessera itself.
pub fn login(
    status: StatusCode,
    app: &str,
    hidden: &Hidden,
    username: &str,
    error: Option<&str>,
    asks: &[&str],
) -> Response {
    page(
        status,
        &LoginPage {
            app,
            username,
            error,
            asks,
            hidden,
        },
    )
}

/// Asks a signed-in person whether application `app` may do what `asks`
/// names with their account.
pub fn consent(app: &str, username: &str, hidden: &Hidden, asks: &[&str]) -> Response {
    page(
        StatusCode::OK,
        &ConsentPage {
            app,
            username,
            asks,
            hidden,
        },
    )
}

/// The sign-out confirmation for `username`, with a `notice` when the
/// application's page cannot follow.
pub fn logout_confirmation(username: &str, hidden: &Hidden, notice: Option<&str>) -> Response {
    page(
        StatusCode::OK,
        &LogoutPage {
            username,
            hidden,
            notice,
        },
    )
}

/// A page saying one thing.
pub fn message(status: StatusCode, heading: &str, message: &str) -> Response {
    page(status, &MessagePage { heading, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &impl Template) -> String {
        template.render().unwrap()
    }

    #[test]
    fn values_are_escaped_in_text_and_attributes() {
        let hidden: Hidden = [("state", "\"><script>x</script>")].into_iter().collect();
        let html = render(&LoginPage {
            app: "<img src=x onerror=alert(1)>",
            username: "'><b>",
            error: Some("<i>bad</i>"),
            asks: &["<u>do things</u>"],
            hidden: &hidden,
        });
        assert!(!html.contains("<script>x"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(!html.contains("<i>bad"), "{html}");
        assert!(!html.contains("<u>do"), "{html}");
        assert!(!html.contains("'><b>"), "{html}");
        assert!(
            html.contains("&#60;img src=x onerror=alert(1)&#62;"),
            "{html}"
        );
    }

    #[test]
    fn placeholders_inside_values_are_not_expanded() {
        let hidden: Hidden = [("state", "x-{{username}}-y {% if true %}")]
            .into_iter()
            .collect();
        let html = render(&LoginPage {
            app: "A",
            username: "alice",
            error: None,
            asks: &[],
            hidden: &hidden,
        });
        assert!(
            html.contains("value=\"x-{{username}}-y {% if true %}\""),
            "{html}"
        );
    }

    #[test]
    fn the_login_page_has_labelled_fields_and_no_script() {
        let html = render(&LoginPage {
            app: "A",
            username: "",
            error: None,
            asks: &[],
            hidden: &Hidden::default(),
        });
        assert!(html.contains("<label for=\"username\">"));
        assert!(html.contains("<label for=\"password\">"));
        assert!(html.contains("autocomplete=\"current-password\""));
        assert!(!html.contains("<script"));
        assert!(html.contains("name=\"viewport\""));
        assert!(!html.contains("It asks to"), "no asks, no list");
    }
}
