//! The second step of signing in on the hosted pages: after the password,
//! a person with an authenticator app is asked for a code on `/login` and
//! on `/authorize`, and what the sign-in proved reaches the tokens.

use super::*;
use crate::factors::{code, enrol};
use serde_json::json;
use std::time::Duration;

/// Posts the code form `html` showed with `code`.
async fn submit_code(browser: &mut Browser<'_>, html: &str, action: &str, code: &str) -> Response {
    let mut fields = hidden_fields(html);
    fields.push(("code".into(), code.into()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post_form(action, &fields).await
}

#[tokio::test]
async fn the_login_page_asks_for_a_code_after_the_password_and_then_goes_on() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let factor = enrol(&app, &alice).await;
    let mut browser = Browser::new(&app);
    let r = sign_in_to(&mut browser, "alice", "/account/security").await;
    assert!(
        browser.cookie("tessera_session").is_none(),
        "not signed in yet"
    );
    let html = page(r, StatusCode::OK).await;
    assert!(html.contains("Two-step verification"), "{html}");
    assert!(html.contains("autocomplete=\"one-time-code\""));
    assert!(!html.contains(PASSWORD), "the password is not carried");
    assert_eq!(field(&html, "return_to"), "/account/security");

    let r = submit_code(&mut browser, &html, "/login", "000000").await;
    let again = page(r, StatusCode::UNAUTHORIZED).await;
    assert!(again.contains("That code did not work"), "{again}");
    assert!(browser.cookie("tessera_session").is_none());
    let r = submit_code(
        &mut browser,
        &again,
        "/login",
        &code(&app, &factor.secret, 1),
    )
    .await;
    assert_eq!(goes_to(&r), "/account/security");
    assert!(browser.cookie("tessera_session").is_some());
    assert_eq!(
        browser.get("/account/security").await.status(),
        StatusCode::OK
    );

    // The form of a spent sign-in starts over.
    let r = submit_code(
        &mut browser,
        &html,
        "/login",
        &code(&app, &factor.secret, 1),
    )
    .await;
    let html = page(r, StatusCode::UNAUTHORIZED).await;
    assert!(html.contains("Your sign-in expired"), "{html}");
    assert!(html.contains("autocomplete=\"current-password\""));
}

#[tokio::test]
async fn a_cross_site_code_post_signs_nobody_in() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let factor = enrol(&app, &bob).await;
    let mut browser = Browser::new(&app);
    let html = page(
        sign_in_to(&mut browser, "bob", "/account").await,
        StatusCode::OK,
    )
    .await;
    let mfa_token = field(&html, "mfa_token");
    let mut stranger = Browser::new(&app);
    let r = stranger
        .post_form(
            "/login",
            &[
                ("mfa_token", &mfa_token),
                ("code", &code(&app, &factor.secret, 1)),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(stranger.cookie("tessera_session").is_none());
}

#[tokio::test]
async fn an_application_sign_in_takes_the_code_and_its_tokens_say_so() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let client = app
        .create_client(&admin.access, public_code_client("notes"))
        .await;
    let cyd = app.register("cyd").await;
    let factor = enrol(&app, &cyd).await;
    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let login = browser.get(&request.path(&[])).await;
    let html = login.text().await.unwrap();
    let r = browser.submit_login(&html, "cyd", PASSWORD).await;
    let html = page(r, StatusCode::OK).await;
    assert!(
        html.contains("to continue to <strong>notes</strong>"),
        "{html}"
    );
    assert_eq!(
        field(&html, "state"),
        request.state,
        "the request goes along"
    );

    let r = submit_code(&mut browser, &html, "/authorize", "999999").await;
    let html = page(r, StatusCode::UNAUTHORIZED).await;
    app.clock.advance(Duration::from_secs(30));
    let r = submit_code(
        &mut browser,
        &html,
        "/authorize",
        &code(&app, &factor.secret, 0),
    )
    .await;
    let code = code_from(&app, &r, &request);
    let tokens = app.token_ok(None, &request.redeem(&code)).await;
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
    let (_, access) = jwt_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(access["auth_time"], id["auth_time"]);

    // Signed in already: the next application's request needs no code.
    let next = CodeRequest::new(&client);
    let r = browser.get(&next.path(&[])).await;
    let code = code_from(&app, &r, &next);
    let tokens = app.token_ok(None, &next.redeem(&code)).await;
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn without_a_factor_the_id_token_says_password() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let client = app
        .create_client(&admin.access, public_code_client("notes"))
        .await;
    app.register("dia").await;
    let mut browser = Browser::new(&app);
    let tokens = code_flow(&mut browser, &client, "dia").await;
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], json!(["pwd"]));
}

/// The hidden fields of the form of `html` that posts to `action`.
fn form_fields(html: &str, action: &str) -> Vec<(String, String)> {
    let start = html
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form for {action}"));
    let form = &html[start..];
    hidden_fields(&form[..form.find("</form>").unwrap()])
}

/// The codes a recovery-codes page lists.
fn listed_codes(html: &str) -> Vec<String> {
    html.split("<li><code>")
        .skip(1)
        .map(|rest| rest.split('<').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_security_page_sets_up_an_app_shows_the_codes_once_and_removes_it() {
    let app = TestApp::spawn().await;
    app.register("eli").await;
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "eli").await;
    let html = page(browser.get("/account/security").await, StatusCode::OK).await;
    assert!(html.contains("<strong>Off.</strong>"), "{html}");
    assert!(
        !html.contains("Recovery codes"),
        "no codes without a factor"
    );

    let r = post_with(
        &mut browser,
        &html,
        "/account/security/totp",
        &[("password", "not the password at all"), ("name", "")],
    )
    .await;
    let refused = page(r, StatusCode::UNAUTHORIZED).await;
    assert!(
        refused.contains("That is not your current password."),
        "{refused}"
    );
    assert!(refused.contains("id=\"add_password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" maxlength=\"128\" required aria-invalid=\"true\""));

    let r = post_with(
        &mut browser,
        &html,
        "/account/security/totp",
        &[("password", PASSWORD), ("name", "Work <phone>")],
    )
    .await;
    let setup = page(r, StatusCode::OK).await;
    assert!(setup.contains("<svg role=\"img\" aria-label=\"QR code to add Tessera to your app\""));
    assert!(!setup.contains("<script"));
    let secret_text = field(&setup, "secret");
    let secret = totp_rs::Secret::try_from_base32(&secret_text)
        .unwrap()
        .as_ref()
        .to_vec();
    assert!(setup.contains(&secret_text[..4]), "the key as text");
    assert_eq!(field(&setup, "name"), "Work <phone>");
    assert!(!setup.contains("Work <phone>"), "escaped");

    let mut fields = form_fields(&setup, "/account/security/totp/confirm");
    fields.push(("code".into(), "000000".into()));
    let fields_ref: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let again = page(
        browser
            .post_form("/account/security/totp/confirm", &fields_ref)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(again.contains("That code did not work"), "{again}");
    assert!(again.contains("<svg role=\"img\""), "the QR code again");

    let mut fields = form_fields(&again, "/account/security/totp/confirm");
    let now = code(&app, &secret, 0);
    fields.push(("code".into(), now));
    let fields_ref: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let shown = page(
        browser
            .post_form("/account/security/totp/confirm", &fields_ref)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(shown.contains("Two-step verification is on"), "{shown}");
    let codes = listed_codes(&shown);
    assert_eq!(codes.len(), 10);

    let html = page(browser.get("/account/security").await, StatusCode::OK).await;
    assert!(html.contains("<strong>On.</strong>"));
    assert!(html.contains("Work &#60;phone&#62;"), "{html}");
    assert!(html.contains("10 of 10 left."));
    assert!(
        html.contains("Two-step verification added"),
        "in the activity"
    );

    // A recovery code signs in on another browser.
    let mut other = Browser::new(&app);
    let r = sign_in_to(&mut other, "eli", "/account").await;
    let form = page(r, StatusCode::OK).await;
    let r = submit_code(&mut other, &form, "/login", &codes[0]).await;
    assert_eq!(goes_to(&r), "/account");

    let html = page(browser.get("/account/security").await, StatusCode::OK).await;
    assert!(html.contains("9 of 10 left."));
    let r = post_with(
        &mut browser,
        &html,
        "/account/security/recovery-codes",
        &[("password", PASSWORD)],
    )
    .await;
    let fresh = page(r, StatusCode::OK).await;
    assert!(fresh.contains("Your old codes no longer work."));
    assert_eq!(listed_codes(&fresh).len(), 10);

    let html = page(browser.get("/account/security").await, StatusCode::OK).await;
    let factor = field(&html, "factor");
    let r = post_with(
        &mut browser,
        &html,
        "/account/security/factors/remove",
        &[("factor", &factor), ("password", "not the password at all")],
    )
    .await;
    assert!(
        page(r, StatusCode::UNAUTHORIZED)
            .await
            .contains("That is not your current password.")
    );
    let r = post_with(
        &mut browser,
        &html,
        "/account/security/factors/remove",
        &[("factor", &factor), ("password", PASSWORD)],
    )
    .await;
    let html = page(r, StatusCode::OK).await;
    assert!(
        html.contains("Removed.") && html.contains("<strong>Off.</strong>"),
        "{html}"
    );
}

#[tokio::test]
async fn the_console_shows_who_has_two_step_resets_it_and_asks_an_admin_with_one_for_a_code() {
    let app = TestApp::builder()
        .env("TESSERA_CONSOLE_REAUTH", "5m")
        .spawn()
        .await;
    let root = app.admin("root").await;
    let root_factor = enrol(&app, &root).await;
    let fay = app.register("fay").await;
    enrol(&app, &fay).await;
    app.register("gil").await;

    let mut browser = Browser::new(&app);
    let r = sign_in_to(&mut browser, "root", "/console/users").await;
    let form = page(r, StatusCode::OK).await;
    let r = submit_code(
        &mut browser,
        &form,
        "/login",
        &code(&app, &root_factor.secret, 1),
    )
    .await;
    assert_eq!(goes_to(&r), "/console/users");
    let users = page(browser.get("/console/users").await, StatusCode::OK).await;
    let row = |name: &str| {
        let start = users.find(&format!(">{name}</a>")).unwrap();
        users[start..].split("</tr>").next().unwrap().to_owned()
    };
    assert!(row("fay").contains("<td>on</td>"), "{}", row("fay"));
    assert!(row("gil").contains("<td>off</td>"), "{}", row("gil"));
    let html = page(browser.get("/console/users/fay").await, StatusCode::OK).await;
    assert!(html.contains("Phone (authenticator app)"), "{html}");
    assert!(html.contains("10 recovery codes left"));

    // Past the window, the change asks for the password and a code.
    app.clock.advance(Duration::from_secs(6 * 60));
    let r = post_with(
        &mut browser,
        &html,
        "/console/users/fay/factors/reset",
        &[("confirmed", "yes")],
    )
    .await;
    let asked = page(r, StatusCode::OK).await;
    assert!(asked.contains("id=\"reauth_code\""), "{asked}");
    let carried = form_fields(&asked, "/console/users/fay/factors/reset");
    let post = |password: &'static str, code: String| {
        let mut fields = carried.clone();
        fields.push(("reauth_password".into(), password.into()));
        fields.push(("reauth_code".into(), code));
        fields
    };
    let wrong = post(PASSWORD, "000000".into());
    let wrong: Vec<(&str, &str)> = wrong
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = browser
        .post_form("/console/users/fay/factors/reset", &wrong)
        .await;
    assert!(
        page(r, StatusCode::UNAUTHORIZED)
            .await
            .contains("That code did not work")
    );
    let right = post(PASSWORD, code(&app, &root_factor.secret, 0));
    let right: Vec<(&str, &str)> = right
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = browser
        .post_form("/console/users/fay/factors/reset", &right)
        .await;
    let html = page(r, StatusCode::OK).await;
    assert!(html.contains("Two-step verification reset."), "{html}");
    assert!(html.contains("<strong>Off.</strong> fay signs in"));
    let back = app.login("fay", PASSWORD).await;
    assert_eq!(jwt_parts(&back.access).1["amr"], json!(["pwd"]));
    let _ = fay;
}

/// Completes the set-up page `html` (posting to `action`) with the code of
/// the key it shows.
async fn finish_enrolment(browser: &mut Browser<'_>, html: &str, action: &str) -> Response {
    let mut fields = form_fields(html, action);
    let secret = fields
        .iter()
        .find(|(k, _)| k == "secret")
        .unwrap()
        .1
        .clone();
    let raw = totp_rs::Secret::try_from_base32(&secret)
        .unwrap()
        .as_ref()
        .to_vec();
    fields.push(("code".into(), code(browser.app(), &raw, 0)));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post_form(action, &fields).await
}

#[tokio::test]
async fn under_the_policy_the_pages_set_up_an_app_before_signing_in() {
    let app = TestApp::builder()
        .env("TESSERA_MFA", "everyone")
        .spawn()
        .await;
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "hana", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut browser = Browser::new(&app);
    let r = sign_in_to(&mut browser, "hana", "/account/security").await;
    let html = page(r, StatusCode::OK).await;
    assert!(html.contains("Set up two-step verification"), "{html}");
    assert!(html.contains("<svg role=\"img\""));
    assert!(
        browser.cookie("tessera_session").is_none(),
        "not signed in yet"
    );
    // A wrong code shows the same key again.
    let mut fields = form_fields(&html, "/login");
    fields.push(("code".into(), "000000".into()));
    let wrong: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let again = page(
        browser.post_form("/login", &wrong).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(field(&again, "secret"), field(&html, "secret"));
    let r = finish_enrolment(&mut browser, &again, "/login").await;
    let codes = page(r, StatusCode::OK).await;
    assert_eq!(listed_codes(&codes).len(), 10);
    assert!(codes.contains("href=\"/account/security\""), "{codes}");
    assert!(browser.cookie("tessera_session").is_some());
    let security = page(browser.get("/account/security").await, StatusCode::OK).await;
    assert!(security.contains("<strong>On.</strong>"));
}

#[tokio::test]
async fn under_the_policy_an_application_sign_in_sets_up_an_app_then_goes_on() {
    // A client registered before the policy was switched on.
    let before = TestApp::spawn().await;
    let root = before.admin("root").await;
    let client = before
        .create_client(&root.access, public_code_client("notes"))
        .await;
    before.register("ivy").await;
    let url = before.database_url.clone();
    let _data = before.stop_keeping_data().await;
    let app = TestApp::builder()
        .env("TESSERA_MFA", "everyone")
        .database_url(&url)
        .spawn()
        .await;

    let mut browser = Browser::new(&app);
    let request = CodeRequest::new(&client);
    let login = browser.get(&request.path(&[])).await;
    let html = login.text().await.unwrap();
    let r = browser.submit_login(&html, "ivy", PASSWORD).await;
    let html = page(r, StatusCode::OK).await;
    assert!(
        html.contains("to continue to <strong>notes</strong>"),
        "{html}"
    );
    assert_eq!(field(&html, "state"), request.state);
    let r = finish_enrolment(&mut browser, &html, "/authorize").await;
    let codes = page(r, StatusCode::OK).await;
    assert_eq!(listed_codes(&codes).len(), 10);
    let next = codes
        .split("class=\"button\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let next = unescape_html(next);
    assert!(next.starts_with("/authorize?"), "{next}");
    let r = browser.get(&next).await;
    let code = code_from(&app, &r, &request);
    let tokens = app.token_ok(None, &request.redeem(&code)).await;
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn prompt_login_asks_for_the_code_again_and_renews_amr_and_auth_time() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let client = app
        .create_client(&admin.access, public_code_client("notes"))
        .await;
    let jay = app.register("jay").await;
    let mut browser = Browser::new(&app);
    // Signed in with a password alone, before the factor existed.
    let first = code_flow(&mut browser, &client, "jay").await;
    let (_, id) = jwt_parts(first["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], json!(["pwd"]));
    let factor = enrol(&app, &jay).await;
    app.clock.advance(Duration::from_secs(60));

    let request = CodeRequest::new(&client);
    let html = browser
        .get(&request.path(&[("prompt", "login")]))
        .await
        .text()
        .await
        .unwrap();
    let r = browser.submit_login(&html, "jay", PASSWORD).await;
    let html = page(r, StatusCode::OK).await;
    assert!(html.contains("Two-step verification"));
    let r = submit_code(
        &mut browser,
        &html,
        "/authorize",
        &code(&app, &factor.secret, 1),
    )
    .await;
    let code = code_from(&app, &r, &request);
    let tokens = app.token_ok(None, &request.redeem(&code)).await;
    let (_, renewed) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(renewed["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(
        renewed["auth_time"].as_i64().unwrap() - id["auth_time"].as_i64().unwrap(),
        60
    );
    // The browser session itself now says so: the next application's code too.
    let next = CodeRequest::new(&client);
    let r = browser.get(&next.path(&[])).await;
    let code = code_from(&app, &r, &next);
    let tokens = app.token_ok(None, &next.redeem(&code)).await;
    assert_eq!(
        jwt_parts(tokens["id_token"].as_str().unwrap()).1["amr"],
        json!(["pwd", "otp", "mfa"])
    );
}
