//! Tessera's domain: accounts, passwords, sessions, OAuth clients and
//! grants, signing-key lifecycle, the audit log and the event stream, with
//! their storage — and no HTTP in it, so the same operations serve the API
//! and the CLI. Tokens themselves (parsing, policy, keys, revocation) are
//! the `tessera-token` crate's.
//!
//! # Layout
//!
//! - [`service`]: [`Tessera`], the operations (register, login, refresh, logout, users, keys, OAuth, SSO).
//! - [`settings`]: the domain's configuration ([`Settings`]).
//! - [`password`]: the password policy, the common-password list, Argon2id hashing.
//! - [`store`]: the [`store::Store`] trait and its SQLite and PostgreSQL backends.
//! - [`model`]: users, sessions, roles.
//! - [`oauth`]: OAuth 2.0 / OpenID Connect clients, grants, scopes, PKCE, errors, ID-token claims.
//! - [`audit`]: the audit records, one variant per auth event, and the stream event each implies.
//! - [`events`]: the stream events the domain records.
//! - [`mail`]: the letters the domain sends, and the postbox they go to.
//! - [`error`]: the domain's error type.
//! - [`secret`]: [`secret::SecretString`] for passwords, tokens and hashes in memory.
//! - [`duration`], [`crypto`]: duration parsing, sealing a secret under another.
//!
//! # Features
//!
//! - `testing`: fresh test databases for this workspace's test suites.

pub mod audit;
pub mod crypto;
pub mod duration;
pub mod error;
pub mod events;
pub mod mail;
pub mod mfa;
pub mod model;
pub mod oauth;
pub mod password;
pub mod secret;
pub mod service;
pub mod settings;
pub mod store;

pub use error::{Error, Result};
pub use service::{Caller, ClientInfo, Tessera};
pub use settings::Settings;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
