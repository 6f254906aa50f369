//! What the pages load from Tessera itself (never from elsewhere): the
//! stylesheet and the icon, compiled into the binary.

use axum::response::{IntoResponse, Response};

/// The pages' stylesheet.
const STYLESHEET: &str = include_str!("../../templates/tessera.css");
/// The pages' icon.
const ICON: &str = include_str!("../../templates/tessera.svg");

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
