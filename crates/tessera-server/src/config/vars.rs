//! Every `TESSERA_*` variable: one field each (the name without the prefix,
//! lower-cased), its kind of value, and its default. Adding a variable is a
//! field here with its doc line, and its default below.

use super::values::{
    Alg, AnyDuration, Bind, Bounded, Cidrs, DatabaseUrl, DisplayName, ForeverOrDuration, HttpUrl,
    LogFormat, LogoFile, MailFrom, MasterKey, Mfa, OffOrDuration, Origins, Positive, Rate,
    SecretText, SmtpUrl, Switch,
};
use serde::Deserialize;

/// The variables as read, before the rules that tie several together.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(super) struct Vars {
    /// `TESSERA_BIND`: listen address (`:0` is an ephemeral port).
    pub bind: Bind,
    /// `TESSERA_DATABASE_URL`: `sqlite://PATH` or `postgres://…`.
    pub database_url: DatabaseUrl,
    /// `TESSERA_ISSUER`: the `iss` claim and OIDC issuer (default `http://<bound address>`).
    pub issuer: Option<HttpUrl>,
    /// `TESSERA_PUBLIC_URL`: the address people reach Tessera at (default
    /// the issuer): the WebAuthn origin, and the base of links in mails.
    pub public_url: Option<HttpUrl>,
    /// `TESSERA_AUDIENCE`: the `aud` claim (default the issuer).
    pub audience: Option<String>,
    /// `TESSERA_JWT_ALG`: the signing algorithm.
    pub jwt_alg: Alg,
    /// `TESSERA_JWT_SECRET`: the HMAC secret, required for `HS*`.
    pub jwt_secret: Option<SecretText>,
    /// `TESSERA_ACCESS_TTL`: access-token lifetime.
    pub access_ttl: Positive,
    /// `TESSERA_REFRESH_TTL`: refresh-token idle lifetime.
    pub refresh_ttl: Positive,
    /// `TESSERA_SESSION_MAX_AGE`: absolute session lifetime.
    pub session_max_age: Positive,
    /// `TESSERA_LEEWAY`: clock-skew tolerance.
    pub leeway: AnyDuration,
    /// `TESSERA_REFRESH_GRACE`: the window for repeated refreshes.
    pub refresh_grace: AnyDuration,
    /// `TESSERA_KEY_ROTATION`: automatic rotation period, or `off`.
    pub key_rotation: OffOrDuration,
    /// `TESSERA_KEY_PREPUBLISH`: how long a new key is published before it signs.
    pub key_prepublish: Positive,
    /// `TESSERA_MASTER_KEY`: encrypts private signing keys at rest.
    pub master_key: Option<MasterKey>,
    /// `TESSERA_TRUSTED_PROXIES`: proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Cidrs,
    /// `TESSERA_LOGIN_MAX_FAILURES`: failed logins before throttling.
    pub login_max_failures: Bounded<1, 100>,
    /// `TESSERA_REGISTRATION_RATE`: registrations per client address.
    pub registration_rate: Rate,
    /// `TESSERA_LOCKOUT_MAX`: the longest wait of a throttled name or address.
    pub lockout_max: Positive,
    /// `TESSERA_ALLOW_REGISTRATION`: whether anyone may register.
    pub allow_registration: Switch,
    /// `TESSERA_ADMIN_USERNAME`: the administrator to create at start-up.
    pub admin_username: Option<String>,
    /// `TESSERA_ADMIN_PASSWORD`: that administrator's password.
    pub admin_password: Option<SecretText>,
    /// `TESSERA_PASSWORD_MIN_LENGTH`: never fewer than 8 (OWASP ASVS 5.0 V6.2.1).
    pub password_min_length: Bounded<8, 128>,
    /// `TESSERA_CORS_ORIGINS`: allowed browser origins.
    pub cors_origins: Origins,
    /// `TESSERA_LOG`: the log filter.
    pub log: String,
    /// `TESSERA_LOG_FORMAT`: `text` or `json`.
    pub log_format: LogFormat,
    /// `TESSERA_AUDIT_RETENTION`: how long audit entries are kept, or `forever`.
    pub audit_retention: ForeverOrDuration,
    /// `TESSERA_MAX_CONNECTIONS`: connections served at once.
    pub max_connections: Bounded<1, 1_000_000>,
    /// `TESSERA_HEADER_TIMEOUT`: how long a client may take to send headers.
    pub header_timeout: Positive,
    /// `TESSERA_REQUEST_TIMEOUT`: how long a request may take.
    pub request_timeout: Positive,
    /// `TESSERA_DISPLAY_NAME`: the deployment's name, on every page.
    pub display_name: DisplayName,
    /// `TESSERA_LOGO`: an image file shown on every page.
    pub logo: Option<LogoFile>,
    /// `TESSERA_CONSOLE_REAUTH`: how recent a sign-in console changes need.
    pub console_reauth: Positive,
    /// `TESSERA_MFA`: `optional`, `admins` or `everyone`.
    pub mfa: Mfa,
    /// `TESSERA_METRICS_BIND`: serve `/metrics` here alone instead of on `TESSERA_BIND`.
    pub metrics_bind: Option<Bind>,
    /// `TESSERA_SMTP_URL`: the relay mail goes through (`smtp://`, `smtps://`).
    pub smtp_url: Option<SmtpUrl>,
    /// `TESSERA_MAIL_FROM`: the sender of mails (`Name <address>`).
    pub mail_from: Option<MailFrom>,
    /// `TESSERA_RESET_TTL`: how long a password-reset link works.
    pub reset_ttl: Positive,
    /// `TESSERA_REQUIRE_VERIFIED_EMAIL`: sign in verified addresses only.
    pub require_verified_email: Switch,
}

/// A default, written as the variable would be.
fn default<T: TryFrom<String, Error = String>>(text: &str) -> T {
    match T::try_from(text.to_owned()) {
        Ok(value) => value,
        // The defaults below are constants this module's tests parse.
        Err(e) => unreachable!("default {text:?} does not parse: {e}"),
    }
}

impl Default for Vars {
    fn default() -> Self {
        Vars {
            bind: default("127.0.0.1:8080"),
            database_url: default("sqlite://tessera.db"),
            issuer: None,
            public_url: None,
            audience: None,
            jwt_alg: default("ES256"),
            jwt_secret: None,
            access_ttl: default("15m"),
            refresh_ttl: default("14d"),
            session_max_age: default("90d"),
            leeway: default("60s"),
            refresh_grace: default("10s"),
            key_rotation: default("30d"),
            key_prepublish: default("1h"),
            master_key: None,
            trusted_proxies: Cidrs::default(),
            login_max_failures: default("5"),
            registration_rate: default("20/min"),
            lockout_max: default("15m"),
            allow_registration: default("true"),
            admin_username: None,
            admin_password: None,
            password_min_length: default("12"),
            cors_origins: Origins::default(),
            log: "info".to_owned(),
            log_format: LogFormat::default(),
            audit_retention: default("365d"),
            max_connections: default("16384"),
            header_timeout: default("10s"),
            request_timeout: default("30s"),
            display_name: default("Tessera"),
            logo: None,
            console_reauth: default("15m"),
            mfa: Mfa::default(),
            metrics_bind: None,
            smtp_url: None,
            mail_from: None,
            reset_ttl: default("30m"),
            require_verified_email: default("false"),
        }
    }
}

/// The names of every variable, without the prefix and lower-cased: the
/// fields of [`Vars`], as serde names them (so the list never drifts).
pub(super) fn known_names() -> &'static [&'static str] {
    use serde::de::{self, Visitor};

    /// A deserializer that only learns the field names asked for.
    struct FieldNames(Option<&'static [&'static str]>);

    #[derive(Debug)]
    struct Learned;

    impl std::fmt::Display for Learned {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("field names learned")
        }
    }

    impl std::error::Error for Learned {}

    impl de::Error for Learned {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Learned
        }
    }

    impl<'de> de::Deserializer<'de> for &mut FieldNames {
        type Error = Learned;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Learned> {
            Err(Learned)
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Learned> {
            self.0 = Some(fields);
            Err(Learned)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let mut probe = FieldNames(None);
    let _ = Vars::deserialize(&mut probe);
    probe.0.unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_parses() {
        let vars = Vars::default();
        assert_eq!(vars.access_ttl.0.as_secs(), 900);
        assert_eq!(vars.max_connections.0, 16_384);
    }
}
