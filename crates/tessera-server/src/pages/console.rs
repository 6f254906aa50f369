//! The console's pages (`/console…`, administrators only): the overview,
//! users and one user, clients and one client, keys, the audit log, the
//! live events, and the question a change asks when the sign-in is too old.

use super::account::Nav;
use super::{FieldErrors, Site, page};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

/// One bar of the sign-in chart: an hour.
#[derive(Debug, Clone)]
pub struct Bar {
    /// The hour, `09:00`.
    pub label: String,
    /// Successful sign-ins.
    pub succeeded: i64,
    /// Refused ones.
    pub failed: i64,
    /// The bar's left edge in the chart (SVG units).
    pub x: i64,
    /// Heights and tops of its two parts (SVG units).
    pub ok_y: i64,
    /// Height of the successful part.
    pub ok_h: i64,
    /// Top of the refused part.
    pub failed_y: i64,
    /// Height of the refused part.
    pub failed_h: i64,
}

/// A signing key, as the console shows it.
#[derive(Debug, Clone)]
pub struct KeyLine {
    /// Its id.
    pub kid: String,
    /// Its algorithm.
    pub alg: String,
    /// What it signs.
    pub purpose: &'static str,
    /// `active`, `next`, `retiring` or `retired`.
    pub status: &'static str,
    /// When it signs (or signed) from.
    pub activates: String,
    /// When it stops verifying, if superseded.
    pub retires: Option<String>,
}

/// What the overview shows.
#[derive(Debug, Clone)]
pub struct OverviewView {
    /// Accounts.
    pub users: i64,
    /// Live sessions.
    pub live_sessions: i64,
    /// Sign-ins of the last 24 hours.
    pub succeeded: i64,
    /// Refused sign-ins of the last 24 hours.
    pub failed: i64,
    /// The chart's bars, oldest first.
    pub bars: Vec<Bar>,
    /// The most sign-ins in one hour (the chart's scale).
    pub peak: i64,
    /// The signing keys.
    pub keys: Vec<KeyLine>,
    /// When the keys rotate next, in words.
    pub next_rotation: String,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    view: &'a OverviewView,
}

/// A user in the console's lists.
#[derive(Debug, Clone)]
pub struct UserLine {
    /// Their username.
    pub username: String,
    /// Their name, if known.
    pub name: String,
    /// Their e-mail address, if known.
    pub email: String,
    /// Their roles.
    pub roles: String,
    /// Whether they are disabled.
    pub disabled: bool,
    /// Whether they sign in with a second factor.
    pub two_step: bool,
    /// When they joined.
    pub created: String,
}

/// The user search: what was asked and what was found.
#[derive(Debug, Clone)]
pub struct UserSearch {
    /// The username prefix.
    pub q: String,
    /// The role.
    pub role: String,
    /// `any`, `enabled` or `disabled`.
    pub status: String,
    /// What was found.
    pub users: Vec<UserLine>,
    /// The link to the next page, if there is one.
    pub next: Option<String>,
    /// What is wrong with the search, if anything.
    pub problem: Option<String>,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    search: &'a UserSearch,
}

/// A session in the console's user page.
#[derive(Debug, Clone)]
pub struct SessionItem {
    /// Its id.
    pub id: String,
    /// Device, application, address and times, in words.
    pub summary: String,
}

/// An audit entry, as the console shows it.
#[derive(Debug, Clone)]
pub struct AuditLine {
    /// When.
    pub when: String,
    /// The action.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Who acted.
    pub actor: String,
    /// Whom or what it concerns.
    pub subject: String,
    /// From where.
    pub from: String,
    /// Its detail (JSON).
    pub detail: String,
}

/// One user, and what an administrator can do.
#[derive(Debug, Clone)]
pub struct UserView {
    /// Their username.
    pub username: String,
    /// Their id.
    pub id: String,
    /// Profile fields, as stored or as typed.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// E-mail address.
    pub email: String,
    /// Phone number.
    pub phone: String,
    /// Roles, space-separated (as stored or as typed).
    pub roles: String,
    /// Whether they are disabled.
    pub disabled: bool,
    /// When they joined.
    pub created: String,
    /// Their second factors, in words ("Phone (authenticator app)").
    pub factors: Vec<String>,
    /// Their unused recovery codes.
    pub codes_left: i64,
    /// Their live sessions.
    pub sessions: Vec<SessionItem>,
    /// Their recent audit entries.
    pub audit: Vec<AuditLine>,
    /// What is wrong with a form, if anything.
    pub errors: FieldErrors,
    /// What just happened.
    pub notice: Option<String>,
    /// The shortest password allowed.
    pub password_min: usize,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    user: &'a UserView,
    errors: &'a FieldErrors,
}

/// The question a console change asks when the sign-in is older than
/// `TESSERA_CONSOLE_REAUTH`: the password again, with the change carried.
#[derive(Debug, Clone)]
pub struct Reauth {
    /// Where the change posts.
    pub action: String,
    /// The change's fields.
    pub fields: Vec<(String, String)>,
    /// What went wrong with the password, if anything.
    pub error: Option<String>,
    /// Whether the admin signs in with a second factor, so the form asks
    /// for its code too.
    pub needs_code: bool,
}

#[derive(Template)]
#[template(path = "console/reauth.html")]
struct ReauthPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    reauth: &'a Reauth,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    keys: &'a [KeyLine],
    next_rotation: &'a str,
    notice: Option<&'a str>,
}

/// The keys page.
pub fn keys(
    site: &Site,
    nav: Nav<'_>,
    keys: &[KeyLine],
    next_rotation: &str,
    notice: Option<&str>,
) -> Response {
    page(
        StatusCode::OK,
        &KeysPage {
            site,
            nav,
            keys,
            next_rotation,
            notice,
        },
    )
}

/// A client as the console shows it.
#[derive(Debug, Clone)]
pub struct ClientLine {
    /// Its id.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// `confidential` or `public`.
    pub kind: &'static str,
    /// Its grants.
    pub grants: String,
    /// Its scopes.
    pub scopes: String,
    /// Its redirect URIs, one per line.
    pub redirect_uris: String,
    /// Its post-logout redirect URIs, one per line.
    pub post_logout_redirect_uris: String,
    /// When it was registered.
    pub created: String,
}

/// The clients page: the list and the form that registers one.
#[derive(Debug, Clone, Default)]
pub struct ClientsView {
    /// The registered clients.
    pub clients: Vec<ClientLine>,
    /// The client just registered, and its secret (shown this once).
    pub created: Option<(ClientLine, Option<String>)>,
    /// What was typed in the form.
    pub typed: Vec<(String, String)>,
    /// What is wrong with it.
    pub errors: FieldErrors,
    /// What just happened.
    pub notice: Option<String>,
}

impl ClientsView {
    /// What was typed in field `name`.
    pub fn typed(&self, name: &str) -> &str {
        self.typed
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The grants a client may be given, with their words.
    pub fn grant_choices(&self) -> &'static [(&'static str, &'static str)] {
        &[
            (
                "authorization_code",
                "Authorization code (the sign-in page)",
            ),
            ("refresh_token", "Refresh tokens"),
            (
                "client_credentials",
                "Client credentials (a service of its own)",
            ),
            ("password", "Password (trusted first-party apps only)"),
        ]
    }

    /// Whether grant `grant`'s box was ticked (on a fresh form: the code
    /// flow's two).
    pub fn grant_ticked(&self, grant: &str) -> bool {
        if self.typed.is_empty() {
            return matches!(grant, "authorization_code" | "refresh_token");
        }
        self.typed(&format!("grant_{grant}")) == "yes"
    }
}

#[derive(Template)]
#[template(path = "console/clients.html")]
struct ClientsPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    view: &'a ClientsView,
    errors: &'a FieldErrors,
}

/// One client and its editable redirect URIs.
#[derive(Debug, Clone)]
pub struct ClientView {
    /// The client.
    pub client: ClientLine,
    /// What is wrong with the edit.
    pub errors: FieldErrors,
    /// What just happened.
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "console/client.html")]
struct ClientPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    view: &'a ClientView,
    errors: &'a FieldErrors,
}

/// The clients page.
pub fn clients(site: &Site, status: StatusCode, nav: Nav<'_>, view: &ClientsView) -> Response {
    page(
        status,
        &ClientsPage {
            site,
            nav,
            view,
            errors: &view.errors,
        },
    )
}

/// One client.
pub fn client(site: &Site, status: StatusCode, nav: Nav<'_>, view: &ClientView) -> Response {
    page(
        status,
        &ClientPage {
            site,
            nav,
            view,
            errors: &view.errors,
        },
    )
}

/// The audit log's filters and what they found.
#[derive(Debug, Clone, Default)]
pub struct AuditSearch {
    /// Who acted.
    pub actor: String,
    /// Whom or what it concerns.
    pub subject: String,
    /// Either (a user id).
    pub user: String,
    /// The action (`login.failed`, …).
    pub action: String,
    /// From (a `datetime-local`, UTC).
    pub since: String,
    /// Until.
    pub until: String,
    /// What was found, newest first.
    pub entries: Vec<AuditLine>,
    /// The link to the next page, if there is one.
    pub next: Option<String>,
    /// What is wrong with the filters.
    pub problem: Option<String>,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    search: &'a AuditSearch,
    audit: &'a [AuditLine],
}

#[derive(Template)]
#[template(path = "console/events.html")]
struct EventsPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    token: Option<&'a str>,
}

/// The audit log.
pub fn audit(site: &Site, status: StatusCode, nav: Nav<'_>, search: &AuditSearch) -> Response {
    page(
        status,
        &AuditPage {
            site,
            nav,
            search,
            audit: &search.entries,
        },
    )
}

/// The live events (the one page with a script: Tessera's own).
pub fn events(site: &Site, nav: Nav<'_>, token: Option<&str>) -> Response {
    match (EventsPage { site, nav, token }).render() {
        Ok(html) => super::html_response_with_script(StatusCode::OK, html),
        Err(e) => super::failed_to_render(&e),
    }
}

/// The overview.
pub fn overview(site: &Site, nav: Nav<'_>, view: &OverviewView) -> Response {
    page(StatusCode::OK, &OverviewPage { site, nav, view })
}

/// The user search.
pub fn users(site: &Site, status: StatusCode, nav: Nav<'_>, search: &UserSearch) -> Response {
    page(status, &UsersPage { site, nav, search })
}

/// One user.
pub fn user(site: &Site, status: StatusCode, nav: Nav<'_>, user: &UserView) -> Response {
    page(
        status,
        &UserPage {
            site,
            nav,
            user,
            errors: &user.errors,
        },
    )
}

/// Asks for the password again before a change.
pub fn reauth(site: &Site, status: StatusCode, nav: Nav<'_>, reauth: &Reauth) -> Response {
    page(status, &ReauthPage { site, nav, reauth })
}

/// The bars of a 24-hour chart `width` × `height` (SVG units) of `hours`
/// (label, succeeded, failed), scaled to the busiest hour; and that peak.
pub fn bars(hours: &[(String, i64, i64)], width: i64, height: i64) -> (Vec<Bar>, i64) {
    let peak = hours
        .iter()
        .map(|(_, ok, failed)| ok + failed)
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = width / (hours.len().max(1) as i64);
    let bars = hours
        .iter()
        .enumerate()
        .map(|(i, (label, ok, failed))| {
            let ok_h = ok * height / peak;
            let failed_h = failed * height / peak;
            Bar {
                label: label.clone(),
                succeeded: *ok,
                failed: *failed,
                x: i as i64 * slot + 1,
                ok_y: height - ok_h,
                ok_h,
                failed_y: height - ok_h - failed_h,
                failed_h,
            }
        })
        .collect();
    (bars, peak)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_scaled_to_the_busiest_hour_and_stacked() {
        let hours = vec![("00:00".to_owned(), 10, 0), ("01:00".to_owned(), 2, 3)];
        let (bars, peak) = bars(&hours, 240, 100);
        assert_eq!(peak, 10);
        assert_eq!((bars[0].ok_y, bars[0].ok_h), (0, 100));
        assert_eq!((bars[1].ok_h, bars[1].failed_h), (20, 30));
        assert_eq!(bars[1].failed_y, 100 - 20 - 30);
        assert_eq!(bars[1].x, 121);
        let (none, peak) = super::bars(&[("00:00".to_owned(), 0, 0)], 10, 10);
        assert_eq!((none[0].ok_h, peak), (0, 1));
    }
}
