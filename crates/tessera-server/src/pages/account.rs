//! A person's own pages: profile and password (`/account`), where they are
//! signed in (`/account/sessions`) and the applications with access
//! (`/account/applications`); the bar they share, the confirmation of a
//! destructive change, and how events, devices and times read in words.

use super::{FieldErrors, Site, page};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

/// The bar of a signed-in page: who is signed in, the sections they may
/// open, and the CSRF token of their forms (the sign-out form's too).
#[derive(Debug, Clone, Copy)]
pub struct Nav<'a> {
    /// Their username.
    pub username: &'a str,
    /// Whether the console is theirs to open.
    pub admin: bool,
    /// The CSRF token of their forms.
    pub csrf: &'a str,
    /// The section shown: `profile`, `sessions`, `console`, …
    pub current: &'static str,
}

impl Nav<'_> {
    /// `aria-current="page"` for the bar's link to `section` when one of
    /// its pages is shown (every console page counts as the console).
    pub fn top(&self, section: &str) -> &'static str {
        let console = matches!(
            self.current,
            "console" | "users" | "clients" | "keys" | "audit" | "events"
        );
        if self.current == section || (section == "console" && console) {
            "page"
        } else {
            "false"
        }
    }

    /// `aria-current="page"` for the link to `section` when it is shown.
    pub fn current(&self, section: &str) -> &'static str {
        if self.current == section {
            "page"
        } else {
            "false"
        }
    }
}

/// The profile fields, as stored or as typed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Profile<'a> {
    /// Given name.
    pub first_name: &'a str,
    /// Family name.
    pub last_name: &'a str,
    /// E-mail address.
    pub email: &'a str,
    /// Phone number.
    pub phone: &'a str,
}

/// What the profile page shows.
#[derive(Debug, Clone, Copy)]
pub struct ProfileForms<'a> {
    /// The username (not editable).
    pub username: &'a str,
    /// The profile.
    pub profile: Profile<'a>,
    /// What is wrong with the profile form.
    pub errors: &'a FieldErrors,
    /// What is wrong with the password form.
    pub password_errors: &'a FieldErrors,
    /// What just happened ("Saved.").
    pub notice: Option<&'a str>,
    /// The shortest password allowed.
    pub password_min: usize,
}

#[derive(Template)]
#[template(path = "account/profile.html")]
struct ProfilePage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    forms: &'a ProfileForms<'a>,
    errors: &'a FieldErrors,
    password_errors: &'a FieldErrors,
}

/// One live session, as the sessions page lists it.
#[derive(Debug, Clone)]
pub struct SessionLine {
    /// Its id (the tokens' `sid`), which its sign-out form names.
    pub id: String,
    /// The browser and system, from the user agent.
    pub device: String,
    /// The address it signed in from.
    pub ip: String,
    /// When it began.
    pub created: String,
    /// When it was last used.
    pub last_used: String,
    /// The application it belongs to, if any.
    pub application: Option<String>,
    /// Whether it is this browser (or came through it).
    pub this_device: bool,
}

#[derive(Template)]
#[template(path = "account/sessions.html")]
struct SessionsPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    sessions: &'a [SessionLine],
    notice: Option<&'a str>,
}

/// What a destructive change asks before it happens.
#[derive(Debug, Clone, Copy)]
pub struct Confirmation<'a> {
    /// The question.
    pub heading: &'a str,
    /// What will happen.
    pub text: &'a str,
    /// Where the confirming form posts (with `confirmed=yes`).
    pub action: &'a str,
    /// The fields of the form being confirmed.
    pub fields: &'a [(&'a str, &'a str)],
    /// The confirming button's words.
    pub button: &'a str,
    /// Where "Cancel" leads.
    pub back: &'a str,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    confirmation: &'a Confirmation<'a>,
}

/// Asks to confirm a destructive change.
pub fn confirm(site: &Site, nav: Nav<'_>, confirmation: &Confirmation<'_>) -> Response {
    page(
        StatusCode::OK,
        &ConfirmPage {
            site,
            nav,
            confirmation,
        },
    )
}

/// An application with access to the person's account.
#[derive(Debug, Clone)]
pub struct AppLine {
    /// Its client id, which its revoke form names.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// What it may do (the scopes granted).
    pub scopes: String,
    /// When it was first given access (of its live sessions).
    pub since: String,
    /// When it last used its access.
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "account/applications.html")]
struct ApplicationsPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    apps: &'a [AppLine],
    notice: Option<&'a str>,
}

/// The applications page.
pub fn applications(site: &Site, nav: Nav<'_>, apps: &[AppLine], notice: Option<&str>) -> Response {
    page(
        StatusCode::OK,
        &ApplicationsPage {
            site,
            nav,
            apps,
            notice,
        },
    )
}

/// An audit action in words, for the person it is about.
pub fn event_words(action: &str, failed: bool, detail: Option<&str>) -> String {
    let words = match (action, failed) {
        ("register", _) => "Account created",
        ("user.created", _) => "Account created by an administrator",
        ("login.succeeded", _) => "Signed in",
        ("login.failed", _) if detail.is_some_and(|d| d.contains("second_factor")) => {
            "Wrong code given at sign-in"
        }
        ("login.failed", _) => "Failed sign-in attempt",
        ("logout", _) if detail.is_some_and(|d| d.contains("client_id")) => {
            "Access of an application revoked"
        }
        ("logout", _) if detail.is_some_and(|d| d.contains("\"all\"")) => "Signed out everywhere",
        ("logout", _) => "Signed out",
        ("password.changed", false) => "Password changed",
        ("password.changed", true) => "Wrong current password given",
        ("user.updated", _) => "Profile changed",
        ("role.changed", _) => "Roles changed",
        ("user.disabled", _) => "Account disabled or enabled",
        ("refresh.reuse_detected", _) => "An old sign-in token was reused; its session was ended",
        ("token.issued", _) => "An application was given access",
        ("token.revoked", _) => "A token was revoked",
        ("factor.added", _) => "Two-step verification added",
        ("factor.removed", _) => "Two-step verification removed",
        ("recovery_codes.regenerated", _) => "New recovery codes made",
        ("factor.change_refused", _) => "Wrong password given for a security change",
        ("email.verified", _) => "Email address confirmed",
        ("email.change_refused", _) => "Wrong password given to change the email address",
        ("password.reset_requested", _) => "Password reset link sent",
        ("password.reset", _) => "Password reset with a mailed link",
        (other, _) => return other.to_owned(),
    };
    words.to_owned()
}

/// The profile page.
pub fn profile(
    site: &Site,
    status: StatusCode,
    nav: Nav<'_>,
    forms: &ProfileForms<'_>,
) -> Response {
    page(
        status,
        &ProfilePage {
            site,
            nav,
            forms,
            errors: forms.errors,
            password_errors: forms.password_errors,
        },
    )
}

/// The sessions page.
pub fn sessions(
    site: &Site,
    nav: Nav<'_>,
    sessions: &[SessionLine],
    notice: Option<&str>,
) -> Response {
    page(
        StatusCode::OK,
        &SessionsPage {
            site,
            nav,
            sessions,
            notice,
        },
    )
}

/// "Firefox on Linux" from a `User-Agent`; what it cannot tell, it leaves
/// out.
pub fn device(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return "Unknown device".to_owned();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("HeadlessChrome/", "Chrome (headless)"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-requests/", "Python requests"),
        ("node", "Node.js"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let system = [
        ("Windows", "Windows"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Android", "Android"),
        ("CrOS", "ChromeOS"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => s.to_owned(),
        (None, None) => ua.chars().take(40).collect(),
    }
}

/// `2026-12-05T09:56:40.488Z` as `2026-12-05 09:56 UTC`.
pub fn when(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => rfc3339.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_from_their_user_agent() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(device(Some(firefox)), "Firefox on Linux");
        let chrome = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
                      (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        assert_eq!(device(Some(chrome)), "Chrome on macOS");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1";
        assert_eq!(device(Some(iphone)), "Safari on iOS");
        assert_eq!(device(Some("curl/8.5.0")), "curl");
        assert_eq!(device(None), "Unknown device");
        assert_eq!(when("2026-12-05T09:56:40.488Z"), "2026-12-05 09:56 UTC");
    }
}
