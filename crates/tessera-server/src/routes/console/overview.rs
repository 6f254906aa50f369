//! `/console` (counts, the sign-ins of the last day, the keys) and
//! `/console/keys` (their states; rotate now, after confirming).

use super::{Admin, AdminForm, nav, recent_sign_in};
use crate::browser::page_failure;
use crate::extract::Client;
use crate::pages::account::{self, Confirmation};
use crate::pages::console::{self, KeyLine, OverviewView};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use tessera_core::Error;
use tessera_core::service::KeyInfo;
use tessera_token::clock::rfc3339;
use tessera_token::keys::{KeyPurpose, KeyStatus};

/// The keys as the console shows them, newest first.
fn key_lines(mut keys: Vec<KeyInfo>) -> Vec<KeyLine> {
    keys.sort_by_key(|k| std::cmp::Reverse(k.activates_at));
    keys.into_iter()
        .map(|k| KeyLine {
            kid: k.kid,
            alg: k.alg,
            purpose: match k.purpose {
                KeyPurpose::Access => "access tokens",
                KeyPurpose::IdToken => "ID tokens",
            },
            status: match k.status {
                KeyStatus::Next => "next",
                KeyStatus::Active => "active",
                KeyStatus::Retiring => "retiring",
                KeyStatus::Retired => "retired",
            },
            activates: account::when(&rfc3339(k.activates_at)),
            retires: k.retire_after.map(|at| account::when(&rfc3339(at))),
        })
        .collect()
}

/// When the access-token key rotates next, in words.
fn next_rotation(state: &AppState, keys: &[KeyInfo]) -> String {
    let settings = state.tessera.settings();
    let Some(period) = settings.key_rotation else {
        return "Automatic rotation is off.".to_owned();
    };
    if tessera_token::keys::is_hmac(settings.alg) {
        return "HMAC keys rotate when TESSERA_JWT_SECRET changes.".to_owned();
    }
    let active = keys
        .iter()
        .filter(|k| k.purpose == KeyPurpose::Access && k.status == KeyStatus::Active)
        .map(|k| k.activates_at)
        .max();
    match active {
        Some(at) => format!(
            "The next automatic rotation is due {}.",
            account::when(&rfc3339(at + period.as_millis() as i64))
        ),
        None => "No access-token key is active yet.".to_owned(),
    }
}

/// `GET /console`
pub async fn overview(State(state): State<AppState>, Admin(admin): Admin) -> Response {
    let keys = match state.tessera.keys().list_keys().await {
        Ok(keys) => keys,
        Err(e) => return page_failure(&state.site, &e),
    };
    let next_rotation = next_rotation(&state, &keys);
    let overview = match state.tessera.overview().await {
        Ok(o) => o,
        Err(e) => return page_failure(&state.site, &e),
    };
    let hours: Vec<(String, i64, i64)> = overview
        .sign_ins
        .iter()
        .map(|h| (rfc3339(h.start)[11..16].to_owned(), h.succeeded, h.failed))
        .collect();
    let (bars, peak) = console::bars(&hours, 480, 110);
    let view = OverviewView {
        users: overview.users,
        live_sessions: overview.live_sessions,
        succeeded: overview.sign_ins.iter().map(|h| h.succeeded).sum(),
        failed: overview.sign_ins.iter().map(|h| h.failed).sum(),
        bars,
        peak,
        keys: key_lines(keys)
            .into_iter()
            .filter(|k| k.status != "retired")
            .collect(),
        next_rotation,
    };
    console::overview(&state.site, nav(&admin, "console"), &view)
}

/// The keys page, with `notice`.
async fn keys_page(
    state: &AppState,
    admin: &crate::browser::Person,
    notice: Option<&str>,
) -> Response {
    let keys = match state.tessera.keys().list_keys().await {
        Ok(keys) => keys,
        Err(e) => return page_failure(&state.site, &e),
    };
    let next_rotation = next_rotation(state, &keys);
    console::keys(
        &state.site,
        nav(admin, "keys"),
        &key_lines(keys),
        &next_rotation,
        notice,
    )
}

/// `GET /console/keys`
pub async fn keys(State(state): State<AppState>, Admin(admin): Admin) -> Response {
    keys_page(&state, &admin, None).await
}

/// `POST /console/keys/rotate` — after confirming: a new key signs from now
/// on; the old one verifies until its tokens have expired.
pub async fn rotate(
    State(state): State<AppState>,
    Client(client): Client,
    AdminForm { admin, form }: AdminForm,
) -> Response {
    if form.get("confirmed") != Some("yes") {
        return account::confirm(
            &state.site,
            nav(&admin, "keys"),
            &Confirmation {
                heading: "Rotate the signing key now?",
                text: "A new key signs access tokens from now on. Tokens signed with the \
                       current key stay valid until they expire; services that cache the \
                       keys fetch the new one when they first meet it.",
                action: "/console/keys/rotate",
                fields: &[],
                button: "Rotate now",
                back: "/console/keys",
            },
        );
    }
    if let Err(page) = recent_sign_in(&state, &admin, &form, "/console/keys/rotate", &client).await
    {
        return page;
    }
    match state.tessera.keys().rotate_keys(Some(admin.user.id)).await {
        Ok(kid) => {
            keys_page(
                &state,
                &admin,
                Some(&format!("Rotated: {kid} signs from now on.")),
            )
            .await
        }
        Err(Error::KeyRotationUnavailable) => {
            keys_page(
                &state,
                &admin,
                Some("HMAC keys cannot rotate here: change TESSERA_JWT_SECRET."),
            )
            .await
        }
        Err(e) => page_failure(&state.site, &e),
    }
}
