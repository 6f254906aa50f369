//! The console (`/console…`): administrators only (anyone else gets a 403
//! page, with no data). Each change goes through the same domain operation
//! as the API's, is audited with the administrator as its actor, asks for
//! confirmation when it destroys, and needs a sign-in within
//! `TESSERA_CONSOLE_REAUTH` (past it, the password again, the change
//! carried through). `overview.rs` holds the overview and keys, `users.rs`
//! users, `clients.rs` clients, `audit.rs` the audit log and live events.

pub mod audit;
pub mod clients;
pub mod overview;
pub mod users;

use crate::browser::{Person, PersonForm};
use crate::pages::account::Nav;
use crate::pages::console::{self, Reauth};
use crate::pages::{self};
use crate::routes::oauth::OAuthForm;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use tessera_core::Error;
use tessera_core::model::ClientInfo;
use tessera_core::secret::ExposeSecret;
use tessera_core::service::Proof;

/// The 403 page for a signed-in person who is not an administrator.
fn not_an_admin(state: &AppState) -> Response {
    pages::message(
        &state.site,
        StatusCode::FORBIDDEN,
        "Administrators only",
        "The console is for administrators. Ask one if you need to be one.",
    )
}

/// A signed-in administrator on a console page.
pub struct Admin(pub Person);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let person = Person::from_request_parts(parts, state).await?;
        if !person.user.is_admin() {
            return Err(not_an_admin(state));
        }
        Ok(Admin(person))
    }
}

/// A console form an administrator posted (with their session's CSRF token).
pub struct AdminForm {
    /// Who posted it.
    pub admin: Person,
    /// What they posted.
    pub form: OAuthForm,
}

impl FromRequest<AppState> for AdminForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let PersonForm { person, form } = PersonForm::from_request(request, state).await?;
        if !person.user.is_admin() {
            return Err(not_an_admin(state));
        }
        Ok(AdminForm {
            admin: person,
            form,
        })
    }
}

/// The bar of the console's pages, with `current` shown.
pub(crate) fn nav<'a>(admin: &'a Person, current: &'static str) -> Nav<'a> {
    Nav {
        username: &admin.user.username,
        admin: true,
        csrf: &admin.csrf,
        current,
    }
}

/// Lets a change through when the administrator signed in recently enough
/// (or has just given their password again, in `reauth_password`); else
/// the page that asks for it, carrying the change to `action`.
pub(crate) async fn recent_sign_in(
    state: &AppState,
    admin: &Person,
    form: &OAuthForm,
    action: &str,
    client: &ClientInfo,
) -> Result<(), Response> {
    let age = state.tessera.clock().now_ms() - admin.browser.auth_time;
    if age <= state.site.console_reauth.as_millis() as i64 {
        return Ok(());
    }
    let fields: Vec<(String, String)> = form
        .pairs()
        .filter(|(name, _)| !matches!(*name, "reauth_password" | "reauth_code" | "username"))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let needs_code = match state.tessera.factors().has_factor(admin.user.id).await {
        Ok(has) => has,
        Err(e) => return Err(crate::browser::page_failure(&state.site, &e)),
    };
    let ask = |status, error: Option<&str>| {
        console::reauth(
            &state.site,
            status,
            nav(admin, "console"),
            &Reauth {
                action: action.to_owned(),
                fields: fields.clone(),
                error: error.map(str::to_owned),
                needs_code,
            },
        )
    };
    let Some(password) = form.get("reauth_password") else {
        return Err(ask(StatusCode::OK, None));
    };
    let sso = state.tessera.sso();
    let mut result = sso
        .sso_sign_in(&admin.user.username, password, client, Some(&admin.browser))
        .await
        .map(|_| ());
    // With a second factor, the code finishes the sign-in the password began.
    if let Err(Error::MfaRequired(challenge)) = &result {
        let code = form.get("reauth_code").unwrap_or_default();
        result = sso
            .sso_second_step(
                challenge.mfa_token.expose_secret(),
                Proof::Code(code),
                client,
                Some(&admin.browser),
            )
            .await
            .map(|_| ());
    }
    match result {
        Ok(()) => Ok(()),
        Err(Error::InvalidCredentials) => Err(ask(
            StatusCode::UNAUTHORIZED,
            Some("That is not your password."),
        )),
        Err(Error::InvalidCode { .. }) => Err(ask(
            StatusCode::UNAUTHORIZED,
            Some(pages::words::WRONG_CODE),
        )),
        Err(Error::TooManyAttempts { retry_after }) => Err(ask(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&pages::words::too_many_attempts(retry_after)),
        )),
        Err(e) => Err(crate::browser::page_failure(&state.site, &e)),
    }
}
