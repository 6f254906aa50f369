//! `tessera user`: `add` (with `--password-stdin` or a generated password),
//! `list`, `set-roles` and `delete`, the last-admin rule, and what the server
//! then makes of those accounts.

use crate::harness::{Env, PASSWORD, decode_part, get, login, user_row};
use serde_json::json;

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
    let run = env.run(&["user", "set-roles", "BOB", "user"]).ok();
    assert_eq!(run.stdout.trim(), "bob roles=user");
    // No roles at all is a mistake, not "strip everything".
    let run = env.run(&["user", "set-roles", "bob"]).fails();
    assert!(run.stderr.contains("give the roles"), "{}", run.stderr);
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
    env.run(&["user", "set-roles", "bob", "user"]).fails();
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
async fn user_reset_factors_lets_a_person_who_lost_their_phone_sign_in_with_the_password() {
    let env = Env::new();
    let server = env.serve();
    let registered = crate::harness::register(&server, "dana").await;
    let access = registered["access_token"].as_str().unwrap();
    let started: serde_json::Value = crate::harness::client()
        .post(server.url("/me/factors/totp"))
        .bearer_auth(access)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = totp_rs::Secret::try_from_base32(started["secret"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let code = tessera_core::mfa::totp_code(secret.as_ref(), tessera_core::mfa::totp_step(now));
    let id = started["factor"]["id"].as_str().unwrap();
    let confirmed = crate::harness::client()
        .post(server.url(&format!("/me/factors/totp/{id}/confirm")))
        .bearer_auth(access)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), reqwest::StatusCode::OK);
    let (status, body) = login(&server, "dana", PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "mfa_required");

    let run = env.run(&["user", "reset-factors", "DANA"]).ok();
    assert_eq!(
        run.stdout.trim(),
        "DANA: 1 second factor(s) and every recovery code removed"
    );
    let (status, body) = login(&server, "dana", PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let refused = env.run(&["user", "reset-factors", "nobody"]).fails();
    assert!(refused.stderr.contains("not found"), "{}", refused.stderr);
    drop(server);
}

#[test]
fn a_command_run_away_from_the_database_says_where_it_looked_and_creates_nothing() {
    let elsewhere = Env::bare(&[]);
    let run = elsewhere.run(&["user", "list"]).fails();
    let expected = elsewhere.path().join("tessera.db");
    assert!(
        run.stderr
            .contains(&format!("no database at {}", expected.display())),
        "{}",
        run.stderr
    );
    assert!(!expected.exists(), "no empty database was created");

    // Pointed at the real one, it works, and says nothing about keys.
    let home = Env::new();
    home.run_with(
        &["user", "add", "root", "--admin", "--password-stdin"],
        Some(PASSWORD),
        &[],
    )
    .ok();
    let url = format!("sqlite://{}", home.db_file().display());
    let run = elsewhere
        .run(&["user", "list", "--database-url", &url])
        .ok();
    assert!(user_row(&run.stdout, "root").is_some(), "{}", run.stdout);
    assert!(!run.stderr.contains("unencrypted"), "{}", run.stderr);
}

#[tokio::test]
async fn an_operator_shows_disables_enables_sets_a_password_and_ends_sessions_from_the_command_line()
 {
    let env = Env::new();
    env.run_with(
        &["user", "add", "olga", "--password-stdin"],
        Some(PASSWORD),
        &[],
    )
    .ok();
    let server = env.serve();
    let (status, olga) = login(&server, "olga", PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let access = olga["access_token"].as_str().unwrap().to_owned();

    let shown = env.run(&["user", "show", "OLGA"]).ok().stdout;
    assert!(
        shown.contains("username:    olga") && shown.contains("sessions:    1 live"),
        "{shown}"
    );
    let json: serde_json::Value = serde_json::from_str(
        env.run(&["user", "show", "olga", "--json"])
            .ok()
            .stdout
            .trim(),
    )
    .unwrap();
    assert_eq!(json["username"], "olga");
    assert!(json.get("password_hash").is_none());
    let listed = env.run(&["user", "list", "--json"]).ok().stdout;
    let first: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(first["username"], "olga");
    let sessions = env.run(&["user", "sessions", "olga", "--json"]).ok().stdout;
    let session: serde_json::Value =
        serde_json::from_str(sessions.lines().next().unwrap()).unwrap();
    assert_eq!(session["amr"], json!(["pwd"]));

    // Ending her sessions refuses her token at once (the server learns it
    // from the database's event log).
    let run = env.run(&["user", "revoke-sessions", "olga", "--yes"]).ok();
    assert_eq!(run.stdout.trim(), "olga: every session ended");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, _) = get(&server, "/me", Some(&access)).await;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the token still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    env.run(&["user", "disable", "olga", "--yes"]).ok();
    let (status, _) = login(&server, "olga", PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    env.run(&["user", "enable", "olga"]).ok();
    let new_password = "a brand new passphrase 42";
    let run = env
        .run_with(
            &["user", "set-password", "olga"],
            Some(&format!("{new_password}\n")),
            &[],
        )
        .ok();
    assert!(
        !run.stdout.contains(new_password),
        "never echoed: {}",
        run.stdout
    );
    let (status, _) = login(&server, "olga", PASSWORD).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    let (status, _) = login(&server, "olga", new_password).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    // The password policy holds here too.
    env.run_with(&["user", "set-password", "olga"], Some("short"), &[])
        .fails();
    drop(server);
}

#[tokio::test]
async fn user_reset_link_prints_a_link_that_sets_a_new_password_once() {
    let env = Env::new();
    let server = env.serve();
    crate::harness::register(&server, "erin").await;
    let run = env.run(&["user", "reset-link", "ERIN"]).ok();
    let link = run.stdout.trim();
    assert!(run.stderr.contains("works once"), "{}", run.stderr);
    let token = link
        .split_once("/reset-password?token=")
        .unwrap_or_else(|| panic!("not a reset link: {link}"))
        .1;
    assert!(token.len() >= 43, "{token}");
    // A newer link voids this one.
    let newer = env.run(&["user", "reset-link", "erin"]).ok();
    let newer = newer
        .stdout
        .trim()
        .split_once("token=")
        .unwrap()
        .1
        .to_owned();
    let confirm = |token: String| {
        let url = server.url("/auth/password-reset/confirm");
        async move {
            crate::harness::client()
                .post(url)
                .json(&json!({"token": token, "new_password": "handed over passphrase"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        confirm(token.to_owned()).await,
        reqwest::StatusCode::BAD_REQUEST
    );
    assert_eq!(
        confirm(newer.clone()).await,
        reqwest::StatusCode::NO_CONTENT
    );
    assert_eq!(confirm(newer).await, reqwest::StatusCode::BAD_REQUEST);
    let (status, _) = login(&server, "erin", "handed over passphrase").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let refused = env.run(&["user", "reset-link", "nobody"]).fails();
    assert!(refused.stderr.contains("not found"), "{}", refused.stderr);
    drop(server);
}
