//! The duration and configuration parsers: `duration::parse_duration`,
//! `duration::parse_positive_duration` and `Config::from_vars`.
//!
//! Input: lines. Line `i` is the value of `CONFIG_VARS[i]` (an empty or
//! non-UTF-8 line leaves the variable unset, as `std::env::var` would), and
//! every line is also parsed as a duration on its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use std::time::Duration;
use tessera_core::duration::{DurationError, parse_duration, parse_positive_duration};
use tessera_core::password::MAX_PASSWORD_CHARS;
use tessera_core::secret::ExposeSecret;
use tessera_fuzz::CONFIG_VARS;
use tessera_server::config::{Config, ConfigError};
use tessera_token::keys::is_hmac;

const MAX: Duration = Duration::from_secs(100 * 365 * 86_400);

fuzz_target!(|data: &[u8]| {
    let lines: Vec<Option<&str>> = data
        .split(|&b| b == b'\n')
        .map(|l| std::str::from_utf8(l).ok().filter(|s| !s.is_empty()))
        .collect();

    for line in lines.iter().flatten() {
        check_duration(line);
    }

    let value = |name: &str| -> Option<String> {
        let i = CONFIG_VARS.iter().position(|v| *v == name)?;
        lines.get(i).copied().flatten().map(str::to_owned)
    };
    let vars = |masked: Option<(&str, &str)>| -> Vec<(String, String)> {
        CONFIG_VARS
            .iter()
            .filter_map(|name| {
                let value = match masked {
                    Some((secret, mask)) if secret == *name => Some(mask.to_owned()),
                    _ => value(name),
                };
                value.map(|v| ((*name).to_owned(), v))
            })
            .collect()
    };
    let result = Config::from_vars(vars(None));
    match &result {
        Ok(config) => check_config(config),
        Err(ConfigError { var, message }) => {
            assert!(var.starts_with("TESSERA_"), "{var}");
            assert!(!message.is_empty());
        }
    }

    // Secrets never reach the outcome's text: the same configuration with the
    // admin password, or a plain JWT secret, replaced by as many `x` bytes
    // prints exactly the same.
    let secret_names = ["TESSERA_ADMIN_PASSWORD", "TESSERA_JWT_SECRET"];
    for secret in secret_names {
        let Some(original) = value(secret) else {
            continue;
        };
        // A base64: secret is decoded, and a blank one counts as unset.
        if original.starts_with("base64:") || original.trim().is_empty() {
            continue;
        }
        let masked = "x".repeat(original.len());
        let again = Config::from_vars(vars(Some((secret, &masked))));
        assert_eq!(
            format!("{result:?}"),
            format!("{again:?}"),
            "{secret} shows in the outcome"
        );
        if let Err(e) = &result {
            assert_eq!(e.to_string(), again.as_ref().unwrap_err().to_string());
        }
    }
});

fn check_duration(text: &str) {
    let d = parse_duration(text);
    let p = parse_positive_duration(text);
    match &d {
        Ok(v) => {
            assert!(*v <= MAX, "{text:?} gave {v:?}");
            assert_eq!(v.subsec_nanos(), 0);
            // Seconds are canonical: printing and re-reading gives the same.
            assert_eq!(parse_duration(&format!("{}s", v.as_secs())), Ok(*v));
            assert_eq!(parse_duration(&v.as_secs().to_string()), Ok(*v));
            if v.is_zero() {
                assert_eq!(p, Err(DurationError::Zero));
            } else {
                assert_eq!(p, Ok(*v));
            }
            // Accepted text is ASCII digits and at most one unit letter,
            // surrounded by whitespace.
            let t = text.trim();
            let unit = t.trim_start_matches(|c: char| c.is_ascii_digit());
            assert!(matches!(unit, "" | "s" | "m" | "h" | "d"), "{text:?}");
        }
        Err(e) => assert_eq!(&p, &Err(e.clone())),
    }
}

fn check_config(c: &Config) {
    let s = &c.settings;
    for (name, d, positive) in [
        ("access_ttl", s.access_ttl, true),
        ("refresh_ttl", s.refresh_ttl, true),
        ("session_max_age", s.session_max_age, true),
        ("leeway", s.leeway, false),
        ("refresh_grace", s.refresh_grace, false),
        ("key_prepublish", s.key_prepublish, true),
        ("lockout_max", s.lockout_max, true),
        ("header_read_timeout", c.limits.header_read_timeout, true),
        ("request_timeout", c.request_timeout, true),
    ] {
        assert!(d <= MAX, "{name} {d:?}");
        assert!(!positive || !d.is_zero(), "{name} is zero");
    }
    if let Some(period) = s.key_rotation {
        assert!(period <= MAX && s.key_prepublish < period);
    }
    if let Some(keep) = s.audit_retention {
        assert!(keep <= MAX && !keep.is_zero());
    }
    if is_hmac(s.alg) {
        assert!(s.hmac_secret.as_ref().is_some_and(|k| k.0.len() >= 32));
    }
    if let Some(k) = &c.master_key {
        assert_eq!(k.0.len(), 32);
    }
    assert!((1..=100).contains(&s.login_max_failures));
    assert!((1..=MAX_PASSWORD_CHARS).contains(&s.password_min_length));
    assert!((1..=1_000_000).contains(&c.limits.max_connections));
    assert!(s.registration_rate.count > 0 && !s.registration_rate.per.is_zero());
    assert!(
        ["sqlite:", "postgres:", "postgresql:"]
            .iter()
            .any(|p| c.database_url.starts_with(p))
    );
    if let Some(i) = &c.issuer {
        assert!(i.starts_with("http://") || i.starts_with("https://"));
        assert!(!i.ends_with('/'));
    }
    if let Some(a) = &c.admin {
        assert!(!a.username.trim().is_empty() && !a.password.expose_secret().is_empty());
    }
    assert!(
        c.cors_origins
            .iter()
            .all(|o| !o.is_empty() && !o.ends_with('/'))
    );

    let settings = c.settings_for(c.bind);
    assert!(!settings.issuer.is_empty() && !settings.audience.is_empty());

    // Every trusted network can be asked about any address.
    let probes: [IpAddr; 5] = [
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([10, 1, 2, 3]),
        IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
        IpAddr::from([0u16, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203]),
        IpAddr::from([0xffffu16; 8]),
    ];
    for net in &c.trusted_proxies {
        for ip in probes {
            let _ = net.contains(ip);
        }
    }
}
