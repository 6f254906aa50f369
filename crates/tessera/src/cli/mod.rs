//! The command line (SPEC §7): `serve` (the default), `migrate`, `user …`,
//! `keys …`, `client …` and `token …` (one module each). Every command reads the same configuration as
//! `serve` and works through the same domain operations, so it is safe to
//! run while the server is up.

mod clients;
mod keys;
mod tokens;
mod users;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use tessera_core::{Tessera, store};
use tessera_server::Config;
use tessera_token::clock::SystemClock;

/// Tessera: a self-hosted authentication and authorization server with JWTs.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
struct Cli {
    /// The database to use (instead of `TESSERA_DATABASE_URL`).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
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
    /// Check or show the configuration (the environment and `.env`).
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration without starting: exit 0 when `serve`
    /// would accept it (with its warnings), 2 with the reason otherwise.
    Check,
    /// Print the effective configuration, defaults included, secrets
    /// redacted.
    Show,
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
    List {
        /// JSON lines for scripts, instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        /// The client id (a generated id may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Replace a client's redirect URIs (and post-logout redirect URIs).
    Update {
        /// The client id (a generated id may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A redirect URI (exact match; repeat for several; replaces them all).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A post-logout redirect URI (repeat for several; replaces them all).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A scope the client may ask for (repeat for several; replaces them
        /// all; taking one away ends the client's sessions).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// Give a confidential client a new secret (shown this once); the old
    /// one stops working at once.
    RotateSecret {
        /// The client id (a generated id may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
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
    List {
        /// JSON lines for scripts, instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one user.
    Show {
        /// Username (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Replace a user's roles (`user` is always kept).
    SetRoles {
        /// Username (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// Roles (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        roles: Vec<String>,
    },
    /// Disable a user: they cannot sign in, and every session ends.
    Disable {
        /// Username (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Enable a disabled user.
    Enable {
        /// Username (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        name: String,
    },
    /// Set a user's password, read from standard input; every session ends.
    SetPassword {
        /// Username (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        name: String,
    },
    /// List a user's live sessions.
    Sessions {
        /// Username (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// JSON lines for scripts, instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// End every session of a user.
    RevokeSessions {
        /// Username (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Delete a user and end their sessions.
    Delete {
        /// Username (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Print a password-reset link to hand to the user yourself (for a
    /// server without mail): it works once, for TESSERA_RESET_TTL, and
    /// voids the user's older links.
    ResetLink {
        /// Username (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        name: String,
    },
    /// Remove every second factor and recovery code of a user (they sign in
    /// with their password alone until they set one up again).
    ResetFactors {
        /// Username (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List signing keys and their status.
    List {
        /// JSON lines for scripts, instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Rotate now: a new key signs from now on.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a JWT's header and claims (anyone can read them) with warnings.
    Decode {
        /// The token, or `-` to read it from standard input (a token in an
        /// argument ends up in the shell's history).
        jwt: String,
    },
    /// Verify a JWT's signature and claims: an access token, or with
    /// `--id-token` an OpenID Connect ID token.
    Verify {
        /// The token, or `-` to read it from standard input (a token in an
        /// argument ends up in the shell's history).
        jwt: String,
        /// Verify against the JWK Set at this URL.
        #[arg(long, conflicts_with = "secret_env")]
        jwks: Option<String>,
        /// Verify with the HMAC secret in this environment variable.
        #[arg(long)]
        secret_env: Option<String>,
        /// The issuer to expect (default: the configured one).
        #[arg(long)]
        issuer: Option<String>,
        /// The audience to expect (default: the configured one; for an ID
        /// token, the client id, which may begin with `-`).
        #[arg(long, allow_hyphen_values = true)]
        audience: Option<String>,
        /// The token is an ID token (`aud` the client id, signed with the
        /// ID-token keys) rather than an access token.
        #[arg(long, conflicts_with = "secret_env")]
        id_token: bool,
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
    // Held until the process ends: dropping it writes out what is queued.
    let _log = init_tracing(&config, matches!(cli.command, None | Some(Command::Serve)));
    // `TOKIO_WORKER_THREADS`, tokio's own setting, asks for workers.
    let one_core = std::env::var_os("TOKIO_WORKER_THREADS").is_none()
        && std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let runtime = match runtime(one_core) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "tessera: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scheduler = if one_core {
        "one thread"
    } else {
        "a worker per core"
    };
    tracing::info!(scheduler, "runtime started");
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "tessera: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The async runtime: for a process allowed one core (`taskset`, a
/// container's CPU quota), tokio's current-thread scheduler, which runs
/// every task on the thread that started the runtime; otherwise a worker
/// per core (or as many as `TOKIO_WORKER_THREADS` says). On one core the
/// current-thread scheduler answered about 5% more refreshes a second than
/// the multi-thread one's single worker, with 30% fewer thread switches
/// each (BENCHMARKS.md, "One thread on one core").
fn runtime(one_core: bool) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if one_core {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}

/// Logs to standard error through a writer thread, so a request never waits
/// for the write of its access-log line (one system call per line costs
/// the busiest endpoints a fifth of their throughput). Nothing is dropped:
/// when the writer falls behind, logging waits for it. The queue holds 4,096
/// lines: enough for any burst the writer thread cannot keep up with for a
/// moment, where the default 128,000 slots are 5 MiB of memory held idle.
fn init_tracing(config: &Config, serving: bool) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber_filter(&config.log, serving);
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(4096)
        .lossy(false)
        .thread_name("tessera-log")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    if config.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    guard
}

fn tracing_subscriber_filter(log: &str, serving: bool) -> tracing_subscriber::EnvFilter {
    // Commands other than `serve` stay quiet unless asked; the warning that
    // signing keys are stored unencrypted is the server's to say, once.
    let default = if serving {
        log
    } else {
        "warn,tessera_core::service::keys=error"
    };
    tracing_subscriber::EnvFilter::try_new(default)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

async fn run(cli: Cli, mut config: Config) -> Result<()> {
    if let Some(url) = cli.database_url {
        config.database_url = url;
    }
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
        Command::User(cmd) => users::user(cmd, &domain(&config).await?).await,
        Command::Keys(cmd) => keys::keys(cmd, &domain(&config).await?).await,
        Command::Client(cmd) => clients::client(cmd, &domain(&config).await?).await,
        Command::Config(ConfigCommand::Check) => {
            for warning in &config.warnings {
                say(format!("warning: {warning}"))?;
            }
            say("configuration ok")
        }
        Command::Config(ConfigCommand::Show) => say(format!("{config:#?}")),
        Command::Token(TokenCommand::Decode { jwt }) => tokens::decode(&tokens::read_token(&jwt)?),
        Command::Token(TokenCommand::Verify {
            jwt,
            jwks,
            secret_env,
            issuer,
            audience,
            id_token,
        }) => {
            let jwt = tokens::read_token(&jwt)?;
            let expect = tokens::Expect {
                issuer,
                audience,
                id_token,
            };
            tokens::verify(&config, &jwt, jwks, secret_env, expect).await
        }
    }
}

/// The domain on the configured database, with every key a server would
/// have made by now (a server makes the ID-token key once it listens).
async fn domain(config: &Config) -> Result<Tessera> {
    existing_database(&config.database_url)?;
    let store = store::connect(&config.database_url).await?;
    let tessera = Tessera::start(
        store,
        config.settings_for(config.bind),
        Arc::new(SystemClock),
    )
    .await?;
    tessera.keys().ensure_id_token_key().await?;
    Ok(tessera)
}

/// Refuses a SQLite database that does not exist: a command run from the
/// wrong directory must not create an empty one and report no users.
/// (`serve` and `migrate` create it.)
fn existing_database(url: &str) -> Result<()> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(());
    };
    let path = rest.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" || std::path::Path::new(path).exists() {
        return Ok(());
    }
    let shown = std::env::current_dir()
        .map(|dir| dir.join(path).display().to_string())
        .unwrap_or_else(|_| path.to_owned());
    anyhow::bail!(
        "no database at {shown}; run this where Tessera's database is, \
         set TESSERA_DATABASE_URL or pass --database-url (`tessera migrate` creates one)"
    )
}

/// Asks before a destructive change when a person is at the terminal
/// (`--yes` skips it; a script's standard input is not a terminal).
pub(super) fn confirmed(question: &str, yes: bool) -> Result<bool> {
    use std::io::IsTerminal;
    if yes || !std::io::stdin().is_terminal() {
        return Ok(true);
    }
    write!(std::io::stderr(), "{question} [y/N] ")?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}

pub(super) fn say(text: impl std::fmt::Display) -> Result<()> {
    writeln!(std::io::stdout(), "{text}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        let cli = Cli::try_parse_from(std::iter::once("tessera").chain(args.iter().copied()));
        match cli {
            Ok(Cli {
                command: Some(command),
                ..
            }) => command,
            other => panic!("{args:?} did not parse: {other:?}"),
        }
    }

    #[test]
    fn one_core_gets_one_thread_and_more_cores_a_worker_each() {
        use tokio::runtime::RuntimeFlavor;
        let flavor = |one_core| runtime(one_core).unwrap().handle().runtime_flavor();
        assert_eq!(flavor(true), RuntimeFlavor::CurrentThread);
        assert_eq!(flavor(false), RuntimeFlavor::MultiThread);
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
        let Command::User(UserCommand::Delete { name, .. }) = parse(&["user", "delete", "-bob"])
        else {
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
        // A client id used as the audience may begin with `-` too.
        let Command::Token(TokenCommand::Verify { audience, .. }) = parse(&[
            "token",
            "verify",
            "-",
            "--id-token",
            "--audience",
            "-19JFhO8cOhc2r8",
        ]) else {
            panic!("not token verify");
        };
        assert_eq!(audience.as_deref(), Some("-19JFhO8cOhc2r8"));
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
}
