//! `/metrics`: what operators watch — every way of signing in by outcome,
//! the process, the database pools, users and live sessions, the signing
//! keys, `/events` subscribers and events sent — and `TESSERA_METRICS_BIND`,
//! which moves it off the public listener.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

/// The value of the sample `name{labels}` (or `name` alone).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

#[tokio::test]
async fn sign_in_paths_are_counted_by_outcome_beside_process_pool_session_and_key_gauges() {
    let app = TestApp::builder()
        .env("TESSERA_LOGIN_MAX_FAILURES", "2")
        .spawn()
        .await;
    let ada = app.register("ada").await;
    let watcher = app.login("ada", PASSWORD).await;
    let wrong = json!({"username": "ada", "password": "not the password at all"});
    assert_eq!(
        app.post("/auth/login", None, wrong.clone()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("/auth/login", None, wrong.clone()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("/auth/login", None, wrong).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(app.refresh(&ada.refresh).await.status(), StatusCode::OK);
    let form = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "nonsense"),
    ]);
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let mut events = subscribe(&app, &watcher.access).await;
    app.post("/auth/logout", Some(&ada.access), json!({})).await;
    next_event(&mut events).await;
    let text = scrape(&app).await;
    let outcome = |op: &str, outcome: &str| {
        sample(
            &text,
            &format!("tessera_auth_outcomes_total{{operation=\"{op}\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(outcome("login", "success"), Some(1.0), "{text}");
    assert_eq!(outcome("login", "failure"), Some(2.0));
    assert_eq!(outcome("login", "throttled"), Some(1.0));
    assert_eq!(outcome("refresh", "success"), Some(1.0));
    assert_eq!(outcome("oauth_refresh_token", "failure"), Some(1.0));
    assert!(sample(&text, "process_resident_memory_bytes").is_some_and(|v| v > 1e6));
    assert!(sample(&text, "process_open_fds").is_some_and(|v| v > 3.0));
    assert!(sample(&text, "process_cpu_seconds_total").is_some());
    assert_eq!(
        sample(&text, "tessera_db_connections_max{pool=\"sqlite_writer\"}"),
        Some(1.0)
    );
    assert!(sample(&text, "tessera_db_connections_idle{pool=\"sqlite_reader\"}").is_some());
    for pool in ["sqlite_reader", "sqlite_writer"] {
        let waits = sample(
            &text,
            &format!("tessera_db_connection_waits_total{{pool=\"{pool}\"}}"),
        );
        assert!(waits.is_some_and(|n| n >= 1.0), "{pool}: {text}");
        let seconds = sample(
            &text,
            &format!("tessera_db_connection_wait_seconds_total{{pool=\"{pool}\"}}"),
        );
        assert!(seconds.is_some_and(|s| s >= 0.0), "{pool}");
    }
    assert_eq!(sample(&text, "tessera_users"), Some(1.0));
    assert!(sample(&text, "tessera_live_sessions").is_some());
    assert!(sample(&text, "tessera_signing_key_age_seconds").is_some_and(|v| v >= 0.0));
    let next = sample(&text, "tessera_signing_key_next_rotation_seconds").unwrap();
    assert!(next > 29.0 * 86_400.0 && next <= 30.0 * 86_400.0, "{next}");
    assert_eq!(sample(&text, "tessera_events_subscribers"), Some(1.0));
    assert!(sample(&text, "tessera_events_sent_total").is_some_and(|v| v >= 1.0));
}

#[tokio::test]
async fn the_hosted_pages_count_their_sign_ins() {
    let app = TestApp::spawn().await;
    app.register("ada").await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/login").await.text().await.unwrap();
    for password in ["wrong password here", PASSWORD] {
        let mut fields = first_form_fields(&page);
        fields.push(("username".into(), "ada".into()));
        fields.push(("password".into(), password.into()));
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        browser.post_form("/login", &fields).await;
    }
    let text = scrape(&app).await;
    let outcome = |o: &str| {
        sample(
            &text,
            &format!("tessera_auth_outcomes_total{{operation=\"page_sign_in\",outcome=\"{o}\"}}"),
        )
    };
    assert_eq!(
        (outcome("failure"), outcome("success")),
        (Some(1.0), Some(1.0)),
        "{text}"
    );
}

#[tokio::test]
async fn a_metrics_address_of_its_own_takes_metrics_off_the_public_one() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::builder()
        .env("TESSERA_METRICS_BIND", &format!("127.0.0.1:{port}"))
        .spawn()
        .await;
    assert_error(
        app.get("/metrics", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let own = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert!(
        own.text()
            .await
            .unwrap()
            .contains("process_resident_memory_bytes")
    );
    let other = app
        .client
        .get(format!("http://127.0.0.1:{port}/auth/verify"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND, "only /metrics there");
}
