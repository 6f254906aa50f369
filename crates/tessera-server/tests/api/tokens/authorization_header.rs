//! The `Authorization` header itself: no token and other schemes get a plain
//! `Bearer` challenge, the scheme name is case-insensitive, and garbage is
//! `invalid_token`, never a server error.

use super::*;
use reqwest::header::AUTHORIZATION;

/// GET `path` with a raw `Authorization` header value.
async fn get_with_authorization(app: &TestApp, path: &str, value: &[u8]) -> Response {
    let value = HeaderValue::from_bytes(value).expect("a sendable header value");
    app.client
        .get(app.url(path))
        .header(AUTHORIZATION, value)
        .send()
        .await
        .expect("request")
}

// ---------------------------------------------------------------------------
// The Authorization header itself
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_request_without_a_token_gets_a_plain_bearer_challenge() {
    let app = TestApp::spawn().await;

    for path in PROTECTED {
        let r = app.get(path, None).await;

        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer", "{path}");
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
}

#[tokio::test]
async fn another_authentication_scheme_counts_as_no_token() {
    let app = TestApp::spawn().await;
    let session = app.register("alice").await;

    for path in PROTECTED {
        let basic = get_with_authorization(&app, path, b"Basic YWxpY2U6c2VjcmV0").await;
        let token_scheme =
            get_with_authorization(&app, path, format!("Token {}", session.access).as_bytes())
                .await;

        for r in [basic, token_scheme] {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer", "{path}");
            assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
        }
    }
}

#[tokio::test]
async fn the_bearer_scheme_name_is_case_insensitive() {
    let app = TestApp::spawn().await;
    let session = app.register("alice").await;

    for scheme in ["Bearer", "bearer", "BEARER"] {
        for path in PROTECTED {
            let value = format!("{scheme} {}", session.access);
            let r = get_with_authorization(&app, path, value.as_bytes()).await;
            assert_eq!(r.status(), StatusCode::OK, "{path} with {scheme}");
        }
    }
}

#[tokio::test]
async fn garbage_authorization_headers_are_invalid_token_never_a_server_error() {
    let app = TestApp::spawn().await;
    let long = format!("Bearer {}", "A".repeat(MAX_TOKEN_BYTES * 2));
    let values: [&[u8]; 14] = [
        b"Bearer <>",
        b"Bearer",
        b"Bearer ",
        b"Bearer a b",
        b"Bearer \"quoted\"",
        b"Bearer \xff\xfe\xfd",
        "Bearer h\u{e9}llo.w\u{f6}rld.\u{2603}".as_bytes(),
        b"Bearer .",
        b"Bearer ..",
        b"Bearer a.b.c",
        b"Bearer e30.e30.e30",
        b"Bearer e30.e30.e30.e30",
        b"Bearer %2e%2e%2f",
        long.as_bytes(),
    ];

    for path in PROTECTED {
        for value in values {
            let r = get_with_authorization(&app, path, value).await;

            let what = format!(
                "{path} with {:?}",
                String::from_utf8_lossy(&value[..value.len().min(40)])
            );
            assert_invalid_token(r, &what).await;
        }
    }
}
