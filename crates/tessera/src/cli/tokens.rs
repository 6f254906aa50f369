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
use tessera_token::tokens::{TokenError, VerifyPolicy, verify_access_token, verify_jws};

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

/// The token an argument names: itself, or with `-` standard input.
pub(super) fn read_token(arg: &str) -> Result<String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
        .context("reading the token from standard input")?;
    Ok(text.trim().to_owned())
}

/// What `token verify` expects beyond the configuration.
#[derive(Debug, Default)]
pub(super) struct Expect {
    /// The issuer, instead of the configured one.
    pub(super) issuer: Option<String>,
    /// The audience, instead of the configured one.
    pub(super) audience: Option<String>,
    /// An ID token rather than an access token.
    pub(super) id_token: bool,
}

/// A claim of `jwt` as sent (unverified), for saying what it holds.
fn claim_of(jwt: &str, name: &str) -> String {
    jwt.split('.')
        .nth(1)
        .and_then(b64url_decode)
        .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
        .and_then(|claims| claims.get(name).cloned())
        .map_or_else(|| "nothing".to_owned(), |v| v.to_string())
}

/// The refusal `e` of `jwt` in words, naming what was expected and what the
/// token holds where that is the reason.
fn refusal(e: &TokenError, jwt: &str, policy: &VerifyPolicy) -> anyhow::Error {
    match e {
        TokenError::WrongIssuer => anyhow::anyhow!(
            "invalid token: wrong issuer: expected {:?}, the token has {} (--issuer sets the one to expect)",
            policy.issuer,
            claim_of(jwt, "iss")
        ),
        TokenError::WrongAudience => anyhow::anyhow!(
            "invalid token: wrong audience: expected {:?}, the token has {} (--audience sets the one to expect)",
            policy.audience,
            claim_of(jwt, "aud")
        ),
        other => anyhow::anyhow!("invalid token: {other}"),
    }
}

/// Checks the claims of an ID token whose signature verified: issuer,
/// audience (when one is expected), expiry with the leeway, and that it is
/// not an access token.
fn check_id_token(
    jws: &tessera_token::jws::CompactJws<'_>,
    policy: &VerifyPolicy,
    audience: Option<&str>,
    now_secs: i64,
) -> Result<serde_json::Value, TokenError> {
    if jws
        .header
        .get("typ")
        .and_then(|t| t.as_str())
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
    {
        return Err(TokenError::WrongType);
    }
    let claims: serde_json::Value =
        serde_json::from_slice(&jws.payload).map_err(|_| TokenError::BadClaims)?;
    if claims.get("iss").and_then(|i| i.as_str()) != Some(policy.issuer.as_str()) {
        return Err(TokenError::WrongIssuer);
    }
    if let Some(audience) = audience {
        let aud = &claims["aud"];
        let ok = aud.as_str() == Some(audience)
            || aud
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(audience)));
        if !ok {
            return Err(TokenError::WrongAudience);
        }
    }
    let exp = claims
        .get("exp")
        .and_then(|e| e.as_i64())
        .ok_or(TokenError::BadClaims)?;
    if exp + policy.leeway_secs < now_secs {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

pub(super) async fn verify(
    config: &Config,
    jwt: &str,
    jwks: Option<String>,
    secret_env: Option<String>,
    expect: Expect,
) -> Result<()> {
    let settings = config.settings_for(config.bind);
    let policy = VerifyPolicy {
        issuer: expect
            .issuer
            .clone()
            .unwrap_or_else(|| settings.issuer.clone()),
        audience: expect
            .audience
            .clone()
            .unwrap_or_else(|| settings.audience.clone()),
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
        if expect.id_token {
            let checked = verify_jws(jwt.trim(), keys.as_slice(), now, policy.token_lifetime_ms)
                .and_then(|jws| {
                    check_id_token(
                        &jws,
                        &policy,
                        expect.audience.as_deref(),
                        now.div_euclid(1000),
                    )
                });
            return match checked {
                Ok(claims) => {
                    let audience = match expect.audience.as_deref() {
                        Some(aud) => format!("aud {aud}"),
                        None => "aud not checked: pass --audience CLIENT_ID".to_owned(),
                    };
                    say(format!(
                        "valid ID token (signature, time, iss {}, {audience})",
                        policy.issuer
                    ))?;
                    say(serde_json::to_string_pretty(&claims)?)
                }
                Err(e) => Err(refusal(&e, jwt.trim(), &policy)),
            };
        }
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
        Err(e) => Err(refusal(&e, jwt.trim(), &policy)),
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
