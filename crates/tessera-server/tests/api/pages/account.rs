//! `/account`: the profile, the password, the sessions; CSRF and escaping.

use super::*;

#[tokio::test]
async fn a_person_edits_their_profile_and_refusals_are_said_in_words() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let mut browser = Browser::new(&app);
    let html = signed_in(&mut browser, "alice").await;

    let bad = post_with(
        &mut browser,
        &html,
        "/account/profile",
        &[("first_name", "Alice"), ("email", "alice-at-example")],
    )
    .await;
    let refused = page(bad, StatusCode::BAD_REQUEST).await;
    assert!(refused.contains("Enter an e-mail address like name@example.com."));
    assert!(
        refused.contains("aria-invalid=\"true\" aria-describedby=\"email-error\""),
        "{refused}"
    );
    assert!(
        refused.contains("value=\"alice-at-example\""),
        "what was typed stays"
    );

    let saved = post_with(
        &mut browser,
        &html,
        "/account/profile",
        &[
            ("first_name", "<script>alert(1)</script>"),
            ("last_name", "Liddell"),
            ("email", "alice@example.com"),
            ("phone", ""),
            ("current_password", PASSWORD),
        ],
    )
    .await;
    let saved = page(saved, StatusCode::OK).await;
    assert!(saved.contains("Your profile is saved."));
    assert!(!saved.contains("<script>alert"), "escaped");
    assert!(saved.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    let me = json_body(app.get("/me", Some(&alice.access)).await).await;
    assert_eq!(me["user"]["first_name"], "<script>alert(1)</script>");
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["user"]["phone"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_form_with_another_csrf_token_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "alice").await;
    for token in ["", "forged", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let r = browser
            .post_form(
                "/account/profile",
                &[("csrf_token", token), ("first_name", "Mallory")],
            )
            .await;
        page(r, StatusCode::FORBIDDEN).await;
    }
    // Another person's token is no better.
    let mut other = Browser::new(&app);
    app.register("bob").await;
    let bobs = signed_in(&mut other, "bob").await;
    let r = browser
        .post_form(
            "/account/profile",
            &[
                ("csrf_token", &field(&bobs, "csrf_token")),
                ("first_name", "Mallory"),
            ],
        )
        .await;
    page(r, StatusCode::FORBIDDEN).await;
    let me = json_body(app.get("/me", Some(&alice.access)).await).await;
    assert_eq!(me["user"]["first_name"], serde_json::Value::Null);
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    let phone = app.register("alice").await;
    let mut browser = Browser::new(&app);
    let html = signed_in(&mut browser, "alice").await;
    let new = "a brand new passphrase";

    let cases: [(Fields, StatusCode, &str); 3] = [
        (
            &[
                ("current_password", "wrong wrong wrong"),
                ("new_password", new),
                ("confirm_password", new),
            ],
            StatusCode::UNAUTHORIZED,
            "This is not your current password.",
        ),
        (
            &[
                ("current_password", PASSWORD),
                ("new_password", new),
                ("confirm_password", "typo"),
            ],
            StatusCode::BAD_REQUEST,
            "The two new passwords differ.",
        ),
        (
            &[
                ("current_password", PASSWORD),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
            StatusCode::BAD_REQUEST,
            "Use at least 12 characters.",
        ),
    ];
    for (fields, status, words) in cases {
        let refused = page(
            post_with(&mut browser, &html, "/account/password", fields).await,
            status,
        )
        .await;
        assert!(refused.contains(words), "{words}: {refused}");
    }
    assert_eq!(
        app.get("/me", Some(&phone.access)).await.status(),
        StatusCode::OK
    );

    let r = post_with(
        &mut browser,
        &html,
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", new),
            ("confirm_password", new),
        ],
    )
    .await;
    let done = page(r, StatusCode::OK).await;
    assert!(done.contains("Your password is changed."));
    // The phone's session ended at once; this browser is still signed in.
    assert_eq!(
        app.get("/me", Some(&phone.access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    page(browser.get("/account").await, StatusCode::OK).await;
    app.login("alice", new).await;
}

#[tokio::test]
async fn the_sessions_page_lists_every_session_and_signs_one_out_at_once() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let phone = app.login("alice", PASSWORD).await;
    let phone_sid = jwt_parts(&phone.access).1["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "alice").await;

    let html = page(browser.get("/account/sessions").await, StatusCode::OK).await;
    assert!(html.contains("This device"));
    assert!(
        html.contains(&format!("name=\"session\" value=\"{phone_sid}\"")),
        "{html}"
    );
    assert_eq!(
        html.matches("name=\"session\"").count(),
        3,
        "registration, phone, this browser"
    );

    let r = post_with(
        &mut browser,
        &html,
        "/account/sessions/end",
        &[("session", &phone_sid)],
    )
    .await;
    let after = page(r, StatusCode::OK).await;
    assert!(after.contains("Signed out."));
    assert!(!after.contains(&phone_sid));
    assert_eq!(
        app.get("/me", Some(&phone.access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn signing_out_everywhere_else_asks_first_and_spares_this_browser() {
    let app = TestApp::spawn().await;
    let first = app.register("alice").await;
    let phone = app.login("alice", PASSWORD).await;
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "alice").await;
    let html = page(browser.get("/account/sessions").await, StatusCode::OK).await;

    let asked = page(
        post_with(&mut browser, &html, "/account/sessions/end-others", &[]).await,
        StatusCode::OK,
    )
    .await;
    assert!(asked.contains("Sign out everywhere else?"));
    assert_eq!(
        app.get("/me", Some(&phone.access)).await.status(),
        StatusCode::OK
    );

    let r = post_with(
        &mut browser,
        &asked,
        "/account/sessions/end-others",
        &[("confirmed", "yes")],
    )
    .await;
    let after = page(r, StatusCode::OK).await;
    assert!(after.contains("Signed out everywhere else."));
    assert_eq!(after.matches("name=\"session\"").count(), 1, "{after}");
    for gone in [&first, &phone] {
        assert_eq!(
            app.get("/me", Some(&gone.access)).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    page(browser.get("/account").await, StatusCode::OK).await;
}

#[tokio::test]
async fn signing_out_this_browsers_own_session_signs_it_out() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "alice").await;
    let html = page(browser.get("/account/sessions").await, StatusCode::OK).await;
    // The first listed is this device.
    let own = field(&html[html.find("This device").unwrap()..], "session");
    let r = post_with(
        &mut browser,
        &html,
        "/account/sessions/end",
        &[("session", &own)],
    )
    .await;
    assert_eq!(goes_to(&r), "/login");
    assert!(browser.cookie("tessera_session").is_none());
}

#[tokio::test]
async fn a_disabled_account_is_signed_out_on_the_next_page_load() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    app.register("alice").await;
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "alice").await;
    let r = app
        .patch(
            "/users/alice",
            Some(&root.access),
            serde_json::json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(goes_to(&browser.get("/account").await).starts_with("/login"));
}

#[tokio::test]
async fn revoking_an_applications_access_ends_its_sessions_of_this_person_only() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    app.register("alice").await;
    app.register("bob").await;
    let photos = app
        .create_client(
            &root.access,
            serde_json::json!({"name": "Photo <App>", "redirect_uris": [], "grant_types": ["password"],
                               "scopes": ["openid", "profile"], "confidential": false}),
        )
        .await;
    let token = |username: &'static str| {
        let id = photos.id.clone();
        let app = &app;
        async move {
            app.token_ok(
                None,
                &[
                    ("grant_type", "password"),
                    ("client_id", &id),
                    ("username", username),
                    ("password", PASSWORD),
                    ("scope", "openid profile"),
                ],
            )
            .await["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let alices = token("alice").await;
    let bobs = token("bob").await;
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "alice").await;
    let html = page(browser.get("/account/applications").await, StatusCode::OK).await;
    assert!(html.contains("Photo &#60;App&#62;"), "{html}");
    assert!(html.contains("may use: openid, profile"), "{html}");

    let r = post_with(
        &mut browser,
        &html,
        "/account/applications/revoke",
        &[("client_id", &photos.id)],
    )
    .await;
    let after = page(r, StatusCode::OK).await;
    assert!(after.contains("Access revoked.") && after.contains("No application has access"));
    assert_eq!(
        app.get("/auth/verify", Some(&alices)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/auth/verify", Some(&bobs)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_security_page_shows_the_persons_own_recent_events_in_words() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    app.register("bob").await;
    let r = app
        .post(
            "/auth/login",
            None,
            serde_json::json!({"username": "alice", "password": "not the password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.login("bob", PASSWORD).await;
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "alice").await;
    let html = page(browser.get("/account/security").await, StatusCode::OK).await;
    for words in ["Account created", "Failed sign-in attempt", "Signed in"] {
        assert!(html.contains(words), "{words}: {html}");
    }
    assert!(html.contains("class=\"refused\""));
    // Bob's sign-in is not alice's business.
    assert_eq!(html.matches("<tr").count(), 1 + 3, "{html}");
}
