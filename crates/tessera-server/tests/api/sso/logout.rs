//! RP-initiated logout, and what ends a browser session.

use super::*;

// ---------------------------------------------------------------- /logout

/// Tokens for `client` through a browser that is already signed in.
async fn sso_tokens(app: &TestApp, browser: &mut Browser<'_>, client: &OAuthApp) -> Value {
    let request = CodeRequest::new(client);
    let code = code_from(app, &browser.get(&request.path(&[])).await, &request);
    app.token_ok(None, &request.redeem(&code)).await
}

/// Signs alice in through `browser` for `client`: her tokens.
async fn signed_in(app: &TestApp, browser: &mut Browser<'_>, client: &OAuthApp) -> Value {
    let tokens = code_flow(browser, client, "alice").await;
    assert_eq!(
        token_status(app, str_of(&tokens, "access_token")).await,
        StatusCode::OK
    );
    tokens
}

fn logout_path(params: &[(&str, &str)]) -> String {
    format!("/logout?{}", form(params))
}

#[tokio::test]
async fn logout_with_an_id_token_hint_ends_the_browser_session_and_every_token_session_it_issued() {
    let (app, root, photos) = sso_setup().await;
    let mail = app
        .create_client(&root.access, public_code_client("Mail"))
        .await;
    let mut browser = Browser::new(&app);
    let photo_tokens = signed_in(&app, &mut browser, &photos).await;
    let mail_tokens = sso_tokens(&app, &mut browser, &mail).await;
    let cookie = browser.cookie("tessera_session").unwrap().to_owned();
    let elsewhere = app.login("alice", PASSWORD).await;
    let mut ws = subscribe(&app, &elsewhere.access).await;
    // The browser is one of alice's sessions too, besides what came through it.
    let sessions = json_body(
        app.get("/users/alice/sessions", Some(&elsewhere.access))
            .await,
    )
    .await;
    let listed: Vec<String> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();

    let r = browser
        .get(&logout_path(&[
            ("id_token_hint", str_of(&photo_tokens, "id_token")),
            ("post_logout_redirect_uri", POST_LOGOUT_URI),
            ("state", "bye-123"),
        ]))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r).as_str(),
        format!("{POST_LOGOUT_URI}?state=bye-123")
    );
    let cleared = set_cookie(&r, "tessera_session").expect("the cookie is cleared");
    assert!(
        attributes(&cleared).contains(&"max-age=0".to_owned()),
        "{cleared}"
    );
    assert!(browser.cookie("tessera_session").is_none());

    for tokens in [&photo_tokens, &mail_tokens] {
        let access = str_of(tokens, "access_token");
        assert_eq!(token_status(&app, access).await, StatusCode::UNAUTHORIZED);
    }
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", str_of(&photo_tokens, "refresh_token")),
        ("client_id", photos.id.as_str()),
    ];
    let r = app.token(None, &refresh).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // Subscribers learn of it at once.
    let mut revoked = Vec::new();
    for _ in 0..3 {
        let event = next_event(&mut ws).await;
        assert_eq!(event["type"], "session.revoked");
        revoked.push(event["sid"].as_str().unwrap().to_owned());
    }
    revoked.sort();
    let mut expected: Vec<String> = [&photo_tokens, &mail_tokens]
        .iter()
        .map(|t| {
            claims_of(str_of(t, "access_token"))["sid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // The third is the browser's own session, one of alice's listed ones.
    let own: Vec<String> = revoked
        .iter()
        .filter(|id| !expected.contains(id))
        .cloned()
        .collect();
    assert_eq!(own.len(), 1, "{revoked:?}");
    assert!(listed.contains(&own[0]), "{revoked:?} {listed:?}");
    let elsewhere_sid = claims_of(&elsewhere.access)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(own[0], elsewhere_sid);
    expected.extend(own);
    expected.sort();
    assert_eq!(revoked, expected);
    // The session ended on the server, not only in this browser.
    browser.set_cookie("tessera_session", Some(&cookie));
    assert!(!is_signed_in(&mut browser, &photos).await);
    // Sessions that did not come through that browser live on.
    assert_eq!(token_status(&app, &elsewhere.access).await, StatusCode::OK);
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_uri_is_never_followed_but_sign_out_is_still_offered()
{
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let tokens = signed_in(&app, &mut browser, &client).await;
    let hint = str_of(&tokens, "id_token");
    let mut refused = Vec::new();
    for uri in [
        "https://evil.example/signed-out",
        REDIRECT_URI,
        "https://app.example/signed-out/",
        "https://app.example/signed-out?x=1",
    ] {
        refused.push(vec![
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", uri),
        ]);
        refused.push(vec![
            ("client_id", client.id.as_str()),
            ("post_logout_redirect_uri", uri),
        ]);
    }
    // A registered URI without anything naming the client cannot be trusted either.
    refused.push(vec![("post_logout_redirect_uri", POST_LOGOUT_URI)]);
    // A hint issued to another client than the one named.
    refused.push(vec![
        ("id_token_hint", hint),
        ("client_id", "someone-else"),
        ("post_logout_redirect_uri", POST_LOGOUT_URI),
    ]);
    for params in &refused {
        // The confirmation page, saying why the application's page cannot
        // follow; nothing ends until the person confirms.
        let r = browser.get(&logout_path(params)).await;
        assert!(set_cookie(&r, "tessera_session").is_none());
        let html = assert_page(r, StatusCode::OK).await;
        assert!(html.contains("role=\"alert\""), "{params:?}: {html}");
        assert!(html.contains("action=\"/logout\""), "{params:?}: {html}");
    }
    assert!(is_signed_in(&mut browser, &client).await);
    assert_eq!(
        token_status(&app, str_of(&tokens, "access_token")).await,
        StatusCode::OK
    );
    // Confirmed: signed out, and the browser stays on Tessera's page.
    let r = browser.get(&logout_path(&refused[0])).await;
    let html = assert_page(r, StatusCode::OK).await;
    let fields = hidden_fields(&html);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = browser.post_form("/logout", &fields).await;
    let html = assert_page(r, StatusCode::OK).await;
    assert!(html.contains("signed out"), "{html}");
    assert!(!is_signed_in(&mut browser, &client).await);
    assert_eq!(
        token_status(&app, str_of(&tokens, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    // With nobody signed in there is nothing to do and nowhere to go.
    let r = browser.get(&logout_path(&refused[0])).await;
    assert_page(r, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn logout_without_a_hint_asks_first_and_ends_nothing_until_confirmed() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let tokens = signed_in(&app, &mut browser, &client).await;
    let access = str_of(&tokens, "access_token");

    let r = browser
        .get(&logout_path(&[
            ("client_id", &client.id),
            ("post_logout_redirect_uri", POST_LOGOUT_URI),
            ("state", "s-1"),
        ]))
        .await;
    assert!(set_cookie(&r, "tessera_session").is_none());
    let headers = r.headers().clone();
    let html = assert_page(r, StatusCode::OK).await;
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(html.contains("action=\"/logout\""));
    assert!(html.contains("alice"));
    // Nothing has ended yet.
    assert_eq!(token_status(&app, access).await, StatusCode::OK);
    assert!(is_signed_in(&mut browser, &client).await);

    let fields = hidden_fields(&html);
    assert!(fields.iter().any(|(k, _)| k == "csrf_token"));
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = browser.post_form("/logout", &refs).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r).as_str(),
        format!("{POST_LOGOUT_URI}?state=s-1")
    );
    assert!(browser.cookie("tessera_session").is_none());
    assert_eq!(token_status(&app, access).await, StatusCode::UNAUTHORIZED);
    assert!(!is_signed_in(&mut browser, &client).await);
}

#[tokio::test]
async fn logout_confirmed_without_a_redirect_shows_a_signed_out_page() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let tokens = signed_in(&app, &mut browser, &client).await;
    let html = assert_page(browser.get("/logout").await, StatusCode::OK).await;
    let fields = hidden_fields(&html);
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = browser.post_form("/logout", &refs).await;
    assert!(set_cookie(&r, "tessera_session").is_some_and(|c| c.contains("Max-Age=0")));
    assert_page(r, StatusCode::OK).await;
    assert_eq!(
        token_status(&app, str_of(&tokens, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn confirming_logout_with_a_bad_csrf_token_is_403_and_ends_nothing() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let tokens = signed_in(&app, &mut browser, &client).await;
    let html = browser.get("/logout").await.text().await.unwrap();
    let csrf = browser.cookie("tessera_csrf").unwrap().to_owned();
    let wrong = tampered(&csrf);
    for fields in [vec![("csrf_token", wrong.as_str())], vec![]] {
        let r = browser.post_form("/logout", &fields).await;
        assert!(set_cookie(&r, "tessera_session").is_none());
        assert_page(r, StatusCode::FORBIDDEN).await;
    }
    assert!(is_signed_in(&mut browser, &client).await);
    assert_eq!(
        token_status(&app, str_of(&tokens, "access_token")).await,
        StatusCode::OK
    );
    // The page's own token works.
    let fields = hidden_fields(&html);
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        browser.post_form("/logout", &refs).await.status(),
        StatusCode::OK
    );
    assert!(!is_signed_in(&mut browser, &client).await);
}

#[tokio::test]
async fn an_id_token_hint_for_someone_else_asks_for_confirmation() {
    let (app, _, client) = sso_setup().await;
    app.register("bob").await;
    let mut bobs_browser = Browser::new(&app);
    let bob_tokens = code_flow(&mut bobs_browser, &client, "bob").await;
    let mut browser = Browser::new(&app);
    let tokens = signed_in(&app, &mut browser, &client).await;

    let r = browser
        .get(&logout_path(&[(
            "id_token_hint",
            str_of(&bob_tokens, "id_token"),
        )]))
        .await;
    let html = assert_page(r, StatusCode::OK).await;
    assert!(
        html.contains("action=\"/logout\""),
        "a confirmation, not a logout"
    );
    assert!(is_signed_in(&mut browser, &client).await);
    assert_eq!(
        token_status(&app, str_of(&tokens, "access_token")).await,
        StatusCode::OK
    );
    // A forged hint is no hint at all.
    let (header, _) = jwt_parts(str_of(&tokens, "id_token"));
    let mut parts: Vec<String> = str_of(&tokens, "id_token")
        .split('.')
        .map(Into::into)
        .collect();
    parts[2] = "c2lnbmF0dXJl".into();
    let forged = parts.join(".");
    assert_eq!(header["alg"], "RS256");
    let r = browser
        .get(&logout_path(&[("id_token_hint", &forged)]))
        .await;
    assert_page(r, StatusCode::OK).await;
    assert!(is_signed_in(&mut browser, &client).await);
}

// ------------------------------------------------------------------ PostgreSQL

#[tokio::test]
async fn postgres_sign_in_once_for_two_applications_then_log_out_of_both() {
    let Some(app) = TestApp::builder().postgres().try_spawn().await else {
        return;
    };
    let root = app.admin("root").await;
    app.register("alice").await;
    let photos = app
        .create_client(&root.access, public_code_client("Photo App"))
        .await;
    let mail = app
        .create_client(&root.access, public_code_client("Mail"))
        .await;
    let mut browser = Browser::new(&app);
    let first = code_flow(&mut browser, &photos, "alice").await;
    let second = sso_tokens(&app, &mut browser, &mail).await;

    let r = browser
        .get(&logout_path(&[
            ("id_token_hint", str_of(&second, "id_token")),
            ("post_logout_redirect_uri", POST_LOGOUT_URI),
        ]))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for tokens in [&first, &second] {
        assert_eq!(
            token_status(&app, str_of(tokens, "access_token")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(!is_signed_in(&mut browser, &mail).await);
}

// ------------------------------------------------------- edges of a session

#[tokio::test]
async fn a_code_issued_before_logout_no_longer_redeems_after_it() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let code = sign_in_for_code(&mut browser, &request, "alice").await;
    let html = assert_page(browser.get("/logout").await, StatusCode::OK).await;
    let fields = hidden_fields(&html);
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        browser.post_form("/logout", &refs).await.status(),
        StatusCode::OK
    );

    let r = app.token(None, &request.redeem(&code)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn a_code_issued_before_logout_all_no_longer_redeems_after_it() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let code = sign_in_for_code(&mut browser, &request, "alice").await;
    let elsewhere = app.login("alice", PASSWORD).await;
    let r = app
        .post("/auth/logout-all", Some(&elsewhere.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let r = app.token(None, &request.redeem(&code)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn an_access_token_is_not_an_id_token_hint() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let tokens = signed_in(&app, &mut browser, &client).await;
    let access = str_of(&tokens, "access_token");
    // Same user, same issuer, a key Tessera holds: but typ at+jwt.
    let r = browser
        .get(&logout_path(&[("id_token_hint", access)]))
        .await;
    let html = assert_page(r, StatusCode::OK).await;
    assert!(
        html.contains("action=\"/logout\""),
        "a confirmation: {html}"
    );
    assert!(is_signed_in(&mut browser, &client).await);
    assert_eq!(token_status(&app, access).await, StatusCode::OK);
    // The ID token of the same sign-in is one.
    let r = browser
        .get(&logout_path(&[(
            "id_token_hint",
            str_of(&tokens, "id_token"),
        )]))
        .await;
    let html = assert_page(r, StatusCode::OK).await;
    assert!(!html.contains("action=\"/logout\""), "signed out at once");
    assert_eq!(token_status(&app, access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_after_signing_in_again_with_prompt_login_ends_every_application_of_the_browser() {
    let (app, root, photos) = sso_setup().await;
    let mail = app
        .create_client(&root.access, public_code_client("Mail"))
        .await;
    let mut browser = Browser::new(&app);
    let photo_tokens = signed_in(&app, &mut browser, &photos).await;
    // Mail asks for the password again; the browser signs in a second time.
    let request = CodeRequest::new(&mail);
    let html = browser
        .get(&request.path(&[("prompt", "login")]))
        .await
        .text()
        .await
        .unwrap();
    let r = browser.submit_login(&html, "alice", PASSWORD).await;
    let code = code_from(&app, &r, &request);
    let mail_tokens = app.token_ok(None, &request.redeem(&code)).await;

    let r = browser
        .get(&logout_path(&[(
            "id_token_hint",
            str_of(&mail_tokens, "id_token"),
        )]))
        .await;
    assert_page(r, StatusCode::OK).await;
    for tokens in [&photo_tokens, &mail_tokens] {
        assert_eq!(
            token_status(&app, str_of(tokens, "access_token")).await,
            StatusCode::UNAUTHORIZED,
            "{}",
            claims_of(str_of(tokens, "access_token"))["client_id"]
        );
    }
}

#[tokio::test]
async fn another_person_signing_in_on_the_same_browser_ends_the_previous_persons_sso() {
    let (app, root, photos) = sso_setup().await;
    app.register("bob").await;
    let mail = app
        .create_client(&root.access, public_code_client("Mail"))
        .await;
    let mut browser = Browser::new(&app);
    let alice_tokens = signed_in(&app, &mut browser, &photos).await;
    // Bob takes over the browser through a prompt=login page.
    let request = CodeRequest::new(&mail);
    let html = browser
        .get(&request.path(&[("prompt", "login")]))
        .await
        .text()
        .await
        .unwrap();
    let r = browser.submit_login(&html, "bob", PASSWORD).await;
    let code = code_from(&app, &r, &request);
    let bob_tokens = app.token_ok(None, &request.redeem(&code)).await;

    assert_eq!(
        token_status(&app, str_of(&alice_tokens, "access_token")).await,
        StatusCode::UNAUTHORIZED,
        "alice's single sign-on ended with the switch"
    );
    assert_eq!(
        token_status(&app, str_of(&bob_tokens, "access_token")).await,
        StatusCode::OK
    );
    assert_eq!(
        claims_of(str_of(&bob_tokens, "access_token"))["username"],
        "bob"
    );
}

#[tokio::test]
async fn ending_the_browsers_own_session_signs_that_browser_out_everywhere() {
    let (app, _root, photos) = sso_setup().await;
    let phone = app.login("alice", PASSWORD).await;
    let ids = |listed: Value| -> Vec<String> {
        listed["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = ids(json_body(app.get("/users/alice/sessions", Some(&phone.access)).await).await);
    let mut browser = Browser::new(&app);
    let photo_tokens = signed_in(&app, &mut browser, &photos).await;
    let photo_sid = claims_of(str_of(&photo_tokens, "access_token"))["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    // From her phone, alice finds the browser among her sessions: new since
    // it signed in, and not the application's.
    let after = ids(json_body(app.get("/users/alice/sessions", Some(&phone.access)).await).await);
    let new: Vec<&String> = after
        .iter()
        .filter(|id| !before.contains(id) && **id != photo_sid)
        .collect();
    assert_eq!(new.len(), 1, "{after:?}");
    let browser_sid = new[0].clone();

    let r = app
        .delete(&format!("/sessions/{browser_sid}"), Some(&phone.access))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // The browser is signed out, and what came through it ended with it.
    assert!(!is_signed_in(&mut browser, &photos).await);
    assert_eq!(
        token_status(&app, str_of(&photo_tokens, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(token_status(&app, &phone.access).await, StatusCode::OK);
}
