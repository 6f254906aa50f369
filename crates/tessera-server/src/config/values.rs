//! The kinds of value a variable holds. Each is read from the variable's
//! text (`TryFrom<String>`, which serde calls through `try_from`), and its
//! error is the message a person reads after the variable's name, so the
//! variables' struct (`vars.rs`) is plain derived code.

use super::cidr::Cidr;
use base64::Engine as _;
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;
use tessera_core::duration::{parse_duration, parse_positive_duration};
use tessera_core::settings::{MfaPolicy, RateLimit, SecretBytes};
use tessera_token::keys::{Algorithm, parse_alg};

/// A listen address: `host:port`, or `:port` for 127.0.0.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Bind(pub SocketAddr);

impl TryFrom<String> for Bind {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let text = text.trim();
        let parsed = match text.strip_prefix(':') {
            Some(port) => port
                .parse()
                .ok()
                .map(|port| SocketAddr::from(([127, 0, 0, 1], port))),
            None => text.parse().ok().or_else(|| resolve(text)),
        };
        parsed
            .map(Bind)
            .ok_or_else(|| format!("not an address:port or host:port: {text:?}"))
    }
}

/// The address a `host:port` names (`localhost:8080`), an IPv4 one first.
fn resolve(text: &str) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs;
    let addresses: Vec<SocketAddr> = text.to_socket_addrs().ok()?.collect();
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addresses.first())
        .copied()
}

/// A database URL: `sqlite://…` or `postgres://…`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct DatabaseUrl(pub String);

impl TryFrom<String> for DatabaseUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if ["sqlite:", "postgres:", "postgresql:"]
            .iter()
            .any(|s| text.starts_with(s))
        {
            Ok(DatabaseUrl(text))
        } else {
            Err("must start with sqlite:// or postgres://".to_owned())
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&tessera_core::store::redact_url(&self.0))
    }
}

/// An `http://` or `https://` URL, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct HttpUrl(pub String);

impl TryFrom<String> for HttpUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let url = text.trim_end_matches('/');
        if url.starts_with("http://") || url.starts_with("https://") {
            Ok(HttpUrl(url.to_owned()))
        } else {
            Err("must be an http:// or https:// URL".to_owned())
        }
    }
}

/// A signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Alg(pub Algorithm);

impl TryFrom<String> for Alg {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        parse_alg(&text).map(Alg).ok_or_else(|| {
            format!("unsupported {text:?} (ES256, ES384, EdDSA, RS256, PS256, HS256, HS384, HS512)")
        })
    }
}

/// A duration that must be positive (`900`, `900s`, `15m`, `12h`, `14d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Positive(pub Duration);

impl TryFrom<String> for Positive {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        parse_positive_duration(&text)
            .map(Positive)
            .map_err(|e| format!("{e} (got {text:?})"))
    }
}

/// A duration that may be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct AnyDuration(pub Duration);

impl TryFrom<String> for AnyDuration {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        parse_duration(&text)
            .map(AnyDuration)
            .map_err(|e| format!("{e} (got {text:?})"))
    }
}

/// `off` or a positive duration (`TESSERA_KEY_ROTATION`); `off` is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct OffOrDuration(pub Option<Duration>);

impl TryFrom<String> for OffOrDuration {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text.trim() == "off" {
            return Ok(OffOrDuration(None));
        }
        Positive::try_from(text).map(|p| OffOrDuration(Some(p.0)))
    }
}

/// `forever` or a positive duration (`TESSERA_AUDIT_RETENTION`); `forever`
/// is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct ForeverOrDuration(pub Option<Duration>);

impl TryFrom<String> for ForeverOrDuration {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text.trim() == "forever" {
            return Ok(ForeverOrDuration(None));
        }
        Positive::try_from(text).map(|p| ForeverOrDuration(Some(p.0)))
    }
}

/// A whole number from `MIN` to `MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Bounded<const MIN: u64, const MAX: u64>(pub u64);

impl<const MIN: u64, const MAX: u64> TryFrom<String> for Bounded<MIN, MAX> {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (MIN..=MAX).contains(n))
            .map(Bounded)
            .ok_or_else(|| format!("expected a whole number from {MIN} to {MAX}, got {text:?}"))
    }
}

/// `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Switch(pub bool);

impl TryFrom<String> for Switch {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Switch(true)),
            "false" | "0" | "no" | "off" => Ok(Switch(false)),
            other => Err(format!("expected true or false, got {other:?}")),
        }
    }
}

/// `N/s`, `N/min` or `N/h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Rate(pub RateLimit);

impl TryFrom<String> for Rate {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let parse = || {
            let (count, unit) = text.trim().split_once('/')?;
            let count: u32 = count.trim().parse().ok().filter(|c| *c > 0)?;
            let per = match unit.trim() {
                "s" | "sec" => 1,
                "m" | "min" => 60,
                "h" | "hour" => 3_600,
                _ => return None,
            };
            Some(Rate(RateLimit {
                count,
                per: Duration::from_secs(per),
            }))
        };
        parse().ok_or_else(|| format!("expected N/s, N/min or N/h, got {text:?}"))
    }
}

/// A comma-separated list of addresses and networks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Cidrs(pub Vec<Cidr>);

impl TryFrom<String> for Cidrs {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Cidr::parse(s).ok_or_else(|| format!("not an address or CIDR: {s:?}")))
            .collect::<Result<_, _>>()
            .map(Cidrs)
    }
}

/// A comma-separated list of browser origins, without trailing slashes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub(super) struct Origins(pub Vec<String>);

impl From<String> for Origins {
    fn from(text: String) -> Self {
        Origins(
            text.split(',')
                .map(|s| s.trim().trim_end_matches('/').to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }
}

/// `optional`, `admins` or `everyone`: who must sign in with a second factor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Mfa(pub MfaPolicy);

impl TryFrom<String> for Mfa {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.trim() {
            "optional" => Ok(Mfa(MfaPolicy::Optional)),
            "admins" => Ok(Mfa(MfaPolicy::Admins)),
            "everyone" => Ok(Mfa(MfaPolicy::Everyone)),
            other => Err(format!(
                "expected optional, admins or everyone, got {other:?}"
            )),
        }
    }
}

/// `text` or `json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct LogFormat {
    /// JSON lines rather than text.
    pub json: bool,
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "text" => Ok(LogFormat { json: false }),
            "json" => Ok(LogFormat { json: true }),
            other => Err(format!("expected json or text, got {other:?}")),
        }
    }
}

/// 32 bytes, base64.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct MasterKey(pub SecretBytes);

impl TryFrom<String> for MasterKey {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| "not base64".to_owned())?;
        if bytes.len() != 32 {
            return Err(format!("must be 32 bytes, got {}", bytes.len()));
        }
        Ok(MasterKey(SecretBytes(bytes)))
    }
}

/// Text that is a secret: `Debug` never shows it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub(super) struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The deployment's name: 1 to 60 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct DisplayName(pub String);

impl TryFrom<String> for DisplayName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let name = text.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err("must be 1 to 60 characters".to_owned());
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".to_owned());
        }
        Ok(DisplayName(name.to_owned()))
    }
}

/// The largest logo file.
const MAX_LOGO_BYTES: u64 = 512 * 1024;

/// An image file, read once at start-up: PNG, SVG, JPEG, WebP, GIF or ICO,
/// at most 512 KiB.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct LogoFile(pub crate::pages::Logo);

impl TryFrom<String> for LogoFile {
    type Error = String;

    fn try_from(path: String) -> Result<Self, String> {
        let extension = std::path::Path::new(&path)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let content_type = match extension.as_deref() {
            Some("png") => "image/png",
            Some("svg") => "image/svg+xml",
            Some("jpg" | "jpeg") => "image/jpeg",
            Some("webp") => "image/webp",
            Some("gif") => "image/gif",
            Some("ico") => "image/x-icon",
            _ => {
                return Err(format!(
                    "{path}: not a .png, .svg, .jpg, .webp, .gif or .ico file"
                ));
            }
        };
        let size = std::fs::metadata(&path)
            .map_err(|e| format!("{path}: {e}"))?
            .len();
        if size > MAX_LOGO_BYTES {
            return Err(format!("{path}: larger than 512 KiB"));
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        Ok(LogoFile(crate::pages::Logo {
            bytes: bytes.into(),
            content_type,
        }))
    }
}

/// `TESSERA_SMTP_URL`: the relay, its TLS and credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct SmtpUrl(pub crate::mail::Relay);

impl TryFrom<String> for SmtpUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        crate::mail::Relay::parse(text.trim()).map(SmtpUrl)
    }
}

/// `TESSERA_MAIL_FROM`: `Name <address>` or an address.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct MailFrom(pub lettre::message::Mailbox);

impl TryFrom<String> for MailFrom {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        crate::mail::parse_from(text.trim()).map(MailFrom)
    }
}
