//! Prometheus metrics: request counts and latency histograms by route,
//! method and status, and login/refresh outcomes, rendered in the text
//! exposition format at `GET /metrics`.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Histogram bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, seconds: f64) {
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
    }
}

type RouteKey = (String, String, u16);

/// The process's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: RwLock<HashMap<RouteKey, Arc<Histogram>>>,
    outcomes: RwLock<HashMap<(&'static str, &'static str), Arc<AtomicU64>>>,
}

impl Metrics {
    /// Records one answered request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let key = (method.to_owned(), route.to_owned(), status);
        let existing = self
            .requests
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let histogram = match existing {
            Some(h) => h,
            None => self
                .requests
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key)
                .or_default()
                .clone(),
        };
        histogram.observe(seconds);
    }

    /// Counts an authentication outcome (`login`/`refresh`, `success`/`failure`).
    pub fn count_outcome(&self, operation: &'static str, outcome: &'static str) {
        let key = (operation, outcome);
        let existing = self
            .outcomes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let counter = match existing {
            Some(c) => c,
            None => self
                .outcomes
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key)
                .or_default()
                .clone(),
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP tessera_http_requests_total HTTP requests answered.\n# TYPE tessera_http_requests_total counter\n");
        let requests = self.requests.read().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<_> = requests.keys().collect();
        keys.sort();
        for key @ (method, route, status) in &keys {
            let h = &requests[*key];
            let _ = writeln!(
                out,
                "tessera_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                h.count.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP tessera_http_request_duration_seconds Time to answer HTTP requests.\n# TYPE tessera_http_request_duration_seconds histogram\n");
        for key @ (method, route, status) in &keys {
            let h = &requests[*key];
            let labels = format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape(route)
            );
            for (bound, bucket) in BUCKETS.iter().zip(&h.buckets) {
                let _ = writeln!(
                    out,
                    "tessera_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    bucket.load(Ordering::Relaxed)
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "tessera_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "tessera_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "tessera_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        out.push_str("# HELP tessera_auth_outcomes_total Login and refresh outcomes.\n# TYPE tessera_auth_outcomes_total counter\n");
        let outcomes = self.outcomes.read().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<_> = outcomes.keys().collect();
        keys.sort();
        for key @ (operation, outcome) in keys {
            let _ = writeln!(
                out,
                "tessera_auth_outcomes_total{{operation=\"{operation}\",outcome=\"{outcome}\"}} {}",
                outcomes[key].load(Ordering::Relaxed)
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware recording every request under its route template (never the
/// raw path, which would let clients create unbounded label sets).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let response = next.run(request).await;
    metrics.observe_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_histograms_and_outcomes() {
        let m = Metrics::default();
        m.observe_request("GET", "/me", 200, 0.002);
        m.observe_request("GET", "/me", 200, 0.02);
        m.count_outcome("login", "failure");
        let text = m.render();
        assert!(text.contains(
            "tessera_http_requests_total{method=\"GET\",route=\"/me\",status=\"200\"} 2"
        ));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket{method=\"GET\",route=\"/me\",status=\"200\",le=\"0.0025\"} 1"));
        assert!(
            text.contains("tessera_auth_outcomes_total{operation=\"login\",outcome=\"failure\"} 1")
        );
    }
}
