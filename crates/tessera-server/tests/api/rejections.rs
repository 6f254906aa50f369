//! Every refusal of a request's path, query, headers or body comes in the
//! shared error shape (SPEC §2), never as axum's plain text; cursors are
//! only those Tessera gave out.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;

/// Asserts a JSON 400 `validation_failed` in the shared shape.
async fn assert_validation(r: reqwest::Response, what: &str) -> Value {
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: {content_type}"
    );
    assert_error(r, StatusCode::BAD_REQUEST, "validation_failed").await
}

#[tokio::test]
async fn path_segments_that_are_not_utf8_are_refused_in_the_shared_shape() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    for path in [
        "/users/%ff%fe",
        "/users/%ff%fe/sessions",
        "/users/%c3",
        "/admin/clients/%ff",
        "/sessions/%ff",
        "/schemas/%ff.json",
    ] {
        let method = if path.starts_with("/admin") || path.starts_with("/sessions") {
            reqwest::Method::DELETE
        } else {
            reqwest::Method::GET
        };
        let r = app.send(method, path, Some(&root.access), None).await;
        assert_validation(r, path).await;
    }
}

#[tokio::test]
async fn repeated_or_mistyped_query_parameters_are_refused_in_the_shared_shape() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    for path in [
        "/users?limit=&limit=5",
        "/users?limit=5&limit=6",
        "/users?limit=abc",
        "/users?cursor=%ff",
        "/admin/audit?limit=1&limit=2",
        "/admin/audit?cursor=x&cursor=y",
    ] {
        let r = app.get(path, Some(&root.access)).await;
        assert_validation(r, path).await;
    }
    // The same parameters given once work.
    assert_eq!(
        app.get("/users?limit=5", Some(&root.access)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_cursor_tessera_did_not_give_out_is_refused() {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    for name in ["alice", "bob", "carol"] {
        app.register(name).await;
    }
    let long = format!("/users?cursor={}", "A".repeat(5000));
    let not_a_name = "/users?cursor=not%20a%20username!".to_owned();
    let upper = "/users?cursor=Alice".to_owned();
    for path in [long.as_str(), &not_a_name, &upper, "/users?cursor=***"] {
        let r = app.get(path, Some(&root.access)).await;
        let body = assert_validation(r, path).await;
        assert_eq!(body["error"]["details"][0]["path"], "/cursor", "{body}");
    }
    for path in [
        "/admin/audit?cursor=0",
        "/admin/audit?cursor=-5",
        "/admin/audit?cursor=x",
    ] {
        let r = app.get(path, Some(&root.access)).await;
        assert_validation(r, path).await;
    }
    // A cursor from a page works.
    let page = json_body(app.get("/users?limit=2", Some(&root.access)).await).await;
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let next = app
        .get(
            &format!("/users?limit=2&cursor={cursor}"),
            Some(&root.access),
        )
        .await;
    assert_eq!(next.status(), StatusCode::OK);
}
