//! `/`, `/login`, `/register` and signing out.

use super::*;
use serde_json::json;

#[tokio::test]
async fn a_person_goes_from_the_root_to_the_login_page_and_back_to_the_page_asked_for() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let mut browser = Browser::new(&app);
    assert_eq!(goes_to(&browser.get("/").await), "/account");
    assert_eq!(
        goes_to(&browser.get("/account/sessions").await),
        "/login?return_to=%2Faccount%2Fsessions"
    );

    let r = sign_in_to(&mut browser, "alice", "/account/sessions").await;
    assert_eq!(goes_to(&r), "/account/sessions");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("tessera_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let html = page(browser.get("/account/sessions").await, StatusCode::OK).await;
    assert!(html.contains("alice"));
    // Signed in already: the login page goes straight on.
    assert_eq!(
        goes_to(&browser.get("/login?return_to=/account").await),
        "/account"
    );
}

#[tokio::test]
async fn only_a_path_on_this_site_is_returned_to() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    for elsewhere in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "account",
    ] {
        let mut browser = Browser::new(&app);
        let r = sign_in_to(&mut browser, "alice", elsewhere).await;
        assert_eq!(goes_to(&r), "/account", "{elsewhere}");
    }
}

#[tokio::test]
async fn a_login_post_without_the_forms_csrf_token_signs_nobody_in() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let mut browser = Browser::new(&app);
    // A cross-site form has neither the CSRF cookie nor the token.
    let r = browser
        .post_form(
            "/login",
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    let html = page(r, StatusCode::FORBIDDEN).await;
    assert!(html.contains("expired"));
    assert!(browser.cookie("tessera_session").is_none());
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_and_signs_nobody_in() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let mut browser = Browser::new(&app);
    let html = page(browser.get("/login").await, StatusCode::OK).await;
    let mut fields = hidden_fields(&html);
    fields.push(("username".into(), "alice".into()));
    fields.push(("password".into(), "not her password at all".into()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let html = page(
        browser.post_form("/login", &fields).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(html.contains("Wrong username or password."));
    assert!(
        html.contains("value=\"alice\""),
        "the username stays filled in"
    );
    assert!(browser.cookie("tessera_session").is_none());
}

#[tokio::test]
async fn the_json_api_ignores_the_browser_session_cookie() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "alice").await;
    let cookie = browser.cookie("tessera_session").unwrap().to_owned();
    let r = app
        .client
        .get(app.url("/me"))
        .header("cookie", format!("tessera_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_up_signs_the_newcomer_in_and_refusals_are_said_next_to_the_field() {
    let app = TestApp::spawn().await;
    app.register("taken").await;
    let mut browser = Browser::new(&app);
    let login = page(
        browser.get("/login?return_to=/account/sessions").await,
        StatusCode::OK,
    )
    .await;
    assert!(
        login.contains("href=\"/register?return_to=%2Faccount%2Fsessions\""),
        "{login}"
    );
    let html = page(
        browser.get("/register?return_to=/account/sessions").await,
        StatusCode::OK,
    )
    .await;
    let submit = |fields: &[(&str, &str)]| {
        let mut all: Vec<(String, String)> = hidden_fields(&html);
        all.extend(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        all
    };
    let cases: [(Fields, StatusCode, &str, &str); 4] = [
        (
            &[("username", "taken"), ("password", PASSWORD)],
            StatusCode::CONFLICT,
            "username",
            "This username is taken.",
        ),
        (
            &[("username", "a b"), ("password", PASSWORD)],
            StatusCode::BAD_REQUEST,
            "username",
            "Use 3 to 32 letters",
        ),
        (
            &[("username", "newcomer"), ("password", "password1234")],
            StatusCode::BAD_REQUEST,
            "password",
            "too common",
        ),
        (
            &[
                ("username", "newcomer"),
                ("password", PASSWORD),
                ("email", "not an address"),
            ],
            StatusCode::BAD_REQUEST,
            "email",
            "like name@example.com",
        ),
    ];
    for (fields, status, field_name, words) in cases {
        let all = submit(fields);
        let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let refused = page(browser.post_form("/register", &all).await, status).await;
        assert!(refused.contains(words), "{words}: {refused}");
        assert!(
            refused.contains(&format!("id=\"{field_name}-error\"")),
            "{refused}"
        );
        assert!(
            refused.contains(&format!("id=\"{field_name}\"")),
            "{refused}"
        );
        assert!(browser.cookie("tessera_session").is_none());
    }
    let all = submit(&[
        ("username", "newcomer"),
        ("password", PASSWORD),
        ("email", "new@example.com"),
    ]);
    let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = browser.post_form("/register", &all).await;
    assert_eq!(goes_to(&r), "/account/sessions");
    let html = page(browser.get("/account").await, StatusCode::OK).await;
    assert!(html.contains("value=\"new@example.com\""));
    // The API knows the newcomer too.
    let session = app.login("newcomer", PASSWORD).await;
    let me = json_body(app.get("/me", Some(&session.access)).await).await;
    assert_eq!(me["user"]["email"], json!("new@example.com"));
}

#[tokio::test]
async fn with_registration_closed_there_is_no_sign_up() {
    let app = TestApp::builder()
        .env("TESSERA_ALLOW_REGISTRATION", "false")
        .spawn()
        .await;
    let mut browser = Browser::new(&app);
    let login = page(browser.get("/login").await, StatusCode::OK).await;
    assert!(!login.contains("/register"));
    page(browser.get("/register").await, StatusCode::NOT_FOUND).await;
    let r = browser
        .post_form(
            "/register",
            &[("username", "sneaky"), ("password", PASSWORD)],
        )
        .await;
    page(r, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn every_page_names_the_deployment_and_shows_its_logo() {
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.svg");
    std::fs::write(&logo, "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    let app = TestApp::builder()
        .env("TESSERA_DISPLAY_NAME", "Acme <Staff> Portal")
        .env("TESSERA_LOGO", logo.to_str().unwrap())
        .spawn()
        .await;
    app.register("alice").await;
    let mut browser = Browser::new(&app);
    let login = page(browser.get("/login").await, StatusCode::OK).await;
    assert!(login.contains("Acme &#60;Staff&#62; Portal"), "{login}");
    assert!(login.contains("src=\"/assets/logo\""));
    let account = signed_in(&mut browser, "alice").await;
    assert!(account.contains("Acme &#60;Staff&#62; Portal"));
    let r = browser.get("/assets/logo").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
}

#[tokio::test]
async fn signing_out_ends_the_browser_session_on_the_server() {
    let app = TestApp::spawn().await;
    app.register("alice").await;
    let mut browser = Browser::new(&app);
    let html = signed_in(&mut browser, "alice").await;
    let cookie = browser.cookie("tessera_session").unwrap().to_owned();
    let r = post_with(&mut browser, &html, "/account/sign-out", &[]).await;
    assert_eq!(goes_to(&r), "/login");
    assert!(browser.cookie("tessera_session").is_none());
    // The old cookie no longer opens anything.
    browser.set_cookie("tessera_session", Some(&cookie));
    assert!(goes_to(&browser.get("/account").await).starts_with("/login"));
}
