//! Conformance of the token layer against test vectors nobody on this project
//! wrote: Project Wycheproof (C2SP) and the JOSE cookbook (RFC 7520, RFC 8037),
//! kept in `tests/vectors/` with their licences (see its README.md). This
//! binary is `tests/conformance/` because `tests/vectors/` is that data folder.
//!
//! * JWS cases (`jws.rs`) go through
//!   [`verify_jws`](tessera_token::tokens::verify_jws): the rules
//!   `verify_access_token` applies to every JWS (strict compact parsing, `alg`
//!   pinned by the key the `kid` names, `none` and unsupported algorithms
//!   refused, `crit` refused, embedded `jwk`/`jku` never used) and the
//!   signature, with the test group's key imported as Tessera imports keys.
//!   Access-token rules (`typ`, claims) do not apply to these vectors; every
//!   case is also run through `verify_access_token`, which must refuse all of
//!   them.
//! * JWK cases (`jwk.rs`) import each key through `PublicJwk::verifying_key`,
//!   the strict import the `[PublicJwk]` key source uses.
//! * Primitive vectors (`primitives.rs`) check the crypto path Tessera
//!   verifies with: a `DecodingKey` from key components and
//!   `jsonwebtoken::crypto::verify`.
//! * The JOSE cookbook examples (`cookbook.rs`) verify, or are refused for an
//!   algorithm Tessera does not support.
//!
//! Wherever Tessera's answer differs from the vector's, the case is listed
//! with its reason in a deviation table, and each test asserts that the
//! deviations that happened are exactly the listed ones (`support.rs` judges).
//!
//! The folder is part of the repository, so a missing file fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod cookbook;
mod jwk;
mod jws;
mod primitives;
