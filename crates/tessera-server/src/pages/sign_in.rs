//! The sign-in pages: login (for an application or on its own), sign-up,
//! consent, sign-out and messages.

use super::{FieldErrors, Hidden, Site, page, page_with_script};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

/// What a login form shows and where it posts.
#[derive(Debug, Clone, Copy)]
pub struct LoginForm<'a> {
    /// The application being signed in to; `None` on Tessera's own login
    /// page.
    pub app: Option<&'a str>,
    /// Where the form posts: `/authorize` or `/login`.
    pub action: &'a str,
    /// The fields that carry the request through the page.
    pub hidden: &'a Hidden,
    /// The username to fill in.
    pub username: &'a str,
    /// What went wrong, to show above the form.
    pub error: Option<&'a str>,
    /// What the application asks to do with Tessera itself.
    pub asks: &'a [&'a str],
    /// Where "Create an account" leads, when sign-up is open.
    pub register: Option<&'a str>,
    /// Whether to offer "Sign in with a passkey".
    pub passkeys: bool,
    /// Whether to offer "Forgot your password?" (the server sends mail).
    pub forgot: bool,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    site: &'a Site,
    form: &'a LoginForm<'a>,
    app: &'a str,
    hidden: &'a Hidden,
    asks: &'a [&'a str],
}

/// What the second step of a sign-in shows: the form for a code from the
/// authenticator app or a recovery code.
#[derive(Debug, Clone, Copy)]
pub struct CodeForm<'a> {
    /// The application being signed in to; `None` on Tessera's own login
    /// page.
    pub app: Option<&'a str>,
    /// Where the form posts: `/authorize` or `/login`.
    pub action: &'a str,
    /// The fields that carry the request, the CSRF token and the `mfa_token`.
    pub hidden: &'a Hidden,
    /// What went wrong, to show above the form.
    pub error: Option<&'a str>,
    /// Where "Start over" leads (the login form again).
    pub restart: &'a str,
    /// Whether the person has a passkey to offer instead of a code.
    pub passkey: bool,
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct CodePage<'a> {
    site: &'a Site,
    form: &'a CodeForm<'a>,
    app: &'a str,
    hidden: &'a Hidden,
}

/// Setting up the second factor the policy demands, in the middle of a
/// sign-in: the QR code and key, and the form for the app's first code.
#[derive(Debug, Clone, Copy)]
pub struct EnrolForm<'a> {
    /// The application being signed in to; `None` on Tessera's own pages.
    pub app: Option<&'a str>,
    /// Where the form posts: `/authorize` or `/login`.
    pub action: &'a str,
    /// The fields that carry the request, the CSRF token, the
    /// `enrollment_token` and the factor being set up.
    pub hidden: &'a Hidden,
    /// The QR code, an SVG rendered here.
    pub qr_svg: &'a str,
    /// The key, unpadded base32.
    pub secret: &'a str,
    /// What went wrong with the code, if anything.
    pub error: Option<&'a str>,
    /// Where "Start over" leads.
    pub restart: &'a str,
}

impl EnrolForm<'_> {
    /// The key in groups of four, as people type it.
    pub fn grouped_secret(&self) -> String {
        super::security::grouped(self.secret)
    }
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage<'a> {
    site: &'a Site,
    form: &'a EnrolForm<'a>,
    app: &'a str,
    hidden: &'a Hidden,
}

#[derive(Template)]
#[template(path = "first_codes.html")]
struct FirstCodesPage<'a> {
    site: &'a Site,
    codes: &'a [&'a str],
    next: &'a str,
}

/// What the sign-up form shows.
#[derive(Debug, Clone, Copy)]
pub struct RegisterForm<'a> {
    /// The fields that carry the request through the page.
    pub hidden: &'a Hidden,
    /// What was typed, to fill in again.
    pub username: &'a str,
    /// What was typed, to fill in again.
    pub email: &'a str,
    /// What is wrong with which field.
    pub errors: &'a FieldErrors,
    /// The shortest password allowed.
    pub password_min: usize,
    /// Where "Sign in instead" leads.
    pub login: &'a str,
    /// Whether an address is required (`TESSERA_REQUIRE_VERIFIED_EMAIL`).
    pub email_required: bool,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage<'a> {
    site: &'a Site,
    form: &'a RegisterForm<'a>,
    hidden: &'a Hidden,
    errors: &'a FieldErrors,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    site: &'a Site,
    app: &'a str,
    username: &'a str,
    asks: &'a [&'a str],
    hidden: &'a Hidden,
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    site: &'a Site,
    username: &'a str,
    hidden: &'a Hidden,
    notice: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    site: &'a Site,
    heading: &'a str,
    message: &'a str,
}

/// A login form with `status`.
pub fn login(site: &Site, status: StatusCode, form: &LoginForm<'_>) -> Response {
    let page_of = if form.passkeys {
        page_with_script
    } else {
        page
    };
    page_of(
        status,
        &LoginPage {
            site,
            form,
            app: form.app.unwrap_or_default(),
            hidden: form.hidden,
            asks: form.asks,
        },
    )
}

/// The second step of a sign-in with `status`.
pub fn second_factor(site: &Site, status: StatusCode, form: &CodeForm<'_>) -> Response {
    let page_of = if form.passkey { page_with_script } else { page };
    page_of(
        status,
        &CodePage {
            site,
            form,
            app: form.app.unwrap_or_default(),
            hidden: form.hidden,
        },
    )
}

/// The set-up of the second factor a sign-in needs, with `status`.
pub fn enrol(site: &Site, status: StatusCode, form: &EnrolForm<'_>) -> Response {
    page(
        status,
        &EnrolPage {
            site,
            form,
            app: form.app.unwrap_or_default(),
            hidden: form.hidden,
        },
    )
}

/// The recovery codes of a factor just set up while signing in, shown
/// once, and the way on to `next`.
pub fn first_codes(site: &Site, codes: &[&str], next: &str) -> Response {
    page(StatusCode::OK, &FirstCodesPage { site, codes, next })
}

/// The sign-up form with `status`.
pub fn register(site: &Site, status: StatusCode, form: &RegisterForm<'_>) -> Response {
    page(
        status,
        &RegisterPage {
            site,
            form,
            hidden: form.hidden,
            errors: form.errors,
        },
    )
}

/// Asks a signed-in person whether application `app` may do what `asks`
/// names with their account.
pub fn consent(site: &Site, app: &str, username: &str, hidden: &Hidden, asks: &[&str]) -> Response {
    page(
        StatusCode::OK,
        &ConsentPage {
            site,
            app,
            username,
            asks,
            hidden,
        },
    )
}

/// The sign-out confirmation for `username`, with a `notice` when the
/// application's page cannot follow.
pub fn logout_confirmation(
    site: &Site,
    username: &str,
    hidden: &Hidden,
    notice: Option<&str>,
) -> Response {
    page(
        StatusCode::OK,
        &LogoutPage {
            site,
            username,
            hidden,
            notice,
        },
    )
}

/// A page saying one thing.
pub fn message(site: &Site, status: StatusCode, heading: &str, message: &str) -> Response {
    page(
        status,
        &MessagePage {
            site,
            heading,
            message,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &impl Template) -> String {
        template.render().unwrap()
    }

    fn login_html(
        app: &str,
        username: &str,
        error: Option<&str>,
        asks: &[&str],
        hidden: &Hidden,
    ) -> String {
        let form = LoginForm {
            app: Some(app),
            action: "/authorize",
            hidden,
            username,
            error,
            asks,
            register: None,
            passkeys: false,
            forgot: false,
        };
        render(&LoginPage {
            site: &Site::default(),
            form: &form,
            app,
            hidden,
            asks,
        })
    }

    #[test]
    fn values_are_escaped_in_text_and_attributes() {
        let hidden: Hidden = [("state", "\"><script>x</script>")].into_iter().collect();
        let html = login_html(
            "<img src=x onerror=alert(1)>",
            "'><b>",
            Some("<i>bad</i>"),
            &["<u>do things</u>"],
            &hidden,
        );
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
        let html = login_html("A", "alice", None, &[], &hidden);
        assert!(
            html.contains("value=\"x-{{username}}-y {% if true %}\""),
            "{html}"
        );
    }

    #[test]
    fn the_login_page_has_labelled_fields_and_no_script() {
        let html = login_html("A", "", None, &[], &Hidden::default());
        assert!(html.contains("<label for=\"username\">"));
        assert!(html.contains("<label for=\"password\">"));
        assert!(html.contains("autocomplete=\"current-password\""));
        assert!(!html.contains("<script"));
        assert!(html.contains("name=\"viewport\""));
        assert!(!html.contains("It asks to"), "no asks, no list");
    }
}
