//! `/console/audit` (filter by actor, subject, action and time, a page at a
//! time) and `/console/events` (the live stream of `/events` in the page:
//! the one page with a script, served by Tessera).

use super::users::audit_line;
use super::{Admin, nav};
use crate::browser::{encode, page_failure};
use crate::extract::Query;
use crate::pages::console::{self, AuditSearch};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_core::Error;
use tessera_core::store::AuditQuery;

/// Entries per page.
const PAGE: u32 = 50;

/// The filters' query string.
#[derive(Debug, Default, Deserialize)]
pub struct AuditFilters {
    actor: Option<String>,
    subject: Option<String>,
    user: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
}

/// `2026-12-05T09:30` (a `datetime-local` input, read as UTC) or RFC 3339
/// as epoch milliseconds.
fn moment(text: &str) -> Option<i64> {
    let text = text.trim();
    let full = if text.len() == 16 {
        format!("{text}:00Z")
    } else {
        text.to_owned()
    };
    let parsed =
        time::OffsetDateTime::parse(&full, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

fn given(field: &Option<String>) -> Option<String> {
    field
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// `GET /console/audit?actor=&subject=&action=&since=&until=&cursor=`
pub async fn audit(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Query(filters): Query<AuditFilters>,
) -> Response {
    let mut search = AuditSearch {
        actor: given(&filters.actor).unwrap_or_default(),
        subject: given(&filters.subject).unwrap_or_default(),
        user: given(&filters.user).unwrap_or_default(),
        action: given(&filters.action).unwrap_or_default(),
        since: given(&filters.since).unwrap_or_default(),
        until: given(&filters.until).unwrap_or_default(),
        ..AuditSearch::default()
    };
    let mut problems = Vec::new();
    let mut time = |text: &str, what: &str| match text {
        "" => None,
        t => moment(t).or_else(|| {
            problems.push(format!("The {what} time is not a date and time."));
            None
        }),
    };
    let since = time(&search.since, "from");
    let until = time(&search.until, "until");
    let before_id = match filters.cursor.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) if id > 0 => Some(id),
        Some(_) => {
            problems.push("That page link is no longer valid.".to_owned());
            None
        }
    };
    if !problems.is_empty() {
        search.problem = Some(problems.join(" "));
        return console::audit(
            &state.site,
            StatusCode::BAD_REQUEST,
            nav(&admin, "audit"),
            &search,
        );
    }
    let query = AuditQuery {
        user: given(&filters.user),
        actor: given(&filters.actor),
        subject: given(&filters.subject),
        event: given(&filters.action),
        since,
        until,
        before_id,
        limit: PAGE + 1,
    };
    let mut entries = match state.tessera.audit_log(&query).await {
        Ok(e) => e,
        Err(Error::Validation { .. }) => {
            search.problem = Some("A filter holds a character that cannot be searched for.".into());
            return console::audit(
                &state.site,
                StatusCode::BAD_REQUEST,
                nav(&admin, "audit"),
                &search,
            );
        }
        Err(e) => return page_failure(&state.site, &e),
    };
    if entries.len() > PAGE as usize {
        entries.truncate(PAGE as usize);
        if let Some(last) = entries.last() {
            search.next = Some(format!(
                "/console/audit?{}",
                encode(&[
                    ("actor", &search.actor),
                    ("subject", &search.subject),
                    ("user", &search.user),
                    ("action", &search.action),
                    ("since", &search.since),
                    ("until", &search.until),
                    ("cursor", &last.id.to_string()),
                ])
            ));
        }
    }
    search.entries = entries.into_iter().map(audit_line).collect();
    console::audit(&state.site, StatusCode::OK, nav(&admin, "audit"), &search)
}

/// `GET /console/events` — the live stream, shown as it comes by
/// `/assets/console-events.js` with an access token of this browser's own
/// session (which ends with it).
pub async fn events(State(state): State<AppState>, Admin(admin): Admin) -> Response {
    match state
        .tessera
        .sso()
        .browser_access_token(&admin.browser, &admin.user)
        .await
    {
        Ok(token) => console::events(&state.site, nav(&admin, "events"), Some(&token)),
        Err(Error::NotFound) => console::events(&state.site, nav(&admin, "events"), None),
        Err(e) => page_failure(&state.site, &e),
    }
}
