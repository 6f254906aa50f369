//! `tessera client add`, `list` and `delete`: OAuth clients registered from
//! the command line, refused registrations, and what the server then accepts.

use crate::harness::{Env, Server, client, decode_part, get};
use serde_json::Value;

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

#[test]
fn client_show_update_and_json_listings() {
    let env = Env::new();
    let added = env
        .run(&[
            "client",
            "add",
            "Photos",
            "--redirect-uri",
            "https://photos.example/callback",
        ])
        .ok()
        .stdout;
    let id = labelled(&added, "client_id").unwrap().to_owned();
    let shown = env.run(&["client", "show", &id]).ok().stdout;
    assert!(
        shown.contains("name:          Photos")
            && shown.contains("redirect URIs: https://photos.example/callback"),
        "{shown}"
    );
    let run = env
        .run(&[
            "client",
            "update",
            &id,
            "--redirect-uri",
            "https://photos.example/cb2",
            "--redirect-uri",
            "https://photos.example/cb3",
        ])
        .ok();
    assert!(
        run.stdout
            .contains("https://photos.example/cb2 https://photos.example/cb3"),
        "{}",
        run.stdout
    );
    let json: Value = serde_json::from_str(
        env.run(&["client", "show", &id, "--json"])
            .ok()
            .stdout
            .trim(),
    )
    .unwrap();
    assert_eq!(
        json["redirect_uris"],
        serde_json::json!(["https://photos.example/cb2", "https://photos.example/cb3"])
    );
    assert!(json.get("secret").is_none() && json.get("client_secret").is_none());
    // A redirect URI the registration rules refuse is refused here too.
    env.run(&[
        "client",
        "update",
        &id,
        "--redirect-uri",
        "javascript:alert(1)",
    ])
    .fails();
    env.run(&["client", "show", "no-such-client"]).fails();

    let listed = env.run(&["client", "list", "--json"]).ok().stdout;
    let first: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(first["client_id"], id.as_str());
    let keys = env.run(&["keys", "list", "--json"]).ok().stdout;
    let key: Value = serde_json::from_str(keys.lines().next().unwrap()).unwrap();
    assert_eq!(key["status"], "active");
    assert!(key.get("d").is_none() && key.get("private_der").is_none());
}

#[tokio::test]
async fn client_rotate_secret_gives_a_new_secret_and_the_old_one_stops_working() {
    let env = Env::new();
    let added = env
        .run(&[
            "client",
            "add",
            "Reports",
            "--confidential",
            "--grant",
            "client_credentials",
            "--scope",
            "reports:read",
        ])
        .ok()
        .stdout;
    let id = labelled(&added, "client_id").unwrap().to_owned();
    let old = labelled(&added, "client_secret").unwrap().to_owned();
    let rotated = env
        .run(&["client", "rotate-secret", &id, "--yes"])
        .ok()
        .stdout;
    let new = labelled(&rotated, "client_secret").unwrap().to_owned();
    assert_ne!(new, old);
    let server = env.serve();
    let (status, _) = client_credentials(&server, &id, &old).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "the old secret");
    let (status, _) = client_credentials(&server, &id, &new).await;
    assert_eq!(status, reqwest::StatusCode::OK, "the new secret");
    // A public client has no secret to rotate.
    let public = env
        .run(&[
            "client",
            "add",
            "SPA",
            "--redirect-uri",
            "https://spa.example/cb",
        ])
        .ok()
        .stdout;
    let public_id = labelled(&public, "client_id").unwrap().to_owned();
    let run = env
        .run(&["client", "rotate-secret", &public_id, "--yes"])
        .fails();
    assert!(
        run.stderr.contains("no confidential client"),
        "{}",
        run.stderr
    );
    drop(server);
}

#[tokio::test]
async fn client_update_renames_and_taking_a_scope_away_ends_the_clients_sessions() {
    let env = Env::new();
    let added = env
        .run(&[
            "client",
            "add",
            "Notes",
            "--grant",
            "password",
            "--grant",
            "refresh_token",
            "--scope",
            "openid",
            "--scope",
            "profile",
        ])
        .ok()
        .stdout;
    let id = labelled(&added, "client_id").unwrap().to_owned();
    let server = env.serve();
    crate::harness::register(&server, "nora").await;
    let token = |fields: Vec<(&str, String)>| {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
            .collect::<Vec<_>>()
            .join("&");
        let url = server.url("/oauth/token");
        async move {
            let r = crate::harness::client()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, tokens) = token(vec![
        ("grant_type", "password".into()),
        ("username", "nora".into()),
        ("password", crate::harness::PASSWORD.into()),
        ("client_id", id.clone()),
        ("scope", "openid profile".into()),
    ])
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{tokens}");
    let refresh = |refresh_token: &Value| {
        token(vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", refresh_token.as_str().unwrap().to_owned()),
            ("client_id", id.clone()),
        ])
    };

    // A new name leaves the sessions alone.
    let run = env
        .run(&["client", "update", &id, "--name", "Notebook"])
        .ok();
    assert!(run.stdout.contains("\"Notebook\""), "{}", run.stdout);
    let (status, tokens) = refresh(&tokens["refresh_token"]).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{tokens}");

    // Taking a scope away ends every session issued to the client.
    let run = env
        .run(&["client", "update", &id, "--scope", "openid"])
        .ok();
    assert!(run.stdout.contains("scopes openid"), "{}", run.stdout);
    let (status, refused) = refresh(&tokens["refresh_token"]).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"], "invalid_grant");
    let json: Value = serde_json::from_str(
        env.run(&["client", "show", &id, "--json"])
            .ok()
            .stdout
            .trim(),
    )
    .unwrap();
    assert_eq!(
        (json["name"].clone(), json["scopes"].clone()),
        (serde_json::json!("Notebook"), serde_json::json!(["openid"]))
    );
    let nothing = env.run(&["client", "update", &id]).fails();
    assert!(
        nothing.stderr.contains("nothing to change"),
        "{}",
        nothing.stderr
    );
    drop(server);
}
