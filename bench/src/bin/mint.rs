//! Mints many distinct, valid access tokens for `bench/run.sh`'s
//! distinct-token loads, signed with the very key the server under load
//! verifies with, so that each request can carry a token the server has not
//! seen before.
//!
//! ```text
//! mint --count N --issuer URL --out FILE  (--db PATH | --pem FILE | --hs-secret TEXT)
//! ```
//! - `--db PATH`: a Tessera SQLite database without a master key; the newest
//!   access-token key Tessera made there signs (start the server once first).
//! - `--pem FILE`: a PKCS#8 PEM P-256 private key (the peers' ES256 key).
//! - `--hs-secret TEXT`: an HS256 secret, its bytes as written (as
//!   `TESSERA_JWT_SECRET` and the peers read it).
//!
//! Each token is an RFC 9068 access token (`typ: at+jwt`, `kid`) for
//! `--issuer` (also its audience), valid for an hour, with its own `jti`,
//! subject and session, one per line in `--out`.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use sqlx::Connection as _;
use std::io::Write as _;
use std::time::Instant;
use tessera_bench::arg;
use tessera_token::keys::{SigningKey, parse_alg};
use tessera_token::tokens::{ACCESS_TOKEN_TYP, AccessClaims, Audience, new_jti, sign_jws};

/// The newest access-token key of a Tessera SQLite database.
async fn key_from_db(path: &str) -> Result<SigningKey> {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}?mode=ro")).await?;
    let (alg, der, encrypted): (String, Vec<u8>, bool) = sqlx::query_as(
        "SELECT alg, private_der, encrypted FROM signing_keys \
         WHERE purpose = 'access' ORDER BY generation DESC LIMIT 1",
    )
    .fetch_optional(&mut conn)
    .await?
    .context("no access-token key in the database: start the server once first")?;
    if encrypted {
        bail!("the key is sealed under a master key; mint needs a database without one");
    }
    let alg = parse_alg(&alg).context("unknown key algorithm")?;
    Ok(SigningKey::from_private_der(alg, &der, 0, 0, 1)?)
}

/// A PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
fn key_from_pem(path: &str) -> Result<SigningKey> {
    let pem = std::fs::read_to_string(path)?;
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let der = base64::engine::general_purpose::STANDARD.decode(body)?;
    Ok(SigningKey::from_private_der(
        Algorithm::ES256,
        &der,
        0,
        0,
        1,
    )?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let usage =
        "usage: mint --count N --issuer URL --out FILE (--db PATH | --pem FILE | --hs-secret TEXT)";
    let count: u64 = arg("--count").context(usage)?.parse()?;
    let issuer = arg("--issuer").context(usage)?;
    let out = arg("--out").context(usage)?;
    let key = if let Some(db) = arg("--db") {
        key_from_db(&db).await?
    } else if let Some(pem) = arg("--pem") {
        key_from_pem(&pem)?
    } else if let Some(secret) = arg("--hs-secret") {
        SigningKey::from_hmac_secret(Algorithm::HS256, secret.as_bytes())?
    } else {
        bail!(usage);
    };
    let started = Instant::now();
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
    for i in 0..count {
        let claims = AccessClaims {
            iss: issuer.clone(),
            sub: format!("00000000-0000-7000-8000-{i:012x}"),
            aud: Audience::One(issuer.clone()),
            exp: now_ms / 1000 + 3600,
            iat: now_ms / 1000,
            nbf: Some(now_ms / 1000),
            jti: new_jti(now_ms),
            sid: Some(format!("00000000-0000-7000-9000-{i:012x}")),
            username: Some(format!("bench-user-{:07}", i % 10_000_000)),
            roles: Some(vec!["user".into()]),
            client_id: None,
            scope: None,
            amr: None,
            auth_time: None,
        };
        writeln!(file, "{}", sign_jws(&key, ACCESS_TOKEN_TYP, &claims)?)?;
    }
    file.flush()?;
    eprintln!(
        "mint: {count} {} tokens in {:.1} s",
        tessera_token::keys::alg_name(key.alg()),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
