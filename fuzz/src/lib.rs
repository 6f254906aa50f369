//! Fixtures shared by the fuzz targets and the seed writer: fixed keys, a
//! fixed clock, the verification policy, a revocation set and the request
//! body schemas. Everything is built once per process (`OnceLock`).

use base64::Engine as _;
use jsonwebtoken::Algorithm;
use std::sync::{Arc, OnceLock};
use tessera_core::store::{Revocation, RevocationKind};
use tessera_server::schemas::Schemas;
use tessera_token::clock::Millis;
use tessera_token::keys::{KeyRing, SigningKey};
use tessera_token::revocation::RevocationSet;
use tessera_token::tokens::VerifyPolicy;

/// The fixed "now" every target verifies at (2023-11-14T22:13:20Z).
pub const NOW_MS: Millis = 1_700_000_000_000;
/// Issuer and audience of the fixed policy.
pub const ISSUER: &str = "https://id.test";
/// Audience of the fixed policy.
pub const AUDIENCE: &str = "https://api.test";
/// Leeway of the fixed policy.
pub const LEEWAY_SECS: i64 = 60;
/// A session id that is revoked in [`revocations`].
pub const REVOKED_SID: &str = "revoked-session";
/// A token id that is revoked in [`revocations`].
pub const REVOKED_JTI: &str = "revoked-jti";
/// The HS256 secret of the fixed HMAC key.
pub const HS256_SECRET: &[u8; 32] = b"tessera-fuzz-hs256-secret-32byte";
/// A P-256 private key, PKCS#8 DER in base64, generated once for fuzzing
/// only (it signs nothing outside `fuzz/`).
const ES256_PKCS8_B64: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUShWdqa2cbfQAOfqKhEmkD6U6eLxslEoJwsOd5HbDGChRANCAAS0wq5j10rzu3VENQh+Ht9565p55UL6FpS02xcxjSkaXHywQcOWSgboYFN/nb1XsNksFdFYDCSKLmPE7eI4/qlG";

/// The fixed keys: `(es256, hs256)`.
pub fn keys() -> &'static (Arc<SigningKey>, Arc<SigningKey>) {
    static KEYS: OnceLock<(Arc<SigningKey>, Arc<SigningKey>)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let der = base64::engine::general_purpose::STANDARD
            .decode(ES256_PKCS8_B64)
            .expect("fixed ES256 key is base64");
        let es = SigningKey::from_private_der(Algorithm::ES256, &der, 0, 1_000, 2)
            .expect("fixed ES256 key parses");
        let hs =
            SigningKey::from_hmac_secret(Algorithm::HS256, HS256_SECRET).expect("fixed HS256 key");
        (Arc::new(es), Arc::new(hs))
    })
}

/// A ring holding both fixed keys, both able to verify at [`NOW_MS`].
pub fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let (es, hs) = keys();
        KeyRing::new(vec![es.clone(), hs.clone()])
    })
}

/// The fixed verification policy.
pub fn policy() -> &'static VerifyPolicy {
    static POLICY: OnceLock<VerifyPolicy> = OnceLock::new();
    POLICY.get_or_init(|| VerifyPolicy {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        leeway_secs: LEEWAY_SECS,
        // Long enough that the superseded HS256 key still verifies at NOW_MS.
        token_lifetime_ms: i64::MAX / 2,
    })
}

/// A revocation set with one revoked session, one revoked token and one
/// user whose tokens minted before [`NOW_MS`] are revoked.
pub fn revocations() -> &'static RevocationSet {
    static REVS: OnceLock<RevocationSet> = OnceLock::new();
    REVS.get_or_init(|| {
        let set = RevocationSet::new();
        let expires_at = NOW_MS + 86_400_000;
        for (kind, subject, not_before) in [
            (RevocationKind::Session, REVOKED_SID, 0),
            (RevocationKind::Token, REVOKED_JTI, 0),
            (RevocationKind::User, "revoked-user", NOW_MS),
        ] {
            set.apply(&Revocation {
                kind,
                subject: subject.into(),
                not_before,
                expires_at,
            });
        }
        set
    })
}

/// The request-body schemas for the fixed issuer, 12-character minimum.
pub fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| Schemas::new(ISSUER, 12).expect("schemas compile"))
}

/// The schema names a body target chooses from (the last is unknown on purpose).
pub const SCHEMA_NAMES: [&str; 6] = [
    "register",
    "login",
    "refresh",
    "user_update",
    "password_change",
    "no_such_schema",
];

/// Every variable `Config::from_vars` reads, in the order the config
/// target assigns input lines to them (new ones go at the end, so existing
/// seeds keep their meaning).
pub const CONFIG_VARS: [&str; 29] = [
    "TESSERA_ACCESS_TTL",
    "TESSERA_REFRESH_TTL",
    "TESSERA_SESSION_MAX_AGE",
    "TESSERA_LEEWAY",
    "TESSERA_REFRESH_GRACE",
    "TESSERA_KEY_ROTATION",
    "TESSERA_KEY_PREPUBLISH",
    "TESSERA_LOCKOUT_MAX",
    "TESSERA_HEADER_TIMEOUT",
    "TESSERA_REQUEST_TIMEOUT",
    "TESSERA_BIND",
    "TESSERA_DATABASE_URL",
    "TESSERA_ISSUER",
    "TESSERA_AUDIENCE",
    "TESSERA_JWT_ALG",
    "TESSERA_JWT_SECRET",
    "TESSERA_MASTER_KEY",
    "TESSERA_TRUSTED_PROXIES",
    "TESSERA_LOGIN_MAX_FAILURES",
    "TESSERA_REGISTRATION_RATE",
    "TESSERA_ALLOW_REGISTRATION",
    "TESSERA_ADMIN_USERNAME",
    "TESSERA_ADMIN_PASSWORD",
    "TESSERA_PASSWORD_MIN_LENGTH",
    "TESSERA_CORS_ORIGINS",
    "TESSERA_LOG_FORMAT",
    "TESSERA_MAX_CONNECTIONS",
    "TESSERA_LOG",
    "TESSERA_AUDIT_RETENTION",
];
