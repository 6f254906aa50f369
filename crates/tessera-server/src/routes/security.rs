//! A person's security page, `/account/security`: their authenticator apps
//! (set one up with a QR code and a code from it, remove one) and passkeys
//! (added with the page's script), their
//! recovery codes (how many are left, a new set) and their recent security
//! events. Every change asks for the current password, as the API does, and
//! goes through the same domain operations.

use crate::browser::{Person, PersonForm, page_failure};
use crate::error::{ApiError, ApiResult};
use crate::extract::Client;
use crate::pages::account;
use crate::pages::security::{self, EventLine, FactorLine, Security, TotpSetup, qr_svg};
use crate::pages::{FieldErrors, words};
use crate::routes::account::nav;
use crate::routes::no_store;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use tessera_core::Error;
use tessera_core::mfa::FactorKind;
use tessera_core::secret::ExposeSecret;
use tessera_core::store::AuditQuery;
use tessera_token::clock::rfc3339;
use uuid::Uuid;

/// How many of a person's security events the page shows.
const RECENT_EVENTS: u32 = 30;

/// The words for a wrong current password.
const WRONG_PASSWORD: &str = "That is not your current password.";

/// `GET /account/security`
pub async fn security(State(state): State<AppState>, person: Person) -> Response {
    security_page(
        &state,
        &person,
        StatusCode::OK,
        None,
        &FieldErrors::default(),
    )
    .await
}

/// The security page with `notice` and the refusals `errors` holds.
async fn security_page(
    state: &AppState,
    person: &Person,
    status: StatusCode,
    notice: Option<&str>,
    errors: &FieldErrors,
) -> Response {
    let list = match state.tessera.factors().list(person.user.id).await {
        Ok(list) => list,
        Err(e) => return page_failure(&state.site, &e),
    };
    let factors: Vec<FactorLine> = list
        .factors
        .into_iter()
        .map(|f| FactorLine {
            id: f.id.to_string(),
            name: f.name,
            kind: match f.kind {
                FactorKind::Totp => "authenticator app",
                FactorKind::Passkey => "passkey",
            },
            added: account::when(&rfc3339(f.created_at)),
            last_used: f
                .last_used_at
                .map_or_else(|| "never".to_owned(), |t| account::when(&rfc3339(t))),
        })
        .collect();
    let events = match recent_events(state, person).await {
        Ok(events) => events,
        Err(e) => return page_failure(&state.site, &e),
    };
    security::security(
        &state.site,
        status,
        nav(person, "security"),
        &Security {
            factors: &factors,
            codes_left: list.recovery_codes_left,
            events: &events,
            notice,
            errors,
            passkeys: state.tessera.passkeys().available(),
            email: person
                .user
                .email
                .as_deref()
                .map(|e| (e, person.user.email_verified)),
            mail: state.tessera.email().available(),
        },
    )
}

/// `POST /account/security/email`: sends the link that confirms the
/// person's address again (at most one mail a minute).
pub async fn resend_verification(
    State(state): State<AppState>,
    PersonForm { person, .. }: PersonForm,
) -> Response {
    match state
        .tessera
        .email()
        .resend_verification(&person.caller())
        .await
    {
        Ok(()) => {
            let notice =
                "A new link is on its way to your address. (We send one at most once a minute.)";
            security_page(
                &state,
                &person,
                StatusCode::OK,
                Some(notice),
                &FieldErrors::default(),
            )
            .await
        }
        Err(e) => page_failure(&state.site, &e),
    }
}

/// The person's recent security events: those naming them by id, and the
/// failed sign-ins naming them by username.
async fn recent_events(state: &AppState, person: &Person) -> Result<Vec<EventLine>, Error> {
    let mut entries = Vec::new();
    let mut names = vec![
        person.user.id.to_string(),
        person.user.username.clone(),
        person.user.username.to_lowercase(),
    ];
    names.dedup();
    for user in names {
        let query = AuditQuery {
            user: Some(user),
            limit: RECENT_EVENTS,
            ..AuditQuery::default()
        };
        entries.extend(state.tessera.audit_log(&query).await?);
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.id));
    entries.dedup_by_key(|e| e.id);
    entries.truncate(RECENT_EVENTS as usize);
    Ok(entries
        .into_iter()
        .map(|e| {
            let refused = e.outcome == "failure";
            let device = account::device(e.user_agent.as_deref());
            EventLine {
                what: account::event_words(&e.event, refused, e.detail.as_deref()),
                when: account::when(&rfc3339(e.at)),
                from: match e.ip {
                    Some(ip) => format!("{ip} · {device}"),
                    None => "Tessera itself".to_owned(),
                },
                refused,
            }
        })
        .collect())
}

/// The security page again after a refusal of the form whose password
/// field is `field`: a wrong password or a wait is said next to it.
async fn refused(state: &AppState, person: &Person, field: &str, e: Error) -> Response {
    let mut errors = FieldErrors::default();
    let status = match &e {
        Error::InvalidCredentials => {
            errors.push(field, WRONG_PASSWORD);
            StatusCode::UNAUTHORIZED
        }
        Error::TooManyAttempts { retry_after } => {
            errors.push(field, words::too_many_attempts(*retry_after));
            StatusCode::TOO_MANY_REQUESTS
        }
        Error::Validation { path, message } if path == "/name" => {
            errors.push("name", format!("The name is {message}."));
            StatusCode::BAD_REQUEST
        }
        _ => return page_failure(&state.site, &e),
    };
    security_page(state, person, status, None, &errors).await
}

/// The set-up page of an authenticator app.
fn setup_page(
    state: &AppState,
    person: &Person,
    status: StatusCode,
    setup: TotpSetup<'_>,
) -> Response {
    security::totp_setup(&state.site, status, nav(person, "security"), &setup)
}

/// `POST /account/security/totp` — starts setting up an authenticator app:
/// the QR code and the key, and the form for its first code.
pub async fn begin_totp(
    State(state): State<AppState>,
    Client(client): Client,
    PersonForm { person, form }: PersonForm,
) -> Response {
    let password = form.get("password").unwrap_or_default();
    let name = form
        .get("name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let result = state
        .tessera
        .factors()
        .begin_totp(&person.caller(), password, name, &client)
        .await;
    let enrolment = match result {
        Ok(enrolment) => enrolment,
        Err(e) => return refused(&state, &person, "add_password", e).await,
    };
    let uri = enrolment.secret.uri.expose_secret();
    let label = format!("QR code to add {} to your app", state.site.name);
    let Some(svg) = qr_svg(uri, &label) else {
        return page_failure(&state.site, &Error::Internal("QR code".into()));
    };
    let id = enrolment.factor.id.to_string();
    setup_page(
        &state,
        &person,
        StatusCode::OK,
        TotpSetup {
            factor_id: &id,
            name: &enrolment.factor.name,
            secret: enrolment.secret.base32.expose_secret(),
            uri,
            qr_svg: &svg,
            error: None,
        },
    )
}

/// `POST /account/security/totp/confirm` — turns the app on with a code
/// from it; the first factor's recovery codes are shown once.
pub async fn confirm_totp(
    State(state): State<AppState>,
    Client(client): Client,
    PersonForm { person, form }: PersonForm,
) -> Response {
    let Some(id) = form.get("factor").and_then(|f| Uuid::parse_str(f).ok()) else {
        return security_page(
            &state,
            &person,
            StatusCode::BAD_REQUEST,
            Some("That set-up is no longer open. Start again."),
            &FieldErrors::default(),
        )
        .await;
    };
    let code = form.get("code").unwrap_or_default();
    let result = state
        .tessera
        .factors()
        .confirm_totp(&person.caller(), id, code, &client)
        .await;
    match result {
        Ok(confirmed) => factor_added(&state, &person, confirmed, "Authenticator app added.").await,
        Err(Error::InvalidCode { .. }) => {
            // The page again, from what it carried (the key is already on
            // the person's screen; the code is checked against what is stored).
            let uri = form.get("uri").unwrap_or_default();
            let label = format!("QR code to add {} to your app", state.site.name);
            let svg = qr_svg(uri, &label).unwrap_or_default();
            let id = id.to_string();
            setup_page(
                &state,
                &person,
                StatusCode::BAD_REQUEST,
                TotpSetup {
                    factor_id: &id,
                    name: form.get("name").unwrap_or_default(),
                    secret: form.get("secret").unwrap_or_default(),
                    uri,
                    qr_svg: &svg,
                    error: Some(
                        "That code did not work. Enter the code the app shows now (it changes every 30 seconds).",
                    ),
                },
            )
        }
        Err(Error::NotFound) => {
            security_page(
                &state,
                &person,
                StatusCode::NOT_FOUND,
                Some("That set-up lapsed (it lasts 10 minutes). Start again."),
                &FieldErrors::default(),
            )
            .await
        }
        Err(e) => page_failure(&state.site, &e),
    }
}

/// After a factor was added: the first factor's recovery codes, shown once,
/// or the security page with `notice`.
async fn factor_added(
    state: &AppState,
    person: &Person,
    confirmed: tessera_core::service::Confirmed,
    notice: &str,
) -> Response {
    match confirmed.recovery_codes {
        Some(codes) => {
            let codes: Vec<&str> = codes.iter().map(|c| c.expose_secret()).collect();
            security::recovery_codes(&state.site, nav(person, "security"), &codes, true)
        }
        None => {
            security_page(
                state,
                person,
                StatusCode::OK,
                Some(notice),
                &FieldErrors::default(),
            )
            .await
        }
    }
}

/// `POST /account/security/factors/remove` — removes an app (with the
/// current password); the last one takes the recovery codes with it.
pub async fn remove_factor(
    State(state): State<AppState>,
    Client(client): Client,
    PersonForm { person, form }: PersonForm,
) -> Response {
    let Some(id) = form.get("factor").and_then(|f| Uuid::parse_str(f).ok()) else {
        return security(State(state), person).await;
    };
    let password = form.get("password").unwrap_or_default();
    let result = state
        .tessera
        .factors()
        .remove(&person.caller(), id, password, &client)
        .await;
    match result {
        Ok(()) => {
            security_page(
                &state,
                &person,
                StatusCode::OK,
                Some("Removed."),
                &FieldErrors::default(),
            )
            .await
        }
        Err(Error::NotFound) => security(State(state), person).await,
        Err(e) => refused(&state, &person, "remove_password", e).await,
    }
}

/// `POST /account/security/recovery-codes` — a new set of recovery codes
/// (with the current password), shown once; the old set stops working.
pub async fn regenerate_codes(
    State(state): State<AppState>,
    Client(client): Client,
    PersonForm { person, form }: PersonForm,
) -> Response {
    let password = form.get("password").unwrap_or_default();
    let result = state
        .tessera
        .factors()
        .regenerate_recovery_codes(&person.caller(), password, &client)
        .await;
    match result {
        Ok(codes) => {
            let codes: Vec<&str> = codes.iter().map(|c| c.expose_secret()).collect();
            security::recovery_codes(&state.site, nav(&person, "security"), &codes, false)
        }
        Err(Error::Forbidden(_)) => security(State(state), person).await,
        Err(e) => refused(&state, &person, "codes_password", e).await,
    }
}

/// `POST /account/security/passkey/options` — the WebAuthn options of
/// adding a passkey (with the current password), for the page's script.
pub async fn passkey_options(
    State(state): State<AppState>,
    Client(client): Client,
    PersonForm { person, form }: PersonForm,
) -> ApiResult<Response> {
    let password = form.get("password").unwrap_or_default();
    let options = state
        .tessera
        .passkeys()
        .registration_options(&person.caller(), Some(password), &client)
        .await
        .map_err(|e| match e {
            // Said in words the page shows as they are.
            Error::InvalidCredentials => ApiError::forbidden(WRONG_PASSWORD),
            other => ApiError::from(other),
        })?;
    Ok(no_store(Json(json!({ "options": options }))))
}

/// `POST /account/security/passkey` — adds the passkey the page's script
/// made; the first factor's recovery codes are shown once.
pub async fn add_passkey(
    State(state): State<AppState>,
    Client(client): Client,
    PersonForm { person, form }: PersonForm,
) -> Response {
    let name = form
        .get("name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let credential = form
        .get("credential")
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
        .unwrap_or_default();
    let result = state
        .tessera
        .passkeys()
        .register(&person.caller(), name, &credential, &client)
        .await;
    match result {
        Ok(confirmed) => factor_added(&state, &person, confirmed, "Passkey added.").await,
        Err(Error::Validation { .. }) => {
            let mut errors = FieldErrors::default();
            errors.push(
                "passkey",
                "The passkey could not be added (it may be here already, or the attempt took too long). Try again.",
            );
            security_page(&state, &person, StatusCode::BAD_REQUEST, None, &errors).await
        }
        Err(e) => refused(&state, &person, "add_password", e).await,
    }
}
