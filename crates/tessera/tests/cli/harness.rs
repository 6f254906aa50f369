//! The harness every module of this suite uses: a working directory with its
//! environment, commands run to completion, `tessera serve` started on an
//! ephemeral port, and small HTTP and output helpers.

use crate::common::{ChildGuard, drain, spawn_server};

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
pub(crate) const PASSWORD: &str = "cli-test-passphrase-7731";
/// One issuer for the server and the commands that verify its tokens (the
/// default issuer names the port bound, which a second process cannot know).
pub(crate) const ISSUER: &str = "http://tessera.cli.test";
/// The longest any command or start-up may take.
const TIMEOUT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------- harness

/// A working directory and the environment the binary runs with.
pub(crate) struct Env {
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl Env {
    /// A tempdir with a SQLite database there (made by `tessera migrate`,
    /// as an operator would first), port 0 and a fixed issuer.
    pub(crate) fn new() -> Self {
        let env = Self::unmigrated();
        env.run(&["migrate"]).ok();
        env
    }

    /// Like [`Env::new`], before any database exists.
    pub(crate) fn unmigrated() -> Self {
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
    pub(crate) fn bare(vars: &[(&str, &str)]) -> Self {
        let mut env = Env {
            dir: tempfile::tempdir().expect("tempdir"),
            vars: Vec::new(),
        };
        for (k, v) in vars {
            env = env.var(k, v);
        }
        env
    }

    pub(crate) fn var(mut self, key: &str, value: &str) -> Self {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
        self
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn db_file(&self) -> PathBuf {
        self.path().join("cli.db")
    }

    /// The binary with `args`, in the directory, with only this environment's
    /// `TESSERA_*` variables (none inherited from the test runner).
    fn command(&self, args: &[&str]) -> Command {
        self.command_under(&[], args)
    }

    /// Like [`Env::command`], the binary run by `launcher` (a program and
    /// its arguments, which then execs the binary), if any.
    fn command_under(&self, launcher: &[&str], args: &[&str]) -> Command {
        let mut cmd = match launcher {
            [program, launcher_args @ ..] => {
                let mut cmd = Command::new(program);
                cmd.args(launcher_args).arg(BIN);
                cmd
            }
            [] => Command::new(BIN),
        };
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
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None, &[])
    }

    pub(crate) fn run_with(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Run {
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
    pub(crate) fn serve_with(&self, args: &[&str]) -> Server {
        Self::serve_command(self.command(args))
    }

    pub(crate) fn serve(&self) -> Server {
        self.serve_with(&["serve"])
    }

    /// Starts `tessera serve` allowed one CPU alone (`taskset -c N`, the
    /// first CPU this test may use), as on a machine or in a container of
    /// one core.
    pub(crate) fn serve_on_one_core(&self) -> Server {
        let cpu = first_allowed_cpu();
        assert!(
            Command::new("taskset").arg("-V").output().is_ok(),
            "taskset (util-linux) is needed to start a server on one core"
        );
        let mut cmd = self.command_under(&["taskset", "-c", &cpu], &["serve"]);
        // tokio's own setting would ask for the multi-thread scheduler.
        cmd.env_remove("TOKIO_WORKER_THREADS");
        Self::serve_command(cmd)
    }

    /// Runs `cmd`, a `tessera serve`, and waits for it to log its address.
    fn serve_command(cmd: Command) -> Server {
        let (child, addr, log) = spawn_server(cmd, TIMEOUT);
        Server {
            child,
            base: format!("http://{addr}"),
            log,
        }
    }
}

/// The first CPU this process may run on (`Cpus_allowed_list` of
/// `/proc/self/status`, such as `0-1` or `2,5`).
fn first_allowed_cpu() -> String {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list");
    let cpu: String = list
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(!cpu.is_empty(), "no CPU in {list:?}");
    cpu
}

/// A finished command.
#[derive(Debug)]
pub(crate) struct Run {
    args: Vec<String>,
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    #[track_caller]
    pub(crate) fn ok(self) -> Self {
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
    pub(crate) fn fails(self) -> Self {
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
pub(crate) struct Server {
    child: ChildGuard,
    pub(crate) base: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `kill -9`: no shutdown, no flushing, nothing.
    pub(crate) fn kill9(mut self) {
        self.child.0.kill().expect("SIGKILL");
        let status = self.child.0.wait().expect("wait");
        assert!(!status.success(), "killed, not exited: {status}");
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub(crate) async fn post(server: &Server, path: &str, body: Value) -> (reqwest::StatusCode, Value) {
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

pub(crate) async fn get(
    server: &Server,
    path: &str,
    token: Option<&str>,
) -> (reqwest::StatusCode, Value) {
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
pub(crate) async fn register(server: &Server, username: &str) -> Value {
    let (status, body) = post(
        server,
        "/auth/register",
        json!({"username": username, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "register: {body}");
    body
}

pub(crate) async fn login(
    server: &Server,
    username: &str,
    password: &str,
) -> (reqwest::StatusCode, Value) {
    post(
        server,
        "/auth/login",
        json!({"username": username, "password": password}),
    )
    .await
}

/// The row of `user list` for `name`, split on whitespace.
pub(crate) fn user_row(list: &str, name: &str) -> Option<Vec<String>> {
    list.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|cols| cols.first().map(String::as_str) == Some(name))
}

pub(crate) fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
}
