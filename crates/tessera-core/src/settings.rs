//! The domain's configuration: what the tokens say and how long things live.
//! The server parses these from the environment; tests build them directly.

use crate::password::HashCost;
use jsonwebtoken::Algorithm;
use std::time::Duration;

/// A shared secret's bytes; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(pub Vec<u8>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// At most `count` events per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// How many.
    pub count: u32,
    /// Per how long.
    pub per: Duration,
}

/// Who must sign in with a second factor (`TESSERA_MFA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MfaPolicy {
    /// Nobody must; anyone may.
    #[default]
    Optional,
    /// Administrators must.
    Admins,
    /// Everyone must.
    Everyone,
}

impl MfaPolicy {
    /// Whether the policy demands a second factor of a person holding `roles`.
    pub fn covers(self, roles: &[String]) -> bool {
        match self {
            MfaPolicy::Optional => false,
            MfaPolicy::Admins => roles.iter().any(|r| r == crate::model::ROLE_ADMIN),
            MfaPolicy::Everyone => true,
        }
    }

    /// The configuration value.
    pub fn as_str(self) -> &'static str {
        match self {
            MfaPolicy::Optional => "optional",
            MfaPolicy::Admins => "admins",
            MfaPolicy::Everyone => "everyone",
        }
    }
}

/// How Tessera issues and checks tokens and sessions.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `iss` claim (and OIDC issuer).
    pub issuer: String,
    /// The `aud` claim required in access tokens.
    pub audience: String,
    /// Signing algorithm.
    pub alg: Algorithm,
    /// The shared secret for `HS*` algorithms.
    pub hmac_secret: Option<SecretBytes>,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Refresh-token idle lifetime, extended by each rotation.
    pub refresh_ttl: Duration,
    /// Absolute session lifetime.
    pub session_max_age: Duration,
    /// Clock-skew tolerance for `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// Window in which a repeated refresh gets the same new refresh token.
    pub refresh_grace: Duration,
    /// Automatic key-rotation period (`None`: off).
    pub key_rotation: Option<Duration>,
    /// How long a new key is published before it signs.
    pub key_prepublish: Duration,
    /// Minimum password length in characters.
    pub password_min_length: usize,
    /// Whether self-registration is open.
    pub allow_registration: bool,
    /// Argon2id cost.
    pub hash_cost: HashCost,
    /// How many password hashes may run at once.
    pub hash_concurrency: usize,
    /// Failed logins per username before throttling (per client IP: four times this).
    pub login_max_failures: u32,
    /// The longest a throttled username or IP waits.
    pub lockout_max: Duration,
    /// Registrations allowed per client IP.
    pub registration_rate: RateLimit,
    /// 32-byte key sealing private signing keys at rest (`None`: stored in the clear).
    pub master_key: Option<SecretBytes>,
    /// How long audit entries are kept (`None`: forever).
    pub audit_retention: Option<Duration>,
    /// The deployment's name, as people see it (the issuer of TOTP factors).
    pub display_name: String,
    /// Who must sign in with a second factor.
    pub mfa_policy: MfaPolicy,
    /// The address people reach Tessera at (`TESSERA_PUBLIC_URL`; `None`:
    /// the issuer): the WebAuthn origin, its host the relying party id.
    pub public_url: Option<String>,
    /// Whether signing in needs a verified address (`TESSERA_REQUIRE_VERIFIED_EMAIL`).
    pub require_verified_email: bool,
    /// How long a password-reset link works (`TESSERA_RESET_TTL`).
    pub reset_ttl: Duration,
}

impl Settings {
    /// The documented defaults for an issuer.
    pub fn new(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        Settings {
            audience: issuer.clone(),
            issuer,
            alg: Algorithm::ES256,
            hmac_secret: None,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(14 * 86_400),
            session_max_age: Duration::from_secs(90 * 86_400),
            leeway: Duration::from_secs(60),
            refresh_grace: Duration::from_secs(10),
            key_rotation: Some(Duration::from_secs(30 * 86_400)),
            key_prepublish: Duration::from_secs(3_600),
            password_min_length: 12,
            allow_registration: true,
            hash_cost: HashCost::OWASP,
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            login_max_failures: 5,
            lockout_max: Duration::from_secs(15 * 60),
            registration_rate: RateLimit {
                count: 20,
                per: Duration::from_secs(60),
            },
            master_key: None,
            audit_retention: Some(Duration::from_secs(365 * 86_400)),
            display_name: "Tessera".to_owned(),
            mfa_policy: MfaPolicy::Optional,
            public_url: None,
            require_verified_email: false,
            reset_ttl: Duration::from_secs(30 * 60),
        }
    }

    /// The address people reach Tessera at: `public_url`, or the issuer.
    pub fn public_url(&self) -> &str {
        self.public_url.as_deref().unwrap_or(&self.issuer)
    }

    /// The longest an access token can be accepted after it was minted.
    pub fn token_lifetime_ms(&self) -> i64 {
        ms(self.access_ttl + self.leeway)
    }
}

/// A duration in milliseconds, saturating.
pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
