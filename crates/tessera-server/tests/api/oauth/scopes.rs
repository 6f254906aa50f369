//! Tessera's own API and tokens issued to OAuth clients: a person's token
//! from an application reaches `/me`, `/users/**`, `/sessions/**`,
//! `/admin/**` and `/auth/logout*` only with scope `tessera:account` (and,
//! for administration, `tessera:admin`), which the client must be
//! registered for and ask for by name. Introspection is for clients
//! registered as resource servers (`tessera:introspect`).

use super::*;

/// A public client with the password grant, registered for `scopes`.
async fn password_client(app: &TestApp, admin: &str, scopes: &[&str]) -> OAuthApp {
    app.create_client(admin, public_password("cli", scopes))
        .await
}

/// The password grant for `username` through `client`, asking for `scope`.
async fn client_token(app: &TestApp, client: &OAuthApp, username: &str, scope: &str) -> String {
    let mut fields = vec![
        ("grant_type", "password"),
        ("username", username),
        ("password", PASSWORD),
        ("client_id", client.id.as_str()),
    ];
    if !scope.is_empty() {
        fields.push(("scope", scope));
    }
    let tokens = app.token_ok(None, &fields).await;
    str_of(&tokens, "access_token").to_owned()
}

/// Asserts a 403 `forbidden` whose challenge names the missing `scope`.
async fn assert_insufficient_scope(r: Response, scope: &str) {
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(
        challenge,
        format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"")
    );
}

#[tokio::test]
async fn an_admins_token_issued_to_a_client_without_tessera_scopes_cannot_use_tesseras_api() {
    let (app, root, alice) = app_with_alice().await;
    let cli = password_client(&app, &root.access, &["openid", "profile"]).await;
    let token = client_token(&app, &cli, "root", "openid").await;
    let alice_sid = jwt_parts(&alice.access).1["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let attacker_client = public_code_client("Attacker");
    let admin = "tessera:admin";
    let account = "tessera:account";
    let attempts = [
        (
            reqwest::Method::POST,
            "/admin/clients".to_owned(),
            Some(attacker_client),
            admin,
        ),
        (
            reqwest::Method::GET,
            "/admin/clients".to_owned(),
            None,
            admin,
        ),
        (reqwest::Method::GET, "/admin/keys".to_owned(), None, admin),
        (
            reqwest::Method::POST,
            "/admin/keys/rotate".to_owned(),
            Some(json!({})),
            admin,
        ),
        (reqwest::Method::GET, "/admin/audit".to_owned(), None, admin),
        (
            reqwest::Method::DELETE,
            "/users/alice".to_owned(),
            None,
            admin,
        ),
        (reqwest::Method::GET, "/me".to_owned(), None, account),
        (reqwest::Method::GET, "/users".to_owned(), None, account),
        (
            reqwest::Method::GET,
            "/users/alice".to_owned(),
            None,
            account,
        ),
        (
            reqwest::Method::PATCH,
            "/users/alice".to_owned(),
            Some(json!({"roles": ["user", "admin"]})),
            admin,
        ),
        (
            reqwest::Method::GET,
            "/users/alice/sessions".to_owned(),
            None,
            admin,
        ),
        (
            reqwest::Method::DELETE,
            format!("/sessions/{alice_sid}"),
            None,
            account,
        ),
        (
            reqwest::Method::POST,
            "/auth/logout".to_owned(),
            Some(json!({})),
            account,
        ),
        (
            reqwest::Method::POST,
            "/auth/logout-all".to_owned(),
            Some(json!({})),
            account,
        ),
    ];
    for (method, path, body, scope) in attempts {
        let r = app.send(method.clone(), &path, Some(&token), body).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_insufficient_scope(r, scope).await;
    }
    // Nothing happened: no client was created, alice is untouched, and the
    // same requests with root's own token go through.
    let clients = json_body(app.get("/admin/clients", Some(&root.access)).await).await;
    assert_eq!(clients["clients"].as_array().unwrap().len(), 1);
    assert_eq!(token_status(&app, &alice.access).await, StatusCode::OK);
    assert_eq!(
        app.get("/me", Some(&root.access)).await.status(),
        StatusCode::OK
    );
    // The token is still good for what it was issued for.
    assert_eq!(token_status(&app, &token).await, StatusCode::OK);
    assert_eq!(
        app.get("/userinfo", Some(&token)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn tessera_account_reaches_the_own_account_but_not_administration() {
    let (app, root, alice) = app_with_alice().await;
    let cli = password_client(&app, &root.access, &["openid", "tessera:account"]).await;
    let token = client_token(&app, &cli, "root", "openid tessera:account").await;
    let me = json_body(app.get("/me", Some(&token)).await).await;
    assert_eq!(me["user"]["username"], "root");
    // Another person's profile: the basic view, as for a non-admin.
    let other = json_body(app.get("/users/alice", Some(&token)).await).await;
    assert!(other["user"].get("roles").is_none(), "{other}");
    for (method, path) in [
        (reqwest::Method::GET, "/admin/clients"),
        (reqwest::Method::GET, "/admin/audit"),
        (reqwest::Method::DELETE, "/users/alice"),
    ] {
        let r = app.send(method.clone(), path, Some(&token), None).await;
        assert_insufficient_scope(r, "tessera:admin").await;
    }
    let r = app.get("/users/alice/sessions", Some(&token)).await;
    assert_insufficient_scope(r, "tessera:admin").await;
    // Nor may it change roles or `disabled`, not even its own.
    let r = app
        .patch("/users/root", Some(&token), json!({"roles": ["user"]}))
        .await;
    assert_insufficient_scope(r, "tessera:admin").await;
    let r = app
        .patch("/users/alice", Some(&token), json!({"disabled": true}))
        .await;
    assert_insufficient_scope(r, "tessera:admin").await;
    assert_eq!(token_status(&app, &alice.access).await, StatusCode::OK);
    // Its own session it may end.
    let r = app.post("/auth/logout", Some(&token), json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(token_status(&app, &token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tessera_admin_lets_an_admins_client_token_administer_but_not_a_users() {
    let (app, root, _alice) = app_with_alice().await;
    let console = password_client(&app, &root.access, &["openid", "tessera:admin"]).await;
    let token = client_token(&app, &console, "root", "openid tessera:admin").await;
    let r = app
        .post(
            "/admin/clients",
            Some(&token),
            public_code_client("Made by console"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.get("/me", Some(&token)).await.status(), StatusCode::OK);
    // The scope grants no role: alice through the same client is no admin.
    let alices = client_token(&app, &console, "alice", "openid tessera:admin").await;
    let r = app.get("/admin/clients", Some(&alices)).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.get("/me", Some(&alices)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn tessera_scopes_are_granted_only_when_asked_for_and_registered() {
    let (app, root, _alice) = app_with_alice().await;
    let plain = password_client(&app, &root.access, &["openid"]).await;
    let r = app
        .token(
            None,
            &alice_password(&[
                ("client_id", &plain.id),
                ("scope", "openid tessera:account"),
            ]),
        )
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    // Registered for it, but not asked for by name: not granted.
    let console = password_client(&app, &root.access, &["openid", "tessera:admin"]).await;
    let tokens = app
        .token_ok(None, &alice_password(&[("client_id", &console.id)]))
        .await;
    assert_eq!(tokens["scope"], "openid");
    assert_eq!(
        jwt_parts(str_of(&tokens, "access_token")).1["scope"],
        "openid"
    );
    // A refresh cannot widen the scope to it either.
    let r = app
        .token(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", str_of(&tokens, "refresh_token")),
                ("client_id", &console.id),
                ("scope", "openid tessera:admin"),
            ],
        )
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
}

#[tokio::test]
async fn only_tesseras_known_scopes_may_be_registered_under_its_prefix() {
    let (app, root, _alice) = app_with_alice().await;
    for (registration, path) in [
        (public_password("x", &["tessera:root"]), "/scopes/0"),
        // Introspection is for confidential clients only.
        (
            public_password("x", &["openid", "tessera:introspect"]),
            "/confidential",
        ),
    ] {
        let r = app
            .post("/admin/clients", Some(&root.access), registration)
            .await;
        let body = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert_eq!(body["error"]["details"][0]["path"], path, "{body}");
    }
    let r = app
        .post(
            "/admin/clients",
            Some(&root.access),
            confidential("rs", &["client_credentials"], &["tessera:introspect"]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn forward_auth_names_the_client_and_scope_of_a_clients_token() {
    let (app, root, alice) = app_with_alice().await;
    let cli = password_client(&app, &root.access, &["openid", "profile"]).await;
    let token = client_token(&app, &cli, "alice", "openid profile").await;
    let r = app.get("/auth/verify", Some(&token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-client"], cli.id.as_str());
    assert_eq!(r.headers()["x-auth-scope"], "openid profile");
    assert_eq!(r.headers()["x-auth-username"], "alice");
    // Tessera's own tokens name no client and no scope.
    let r = app.get("/auth/verify", Some(&alice.access)).await;
    assert!(r.headers().get("x-auth-client").is_none());
    assert!(r.headers().get("x-auth-scope").is_none());
}

#[tokio::test]
async fn an_admins_client_token_without_tessera_admin_sees_only_own_events() {
    let (app, root, alice) = app_with_alice().await;
    let cli = password_client(&app, &root.access, &["openid"]).await;
    let token = client_token(&app, &cli, "root", "openid").await;
    let mut own = subscribe(&app, &token).await;
    let mut full = subscribe(&app, &root.access).await;
    // Give both subscriptions time to start before the events.
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.post("/auth/logout", Some(&alice.access), json!({}))
        .await;
    let r = app
        .post("/admin/keys/rotate", Some(&root.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(next_event(&mut full).await["type"], "session.revoked");
    // alice's logout is not shown to the client token; the rotation is.
    assert_eq!(next_event(&mut own).await["type"], "key.rotated");
}

// ------------------------------------------------------ introspection

#[tokio::test]
async fn only_a_resource_server_may_introspect() {
    let (app, root, alice) = app_with_alice().await;
    let plain = app
        .create_client(
            &root.access,
            confidential("svc", &["client_credentials"], &["api"]),
        )
        .await;
    let r = app
        .post_form(
            "/oauth/introspect",
            plain.basic(),
            &[("token", &alice.access)],
        )
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    let rs = app
        .create_client(
            &root.access,
            confidential("rs", &["client_credentials"], &["tessera:introspect"]),
        )
        .await;
    let r = app
        .post_form("/oauth/introspect", rs.basic(), &[("token", &alice.access)])
        .await;
    assert_eq!(json_body(r).await["active"], true);
}

#[tokio::test]
async fn a_refresh_token_is_described_only_to_the_client_it_was_issued_to() {
    let (app, root, alice) = app_with_alice().await;
    let scopes = ["api", "tessera:introspect"];
    let grants = ["password", "refresh_token"];
    let a = app
        .create_client(&root.access, confidential("a", &grants, &scopes))
        .await;
    let b = app
        .create_client(&root.access, confidential("b", &grants, &scopes))
        .await;
    let of_a = app.token_ok(a.basic(), &alice_password(&[])).await;
    let refresh = str_of(&of_a, "refresh_token");
    let ask = |client: &OAuthApp, token: &str| {
        let basic = client.basic().map(|(i, s)| (i.to_owned(), s.to_owned()));
        let token = token.to_owned();
        let app = &app;
        async move {
            let basic = basic.as_ref().map(|(i, s)| (i.as_str(), s.as_str()));
            json_body(
                app.post_form("/oauth/introspect", basic, &[("token", &token)])
                    .await,
            )
            .await
        }
    };
    let inactive = json!({"active": false});
    assert_eq!(ask(&a, refresh).await["active"], true);
    assert_eq!(ask(&b, refresh).await, inactive);
    // A first-party refresh token belongs to no client.
    assert_eq!(ask(&a, &alice.refresh).await, inactive);
    // Access tokens are for resource servers to check, whoever got them.
    assert_eq!(ask(&b, str_of(&of_a, "access_token")).await["active"], true);
    assert_eq!(ask(&b, &alice.access).await["active"], true);
}
