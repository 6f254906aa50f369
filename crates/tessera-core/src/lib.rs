//! Tessera's domain: accounts, passwords, sessions, tokens and signing keys,
//! with no HTTP in it, so the same operations serve the API and the CLI.
//!
//! # Layout
//!
//! - [`service`]: [`Tessera`], the operations (register, login, refresh, logout, users, keys).
//! - [`settings`]: the domain's configuration ([`Settings`]).
//! - [`tokens`]: access-token claims, issuing and the full verification policy (RFC 8725).
//! - [`verified_cache`]: tokens already verified, so a repeat skips the signature
//!   check but never the expiry, revocation and key checks.
//! - [`jws`]: strict compact-JWS parsing that runs before any key is touched.
//! - [`keys`]: signing-key generation, JWKs, RFC 7638 key ids, the key ring.
//! - [`revocation`]: the in-memory set of revoked sessions, tokens and users.
//! - [`password`]: the password policy, the common-password list, Argon2id hashing.
//! - [`store`]: the [`store::Store`] trait and its SQLite and PostgreSQL backends.
//! - [`model`]: users, sessions, roles.
//! - [`oauth`]: OAuth 2.0 / OpenID Connect clients, grants, scopes, PKCE, errors, ID-token claims.
//! - [`error`]: the domain's error type.
//! - [`clock`], [`duration`], [`crypto`]: time, durations, small crypto helpers.
//! - [`events`]: the live event stream's events and who may see them.
//!
//! # Features
//!
//! - `server` (default): the service, the store, passwords and settings —
//!   everything that needs sqlx, argon2 or tokio. Without it only the token
//!   layer remains ([`clock`], [`crypto`], [`jws`], [`keys`], [`tokens`],
//!   [`verified_cache`], [`revocation`], [`model`], the pure part of
//!   [`events`]), which is what
//!   `tessera-verify` uses in a relying service.
//! - `testing`: fresh test databases for this workspace's test suites.

pub mod clock;
pub mod crypto;
pub mod duration;
#[cfg(feature = "server")]
pub mod error;
pub mod jws;
pub mod keys;
pub mod model;
#[cfg(feature = "server")]
pub mod oauth;
#[cfg(feature = "server")]
pub mod password;
pub mod revocation;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
pub mod settings;
#[cfg(feature = "server")]
pub mod store;
pub mod tokens;
pub mod verified_cache;

#[cfg(feature = "server")]
pub use error::{Error, Result};
#[cfg(feature = "server")]
pub use service::{Caller, ClientInfo, Tessera};
#[cfg(feature = "server")]
pub use settings::Settings;

pub mod events;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
