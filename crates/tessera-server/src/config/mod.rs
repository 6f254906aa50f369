//! Configuration from the environment (SPEC §1). Every variable is
//! optional; a bad value stops the start with one line naming the variable.
//!
//! The variables are a derived struct (`vars.rs`: one field, one doc line
//! and one default each), read with figment from the environment (after
//! `.env`, which never overrides it); each kind of value parses its own text
//! (`values.rs`). What ties several variables together is checked here.

mod cidr;
mod values;
mod vars;

pub use cidr::Cidr;

use base64::Engine as _;
use figment::Figment;
use figment::providers::Serialized;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tessera_core::password::HashCost;
use tessera_core::secret::SecretString;
use tessera_core::settings::{SecretBytes, Settings};
use tessera_core::store::redact_url;
use tessera_token::keys::is_hmac;
use vars::Vars;

/// The prefix of every variable.
const PREFIX: &str = "TESSERA_";

/// A refused configuration value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The variable.
    pub var: String,
    /// What is wrong with it.
    pub message: String,
}

fn bad(var: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var: var.to_owned(),
        message: message.into(),
    }
}

/// The initial administrator to create at start-up.
#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    /// Username.
    pub username: String,
    /// Password (never printed).
    pub password: SecretString,
}

/// Everything the server reads from its environment.
#[derive(Clone)]
pub struct Config {
    /// Listen address.
    pub bind: SocketAddr,
    /// A separate address serving `/metrics` alone (`TESSERA_METRICS_BIND`).
    pub metrics_bind: Option<SocketAddr>,
    /// `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// Explicit issuer (default: `http://<bound address>`).
    pub issuer: Option<String>,
    /// Explicit audience (default: the issuer).
    pub audience: Option<String>,
    /// The domain settings except issuer and audience, which depend on the bound port.
    pub settings: Settings,
    /// 32-byte key that encrypts private signing keys at rest.
    pub master_key: Option<SecretBytes>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// The admin to create at start-up.
    pub admin: Option<BootstrapAdmin>,
    /// Connection limits (`TESSERA_MAX_CONNECTIONS`).
    pub limits: crate::listener::ConnectionLimits,
    /// The longest a request may take (`TESSERA_REQUEST_TIMEOUT`).
    pub request_timeout: Duration,
    /// Allowed browser origins.
    pub cors_origins: Vec<String>,
    /// Log filter.
    pub log: String,
    /// JSON log lines.
    pub log_json: bool,
    /// What the pages show of the deployment, and how they behave.
    pub site: crate::pages::Site,
    /// The relay and sender of mails (`None`: no mail is sent).
    pub mail: Option<crate::mail::MailConfig>,
    /// What to warn about at start-up: `TESSERA_*` variables Tessera does
    /// not know (a misspelt one is otherwise ignored without a word), and
    /// mail sent in the clear to another machine.
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("metrics_bind", &self.metrics_bind)
            .field("database_url", &redact_url(&self.database_url))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("settings", &self.settings)
            .field("master_key", &self.master_key)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("admin", &self.admin)
            .field("limits", &self.limits)
            .field("request_timeout", &self.request_timeout)
            .field("cors_origins", &self.cors_origins)
            .field("log", &self.log)
            .field("log_json", &self.log_json)
            .field("site", &self.site)
            .field("mail", &self.mail)
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl Config {
    /// Reads the process environment (after `.env`, which never overrides it).
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        // Variables that are not UTF-8 are nobody's configuration (and
        // `std::env::vars` would panic on them).
        Self::from_vars(std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        }))
    }

    /// Reads configuration from `vars`, name and value pairs as the
    /// environment holds them; names without the `TESSERA_` prefix are
    /// ignored, and so are blank values (but a password of spaces is one).
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<Self, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut set = BTreeMap::new();
        let mut unknown = Vec::new();
        let known = vars::known_names();
        for (name, value) in vars {
            let (name, value) = (name.as_ref(), value.as_ref());
            let Some(key) = name.strip_prefix(PREFIX) else {
                continue;
            };
            if !known.contains(&key.to_ascii_lowercase().as_str()) {
                unknown.push(Self::unknown_variable(name, known));
                continue;
            }
            let blank = if key == "ADMIN_PASSWORD" {
                value.is_empty()
            } else {
                value.trim().is_empty()
            };
            if !blank {
                set.insert(key.to_ascii_lowercase(), value.to_owned());
            }
        }
        let vars: Vars = Figment::from(Serialized::defaults(set))
            .extract()
            .map_err(|e| {
                let var = format!("{PREFIX}{}", e.path.join("_").to_ascii_uppercase());
                let message = match &e.kind {
                    figment::error::Kind::Message(message) => message.clone(),
                    other => other.to_string(),
                };
                ConfigError { var, message }
            })?;
        let mut config = Self::from_parsed(vars)?;
        unknown.sort();
        config.warnings.splice(0..0, unknown);
        Ok(config)
    }

    /// The warning for `name`, a `TESSERA_*` variable Tessera does not know,
    /// naming the closest one it does.
    fn unknown_variable(name: &str, known: &[&str]) -> String {
        let key = name.trim_start_matches(PREFIX).to_ascii_lowercase();
        let closest = known
            .iter()
            .map(|k| (strsim::damerau_levenshtein(&key, k), *k))
            .min()
            .filter(|(distance, _)| *distance <= 3);
        match closest {
            Some((_, k)) => format!(
                "{name} is not a Tessera variable and is ignored; did you mean {PREFIX}{}?",
                k.to_ascii_uppercase()
            ),
            None => format!("{name} is not a Tessera variable and is ignored"),
        }
    }

    /// The rules that tie several variables together, and the result.
    fn from_parsed(v: Vars) -> Result<Self, ConfigError> {
        let alg = v.jwt_alg.0;
        let hmac_secret = match &v.jwt_secret {
            Some(text) => Some(parse_secret(&text.0, alg)?),
            None if is_hmac(alg) => {
                return Err(bad(
                    "TESSERA_JWT_SECRET",
                    format!("required for {}", tessera_token::keys::alg_name(alg)),
                ));
            }
            None => None,
        };
        let key_rotation = v.key_rotation.0;
        let key_prepublish = v.key_prepublish.0;
        if let Some(period) = key_rotation
            && key_prepublish >= period
        {
            return Err(bad(
                "TESSERA_KEY_PREPUBLISH",
                "must be shorter than TESSERA_KEY_ROTATION",
            ));
        }
        let admin = match (v.admin_username, v.admin_password) {
            (Some(username), Some(password)) => {
                // Checked before anything is created: a refused bootstrap
                // admin must not leave a database and keys behind.
                if !tessera_core::model::is_valid_username(&username) {
                    return Err(bad(
                        "TESSERA_ADMIN_USERNAME",
                        "must be 3 to 32 letters, digits, dots, dashes or underscores",
                    ));
                }
                let policy = tessera_core::password::PasswordPolicy {
                    min_chars: v.password_min_length.0 as usize,
                };
                if let Err(problem) = policy.check(&username, &password.0) {
                    return Err(bad("TESSERA_ADMIN_PASSWORD", problem.to_string()));
                }
                Some(BootstrapAdmin {
                    username,
                    password: SecretString::from(password.0),
                })
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(bad(
                    "TESSERA_ADMIN_PASSWORD",
                    "required with TESSERA_ADMIN_USERNAME",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "TESSERA_ADMIN_USERNAME",
                    "required with TESSERA_ADMIN_PASSWORD",
                ));
            }
        };
        let warnings = Vec::new();
        let mail = match (v.smtp_url, v.mail_from) {
            (Some(relay), Some(from)) => {
                if relay.0.security == crate::mail::Security::None && !relay.0.is_local() {
                    return Err(bad(
                        "TESSERA_SMTP_URL",
                        format!(
                            "tls=none is only for a relay on this machine (localhost, 127.0.0.1, ::1), not {}: it would send mail and the relay's password in the clear",
                            relay.0.host
                        ),
                    ));
                }
                Some(crate::mail::MailConfig {
                    relay: relay.0,
                    from: from.0,
                })
            }
            (Some(_), None) => {
                return Err(bad(
                    "TESSERA_MAIL_FROM",
                    "required with TESSERA_SMTP_URL (for example \"Acme <login@acme.example>\")",
                ));
            }
            (None, Some(_)) => {
                return Err(bad("TESSERA_SMTP_URL", "required with TESSERA_MAIL_FROM"));
            }
            (None, None) => None,
        };
        if v.require_verified_email.0 && mail.is_none() {
            return Err(bad(
                "TESSERA_REQUIRE_VERIFIED_EMAIL",
                "needs mail: set TESSERA_SMTP_URL and TESSERA_MAIL_FROM, or nobody could verify an address",
            ));
        }
        let master_key = v.master_key.map(|k| k.0);
        let mut settings = Settings::new("");
        settings.alg = alg;
        settings.hmac_secret = hmac_secret;
        settings.access_ttl = v.access_ttl.0;
        settings.refresh_ttl = v.refresh_ttl.0;
        settings.session_max_age = v.session_max_age.0;
        settings.leeway = v.leeway.0;
        settings.refresh_grace = v.refresh_grace.0;
        settings.key_rotation = key_rotation;
        settings.key_prepublish = key_prepublish;
        settings.password_min_length = v.password_min_length.0 as usize;
        settings.allow_registration = v.allow_registration.0;
        settings.hash_cost = HashCost::OWASP;
        settings.login_max_failures = v.login_max_failures.0 as u32;
        settings.registration_rate = v.registration_rate.0;
        settings.lockout_max = v.lockout_max.0;
        settings.master_key = master_key.clone();
        settings.audit_retention = v.audit_retention.0;
        settings.display_name = v.display_name.0.clone();
        settings.mfa_policy = v.mfa.0;
        settings.public_url = v.public_url.map(|u| u.0);
        settings.reset_ttl = v.reset_ttl.0;
        settings.require_verified_email = v.require_verified_email.0;
        Ok(Config {
            bind: v.bind.0,
            metrics_bind: v.metrics_bind.map(|b| b.0),
            database_url: v.database_url.0,
            issuer: v.issuer.map(|i| i.0),
            audience: v.audience,
            settings,
            master_key,
            trusted_proxies: v.trusted_proxies.0,
            admin,
            limits: crate::listener::ConnectionLimits {
                max_connections: v.max_connections.0 as usize,
                header_read_timeout: v.header_timeout.0,
                ..Default::default()
            },
            request_timeout: v.request_timeout.0,
            cors_origins: v.cors_origins.0,
            log: v.log,
            log_json: v.log_format.json,
            site: crate::pages::Site {
                name: v.display_name.0,
                logo: v.logo.map(|l| l.0),
                console_reauth: v.console_reauth.0,
            },
            mail,
            warnings,
        })
    }

    /// The domain settings for the address actually bound.
    pub fn settings_for(&self, bound: SocketAddr) -> Settings {
        let issuer = self
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"));
        let mut settings = self.settings.clone();
        settings.audience = self.audience.clone().unwrap_or_else(|| issuer.clone());
        settings.issuer = issuer;
        settings
    }
}

/// The shortest HMAC secret: 32 bytes (SPEC), and never shorter than the
/// hash output (RFC 7518 §3.2: 48 bytes for HS384, 64 for HS512).
fn min_secret_len(alg: tessera_token::keys::Algorithm) -> usize {
    match alg {
        tessera_token::keys::Algorithm::HS384 => 48,
        tessera_token::keys::Algorithm::HS512 => 64,
        _ => 32,
    }
}

fn parse_secret(
    text: &str,
    alg: tessera_token::keys::Algorithm,
) -> Result<SecretBytes, ConfigError> {
    let bytes = match text.strip_prefix("base64:") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| bad("TESSERA_JWT_SECRET", "base64: value is not valid base64"))?,
        None => text.as_bytes().to_vec(),
    };
    let min = min_secret_len(alg);
    if bytes.len() < min {
        return Err(bad(
            "TESSERA_JWT_SECRET",
            format!(
                "must be at least {min} bytes for {}, got {}",
                tessera_token::keys::alg_name(alg),
                bytes.len()
            ),
        ));
    }
    Ok(SecretBytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::settings::RateLimit;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(vars.iter().copied())
    }

    #[test]
    fn zero_configuration_uses_the_documented_defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.database_url, "sqlite://tessera.db");
        assert_eq!(c.settings.access_ttl, Duration::from_secs(900));
        assert_eq!(c.settings.refresh_grace, Duration::from_secs(10));
        assert_eq!(c.settings.login_max_failures, 5);
        assert_eq!(c.settings.lockout_max, Duration::from_secs(900));
        assert_eq!(c.settings.hash_cost, HashCost::OWASP);
        assert_eq!(
            c.settings.registration_rate,
            RateLimit {
                count: 20,
                per: Duration::from_secs(60)
            }
        );
        let s = c.settings_for("127.0.0.1:4321".parse().unwrap());
        assert_eq!(s.issuer, "http://127.0.0.1:4321");
        assert_eq!(s.audience, s.issuer);
    }

    #[test]
    fn an_unknown_variable_is_a_warning_naming_the_closest_known_one() {
        let c = config(&[
            ("TESSERA_ACCES_TTL", "5m"),
            ("TESSERA_SOMETHING_ELSE_ENTIRELY", "1"),
            ("TESSERA_MFA", "admins"),
        ])
        .unwrap();
        assert_eq!(
            c.warnings,
            [
                "TESSERA_ACCES_TTL is not a Tessera variable and is ignored; did you mean TESSERA_ACCESS_TTL?",
                "TESSERA_SOMETHING_ELSE_ENTIRELY is not a Tessera variable and is ignored",
            ]
        );
        assert_eq!(c.settings.access_ttl, Duration::from_secs(900), "ignored");
        assert!(config(&[]).unwrap().warnings.is_empty());
        // Every field of the variables is known, and only they.
        let known = vars::known_names();
        assert!(known.contains(&"access_ttl") && known.contains(&"mfa"));
        assert!(known.contains(&"public_url") && known.contains(&"console_reauth"));
        // And each is documented in the README's configuration tables.
        let readme = include_str!("../../../../README.md");
        for name in known {
            let var = format!("TESSERA_{}", name.to_ascii_uppercase());
            assert!(readme.contains(&var), "{var} is not in README.md");
        }
    }

    #[test]
    fn the_bind_address_may_name_a_host() {
        let c = config(&[("TESSERA_BIND", "localhost:8080")]).unwrap();
        assert_eq!(c.bind, "127.0.0.1:8080".parse().unwrap());
    }

    #[test]
    fn a_bootstrap_admin_the_policy_refuses_is_refused_before_anything_starts() {
        let e = config(&[
            ("TESSERA_ADMIN_USERNAME", "root"),
            ("TESSERA_ADMIN_PASSWORD", "short"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "TESSERA_ADMIN_PASSWORD");
        assert_eq!(e.message, "shorter than 12 characters");
        let e = config(&[
            ("TESSERA_ADMIN_USERNAME", "root"),
            ("TESSERA_ADMIN_PASSWORD", "my root password is long"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "TESSERA_ADMIN_PASSWORD");
        let e = config(&[
            ("TESSERA_ADMIN_USERNAME", "no spaces allowed"),
            ("TESSERA_ADMIN_PASSWORD", "a long admin passphrase"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "TESSERA_ADMIN_USERNAME");
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let cases = [
            ("TESSERA_BIND", "nowhere"),
            ("TESSERA_DATABASE_URL", "mysql://x"),
            ("TESSERA_JWT_ALG", "none"),
            ("TESSERA_ACCESS_TTL", "0s"),
            ("TESSERA_REFRESH_TTL", "soon"),
            ("TESSERA_LEEWAY", "-1"),
            ("TESSERA_KEY_ROTATION", "0"),
            ("TESSERA_MASTER_KEY", "c2hvcnQ="),
            ("TESSERA_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("TESSERA_LOGIN_MAX_FAILURES", "0"),
            ("TESSERA_REGISTRATION_RATE", "20/week"),
            ("TESSERA_ALLOW_REGISTRATION", "maybe"),
            ("TESSERA_PASSWORD_MIN_LENGTH", "200"),
            ("TESSERA_PASSWORD_MIN_LENGTH", "7"),
            ("TESSERA_AUDIT_RETENTION", "0s"),
            ("TESSERA_MAX_CONNECTIONS", "0"),
            ("TESSERA_LOG_FORMAT", "xml"),
            ("TESSERA_ISSUER", "example.com"),
        ];
        for (var, value) in cases {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{var}={value}: {err}");
        }
    }

    #[test]
    fn hmac_needs_a_long_enough_secret() {
        assert_eq!(
            config(&[("TESSERA_JWT_ALG", "HS256")]).unwrap_err().var,
            "TESSERA_JWT_SECRET"
        );
        let short = config(&[
            ("TESSERA_JWT_ALG", "HS256"),
            ("TESSERA_JWT_SECRET", "too short"),
        ])
        .unwrap_err();
        assert!(short.message.contains("at least 32 bytes"));
        let ok = config(&[
            ("TESSERA_JWT_ALG", "HS512"),
            ("TESSERA_JWT_SECRET", &"k".repeat(64)),
        ])
        .unwrap();
        assert_eq!(ok.settings.hmac_secret.unwrap().0.len(), 64);
        for (alg, len) in [("HS384", 47), ("HS512", 63)] {
            let short = config(&[
                ("TESSERA_JWT_ALG", alg),
                ("TESSERA_JWT_SECRET", &"k".repeat(len)),
            ]);
            assert!(
                short
                    .unwrap_err()
                    .message
                    .contains(&format!("at least {} bytes", len + 1)),
                "{alg}"
            );
        }
        let b64 = config(&[
            ("TESSERA_JWT_ALG", "HS256"),
            (
                "TESSERA_JWT_SECRET",
                "base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
        ])
        .unwrap();
        assert_eq!(b64.settings.hmac_secret.unwrap().0, vec![0u8; 32]);
    }

    #[test]
    fn grace_and_leeway_may_be_zero_and_rotation_may_be_off() {
        let c = config(&[
            ("TESSERA_REFRESH_GRACE", "0s"),
            ("TESSERA_LEEWAY", "0"),
            ("TESSERA_KEY_ROTATION", "off"),
        ])
        .unwrap();
        assert_eq!(c.settings.refresh_grace, Duration::ZERO);
        assert_eq!(c.settings.key_rotation, None);
    }

    #[test]
    fn ephemeral_port_shorthand() {
        assert_eq!(
            config(&[("TESSERA_BIND", ":0")]).unwrap().bind,
            "127.0.0.1:0".parse().unwrap()
        );
    }
}
