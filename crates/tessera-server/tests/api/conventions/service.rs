//! The operational endpoints: forward-auth verification, health,
//! readiness and metrics, the OpenAPI document and the published schemas.

use super::{detail_paths, header};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn forward_auth_verify_answers_with_identity_headers() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let r = app.get("/auth/verify", Some(&alice.access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let id = alice.body["user"]["id"].as_str().expect("id").to_owned();
    assert_eq!(header(&r, "x-auth-subject"), Some(id.as_str()));
    assert_eq!(header(&r, "x-auth-username"), Some("alice"));
    assert_eq!(header(&r, "x-auth-roles"), Some("user"));
    assert!(r.bytes().await.expect("body").is_empty());

    let admin = app.admin("root").await;
    let r = app.get("/auth/verify", Some(&admin.access)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let roles: Vec<&str> = header(&r, "x-auth-roles")
        .unwrap_or_default()
        .split(',')
        .collect();
    assert_eq!(roles.len(), 2, "{roles:?}");
    assert!(roles.contains(&"admin") && roles.contains(&"user"));

    // 401 otherwise: no token, garbage, after logout.
    let r = app.get("/auth/verify", None).await;
    assert!(r.headers().get("x-auth-subject").is_none());
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = app.get("/auth/verify", Some("not-a-token")).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let r = app
        .post("/auth/logout", Some(&alice.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.get("/auth/verify", Some(&alice.access)).await;
    assert!(r.headers().get("x-auth-subject").is_none());
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

/// The value of the metric line that starts with `prefix`, if any.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::OK);

    let user = app.register("zebulon-the-unique").await;
    let r = app
        .get("/users/zebulon-the-unique", Some(&user.access))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get("/users/quentin-nobody", Some(&user.access)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.get("/secret-probe-path", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.login("zebulon-the-unique", PASSWORD).await;
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": "zebulon-the-unique", "password": "wrong-password-here"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&user.refresh).await.status(), StatusCode::OK);
    assert_eq!(
        app.refresh("no-such-token").await.status(),
        StatusCode::UNAUTHORIZED
    );

    let r = app.get("/metrics", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        header(&r, "content-type").is_some_and(|ct| ct.starts_with("text/plain")),
        "Prometheus text format"
    );
    let text = r.text().await.expect("text");
    assert!(text.contains("# TYPE tessera_http_requests_total counter"));
    let users_200 = metric(
        &text,
        "tessera_http_requests_total{method=\"GET\",route=\"/users/{username}\",status=\"200\"}",
    );
    assert_eq!(users_200, Some(1.0), "{text}");
    let users_404 = metric(
        &text,
        "tessera_http_requests_total{method=\"GET\",route=\"/users/{username}\",status=\"404\"}",
    );
    assert_eq!(users_404, Some(1.0), "{text}");
    assert!(
        metric(
            &text,
            "tessera_http_requests_total{method=\"POST\",route=\"/auth/register\",status=\"201\"}"
        )
        .is_some()
    );
    // Route templates only: never a raw username or path.
    for raw in ["zebulon", "quentin", "secret-probe-path"] {
        assert!(!text.contains(raw), "{raw} leaked into the metrics");
    }
    for (op, outcome) in [
        ("login", "success"),
        ("login", "failure"),
        ("refresh", "success"),
        ("refresh", "failure"),
    ] {
        let line =
            format!("tessera_auth_outcomes_total{{operation=\"{op}\",outcome=\"{outcome}\"}}");
        assert_eq!(metric(&text, &line), Some(1.0), "{line} in {text}");
    }
}

#[tokio::test]
async fn openapi_31_lists_every_endpoint() {
    let app = TestApp::spawn().await;
    let r = app.get("/openapi.json", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc = json_body(r).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let expected: [(&str, &[&str]); 23] = [
        ("/auth/register", &["post"]),
        ("/auth/login", &["post"]),
        ("/auth/refresh", &["post"]),
        ("/auth/logout", &["post"]),
        ("/auth/logout-all", &["post"]),
        ("/auth/verify", &["get"]),
        ("/me", &["get"]),
        ("/users", &["get"]),
        ("/users/{username}", &["get", "patch", "delete"]),
        ("/users/{username}/password", &["post"]),
        ("/users/{username}/sessions", &["get"]),
        ("/sessions/{id}", &["delete"]),
        ("/.well-known/jwks.json", &["get"]),
        ("/.well-known/openid-configuration", &["get"]),
        ("/admin/keys", &["get"]),
        ("/admin/keys/rotate", &["post"]),
        ("/admin/audit", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
        ("/openapi.json", &["get"]),
        ("/schemas", &["get"]),
        ("/schemas/{name}", &["get"]),
    ];
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in expected {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is missing from the OpenAPI document"));
        for m in methods {
            assert!(item.get(*m).is_some(), "{m} {path}");
        }
    }
    // Request bodies are the schemas the server enforces.
    let register = &doc["components"]["schemas"]["RegisterBody"];
    assert_eq!(register["additionalProperties"], false);
    assert_eq!(register["properties"]["password"]["minLength"], 12);
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn schemas_are_published_and_follow_the_password_minimum() {
    let app = TestApp::builder()
        .env("TESSERA_PASSWORD_MIN_LENGTH", "20")
        .spawn()
        .await;
    let list = json_body(app.get("/schemas", None).await).await;
    let names: Vec<&str> = list["schemas"]
        .as_array()
        .expect("schemas")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    for name in [
        "register",
        "login",
        "refresh",
        "user_update",
        "password_change",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
        let r = app.get(&format!("/schemas/{name}.json"), None).await;
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        let schema = json_body(r).await;
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        assert_eq!(schema["additionalProperties"], false, "{name}");
    }

    let r = app.get("/schemas/register.json", None).await;
    assert!(header(&r, "content-type").is_some_and(|ct| ct.contains("json")));
    let register = json_body(r).await;
    assert_eq!(register["type"], "object");
    assert_eq!(register["properties"]["password"]["minLength"], 20);
    assert_eq!(register["properties"]["password"]["maxLength"], 128);
    let change = json_body(app.get("/schemas/password_change.json", None).await).await;
    assert_eq!(change["properties"]["new_password"]["minLength"], 20);

    // The server enforces what it publishes.
    let nineteen = "river-lantern-zebra";
    assert_eq!(nineteen.chars().count(), 19);
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "alice", "password": nineteen}),
        )
        .await;
    let err = assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(detail_paths(&err), vec!["/password"]);
    assert_eq!(
        err["error"]["details"][0]["message"],
        "shorter than 20 characters"
    );
    let twenty = format!("{nineteen}s");
    let r = app
        .post(
            "/auth/register",
            None,
            json!({"username": "alice", "password": twenty}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}
