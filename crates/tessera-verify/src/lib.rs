//! Verify [Tessera](https://example.invalid/tessera)'s access tokens in a
//! relying service, with the same strictness as Tessera itself and without
//! calling it on each request.
//!
//! A [`Verifier`] fetches and caches Tessera's public keys (the JWKS,
//! honouring `Cache-Control: max-age`; a token naming an unknown key id
//! triggers at most one refetch per few seconds), verifies tokens with the
//! very function Tessera runs (SPEC §5: shape, key-pinned `alg`, `typ`
//! `at+jwt`, no `crit`, signature, `exp`/`nbf`/`iat` with leeway, `iss`,
//! `aud`, revocation), and — given a token to subscribe with — follows
//! Tessera's live `/events` stream, so a logout, a revoked session or
//! token, a deleted or disabled user or a role change refuses the affected
//! tokens within moments rather than at their expiry. [`VerifyLayer`] puts
//! it in front of any tower service; [`Verified`] hands the claims to an
//! axum handler.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tessera_verify::{ClientCredentials, Verified, Verifier, VerifyLayer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder("https://id.example.com")
//!     // An OAuth client with `events:read`, so the stream shows every user's events.
//!     .events(ClientCredentials::new("https://id.example.com", "client-id", "…"))
//!     .fail_closed_after(std::time::Duration::from_secs(60))
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/hello", get(|Verified(claims): Verified| async move {
//!         format!("hello, {}", claims.username.unwrap_or(claims.sub))
//!     }))
//!     .layer(VerifyLayer::new(verifier));
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - [`verifier`]: [`Verifier`], its builder, and [`VerifyError`].
//! - [`layer`]: [`VerifyLayer`], the tower middleware (401/503 with
//!   `WWW-Authenticate`).
//! - `extract` (feature `axum`, on by default): the [`Verified`] extractor.
//! - [`provider`]: [`TokenProvider`], where the event stream's token comes
//!   from ([`ClientCredentials`], [`PasswordLogin`], [`StaticToken`], or a closure).
//! - [`stream`]: the `/events` subscription task and its [`StreamState`].
//! - `jwks`: the key cache; `messages`: reading event frames; `backoff`:
//!   reconnection delays.
//!
//! The verification policy itself is not here: it is the `tessera-token`
//! crate, the same code the server verifies with. That crate has no
//! database, password hashing or server in its dependencies, so neither has
//! this one.
//!
//! # Revocations
//!
//! The verifier keeps `tessera-token`'s `RevocationSet`, fed by the stream:
//!
//! - `session.revoked` and `token.revoked` refuse that `sid` or `jti`
//!   until the `exp` the event gives (plus leeway);
//! - `user.deleted`, `roles.changed` and `user.updated` with `disabled`
//!   refuse the user's tokens minted before the change (the frame's `at`;
//!   from a server that sends none, the moment the event arrived).
//! - `key.rotated` fetches the new key at once, so tokens it signs never
//!   meet an unknown key id.
//!
//! The first connection asks for everything Tessera still keeps
//! (`since=0`, at least 24 hours), so revocations made before the service
//! started count too; later ones ask for what followed the last `seq`
//! received. If Tessera answers `replay.truncated` to a reconnection, some
//! events were lost: the verifier clears nothing and refuses nothing more,
//! but counts it in [`StreamState::replays_truncated`] and logs a warning.
//! That is safe while access tokens live shorter than Tessera keeps events
//! (15 minutes against 24 hours by default): any token a lost event
//! revoked was minted before it, and has expired since.
//!
//! Reconnection uses exponential backoff with jitter (500 ms to 30 s by
//! default). Without [`VerifierBuilder::fail_closed_after`] tokens keep
//! verifying on signature and claims while the stream is down; with it,
//! once the stream has been down longer than that, [`Verifier::verify`]
//! refuses everything with [`VerifyError::StreamDown`].
//!
//! # The stream's token
//!
//! Tessera shows a subscriber every user's events only if its token has the
//! `admin` role, or is an OAuth client's own `client_credentials` token with
//! the `events:read` scope (the recommended choice: no admin account in the
//! service's configuration); any other token sees only its own user's events. The [`TokenProvider`] is asked for a token to connect,
//! again a minute before that token expires (halfway through, for tokens
//! shorter than two minutes; the connection is extended in place with an
//! `auth` message, SPEC §9), and after Tessera refused one (close codes
//! 4401, 4001, 4403).
//!
//! # Transport
//!
//! HTTPS (reqwest) and `wss://` (tokio-tungstenite) both use rustls with
//! aws-lc-rs and no ring; `wss://` trusts the system's root certificates.
//! `HS*` deployments publish no keys, so they cannot be verified here.

pub mod layer;
pub mod provider;
pub mod stream;
pub mod verifier;

mod backoff;
#[cfg(feature = "axum")]
mod extract;
mod jwks;
mod messages;

#[cfg(feature = "axum")]
pub use extract::{NotVerified, Verified};
pub use layer::{VerifyLayer, VerifyService};
pub use provider::{BoxError, ClientCredentials, PasswordLogin, StaticToken, TokenProvider};
pub use stream::StreamState;
pub use tessera_token::tokens::{Audience, TokenError};
pub use verifier::{BuildError, Claims, Verifier, VerifierBuilder, VerifyError};
