//! `/userinfo`, revocation (RFC 7009), introspection (RFC 7662),
//! discovery, `events:read`, and the flow end to end on PostgreSQL.

use super::*;

// ------------------------------------------------------------------ userinfo

#[tokio::test]
async fn userinfo_answers_who_the_person_is() {
    let (app, root, alice) = app_with_alice().await;
    let r = app
        .patch(
            "/users/alice",
            Some(&alice.access),
            json!({"email": "alice@example.com", "first_name": "Alice", "last_name": "Liddell",
                   "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let client = app
        .create_client(&root.access, public_code_client("spa"))
        .await;
    let mut browser = Browser::new(&app);
    let tokens = code_flow(&mut browser, &client, "alice").await;
    let r = app
        .get("/userinfo", Some(str_of(&tokens, "access_token")))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let info = json_body(r).await;
    assert_eq!(info["sub"], alice.body["user"]["id"]);
    assert_eq!(info["preferred_username"], "alice");
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["name"], "Alice Liddell");
    assert_eq!(info["roles"], json!(["user"]));
}

#[tokio::test]
async fn userinfo_needs_a_persons_token() {
    let (app, root, alice) = app_with_alice().await;
    let r = app.get("/userinfo", None).await;
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = app.get("/userinfo", Some("garbage")).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let svc = app
        .create_client(
            &root.access,
            confidential("svc", &["client_credentials"], &["api"]),
        )
        .await;
    let service = app
        .token_ok(svc.basic(), &[("grant_type", "client_credentials")])
        .await;
    let r = app
        .get("/userinfo", Some(str_of(&service, "access_token")))
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    // A first-party token is a person's.
    let r = app.get("/userinfo", Some(&alice.access)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn userinfo_shows_only_what_the_scope_allows() {
    let (app, root, alice) = app_with_alice().await;
    app.patch(
        "/users/alice",
        Some(&alice.access),
        json!({"email": "alice@example.com", "first_name": "Alice", "current_password": PASSWORD}),
    )
    .await;
    let client = app
        .create_client(
            &root.access,
            public_password("cli", &["openid", "profile", "email"]),
        )
        .await;
    let openid_only = app
        .token_ok(
            None,
            &alice_password(&[("client_id", &client.id), ("scope", "openid")]),
        )
        .await;
    let info = json_body(
        app.get("/userinfo", Some(str_of(&openid_only, "access_token")))
            .await,
    )
    .await;
    assert_eq!(info["sub"], alice.body["user"]["id"]);
    assert!(info.get("email").is_none(), "{info}");
    assert!(info.get("preferred_username").is_none(), "{info}");
    assert!(info.get("name").is_none(), "{info}");

    let with_email = app
        .token_ok(
            None,
            &alice_password(&[("client_id", &client.id), ("scope", "openid email")]),
        )
        .await;
    let info = json_body(
        app.get("/userinfo", Some(str_of(&with_email, "access_token")))
            .await,
    )
    .await;
    assert_eq!(info["email"], "alice@example.com");
    assert!(info.get("preferred_username").is_none(), "{info}");
}

// --------------------------------------------------------- revocation (7009)

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_session() {
    let (app, root, _) = app_with_alice().await;
    let client = app
        .create_client(&root.access, public_password("cli", &["profile"]))
        .await;
    let tokens = app
        .token_ok(None, &alice_password(&[("client_id", &client.id)]))
        .await;
    let refresh = str_of(&tokens, "refresh_token");
    let r = app
        .post_form(
            "/oauth/revoke",
            None,
            &[
                ("token", refresh),
                ("token_type_hint", "refresh_token"),
                ("client_id", &client.id),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let again = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", client.id.as_str()),
    ];
    assert_oauth_error(
        app.token(None, &again).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        token_status(&app, str_of(&tokens, "access_token")).await,
        StatusCode::UNAUTHORIZED,
        "the session's access tokens go with it"
    );
}

#[tokio::test]
async fn revoking_an_access_token_refuses_only_that_token() {
    let (app, _, _) = app_with_alice().await;
    let first = app.token_ok(None, &alice_password(&[])).await;
    let second = app
        .token_ok(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", str_of(&first, "refresh_token")),
            ],
        )
        .await;
    let revoked = str_of(&first, "access_token");
    let sibling = str_of(&second, "access_token");
    let r = app
        .post_form("/oauth/revoke", None, &[("token", revoked)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(token_status(&app, revoked).await, StatusCode::UNAUTHORIZED);
    assert_eq!(token_status(&app, sibling).await, StatusCode::OK);
    app.token_ok(
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", str_of(&second, "refresh_token")),
        ],
    )
    .await;
}

#[tokio::test]
async fn revoking_an_unknown_token_or_another_clients_token_is_200_and_revokes_nothing() {
    let (app, root, _) = app_with_alice().await;
    let a = app
        .create_client(&root.access, public_password("a", &["profile"]))
        .await;
    let b = app
        .create_client(&root.access, public_password("b", &["profile"]))
        .await;
    let of_a = app
        .token_ok(None, &alice_password(&[("client_id", &a.id)]))
        .await;
    for token in ["no-such-token", "a.b.c", &"x".repeat(43)] {
        let r = app
            .post_form("/oauth/revoke", None, &[("token", token)])
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{token}");
    }
    for token in ["access_token", "refresh_token"] {
        let r = app
            .post_form(
                "/oauth/revoke",
                None,
                &[("token", str_of(&of_a, token)), ("client_id", &b.id)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        // Nor may a first-party caller revoke a client's tokens.
        let r = app
            .post_form("/oauth/revoke", None, &[("token", str_of(&of_a, token))])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let access = str_of(&of_a, "access_token");
    assert_eq!(token_status(&app, access).await, StatusCode::OK);
    app.token_ok(
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", str_of(&of_a, "refresh_token")),
            ("client_id", &a.id),
        ],
    )
    .await;
}

#[tokio::test]
async fn revocation_with_a_bad_client_secret_is_401() {
    let (app, root, _) = app_with_alice().await;
    let client = app
        .create_client(
            &root.access,
            confidential("web", &["password"], &["profile"]),
        )
        .await;
    let tokens = app.token_ok(client.basic(), &alice_password(&[])).await;
    let access = str_of(&tokens, "access_token");
    let r = app
        .post_form(
            "/oauth/revoke",
            Some((&client.id, "wrong")),
            &[("token", access)],
        )
        .await;
    assert_invalid_client(r).await;
    let r = app
        .post_form(
            "/oauth/revoke",
            None,
            &[("token", access), ("client_id", &client.id)],
        )
        .await;
    assert_invalid_client(r).await;
    assert_eq!(token_status(&app, access).await, StatusCode::OK);
    let r = app
        .post_form("/oauth/revoke", client.basic(), &[("token", access)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(token_status(&app, access).await, StatusCode::UNAUTHORIZED);
}

// ------------------------------------------------------ introspection (7662)

async fn introspect(app: &TestApp, client: &OAuthApp, token: &str) -> Value {
    let r = app
        .post_form("/oauth/introspect", client.basic(), &[("token", token)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    json_body(r).await
}

#[tokio::test]
async fn introspection_requires_an_authenticated_confidential_client() {
    let (app, root, alice) = app_with_alice().await;
    let public = app
        .create_client(&root.access, public_password("cli", &["profile"]))
        .await;
    let rs = app
        .create_client(
            &root.access,
            confidential(
                "rs",
                &["client_credentials"],
                &["api", "tessera:introspect"],
            ),
        )
        .await;
    let token = [("token", alice.access.as_str())];
    assert_invalid_client(app.post_form("/oauth/introspect", None, &token).await).await;
    let r = app
        .post_form(
            "/oauth/introspect",
            None,
            &[("token", &alice.access), ("client_id", &public.id)],
        )
        .await;
    assert_invalid_client(r).await;
    let r = app
        .post_form("/oauth/introspect", Some((&rs.id, "wrong")), &token)
        .await;
    assert_invalid_client(r).await;
    assert_eq!(introspect(&app, &rs, &alice.access).await["active"], true);
}

#[tokio::test]
async fn introspection_describes_live_access_and_refresh_tokens() {
    let (app, root, alice) = app_with_alice().await;
    let rs = app
        .create_client(
            &root.access,
            confidential(
                "rs",
                &["client_credentials", "password", "refresh_token"],
                &["api", "tessera:introspect"],
            ),
        )
        .await;
    let tokens = app.token_ok(rs.basic(), &alice_password(&[])).await;
    let access = introspect(&app, &rs, str_of(&tokens, "access_token")).await;
    let (_, claims) = jwt_parts(str_of(&tokens, "access_token"));
    assert_eq!(access["active"], true);
    assert_eq!(access["token_type"], "Bearer");
    assert_eq!(access["sub"], alice.body["user"]["id"]);
    assert_eq!(access["username"], "alice");
    assert_eq!(access["client_id"], rs.id.as_str());
    assert_eq!(access["scope"], "api");
    assert_eq!(access["iss"], app.base.as_str());
    assert_eq!(access["exp"], claims["exp"]);
    assert_eq!(access["jti"], claims["jti"]);
    assert_eq!(access["sid"], claims["sid"]);

    let refresh = introspect(&app, &rs, str_of(&tokens, "refresh_token")).await;
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["sub"], alice.body["user"]["id"]);
    assert_eq!(refresh["client_id"], rs.id.as_str());
    assert_eq!(refresh["sid"], claims["sid"]);
    assert!(refresh["exp"].as_i64().unwrap() > claims["exp"].as_i64().unwrap());
}

#[tokio::test]
async fn introspection_says_inactive_for_revoked_expired_garbage_and_id_tokens() {
    let (app, root, alice) = app_with_alice().await;
    let rs = app
        .create_client(
            &root.access,
            confidential(
                "rs",
                &["client_credentials", "password", "refresh_token"],
                &["openid", "api", "tessera:introspect"],
            ),
        )
        .await;
    let inactive = json!({"active": false});
    for garbage in ["garbage", "a.b.c", &"A".repeat(43)] {
        assert_eq!(introspect(&app, &rs, garbage).await, inactive);
    }
    // An ID token is not an access token.
    let tokens = app.token_ok(rs.basic(), &alice_password(&[])).await;
    let id_token = str_of(&tokens, "id_token");
    assert_eq!(introspect(&app, &rs, id_token).await, inactive);
    // Revoked: the access token, and after logout the refresh token.
    let live = app.login("alice", PASSWORD).await;
    let own_refresh = str_of(&tokens, "refresh_token");
    assert_eq!(introspect(&app, &rs, own_refresh).await["active"], true);
    app.post_form("/oauth/revoke", None, &[("token", &alice.access)])
        .await;
    assert_eq!(introspect(&app, &rs, &alice.access).await, inactive);
    app.post("/auth/logout", Some(&live.access), json!({}))
        .await;
    assert_eq!(introspect(&app, &rs, &live.access).await, inactive);
    let r = app
        .post_form("/oauth/revoke", rs.basic(), &[("token", own_refresh)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(introspect(&app, &rs, own_refresh).await, inactive);
    // Expired.
    let tokens = app.token_ok(rs.basic(), &alice_password(&[])).await;
    let fresh = str_of(&tokens, "access_token");
    assert_eq!(introspect(&app, &rs, fresh).await["active"], true);
    app.clock.advance(PAST_EXPIRY);
    assert_eq!(introspect(&app, &rs, fresh).await, inactive);
}

// ------------------------------------------------------------------ discovery

#[tokio::test]
async fn discovery_describes_everything_tessera_supports() {
    let app = TestApp::spawn().await;
    let r = app.get("/.well-known/openid-configuration", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let d = json_body(r).await;
    let base = app.base.as_str();
    assert_eq!(d["issuer"], base);
    for (key, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("end_session_endpoint", "/logout"),
    ] {
        assert_eq!(d[key], format!("{base}{path}"), "{key}");
    }
    let set = |key: &str| -> Vec<String> {
        d[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} is a list in {d}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let has = |key: &str, wanted: &[&str]| {
        let got = set(key);
        for w in wanted {
            assert!(got.iter().any(|g| g == w), "{key} lacks {w}: {got:?}");
        }
    };
    assert_eq!(set("response_types_supported"), vec!["code"]);
    assert_eq!(set("code_challenge_methods_supported"), vec!["S256"]);
    has(
        "grant_types_supported",
        &[
            "authorization_code",
            "refresh_token",
            "password",
            "client_credentials",
        ],
    );
    has(
        "token_endpoint_auth_methods_supported",
        &["client_secret_basic", "client_secret_post", "none"],
    );
    has(
        "scopes_supported",
        &["openid", "profile", "email", "events:read"],
    );
    has(
        "claims_supported",
        &[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "preferred_username",
            "email",
            "name",
            "roles",
        ],
    );
    has("id_token_signing_alg_values_supported", &["RS256", "ES256"]);
    has("subject_types_supported", &["public"]);
    has("response_modes_supported", &["query"]);

    // Every endpoint it names answers (not 404).
    for key in [
        "jwks_uri",
        "authorization_endpoint",
        "userinfo_endpoint",
        "end_session_endpoint",
    ] {
        let path = d[key].as_str().unwrap().strip_prefix(base).unwrap();
        assert_ne!(
            app.get(path, None).await.status(),
            StatusCode::NOT_FOUND,
            "{key}"
        );
    }
}

// ------------------------------------------------------ /events and scopes

#[tokio::test]
async fn a_client_token_with_events_read_follows_every_users_events() {
    let (app, root, _) = app_with_alice().await;
    let bob = app.register("bob").await;
    let svc = app
        .create_client(
            &root.access,
            confidential("audit", &["client_credentials"], &["events:read"]),
        )
        .await;
    let token = app
        .token_ok(svc.basic(), &[("grant_type", "client_credentials")])
        .await;
    let plain = app
        .create_client(
            &root.access,
            confidential("plain", &["client_credentials"], &["api"]),
        )
        .await;
    let plain_token = app
        .token_ok(plain.basic(), &[("grant_type", "client_credentials")])
        .await;
    let mut ws = subscribe(&app, str_of(&token, "access_token")).await;
    let mut plain_ws = subscribe(&app, str_of(&plain_token, "access_token")).await;

    app.post("/auth/logout", Some(&bob.access), json!({})).await;
    let r = app
        .post("/admin/keys/rotate", Some(&root.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let event = next_event(&mut ws).await;
    assert_eq!(event["type"], "session.revoked");
    assert_eq!(event["sub"], bob.body["user"]["id"]);
    // Without events:read a client sees only what everyone sees.
    assert_eq!(next_event(&mut plain_ws).await["type"], "key.rotated");
}

#[tokio::test]
async fn a_users_token_with_events_read_in_its_scope_still_sees_only_their_own_events() {
    let (app, root, alice) = app_with_alice().await;
    let bob = app.register("bob").await;
    let client = app
        .create_client(&root.access, public_password("cli", &["events:read"]))
        .await;
    let tokens = app
        .token_ok(None, &alice_password(&[("client_id", &client.id)]))
        .await;
    assert_eq!(tokens["scope"], "events:read");
    let mut ws = subscribe(&app, str_of(&tokens, "access_token")).await;
    // Bob's logout first, then alice's: alice's subscriber sees only hers.
    app.post("/auth/logout", Some(&bob.access), json!({})).await;
    app.post("/auth/logout", Some(&alice.access), json!({}))
        .await;
    let event = next_event(&mut ws).await;
    assert_eq!(event["type"], "session.revoked");
    assert_eq!(event["sub"], alice.body["user"]["id"]);
}

#[tokio::test]
async fn revoking_an_access_token_emits_token_revoked() {
    let (app, _, alice) = app_with_alice().await;
    let other = app.login("alice", PASSWORD).await;
    let mut ws = subscribe(&app, &alice.access).await;
    let r = app
        .post_form("/oauth/revoke", None, &[("token", &other.access)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let event = next_event(&mut ws).await;
    let (_, claims) = jwt_parts(&other.access);
    assert_eq!(event["type"], "token.revoked");
    assert_eq!(event["jti"], claims["jti"]);
    assert_eq!(event["sub"], alice.body["user"]["id"]);
    assert_eq!(event["exp"], claims["exp"]);
}

// ------------------------------------------------------------------ PostgreSQL

#[tokio::test]
async fn postgres_code_flow_reuse_revocation_and_introspection() {
    let Some(app) = TestApp::builder().postgres().try_spawn().await else {
        return;
    };
    let root = app.admin("root").await;
    app.register("alice").await;
    let client = app
        .create_client(&root.access, public_code_client("spa"))
        .await;
    let rs = app
        .create_client(
            &root.access,
            confidential(
                "rs",
                &["client_credentials"],
                &["api", "tessera:introspect"],
            ),
        )
        .await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let code = sign_in_for_code(&mut browser, &request, "alice").await;
    let tokens = app.token_ok(None, &request.redeem(&code)).await;
    let access = str_of(&tokens, "access_token");
    verify_with_jwks(&app, str_of(&tokens, "id_token"), &client.id).await;
    assert_eq!(introspect(&app, &rs, access).await["active"], true);

    let r = app.token(None, &request.redeem(&code)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(token_status(&app, access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(introspect(&app, &rs, access).await["active"], false);
}
