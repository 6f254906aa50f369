//! `/console`: administrators only; the overview, users, clients, keys,
//! audit log and live events; confirmations and the recent sign-in that
//! changes need.

use super::*;
use serde_json::json;
use std::time::Duration;

/// An app with admin `root` signed in on a browser (their account page).
async fn console_app(env: &[(&str, &str)]) -> (TestApp, Session) {
    let mut builder = TestApp::builder();
    for (k, v) in env {
        builder = builder.env(k, v);
    }
    let app = builder.spawn().await;
    let root = app.admin("root").await;
    (app, root)
}

#[tokio::test]
async fn the_console_is_for_administrators_only_and_a_removed_role_counts_at_once() {
    let (app, root) = console_app(&[]).await;
    app.register("alice").await;
    let mut browser = Browser::new(&app);
    let html = signed_in(&mut browser, "alice").await;
    assert!(!html.contains("href=\"/console\""), "no console link");
    for path in [
        "/console",
        "/console/users",
        "/console/users/root",
        "/console/audit",
    ] {
        let denied = page(browser.get(path).await, StatusCode::FORBIDDEN).await;
        assert!(denied.contains("Administrators only"), "{path}");
        assert!(!denied.contains("root@") && !denied.contains("login.succeeded"));
    }
    let r = post_with(
        &mut browser,
        &html,
        "/console/users/root/disable",
        &[("confirmed", "yes")],
    )
    .await;
    page(r, StatusCode::FORBIDDEN).await;
    assert!(
        !json_body(app.get("/me", Some(&root.access)).await).await["user"]["disabled"]
            .as_bool()
            .unwrap()
    );

    // Promoted, alice opens it; demoted, she no longer does.
    let set = |roles: serde_json::Value| {
        app.patch("/users/alice", Some(&root.access), json!({"roles": roles}))
    };
    assert_eq!(set(json!(["admin"])).await.status(), StatusCode::OK);
    page(browser.get("/console").await, StatusCode::OK).await;
    assert_eq!(set(json!([])).await.status(), StatusCode::OK);
    page(browser.get("/console").await, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn the_overview_counts_people_sessions_and_the_days_sign_ins() {
    let (app, _root) = console_app(&[]).await;
    app.register("alice").await;
    let bad = app
        .post(
            "/auth/login",
            None,
            json!({"username": "alice", "password": "wrong wrong wrong"}),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "root").await;
    let html = page(browser.get("/console").await, StatusCode::OK).await;
    assert!(html.contains("<dt>Users</dt><dd>2</dd>"), "{html}");
    assert!(
        html.contains("<dt>Failed sign-ins, 24 h</dt><dd>1</dd>"),
        "{html}"
    );
    assert!(html.contains("<svg class=\"chart\""));
    assert_eq!(html.matches("<rect class=\"failed\"").count(), 24);
    assert!(
        html.contains("The next automatic rotation is due"),
        "{html}"
    );
}

#[tokio::test]
async fn users_are_found_by_prefix_role_and_status_a_page_at_a_time() {
    let (app, root) = console_app(&[("TESSERA_REGISTRATION_RATE", "1000/min")]).await;
    for i in 0..52 {
        app.register(&format!("user{i:02}")).await;
    }
    app.register("carol").await;
    let r = app
        .patch(
            "/users/user07",
            Some(&root.access),
            json!({"disabled": true, "roles": ["editor"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "root").await;

    let rows = |html: &str| -> Vec<String> {
        html.split("<a href=\"/console/users/")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().to_owned())
            .collect()
    };
    let first = page(browser.get("/console/users?q=USER").await, StatusCode::OK).await;
    assert!(
        first.contains("<input id=\"q\" name=\"q\" type=\"search\""),
        "the first text input takes the prefix"
    );
    assert_eq!(rows(&first).len(), 50);
    let next = first
        .split("class=\"button secondary pager\" href=\"")
        .nth(1)
        .map(|rest| unescape_html(rest.split('"').next().unwrap()))
        .expect("a next page");
    let second = page(browser.get(&next).await, StatusCode::OK).await;
    assert_eq!(rows(&second), ["user50", "user51"]);
    let editors = page(
        browser.get("/console/users?role=editor").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rows(&editors), ["user07"]);
    let disabled = page(
        browser.get("/console/users?status=disabled").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rows(&disabled), ["user07"]);
    let admins = page(
        browser.get("/console/users?q=&role=admin").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rows(&admins), ["root"]);
    page(
        browser.get("/console/users?cursor=%00").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn an_admin_changes_roles_sets_a_password_and_disables_and_deletes_after_confirming() {
    let (app, _root) = console_app(&[]).await;
    let alice = app.register("alice").await;
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "root").await;
    let html = page(browser.get("/console/users/alice").await, StatusCode::OK).await;

    app.clock.advance(Duration::from_millis(5));
    let r = post_with(
        &mut browser,
        &html,
        "/console/users/alice/profile",
        &[("roles", "user editor"), ("email", "alice@example.com")],
    )
    .await;
    let saved = page(r, StatusCode::OK).await;
    assert!(saved.contains("Saved."));
    assert!(saved.contains("value=\"editor user\""), "{saved}");
    assert_eq!(
        app.get("/me", Some(&alice.access)).await.status(),
        StatusCode::UNAUTHORIZED,
        "a role change cuts her tokens off"
    );
    let alice = app.login("alice", PASSWORD).await;

    let r = post_with(
        &mut browser,
        &html,
        "/console/users/alice/password",
        &[("new_password", "password1234")],
    )
    .await;
    assert!(
        page(r, StatusCode::BAD_REQUEST)
            .await
            .contains("too common")
    );
    let r = post_with(
        &mut browser,
        &html,
        "/console/users/alice/password",
        &[("new_password", "a fresh passphrase of hers")],
    )
    .await;
    assert!(page(r, StatusCode::OK).await.contains("Password set"));
    assert_eq!(
        app.get("/me", Some(&alice.access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let alice = app.login("alice", "a fresh passphrase of hers").await;

    let asked = page(
        post_with(&mut browser, &html, "/console/users/alice/disable", &[]).await,
        StatusCode::OK,
    )
    .await;
    assert!(asked.contains("Disable alice?"));
    assert_eq!(
        app.get("/me", Some(&alice.access)).await.status(),
        StatusCode::OK,
        "nothing yet"
    );
    let r = post_with(
        &mut browser,
        &asked,
        "/console/users/alice/disable",
        &[("confirmed", "yes")],
    )
    .await;
    assert!(page(r, StatusCode::OK).await.contains("Disabled."));
    assert_eq!(
        app.get("/me", Some(&alice.access)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let asked = page(
        post_with(&mut browser, &html, "/console/users/alice/delete", &[]).await,
        StatusCode::OK,
    )
    .await;
    assert!(asked.contains("Delete alice?"));
    let r = post_with(
        &mut browser,
        &asked,
        "/console/users/alice/delete",
        &[("confirmed", "yes")],
    )
    .await;
    assert_eq!(goes_to(&r), "/console/users");
    page(
        browser.get("/console/users/alice").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Every change is audited with its actor.
    let audit = page(
        browser.get("/console/audit?action=user.deleted").await,
        StatusCode::OK,
    )
    .await;
    let root_id = json_body(
        app.get("/me", Some(&app.login("root", PASSWORD).await.access))
            .await,
    )
    .await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(audit.contains(&root_id), "{audit}");
}

#[tokio::test]
async fn the_last_admin_cannot_be_disabled_from_the_console() {
    let (app, _root) = console_app(&[]).await;
    let mut browser = Browser::new(&app);
    let html = signed_in(&mut browser, "root").await;
    let r = post_with(
        &mut browser,
        &html,
        "/console/users/root/disable",
        &[("confirmed", "yes")],
    )
    .await;
    let refused = page(r, StatusCode::CONFLICT).await;
    assert!(refused.contains("last enabled administrator"));
}

#[tokio::test]
async fn changes_past_the_reauthentication_window_ask_for_the_password_again() {
    let (app, _root) = console_app(&[("TESSERA_CONSOLE_REAUTH", "5m")]).await;
    app.register("alice").await;
    let mut browser = Browser::new(&app);
    let html = signed_in(&mut browser, "root").await;
    app.clock.advance(Duration::from_secs(6 * 60));

    let r = post_with(
        &mut browser,
        &html,
        "/console/users/alice/disable",
        &[("confirmed", "yes")],
    )
    .await;
    let asked = page(r, StatusCode::OK).await;
    assert!(asked.contains("Confirm it is you"), "{asked}");
    assert!(
        asked.contains("name=\"confirmed\" value=\"yes\""),
        "the change is carried"
    );
    let form_html = asked
        .split("action=\"/console/users/alice/disable\"")
        .nth(1)
        .unwrap();
    let carried: Vec<(String, String)> = hidden_fields(form_html.split("</form>").next().unwrap());
    let with = |password: &str| {
        let mut fields: Vec<(String, String)> = carried.clone();
        fields.push(("reauth_password".into(), password.into()));
        fields
    };
    let wrong = with("not my password at all");
    let wrong: Vec<(&str, &str)> = wrong
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = browser
        .post_form("/console/users/alice/disable", &wrong)
        .await;
    assert!(
        page(r, StatusCode::UNAUTHORIZED)
            .await
            .contains("That is not your password.")
    );
    let alice = app.login("alice", PASSWORD).await;
    assert_eq!(
        app.get("/me", Some(&alice.access)).await.status(),
        StatusCode::OK,
        "nothing changed"
    );

    let right = with(PASSWORD);
    let right: Vec<(&str, &str)> = right
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = browser
        .post_form("/console/users/alice/disable", &right)
        .await;
    assert!(page(r, StatusCode::OK).await.contains("Disabled."));
    // Signed in again just now: the next change goes straight through.
    let html = page(browser.get("/console/users/alice").await, StatusCode::OK).await;
    let r = post_with(&mut browser, &html, "/console/users/alice/enable", &[]).await;
    assert!(page(r, StatusCode::OK).await.contains("Enabled."));
}

#[tokio::test]
async fn clients_are_registered_with_the_secret_shown_once_edited_and_deleted() {
    let (app, _root) = console_app(&[]).await;
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "root").await;
    let html = page(browser.get("/console/clients").await, StatusCode::OK).await;

    let r = post_with(
        &mut browser,
        &html,
        "/console/clients",
        &[
            ("name", "Reports"),
            ("redirect_uris", "not a uri"),
            ("grant_authorization_code", "yes"),
            ("scopes", "openid"),
        ],
    )
    .await;
    let refused = page(r, StatusCode::BAD_REQUEST).await;
    assert!(refused.contains("id=\"redirect_uris-error\""), "{refused}");
    assert!(
        refused.contains("value=\"Reports\""),
        "what was typed stays"
    );

    let r = post_with(
        &mut browser,
        &html,
        "/console/clients",
        &[
            ("name", "Reports"),
            ("grant_client_credentials", "yes"),
            ("scopes", "reports:read"),
            ("confidential", "yes"),
        ],
    )
    .await;
    let created = page(r, StatusCode::CREATED).await;
    let secret = created
        .split("<code class=\"secret\">")
        .nth(1)
        .map(|rest| rest.split('<').next().unwrap().to_owned())
        .expect("the secret, once");
    let id = created
        .split("Client id: <code>")
        .nth(1)
        .map(|rest| rest.split('<').next().unwrap().to_owned())
        .unwrap();
    let token = app
        .token_ok(
            Some((&id, &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
            ],
        )
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = page(browser.get("/console/clients").await, StatusCode::OK).await;
    assert!(
        listed.contains(&id) && !listed.contains(&secret),
        "never shown again"
    );

    let detail = page(
        browser.get(&format!("/console/clients/{id}")).await,
        StatusCode::OK,
    )
    .await;
    let r = post_with(
        &mut browser,
        &detail,
        &format!("/console/clients/{id}/uris"),
        &[(
            "redirect_uris",
            "https://reports.example/cb\n\nhttps://reports.example/cb2",
        )],
    )
    .await;
    let saved = page(r, StatusCode::OK).await;
    assert!(
        saved.contains("https://reports.example/cb\nhttps://reports.example/cb2"),
        "{saved}"
    );

    let asked = page(
        post_with(
            &mut browser,
            &detail,
            &format!("/console/clients/{id}/delete"),
            &[],
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(asked.contains("Delete Reports?"));
    let r = post_with(
        &mut browser,
        &asked,
        &format!("/console/clients/{id}/delete"),
        &[("confirmed", "yes")],
    )
    .await;
    assert_eq!(goes_to(&r), "/console/clients");
    assert_eq!(
        app.get("/auth/verify", Some(&token)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn keys_rotate_from_the_console_after_confirming() {
    let (app, root) = console_app(&[]).await;
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "root").await;
    let html = page(browser.get("/console/keys").await, StatusCode::OK).await;
    let asked = page(
        post_with(&mut browser, &html, "/console/keys/rotate", &[]).await,
        StatusCode::OK,
    )
    .await;
    assert!(asked.contains("Rotate the signing key now?"));
    let r = post_with(
        &mut browser,
        &asked,
        "/console/keys/rotate",
        &[("confirmed", "yes")],
    )
    .await;
    let rotated = page(r, StatusCode::OK).await;
    let kid = rotated
        .split("Rotated: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let keys = json_body(app.get("/admin/keys", Some(&root.access)).await).await;
    let active: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["status"] == "active" && k["use"] == "access")
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(active, [kid.as_str()]);
}

#[tokio::test]
async fn the_audit_log_is_filtered_by_action_actor_subject_and_time() {
    let (app, _root) = console_app(&[]).await;
    let alice = app.register("alice").await;
    let alice_id = json_body(app.get("/me", Some(&alice.access)).await).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        "/auth/login",
        None,
        json!({"username": "alice", "password": "wrong wrong wrong"}),
    )
    .await;
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "root").await;
    let failed = page(
        browser.get("/console/audit?action=login.failed").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(failed.matches("(refused)").count(), 1, "{failed}");
    let acted = page(
        browser
            .get(&format!("/console/audit?actor={alice_id}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        acted.contains("<td>register</td>") && !acted.contains("<td>login.succeeded"),
        "{acted}"
    );
    let about = page(
        browser.get("/console/audit?subject=alice").await,
        StatusCode::OK,
    )
    .await;
    assert!(
        about.contains("login.failed (refused)") && about.contains("<td>register</td>"),
        "{about}"
    );
    let none = page(
        browser.get("/console/audit?since=2999-01-01T00:00").await,
        StatusCode::OK,
    )
    .await;
    assert!(none.contains("No entry matches."));
    page(
        browser.get("/console/audit?since=yesterday").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn the_live_events_page_runs_tesseras_own_script_with_a_token_of_this_browser() {
    let (app, _root) = console_app(&[]).await;
    let mut browser = Browser::new(&app);
    signed_in(&mut browser, "root").await;
    let r = browser.get("/console/events").await;
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("<script src=\"/assets/console-events.js\"></script>"));
    assert!(!html.contains("<script>"), "no inline script");
    let token = html
        .split("data-token=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    // The token belongs to this browser's own session: it ends with it.
    assert_eq!(
        app.get("/auth/verify", Some(&token)).await.status(),
        StatusCode::OK
    );
    let account = page(browser.get("/account").await, StatusCode::OK).await;
    post_with(&mut browser, &account, "/account/sign-out", &[]).await;
    assert_eq!(
        app.get("/auth/verify", Some(&token)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let script = browser.get("/assets/console-events.js").await;
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(script.text().await.unwrap().contains("textContent"));
}
