//! The SMTP relay `TESSERA_SMTP_URL` names, and the transport to it.
//!
//! - `smtps://user:pass@host:465` — implicit TLS.
//! - `smtp://user:pass@host:587` — STARTTLS when the server offers it;
//!   `?tls=required` refuses a server that does not.
//! - `smtp://host:25?tls=none` — no TLS at all, for a relay on this machine.

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use std::time::Duration;
use tessera_core::secret::{ExposeSecret, SecretString};

/// How long one SMTP conversation may take before it counts as a failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (`smtps://`).
    Implicit,
    /// STARTTLS when offered (`smtp://`).
    Opportunistic,
    /// STARTTLS or nothing (`smtp://…?tls=required`).
    Required,
    /// Plain text (`smtp://…?tls=none`).
    None,
}

/// A parsed `TESSERA_SMTP_URL`. Its password never appears in `Debug`.
#[derive(Clone)]
pub struct Relay {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS.
    pub security: Security,
    /// User name and password, when the relay wants them.
    credentials: Option<(String, SecretString)>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Parses `smtp://` or `smtps://` URLs (see the module docs).
    pub fn parse(text: &str) -> Result<Relay, String> {
        let url = url::Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
        let tls = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let (security, default_port) = match (url.scheme(), tls.as_deref()) {
            ("smtps", None) => (Security::Implicit, 465),
            ("smtp", None | Some("opportunistic")) => (Security::Opportunistic, 587),
            ("smtp", Some("required")) => (Security::Required, 587),
            ("smtp", Some("none")) => (Security::None, 25),
            ("smtp" | "smtps", Some(other)) => {
                return Err(format!(
                    "tls={other:?}: smtp:// takes tls=required or tls=none, smtps:// takes no tls parameter"
                ));
            }
            (scheme, _) => return Err(format!("must be smtp:// or smtps://, not {scheme}://")),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("names no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| "the user or password is not valid UTF-8".to_owned())
        };
        let credentials = match url.password() {
            Some(password) => Some((
                decode(url.username())?,
                SecretString::from(decode(password)?),
            )),
            None if !url.username().is_empty() => {
                return Err("names a user without a password".to_owned());
            }
            None => None,
        };
        Ok(Relay {
            host,
            port: url.port().unwrap_or(default_port),
            security,
            credentials,
        })
    }

    /// Whether the relay is on this machine (plain text is safe only there).
    pub fn is_local(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The transport that sends through this relay.
    pub fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let tls = |required: bool| {
            TlsParameters::new(self.host.clone())
                .map(|p| {
                    if required {
                        Tls::Required(p)
                    } else {
                        Tls::Opportunistic(p)
                    }
                })
                .map_err(|e| format!("TLS: {e}"))
        };
        let tls = match self.security {
            Security::Implicit => TlsParameters::new(self.host.clone())
                .map(Tls::Wrapper)
                .map_err(|e| format!("TLS: {e}"))?,
            Security::Opportunistic => tls(false)?,
            Security::Required => tls(true)?,
            Security::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(builder.build())
    }
}

/// Decodes the `%XX` escapes of a URL's user or password.
fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_of_the_url_picks_its_tls_and_port() {
        let r = Relay::parse("smtps://mailer:s%40cret@smtp.example.com").unwrap();
        assert_eq!((r.security, r.port), (Security::Implicit, 465));
        let (user, password) = r.credentials.clone().unwrap();
        assert_eq!(
            (user.as_str(), password.expose_secret()),
            ("mailer", "s@cret")
        );
        assert!(!format!("{r:?}").contains("cret"), "{r:?}");
        let r = Relay::parse("smtp://smtp.example.com").unwrap();
        assert_eq!((r.security, r.port), (Security::Opportunistic, 587));
        let r = Relay::parse("smtp://smtp.example.com:2525?tls=required").unwrap();
        assert_eq!((r.security, r.port), (Security::Required, 2525));
        let r = Relay::parse("smtp://127.0.0.1:1025?tls=none").unwrap();
        assert_eq!((r.security, r.port), (Security::None, 1025));
        assert!(r.is_local() && r.credentials.is_none());
        assert!(
            !Relay::parse("smtp://mail.example.com?tls=none")
                .unwrap()
                .is_local()
        );
        for bad in [
            "http://example.com",
            "smtp://",
            "smtp://host?tls=sometimes",
            "smtp://user@host",
            "not a url",
        ] {
            assert!(Relay::parse(bad).is_err(), "{bad}");
        }
    }
}
