//! Backups restored, as `docs/deploy.md` ("Backups") tells an operator to
//! take and restore them: SQLite's online backup (`sqlite3 … .backup`) taken
//! while the server writes, and PostgreSQL's `pg_dump -Fc` restored with
//! `pg_restore --clean`. After the restore, everything the backup held is
//! there: accounts and roles, live sessions (their refresh tokens rotate),
//! revoked sessions stay revoked, and the signing keys are the same, so
//! access tokens minted before the backup still verify.
//!
//! The SQLite test needs the `sqlite3` shell, the PostgreSQL one the server
//! binaries and root (`tessera_core::testing::PrivatePostgres`); without
//! them each is skipped, except under `CI=true`, where that is a failure.

use crate::harness::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use tessera_core::testing::postgres_required;

/// A master key, as a deployment sets one: the private signing keys in the
/// backup are sealed under it.
const MASTER_KEY: &str = "dGVzc2VyYS1iYWNrdXAtdGVzdC1tYXN0ZXIta2V5ISE=";

/// What the deployment held when the backup was taken.
struct Before {
    /// Alice's session: live, its refresh token unused.
    alice: Value,
    /// Bob's logged-out session: its access and refresh tokens.
    bob_access: String,
    bob_refresh: String,
    /// The signing keys published.
    jwks: Value,
}

/// Accounts, a role change, a live session and a logged-out one.
async fn fill(server: &Server, env: &Env) -> Before {
    register(server, "alice").await;
    env.run(&["user", "set-roles", "alice", "user", "editor"])
        .ok();
    let (status, alice) = login(server, "alice", PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{alice}");
    let bob = register(server, "bob").await;
    let (status, _) = post_bearer(server, "/auth/logout", &bob).await;
    assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
    let (_, jwks) = get(server, "/.well-known/jwks.json", None).await;
    Before {
        alice,
        bob_access: bob["access_token"].as_str().unwrap().to_owned(),
        bob_refresh: bob["refresh_token"].as_str().unwrap().to_owned(),
        jwks,
    }
}

async fn post_bearer(server: &Server, path: &str, tokens: &Value) -> (reqwest::StatusCode, String) {
    let r = client()
        .post(server.url(path))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Checks that the restored deployment holds `before`, and nothing written
/// after the backup (the user `later`).
async fn holds(server: &Server, env: &Env, before: &Before) {
    let (_, jwks) = get(server, "/.well-known/jwks.json", None).await;
    assert_eq!(jwks, before.jwks, "the signing keys are the backup's");
    // A token minted before the backup verifies, with the roles it carried.
    let (status, _) = get(
        server,
        "/auth/verify",
        Some(before.alice["access_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    // Alice's session rotates; her password and new role are there.
    let (status, refreshed) = post(
        server,
        "/auth/refresh",
        json!({"refresh_token": before.alice["refresh_token"]}),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{refreshed}");
    let (status, signed_in) = login(server, "alice", PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{signed_in}");
    let claims = decode_part(
        signed_in["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap(),
    );
    assert_eq!(claims["roles"], json!(["editor", "user"]));
    // Bob's logout holds, for his access token and his refresh token.
    let (status, _) = get(server, "/auth/verify", Some(&before.bob_access)).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    let (status, _) = post(
        server,
        "/auth/refresh",
        json!({"refresh_token": before.bob_refresh}),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    let (status, _) = login(server, "bob", PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    // Written after the backup: not there.
    let list = env.run(&["user", "list"]).ok().stdout;
    assert!(user_row(&list, "later").is_none(), "{list}");
    assert!(user_row(&list, "alice").is_some(), "{list}");
}

/// Whether `program` runs here; a failure under `CI=true` when it does not.
fn available(program: &Path) -> bool {
    let runs = Command::new(program).arg("--version").output().is_ok();
    if !runs {
        assert!(
            !postgres_required(),
            "{} is required under CI=true",
            program.display()
        );
        eprintln!("skipping: no {}", program.display());
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_backup_taken_while_serving_restores_everything_it_held() {
    let sqlite3 = Path::new("sqlite3");
    if !available(sqlite3) {
        return;
    }
    let env = Env::new()
        .var("TESSERA_MASTER_KEY", MASTER_KEY)
        .var("TESSERA_REGISTRATION_RATE", "1000/min");
    let server = env.serve();
    let before = fill(&server, &env).await;
    // Taken online, with registrations in flight.
    let backup = env.path().join("backup.db");
    let (started, writing) = tokio::sync::oneshot::channel();
    let busy = {
        let base = server.base.clone();
        tokio::spawn(async move {
            let mut started = Some(started);
            for i in 0..40 {
                let _ = client()
                    .post(format!("{base}/auth/register"))
                    .json(&json!({"username": format!("busy{i}"), "password": PASSWORD}))
                    .send()
                    .await;
                if let Some(started) = started.take() {
                    let _ = started.send(());
                }
            }
        })
    };
    writing.await.unwrap();
    let command = (env.db_file(), format!(".backup '{}'", backup.display()));
    let taken = tokio::task::spawn_blocking(move || {
        Command::new("sqlite3")
            .arg(command.0)
            .arg(command.1)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(taken.status.success(), "{taken:?}");
    busy.await.unwrap();
    register(&server, "later").await;
    drop(server);

    // The restore: the copy in place as the database, its WAL gone.
    let db = env.db_file();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    std::fs::copy(&backup, &db).unwrap();
    let server = env.serve();
    holds(&server, &env, &before).await;
}

#[tokio::test]
async fn a_postgres_dump_restored_with_pg_restore_clean_holds_everything_it_held() {
    let Some(pg) = tessera_core::testing::private_postgres() else {
        return;
    };
    let env = Env::new()
        .var("TESSERA_DATABASE_URL", &pg.url())
        .var("TESSERA_MASTER_KEY", MASTER_KEY);
    let server = env.serve();
    let before = fill(&server, &env).await;
    let dump = env.path().join("tessera.dump");
    let port = pg.port().to_string();
    let connection = ["-h", "127.0.0.1", "-p", &port, "-U", "postgres"];
    let taken = Command::new(pg.tool("pg_dump"))
        .args(connection)
        .args(["-Fc", "-d", "postgres", "-f"])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(taken.status.success(), "{taken:?}");
    register(&server, "later").await;
    drop(server);

    let restored = Command::new(pg.tool("pg_restore"))
        .args(connection)
        .args(["--clean", "-d", "postgres"])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(restored.status.success(), "{restored:?}");
    let server = env.serve();
    holds(&server, &env, &before).await;
}
