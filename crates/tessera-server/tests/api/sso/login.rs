//! `/authorize`: refused requests, the login page, signing in and SSO.

use super::*;

// ----------------------------------------------- requests that are refused

#[tokio::test]
async fn an_unknown_client_gets_an_error_page_and_never_a_redirect() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let mut request = CodeRequest::new(&client);
    request.client_id = "no-such-client".into();
    assert_page(
        browser.get(&request.path(&[])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let path = authorize_path(&request, &["client_id"], &[]);
    assert_page(browser.get(&path).await, StatusCode::BAD_REQUEST).await;
    // A repeated parameter (RFC 6749 §3.1) is refused before anything else.
    let request = CodeRequest::new(&client);
    let path = request.path(&[("client_id", client.id.as_str())]);
    assert_page(browser.get(&path).await, StatusCode::BAD_REQUEST).await;
    let path = request.path(&[("redirect_uri", "https://evil.example/cb")]);
    assert_page(browser.get(&path).await, StatusCode::BAD_REQUEST).await;

    let request = CodeRequest::new(&client);
    assert_page(browser.get(&request.path(&[])).await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_page_form_that_is_not_a_form_or_repeats_a_field_gets_an_error_page() {
    let (app, _, _) = sso_setup().await;
    for path in ["/authorize", "/logout"] {
        let r = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(r#"{"username":"alice"}"#)
            .send()
            .await
            .unwrap();
        let page = assert_page(r, StatusCode::BAD_REQUEST).await;
        assert!(page.contains("This form cannot be used"), "{page}");
        assert!(page.contains("application/x-www-form-urlencoded"), "{page}");

        let r = app
            .post_form(path, None, &[("csrf_token", "a"), ("csrf_token", "b")])
            .await;
        let page = assert_page(r, StatusCode::BAD_REQUEST).await;
        assert!(page.contains("appears more than once"), "{page}");
    }
}

#[tokio::test]
async fn a_redirect_uri_that_is_not_exactly_a_registered_one_gets_an_error_page() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    for uri in [
        "https://evil.example/callback",
        "https://app.example/callbac",
        "https://app.example/callback/more",
        "https://app.example/callback?next=x",
        "https://app.example/callback.evil.example",
        "https://app.example.evil.example/callback",
        "HTTPS://APP.EXAMPLE/callback",
        "https://app.example/Callback",
        "https://app.example/callback/",
        "http://app.example/callback",
        "https://app.example:443/callback",
    ] {
        let mut request = CodeRequest::new(&client);
        request.redirect_uri = uri.into();
        let r = browser.get(&request.path(&[])).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert_page(r, StatusCode::BAD_REQUEST).await;
    }
    let request = CodeRequest::new(&client);
    let path = authorize_path(&request, &["redirect_uri"], &[]);
    assert_page(browser.get(&path).await, StatusCode::BAD_REQUEST).await;
    // Even signed in, a wrong redirect URI gets no code.
    sign_in_for_code(&mut browser, &request, "alice").await;
    let mut request = CodeRequest::new(&client);
    request.redirect_uri = "https://app.example/callback/".into();
    assert_page(
        browser.get(&request.path(&[])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn request_errors_after_the_client_is_known_go_back_to_its_redirect_uri() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let cases: [Case<'_>; 7] = [
        (&["code_challenge"], &[], "invalid_request"),
        (&["code_challenge_method"], &[], "invalid_request"),
        (
            &["code_challenge_method"],
            &[("code_challenge_method", "plain")],
            "invalid_request",
        ),
        (
            &["code_challenge"],
            &[("code_challenge", "too-short")],
            "invalid_request",
        ),
        (
            &["response_type"],
            &[("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            &["scope"],
            &[("scope", "openid events:read")],
            "invalid_scope",
        ),
        (&[], &[("response_mode", "fragment")], "invalid_request"),
    ];
    for (without, extra, error) in cases {
        let r = browser.get(&authorize_path(&request, without, extra)).await;
        assert_eq!(
            redirected_error(&app, &r, &request),
            error,
            "{without:?} {extra:?}"
        );
    }
    // Whoever is signed in, the same request errors the same way.
    sign_in_for_code(&mut browser, &request, "alice").await;
    let r = browser
        .get(&authorize_path(&request, &["code_challenge"], &[]))
        .await;
    assert_eq!(redirected_error(&app, &r, &request), "invalid_request");
}

// ------------------------------------------------------------- the login page

#[tokio::test]
async fn the_login_page_carries_the_request_and_a_csrf_token_under_strict_headers() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let r = browser.get(&request.path(&[])).await;
    let headers = r.headers().clone();
    let csrf_cookie = set_cookie(&r, "tessera_csrf").expect("a CSRF cookie");
    assert!(set_cookie(&r, "tessera_session").is_none());
    let html = assert_page(r, StatusCode::OK).await;

    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    let attrs = attributes(&csrf_cookie);
    assert!(attrs.contains(&"httponly".to_owned()), "{csrf_cookie}");
    assert!(
        attrs.contains(&"samesite=strict".to_owned()),
        "{csrf_cookie}"
    );

    assert!(html.contains("Photo App"), "names the application");
    assert!(html.contains("name=\"username\""));
    assert!(html.contains("name=\"password\""));
    assert!(html.contains("action=\"/authorize\""));
    assert!(!html.to_ascii_lowercase().contains("<script"));
    let fields = hidden_fields(&html);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("hidden field {name} in {fields:?}"))
    };
    for (name, value) in request.params(&[]) {
        assert_eq!(field(name), value, "{name}");
    }
    let csrf = field("csrf_token");
    assert_eq!(browser.cookie("tessera_csrf"), Some(csrf));
    assert!(csrf.len() >= 43);
}

#[tokio::test]
async fn values_on_the_login_page_are_html_escaped() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    app.register("alice").await;
    let client = app
        .create_client(
            &root.access,
            public_code_client("<img src=x onerror=alert(1)>"),
        )
        .await;
    let mut browser = Browser::new(&app);
    let mut request = CodeRequest::new(&client);
    request.state = "\"><script>alert('state')</script>".into();
    request.nonce = "n'><b>nonce</b>".into();
    let html = assert_page(browser.get(&request.path(&[])).await, StatusCode::OK).await;
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<b>nonce"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    // Escaped, so the page shows the text as it was written.
    assert!(
        unescape_html(&html).contains("\"><script>alert('state')</script>"),
        "{html}"
    );
    assert!(
        unescape_html(&html).contains("<img src=x onerror=alert(1)>"),
        "{html}"
    );

    // The escaped values come back intact.
    let r = browser.submit_login(&html, "alice", PASSWORD).await;
    code_from(&app, &r, &request);

    // A username typed into a failed form is escaped when shown again.
    let page = assert_page(
        browser.get(&request.path(&[("prompt", "login")])).await,
        StatusCode::OK,
    )
    .await;
    let r = browser
        .submit_login(&page, "\"><script>x</script>", "wrong password")
        .await;
    let html = assert_page(r, StatusCode::UNAUTHORIZED).await;
    assert!(!html.contains("<script>x"), "{html}");
}

#[tokio::test]
async fn a_login_without_the_right_csrf_token_is_403_and_signs_nobody_in() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let html = browser.get(&request.path(&[])).await.text().await.unwrap();
    let fields = hidden_fields(&html);
    let submit = |csrf: Option<&str>| -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = fields
            .iter()
            .filter(|(k, _)| k != "csrf_token")
            .cloned()
            .collect();
        if let Some(c) = csrf {
            f.push(("csrf_token".into(), c.into()));
        }
        f.push(("username".into(), "alice".into()));
        f.push(("password".into(), PASSWORD.into()));
        f
    };
    let csrf = browser.cookie("tessera_csrf").unwrap().to_owned();
    let wrong = tampered(&csrf);

    for fields in [submit(None), submit(Some(&wrong)), submit(Some(""))] {
        let refs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = browser.post_form("/authorize", &refs).await;
        assert!(set_cookie(&r, "tessera_session").is_none());
        let page = assert_page(r, StatusCode::FORBIDDEN).await;
        assert!(page.contains("name=\"password\""), "the form again");
    }
    // The right token in the form but no CSRF cookie: refused too.
    browser.set_cookie("tessera_csrf", None);
    let fields = submit(Some(&csrf));
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = browser.post_form("/authorize", &refs).await;
    assert!(set_cookie(&r, "tessera_session").is_none());
    assert_page(r, StatusCode::FORBIDDEN).await;
    assert!(browser.cookie("tessera_session").is_none());

    // Cookie and field matching: signed in.
    browser.set_cookie("tessera_csrf", Some(&csrf));
    let r = browser.post_form("/authorize", &refs).await;
    code_from(&app, &r, &request);
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_with_401_and_no_session() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let html = browser.get(&request.path(&[])).await.text().await.unwrap();
    let r = browser
        .submit_login(&html, "alice", "not her password")
        .await;
    assert!(set_cookie(&r, "tessera_session").is_none());
    let again = assert_page(r, StatusCode::UNAUTHORIZED).await;
    assert!(again.contains("Wrong username or password."), "{again}");
    assert!(again.contains("value=\"alice\""), "the username is kept");
    let fields = hidden_fields(&again);
    assert!(
        fields
            .iter()
            .any(|(k, v)| k == "state" && *v == request.state)
    );
    // An unknown user looks the same.
    let r = browser.submit_login(&again, "nobody", PASSWORD).await;
    let again = assert_page(r, StatusCode::UNAUTHORIZED).await;
    assert!(browser.cookie("tessera_session").is_none());

    let r = browser.submit_login(&again, "alice", PASSWORD).await;
    code_from(&app, &r, &request);
}

#[tokio::test]
async fn repeated_failures_on_the_login_page_answer_429_with_retry_after() {
    let app = TestApp::builder()
        .env("TESSERA_LOGIN_MAX_FAILURES", "3")
        .spawn()
        .await;
    let root = app.admin("root").await;
    app.register("alice").await;
    let client = app
        .create_client(&root.access, public_code_client("Photo App"))
        .await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let mut html = browser.get(&request.path(&[])).await.text().await.unwrap();
    for _ in 0..3 {
        let r = browser
            .submit_login(&html, "alice", "not her password")
            .await;
        html = assert_page(r, StatusCode::UNAUTHORIZED).await;
    }
    let r = browser.submit_login(&html, "alice", PASSWORD).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(set_cookie(&r, "tessera_session").is_none());
    let html = assert_page(r, StatusCode::TOO_MANY_REQUESTS).await;

    app.clock.advance(Duration::from_secs(retry));
    let r = browser.submit_login(&html, "alice", PASSWORD).await;
    code_from(&app, &r, &request);
}

// ------------------------------------------------ signing in, and SSO

#[tokio::test]
async fn signing_in_redirects_with_a_code_and_sets_an_httponly_lax_session_cookie() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let html = browser.get(&request.path(&[])).await.text().await.unwrap();
    let r = browser.submit_login(&html, "alice", PASSWORD).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let cookie = set_cookie(&r, "tessera_session").expect("a session cookie");
    let attrs = attributes(&cookie);
    assert!(attrs.contains(&"httponly".to_owned()), "{cookie}");
    assert!(attrs.contains(&"samesite=lax".to_owned()), "{cookie}");
    assert!(attrs.contains(&"path=/".to_owned()), "{cookie}");
    assert!(
        !attrs.contains(&"secure".to_owned()),
        "http issuer: {cookie}"
    );
    let code = code_from(&app, &r, &request);

    let tokens = app.token_ok(None, &request.redeem(&code)).await;
    assert_eq!(
        token_status(&app, str_of(&tokens, "access_token")).await,
        StatusCode::OK
    );
    let id = claims_of(str_of(&tokens, "id_token"));
    assert_eq!(id["nonce"], request.nonce.as_str());
}

#[tokio::test]
async fn the_cookies_are_secure_when_the_issuer_is_https() {
    let issuer = "https://login.example.test";
    let app = TestApp::builder()
        .env("TESSERA_ISSUER", issuer)
        .spawn()
        .await;
    let root = app.admin("root").await;
    app.register("alice").await;
    let client = app
        .create_client(&root.access, public_code_client("Photo App"))
        .await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let r = browser.get(&request.path(&[])).await;
    // `__Host-` cookies: a sibling subdomain cannot set or shadow them.
    assert!(set_cookie(&r, "tessera_csrf").is_none());
    let csrf = set_cookie(&r, "__Host-tessera_csrf").unwrap();
    let attrs = attributes(&csrf);
    assert!(attrs.contains(&"secure".to_owned()), "{csrf}");
    assert!(attrs.contains(&"path=/".to_owned()), "{csrf}");
    assert!(!attrs.iter().any(|a| a.starts_with("domain")), "{csrf}");
    let html = r.text().await.unwrap();
    // A CSRF cookie under the plain name (as a sibling subdomain could
    // plant) with a form field to match is not the CSRF cookie: refused.
    let csrf_value = browser.cookie("__Host-tessera_csrf").unwrap().to_owned();
    browser.set_cookie("__Host-tessera_csrf", None);
    let planted = "P".repeat(43);
    browser.set_cookie("tessera_csrf", Some(&planted));
    let mut fields = first_form_fields(&html);
    for (k, v) in &mut fields {
        if k == "csrf_token" {
            *v = planted.clone();
        }
    }
    fields.push(("username".into(), "alice".into()));
    fields.push(("password".into(), PASSWORD.into()));
    let forged: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = browser.post_form("/authorize", &forged).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, "__Host-tessera_session").is_none());
    browser.set_cookie("tessera_csrf", None);
    browser.set_cookie("__Host-tessera_csrf", Some(&csrf_value));
    let r = browser.submit_login(&html, "alice", PASSWORD).await;
    assert!(set_cookie(&r, "tessera_session").is_none());
    let cookie = set_cookie(&r, "__Host-tessera_session").unwrap();
    let attrs = attributes(&cookie);
    assert!(attrs.contains(&"secure".to_owned()), "{cookie}");
    assert!(attrs.contains(&"path=/".to_owned()), "{cookie}");
    assert!(!attrs.iter().any(|a| a.starts_with("domain")), "{cookie}");
    assert!(attrs.contains(&"httponly".to_owned()), "{cookie}");
    assert!(attrs.contains(&"samesite=lax".to_owned()), "{cookie}");
    let params = query_map(&location(&r));
    assert_eq!(params["iss"], issuer);
    assert_eq!(params["state"], request.state);
    assert!(params.contains_key("code"));
    // The browser, holding the `__Host-` session cookie, is signed in: the
    // next request gets a code without a page.
    let again = CodeRequest::new(&client);
    let r = browser.get(&again.path(&[])).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(query_map(&location(&r)).contains_key("code"));
    // A plain-named cookie (as a sibling subdomain could set) is not read.
    let value = browser.cookie("__Host-tessera_session").unwrap().to_owned();
    browser.set_cookie("__Host-tessera_session", None);
    browser.set_cookie("tessera_session", Some(&value));
    let html = assert_page(browser.get(&again.path(&[])).await, StatusCode::OK).await;
    assert!(html.contains("name=\"password\""), "{html}");
}

#[tokio::test]
async fn a_signed_in_browser_gets_codes_without_a_page_for_every_application() {
    let (app, root, photos) = sso_setup().await;
    let mail = app
        .create_client(&root.access, public_code_client("Mail"))
        .await;
    let mut browser = Browser::new(&app);
    let first = code_flow(&mut browser, &photos, "alice").await;
    app.clock.advance(Duration::from_secs(5));

    for client in [&photos, &mail] {
        let request = CodeRequest::new(client);
        let r = browser.get(&request.path(&[])).await;
        assert!(set_cookie(&r, "tessera_session").is_none());
        let code = code_from(&app, &r, &request);
        let tokens = app.token_ok(None, &request.redeem(&code)).await;
        let id = claims_of(str_of(&tokens, "id_token"));
        let first_id = claims_of(str_of(&first, "id_token"));
        assert_eq!(id["aud"], client.id.as_str());
        assert_eq!(id["sub"], first_id["sub"]);
        assert_eq!(id["auth_time"], first_id["auth_time"], "no new password");
        assert!(id["iat"].as_i64() > first_id["iat"].as_i64());
    }
    // Another browser has no session: it gets the page.
    let mut other = Browser::new(&app);
    assert!(!is_signed_in(&mut other, &mail).await);
}

#[tokio::test]
async fn prompt_login_asks_for_the_password_again_despite_the_session() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let first = code_flow(&mut browser, &client, "alice").await;
    app.clock.advance(Duration::from_secs(30));
    let request = CodeRequest::new(&client);
    let html = assert_page(
        browser.get(&request.path(&[("prompt", "login")])).await,
        StatusCode::OK,
    )
    .await;
    let r = browser.submit_login(&html, "alice", PASSWORD).await;
    assert!(
        set_cookie(&r, "tessera_session").is_none(),
        "the same browser session, signed in again"
    );
    let code = code_from(&app, &r, &request);
    let tokens = app.token_ok(None, &request.redeem(&code)).await;
    let before = claims_of(str_of(&first, "id_token"))["auth_time"]
        .as_i64()
        .unwrap();
    let after = claims_of(str_of(&tokens, "id_token"))["auth_time"]
        .as_i64()
        .unwrap();
    assert_eq!(after - before, 30, "auth_time is the new sign-in");
}

#[tokio::test]
async fn a_sign_in_older_than_max_age_asks_for_the_password_again() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let first = code_flow(&mut browser, &client, "alice").await;
    app.clock.advance(Duration::from_secs(120));
    // Recent enough: straight back with a code.
    let request = CodeRequest::new(&client);
    let r = browser.get(&request.path(&[("max_age", "600")])).await;
    code_from(&app, &r, &request);
    // Too old: prompt=none cannot answer, and the page asks again.
    let request = CodeRequest::new(&client);
    let r = browser
        .get(&request.path(&[("max_age", "60"), ("prompt", "none")]))
        .await;
    assert_eq!(redirected_error(&app, &r, &request), "login_required");
    let request = CodeRequest::new(&client);
    let html = assert_page(
        browser.get(&request.path(&[("max_age", "60")])).await,
        StatusCode::OK,
    )
    .await;
    assert!(html.contains("autocomplete=\"current-password\""));
    let r = browser.submit_login(&html, "alice", PASSWORD).await;
    let code = code_from(&app, &r, &request);
    let tokens = app.token_ok(None, &request.redeem(&code)).await;
    let before = claims_of(str_of(&first, "id_token"))["auth_time"]
        .as_i64()
        .unwrap();
    let after = claims_of(str_of(&tokens, "id_token"))["auth_time"]
        .as_i64()
        .unwrap();
    assert_eq!(after - before, 120, "auth_time is the new sign-in");
    // max_age must be a number of seconds.
    let request = CodeRequest::new(&client);
    let r = browser.get(&request.path(&[("max_age", "soon")])).await;
    assert_eq!(redirected_error(&app, &r, &request), "invalid_request");
}

#[tokio::test]
async fn prompt_none_is_login_required_without_a_session_and_a_code_with_one() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let r = browser.get(&request.path(&[("prompt", "none")])).await;
    assert_eq!(redirected_error(&app, &r, &request), "login_required");

    sign_in_for_code(&mut browser, &request, "alice").await;
    let request = CodeRequest::new(&client);
    let r = browser.get(&request.path(&[("prompt", "none")])).await;
    let code = code_from(&app, &r, &request);
    app.token_ok(None, &request.redeem(&code)).await;
}

#[tokio::test]
async fn a_disabled_users_browser_session_no_longer_signs_anyone_in() {
    let (app, root, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    code_flow(&mut browser, &client, "alice").await;
    assert!(is_signed_in(&mut browser, &client).await);
    let r = app
        .patch(
            "/users/alice",
            Some(&root.access),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!is_signed_in(&mut browser, &client).await);
    // Nor with prompt=none.
    let request = CodeRequest::new(&client);
    let r = browser.get(&request.path(&[("prompt", "none")])).await;
    assert_eq!(redirected_error(&app, &r, &request), "login_required");
}

#[tokio::test]
async fn a_browser_session_is_refused_as_soon_as_its_user_is_disabled_in_the_database() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    code_flow(&mut browser, &client, "alice").await;
    assert!(is_signed_in(&mut browser, &client).await);
    // Disabled behind the API's back: no session revoked, only the flag set.
    let store = tessera_core::store::connect(&app.database_url)
        .await
        .unwrap();
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    let changes = tessera_core::store::UserChanges {
        disabled: Some(true),
        ..Default::default()
    };
    let now = tessera_token::clock::Clock::now_ms(&app.clock);
    store
        .update_user(alice.user.id, &changes, now, &Default::default())
        .await
        .unwrap();
    assert!(!is_signed_in(&mut browser, &client).await);
}

#[tokio::test]
async fn logout_all_ends_the_browser_session() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    code_flow(&mut browser, &client, "alice").await;
    let elsewhere = app.login("alice", PASSWORD).await;
    assert!(is_signed_in(&mut browser, &client).await);
    let r = app
        .post("/auth/logout-all", Some(&elsewhere.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!is_signed_in(&mut browser, &client).await);
}

#[tokio::test]
async fn a_password_change_ends_the_browser_session() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    code_flow(&mut browser, &client, "alice").await;
    let elsewhere = app.login("alice", PASSWORD).await;
    assert!(is_signed_in(&mut browser, &client).await);
    let r = app
        .post(
            "/users/alice/password",
            Some(&elsewhere.access),
            json!({"current_password": PASSWORD, "new_password": "another-plausible-passphrase-7"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!is_signed_in(&mut browser, &client).await);
}
