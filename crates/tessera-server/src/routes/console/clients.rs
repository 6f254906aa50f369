//! `/console/clients` (the list; register one, its secret shown once) and
//! `/console/clients/{client_id}` (edit its redirect URIs; delete it).

use super::{Admin, AdminForm, nav, recent_sign_in};
use crate::browser::{Person, page_failure, see_other};
use crate::extract::{Client, Path};
use crate::pages::account::{self, Confirmation};
use crate::pages::console::{self, ClientLine, ClientView, ClientsView};
use crate::pages::{FieldErrors, message};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use tessera_core::Error;
use tessera_core::oauth::{GrantType, OAuthClient};
use tessera_core::service::NewClient;
use tessera_token::clock::rfc3339;

fn line(c: &OAuthClient) -> ClientLine {
    ClientLine {
        client_id: c.client_id.clone(),
        name: c.name.clone(),
        kind: if c.confidential {
            "confidential"
        } else {
            "public"
        },
        grants: c
            .grant_types
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        scopes: c.scopes.join(" "),
        redirect_uris: c.redirect_uris.join("\n"),
        post_logout_redirect_uris: c.post_logout_redirect_uris.join("\n"),
        created: account::when(&rfc3339(c.created_at)),
    }
}

/// The lines of a textarea, trimmed, blank ones left out.
fn lines(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A refusal of the client form, by field, in words.
fn client_errors(e: &Error) -> Option<FieldErrors> {
    let Error::Validation { path, message } = e else {
        return None;
    };
    let field = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let words = match field {
        "redirect_uris" | "post_logout_redirect_uris" if message.contains("needs at least one") => {
            "The sign-in page needs at least one redirect URI.".to_owned()
        }
        "redirect_uris" | "post_logout_redirect_uris" => {
            format!("Each line must be an exact https URI (or http on localhost): {message}.")
        }
        "grant_types" => format!("Choose the grants again: {message}."),
        "scopes" => format!("Check the scopes: {message}."),
        "name" => "Give the client a name.".to_owned(),
        _ => message.clone(),
    };
    let mut errors = FieldErrors::default();
    errors.push(if field.is_empty() { "form" } else { field }, words);
    Some(errors)
}

/// The clients page with `edit` applied.
async fn clients_page(
    state: &AppState,
    admin: &Person,
    status: StatusCode,
    edit: impl FnOnce(&mut ClientsView),
) -> Response {
    let clients = match state.tessera.clients().clients().await {
        Ok(c) => c,
        Err(e) => return page_failure(&state.site, &e),
    };
    let mut view = ClientsView {
        clients: clients.iter().map(line).collect(),
        ..ClientsView::default()
    };
    edit(&mut view);
    console::clients(&state.site, status, nav(admin, "clients"), &view)
}

/// `GET /console/clients`
pub async fn list(State(state): State<AppState>, Admin(admin): Admin) -> Response {
    clients_page(&state, &admin, StatusCode::OK, |_| {}).await
}

/// `POST /console/clients` — registers a client under the API's rules; its
/// secret is shown this once.
pub async fn create(
    State(state): State<AppState>,
    Client(client): Client,
    AdminForm { admin, form }: AdminForm,
) -> Response {
    if let Err(page) = recent_sign_in(&state, &admin, &form, "/console/clients", &client).await {
        return page;
    }
    let typed: Vec<(String, String)> = form
        .pairs()
        .filter(|(n, _)| *n != "csrf_token" && *n != "reauth_password")
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let grants: Vec<&str> = [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "password",
    ]
    .into_iter()
    .filter(|g| form.get(&format!("grant_{g}")) == Some("yes"))
    .collect();
    let scopes: Vec<String> = form
        .get("scopes")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let body = json!({
        "name": form.get("name").unwrap_or_default().trim(),
        "redirect_uris": lines(form.get("redirect_uris")),
        "post_logout_redirect_uris": lines(form.get("post_logout_redirect_uris")),
        "grant_types": grants,
        "scopes": scopes,
        "confidential": form.get("confidential") == Some("yes"),
    });
    let refused = |errors: FieldErrors| {
        clients_page(&state, &admin, StatusCode::BAD_REQUEST, move |v| {
            v.typed = typed;
            v.errors = errors;
        })
    };
    // The API's schema first: its refusals name the field.
    if let Err(crate::error::ApiError::Validation { details, .. }) =
        state.schemas.validate("client_create", &body)
    {
        let mut errors = FieldErrors::default();
        for d in details {
            let e = Error::invalid(&d.path, d.message);
            if let Some(found) = client_errors(&e) {
                for (field, words) in found.messages() {
                    if !errors.has(field) {
                        errors.push(field, words);
                    }
                }
            }
        }
        return refused(errors).await;
    }
    let new = NewClient {
        name: body["name"].as_str().unwrap_or_default().to_owned(),
        redirect_uris: lines(form.get("redirect_uris")),
        post_logout_redirect_uris: lines(form.get("post_logout_redirect_uris")),
        grant_types: grants.iter().filter_map(|g| GrantType::parse(g)).collect(),
        scopes,
        confidential: form.get("confidential") == Some("yes"),
        id_token_alg: None,
    };
    match state
        .tessera
        .clients()
        .register_client(new, Some(admin.user.id), &client)
        .await
    {
        Ok((created, secret)) => {
            clients_page(&state, &admin, StatusCode::CREATED, |v| {
                v.created = Some((line(&created), secret));
            })
            .await
        }
        Err(e) => match client_errors(&e) {
            Some(errors) => refused(errors).await,
            None => page_failure(&state.site, &e),
        },
    }
}

/// The client `client_id`, or the page saying there is none.
async fn find(state: &AppState, client_id: &str) -> Result<OAuthClient, Response> {
    match state.tessera.clients().client(client_id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(message(
            &state.site,
            StatusCode::NOT_FOUND,
            "No such client",
            "There is no client with that id. It may have been deleted.",
        )),
        Err(e) => Err(page_failure(&state.site, &e)),
    }
}

/// `GET /console/clients/{client_id}`
pub async fn show(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(client_id): Path<String>,
) -> Response {
    match find(&state, &client_id).await {
        Ok(c) => console::client(
            &state.site,
            StatusCode::OK,
            nav(&admin, "clients"),
            &ClientView {
                client: line(&c),
                errors: FieldErrors::default(),
                notice: None,
            },
        ),
        Err(page) => page,
    }
}

/// `POST /console/clients/{client_id}/uris` — replaces its redirect URIs.
pub async fn save_uris(
    State(state): State<AppState>,
    Client(client): Client,
    Path(client_id): Path<String>,
    AdminForm { admin, form }: AdminForm,
) -> Response {
    let action = format!("/console/clients/{client_id}/uris");
    if let Err(page) = recent_sign_in(&state, &admin, &form, &action, &client).await {
        return page;
    }
    let current = match find(&state, &client_id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let (uris, after) = (
        lines(form.get("redirect_uris")),
        lines(form.get("post_logout_redirect_uris")),
    );
    match state
        .tessera
        .clients()
        .update_client(
            admin.user.id,
            &client_id,
            tessera_core::service::ClientUpdate {
                redirect_uris: Some(uris.clone()),
                post_logout_redirect_uris: Some(after.clone()),
                ..Default::default()
            },
            &client,
        )
        .await
    {
        Ok(updated) => console::client(
            &state.site,
            StatusCode::OK,
            nav(&admin, "clients"),
            &ClientView {
                client: line(&updated),
                errors: FieldErrors::default(),
                notice: Some("Saved.".into()),
            },
        ),
        Err(e) => match client_errors(&e) {
            Some(errors) => {
                let mut typed = line(&current);
                typed.redirect_uris = uris.join("\n");
                typed.post_logout_redirect_uris = after.join("\n");
                console::client(
                    &state.site,
                    StatusCode::BAD_REQUEST,
                    nav(&admin, "clients"),
                    &ClientView {
                        client: typed,
                        errors,
                        notice: None,
                    },
                )
            }
            None => page_failure(&state.site, &e),
        },
    }
}

/// `POST /console/clients/{client_id}/delete` — after confirming; every
/// session and token issued to it ends.
pub async fn delete(
    State(state): State<AppState>,
    Client(client): Client,
    Path(client_id): Path<String>,
    AdminForm { admin, form }: AdminForm,
) -> Response {
    let current = match find(&state, &client_id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let action = format!("/console/clients/{client_id}/delete");
    if form.get("confirmed") != Some("yes") {
        return confirm_delete(&state, &admin, &current, &action);
    }
    if let Err(page) = recent_sign_in(&state, &admin, &form, &action, &client).await {
        return page;
    }
    match state
        .tessera
        .clients()
        .delete_client(&client_id, Some(admin.user.id), &client)
        .await
    {
        Ok(_) | Err(Error::NotFound) => see_other("/console/clients"),
        Err(e) => page_failure(&state.site, &e),
    }
}

fn confirm_delete(
    state: &AppState,
    admin: &Person,
    current: &OAuthClient,
    action: &str,
) -> Response {
    let heading = format!("Delete {}?", current.name);
    let text = format!(
        "{} can no longer sign anyone in, and every session and token issued to it ends at once.",
        current.name
    );
    account::confirm(
        &state.site,
        nav(admin, "clients"),
        &Confirmation {
            heading: &heading,
            text: &text,
            action,
            fields: &[],
            button: "Delete",
            back: &format!("/console/clients/{}", current.client_id),
        },
    )
}
