//! The command line (SPEC §7): `serve` (the default), `migrate`, `user …`,
//! `keys …` and `token …`. Every command reads the same configuration as
//! `serve` and works through the same domain operations, so it is safe to
//! run while the server is up.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use tessera_core::oauth::GrantType;
use tessera_core::service::{NewAccount, NewClient};
use tessera_core::{ClientInfo, Tessera, store};
use tessera_server::Config;
use tessera_token::clock::{Clock, SystemClock, rfc3339};
use tessera_token::crypto::{b64url, b64url_decode, random_bytes};
use tessera_token::jws::parse_compact;
use tessera_token::keys::{PublicJwk, SigningKey, is_hmac, parse_alg};
use tessera_token::revocation::RevocationSet;
use tessera_token::tokens::{VerifyPolicy, verify_access_token};

/// Tessera: a self-hosted authentication and authorization server with JWTs.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage OAuth clients (applications that sign users in through Tessera).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Inspect tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a client; prints its id (and, for a confidential client, its
    /// secret, shown this once).
    Add {
        /// A name shown on the login page.
        name: String,
        /// A redirect URI (exact match; repeat for several).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A post-logout redirect URI (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// An allowed grant: authorization_code, refresh_token, password,
        /// client_credentials (repeat; default: authorization_code and refresh_token).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// An allowed scope (repeat; default: openid profile email).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Give the client a secret (a server-side application).
        #[arg(long)]
        confidential: bool,
        /// The ID tokens' algorithm (default RS256).
        #[arg(long)]
        id_token_alg: Option<String>,
    },
    /// List clients.
    List,
    /// Delete a client, ending every session issued to it.
    Delete {
        /// The client id (a generated id may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; prints a generated password unless --password-stdin.
    Add {
        /// Username (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// Give the user the admin role.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Replace a user's roles (`user` is always kept).
    SetRoles {
        /// Username (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// Roles (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        roles: Vec<String>,
    },
    /// Delete a user and end their sessions.
    Delete {
        /// Username (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List signing keys and their status.
    List,
    /// Rotate now: a new key signs from now on.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a JWT's header and claims (anyone can read them) with warnings.
    Decode {
        /// The token.
        jwt: String,
    },
    /// Verify a JWT's signature and claims.
    Verify {
        /// The token.
        jwt: String,
        /// Verify against the JWK Set at this URL.
        #[arg(long, conflicts_with = "secret_env")]
        jwks: Option<String>,
        /// Verify with the HMAC secret in this environment variable.
        #[arg(long)]
        secret_env: Option<String>,
    },
}

/// Runs the command line.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "tessera: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config, matches!(cli.command, None | Some(Command::Serve)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "tessera: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "tessera: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config, serving: bool) {
    let filter = tracing_subscriber_filter(&config.log, serving);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if config.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn tracing_subscriber_filter(log: &str, serving: bool) -> tracing_subscriber::EnvFilter {
    // Commands other than `serve` stay quiet unless asked.
    let default = if serving { log } else { "warn" };
    tracing_subscriber::EnvFilter::try_new(default)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

async fn run(cli: Cli, config: Config) -> Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(config.bind)
                .await
                .with_context(|| format!("cannot listen on {}", config.bind))?;
            tessera_server::launch(config, listener, tessera_server::shutdown_signal()).await?;
            Ok(())
        }
        Command::Migrate => {
            store::connect(&config.database_url).await?;
            say("migrations applied")
        }
        Command::User(cmd) => user(cmd, &domain(&config).await?).await,
        Command::Keys(cmd) => keys(cmd, &domain(&config).await?).await,
        Command::Client(cmd) => client(cmd, &domain(&config).await?).await,
        Command::Token(TokenCommand::Decode { jwt }) => decode(&jwt),
        Command::Token(TokenCommand::Verify {
            jwt,
            jwks,
            secret_env,
        }) => verify(&config, &jwt, jwks, secret_env).await,
    }
}

async fn domain(config: &Config) -> Result<Tessera> {
    let store = store::connect(&config.database_url).await?;
    Ok(Tessera::start(
        store,
        config.settings_for(config.bind),
        Arc::new(SystemClock),
    )
    .await?)
}

fn say(text: impl std::fmt::Display) -> Result<()> {
    writeln!(std::io::stdout(), "{text}")?;
    Ok(())
}

async fn user(cmd: UserCommand, tessera: &Tessera) -> Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            admin,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                (text.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (b64url(random_bytes::<18>()), true)
            };
            let roles = if admin {
                vec!["admin".to_owned()]
            } else {
                Vec::new()
            };
            let account = NewAccount {
                username: name,
                password: password.clone().into(),
                roles,
                ..NewAccount::default()
            };
            let user = tessera
                .accounts()
                .create_user(account, None, &ClientInfo::default())
                .await?;
            say(format!(
                "created {} ({}) roles={}",
                user.username,
                user.id,
                user.roles.join(",")
            ))?;
            if generated {
                say(format!("password: {password}"))?;
            }
            Ok(())
        }
        UserCommand::List => {
            let mut cursor = None;
            say(format!(
                "{:<32} {:<36} {:<20} {}",
                "USERNAME", "ID", "ROLES", "DISABLED"
            ))?;
            loop {
                let page = tessera
                    .accounts()
                    .list_users(100, cursor.as_deref())
                    .await?;
                for u in page.items {
                    say(format!(
                        "{:<32} {:<36} {:<20} {}",
                        u.username,
                        u.id,
                        u.roles.join(","),
                        u.disabled
                    ))?;
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => return Ok(()),
                }
            }
        }
        UserCommand::SetRoles { name, roles } => {
            let user = tessera.accounts().set_roles(&name, roles).await?;
            say(format!("{} roles={}", user.username, user.roles.join(",")))
        }
        UserCommand::Delete { name } => {
            let user = tessera
                .accounts()
                .delete_user(None, &name, &ClientInfo::default())
                .await?;
            say(format!("deleted {}", user.username))
        }
    }
}

async fn keys(cmd: KeysCommand, tessera: &Tessera) -> Result<()> {
    match cmd {
        KeysCommand::List => {
            say(format!(
                "{:<44} {:<6} {:<9} {:<26} {:<26} USE",
                "KID", "ALG", "STATUS", "ACTIVATES", "RETIRE AFTER"
            ))?;
            for k in tessera.keys().list_keys() {
                let status = serde_json::to_value(k.status)?
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                say(format!(
                    "{:<44} {:<6} {:<9} {:<26} {:<26} {}",
                    k.kid,
                    k.alg,
                    status,
                    rfc3339(k.activates_at),
                    k.retire_after.map(rfc3339).unwrap_or_default(),
                    serde_json::to_value(k.purpose)?
                        .as_str()
                        .unwrap_or_default()
                ))?;
            }
            Ok(())
        }
        KeysCommand::Rotate => {
            let kid = tessera.keys().rotate_keys(None).await?;
            say(format!(
                "rotated: {kid} signs from now on (running servers switch within about a second)"
            ))
        }
    }
}

async fn client(cmd: ClientCommand, tessera: &Tessera) -> Result<()> {
    match cmd {
        ClientCommand::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            grants,
            scopes,
            confidential,
            id_token_alg,
        } => {
            let grants = if grants.is_empty() {
                vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
            } else {
                grants
            };
            let grant_types = grants
                .iter()
                .map(|g| GrantType::parse(g).with_context(|| format!("unknown grant type {g}")))
                .collect::<Result<Vec<_>>>()?;
            let scopes = if scopes.is_empty() {
                ["openid", "profile", "email"].map(String::from).to_vec()
            } else {
                scopes
            };
            let new = NewClient {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                grant_types,
                scopes,
                confidential,
                id_token_alg,
            };
            let (created, secret) = tessera
                .clients()
                .register_client(new, None, &ClientInfo::default())
                .await?;
            say(format!("client_id: {}", created.client_id))?;
            if let Some(secret) = secret {
                say(format!(
                    "client_secret: {secret}\n(shown this once; Tessera keeps only its hash)"
                ))?;
            }
            Ok(())
        }
        ClientCommand::List => {
            say(format!(
                "{:<24} {:<13} {:<40} {}",
                "CLIENT ID", "TYPE", "GRANTS", "NAME"
            ))?;
            for c in tessera.clients().clients().await? {
                let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                say(format!(
                    "{:<24} {:<13} {:<40} {}",
                    c.client_id,
                    if c.confidential {
                        "confidential"
                    } else {
                        "public"
                    },
                    grants.join(","),
                    c.name
                ))?;
            }
            Ok(())
        }
        ClientCommand::Delete { client_id } => {
            tessera
                .clients()
                .delete_client(&client_id, None, &ClientInfo::default())
                .await?;
            say(format!("deleted {client_id}; its sessions are revoked"))
        }
    }
}

/// Claim names that suggest something that should never sit in a readable token.
const SENSITIVE: [&str; 8] = [
    "password", "passwd", "secret", "ssn", "credit", "card", "cvv", "private",
];

fn decode(jwt: &str) -> Result<()> {
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

async fn verify(
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

    fn parse(args: &[&str]) -> Command {
        let cli = Cli::try_parse_from(std::iter::once("tessera").chain(args.iter().copied()));
        match cli {
            Ok(Cli {
                command: Some(command),
            }) => command,
            other => panic!("{args:?} did not parse: {other:?}"),
        }
    }

    #[test]
    fn ids_and_names_beginning_with_a_hyphen_are_values() {
        // One generated client id in 64 begins with `-`.
        let Command::Client(ClientCommand::Delete { client_id }) =
            parse(&["client", "delete", "-19JFhO8cOhc2r8-Mls1YQ"])
        else {
            panic!("not client delete");
        };
        assert_eq!(client_id, "-19JFhO8cOhc2r8-Mls1YQ");
        let Command::User(UserCommand::Delete { name }) = parse(&["user", "delete", "-bob"]) else {
            panic!("not user delete");
        };
        assert_eq!(name, "-bob");
        let Command::User(UserCommand::SetRoles { name, roles }) =
            parse(&["user", "set-roles", "-bob", "-ops", "admin"])
        else {
            panic!("not user set-roles");
        };
        assert_eq!(
            (name.as_str(), roles),
            ("-bob", vec!["-ops".to_owned(), "admin".to_owned()])
        );
    }

    #[test]
    fn flags_still_parse_beside_hyphen_values() {
        for args in [
            ["user", "add", "--admin", "bob"],
            ["user", "add", "bob", "--admin"],
        ] {
            let Command::User(UserCommand::Add {
                name,
                admin,
                password_stdin,
            }) = parse(&args)
            else {
                panic!("not user add");
            };
            assert_eq!(
                (name.as_str(), admin, password_stdin),
                ("bob", true, false),
                "{args:?}"
            );
        }
        assert!(Cli::try_parse_from(["tessera", "client", "delete"]).is_err());
    }

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
