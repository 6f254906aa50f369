//! A person's own pages: `/account` (profile and password),
//! `/account/sessions` (where they are signed in; sign one out, or all
//! others) and `/account/applications` (revoke an application's access);
//! `/account/security` is `security.rs`'s. Every change goes through the
//! same domain operations as the API, with the browser the person acts
//! from as their own session.

use crate::browser::{Person, PersonForm, page_failure, signed_out};
use crate::extract::Client;
use crate::pages::account::{self, AppLine, Nav, Profile, ProfileForms, SessionLine};
use crate::pages::{FieldErrors, words};
use crate::state::AppState;
use crate::views::SessionView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use tessera_core::Error;
use tessera_core::service::ProfileChanges;
use tessera_token::clock::rfc3339;
use uuid::Uuid;

/// The bar of `person`'s pages, with `current` shown.
pub(crate) fn nav<'a>(person: &'a Person, current: &'static str) -> Nav<'a> {
    Nav {
        username: &person.user.username,
        admin: person.user.is_admin(),
        csrf: &person.csrf,
        current,
    }
}

/// The profile page as stored, with `notice` and refusals shown.
fn profile_page(
    state: &AppState,
    person: &Person,
    status: StatusCode,
    profile: Profile<'_>,
    errors: (&FieldErrors, &FieldErrors),
    notice: Option<&str>,
) -> Response {
    account::profile(
        &state.site,
        status,
        nav(person, "profile"),
        &ProfileForms {
            username: &person.user.username,
            profile,
            errors: errors.0,
            password_errors: errors.1,
            notice,
            password_min: state.tessera.settings().password_min_length,
        },
    )
}

/// The stored profile of `person`.
fn stored(person: &Person) -> Profile<'_> {
    let user = &person.user;
    Profile {
        first_name: user.first_name.as_deref().unwrap_or_default(),
        last_name: user.last_name.as_deref().unwrap_or_default(),
        email: user.email.as_deref().unwrap_or_default(),
        phone: user.phone.as_deref().unwrap_or_default(),
    }
}

/// `GET /account`
pub async fn profile(State(state): State<AppState>, person: Person) -> Response {
    let none = FieldErrors::default();
    profile_page(
        &state,
        &person,
        StatusCode::OK,
        stored(&person),
        (&none, &none),
        None,
    )
}

/// `POST /account/profile` — saves the profile (an emptied field is
/// cleared), under the schema and rules of `PATCH /users/{username}`.
pub async fn save_profile(
    State(state): State<AppState>,
    Client(client): Client,
    PersonForm { person, form }: PersonForm,
) -> Response {
    let typed = Profile {
        first_name: form.get("first_name").unwrap_or_default(),
        last_name: form.get("last_name").unwrap_or_default(),
        email: form.get("email").unwrap_or_default(),
        phone: form.get("phone").unwrap_or_default(),
    };
    let value = |text: &str| -> Value {
        let text = text.trim();
        if text.is_empty() {
            Value::Null
        } else {
            json!(text)
        }
    };
    let body = json!({
        "first_name": value(typed.first_name),
        "last_name": value(typed.last_name),
        "email": value(typed.email),
        "phone": value(typed.phone),
    });
    let min = state.tessera.settings().password_min_length;
    let none = FieldErrors::default();
    if let Err(e) = state.schemas.validate("user_update", &body) {
        let errors = words::schema_errors(&e, min);
        return profile_page(
            &state,
            &person,
            StatusCode::BAD_REQUEST,
            typed,
            (&errors, &none),
            None,
        );
    }
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let changes = ProfileChanges {
        first_name: Some(text(&body["first_name"])),
        last_name: Some(text(&body["last_name"])),
        email: Some(text(&body["email"])),
        phone: Some(text(&body["phone"])),
        current_password: form
            .get("current_password")
            .filter(|p| !p.is_empty())
            .map(tessera_core::secret::SecretString::from),
        ..ProfileChanges::default()
    };
    match state
        .tessera
        .accounts()
        .update_user(&person.caller(), &person.user.username, changes, &client)
        .await
    {
        Ok(user) => {
            let person = Person { user, ..person };
            let profile = stored(&person);
            profile_page(
                &state,
                &person,
                StatusCode::OK,
                profile,
                (&none, &none),
                Some("Your profile is saved."),
            )
        }
        Err(e) => match words::domain_errors(&e, "password", min) {
            Some(errors) => profile_page(
                &state,
                &person,
                StatusCode::BAD_REQUEST,
                typed,
                (&errors, &none),
                None,
            ),
            None => page_failure(&state.site, &e),
        },
    }
}

/// `POST /account/password` — changes the password (the current one
/// required); every other session ends, this browser stays signed in.
pub async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    PersonForm { person, form }: PersonForm,
) -> Response {
    let min = state.tessera.settings().password_min_length;
    let none = FieldErrors::default();
    let refuse = |errors: FieldErrors, status| {
        profile_page(
            &state,
            &person,
            status,
            stored(&person),
            (&none, &errors),
            None,
        )
    };
    let current = form.get("current_password").unwrap_or_default();
    let new = form.get("new_password").unwrap_or_default();
    let mut errors = FieldErrors::default();
    if current.is_empty() {
        errors.push("current_password", "Enter your current password.");
    }
    let body = json!({"current_password": current, "new_password": new});
    if let Err(e) = state.schemas.validate("password_change", &body) {
        for (field, message) in words::schema_errors(&e, min).messages() {
            if !errors.has(field) && field != "form" {
                errors.push(field, message);
            }
        }
    }
    if form.get("confirm_password").unwrap_or_default() != new && !errors.has("new_password") {
        errors.push("confirm_password", "The two new passwords differ.");
    }
    if !errors.is_empty() {
        return refuse(errors, StatusCode::BAD_REQUEST);
    }
    match state
        .tessera
        .accounts()
        .change_password(
            &person.caller(),
            &person.user.username,
            Some(current),
            new,
            &client,
        )
        .await
    {
        Ok(()) => profile_page(
            &state,
            &person,
            StatusCode::OK,
            stored(&person),
            (&none, &none),
            Some("Your password is changed. You were signed out everywhere else."),
        ),
        Err(e) => match words::domain_errors(&e, "new_password", min) {
            Some(errors) => {
                let status = match e {
                    Error::InvalidCredentials => StatusCode::UNAUTHORIZED,
                    Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
                    _ => StatusCode::BAD_REQUEST,
                };
                refuse(errors, status)
            }
            None => page_failure(&state.site, &e),
        },
    }
}

/// The sessions page of `person`, with `notice`.
async fn sessions_page(state: &AppState, person: &Person, notice: Option<&str>) -> Response {
    let sessions = match state.tessera.sessions().sessions_of(person.user.id).await {
        Ok(s) => s,
        Err(e) => return page_failure(&state.site, &e),
    };
    let clients = match state.tessera.clients().clients().await {
        Ok(c) => c,
        Err(e) => return page_failure(&state.site, &e),
    };
    let mut lines: Vec<SessionLine> = sessions
        .into_iter()
        .map(|s| {
            let this_device = s.browser_session_id == Some(person.browser.id);
            let application = s.client_id.as_deref().map(|id| {
                clients
                    .iter()
                    .find(|c| c.client_id == id)
                    .map_or_else(|| id.to_owned(), |c| c.name.clone())
            });
            let view = SessionView::from(s);
            SessionLine {
                device: account::device(view.user_agent.as_deref()),
                ip: view.ip.unwrap_or_else(|| "unknown address".to_owned()),
                created: account::when(&view.created_at),
                last_used: account::when(&view.last_used_at),
                id: view.id,
                application,
                this_device,
            }
        })
        .collect();
    // This device first, then the newest.
    lines.sort_by_key(|l| !l.this_device);
    account::sessions(&state.site, nav(person, "sessions"), &lines, notice)
}

/// `GET /account/sessions`
pub async fn sessions(State(state): State<AppState>, person: Person) -> Response {
    sessions_page(&state, &person, None).await
}

/// `POST /account/sessions/end` — signs one session out (this browser's
/// own: signed out here too, to the login page).
pub async fn end_session(
    State(state): State<AppState>,
    Client(client): Client,
    PersonForm { person, form }: PersonForm,
) -> Response {
    let Some(id) = form.get("session").and_then(|s| Uuid::parse_str(s).ok()) else {
        return sessions_page(&state, &person, Some("That session had already ended.")).await;
    };
    // Signing out this browser's own session signs this browser out.
    let own = match state.tessera.sessions().sessions_of(person.user.id).await {
        Ok(sessions) => sessions.iter().any(|s| {
            s.id == id && s.client_id.is_none() && s.browser_session_id == Some(person.browser.id)
        }),
        Err(e) => return page_failure(&state.site, &e),
    };
    match state
        .tessera
        .sessions()
        .delete_session(&person.caller(), id, &client)
        .await
    {
        Ok(()) if own => signed_out(&state),
        Ok(()) => sessions_page(&state, &person, Some("Signed out.")).await,
        Err(Error::NotFound) => {
            sessions_page(&state, &person, Some("That session had already ended.")).await
        }
        Err(e) => page_failure(&state.site, &e),
    }
}

/// `POST /account/sessions/end-others` — after confirming, signs out every
/// session but this browser's.
pub async fn end_other_sessions(
    State(state): State<AppState>,
    Client(client): Client,
    PersonForm { person, form }: PersonForm,
) -> Response {
    if form.get("confirmed") != Some("yes") {
        return account::confirm(
            &state.site,
            nav(&person, "sessions"),
            &account::Confirmation {
                heading: "Sign out everywhere else?",
                text: "Every other browser, device and application signed in to your \
                       account is signed out at once. This browser stays signed in.",
                action: "/account/sessions/end-others",
                fields: &[],
                button: "Sign out everywhere else",
                back: "/account/sessions",
            },
        );
    }
    match state
        .tessera
        .sessions()
        .end_other_sessions(&person.caller(), &client)
        .await
    {
        Ok(()) => sessions_page(&state, &person, Some("Signed out everywhere else.")).await,
        Err(e) => page_failure(&state.site, &e),
    }
}

/// The applications page of `person`, with `notice`.
async fn applications_page(state: &AppState, person: &Person, notice: Option<&str>) -> Response {
    let sessions = match state.tessera.sessions().sessions_of(person.user.id).await {
        Ok(s) => s,
        Err(e) => return page_failure(&state.site, &e),
    };
    let clients = match state.tessera.clients().clients().await {
        Ok(c) => c,
        Err(e) => return page_failure(&state.site, &e),
    };
    let mut apps: Vec<AppLine> = Vec::new();
    for client in &clients {
        let theirs: Vec<_> = sessions
            .iter()
            .filter(|s| s.client_id.as_deref() == Some(client.client_id.as_str()))
            .collect();
        let (Some(first), Some(last)) = (
            theirs.iter().map(|s| s.created_at).min(),
            theirs.iter().map(|s| s.last_used_at).max(),
        ) else {
            continue;
        };
        let mut scopes: Vec<&str> = theirs
            .iter()
            .filter_map(|s| s.scope.as_deref())
            .flat_map(str::split_whitespace)
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        apps.push(AppLine {
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            scopes: scopes.join(", "),
            since: account::when(&rfc3339(first)),
            last_used: account::when(&rfc3339(last)),
        });
    }
    account::applications(&state.site, nav(person, "applications"), &apps, notice)
}

/// `GET /account/applications`
pub async fn applications(State(state): State<AppState>, person: Person) -> Response {
    applications_page(&state, &person, None).await
}

/// `POST /account/applications/revoke` — ends every session of the person
/// issued to that application.
pub async fn revoke_application(
    State(state): State<AppState>,
    Client(client): Client,
    PersonForm { person, form }: PersonForm,
) -> Response {
    let Some(client_id) = form.get("client_id") else {
        return applications_page(&state, &person, None).await;
    };
    match state
        .tessera
        .sessions()
        .revoke_application(&person.caller(), client_id, &client)
        .await
    {
        Ok(()) => applications_page(&state, &person, Some("Access revoked.")).await,
        Err(e) => page_failure(&state.site, &e),
    }
}
