//! Tests of the `tessera` binary itself (SPEC §1 and §7): every command runs
//! as a child process in a temporary working directory on a SQLite file
//! there, and `tessera serve` listens on an ephemeral port that its log names.
//! Every child is killed when its test ends (guards with `Drop`), and every
//! wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ChildGuard, drain, spawn_server};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
/// Passes the default password policy.
const PASSWORD: &str = "cli-test-passphrase-7731";
/// One issuer for the server and the commands that verify its tokens (the
/// default issuer names the port bound, which a second process cannot know).
const ISSUER: &str = "http://tessera.cli.test";
/// The longest any command or start-up may take.
const TIMEOUT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------- harness

/// A working directory and the environment the binary runs with.
struct Env {
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl Env {
    /// A tempdir with a SQLite file there, port 0 and a fixed issuer.
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("cli.db").display());
        Env {
            dir,
            vars: Vec::new(),
        }
        .var("TESSERA_DATABASE_URL", &url)
        .var("TESSERA_BIND", "127.0.0.1:0")
        .var("TESSERA_ISSUER", ISSUER)
    }

    /// An empty directory and no configuration at all except `vars`.
    fn bare(vars: &[(&str, &str)]) -> Self {
        let mut env = Env {
            dir: tempfile::tempdir().expect("tempdir"),
            vars: Vec::new(),
        };
        for (k, v) in vars {
            env = env.var(k, v);
        }
        env
    }

    fn var(mut self, key: &str, value: &str) -> Self {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
        self
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn db_file(&self) -> PathBuf {
        self.path().join("cli.db")
    }

    /// The binary with `args`, in the directory, with only this environment's
    /// `TESSERA_*` variables (none inherited from the test runner).
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).current_dir(self.path());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TESSERA_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("NO_COLOR", "1").env_remove("RUST_LOG");
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a command to completion (bounded by [`TIMEOUT`]).
    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None, &[])
    }

    fn run_with(&self, args: &[&str], stdin: Option<&str>, extra: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = ChildGuard(cmd.spawn().expect("spawn tessera"));
        if let Some(input) = stdin {
            let mut pipe = child.0.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        let stdout = drain(child.0.stdout.take().expect("stdout"));
        let stderr = drain(child.0.stderr.take().expect("stderr"));
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = child.0.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "tessera {args:?} did not finish within {TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        Run {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            status,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        }
    }

    /// Starts `tessera serve` (or the bare binary, with `args` empty) and
    /// waits for it to log its address.
    fn serve_with(&self, args: &[&str]) -> Server {
        let (child, addr, log) = spawn_server(self.command(args), TIMEOUT);
        Server {
            child,
            base: format!("http://{addr}"),
            log,
        }
    }

    fn serve(&self) -> Server {
        self.serve_with(&["serve"])
    }
}

/// A finished command.
#[derive(Debug)]
struct Run {
    args: Vec<String>,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Self {
        assert!(
            self.status.success(),
            "tessera {:?} failed ({}):\nstdout: {}\nstderr: {}",
            self.args,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    fn fails(self) -> Self {
        assert!(
            !self.status.success(),
            "tessera {:?} should have failed:\nstdout: {}\nstderr: {}",
            self.args,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A running `tessera serve`.
struct Server {
    child: ChildGuard,
    base: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `kill -9`: no shutdown, no flushing, nothing.
    fn kill9(mut self) {
        self.child.0.kill().expect("SIGKILL");
        let status = self.child.0.wait().expect("wait");
        assert!(!status.success(), "killed, not exited: {status}");
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn post(server: &Server, path: &str, body: Value) -> (reqwest::StatusCode, Value) {
    let r = client()
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn get(server: &Server, path: &str, token: Option<&str>) -> (reqwest::StatusCode, Value) {
    let mut req = client().get(server.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("request");
    let status = r.status();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Registers `username`; returns the token response.
async fn register(server: &Server, username: &str) -> Value {
    let (status, body) = post(
        server,
        "/auth/register",
        json!({"username": username, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "register: {body}");
    body
}

async fn login(server: &Server, username: &str, password: &str) -> (reqwest::StatusCode, Value) {
    post(
        server,
        "/auth/login",
        json!({"username": username, "password": password}),
    )
    .await
}

/// The row of `user list` for `name`, split on whitespace.
fn user_row(list: &str, name: &str) -> Option<Vec<String>> {
    list.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|cols| cols.first().map(String::as_str) == Some(name))
}

fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).expect("json"))
}

/// An unsigned-looking compact JWS from a header and claims (signature bytes are junk).
fn forge(header: Value, claims: Value) -> String {
    format!(
        "{}.{}.{}",
        b64(&header),
        b64(&claims),
        URL_SAFE_NO_PAD.encode(b"sig")
    )
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
}

// ------------------------------------------------------------------ tests

#[test]
fn migrate_creates_the_database_and_is_idempotent() {
    let env = Env::new();
    assert!(!env.db_file().exists());
    let run = env.run(&["migrate"]).ok();
    assert!(run.stdout.contains("migrations applied"), "{}", run.stdout);
    assert!(env.db_file().exists(), "the SQLite file is created");
    env.run(&["migrate"]).ok();
    // The migrated database serves the other commands.
    let list = env.run(&["user", "list"]).ok();
    assert!(list.stdout.starts_with("USERNAME"), "{}", list.stdout);
    assert_eq!(list.stdout.lines().count(), 1, "no users yet");
}

#[test]
fn user_add_admin_with_password_stdin_then_user_list_shows_it() {
    let env = Env::new();
    let run = env
        .run_with(
            &["user", "add", "root", "--admin", "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
            &[],
        )
        .ok();
    assert!(
        run.stdout.contains("created root (") && run.stdout.contains("roles=admin,user"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("password:") && !run.stdout.contains(PASSWORD),
        "a password read from stdin is never echoed: {}",
        run.stdout
    );
    env.run_with(
        &["user", "add", "plain", "--password-stdin"],
        Some(PASSWORD),
        &[],
    )
    .ok();

    let list = env.run(&["user", "list"]).ok().stdout;
    let root = user_row(&list, "root").unwrap_or_else(|| panic!("root listed:\n{list}"));
    assert_eq!(root[2], "admin,user", "{root:?}");
    assert_eq!(root[3], "false", "{root:?}");
    let plain = user_row(&list, "plain").expect("plain listed");
    assert_eq!(plain[2], "user");
    // Ordered by username.
    let names: Vec<&str> = list
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, vec!["plain", "root"]);

    // A taken name (any case) and a weak password are refused.
    let taken = env
        .run_with(
            &["user", "add", "ROOT", "--password-stdin"],
            Some(PASSWORD),
            &[],
        )
        .fails();
    assert!(taken.stderr.contains("taken"), "{}", taken.stderr);
    let weak = env
        .run_with(
            &["user", "add", "weakling", "--password-stdin"],
            Some("short"),
            &[],
        )
        .fails();
    assert!(weak.stderr.contains("password"), "{}", weak.stderr);
    assert!(user_row(&env.run(&["user", "list"]).ok().stdout, "weakling").is_none());
}

#[tokio::test]
async fn user_add_without_password_stdin_prints_a_generated_password_that_logs_in() {
    let env = Env::new();
    let run = env.run(&["user", "add", "gen"]).ok();
    let password = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no generated password in {:?}", run.stdout))
        .trim()
        .to_owned();
    assert!(password.len() >= 12, "{password:?}");
    // Each generated password is new.
    let other = env.run(&["user", "add", "gen2"]).ok();
    assert!(!other.stdout.contains(&password));

    let server = env.serve();
    let (status, body) = login(&server, "gen", &password).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["user"]["username"], "gen");
    assert_eq!(body["user"]["roles"], json!(["user"]));
    let (status, _) = login(&server, "gen", "not-the-generated-one").await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn user_set_roles_and_user_delete_respect_the_last_admin() {
    let env = Env::new();
    env.run_with(
        &["user", "add", "root", "--admin", "--password-stdin"],
        Some(PASSWORD),
        &[],
    )
    .ok();
    env.run_with(
        &["user", "add", "bob", "--password-stdin"],
        Some(PASSWORD),
        &[],
    )
    .ok();

    let run = env
        .run(&["user", "set-roles", "bob", "editor", "auditor", "editor"])
        .ok();
    assert_eq!(run.stdout.trim(), "bob roles=auditor,editor,user");
    let list = env.run(&["user", "list"]).ok().stdout;
    assert_eq!(
        user_row(&list, "bob").expect("bob")[2],
        "auditor,editor,user"
    );
    // Names are matched ignoring case, and `user` is always kept.
    let run = env.run(&["user", "set-roles", "BOB"]).ok();
    assert_eq!(run.stdout.trim(), "bob roles=user");
    env.run(&["user", "set-roles", "bob", "not a role"]).fails();
    env.run(&["user", "set-roles", "nobody", "editor"]).fails();

    // The only admin can be neither demoted nor deleted.
    let refused = env.run(&["user", "set-roles", "root", "user"]).fails();
    assert!(refused.stderr.contains("last admin"), "{}", refused.stderr);
    let refused = env.run(&["user", "delete", "root"]).fails();
    assert!(refused.stderr.contains("last admin"), "{}", refused.stderr);

    // The new roles are in the tokens the server issues.
    env.run(&["user", "set-roles", "bob", "admin"]).ok();
    let server = env.serve();
    let (status, body) = login(&server, "bob", PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(body["user"]["roles"], json!(["admin", "user"]));
    let claims = decode_part(
        body["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap(),
    );
    assert_eq!(claims["roles"], json!(["admin", "user"]));
    let bob_access = body["access_token"].as_str().unwrap().to_owned();
    drop(server);

    // With a second admin, the first can go.
    let run = env.run(&["user", "delete", "root"]).ok();
    assert_eq!(run.stdout.trim(), "deleted root");
    let run = env.run(&["user", "delete", "bob"]).fails();
    assert!(run.stderr.contains("last admin"), "{}", run.stderr);
    env.run(&["user", "set-roles", "bob"]).fails();
    env.run_with(
        &["user", "add", "carol", "--password-stdin"],
        Some(PASSWORD),
        &[],
    )
    .ok();
    env.run(&["user", "delete", "carol"]).ok();
    let missing = env.run(&["user", "delete", "carol"]).fails();
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);
    let list = env.run(&["user", "list"]).ok().stdout;
    assert!(user_row(&list, "root").is_none() && user_row(&list, "carol").is_none());
    assert!(user_row(&list, "bob").is_some());

    // A deleted user cannot log in, and their tokens are refused by a server
    // that starts after the deletion.
    env.run(&["user", "add", "dora", "--admin"]).ok();
    env.run(&["user", "delete", "bob"]).ok();
    let server = env.serve();
    let (status, _) = login(&server, "bob", PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    let (status, _) = get(&server, "/me", Some(&bob_access)).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn keys_list_and_keys_rotate() {
    let env = Env::new();
    let list = env.run(&["keys", "list"]).ok().stdout;
    let rows: Vec<Vec<&str>> = list
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(list.starts_with("KID"), "{list}");
    assert_eq!(rows.len(), 1, "a first key is created: {list}");
    let first_kid = rows[0][0].to_owned();
    assert_eq!(rows[0][1], "ES256");
    assert_eq!(rows[0][2], "active");
    // Listing again creates nothing.
    assert_eq!(env.run(&["keys", "list"]).ok().stdout, list);

    let rotated = env.run(&["keys", "rotate"]).ok().stdout;
    let new_kid = rotated
        .trim()
        .strip_prefix("rotated: ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{rotated}"))
        .to_owned();
    assert_ne!(new_kid, first_kid);

    let list = env.run(&["keys", "list"]).ok().stdout;
    let status_of = |kid: &str| {
        list.lines()
            .find(|l| l.starts_with(kid))
            .and_then(|l| l.split_whitespace().nth(2))
            .map(str::to_owned)
    };
    assert_eq!(status_of(&new_kid).as_deref(), Some("active"), "{list}");
    assert_eq!(status_of(&first_kid).as_deref(), Some("retiring"), "{list}");

    // The server signs with the new key and still publishes the old one.
    let server = env.serve();
    let (_, jwks) = get(&server, "/.well-known/jwks.json", None).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&first_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{jwks}"
    );
    let body = register(&server, "kit").await;
    let header = decode_part(
        body["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap(),
    );
    assert_eq!(header["kid"], new_kid.as_str());
    drop(server);

    // With an HMAC algorithm there is nothing to rotate.
    let hmac = env
        .run_with(
            &["keys", "rotate"],
            None,
            &[
                ("TESSERA_JWT_ALG", "HS256"),
                (
                    "TESSERA_JWT_SECRET",
                    "an-hmac-secret-of-at-least-32-bytes!!",
                ),
            ],
        )
        .fails();
    assert!(hmac.stderr.contains("HMAC"), "{}", hmac.stderr);
}

/// The value after `label: ` on a line of `output`.
fn labelled<'a>(output: &'a str, label: &str) -> Option<&'a str> {
    output
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{label}: ")))
        .map(str::trim)
}

/// `POST /oauth/token` for the `client_credentials` grant, by HTTP Basic.
async fn client_credentials(
    server: &Server,
    client_id: &str,
    secret: &str,
) -> (reqwest::StatusCode, Value) {
    let r = client()
        .post(server.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("request");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn client_add_list_and_delete_manage_oauth_clients() {
    let env = Env::new();
    let added = env
        .run(&[
            "client",
            "add",
            "Billing service",
            "--confidential",
            "--grant",
            "client_credentials",
            "--scope",
            "invoices:read",
        ])
        .ok()
        .stdout;
    let service_id = labelled(&added, "client_id")
        .unwrap_or_else(|| panic!("{added}"))
        .to_owned();
    let secret = labelled(&added, "client_secret")
        .unwrap_or_else(|| panic!("a confidential client's secret: {added}"))
        .to_owned();
    assert!(added.contains("shown this once"), "{added}");

    let added = env
        .run(&[
            "client",
            "add",
            "Photos",
            "--redirect-uri",
            "https://photos.example/cb",
            "--post-logout-redirect-uri",
            "https://photos.example/bye",
        ])
        .ok()
        .stdout;
    let photos_id = labelled(&added, "client_id").unwrap().to_owned();
    assert!(
        labelled(&added, "client_secret").is_none(),
        "public: {added}"
    );

    // Refused registrations change nothing.
    for args in [
        &[
            "client",
            "add",
            "Bad",
            "--redirect-uri",
            "https://x.example/cb#frag",
        ][..],
        &["client", "add", "Bad", "--redirect-uri", "/relative"],
        &[
            "client",
            "add",
            "Bad",
            "--redirect-uri",
            "https://x.example/cb",
            "--grant",
            "implicit",
        ],
        &["client", "add", "Bad", "--grant", "client_credentials"],
        &["client", "add", "No redirect URI for the code flow"],
        &[
            "client",
            "add",
            "Bad",
            "--redirect-uri",
            "https://x.example/cb",
            "--scope",
            "bad\\scope",
        ],
        &[
            "client",
            "add",
            "Bad",
            "--confidential",
            "--grant",
            "client_credentials",
            "--id-token-alg",
            "HS256",
        ],
    ] {
        env.run(args).fails();
    }

    let list = env.run(&["client", "list"]).ok().stdout;
    assert!(list.starts_with("CLIENT ID"), "{list}");
    let rows: Vec<Vec<&str>> = list
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{list}");
    let row = |id: &str| {
        rows.iter()
            .find(|r| r[0] == id)
            .unwrap_or_else(|| panic!("{id} in {list}"))
            .clone()
    };
    assert_eq!(
        row(&service_id)[1..],
        ["confidential", "client_credentials", "Billing", "service"]
    );
    assert_eq!(
        row(&photos_id)[1..],
        ["public", "authorization_code,refresh_token", "Photos"]
    );
    assert!(!list.contains(&secret), "the secret is never listed");

    // The server knows the clients: the secret works, a wrong one does not.
    let server = env.serve();
    let (status, wrong) = client_credentials(&server, &service_id, "wrong").await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "{wrong}");
    let (status, token) = client_credentials(&server, &service_id, &secret).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{token}");
    assert_eq!(token["scope"], "invoices:read");
    let access = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        decode_part(access.split('.').nth(1).unwrap())["sub"],
        service_id.as_str()
    );
    let verify = client()
        .get(server.url("/auth/verify"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), reqwest::StatusCode::OK);
    let (_, jwks) = get(&server, "/.well-known/jwks.json", None).await;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["alg"] == "RS256"),
        "registering a client made the RS256 ID-token key: {jwks}"
    );
    drop(server);

    let deleted = env.run(&["client", "delete", &service_id]).ok().stdout;
    assert!(deleted.contains(&service_id), "{deleted}");
    let missing = env.run(&["client", "delete", &service_id]).fails();
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);
    let list = env.run(&["client", "list"]).ok().stdout;
    assert!(
        !list.contains(&service_id) && list.contains(&photos_id),
        "{list}"
    );

    // After the deletion its secret is worthless and its token refused.
    let server = env.serve();
    let (status, _) = client_credentials(&server, &service_id, &secret).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    let verify = client()
        .get(server.url("/auth/verify"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), reqwest::StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn token_decode_prints_header_claims_and_warnings() {
    let env = Env::new();
    let server = env.serve();
    let body = register(&server, "decoder").await;
    let jwt = body["access_token"].as_str().unwrap().to_owned();
    drop(server);

    // A real token: readable, and nothing to warn about.
    let out = env.run(&["token", "decode", &jwt]).ok().stdout;
    assert!(out.contains("header:") && out.contains("claims:"), "{out}");
    assert!(out.contains(r#""alg": "ES256""#), "{out}");
    assert!(out.contains(r#""typ": "at+jwt""#), "{out}");
    assert!(out.contains(r#""username": "decoder""#), "{out}");
    assert!(out.contains(&format!(r#""iss": "{ISSUER}""#)), "{out}");
    assert!(
        out.contains(r#""sid":"#) && out.contains(r#""jti":"#),
        "{out}"
    );
    assert!(!out.contains("warning:"), "{out}");
    // Decoding needs neither a database nor a key.
    let elsewhere = Env::bare(&[]);
    elsewhere.run(&["token", "decode", &jwt]).ok();
    assert!(!elsewhere.path().join("tessera.db").exists());

    let warnings = |jwt: &str| -> Vec<String> {
        env.run(&["token", "decode", jwt])
            .ok()
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("warning: ").map(str::to_owned))
            .collect()
    };
    let has = |w: &[String], needle: &str| w.iter().any(|l| l.contains(needle));

    let w = warnings(&forge(json!({"alg": "none"}), json!({"sub": "x"})));
    assert!(has(&w, "alg is none"), "{w:?}");
    assert!(has(&w, "no exp"), "{w:?}");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let w = warnings(&forge(
        json!({"alg": "HS256", "typ": "JWT"}),
        json!({"sub": "x", "iat": now, "exp": now + 30 * 86_400}),
    ));
    assert!(has(&w, "HS256 is HMAC"), "{w:?}");
    assert!(has(&w, "long lifetime"), "{w:?}");
    assert!(!has(&w, "no exp"), "{w:?}");

    let w = warnings(&forge(
        json!({"alg": "ES256"}),
        json!({"sub": "x", "iat": now, "exp": now + 600, "password": "hunter2", "credit_card": "4111", "ssn": "1"}),
    ));
    for claim in ["password", "credit_card", "ssn"] {
        assert!(
            has(&w, &format!("\"{claim}\" looks sensitive")),
            "{claim}: {w:?}"
        );
    }
    assert!(
        !has(&w, "HMAC") && !has(&w, "lifetime") && !has(&w, "no exp"),
        "{w:?}"
    );

    // Garbage is an error, not a panic.
    for bad in ["not-a-jwt", "%%%.%%%.%%%", "e30"] {
        let run = env.run(&["token", "decode", bad]).fails();
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

#[tokio::test]
async fn token_verify_with_jwks_accepts_a_real_token_and_rejects_a_tampered_one() {
    let env = Env::new();
    let server = env.serve();
    let body = register(&server, "verifier").await;
    let jwt = body["access_token"].as_str().unwrap().to_owned();
    let jwks = server.url("/.well-known/jwks.json");

    let run = env.run(&["token", "verify", &jwt, "--jwks", &jwks]).ok();
    assert!(run.stdout.starts_with("valid"), "{}", run.stdout);
    assert!(
        run.stdout.contains(r#""username": "verifier""#),
        "{}",
        run.stdout
    );

    // Claims changed, signature kept.
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut claims = decode_part(parts[1]);
    claims["username"] = json!("mallory");
    claims["roles"] = json!(["admin", "user"]);
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    let run = env
        .run(&["token", "verify", &tampered, "--jwks", &jwks])
        .fails();
    assert!(run.stderr.contains("invalid token"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    // Signature changed.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 0x01;
    let bad_sig = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(&sig));
    env.run(&["token", "verify", &bad_sig, "--jwks", &jwks])
        .fails();

    // alg none with the same claims.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "at+jwt"})),
        parts[1]
    );
    env.run(&["token", "verify", &none, "--jwks", &jwks])
        .fails();

    // A verifier expecting another issuer refuses it.
    env.run_with(
        &["token", "verify", &jwt, "--jwks", &jwks],
        None,
        &[("TESSERA_ISSUER", "http://someone-else.test")],
    )
    .fails();

    // An unreachable JWKS is an error, not a hang or a pass.
    drop(server);
    env.run(&["token", "verify", &jwt, "--jwks", &jwks]).fails();
}

#[tokio::test]
async fn token_verify_with_secret_env_for_an_hs256_server() {
    let secret = "a-shared-hmac-secret-for-the-cli-tests-0123";
    let env = Env::new()
        .var("TESSERA_JWT_ALG", "HS256")
        .var("TESSERA_JWT_SECRET", secret);
    let server = env.serve();
    let (_, jwks) = get(&server, "/.well-known/jwks.json", None).await;
    assert_eq!(jwks["keys"], json!([]), "no public keys for HS256");
    let body = register(&server, "hmac-user").await;
    let jwt = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(decode_part(jwt.split('.').next().unwrap())["alg"], "HS256");
    drop(server);

    let run = env
        .run_with(
            &["token", "verify", &jwt, "--secret-env", "MY_HS_SECRET"],
            None,
            &[("MY_HS_SECRET", secret)],
        )
        .ok();
    assert!(run.stdout.starts_with("valid"), "{}", run.stdout);
    assert!(
        run.stdout.contains(r#""username": "hmac-user""#),
        "{}",
        run.stdout
    );

    // Another secret: refused.
    let run = env
        .run_with(
            &["token", "verify", &jwt, "--secret-env", "MY_HS_SECRET"],
            None,
            &[("MY_HS_SECRET", "another-secret-that-is-also-long-enough")],
        )
        .fails();
    assert!(run.stderr.contains("invalid token"), "{}", run.stderr);
    // A variable that is not set: named in the error.
    let run = env
        .run(&[
            "token",
            "verify",
            &jwt,
            "--secret-env",
            "NO_SUCH_SECRET_VAR",
        ])
        .fails();
    assert!(run.stderr.contains("NO_SUCH_SECRET_VAR"), "{}", run.stderr);
    // Tampered claims: refused.
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut claims = decode_part(parts[1]);
    claims["roles"] = json!(["admin", "user"]);
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    env.run_with(
        &["token", "verify", &tampered, "--secret-env", "MY_HS_SECRET"],
        None,
        &[("MY_HS_SECRET", secret)],
    )
    .fails();
}

#[test]
fn a_bad_configuration_value_stops_with_one_line_naming_the_variable() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("TESSERA_ACCESS_TTL", "soon", &["serve"]),
        ("TESSERA_ACCESS_TTL", "soon", &[]),
        ("TESSERA_ACCESS_TTL", "0s", &["serve"]),
        ("TESSERA_REFRESH_TTL", "-5m", &["serve"]),
        ("TESSERA_BIND", "not-an-address", &["serve"]),
        ("TESSERA_JWT_ALG", "HS1024", &["serve"]),
        ("TESSERA_JWT_SECRET", "too-short", &["serve"]),
        (
            "TESSERA_DATABASE_URL",
            "mysql://localhost/tessera",
            &["serve"],
        ),
        ("TESSERA_REGISTRATION_RATE", "lots", &["serve"]),
        ("TESSERA_ACCESS_TTL", "soon", &["user", "list"]),
        ("TESSERA_ACCESS_TTL", "soon", &["migrate"]),
    ];
    for (var, value, args) in cases {
        let mut env = Env::new().var(var, value);
        if *var == "TESSERA_JWT_SECRET" {
            env = env.var("TESSERA_JWT_ALG", "HS256");
        }
        let run = env.run(args);
        assert!(!run.status.success(), "{var}={value} {args:?} must fail");
        let lines: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{var}={value}: one line, got {:?}",
            run.stderr
        );
        assert!(lines[0].contains(var), "{var}={value}: {:?}", lines[0]);
        assert!(run.stdout.is_empty(), "{var}={value}: {:?}", run.stdout);
        assert!(
            !run.stderr.contains("listening"),
            "{var}={value}: not started"
        );
        assert!(
            !env.db_file().exists(),
            "{var}={value}: nothing half-started"
        );
    }
}

#[test]
fn the_dot_env_file_is_read_and_the_real_environment_wins() {
    let env = Env::new();
    std::fs::write(env.path().join(".env"), "TESSERA_ACCESS_TTL=soon\n").unwrap();
    let run = env.run(&["migrate"]).fails();
    assert!(run.stderr.contains("TESSERA_ACCESS_TTL"), "{}", run.stderr);
    env.run_with(&["migrate"], None, &[("TESSERA_ACCESS_TTL", "5m")])
        .ok();

    std::fs::write(
        env.path().join(".env"),
        "TESSERA_DATABASE_URL=sqlite://from-dotenv.db\n",
    )
    .unwrap();
    let bare = Env::bare(&[]);
    std::fs::copy(env.path().join(".env"), bare.path().join(".env")).unwrap();
    bare.run(&["migrate"]).ok();
    assert!(bare.path().join("from-dotenv.db").exists());
    assert!(!bare.path().join("tessera.db").exists());
}

#[tokio::test]
async fn zero_configuration_start_in_an_empty_directory_creates_tessera_db() {
    let env = Env::bare(&[("TESSERA_BIND", "127.0.0.1:0")]);
    assert_eq!(std::fs::read_dir(env.path()).unwrap().count(), 0);
    // No subcommand: `serve` is the default.
    let server = env.serve_with(&[]);
    assert!(
        env.path().join("tessera.db").exists(),
        "./tessera.db is created"
    );
    let (status, _) = get(&server, "/healthz", None).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let (status, _) = get(&server, "/readyz", None).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let (_, jwks) = get(&server, "/.well-known/jwks.json", None).await;
    assert_eq!(
        jwks["keys"].as_array().map(Vec::len),
        Some(1),
        "a key was generated: {jwks}"
    );
    assert_eq!(jwks["keys"][0]["alg"], "ES256");

    // The default issuer names the port actually bound.
    let body = register(&server, "zero").await;
    let claims = decode_part(
        body["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap(),
    );
    assert_eq!(claims["iss"], server.base.as_str());
    assert_eq!(claims["aud"], server.base.as_str());
    let (status, me) = get(&server, "/me", body["access_token"].as_str()).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{me}");
    assert!(server.log().contains("Tessera listening on"));
    drop(server);

    // The keys were stored: a second start publishes the same one.
    let again = env.serve_with(&[]);
    let (_, jwks_again) = get(&again, "/.well-known/jwks.json", None).await;
    assert_eq!(jwks_again, jwks);
}

#[tokio::test]
async fn an_acknowledged_registration_survives_kill_9() {
    let env = Env::new();
    let server = env.serve();
    let body = register(&server, "durable").await;
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    // Acknowledged (201): now crash without any chance to flush.
    server.kill9();

    let server = env.serve();
    let (status, body) = login(&server, "durable", PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    // The session written with the registration survived too.
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": refresh})).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    server.kill9();

    // And the refresh acknowledged just before the second crash.
    let server = env.serve();
    let (status, _) = get(&server, "/me", Some(&access)).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let refreshed = body["refresh_token"].as_str().unwrap();
    let (status, _) = post(
        &server,
        "/auth/refresh",
        json!({"refresh_token": refreshed}),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    drop(server);
    let list = env.run(&["user", "list"]).ok().stdout;
    assert!(user_row(&list, "durable").is_some(), "{list}");
}
