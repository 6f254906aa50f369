//! The token endpoint's grants and its RFC 6749 §5.2 errors.

use super::*;

// ------------------------------------------------------- password grant

#[tokio::test]
async fn password_grant_without_a_client_answers_rfc6749_tokens_that_work() {
    let (app, _, _) = app_with_alice().await;
    let body = app.token_ok(None, &alice_password(&[])).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].is_string());
    assert!(body.get("id_token").is_none());
    assert!(body.get("scope").is_none(), "no scope asked, none granted");
    let access = str_of(&body, "access_token");
    let (_, claims) = jwt_parts(access);
    assert!(claims.get("client_id").is_none());
    assert_eq!(token_status(&app, access).await, StatusCode::OK);

    let body = app
        .token_ok(None, &alice_password(&[("scope", "profile email")]))
        .await;
    assert_eq!(body["scope"], "profile email");
}

#[tokio::test]
async fn password_grant_without_a_client_refuses_openid_and_unknown_scopes() {
    let (app, _, _) = app_with_alice().await;
    for scope in ["openid", "profile events:read", "bad\"scope"] {
        let r = app.token(None, &alice_password(&[("scope", scope)])).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    }
    app.token_ok(None, &alice_password(&[("scope", "email")]))
        .await;
}

#[tokio::test]
async fn password_grant_with_a_public_client_binds_the_tokens_to_it() {
    let (app, root, alice) = app_with_alice().await;
    let client = app
        .create_client(&root.access, public_password("cli", &["openid", "profile"]))
        .await;
    let body = app
        .token_ok(None, &alice_password(&[("client_id", &client.id)]))
        .await;
    assert_eq!(body["scope"], "openid profile", "all the client's scopes");
    assert!(body["refresh_token"].is_string());
    let (_, id_claims) = jwt_parts(str_of(&body, "id_token"));
    assert_eq!(id_claims["aud"], client.id.as_str());
    assert_eq!(id_claims["sub"], alice.body["user"]["id"]);
    assert!(id_claims.get("nonce").is_none(), "no nonce was sent");
    let (header, claims) = jwt_parts(str_of(&body, "access_token"));
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["scope"], "openid profile");
    assert_eq!(claims["username"], "alice");

    let body = app
        .token_ok(
            None,
            &alice_password(&[("client_id", &client.id), ("scope", "profile")]),
        )
        .await;
    assert_eq!(body["scope"], "profile");
    assert!(body.get("id_token").is_none(), "no openid, no ID token");
}

#[tokio::test]
async fn password_grant_with_a_confidential_client_needs_its_secret() {
    let (app, root, _) = app_with_alice().await;
    let client = app
        .create_client(
            &root.access,
            confidential("web", &["password"], &["profile"]),
        )
        .await;
    let secret = client.secret.clone().unwrap();
    let body = app.token_ok(client.basic(), &alice_password(&[])).await;
    assert!(
        body.get("refresh_token").is_none(),
        "without the refresh_token grant, no refresh token"
    );
    app.token_ok(
        None,
        &alice_password(&[("client_id", &client.id), ("client_secret", &secret)]),
    )
    .await;

    let r = app
        .token(None, &alice_password(&[("client_id", &client.id)]))
        .await;
    assert_invalid_client(r).await;
    let r = app
        .token(Some((&client.id, "wrong")), &alice_password(&[]))
        .await;
    assert_invalid_client(r).await;
}

#[tokio::test]
async fn a_wrong_password_or_unknown_user_is_invalid_grant() {
    let (app, _, _) = app_with_alice().await;
    let wrong = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "not her password"),
    ];
    assert_oauth_error(
        app.token(None, &wrong).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    let nobody = [
        ("grant_type", "password"),
        ("username", "nobody"),
        ("password", PASSWORD),
    ];
    assert_oauth_error(
        app.token(None, &nobody).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn repeated_bad_passwords_through_the_password_grant_end_in_429_with_retry_after() {
    let app = TestApp::builder()
        .env("TESSERA_LOGIN_MAX_FAILURES", "3")
        .spawn()
        .await;
    app.register("alice").await;
    let wrong = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "not her password"),
    ];
    for _ in 0..3 {
        let r = app.token(None, &wrong).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    let r = app.token(None, &alice_password(&[])).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_oauth_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;

    app.clock.advance(Duration::from_secs(retry));
    app.token_ok(None, &alice_password(&[])).await;
}

// ------------------------------------------------------------- RFC 6749 §5.2

#[tokio::test]
async fn invalid_client_is_401_with_www_authenticate_basic() {
    let (app, root, _) = app_with_alice().await;
    let client = app
        .create_client(
            &root.access,
            confidential("svc", &["client_credentials"], &["api"]),
        )
        .await;
    let cc = [("grant_type", "client_credentials")];
    let ok = app.token_ok(client.basic(), &cc).await;
    assert!(ok["access_token"].is_string());

    // A wrong secret, by HTTP Basic and by client_secret_post.
    assert_invalid_client(app.token(Some((&client.id, "wrong")), &cc).await).await;
    let post = [
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
        ("client_secret", "wrong"),
    ];
    assert_invalid_client(app.token(None, &post).await).await;
    // An unknown client, even with the real secret.
    let secret = client.secret.as_deref().unwrap();
    assert_invalid_client(app.token(Some(("no-such-client", secret)), &cc).await).await;
    // A confidential client that sends no secret.
    let bare = [
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
    ];
    assert_invalid_client(app.token(None, &bare).await).await;
    // A public client that sends a secret.
    let public = app
        .create_client(&root.access, public_password("cli", &["profile"]))
        .await;
    let r = app
        .token(Some((&public.id, secret)), &alice_password(&[]))
        .await;
    assert_invalid_client(r).await;
    app.token_ok(None, &alice_password(&[("client_id", &public.id)]))
        .await;
    // Garbage in the Basic header.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", "Basic !!!not-base64")
        .body(form(&cc))
        .send()
        .await
        .unwrap();
    assert_invalid_client(r).await;
}

#[tokio::test]
async fn two_client_authentication_methods_at_once_are_invalid_request() {
    let (app, root, _) = app_with_alice().await;
    let client = app
        .create_client(
            &root.access,
            confidential("svc", &["client_credentials"], &["api"]),
        )
        .await;
    let secret = client.secret.as_deref().unwrap();
    let both = [
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
        ("client_secret", secret),
    ];
    let r = app.token(client.basic(), &both).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    app.token_ok(None, &both).await;
}

#[tokio::test]
async fn malformed_token_requests_are_invalid_request() {
    let (app, _, _) = app_with_alice().await;
    // No grant_type.
    let r = app
        .token(None, &[("username", "alice"), ("password", PASSWORD)])
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    // A repeated parameter.
    let r = app
        .token(None, &alice_password(&[("username", "alice")]))
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    // A parameter the grant needs is missing.
    let r = app
        .token(None, &[("grant_type", "password"), ("username", "alice")])
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    // JSON instead of a form.
    let r = app
        .post(
            "/oauth/token",
            None,
            json!({"grant_type": "password", "username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    // The same request as a form works.
    app.token_ok(None, &alice_password(&[])).await;
}

#[tokio::test]
async fn an_unknown_grant_type_is_unsupported_grant_type() {
    let (app, _, _) = app_with_alice().await;
    for grant in [
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
        "PASSWORD",
    ] {
        let r = app
            .token(
                None,
                &[
                    ("grant_type", grant),
                    ("username", "alice"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    }
}

#[tokio::test]
async fn a_grant_the_client_did_not_register_is_unauthorized_client() {
    let (app, root, _) = app_with_alice().await;
    let code_only = app
        .create_client(&root.access, public_code_client("spa"))
        .await;
    let r = app
        .token(None, &alice_password(&[("client_id", &code_only.id)]))
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;

    let no_cc = app
        .create_client(&root.access, confidential("web", &["password"], &["api"]))
        .await;
    let r = app
        .token(no_cc.basic(), &[("grant_type", "client_credentials")])
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    let r = app
        .token(
            no_cc.basic(),
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("code_verifier", &"v".repeat(43)),
            ],
        )
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    // What it did register works.
    app.token_ok(no_cc.basic(), &alice_password(&[])).await;
}

#[tokio::test]
async fn a_scope_beyond_the_clients_is_invalid_scope() {
    let (app, root, _) = app_with_alice().await;
    let client = app
        .create_client(&root.access, public_password("cli", &["openid", "profile"]))
        .await;
    for scope in ["openid email", "events:read", "openid bad\\scope"] {
        let r = app
            .token(
                None,
                &alice_password(&[("client_id", &client.id), ("scope", scope)]),
            )
            .await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    }
}

// -------------------------------------------------------- refresh_token grant

#[tokio::test]
async fn refresh_token_grant_rotates_and_a_rotated_token_is_then_refused() {
    let (app, root, _) = app_with_alice().await;
    let client = app
        .create_client(&root.access, public_password("cli", &["openid", "profile"]))
        .await;
    let first = app
        .token_ok(None, &alice_password(&[("client_id", &client.id)]))
        .await;
    let old = str_of(&first, "refresh_token");
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", old),
        ("client_id", client.id.as_str()),
    ];
    let second = app.token_ok(None, &refresh).await;
    let new = str_of(&second, "refresh_token");
    assert_ne!(new, old, "rotated");
    assert_eq!(second["scope"], "openid profile");
    assert!(second["id_token"].is_string());
    assert_eq!(
        token_status(&app, str_of(&second, "access_token")).await,
        StatusCode::OK
    );

    // After the grace window the rotated token is reuse.
    app.clock.advance(Duration::from_secs(11));
    let r = app.token(None, &refresh).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn a_refresh_token_is_bound_to_the_client_it_was_issued_to() {
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
    let first_party = app.token_ok(None, &alice_password(&[])).await;
    let refresh = |token: &Value, client: Option<&str>| -> Vec<(String, String)> {
        let mut f = vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            (
                "refresh_token".to_owned(),
                str_of(token, "refresh_token").to_owned(),
            ),
        ];
        if let Some(c) = client {
            f.push(("client_id".into(), c.into()));
        }
        f
    };
    let send = |fields: Vec<(String, String)>| {
        let app = &app;
        async move {
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            app.token(None, &fields).await
        }
    };

    // A's refresh token: not with B, not without a client.
    for client in [Some(b.id.as_str()), None] {
        let r = send(refresh(&of_a, client)).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    // A first-party refresh token is not a client's.
    let r = send(refresh(&first_party, Some(&a.id))).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // The strangers' attempts disturbed nothing: the owners still refresh.
    assert_eq!(
        send(refresh(&of_a, Some(&a.id))).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        send(refresh(&first_party, None)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_clients_refresh_token_is_refused_by_the_first_party_refresh_endpoint() {
    let (app, root, alice) = app_with_alice().await;
    let confidential_client = app
        .create_client(
            &root.access,
            confidential("svc", &["password", "refresh_token"], &["profile"]),
        )
        .await;
    let public_client = app
        .create_client(&root.access, public_password("cli", &["profile"]))
        .await;
    let of_confidential = app
        .token_ok(confidential_client.basic(), &alice_password(&[]))
        .await;
    let of_public = app
        .token_ok(None, &alice_password(&[("client_id", &public_client.id)]))
        .await;
    // Without the secret, a stolen confidential-client refresh token is worth
    // nothing, at either endpoint; nor is a public client's at Tessera's own.
    for tokens in [&of_confidential, &of_public] {
        let r = app.refresh(str_of(tokens, "refresh_token")).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }
    let stolen = str_of(&of_confidential, "refresh_token");
    let r = app
        .token(
            None,
            &[("grant_type", "refresh_token"), ("refresh_token", stolen)],
        )
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // The attempts rotated and revoked nothing: the owner still refreshes,
    // and so does the first-party session with its own token.
    let r = app
        .token(
            confidential_client.basic(),
            &[("grant_type", "refresh_token"), ("refresh_token", stolen)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rotated = json_body(r).await;
    let r = app
        .token(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", str_of(&of_public, "refresh_token")),
                ("client_id", &public_client.id),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.refresh(&alice.refresh).await.status(), StatusCode::OK);
    // A rotated-away client token, repeated within the grace window at the
    // first-party endpoint, gets nothing either (and revokes nothing).
    let r = app.refresh(stolen).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    let r = app
        .token(
            confidential_client.basic(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", str_of(&rotated, "refresh_token")),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_not_widen_it() {
    let (app, root, _) = app_with_alice().await;
    let client = app
        .create_client(
            &root.access,
            public_password("cli", &["openid", "profile", "email"]),
        )
        .await;
    let first = app
        .token_ok(
            None,
            &alice_password(&[("client_id", &client.id), ("scope", "openid profile")]),
        )
        .await;
    let token = str_of(&first, "refresh_token");
    let widen = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", client.id.as_str()),
        ("scope", "openid profile email"),
    ];
    let r = app.token(None, &widen).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;

    let narrow = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", client.id.as_str()),
        ("scope", "profile"),
    ];
    let body = app.token_ok(None, &narrow).await;
    assert_eq!(body["scope"], "profile");
    assert!(body.get("id_token").is_none());
    let (_, claims) = jwt_parts(str_of(&body, "access_token"));
    assert_eq!(claims["scope"], "profile");
}

// --------------------------------------------------- client_credentials grant

#[tokio::test]
async fn a_client_credentials_token_is_about_the_client_not_a_person() {
    let (app, root, _) = app_with_alice().await;
    let client = app
        .create_client(
            &root.access,
            confidential("svc", &["client_credentials"], &["api:read", "openid"]),
        )
        .await;
    let body = app
        .token_ok(client.basic(), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api:read", "openid is dropped: no person");
    assert!(body.get("refresh_token").is_none());
    assert!(body.get("id_token").is_none());
    let access = str_of(&body, "access_token");
    let (header, claims) = jwt_parts(access);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], client.id.as_str());
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["scope"], "api:read");
    assert!(claims.get("username").is_none());
    assert!(claims.get("roles").is_none());

    // Endpoints about the current user refuse it; forward-auth accepts it.
    assert_error(
        app.get("/me", Some(access)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.get("/users/alice", Some(access)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let r = app.get("/auth/verify", Some(access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-subject"], client.id.as_str());

    // Asking for openid explicitly is refused.
    let r = app
        .token(
            client.basic(),
            &[("grant_type", "client_credentials"), ("scope", "openid")],
        )
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
}

#[tokio::test]
async fn client_credentials_needs_an_authenticated_confidential_client() {
    let (app, root, _) = app_with_alice().await;
    let public = app
        .create_client(&root.access, public_password("cli", &["profile"]))
        .await;
    let cc = [("grant_type", "client_credentials")];
    assert_invalid_client(app.token(None, &cc).await).await;
    let r = app
        .token(
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", public.id.as_str()),
            ],
        )
        .await;
    assert_invalid_client(r).await;
}

// --------------------------------------------------- authorization_code grant

#[tokio::test]
async fn a_code_needs_its_verifier_redirect_uri_and_client_and_still_works_for_its_owner() {
    let (app, _, client) = code_setup().await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let code = sign_in_for_code(&mut browser, &request, "alice").await;
    let good = request.redeem(&code);
    let with = |key: &str, value: Option<&str>| -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = good
            .iter()
            .filter(|(k, _)| *k != key)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(v) = value {
            f.push((key.to_owned(), v.to_owned()));
        }
        f
    };
    let send = |fields: Vec<(String, String)>| {
        let app = &app;
        async move {
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            app.token(None, &fields).await
        }
    };

    let (other_verifier, _) = pkce();
    let r = send(with("code_verifier", Some(&other_verifier))).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let r = send(with("code_verifier", None)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = send(with("redirect_uri", Some("https://app.example/other"))).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let r = send(with("redirect_uri", None)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let r = send(with("client_id", None)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    // Another client cannot redeem it.
    let root = app.login("root", PASSWORD).await;
    let other = app
        .create_client(&root.access, public_code_client("other"))
        .await;
    let r = send(with("client_id", Some(&other.id))).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // None of that spent the code.
    let tokens = app.token_ok(None, &good).await;
    assert_eq!(tokens["scope"], "openid profile email");
    assert_eq!(
        token_status(&app, str_of(&tokens, "access_token")).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let (app, _, client) = code_setup().await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let code = sign_in_for_code(&mut browser, &request, "alice").await;
    app.clock.advance(Duration::from_secs(61));
    let r = app.token(None, &request.redeem(&code)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // A fresh code (the browser is still signed in) redeems at once.
    let request = CodeRequest::new(&client);
    let fresh = code_from(&app, &browser.get(&request.path(&[])).await, &request);
    app.token_ok(None, &request.redeem(&fresh)).await;
}

#[tokio::test]
async fn a_reused_code_is_invalid_grant_and_revokes_what_its_first_use_issued() {
    let (app, _, client) = code_setup().await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let code = sign_in_for_code(&mut browser, &request, "alice").await;
    let first = app.token_ok(None, &request.redeem(&code)).await;
    let access = str_of(&first, "access_token");
    assert_eq!(token_status(&app, access).await, StatusCode::OK);

    let r = app.token(None, &request.redeem(&code)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    assert_eq!(token_status(&app, access).await, StatusCode::UNAUTHORIZED);
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", str_of(&first, "refresh_token")),
        ("client_id", client.id.as_str()),
    ];
    let r = app.token(None, &refresh).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn concurrent_redemptions_of_one_code_issue_tokens_once() {
    let (app, _, client) = code_setup().await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let code = sign_in_for_code(&mut browser, &request, "alice").await;
    let fields = request.redeem(&code);
    let answers = futures::future::join_all((0..6).map(|_| app.token(None, &fields))).await;
    let ok = answers
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "exactly one redemption succeeds");
    assert!(
        answers
            .iter()
            .all(|r| r.status() == StatusCode::OK || r.status() == StatusCode::BAD_REQUEST)
    );
}

#[tokio::test]
async fn a_confidential_client_redeems_its_code_only_with_its_secret() {
    let (app, root, _) = app_with_alice().await;
    let client = app
        .create_client(
            &root.access,
            confidential("web", &["authorization_code"], &["openid"]),
        )
        .await;
    let mut browser = Browser::new(&app);
    let mut request = CodeRequest::new(&client);
    request.scope = "openid".into();
    let code = sign_in_for_code(&mut browser, &request, "alice").await;
    let without_secret = request.redeem(&code);
    assert_invalid_client(app.token(None, &without_secret).await).await;

    let with_basic: Vec<(&str, &str)> = without_secret
        .iter()
        .copied()
        .filter(|(k, _)| *k != "client_id")
        .collect();
    let body = app.token_ok(client.basic(), &with_basic).await;
    assert!(body["id_token"].is_string());
    assert!(
        body.get("refresh_token").is_none(),
        "not registered for refresh_token"
    );
}
