//! The clients admin API: `/admin/clients`.

use super::*;

// ---------------------------------------------------------- clients admin API

#[tokio::test]
async fn a_confidential_clients_secret_is_shown_once_and_never_listed() {
    let (app, root, _) = app_with_alice().await;
    let r = app
        .post(
            "/admin/clients",
            Some(&root.access),
            confidential("web", &["authorization_code", "refresh_token"], &["openid"]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let created = json_body(r).await;
    let secret = str_of(&created, "client_secret").to_owned();
    assert!(secret.len() >= 43, "256 bits");
    let client = &created["client"];
    assert_eq!(client["name"], "web");
    assert_eq!(client["confidential"], true);
    assert_eq!(client["redirect_uris"], json!([REDIRECT_URI]));
    assert_eq!(
        client["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(client["scopes"], json!(["openid"]));
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(client["id_token_signed_response_alg"], "RS256");

    // Registered later (the test clock stands still unless moved).
    app.clock.advance(Duration::from_secs(1));
    let public = app
        .create_client(&root.access, public_code_client("spa"))
        .await;
    assert!(public.body.get("client_secret").is_none());
    assert!(public.secret.is_none());
    assert_eq!(public.body["client"]["token_endpoint_auth_method"], "none");

    let r = app.get("/admin/clients", Some(&root.access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(!text.contains(&secret), "the secret is never listed");
    assert!(!text.contains("secret_hash"));
    let list: Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = list["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![str_of(client, "client_id"), public.id.as_str()]);
}

#[tokio::test]
async fn client_registrations_are_validated() {
    let (app, root, _) = app_with_alice().await;
    let base = public_code_client("spa");
    let with = |key: &str, value: Value| {
        let mut v = base.clone();
        v[key] = value;
        v
    };
    let bad = [
        with("redirect_uris", json!(["https://app.example/cb#fragment"])),
        with("redirect_uris", json!(["/relative/callback"])),
        with("redirect_uris", json!(["javascript:alert(1)"])),
        with("redirect_uris", json!(["ftp://files.example/cb"])),
        with(
            "post_logout_redirect_uris",
            json!(["https://app.example/out#x"]),
        ),
        with("redirect_uris", json!([])),
        with(
            "grant_types",
            json!(["authorization_code", "client_credentials"]),
        ),
        with("grant_types", json!(["implicit"])),
        with("grant_types", json!([])),
        with("scopes", json!(["openid", "bad scope"])),
        with("scopes", json!(["back\\slash"])),
        with("name", json!("   ")),
    ];
    for registration in bad {
        let r = app
            .post("/admin/clients", Some(&root.access), registration.clone())
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{registration}");
        assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    }
    // An unknown field is refused like everywhere else.
    let r = app
        .post(
            "/admin/clients",
            Some(&root.access),
            with("secret", json!("mine")),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    app.create_client(&root.access, base).await;
}

#[tokio::test]
async fn only_admins_manage_clients() {
    let (app, root, alice) = app_with_alice().await;
    let client = app
        .create_client(&root.access, public_code_client("spa"))
        .await;
    let r = app
        .post(
            "/admin/clients",
            Some(&alice.access),
            public_code_client("x"),
        )
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.get("/admin/clients", Some(&alice.access)).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let path = format!("/admin/clients/{}", client.id);
    let r = app.delete(&path, Some(&alice.access)).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.get("/admin/clients", None).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // The client survived it all.
    let list = json_body(app.get("/admin/clients", Some(&root.access)).await).await;
    assert_eq!(list["clients"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn deleting_a_client_is_204_then_404_and_revokes_its_sessions_and_tokens() {
    let (app, root, _) = app_with_alice().await;
    let cli = app
        .create_client(&root.access, public_password("cli", &["profile"]))
        .await;
    let svc = app
        .create_client(
            &root.access,
            confidential("svc", &["client_credentials"], &["api"]),
        )
        .await;
    let session = app
        .token_ok(None, &alice_password(&[("client_id", &cli.id)]))
        .await;
    let first_party = app.login("alice", PASSWORD).await;
    let service = app
        .token_ok(svc.basic(), &[("grant_type", "client_credentials")])
        .await;
    let user_access = str_of(&session, "access_token");
    let svc_access = str_of(&service, "access_token");
    assert_eq!(token_status(&app, user_access).await, StatusCode::OK);
    assert_eq!(
        app.get("/auth/verify", Some(svc_access)).await.status(),
        StatusCode::OK
    );

    for client in [&cli, &svc] {
        let path = format!("/admin/clients/{}", client.id);
        let r = app.delete(&path, Some(&root.access)).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = app.delete(&path, Some(&root.access)).await;
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }

    assert_eq!(
        token_status(&app, user_access).await,
        StatusCode::UNAUTHORIZED
    );
    let r = app.refresh(str_of(&session, "refresh_token")).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    assert_eq!(
        app.get("/auth/verify", Some(svc_access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .token(svc.basic(), &[("grant_type", "client_credentials")])
        .await;
    assert_invalid_client(r).await;
    // The user's own session, not issued to the client, is untouched.
    assert_eq!(
        token_status(&app, &first_party.access).await,
        StatusCode::OK
    );
    let list = json_body(app.get("/admin/clients", Some(&root.access)).await).await;
    assert_eq!(list["clients"], json!([]));
}
