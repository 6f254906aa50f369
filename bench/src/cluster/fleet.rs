//! The cluster under test: a PostgreSQL server of its own, N `tessera serve`
//! replicas on it (replica 0 through a [`LinkProxy`] whose link can be
//! slowed or cut), and nginx in front balancing across them.

use super::link::LinkProxy;
use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tessera_core::testing::PrivatePostgres;

/// The issuer every replica shares.
pub const ISSUER: &str = "http://tessera.cluster.test";
/// The administrator the load generator acts as.
pub const ADMIN: &str = "cluster-admin";
/// Its password.
pub const ADMIN_PASSWORD: &str = "a long passphrase for the cluster admin";
/// The master key every replica shares (32 bytes, base64).
const MASTER_KEY: &str = "Y2x1c3Rlci1ydW4tbWFzdGVyLWtleS0zMi1ieXRlcyE=";
/// The longest a replica may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How to build a fleet.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// The `tessera` binary the replicas start as.
    pub tessera: PathBuf,
    /// How many replicas.
    pub replicas: usize,
    /// `TESSERA_*` settings on top of the fleet's own.
    pub env: Vec<(String, String)>,
    /// PostgreSQL with `fsync` on (for throughput figures) rather than off.
    pub durable: bool,
}

/// One `tessera serve` process and how to start it again.
struct Replica {
    port: u16,
    database_url: String,
    child: Option<Child>,
}

/// A running cluster; everything stops when it is dropped.
pub struct Fleet {
    dir: tempfile::TempDir,
    config: FleetConfig,
    /// The database server.
    pub postgres: PrivatePostgres,
    /// The link between replica 0 and the database.
    pub link: LinkProxy,
    replicas: Vec<Replica>,
    nginx: Child,
    front_port: u16,
}

/// A port free on 127.0.0.1 now.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Debian's nginx, or one on `PATH`.
fn find_nginx() -> Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
        .context("no nginx binary (apt-get install nginx)")
}

/// How long nginx leaves out a replica that refused a connection.
pub const FAIL_TIMEOUT: Duration = Duration::from_secs(1);

/// The front's configuration: round robin over the replicas, a replica that
/// refuses connections skipped (passive health checks: open-source nginx
/// has no active ones), idempotent requests retried on a 502/503/504.
fn nginx_conf(dir: &Path, front: u16, replicas: &[u16]) -> String {
    let dir = dir.display();
    let servers: String = replicas
        .iter()
        .map(|p| {
            format!(
                "        server 127.0.0.1:{p} max_fails=1 fail_timeout={}s;\n",
                FAIL_TIMEOUT.as_secs()
            )
        })
        .collect();
    format!(
        "worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log error;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    upstream tessera {{
{servers}        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{front} backlog=4096;
        location / {{
            proxy_pass http://tessera;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_next_upstream error timeout http_502 http_503 http_504;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
        }}
    }}
}}
"
    )
}

impl Fleet {
    /// Starts PostgreSQL, the replicas (the first alone, so it runs the
    /// migrations and creates the administrator) and nginx.
    pub async fn start(config: FleetConfig) -> Result<Fleet> {
        if config.replicas == 0 {
            bail!("a fleet needs at least one replica");
        }
        let settings: &[&str] = if config.durable { &[] } else { &["fsync=off"] };
        let postgres = PrivatePostgres::start_with(settings)
            .map_err(|why| anyhow::anyhow!("a PostgreSQL of the run's own: {why}"))?;
        let pg_addr: SocketAddr = format!("127.0.0.1:{}", postgres.port()).parse()?;
        let link = LinkProxy::start(pg_addr).await?;
        let direct = postgres.url();
        let proxied = format!("postgres://postgres@{}/postgres", link.addr());
        let mut replicas = Vec::new();
        for i in 0..config.replicas {
            replicas.push(Replica {
                port: free_port()?,
                database_url: if i == 0 {
                    proxied.clone()
                } else {
                    direct.clone()
                },
                child: None,
            });
        }
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("tmp"))?;
        let front_port = free_port()?;
        let ports: Vec<u16> = replicas.iter().map(|r| r.port).collect();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, nginx_conf(dir.path(), front_port, &ports))?;
        let nginx = Command::new(find_nginx()?)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start nginx")?;
        let mut fleet = Fleet {
            dir,
            config,
            postgres,
            link,
            replicas,
            nginx,
            front_port,
        };
        let binary = fleet.config.tessera.clone();
        fleet.launch(0, &binary)?;
        fleet.wait_ready(0).await?;
        for i in 1..fleet.replicas.len() {
            fleet.launch(i, &binary)?;
        }
        for i in 1..fleet.replicas.len() {
            fleet.wait_ready(i).await?;
        }
        Ok(fleet)
    }

    /// nginx's address: where clients send their requests.
    pub fn front(&self) -> String {
        format!("http://127.0.0.1:{}", self.front_port)
    }

    /// Each replica's own address.
    pub fn replica_urls(&self) -> Vec<String> {
        self.replicas
            .iter()
            .map(|r| format!("http://127.0.0.1:{}", r.port))
            .collect()
    }

    /// How many replicas.
    pub fn len(&self) -> usize {
        self.replicas.len()
    }

    /// Whether there are none (never, once started).
    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// The binary the fleet was started with.
    pub fn binary(&self) -> &Path {
        &self.config.tessera
    }

    /// Starts replica `i` as `binary`, appending to its log.
    pub fn launch(&mut self, i: usize, binary: &Path) -> Result<()> {
        let log_path = self.dir.path().join(format!("replica-{i}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let replica = &self.replicas[i];
        let binary = binary
            .canonicalize()
            .with_context(|| format!("{}", binary.display()))?;
        let mut cmd = Command::new(binary);
        cmd.arg("serve").current_dir(self.dir.path());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TESSERA_") {
                cmd.env_remove(key);
            }
        }
        let port = replica.port.to_string();
        let fleet_env = [
            ("TESSERA_DATABASE_URL", replica.database_url.as_str()),
            ("TESSERA_BIND", &format!("127.0.0.1:{port}")),
            ("TESSERA_ISSUER", ISSUER),
            ("TESSERA_MASTER_KEY", MASTER_KEY),
            ("TESSERA_TRUSTED_PROXIES", "127.0.0.1"),
            ("TESSERA_LOGIN_MAX_FAILURES", "100"),
            ("TESSERA_REGISTRATION_RATE", "100000/s"),
            ("TESSERA_ADMIN_USERNAME", ADMIN),
            ("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("TESSERA_ACCESS_TTL", "30m"),
            ("TESSERA_REFRESH_GRACE", "2s"),
            ("TESSERA_LOG", "warn"),
        ];
        for (k, v) in fleet_env {
            cmd.env(k, v);
        }
        for (k, v) in &self.config.env {
            cmd.env(k, v);
        }
        cmd.env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn().with_context(|| format!("start replica {i}"))?;
        self.replicas[i].child = Some(child);
        Ok(())
    }

    /// Waits until replica `i` answers `/readyz` 200.
    pub async fn wait_ready(&mut self, i: usize) -> Result<Duration> {
        let started = Instant::now();
        let url = format!("{}/readyz", self.replica_urls()[i]);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?;
        loop {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(started.elapsed());
            }
            if let Some(child) = self.replicas[i].child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("replica {i} exited ({status}); log:\n{}", self.log(i));
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "replica {i} not ready after {READY_TIMEOUT:?}; log:\n{}",
                    self.log(i)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The end of replica `i`'s log.
    pub fn log(&self, i: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(format!("replica-{i}.log")))
            .unwrap_or_default();
        let start = text.len().saturating_sub(4_000);
        text.get(start..).unwrap_or_default().to_owned()
    }

    /// `kill -9` of replica `i`: no chance to finish anything.
    pub fn kill9(&mut self, i: usize) -> Result<()> {
        if let Some(mut child) = self.replicas[i].child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// `SIGTERM` to replica `i`, then waits for it to finish its requests
    /// and exit (at most 30 s, then `SIGKILL`).
    pub async fn terminate(&mut self, i: usize) -> Result<Duration> {
        let started = Instant::now();
        let Some(mut child) = self.replicas[i].child.take() else {
            return Ok(Duration::ZERO);
        };
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        while child.try_wait()?.is_none() {
            if started.elapsed() > Duration::from_secs(30) {
                child.kill()?;
                child.wait()?;
                bail!("replica {i} did not stop within 30 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(started.elapsed())
    }

    /// Process ids of every replica and of PostgreSQL's processes.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .replicas
            .iter()
            .filter_map(|r| r.child.as_ref().map(Child::id))
            .collect();
        pids.push(self.postgres.pid());
        pids.extend(children_of(self.postgres.pid()));
        pids
    }
}

/// The processes whose parent is `pid` (from `/proc`).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    let after = stat.rsplit_once(')')?.1;
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// CPU seconds (user + system) a process has used so far, 0 when gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, after)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command: state(0) ppid(1) … utime(11) stime(12).
    (ticks(11) + ticks(12)) / 100.0
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for r in &mut self.replicas {
            if let Some(mut child) = r.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = self.nginx.kill();
        let _ = self.nginx.wait();
    }
}
