//! `tessera token decode` and `tessera token verify`: reading and checking
//! a token with the token layer alone.

use super::say;
use anyhow::{Context, Result, bail};
use std::sync::Arc;
use tessera_server::Config;
use tessera_token::clock::{Clock, SystemClock, rfc3339};
use tessera_token::crypto::b64url_decode;
use tessera_token::jws::parse_compact;
use tessera_token::keys::{PublicJwk, SigningKey, is_hmac, parse_alg};
use tessera_token::revocation::RevocationSet;
use tessera_token::tokens::{VerifyPolicy, verify_access_token};

/// Claim names that suggest something that should never sit in a readable token.
const SENSITIVE: [&str; 8] = [
    "password", "passwd", "secret", "ssn", "credit", "card", "cvv", "private",
];

/// `tessera token decode`: header, claims and warnings.
pub(super) fn decode(jwt: &str) -> Result<()> {
    let mut parts = jwt.trim().split('.');
    let (Some(h), Some(p)) = (parts.next(), parts.next()) else {
        bail!("not a JWT: expected header.payload.signature")
    };
    let header: serde_json::Value =
        serde_json::from_slice(&b64url_decode(h).context("header is not base64url")?)
            .context("header is not JSON")?;
    let claims: serde_json::Value =
        serde_json::from_slice(&b64url_decode(p).context("payload is not base64url")?)
            .context("payload is not JSON")?;
    say(format!(
        "header:\n{}",
        serde_json::to_string_pretty(&header)?
    ))?;
    say(format!(
        "claims:\n{}",
        serde_json::to_string_pretty(&claims)?
    ))?;
    for warning in decode_warnings(&header, &claims) {
        say(format!("warning: {warning}"))?;
    }
    Ok(())
}

fn decode_warnings(header: &serde_json::Value, claims: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    match header.get("alg").and_then(|a| a.as_str()) {
        Some(a) if a.eq_ignore_ascii_case("none") => {
            out.push("alg is none: the token is unsigned".into())
        }
        Some(a) if a.starts_with("HS") => {
            out.push(format!(
                "alg {a} is HMAC: every verifier holds the signing secret"
            ));
        }
        None => out.push("no alg header".into()),
        _ => {}
    }
    let exp = claims.get("exp").and_then(|v| v.as_i64());
    let iat = claims.get("iat").and_then(|v| v.as_i64());
    match (exp, iat) {
        (None, _) => out.push("no exp claim: the token never expires".into()),
        (Some(exp), Some(iat)) if exp - iat > 86_400 => {
            out.push(format!(
                "long lifetime: {} hours between iat and exp",
                (exp - iat) / 3_600
            ));
        }
        (Some(exp), _) if exp < SystemClock.now_secs() => {
            out.push(format!("expired at {}", rfc3339(exp * 1000)))
        }
        _ => {}
    }
    if let Some(map) = claims.as_object() {
        for name in map.keys() {
            let lower = name.to_lowercase();
            if SENSITIVE.iter().any(|s| lower.contains(s)) {
                out.push(format!(
                    "claim {name:?} looks sensitive: JWT payloads are readable by anyone"
                ));
            }
        }
    }
    out
}

pub(super) async fn verify(
    config: &Config,
    jwt: &str,
    jwks: Option<String>,
    secret_env: Option<String>,
) -> Result<()> {
    let settings = config.settings_for(config.bind);
    let policy = VerifyPolicy {
        issuer: settings.issuer.clone(),
        audience: settings.audience.clone(),
        leeway_secs: i64::try_from(settings.leeway.as_secs())?,
        token_lifetime_ms: settings.token_lifetime_ms(),
    };
    let now = SystemClock.now_ms();
    let revocations = RevocationSet::new();
    let claims = if let Some(var) = secret_env {
        let secret = std::env::var(&var).with_context(|| format!("{var} is not set"))?;
        let header = parse_compact(jwt.trim())
            .context("not a compact JWS")?
            .header;
        let alg = header
            .get("alg")
            .and_then(|a| a.as_str())
            .and_then(parse_alg)
            .filter(|a| is_hmac(*a));
        let alg = alg.context("--secret-env verifies HS256/HS384/HS512 tokens only")?;
        let key = SigningKey::from_hmac_secret(alg, secret.as_bytes())?;
        let ring = tessera_token::keys::KeyRing::new(vec![Arc::new(key)]);
        // An HMAC token's kid is derived from the secret; a foreign one may lack it.
        verify_access_token(jwt.trim(), &ring, &revocations, &policy, now)
    } else {
        let url = jwks.unwrap_or_else(|| format!("{}/.well-known/jwks.json", settings.issuer));
        let set: serde_json::Value = reqwest::get(&url).await?.error_for_status()?.json().await?;
        let keys: Vec<PublicJwk> =
            serde_json::from_value(set.get("keys").cloned().unwrap_or_default())
                .context("the JWK Set has no usable keys")?;
        verify_access_token(jwt.trim(), keys.as_slice(), &revocations, &policy, now)
    };
    match claims {
        Ok(claims) => {
            say(format!(
                "valid (signature, typ, time, iss {}, aud {}; revocation is checked by the server)",
                policy.issuer, policy.audience
            ))?;
            say(serde_json::to_string_pretty(&claims)?)
        }
        Err(e) => bail!("invalid token: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decode_warns_about_none_hmac_lifetime_and_sensitive_claims() {
        let w = decode_warnings(
            &json!({"alg": "none"}),
            &json!({"iat": 0, "exp": 10 * 86_400, "password": "x"}),
        );
        assert!(w.iter().any(|s| s.contains("unsigned")));
        assert!(w.iter().any(|s| s.contains("long lifetime")));
        assert!(w.iter().any(|s| s.contains("\"password\" looks sensitive")));
        let w = decode_warnings(&json!({"alg": "HS256"}), &json!({}));
        assert!(w.iter().any(|s| s.contains("HMAC")));
        assert!(w.iter().any(|s| s.contains("never expires")));
    }
}
