//! Hostile traffic: slow clients, too many connections, slow bodies.

use crate::helpers::*;
use reqwest::StatusCode;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; how long that took.
async fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

#[tokio::test]
async fn a_client_trickling_headers_is_disconnected_after_the_header_timeout() {
    let app = TestApp::builder()
        .env("TESSERA_HEADER_TIMEOUT", "1s")
        .spawn()
        .await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let closed = time_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(
        closed.is_some_and(|d| d < Duration::from_secs(4)),
        "closed after {closed:?}"
    );
    // Everyone else is served meanwhile.
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_is_free() {
    let app = TestApp::builder()
        .env("TESSERA_MAX_CONNECTIONS", "2")
        .spawn()
        .await;
    // The harness's start-up probe holds no connection, so these two fill the cap.
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    let mut a = TcpStream::connect(app.addr).await.unwrap();
    let mut b = TcpStream::connect(app.addr).await.unwrap();
    // Make sure both are accepted (each answers a request and stays open).
    for s in [&mut a, &mut b] {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
    let blocked = tokio::time::timeout(
        Duration::from_millis(500),
        fresh().get(app.url("/healthz")).send(),
    )
    .await;
    assert!(
        blocked.is_err(),
        "a third connection is not served while two are open: {blocked:?}"
    );
    drop(a);
    let served = tokio::time::timeout(
        Duration::from_secs(5),
        fresh().get(app.url("/healthz")).send(),
    )
    .await;
    assert_eq!(
        served
            .expect("served once a slot is free")
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_body_that_never_finishes_is_answered_408_in_the_error_shape() {
    let app = TestApp::builder()
        .env("TESSERA_REQUEST_TIMEOUT", "1s")
        .spawn()
        .await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user",
    )
    .await
    .unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        loop {
            let n = slow.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
            if response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}}") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "answered within the timeout");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
}
