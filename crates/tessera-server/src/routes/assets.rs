//! What the pages load from Tessera itself (never from elsewhere): the
//! stylesheet, the icon, the console's live-events script and the passkey
//! buttons' script, compiled into the binary, and the deployment's logo.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// The pages' stylesheet.
const STYLESHEET: &str = include_str!("../../templates/tessera.css");
/// The pages' icon.
const ICON: &str = include_str!("../../templates/tessera.svg");
/// The console's live events page's script.
const CONSOLE_EVENTS: &str = include_str!("../../templates/console-events.js");
/// The passkey buttons' script (sign-in and security pages).
const PASSKEYS: &str = include_str!("../../templates/passkeys.js");

/// `body` as `content_type`, cached for a day.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            ("content-type", content_type),
            ("cache-control", "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// `GET /assets/tessera.css` — the pages' stylesheet.
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

/// `GET /assets/tessera.svg` — the pages' icon.
pub async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

/// `GET /assets/passkeys.js`
pub async fn passkeys() -> Response {
    asset("text/javascript; charset=utf-8", PASSKEYS)
}

/// `GET /assets/console-events.js`
pub async fn console_events() -> Response {
    asset("text/javascript; charset=utf-8", CONSOLE_EVENTS)
}

/// `GET /assets/logo` — the deployment's logo (`TESSERA_LOGO`). Its own CSP
/// keeps an SVG logo opened on its own from running anything.
pub async fn logo(State(state): State<AppState>) -> Response {
    let Some(logo) = &state.site.logo else {
        return ApiError::NotFound.into_response();
    };
    (
        [
            ("content-type", logo.content_type),
            ("cache-control", "public, max-age=86400"),
            (
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        logo.bytes.clone(),
    )
        .into_response()
}
