//! The layer around every routed request: it bounds how long the request may
//! take (a slow body included: `408 request_timeout` in the error shape) and
//! records it in the metrics under its route template. One hand-written
//! service rather than two `from_fn` middlewares: no boxed service is cloned
//! per request, which `GET /auth/verify` — a few microseconds of work —
//! would otherwise spend most of its time on.

use crate::error::ApiError;
use crate::metrics::Metrics;
use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service};

/// Times out and records each request of the routes it wraps.
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
    limit: Duration,
}

impl ObserveLayer {
    /// Records into `metrics`; answers 408 after `limit`.
    pub fn new(metrics: Arc<Metrics>, limit: Duration) -> Self {
        ObserveLayer { metrics, limit }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            metrics: self.metrics.clone(),
            limit: self.limit,
        }
    }
}

/// The service [`ObserveLayer`] wraps a route in.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
    limit: Duration,
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

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        // Both are cheap clones (a known method, a shared string), never
        // the raw path, which would let clients create unbounded label sets.
        let method = request.method().clone();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let metrics = self.metrics.clone();
        let answer = tokio::time::timeout(self.limit, self.inner.call(request));
        Box::pin(async move {
            let response = match answer.await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => ApiError::RequestTimeout.into_response(),
            };
            metrics.observe_request(
                method.as_str(),
                route.as_ref().map_or("unmatched", MatchedPath::as_str),
                response.status().as_u16(),
                started.elapsed().as_secs_f64(),
            );
            Ok(response)
        })
    }
}
