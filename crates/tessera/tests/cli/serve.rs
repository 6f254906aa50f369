//! Starting up and staying up: `migrate`, bad configuration stopping with
//! one line, the `.env` file, a zero-configuration start in an empty
//! directory, a server allowed one core, and an acknowledged write
//! surviving `kill -9`.

use crate::harness::{Env, PASSWORD, decode_part, get, login, post, register, user_row};
use serde_json::json;

// ------------------------------------------------------------------ tests

#[test]
fn migrate_creates_the_database_and_is_idempotent() {
    let env = Env::unmigrated();
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
        let mut env = Env::unmigrated().var(var, value);
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
    // The access-token key and the ID-token key, published from the start.
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs.len(), 2, "{jwks}");
    assert!(algs.contains(&"ES256") && algs.contains(&"RS256"), "{jwks}");

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
async fn on_one_core_one_thread_serves_registrations_refreshes_and_reads_at_once() {
    let env = Env::new();
    let server = std::sync::Arc::new(env.serve_on_one_core());
    assert!(server.log().contains("one thread"), "{}", server.log());
    // Eight people at once: a registration each (its password hash on a
    // hashing thread), then five refreshes in a row (rotations the SQLite
    // writer's thread commits in groups and answers), each new access
    // token read back through `/me`.
    let mut people = tokio::task::JoinSet::new();
    for i in 0..8 {
        let server = server.clone();
        people.spawn(async move {
            let name = format!("one-core-{i}");
            let mut tokens = register(&server, &name).await;
            for _ in 0..5 {
                let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
                let (status, next) =
                    post(&server, "/auth/refresh", json!({"refresh_token": refresh})).await;
                assert_eq!(status, reqwest::StatusCode::OK, "{next}");
                let (status, me) = get(&server, "/me", next["access_token"].as_str()).await;
                assert_eq!(status, reqwest::StatusCode::OK, "{me}");
                assert_eq!(me["user"]["username"], name.as_str());
                tokens = next;
            }
        });
    }
    while let Some(person) = people.join_next().await {
        person.expect("a person's requests");
    }
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

/// Two replicas on a PostgreSQL server of the test's own: `kill -9` of one
/// loses nothing it acknowledged, the other serves meanwhile (and refuses a
/// token the dead one's logout revoked), and the killed replica, started
/// again, knows everything that happened while it was dead.
#[tokio::test]
async fn kill_9_of_a_replica_loses_nothing_it_acknowledged() {
    let Some(pg) = tessera_core::testing::private_postgres() else {
        return;
    };
    let env = Env::new().var("TESSERA_DATABASE_URL", &pg.url());
    let a = env.serve();
    let b = env.serve();
    let kim = register(&a, "kim").await;
    let (status, on_b) = login(&b, "kim", PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let b_token = on_b["access_token"].as_str().unwrap().to_owned();
    // The last write `a` acknowledges before it dies.
    register(&a, "last").await;
    a.kill9();

    // `b` serves: the write `a` acknowledged is there, and a logout at `b`
    // holds.
    let (status, _) = login(&b, "last", PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let logout = crate::harness::client()
        .post(b.url("/auth/logout"))
        .bearer_auth(&b_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), reqwest::StatusCode::NO_CONTENT);

    // `a` again: it knows the logout made while it was dead.
    let a = env.serve();
    let (status, _) = get(&a, "/me", Some(&b_token)).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    let (status, me) = get(&a, "/me", Some(kim["access_token"].as_str().unwrap())).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(me["user"]["username"], "kim");
    drop(a);
    drop(b);
}

#[test]
fn a_refused_bootstrap_admin_stops_the_start_before_any_database_exists() {
    let env = Env::unmigrated()
        .var("TESSERA_ADMIN_USERNAME", "root")
        .var("TESSERA_ADMIN_PASSWORD", "too short");
    let run = env.run(&["serve"]).fails();
    assert!(
        run.stderr.contains("TESSERA_ADMIN_PASSWORD") && run.stderr.contains("shorter than 12"),
        "{}",
        run.stderr
    );
    assert!(!env.db_file().exists(), "no database was created");
}

#[test]
fn a_misspelt_variable_is_named_in_a_warning_at_start_up() {
    let env = Env::new().var("TESSERA_ACCES_TTL", "5m");
    let server = env.serve();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server.log().contains("TESSERA_ACCES_TTL") {
        assert!(
            std::time::Instant::now() < deadline,
            "no warning: {}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        server.log().contains("did you mean TESSERA_ACCESS_TTL?"),
        "{}",
        server.log()
    );
}

#[test]
fn config_check_and_show_read_the_configuration_without_starting_and_show_no_secret() {
    let env = Env::unmigrated()
        .var("TESSERA_ACCES_TTL", "5m")
        .var("TESSERA_JWT_ALG", "HS256")
        .var(
            "TESSERA_JWT_SECRET",
            "an-hmac-secret-of-at-least-32-bytes-here",
        )
        .var(
            "TESSERA_MASTER_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        )
        .var("TESSERA_ADMIN_USERNAME", "root")
        .var("TESSERA_ADMIN_PASSWORD", "a long admin passphrase")
        .var(
            "TESSERA_SMTP_URL",
            "smtps://mailer:relay-password-here@smtp.example.com",
        )
        .var("TESSERA_MAIL_FROM", "Acme <login@acme.example>");
    let run = env.run(&["config", "check"]).ok();
    assert!(run.stdout.contains("configuration ok"), "{}", run.stdout);
    assert!(
        run.stdout.contains("did you mean TESSERA_ACCESS_TTL?"),
        "{}",
        run.stdout
    );
    assert!(!env.db_file().exists(), "nothing started");
    let shown = env.run(&["config", "show"]).ok().stdout;
    assert!(
        shown.contains("alg: HS256") && shown.contains("username: \"root\""),
        "{shown}"
    );
    assert!(
        shown.contains("smtp.example.com") && shown.contains("Implicit"),
        "{shown}"
    );
    for secret in [
        "relay-password-here",
        "an-hmac-secret-of-at-least-32-bytes-here",
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "a long admin passphrase",
    ] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    let bad = env.var("TESSERA_ACCESS_TTL", "soon");
    let run = bad.run(&["config", "check"]).fails();
    assert_eq!(run.status.code(), Some(2));
    assert!(run.stderr.contains("TESSERA_ACCESS_TTL"), "{}", run.stderr);
}

#[tokio::test]
async fn each_request_is_logged_once_with_its_id_and_security_outcomes_carry_the_same_id() {
    let env = Env::new();
    let server = env.serve();
    register(&server, "lena").await;
    let refused = crate::harness::client()
        .post(server.url("/auth/login?next=secret-in-query"))
        .json(&json!({"username": "lena", "password": "not her password at all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    let id = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    // The writer thread may be a moment behind.
    let mut log = String::new();
    for _ in 0..50 {
        log = server.log();
        if log
            .lines()
            .any(|l| l.contains("tessera::access") && l.contains(&id))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let access = log
        .lines()
        .find(|l| l.contains("tessera::access") && l.contains(&id))
        .unwrap_or_else(|| panic!("no access line for {id}: {log}"));
    assert!(
        access.contains("route=\"/auth/login\"") && access.contains("status=401"),
        "{access}"
    );
    let security = log
        .lines()
        .find(|l| l.contains("tessera::security") && l.contains("login.failed"))
        .unwrap_or_else(|| panic!("no security line: {log}"));
    assert!(
        security.contains("WARN") && security.contains(&id),
        "{security}"
    );
    assert!(
        !log.contains("secret-in-query") && !log.contains("not her password"),
        "{log}"
    );
    drop(server);
}
