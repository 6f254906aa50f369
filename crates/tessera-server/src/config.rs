//! Configuration from the environment (SPEC §1). Every variable is optional;
//! a bad value stops the start with one line naming the variable.

use base64::Engine as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tessera_core::duration::{parse_duration, parse_positive_duration};
use tessera_core::password::{HashCost, MAX_PASSWORD_CHARS};
use tessera_core::settings::{RateLimit, SecretBytes, Settings};
use tessera_token::keys::{is_hmac, parse_alg};

/// A refused configuration value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The variable.
    pub var: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn bad(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

/// A network (address and prefix length) whose forwarded headers are believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `192.168.1.1` or `::1`.
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), self.prefix, 128)
                    == masked(u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(value: u128, prefix: u8, bits: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    value >> (bits - prefix)
}

/// Parses `N/s`, `N/min` or `N/h`.
fn parse_rate(text: &str) -> Option<RateLimit> {
    let (count, unit) = text.trim().split_once('/')?;
    let count: u32 = count.trim().parse().ok().filter(|c| *c > 0)?;
    let per = match unit.trim() {
        "s" | "sec" => 1,
        "m" | "min" => 60,
        "h" | "hour" => 3_600,
        _ => return None,
    };
    Some(RateLimit {
        count,
        per: Duration::from_secs(per),
    })
}

/// The initial administrator to create at start-up.
#[derive(Clone)]
pub struct BootstrapAdmin {
    /// Username.
    pub username: String,
    /// Password (never printed).
    pub password: String,
}

impl std::fmt::Debug for BootstrapAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapAdmin")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Everything the server reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub bind: SocketAddr,
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
}

impl Config {
    /// Reads the process environment (after `.env`, which never overrides it).
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let duration =
            |var: &'static str, default: &str, zero_ok: bool| -> Result<Duration, ConfigError> {
                let text = get(var).unwrap_or_else(|| default.to_owned());
                let parsed = if zero_ok {
                    parse_duration(&text)
                } else {
                    parse_positive_duration(&text)
                };
                parsed.map_err(|e| bad(var, format!("{e} (got {text:?})")))
            };

        let bind_text = get("TESSERA_BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind = parse_bind(&bind_text).ok_or_else(|| {
            bad(
                "TESSERA_BIND",
                format!("not an address:port: {bind_text:?}"),
            )
        })?;

        let database_url =
            get("TESSERA_DATABASE_URL").unwrap_or_else(|| "sqlite://tessera.db".into());
        if !["sqlite:", "postgres:", "postgresql:"]
            .iter()
            .any(|s| database_url.starts_with(s))
        {
            return Err(bad(
                "TESSERA_DATABASE_URL",
                "must start with sqlite:// or postgres://",
            ));
        }

        let issuer = get("TESSERA_ISSUER").map(|i| i.trim_end_matches('/').to_owned());
        if let Some(i) = &issuer
            && !(i.starts_with("http://") || i.starts_with("https://"))
        {
            return Err(bad("TESSERA_ISSUER", "must be an http:// or https:// URL"));
        }
        let audience = get("TESSERA_AUDIENCE");

        let alg_text = get("TESSERA_JWT_ALG").unwrap_or_else(|| "ES256".into());
        let alg = parse_alg(&alg_text)
            .ok_or_else(|| bad("TESSERA_JWT_ALG", format!("unsupported {alg_text:?} (ES256, ES384, EdDSA, RS256, PS256, HS256, HS384, HS512)")))?;
        let hmac_secret = match get("TESSERA_JWT_SECRET") {
            Some(text) => Some(parse_secret(&text, alg)?),
            None if is_hmac(alg) => {
                return Err(bad(
                    "TESSERA_JWT_SECRET",
                    format!("required for {alg_text}"),
                ));
            }
            None => None,
        };

        let key_rotation = match get("TESSERA_KEY_ROTATION").as_deref() {
            Some("off") => None,
            _ => Some(duration("TESSERA_KEY_ROTATION", "30d", false)?),
        };
        let key_prepublish = duration("TESSERA_KEY_PREPUBLISH", "1h", false)?;
        if let Some(period) = key_rotation
            && key_prepublish >= period
        {
            return Err(bad(
                "TESSERA_KEY_PREPUBLISH",
                "must be shorter than TESSERA_KEY_ROTATION",
            ));
        }

        let master_key = match get("TESSERA_MASTER_KEY") {
            Some(text) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|_| bad("TESSERA_MASTER_KEY", "not base64"))?;
                if bytes.len() != 32 {
                    return Err(bad(
                        "TESSERA_MASTER_KEY",
                        format!("must be 32 bytes, got {}", bytes.len()),
                    ));
                }
                Some(SecretBytes(bytes))
            }
            None => None,
        };

        let trusted_proxies = match get("TESSERA_TRUSTED_PROXIES") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    Cidr::parse(s).ok_or_else(|| {
                        bad(
                            "TESSERA_TRUSTED_PROXIES",
                            format!("not an address or CIDR: {s:?}"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };

        let login_max_failures = parse_number(
            get("TESSERA_LOGIN_MAX_FAILURES"),
            "TESSERA_LOGIN_MAX_FAILURES",
            5,
            1,
            100,
        )?;
        let rate_text = get("TESSERA_REGISTRATION_RATE").unwrap_or_else(|| "20/min".into());
        let registration_rate = parse_rate(&rate_text).ok_or_else(|| {
            bad(
                "TESSERA_REGISTRATION_RATE",
                format!("expected N/s, N/min or N/h, got {rate_text:?}"),
            )
        })?;
        let lockout_max = duration("TESSERA_LOCKOUT_MAX", "15m", false)?;

        let allow_registration = match get("TESSERA_ALLOW_REGISTRATION")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("true" | "1" | "yes" | "on") => true,
            Some("false" | "0" | "no" | "off") => false,
            Some(other) => {
                return Err(bad(
                    "TESSERA_ALLOW_REGISTRATION",
                    format!("expected true or false, got {other:?}"),
                ));
            }
        };

        let admin = match (
            get("TESSERA_ADMIN_USERNAME"),
            lookup("TESSERA_ADMIN_PASSWORD").filter(|p| !p.is_empty()),
        ) {
            (Some(username), Some(password)) => Some(BootstrapAdmin { username, password }),
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

        let password_min_length = parse_number(
            get("TESSERA_PASSWORD_MIN_LENGTH"),
            "TESSERA_PASSWORD_MIN_LENGTH",
            12,
            // OWASP ASVS 5.0 V6.2.1: never fewer than 8.
            8,
            MAX_PASSWORD_CHARS as u64,
        )? as usize;

        let cors_origins = get("TESSERA_CORS_ORIGINS")
            .map(|list| {
                list.split(',')
                    .map(|s| s.trim().trim_end_matches('/').to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();

        let log_json = match get("TESSERA_LOG_FORMAT").as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(bad(
                    "TESSERA_LOG_FORMAT",
                    format!("expected json or text, got {other:?}"),
                ));
            }
        };

        let max_connections = parse_number(
            get("TESSERA_MAX_CONNECTIONS"),
            "TESSERA_MAX_CONNECTIONS",
            16_384,
            1,
            1_000_000,
        )? as usize;
        let limits = crate::listener::ConnectionLimits {
            max_connections,
            header_read_timeout: duration("TESSERA_HEADER_TIMEOUT", "10s", false)?,
            ..Default::default()
        };
        let request_timeout = duration("TESSERA_REQUEST_TIMEOUT", "30s", false)?;

        let mut settings = Settings::new("");
        settings.alg = alg;
        settings.hmac_secret = hmac_secret;
        settings.access_ttl = duration("TESSERA_ACCESS_TTL", "15m", false)?;
        settings.refresh_ttl = duration("TESSERA_REFRESH_TTL", "14d", false)?;
        settings.session_max_age = duration("TESSERA_SESSION_MAX_AGE", "90d", false)?;
        settings.leeway = duration("TESSERA_LEEWAY", "60s", true)?;
        settings.refresh_grace = duration("TESSERA_REFRESH_GRACE", "10s", true)?;
        settings.key_rotation = key_rotation;
        settings.key_prepublish = key_prepublish;
        settings.password_min_length = password_min_length;
        settings.allow_registration = allow_registration;
        settings.hash_cost = HashCost::OWASP;
        settings.login_max_failures = login_max_failures as u32;
        settings.registration_rate = registration_rate;
        settings.lockout_max = lockout_max;
        settings.master_key = master_key.clone();
        settings.audit_retention = match get("TESSERA_AUDIT_RETENTION").as_deref() {
            Some("forever") => None,
            _ => Some(duration("TESSERA_AUDIT_RETENTION", "365d", false)?),
        };

        Ok(Config {
            bind,
            database_url,
            issuer,
            audience,
            settings,
            master_key,
            trusted_proxies,
            admin,
            limits,
            request_timeout,
            cors_origins,
            log: get("TESSERA_LOG").unwrap_or_else(|| "info".into()),
            log_json,
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

fn parse_bind(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    if let Some(port) = text.strip_prefix(':') {
        return Some(SocketAddr::from(([127, 0, 0, 1], port.parse().ok()?)));
    }
    text.parse().ok()
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

fn parse_number(
    text: Option<String>,
    var: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(text) = text else { return Ok(default) };
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            bad(
                var,
                format!("expected a whole number from {min} to {max}, got {text:?}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
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

    #[test]
    fn cidrs_match_addresses() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }
}
