//! The layer around every routed request: it bounds how long the request may
//! take (a slow body included: `408 request_timeout` in the error shape),
//! records it in the metrics under its route template, gives it a request
//! id (`X-Request-Id`, taken from a trusted proxy or made here) and writes
//! the access log. One hand-written service rather than a stack of `from_fn`
//! middlewares: no boxed service is cloned per request, which `GET
//! /auth/verify` — a few microseconds of work — would otherwise spend most
//! of its time on.
//!
//! The access log (target `tessera::access`, INFO) has one line per request:
//! method, route template (never the path's values or the query, which can
//! carry secrets), status, latency, client address and request id. Every
//! log line written while the request runs — the security outcomes of
//! `tessera::security` among them — is inside its `request` span, so it
//! carries the same id.

use crate::config::Cidr;
use crate::error::ApiError;
use crate::metrics::Metrics;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service};
use tracing::Instrument as _;

/// The header carrying a request's id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// A request's id, in its extensions for handlers that want it.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

/// Times out and records each request of the routes it wraps.
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
    limit: Duration,
    trusted: Arc<Vec<Cidr>>,
    ids: Arc<IdSource>,
}

impl ObserveLayer {
    /// Records into `metrics`; answers 408 after `limit`; believes the
    /// request ids and forwarded addresses of `trusted` proxies only.
    pub fn new(metrics: Arc<Metrics>, limit: Duration, trusted: Arc<Vec<Cidr>>) -> Self {
        ObserveLayer {
            metrics,
            limit,
            trusted,
            ids: Arc::new(IdSource::new()),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            metrics: self.metrics.clone(),
            limit: self.limit,
            trusted: self.trusted.clone(),
            ids: self.ids.clone(),
        }
    }
}

/// The service [`ObserveLayer`] wraps a route in.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
    limit: Duration,
    trusted: Arc<Vec<Cidr>>,
    ids: Arc<IdSource>,
}

/// Request ids made here: this process's random prefix and a counter —
/// unique across replicas and restarts, and no system call per request.
#[derive(Debug)]
struct IdSource {
    prefix: String,
    next: AtomicU64,
}

impl IdSource {
    fn new() -> Self {
        let random: [u8; 6] = tessera_token::crypto::random_bytes();
        IdSource {
            prefix: random.iter().map(|b| format!("{b:02x}")).collect(),
            next: AtomicU64::new(1),
        }
    }

    fn make(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:x}", self.prefix))
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
    }
}

/// A request id a proxy sent that is worth keeping: 1 to 128 visible ASCII
/// characters of the kind ids are made of.
fn acceptable_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=128).contains(&bytes.len())
        && bytes.iter().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=')
        })
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        // Both are cheap clones (a known method, a shared string), never
        // the raw path, which would let clients create unbounded label sets.
        let method = request.method().clone();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let from_proxy = peer.is_some_and(|ip| self.trusted.iter().any(|n| n.contains(ip)));
        let id = request
            .headers()
            .get(REQUEST_ID)
            .filter(|v| from_proxy && acceptable_id(v))
            .cloned()
            .unwrap_or_else(|| self.ids.make());
        let logging = tracing::enabled!(target: "tessera::access", tracing::Level::INFO);
        let client = match peer {
            Some(peer) if logging => Some(crate::extract::forwarded_client(
                peer,
                request.headers(),
                &self.trusted,
            )),
            other => other,
        };
        request.extensions_mut().insert(RequestId(id.clone()));
        let metrics = self.metrics.clone();
        let span = tracing::info_span!("request", id = id.to_str().unwrap_or("-"));
        let answer = tokio::time::timeout(self.limit, self.inner.call(request)).instrument(span);
        Box::pin(async move {
            let mut response = match answer.await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => ApiError::RequestTimeout.into_response(),
            };
            let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
            let status = response.status().as_u16();
            let elapsed = started.elapsed();
            metrics.observe_request(method.as_str(), route, status, elapsed.as_secs_f64());
            if logging {
                tracing::info!(
                    target: "tessera::access",
                    method = %method,
                    route,
                    status,
                    ms = elapsed.as_micros() as f64 / 1000.0,
                    client = %client.map_or_else(|| "-".to_owned(), |c| c.to_string()),
                    request_id = id.to_str().unwrap_or("-"),
                    "answered"
                );
            }
            response.headers_mut().insert(REQUEST_ID, id);
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    fn app() -> Router {
        let trusted = Arc::new(vec![Cidr::parse("10.0.0.0/8").expect("cidr")]);
        Router::new()
            .route(
                "/users/{username}",
                get(|| async {
                    tracing::warn!(target: "tessera::security", event = "login.failed", "refused");
                    "ok"
                }),
            )
            .route_layer(ObserveLayer::new(
                Arc::new(Metrics::default()),
                Duration::from_secs(5),
                trusted,
            ))
    }

    fn request(path: &str, peer: &str, id: Option<&str>) -> Request {
        let mut request = Request::get(path);
        if let Some(id) = id {
            request = request.header(REQUEST_ID, id);
        }
        let mut request = request
            .header("x-forwarded-for", "203.0.113.7")
            .body(Body::empty())
            .expect("request");
        let peer: SocketAddr = format!("{peer}:5000").parse().expect("peer");
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    }

    fn id_of(response: &Response) -> String {
        response.headers()[REQUEST_ID]
            .to_str()
            .expect("ascii")
            .to_owned()
    }

    /// (Called from the one test below: a test without a subscriber of its
    /// own, running beside one with, can leave the span's callsite cached
    /// as never enabled.)
    async fn every_answer_has_a_request_id_a_proxys_own_kept_anyone_elses_replaced() {
        let made = app()
            .oneshot(request("/users/ann", "192.0.2.1", None))
            .await
            .expect("answer");
        let other = app()
            .oneshot(request("/users/ann", "192.0.2.1", None))
            .await
            .expect("answer");
        assert_ne!(id_of(&made), id_of(&other));
        let kept = app()
            .oneshot(request("/users/ann", "10.1.2.3", Some("lb-4711")))
            .await
            .expect("answer");
        assert_eq!(id_of(&kept), "lb-4711");
        let replaced = app()
            .oneshot(request("/users/ann", "192.0.2.1", Some("lb-4711")))
            .await
            .expect("answer");
        assert_ne!(id_of(&replaced), "lb-4711", "not from a trusted proxy");
        let refused = app()
            .oneshot(request(
                "/users/ann",
                "10.1.2.3",
                Some("has spaces and \"quotes\""),
            ))
            .await
            .expect("answer");
        assert!(acceptable_id(&refused.headers()[REQUEST_ID]));
    }

    #[tokio::test]
    async fn the_access_log_names_the_route_not_its_values_and_the_request_id_ties_lines_together()
    {
        let (captured, _guard) = crate::captured_log::Captured::start(tracing::Level::INFO);
        let response = app()
            .oneshot(request(
                "/users/alice?token=eyJSECRET.eyJSECRET.SIG",
                "10.1.2.3",
                Some("trace-42"),
            ))
            .await
            .expect("answer");
        assert_eq!(response.status(), 200);
        let log = captured.text();
        let access = log
            .lines()
            .find(|l| l.contains("tessera::access"))
            .unwrap_or_else(|| panic!("no access line in {log}"));
        for part in [
            "method=GET",
            "route=\"/users/{username}\"",
            "status=200",
            "client=203.0.113.7",
            "request_id=\"trace-42\"",
            "ms=",
        ] {
            assert!(access.contains(part), "{part} missing: {access}");
        }
        assert!(!log.contains("alice") && !log.contains("SECRET"), "{log}");
        let security = log
            .lines()
            .find(|l| l.contains("tessera::security"))
            .unwrap_or_else(|| panic!("no security line in {log}"));
        assert!(security.contains("request{id=\"trace-42\"}"), "{security}");
        every_answer_has_a_request_id_a_proxys_own_kept_anyone_elses_replaced().await;
    }
}
