//! Test support shared by the workspace's test suites: a fresh database per
//! test on either backend, and a PostgreSQL server of a test's own to stop,
//! pause and restart. Compiled only for tests (feature `testing`).

use tessera_token::crypto::{b64url, random_bytes};

/// The PostgreSQL server tests use (`TESSERA_TEST_POSTGRES_URL`, default the
/// local trust-auth server's `test` database).
pub fn postgres_admin_url() -> String {
    std::env::var("TESSERA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Whether PostgreSQL tests must run (`CI=true`) rather than be skipped when
/// no server answers.
pub fn postgres_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A URL naming a new, empty PostgreSQL schema of its own, or `None` when no
/// server answers and PostgreSQL is not required. Panics under `CI=true` if
/// PostgreSQL is unreachable, so the suite can never skip it silently there.
pub async fn fresh_postgres_url() -> Option<String> {
    use sqlx::Connection as _;
    let admin = postgres_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) if postgres_required() => {
            panic!("PostgreSQL is required under CI=true but unreachable at {admin}: {e}")
        }
        Err(e) => {
            eprintln!("skipping PostgreSQL test: {e}");
            return None;
        }
    };
    let schema = format!(
        "t_{}",
        b64url(random_bytes::<9>())
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create schema {schema}: {e}"));
    let sep = if admin.contains('?') { '&' } else { '?' };
    Some(format!("{admin}{sep}options=-c%20search_path%3D{schema}"))
}

/// A URL naming a new SQLite file in `dir`.
pub fn fresh_sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("tessera.db").display())
}

/// Runs one SQL statement on the database at `url` (SQLite or PostgreSQL),
/// past the store: for tests that need a state the store's own operations
/// never leave behind. Panics if the statement fails.
pub async fn execute_sql(url: &str, sql: &str) {
    use sqlx::Connection as _;
    let done = async {
        if url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(url).await?;
            sqlx::query(sql).execute(&mut conn).await?;
        } else {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            sqlx::query(sql).execute(&mut conn).await?;
        }
        Ok::<(), sqlx::Error>(())
    }
    .await;
    if let Err(e) = done {
        panic!("cannot run {sql:?} on {url}: {e}");
    }
}

// ------------------------------------------------- a PostgreSQL of one's own

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A PostgreSQL server of the test's own.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    pid: u32,
    /// `-c name=value` settings the server runs with.
    settings: Vec<String>,
}

/// The directory of PostgreSQL's server binaries, if installed.
fn server_binaries() -> Option<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// Runs `program` as the `postgres` user; whether it succeeded.
fn as_postgres(program: &Path, args: &[&str]) -> bool {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Sends `signal` to the postmaster `pid` and every process it started
/// (each backend is a session of its own, so a process group is not enough).
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("pkill")
        .args([signal, "-P", &pid.to_string()])
        .status();
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
}

impl PrivatePostgres {
    /// Starts one without `fsync` (fast, and enough for tests whose
    /// server is stopped cleanly), or says why it cannot.
    pub fn start() -> Result<Self, String> {
        Self::start_with(&["fsync=off"])
    }

    /// Starts one with `settings` (`name=value`, as `postgres -c` takes
    /// them; none gives PostgreSQL's defaults, `fsync` on), or says why it
    /// cannot.
    pub fn start_with(settings: &[&str]) -> Result<Self, String> {
        let bin = server_binaries().ok_or("no PostgreSQL server binaries")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        let chown = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status();
        if !chown.is_ok_and(|s| s.success()) {
            return Err("cannot hand a directory to the postgres user (not root?)".into());
        }
        let data_text = data.to_str().ok_or("path")?;
        if !as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data_text,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        ) {
            return Err("initdb failed".into());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let mut pg = PrivatePostgres {
            dir,
            bin,
            port,
            pid: 0,
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
        };
        pg.launch()?;
        Ok(pg)
    }

    /// Starts the server on its data directory and waits until it answers.
    pub fn launch(&mut self) -> Result<(), String> {
        let data = self.dir.path().join("data");
        let data_text = data.to_str().ok_or("path")?.to_owned();
        let socket_dir = self.dir.path().to_str().ok_or("path")?.to_owned();
        let started = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("postgres"))
            .args([
                "-D",
                &data_text,
                "-p",
                &self.port.to_string(),
                "-k",
                &socket_dir,
            ])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(self.settings.iter().flat_map(|s| ["-c", s.as_str()]))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if started.is_err() {
            return Err("postgres did not start".into());
        }
        let pid_file = data.join("postmaster.pid");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready && let Ok(text) = std::fs::read_to_string(&pid_file) {
                let pid = text.lines().next().and_then(|l| l.trim().parse().ok());
                if let Some(pid) = pid {
                    self.pid = pid;
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err("postgres did not become ready".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Shuts the server down (`pg_ctl stop -m fast`: connections are cut).
    pub fn stop(&self) {
        assert!(self.shut_down().is_ok(), "pg_ctl stop");
    }

    /// Like [`PrivatePostgres::stop`], saying whether it worked.
    pub fn shut_down(&self) -> Result<(), String> {
        let data = self.dir.path().join("data");
        let data = data.to_string_lossy();
        if as_postgres(
            &self.bin.join("pg_ctl"),
            &["stop", "-m", "fast", "-D", &data],
        ) {
            Ok(())
        } else {
            Err("pg_ctl stop failed".into())
        }
    }

    /// One of PostgreSQL's programs of the server's own version
    /// (`pg_dump`, `pg_restore`, …).
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's process id (its backends are its children).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The URL Tessera connects with.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops every process of the server where it stands (`SIGSTOP`).
    pub fn pause(&self) {
        signal(self.pid, "-STOP");
    }

    /// Lets them run again (`SIGCONT`).
    pub fn resume(&self) {
        signal(self.pid, "-CONT");
    }

    /// Runs `sql` with `psql` and answers its rows, one a line, the
    /// columns separated by `|`.
    pub fn query(&self, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-At", "-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The backends of the connections `sql` selects from
    /// `pg_stat_activity` (`SELECT pid FROM pg_stat_activity WHERE …`).
    pub fn backends(&self, sql: &str) -> Vec<u32> {
        self.query(sql)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

/// Stops (`-STOP`) or resumes (`-CONT`) the processes `pids`, for example
/// a few backends of a [`PrivatePostgres`], with the rest running.
pub fn signal_processes(pids: &[u32], signal: &str) {
    for pid in pids {
        let _ = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        signal(self.pid, "-CONT");
        signal(self.pid, "-KILL");
        let _ = &self.dir;
    }
}

/// The private server, or `None` where it cannot run outside CI.
pub fn private_postgres() -> Option<PrivatePostgres> {
    match PrivatePostgres::start() {
        Ok(pg) => Some(pg),
        Err(why) if postgres_required() => {
            panic!("a private PostgreSQL is required under CI=true: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}
