//! Tessera's token layer: everything needed to issue and to verify Tessera's
//! access tokens, and nothing that needs a database, an async runtime or
//! HTTP. The server's domain (`tessera-core`) signs and verifies with it; a
//! relying service (`tessera-verify`) and `tessera token verify` verify with
//! it alone, so the compiler keeps them from reaching a database.
//!
//! # Layout
//!
//! - [`tokens`]: access-token claims, signing, and the full verification
//!   policy of SPEC §5 (RFC 8725, RFC 9068) in order.
//! - [`jws`]: strict compact-JWS parsing that runs before any key is touched.
//! - [`keys`]: key generation per algorithm, parsed key pairs, public JWKs,
//!   RFC 7638 key ids, and the [`keys::KeyRing`] (which key signs, which verify).
//! - [`revocation`]: the in-memory set of revoked sessions, tokens and users.
//! - [`verified_cache`]: tokens already verified, so a repeat skips the
//!   signature check but never the expiry, revocation and key checks.
//! - [`events`]: the live event stream's frames and who may see each.
//! - [`clock`]: injected time, so expiry is tested without sleeping.
//! - [`crypto`]: randomness, SHA-256, strict base64url, constant-time comparison.

pub mod clock;
pub mod crypto;
pub mod events;
pub mod jws;
pub mod keys;
pub mod revocation;
pub mod tokens;
pub mod verified_cache;
