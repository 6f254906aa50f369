//! Forward authentication through a real nginx (SPEC §4, `GET /auth/verify`).
//!
//! Debian's nginx runs as a child process with the configuration of
//! `docs/forward-auth.md`: a protected site whose every request nginx first
//! checks with `auth_request` against Tessera's `/auth/verify`, in front of an
//! unmodified static upstream (a second nginx server block serving a file from
//! the test's directory). The upstream's access log records the `X-Auth-*`
//! request headers it received, which proves what reached it. The test shows a
//! request without a token refused by nginx (the upstream never sees it), one
//! with a token passed through with the right `X-Auth-*` headers (and headers
//! a client forged dropped), and the same token refused again after
//! `POST /auth/logout`.
//!
//! Without an nginx (with the `auth_request` module) the test fails under
//! `CI=true` — `.ci/run` installs one — and is skipped with a note otherwise.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ChildGuard, drain, spawn_server};

use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
const ISSUER: &str = "http://tessera.forward-auth.test";
const ADMIN: &str = "gatekeeper";
/// Passes the default password policy.
const PASSWORD: &str = "forward-auth-passphrase-5107";
/// The longest any start-up or wait may take.
const TIMEOUT: Duration = Duration::from_secs(90);
/// The static file the upstream serves, byte for byte.
const PAGE: &str = "static upstream page 7c1e: only authenticated requests get here\n";

/// The configuration of `docs/forward-auth.md`. `@DIR@` is the test's
/// directory, `@PORT@` the protected site's port, `@UPSTREAM_PORT@` the static
/// upstream's and `@TESSERA@` the address of `tessera serve`.
const NGINX_CONF: &str = r#"# Forward authentication with Tessera: see docs/forward-auth.md.
worker_processes 1;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log info;

events {
    worker_connections 64;
}

http {
    default_type text/plain;
    client_body_temp_path @DIR@/tmp/client_body;
    proxy_temp_path @DIR@/tmp/proxy;
    fastcgi_temp_path @DIR@/tmp/fastcgi;
    uwsgi_temp_path @DIR@/tmp/uwsgi;
    scgi_temp_path @DIR@/tmp/scgi;

    # What the upstream received: the identity nginx forwarded to it.
    log_format forwarded_identity
        'uri="$request_uri" subject="$http_x_auth_subject" '
        'username="$http_x_auth_username" roles="$http_x_auth_roles" '
        'client="$http_x_auth_client" scope="$http_x_auth_scope"';

    # The protected site.
    server {
        listen 127.0.0.1:@PORT@;
        access_log @DIR@/front.log;

        location / {
            # Every request is first checked by a subrequest to /_auth:
            # 2xx lets it through, 401 and 403 are returned to the client
            # (with Tessera's WWW-Authenticate), anything else is a 500.
            auth_request /_auth;

            # Tessera's answer headers, kept from the subrequest...
            auth_request_set $auth_subject  $upstream_http_x_auth_subject;
            auth_request_set $auth_username $upstream_http_x_auth_username;
            auth_request_set $auth_roles    $upstream_http_x_auth_roles;
            auth_request_set $auth_client   $upstream_http_x_auth_client;
            auth_request_set $auth_scope    $upstream_http_x_auth_scope;

            # ...and sent to the upstream. These replace any X-Auth-* header
            # the client sent itself (an empty value sends none at all).
            proxy_set_header X-Auth-Subject  $auth_subject;
            proxy_set_header X-Auth-Username $auth_username;
            proxy_set_header X-Auth-Roles    $auth_roles;
            proxy_set_header X-Auth-Client   $auth_client;
            proxy_set_header X-Auth-Scope    $auth_scope;

            proxy_pass http://127.0.0.1:@UPSTREAM_PORT@;
        }

        location = /_auth {
            internal;
            proxy_pass http://@TESSERA@/auth/verify;
            # Only the headers matter: never send the request's body.
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Authorization $http_authorization;
            proxy_set_header X-Original-URI $request_uri;
        }
    }

    # The upstream: static files, served as they are.
    server {
        listen 127.0.0.1:@UPSTREAM_PORT@;
        root @DIR@/static;
        access_log @DIR@/upstream.log forwarded_identity;
    }
}
"#;

// ---------------------------------------------------------------- harness

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The nginx binary to use, if there is one with the `auth_request` module:
/// on `PATH`, else where Debian puts it (`/usr/sbin` is not on every `PATH`).
fn find_nginx() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let nginx = on_path
        .into_iter()
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
        .ok_or("no nginx binary (on PATH or in /usr/sbin)")?;
    let out = Command::new(&nginx)
        .arg("-V")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} -V: {e}", nginx.display()))?;
    // nginx prints its version and build options on stderr.
    let build =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    if !build.contains("--with-http_auth_request_module") {
        return Err(format!(
            "{} is built without the auth_request module:\n{build}",
            nginx.display()
        ));
    }
    Ok(nginx)
}

/// The nginx to test with; `None` (after a note) when there is none and this
/// is not CI. Under CI a missing nginx is a failure, never a silent skip.
fn nginx_or_skip() -> Option<PathBuf> {
    match find_nginx() {
        Ok(nginx) => Some(nginx),
        Err(why) if ci() => panic!(
            "CI=true requires nginx for the forward-auth test ({why}); \
             .ci/run installs Debian's nginx"
        ),
        Err(why) => {
            eprintln!(
                "SKIPPED forward_auth: {why}. Install Debian's nginx \
                 (apt-get install nginx) to run it; under CI=true it is required."
            );
            None
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local addr")
        .port()
}

/// A running `tessera serve` on a SQLite file in `dir`, with an admin.
struct Tessera {
    _child: ChildGuard,
    /// `127.0.0.1:PORT`
    addr: String,
    log: Arc<Mutex<String>>,
}

impl Tessera {
    fn start(dir: &Path) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").current_dir(dir);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TESSERA_") {
                cmd.env_remove(key);
            }
        }
        let db = format!("sqlite://{}", dir.join("tessera.db").display());
        cmd.env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env("TESSERA_DATABASE_URL", db)
            .env("TESSERA_BIND", "127.0.0.1:0")
            .env("TESSERA_ISSUER", ISSUER)
            .env("TESSERA_ADMIN_USERNAME", ADMIN)
            .env("TESSERA_ADMIN_PASSWORD", PASSWORD);
        let (child, addr, log) = spawn_server(cmd, TIMEOUT);
        Tessera {
            _child: child,
            addr,
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }
}

/// nginx running `NGINX_CONF` from its own directory.
struct Nginx {
    child: ChildGuard,
    dir: PathBuf,
    /// The protected site, `http://127.0.0.1:PORT`.
    base: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Nginx {
    /// Writes the configuration and the static file into `dir` and starts
    /// nginx in the foreground. A port taken between choosing and binding it
    /// is chosen again (a few times).
    fn start(nginx: &Path, dir: &Path, tessera: &str) -> Self {
        std::fs::create_dir_all(dir.join("static")).expect("static dir");
        std::fs::create_dir_all(dir.join("tmp")).expect("temp dir");
        std::fs::write(dir.join("static/index.html"), PAGE).expect("static file");
        let mut failures = Vec::new();
        for _ in 0..5 {
            let (port, upstream_port) = (free_port(), free_port());
            if port == upstream_port {
                continue;
            }
            let conf = NGINX_CONF
                .replace("@DIR@", &dir.display().to_string())
                .replace("@PORT@", &port.to_string())
                .replace("@UPSTREAM_PORT@", &upstream_port.to_string())
                .replace("@TESSERA@", tessera);
            let conf_path = dir.join("nginx.conf");
            std::fs::write(&conf_path, conf).expect("write nginx.conf");
            let _ = std::fs::remove_file(dir.join("error.log"));
            // `master_process off`: one process, this child, does everything,
            // so killing it on drop leaves no worker behind (and none runs as
            // another user that could not read the temporary directory).
            let mut child = ChildGuard(
                Command::new(nginx)
                    .arg("-p")
                    .arg(dir)
                    .arg("-c")
                    .arg(&conf_path)
                    .args(["-g", "daemon off; master_process off;"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn nginx"),
            );
            let stderr = Some(drain(child.0.stderr.take().expect("stderr")));
            let mut this = Nginx {
                child,
                dir: dir.to_owned(),
                base: format!("http://127.0.0.1:{port}"),
                stderr,
            };
            match this.wait_listening(&[port, upstream_port]) {
                Ok(()) => return this,
                Err(why) if why.contains("Address already in use") => failures.push(why),
                Err(why) => panic!("nginx did not start: {why}"),
            }
        }
        panic!("nginx could not bind its ports: {failures:#?}");
    }

    /// Waits until both servers accept connections, or nginx has exited.
    fn wait_listening(&mut self, ports: &[u16]) -> Result<(), String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.0.try_wait().expect("wait nginx") {
                let stderr = self
                    .stderr
                    .take()
                    .map(|h| h.join().unwrap_or_default())
                    .unwrap_or_default();
                return Err(format!(
                    "nginx exited ({status}); stderr:\n{stderr}\nerror.log:\n{}",
                    self.error_log()
                ));
            }
            let up = ports.iter().all(|port| {
                let addr = SocketAddr::from(([127, 0, 0, 1], *port));
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            });
            if up {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "nginx did not listen within {TIMEOUT:?}; error.log:\n{}",
                    self.error_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// The upstream's access log, one line per request it served.
    fn upstream_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("upstream.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The upstream's log once it has `n` lines (nginx writes a line when it
    /// finishes a request, which may be just after the client got its answer).
    async fn upstream_log_lines(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.upstream_log();
            if lines.len() >= n || Instant::now() > deadline {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// `GET url` with optional bearer token and extra headers: status, headers, body.
async fn get(
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = client().get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let r = req.send().await.expect("request through nginx");
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.text().await.expect("body"))
}

// ------------------------------------------------------------------ test

#[tokio::test]
async fn nginx_auth_request_lets_through_only_live_tokens_with_x_auth_headers() {
    let Some(nginx_bin) = nginx_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let tessera = Tessera::start(dir.path());
    let nginx = Nginx::start(&nginx_bin, &dir.path().join("nginx"), &tessera.addr);
    let context = || {
        format!(
            "\n--- nginx error.log:\n{}\n--- tessera log:\n{}",
            nginx.error_log(),
            tessera.log()
        )
    };

    // 1. No token: nginx answers 401 itself, with Tessera's challenge, and the
    //    upstream never sees the request.
    let (status, headers, body) = get(&nginx.url("/"), None, &[]).await;
    assert_eq!(status, 401, "no token: {body}{}", context());
    assert!(
        headers
            .get("server")
            .is_some_and(|s| s.to_str().unwrap_or("").starts_with("nginx")),
        "the refusal comes from nginx: {headers:?}"
    );
    let challenge = headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer"),
        "nginx passes on WWW-Authenticate: {headers:?}"
    );
    assert!(!body.contains(PAGE.trim()), "no content without a token");
    // Forged identity headers do not help, nor does a garbage token.
    let (status, _, _) = get(
        &nginx.url("/index.html"),
        None,
        &[("x-auth-username", ADMIN), ("x-auth-roles", "admin")],
    )
    .await;
    assert_eq!(status, 401, "forged X-Auth-* headers without a token");
    let (status, _, _) = get(&nginx.url("/"), Some("not.a.jwt"), &[]).await;
    assert_eq!(status, 401, "a garbage token");
    // The auth location is internal: clients cannot call it through nginx.
    let (status, _, _) = get(&nginx.url("/_auth"), None, &[]).await;
    assert_eq!(status, 404, "/_auth is internal");
    assert!(
        nginx.upstream_log().is_empty(),
        "the upstream served nothing to unauthenticated requests: {:?}",
        nginx.upstream_log()
    );

    // 2. A valid token: the static file, and the upstream got the identity.
    let login = client()
        .post(tessera.url("/auth/login"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.expect("token response");
    let token = login["access_token"].as_str().expect("access_token");
    let subject = login["user"]["id"].as_str().expect("user id");
    assert_eq!(login["user"]["roles"], json!(["admin", "user"]));

    let (status, _, body) = get(&nginx.url("/"), Some(token), &[]).await;
    assert_eq!(status, 200, "valid token: {body}{}", context());
    assert_eq!(body, PAGE, "the upstream's static file, unmodified");
    let log = nginx.upstream_log_lines(1).await;
    assert_eq!(log.len(), 1, "one request reached the upstream: {log:?}");
    assert_eq!(
        log[0],
        format!(
            r#"uri="/" subject="{subject}" username="{ADMIN}" roles="admin,user" client="-" scope="-""#
        ),
        "the X-Auth-* headers reached the upstream{}",
        context()
    );

    // Headers a client forges are replaced by Tessera's, never passed on.
    let (status, _, body) = get(
        &nginx.url("/index.html"),
        Some(token),
        &[
            ("x-auth-subject", "00000000-0000-0000-0000-000000000000"),
            ("x-auth-username", "mallory"),
            ("x-auth-roles", "superuser"),
            ("x-auth-client", "first-party-pretender"),
            ("x-auth-scope", "tessera:admin"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, PAGE);
    let log = nginx.upstream_log_lines(2).await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(
        log[1],
        format!(
            r#"uri="/index.html" subject="{subject}" username="{ADMIN}" roles="admin,user" client="-" scope="-""#
        ),
        "forged X-Auth-* headers are overwritten, absent ones removed"
    );

    // A token issued to an OAuth application names it and its scope, so the
    // upstream can tell it from a first-party token.
    let registration = client()
        .post(tessera.url("/admin/clients"))
        .bearer_auth(token)
        .json(&json!({
            "name": "cli", "redirect_uris": [], "grant_types": ["password"],
            "scopes": ["openid", "profile"], "confidential": false,
        }))
        .send()
        .await
        .expect("register a client");
    assert_eq!(registration.status(), 201);
    let registration: Value = registration.json().await.expect("client");
    let client_id = registration["client"]["client_id"].as_str().expect("id");
    let granted = client()
        .post(tessera.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&username={ADMIN}&password={PASSWORD}\
             &client_id={client_id}&scope=openid%20profile"
        ))
        .send()
        .await
        .expect("password grant");
    assert_eq!(granted.status(), 200);
    let granted: Value = granted.json().await.expect("token response");
    let app_token = granted["access_token"].as_str().expect("access_token");
    let (status, _, _) = get(&nginx.url("/"), Some(app_token), &[]).await;
    assert_eq!(status, 200);
    let log = nginx.upstream_log_lines(3).await;
    assert_eq!(
        log[2],
        format!(
            r#"uri="/" subject="{subject}" username="{ADMIN}" roles="admin,user" client="{client_id}" scope="openid profile""#
        ),
        "X-Auth-Client and X-Auth-Scope reached the upstream"
    );

    // 3. Logout on Tessera: the same token is refused again at once.
    let logout = client()
        .post(tessera.url("/auth/logout"))
        .bearer_auth(token)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 204);
    let (status, headers, body) = get(&nginx.url("/"), Some(token), &[]).await;
    assert_eq!(status, 401, "after logout: {body}{}", context());
    let challenge = headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    assert!(
        challenge.contains("invalid_token"),
        "a presented but revoked token is invalid_token: {challenge:?}"
    );
    assert!(!body.contains(PAGE.trim()));
    // Give a stray log write time to land, then check nothing else got through.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        nginx.upstream_log().len(),
        3,
        "the upstream served nothing after logout: {:?}",
        nginx.upstream_log()
    );
}
