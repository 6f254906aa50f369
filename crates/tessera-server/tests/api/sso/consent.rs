//! What the hosted pages say and keep: an application asking for power over
//! Tessera itself (`tessera:account`, `tessera:admin`) is named to the
//! person and never answered silently, and request values come back exactly
//! as sent, placeholders and all.

use super::*;

/// A public code-flow client registered for `scopes`.
async fn client_with(app: &TestApp, admin: &str, name: &str, scopes: &[&str]) -> OAuthApp {
    let mut registration = public_code_client(name);
    registration["scopes"] = json!(scopes);
    app.create_client(admin, registration).await
}

/// The hidden fields of `html` plus `extra`, as a form.
fn form_of(html: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut fields = hidden_fields(html);
    fields.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    fields
}

async fn post(browser: &mut Browser<'_>, fields: &[(String, String)]) -> Response {
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post_form("/authorize", &fields).await
}

#[tokio::test]
async fn a_privileged_request_is_named_on_the_login_page_and_needs_consent_when_signed_in() {
    let (app, root, photos) = sso_setup().await;
    let console = client_with(&app, &root.access, "Console", &["openid", "tessera:admin"]).await;
    let mut browser = Browser::new(&app);
    // Signed out: the login page names what the console asks for.
    let mut request = CodeRequest::new(&console);
    request.scope = "openid tessera:admin".into();
    let html = assert_page(browser.get(&request.path(&[])).await, StatusCode::OK).await;
    assert!(html.contains("administer this service"), "{html}");
    let r = browser.submit_login(&html, "root", PASSWORD).await;
    let code = code_from(&app, &r, &request);
    let tokens = app.token_ok(None, &request.redeem(&code)).await;
    assert_eq!(tokens["scope"], "openid tessera:admin");
    // An ordinary application's login page names nothing of the kind.
    let ordinary = CodeRequest::new(&photos);
    let mut other = Browser::new(&app);
    let html = assert_page(other.get(&ordinary.path(&[])).await, StatusCode::OK).await;
    assert!(!html.contains("administer"), "{html}");

    // Signed in: the next privileged request shows a consent page, not a code.
    let request = {
        let mut r = CodeRequest::new(&console);
        r.scope = "openid tessera:admin".into();
        r
    };
    let html = assert_page(browser.get(&request.path(&[])).await, StatusCode::OK).await;
    assert!(html.contains("administer this service"), "{html}");
    assert!(html.contains("root"), "{html}");
    assert!(!html.contains("name=\"password\""), "{html}");
    // With prompt=none it cannot be answered at all.
    let r = browser.get(&request.path(&[("prompt", "none")])).await;
    assert_eq!(redirected_error(&app, &r, &request), "consent_required");
    // Cancel: access_denied, no code.
    let r = post(&mut browser, &form_of(&html, &[("consent", "deny")])).await;
    assert_eq!(redirected_error(&app, &r, &request), "access_denied");
    // Allow: a code, for the signed-in person.
    let html = assert_page(browser.get(&request.path(&[])).await, StatusCode::OK).await;
    let r = post(&mut browser, &form_of(&html, &[("consent", "allow")])).await;
    let code = code_from(&app, &r, &request);
    let tokens = app.token_ok(None, &request.redeem(&code)).await;
    assert_eq!(
        claims_of(str_of(&tokens, "access_token"))["username"],
        "root"
    );
    // An ordinary request still gets its code silently.
    let ordinary = CodeRequest::new(&photos);
    code_from(&app, &browser.get(&ordinary.path(&[])).await, &ordinary);
}

#[tokio::test]
async fn consent_needs_the_csrf_token_and_a_live_browser_session() {
    let (app, root, _) = sso_setup().await;
    let console = client_with(
        &app,
        &root.access,
        "Console",
        &["openid", "tessera:account"],
    )
    .await;
    let mut browser = Browser::new(&app);
    let mut plain = CodeRequest::new(&console);
    plain.scope = "openid".into();
    sign_in_for_code(&mut browser, &plain, "alice").await;
    let mut request = CodeRequest::new(&console);
    request.scope = "openid tessera:account".into();
    let html = assert_page(browser.get(&request.path(&[])).await, StatusCode::OK).await;
    assert!(html.contains("see and change your account"), "{html}");
    // A forged form (another site's) carries no matching CSRF token.
    let forged: Vec<(String, String)> = form_of(&html, &[("consent", "allow")])
        .into_iter()
        .map(|(k, v)| {
            if k == "csrf_token" {
                (k, "A".repeat(43))
            } else {
                (k, v)
            }
        })
        .collect();
    let r = post(&mut browser, &forged).await;
    assert_page(r, StatusCode::FORBIDDEN).await;
    // Without a browser session, "allow" leads to the login page.
    let session = browser.cookie("tessera_session").unwrap().to_owned();
    browser.set_cookie("tessera_session", None);
    let r = post(&mut browser, &form_of(&html, &[("consent", "allow")])).await;
    let page = assert_page(r, StatusCode::OK).await;
    assert!(page.contains("name=\"password\""), "{page}");
    browser.set_cookie("tessera_session", Some(&session));
    let r = post(&mut browser, &form_of(&html, &[("consent", "allow")])).await;
    code_from(&app, &r, &request);
}

#[tokio::test]
async fn placeholders_in_request_values_come_back_unchanged() {
    let (app, _, client) = sso_setup().await;
    let mut browser = Browser::new(&app);
    let mut request = CodeRequest::new(&client);
    request.state = "x-{{username}}-y Z{{{error}}}Z {{app}}".into();
    let html = assert_page(browser.get(&request.path(&[])).await, StatusCode::OK).await;
    assert!(!html.contains("x-alice-y"), "{html}");
    // A wrong password shows the form again with an error: still unchanged.
    let r = browser.submit_login(&html, "alice", "wrong password").await;
    let html = assert_page(r, StatusCode::UNAUTHORIZED).await;
    let r = browser.submit_login(&html, "alice", PASSWORD).await;
    // code_from checks the state came back exactly as sent.
    let code = code_from(&app, &r, &request);
    let tokens = app.token_ok(None, &request.redeem(&code)).await;

    // The sign-out confirmation keeps the state too, and names nobody in it.
    let hint = str_of(&tokens, "id_token");
    let mut other = Browser::new(&app);
    sign_in_for_code(&mut other, &CodeRequest::new(&client), "root").await;
    let state = "bye-{{username}}-{{{hidden}}}";
    let path = format!(
        "/logout?{}",
        form(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", POST_LOGOUT_URI),
            ("state", state),
        ])
    );
    let html = assert_page(other.get(&path).await, StatusCode::OK).await;
    let r = post_logout(&mut other, &html).await;
    let url = location(&r);
    assert_eq!(query_map(&url)["state"], state, "{url}");
}

async fn post_logout(browser: &mut Browser<'_>, html: &str) -> Response {
    let fields = hidden_fields(html);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post_form("/logout", &fields).await
}
