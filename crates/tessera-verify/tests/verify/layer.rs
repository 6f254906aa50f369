//! The tower layer and the axum extractor in front of a handler.

use crate::harness::Tessera;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use tessera_verify::{Verified, Verifier, VerifyLayer};
use tower::ServiceExt as _;

async fn whoami(Verified(claims): Verified) -> String {
    claims.username.unwrap_or(claims.sub)
}

fn app(verifier: Verifier) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .layer(VerifyLayer::new(verifier))
}

async fn call(app: &Router, authorization: Option<&str>) -> axum::response::Response {
    let mut request = Request::get("/whoami");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn www_authenticate(response: &axum::response::Response) -> &str {
    response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn the_layer_passes_valid_tokens_with_their_claims_and_turns_others_away() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let app = app(Verifier::builder(&tessera.base).build().unwrap());

    let ok = call(&app, Some(&format!("Bearer {}", alice.access))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let body = axum::body::to_bytes(ok.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"alice");

    let missing = call(&app, None).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www_authenticate(&missing), "Bearer");

    for bad in ["Bearer x.y.z", "Bearer a b", "Bearer"] {
        let refused = call(&app, Some(bad)).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(
            www_authenticate(&refused),
            r#"Bearer error="invalid_token""#
        );
    }
}

#[tokio::test]
async fn a_verifier_without_keys_answers_503() {
    let tessera = Tessera::spawn().await;
    let alice = tessera.register("alice").await;
    let base = tessera.base.clone();
    tessera.stop().await;
    let app = app(Verifier::builder(&base).build().unwrap());

    let response = call(&app, Some(&format!("Bearer {}", alice.access))).await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "5");
}

#[tokio::test]
async fn the_extractor_without_the_layer_answers_401() {
    let app = Router::new().route("/whoami", get(whoami));

    let response = call(&app, Some("Bearer a.b.c")).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
