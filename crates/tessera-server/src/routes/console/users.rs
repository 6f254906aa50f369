//! `/console/users` (search by username prefix, role and status, a page at
//! a time) and `/console/users/{username}` (profile and roles, password,
//! two-step verification and its reset, sessions, disable or enable, delete,
//! the user's audit entries).

use super::{Admin, AdminForm, nav, recent_sign_in};
use crate::browser::{Person, encode, page_failure, see_other};
use crate::extract::{Client, Path, Query};
use crate::pages::account::{self, Confirmation};
use crate::pages::console::{self, AuditLine, SessionItem, UserLine, UserSearch, UserView};
use crate::pages::{FieldErrors, words};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_core::Error;
use tessera_core::mfa::FactorKind;
use tessera_core::model::{ClientInfo, User};
use tessera_core::service::ProfileChanges;
use tessera_core::store::{AuditEntry, AuditQuery, UserFilter};
use tessera_token::clock::rfc3339;
use uuid::Uuid;

/// Users per page of the search.
const PAGE: u32 = 50;

/// The search's query string.
#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    role: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
}

fn user_line(u: User, two_step: bool) -> UserLine {
    let name = [u.first_name.as_deref(), u.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    UserLine {
        name,
        email: u.email.unwrap_or_default(),
        roles: u.roles.join(" "),
        disabled: u.disabled,
        two_step,
        created: account::when(&rfc3339(u.created_at)),
        username: u.username,
    }
}

/// `GET /console/users?q=&role=&status=&cursor=`
pub async fn search(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Query(query): Query<SearchQuery>,
) -> Response {
    let q = query.q.unwrap_or_default().trim().to_owned();
    let role = query.role.unwrap_or_default().trim().to_owned();
    let status = match query.status.as_deref() {
        Some(s @ ("enabled" | "disabled")) => s.to_owned(),
        _ => "any".to_owned(),
    };
    let filter = UserFilter {
        prefix: q.clone(),
        role: (!role.is_empty()).then(|| role.clone()),
        disabled: match status.as_str() {
            "enabled" => Some(false),
            "disabled" => Some(true),
            _ => None,
        },
    };
    let mut search = UserSearch {
        q,
        role,
        status,
        users: Vec::new(),
        next: None,
        problem: None,
    };
    let found = state
        .tessera
        .accounts()
        .search_users(&filter, PAGE, query.cursor.as_deref())
        .await;
    let status = match found {
        Ok(page) => {
            search.next = page.next_cursor.map(|cursor| {
                format!(
                    "/console/users?{}",
                    encode(&[
                        ("q", &search.q),
                        ("role", &search.role),
                        ("status", &search.status),
                        ("cursor", &cursor),
                    ])
                )
            });
            let ids: Vec<Uuid> = page.items.iter().map(|u| u.id).collect();
            let with = match state.tessera.factors().users_with_factors(&ids).await {
                Ok(with) => with,
                Err(e) => return page_failure(&state.site, &e),
            };
            search.users = page
                .items
                .into_iter()
                .map(|u| {
                    let two_step = with.contains(&u.id);
                    user_line(u, two_step)
                })
                .collect();
            StatusCode::OK
        }
        Err(Error::Validation { .. }) => {
            search.problem = Some("That page link is no longer valid; search again.".into());
            StatusCode::BAD_REQUEST
        }
        Err(e) => return page_failure(&state.site, &e),
    };
    console::users(&state.site, status, nav(&admin, "users"), &search)
}

/// A kind of second factor in words.
fn factor_kind(kind: FactorKind) -> &'static str {
    match kind {
        FactorKind::Totp => "authenticator app",
        FactorKind::Passkey => "passkey",
    }
}

/// The path of `username`'s page.
fn user_path(username: &str) -> String {
    format!("/console/users/{username}")
}

/// An audit entry in the console's words.
pub(super) fn audit_line(e: AuditEntry) -> AuditLine {
    AuditLine {
        when: account::when(&rfc3339(e.at)),
        action: e.event,
        outcome: e.outcome,
        actor: e.actor.unwrap_or_default(),
        subject: e.subject.unwrap_or_default(),
        from: match (e.ip, e.user_agent.as_deref()) {
            (Some(ip), ua) => format!("{ip} · {}", account::device(ua)),
            (None, _) => String::new(),
        },
        detail: e.detail.unwrap_or_default(),
    }
}

/// The user page of `user`, with what `edit` changes of it.
async fn user_page(
    state: &AppState,
    admin: &Person,
    user: &User,
    status: StatusCode,
    edit: impl FnOnce(&mut UserView),
) -> Response {
    let sessions = match state.tessera.sessions().sessions_of(user.id).await {
        Ok(s) => s,
        Err(e) => return page_failure(&state.site, &e),
    };
    let query = AuditQuery {
        user: Some(user.id.to_string()),
        limit: 20,
        ..AuditQuery::default()
    };
    let audit = match state.tessera.audit_log(&query).await {
        Ok(a) => a,
        Err(e) => return page_failure(&state.site, &e),
    };
    let factors = match state.tessera.factors().list(user.id).await {
        Ok(f) => f,
        Err(e) => return page_failure(&state.site, &e),
    };
    let mut view = UserView {
        username: user.username.clone(),
        id: user.id.to_string(),
        first_name: user.first_name.clone().unwrap_or_default(),
        last_name: user.last_name.clone().unwrap_or_default(),
        email: user.email.clone().unwrap_or_default(),
        phone: user.phone.clone().unwrap_or_default(),
        roles: user.roles.join(" "),
        disabled: user.disabled,
        created: account::when(&rfc3339(user.created_at)),
        factors: factors
            .factors
            .iter()
            .map(|f| format!("{} ({})", f.name, factor_kind(f.kind)))
            .collect(),
        codes_left: factors.recovery_codes_left,
        sessions: sessions
            .into_iter()
            .map(|s| SessionItem {
                id: s.id.to_string(),
                summary: format!(
                    "{}{} · {} · signed in {} · last used {}",
                    account::device(s.user_agent.as_deref()),
                    s.client_id
                        .map(|c| format!(" · client {c}"))
                        .unwrap_or_default(),
                    s.ip.unwrap_or_else(|| "unknown address".into()),
                    account::when(&rfc3339(s.created_at)),
                    account::when(&rfc3339(s.last_used_at)),
                ),
            })
            .collect(),
        audit: audit.into_iter().map(audit_line).collect(),
        errors: FieldErrors::default(),
        notice: None,
        password_min: state.tessera.settings().password_min_length,
    };
    edit(&mut view);
    console::user(&state.site, status, nav(admin, "users"), &view)
}

/// The user `username`, or the page saying there is none.
async fn find(state: &AppState, username: &str) -> Result<User, Response> {
    match state.tessera.accounts().user(username).await {
        Ok(user) => Ok(user),
        Err(Error::UserNotFound) => Err(crate::pages::message(
            &state.site,
            StatusCode::NOT_FOUND,
            "No such user",
            "There is no user by that name. It may have been deleted.",
        )),
        Err(e) => Err(page_failure(&state.site, &e)),
    }
}

/// `GET /console/users/{username}`
pub async fn user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(username): Path<String>,
) -> Response {
    match find(&state, &username).await {
        Ok(user) => user_page(&state, &admin, &user, StatusCode::OK, |_| {}).await,
        Err(page) => page,
    }
}

/// The page after an action on `user`: a notice, or a refusal said in words.
async fn after(
    state: &AppState,
    admin: &Person,
    user: &User,
    result: Result<Option<User>, Error>,
    notice: &str,
    password_field: &str,
) -> Response {
    match result {
        Ok(changed) => {
            let user = changed.as_ref().unwrap_or(user);
            let notice = notice.to_owned();
            user_page(state, admin, user, StatusCode::OK, |v| {
                v.notice = Some(notice)
            })
            .await
        }
        Err(Error::LastAdmin) => {
            user_page(state, admin, user, StatusCode::CONFLICT, |v| {
                v.errors.push(
                "form",
                "This is the last enabled administrator: give another user the admin role first.",
            );
            })
            .await
        }
        Err(e) => {
            let min = state.tessera.settings().password_min_length;
            match words::domain_errors(&e, password_field, min) {
                Some(errors) => {
                    user_page(state, admin, user, StatusCode::BAD_REQUEST, |v| {
                        v.errors = errors
                    })
                    .await
                }
                None => page_failure(&state.site, &e),
            }
        }
    }
}

/// Checks the CSRF token, the recent sign-in and the user for an action.
async fn acting(
    state: &AppState,
    admin: &Person,
    form: &crate::routes::oauth::OAuthForm,
    username: &str,
    action: &str,
    client: &ClientInfo,
) -> Result<User, Response> {
    let path = format!("{}/{action}", user_path(username));
    recent_sign_in(state, admin, form, &path, client).await?;
    find(state, username).await
}

/// `POST /console/users/{username}/profile` — profile fields and roles.
pub async fn save_profile(
    State(state): State<AppState>,
    Client(client): Client,
    Path(username): Path<String>,
    AdminForm { admin, form }: AdminForm,
) -> Response {
    let user = match acting(&state, &admin, &form, &username, "profile", &client).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let text = |name: &str| -> Value {
        match form.get(name).map(str::trim) {
            Some(t) if !t.is_empty() => json!(t),
            _ => Value::Null,
        }
    };
    let mut roles: Vec<String> = form
        .get("roles")
        .unwrap_or_default()
        .split([' ', ','])
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    roles.retain(|r| r != "user");
    let body = json!({
        "first_name": text("first_name"), "last_name": text("last_name"),
        "email": text("email"), "phone": text("phone"), "roles": roles,
    });
    let typed = |v: &mut UserView| {
        v.first_name = form.get("first_name").unwrap_or_default().to_owned();
        v.last_name = form.get("last_name").unwrap_or_default().to_owned();
        v.email = form.get("email").unwrap_or_default().to_owned();
        v.phone = form.get("phone").unwrap_or_default().to_owned();
        v.roles = form.get("roles").unwrap_or_default().to_owned();
    };
    if let Err(e) = state.schemas.validate("user_update", &body) {
        let mut errors = words::schema_errors(&e, 0);
        if errors.has("roles") || body["roles"].as_array().is_some_and(|r| r.len() > 64) {
            errors = FieldErrors::default();
            errors.push(
                "roles",
                "Use letters, digits, dots, dashes, underscores or colons, separated by spaces.",
            );
        }
        return user_page(&state, &admin, &user, StatusCode::BAD_REQUEST, |v| {
            typed(v);
            v.errors = errors;
        })
        .await;
    }
    let value = |v: &Value| v.as_str().map(str::to_owned);
    let changes = ProfileChanges {
        first_name: Some(value(&body["first_name"])),
        last_name: Some(value(&body["last_name"])),
        email: Some(value(&body["email"])),
        phone: Some(value(&body["phone"])),
        roles: Some(roles),
        ..ProfileChanges::default()
    };
    let result = state
        .tessera
        .accounts()
        .update_user(&admin.caller(), &user.username, changes, &client)
        .await
        .map(Some);
    after(&state, &admin, &user, result, "Saved.", "password").await
}

/// `POST /console/users/{username}/password` — sets a password; every
/// session of the user ends.
pub async fn set_password(
    State(state): State<AppState>,
    Client(client): Client,
    Path(username): Path<String>,
    AdminForm { admin, form }: AdminForm,
) -> Response {
    let user = match acting(&state, &admin, &form, &username, "password", &client).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let new = form.get("new_password").unwrap_or_default();
    let min = state.tessera.settings().password_min_length;
    if let Err(e) = state
        .schemas
        .validate("password_change", &json!({"new_password": new}))
    {
        let errors = words::schema_errors(&e, min);
        return user_page(&state, &admin, &user, StatusCode::BAD_REQUEST, |v| {
            v.errors = errors
        })
        .await;
    }
    // An administrator setting their own password here still gives the
    // current one, as anywhere else.
    let current = form.get("current_password");
    let result = state
        .tessera
        .accounts()
        .change_password(&admin.caller(), &user.username, current, new, &client)
        .await
        .map(|()| None);
    after(
        &state,
        &admin,
        &user,
        result,
        "Password set; every session of theirs ended.",
        "new_password",
    )
    .await
}

/// `POST /console/users/{username}/sessions/end` — signs one session out.
pub async fn end_session(
    State(state): State<AppState>,
    Client(client): Client,
    Path(username): Path<String>,
    AdminForm { admin, form }: AdminForm,
) -> Response {
    let user = match acting(&state, &admin, &form, &username, "sessions/end", &client).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let id = form.get("session").and_then(|s| Uuid::parse_str(s).ok());
    let result = match id {
        Some(id) => {
            match state
                .tessera
                .sessions()
                .delete_session(&admin.caller(), id, &client)
                .await
            {
                Ok(()) | Err(Error::NotFound) => Ok(None),
                Err(e) => Err(e),
            }
        }
        None => Ok(None),
    };
    after(&state, &admin, &user, result, "Signed out.", "password").await
}

/// `POST /console/users/{username}/disable` — after confirming; their
/// sessions and tokens end at once.
pub async fn disable(
    State(state): State<AppState>,
    Client(client): Client,
    Path(username): Path<String>,
    AdminForm { admin, form }: AdminForm,
) -> Response {
    set_disabled(state, client, username, admin, form, true).await
}

/// `POST /console/users/{username}/enable`
pub async fn enable(
    State(state): State<AppState>,
    Client(client): Client,
    Path(username): Path<String>,
    AdminForm { admin, form }: AdminForm,
) -> Response {
    set_disabled(state, client, username, admin, form, false).await
}

async fn set_disabled(
    state: AppState,
    client: ClientInfo,
    username: String,
    admin: Person,
    form: crate::routes::oauth::OAuthForm,
    disabled: bool,
) -> Response {
    let path = format!("{}/disable", user_path(&username));
    if disabled && form.get("confirmed") != Some("yes") {
        let text = format!(
            "{username} can no longer sign in, and every session and token of theirs ends at once."
        );
        return account::confirm(
            &state.site,
            nav(&admin, "users"),
            &Confirmation {
                heading: &format!("Disable {username}?"),
                text: &text,
                action: &path,
                fields: &[],
                button: "Disable",
                back: &user_path(&username),
            },
        );
    }
    let action = if disabled { "disable" } else { "enable" };
    let user = match acting(&state, &admin, &form, &username, action, &client).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let changes = ProfileChanges {
        disabled: Some(disabled),
        ..ProfileChanges::default()
    };
    let result = state
        .tessera
        .accounts()
        .update_user(&admin.caller(), &user.username, changes, &client)
        .await
        .map(Some);
    let notice = if disabled { "Disabled." } else { "Enabled." };
    after(&state, &admin, &user, result, notice, "password").await
}

/// `POST /console/users/{username}/factors/reset` — after confirming:
/// every second factor and recovery code of the user is removed.
pub async fn reset_factors(
    State(state): State<AppState>,
    Client(client): Client,
    Path(username): Path<String>,
    AdminForm { admin, form }: AdminForm,
) -> Response {
    let path = format!("{}/factors/reset", user_path(&username));
    if form.get("confirmed") != Some("yes") {
        let text = format!(
            "{username}'s authenticator apps and recovery codes are removed: they sign in with \
             their password alone until they set up two-step verification again."
        );
        return account::confirm(
            &state.site,
            nav(&admin, "users"),
            &Confirmation {
                heading: &format!("Reset {username}'s two-step verification?"),
                text: &text,
                action: &path,
                fields: &[],
                button: "Reset",
                back: &user_path(&username),
            },
        );
    }
    let user = match acting(&state, &admin, &form, &username, "factors/reset", &client).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let result = state
        .tessera
        .factors()
        .reset(Some(&admin.caller()), &user.username, &client)
        .await
        .map(|_| None);
    after(
        &state,
        &admin,
        &user,
        result,
        "Two-step verification reset.",
        "password",
    )
    .await
}

/// `POST /console/users/{username}/delete` — after confirming.
pub async fn delete(
    State(state): State<AppState>,
    Client(client): Client,
    Path(username): Path<String>,
    AdminForm { admin, form }: AdminForm,
) -> Response {
    let path = format!("{}/delete", user_path(&username));
    if form.get("confirmed") != Some("yes") {
        let text = format!(
            "{username}'s account is deleted for good, with every session and token of theirs. \
             The audit log keeps what they did."
        );
        return account::confirm(
            &state.site,
            nav(&admin, "users"),
            &Confirmation {
                heading: &format!("Delete {username}?"),
                text: &text,
                action: &path,
                fields: &[],
                button: "Delete",
                back: &user_path(&username),
            },
        );
    }
    let user = match acting(&state, &admin, &form, &username, "delete", &client).await {
        Ok(u) => u,
        Err(page) => return page,
    };
    match state
        .tessera
        .accounts()
        .delete_user(Some(&admin.caller()), &user.username, &client)
        .await
    {
        Ok(_) if user.id == admin.user.id => see_other("/login"),
        Ok(_) => see_other("/console/users"),
        Err(e) => after(&state, &admin, &user, Err(e), "", "password").await,
    }
}
