//! protected-api: an axum service whose routes only callers with a valid
//! Tessera access token reach. The protection is [`app`]'s last line; the
//! verifier is built in [`verifier`] from [`Config`].
//!
//! # Layout
//!
//! - [`Config`]: what the environment says (`TESSERA_URL`, the event
//!   stream's account, the listen address).
//! - [`verifier`]: the [`Verifier`] for that Tessera.
//! - [`app`]: the routes, behind [`VerifyLayer`].

use axum::routing::get;
use axum::{Json, Router};
use std::time::Duration;
use tessera_verify::{BuildError, PasswordLogin, Verified, Verifier, VerifyLayer};

/// The service's configuration.
#[derive(Clone)]
pub struct Config {
    /// `TESSERA_URL`: Tessera's address, which is also its issuer
    /// (default `http://127.0.0.1:8080`).
    pub tessera_url: String,
    /// `TESSERA_EVENTS_USERNAME` and `TESSERA_EVENTS_PASSWORD`: an admin
    /// account for the event stream, so logouts and revocations apply at
    /// once. Without them tokens stay valid until they expire.
    pub events_account: Option<(String, String)>,
    /// `PROTECTED_API_BIND` (default `127.0.0.1:3000`).
    pub bind: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("tessera_url", &self.tessera_url)
            .field(
                "events_account",
                &self.events_account.as_ref().map(|a| &a.0),
            )
            .field("bind", &self.bind)
            .finish()
    }
}

impl Config {
    /// Reads the configuration through `lookup` (e.g. `std::env::var`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Config {
        Config {
            tessera_url: lookup("TESSERA_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into()),
            events_account: lookup("TESSERA_EVENTS_USERNAME")
                .zip(lookup("TESSERA_EVENTS_PASSWORD")),
            bind: lookup("PROTECTED_API_BIND").unwrap_or_else(|| "127.0.0.1:3000".into()),
        }
    }
}

/// The verifier for the configured Tessera; with an events account, it
/// follows revocations and refuses everything after a minute without them.
pub fn verifier(config: &Config) -> Result<Verifier, BuildError> {
    let mut builder = Verifier::builder(&config.tessera_url);
    if let Some((username, password)) = &config.events_account {
        builder = builder
            .events(PasswordLogin::new(&config.tessera_url, username, password))
            .fail_closed_after(Duration::from_secs(60));
    }
    builder.build()
}

/// The routes, all behind the verifier.
pub fn app(verifier: Verifier) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .layer(VerifyLayer::new(verifier))
}

/// `GET /hello`: the caller's username.
async fn hello(Verified(claims): Verified) -> Json<serde_json::Value> {
    let username = claims.username.unwrap_or(claims.sub);
    Json(serde_json::json!({ "username": username }))
}
