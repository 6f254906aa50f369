//! Prometheus metrics: request counts and latency histograms by route,
//! method and status, login/refresh outcomes and mails, rendered in the text
//! exposition format at `GET /metrics`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Histogram bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Counts per bucket (not yet cumulative: an observation adds to the first
/// bucket it fits, and rendering sums them up), so recording one request is
/// three atomic additions whatever the number of buckets.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
    }

    /// The cumulative count of each bucket, as Prometheus expects.
    fn cumulative(&self) -> [u64; BUCKETS.len()] {
        let mut total = 0;
        std::array::from_fn(|i| {
            total += self.buckets[i].load(Ordering::Relaxed);
            total
        })
    }
}

/// A route's histograms by method and status: a handful each, searched in
/// order, so recording a request allocates nothing.
type RouteHistograms = Vec<(String, u16, Arc<Histogram>)>;

/// The process's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Route template → histograms by method and status.
    requests: RwLock<HashMap<String, RouteHistograms>>,
    outcomes: Counters,
    mails: Counters,
    events_sent: AtomicU64,
}

/// An outcome's label: `success`; `challenged` (a second factor or its
/// set-up comes next); `throttled` (429); `failure`.
pub fn outcome_of<T>(result: &Result<T, tessera_core::Error>) -> &'static str {
    use tessera_core::Error;
    match result {
        Ok(_) => "success",
        Err(Error::MfaRequired(_) | Error::MfaEnrollmentRequired(_)) => "challenged",
        Err(Error::TooManyAttempts { .. }) => "throttled",
        Err(_) => "failure",
    }
}

/// Counters by two labels.
type Counters = RwLock<HashMap<(&'static str, &'static str), Arc<AtomicU64>>>;

/// Adds one to the counter of `key`, creating it on first use.
fn increment(counters: &Counters, key: (&'static str, &'static str)) {
    let existing = counters
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .cloned();
    let counter = match existing {
        Some(c) => c,
        None => counters
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .clone(),
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Writes a counter family with labels `labels` to `out`, sorted.
fn render_counters(
    out: &mut String,
    name: &str,
    help: &str,
    labels: [&str; 2],
    counters: &Counters,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    let counters = counters.read().unwrap_or_else(|p| p.into_inner());
    let mut keys: Vec<_> = counters.keys().collect();
    keys.sort();
    for key @ (a, b) in keys {
        let _ = writeln!(
            out,
            "{name}{{{}=\"{a}\",{}=\"{b}\"}} {}",
            labels[0],
            labels[1],
            counters[key].load(Ordering::Relaxed)
        );
    }
}

impl Metrics {
    /// Records one answered request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let find = |histograms: &RouteHistograms| {
            histograms
                .iter()
                .find(|(m, s, _)| m == method && *s == status)
                .map(|(_, _, h)| h.clone())
        };
        let existing = self
            .requests
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
            .and_then(find);
        let histogram = match existing {
            Some(h) => h,
            None => {
                let mut requests = self.requests.write().unwrap_or_else(|p| p.into_inner());
                let histograms = requests.entry(route.to_owned()).or_default();
                match find(histograms) {
                    Some(h) => h,
                    None => {
                        let h = Arc::new(Histogram::default());
                        histograms.push((method.to_owned(), status, h.clone()));
                        h
                    }
                }
            }
        };
        histogram.observe(seconds);
    }

    /// Counts an authentication outcome (`login`/`refresh`, `success`/`failure`).
    pub fn count_outcome(&self, operation: &'static str, outcome: &'static str) {
        increment(&self.outcomes, (operation, outcome));
    }

    /// Counts the outcome of a sign-in or token request by how `result` went.
    pub fn count_result<T>(
        &self,
        operation: &'static str,
        result: &Result<T, tessera_core::Error>,
    ) {
        self.count_outcome(operation, outcome_of(result));
    }

    /// Counts one event sent to an `/events` subscriber.
    pub fn count_event_sent(&self) {
        self.events_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts what became of a mail (`verify_email`, …; `sent`, `retried`,
    /// `failed`, `dropped`).
    pub fn count_mail(&self, letter: &'static str, outcome: &'static str) {
        increment(&self.mails, (letter, outcome));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP tessera_http_requests_total HTTP requests answered.\n# TYPE tessera_http_requests_total counter\n");
        let requests = self.requests.read().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<(&str, &str, u16, &Histogram)> = requests
            .iter()
            .flat_map(|(route, histograms)| {
                histograms.iter().map(move |(method, status, h)| {
                    (method.as_str(), route.as_str(), *status, &**h)
                })
            })
            .collect();
        rows.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        for (method, route, status, h) in &rows {
            let _ = writeln!(
                out,
                "tessera_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                h.count.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP tessera_http_request_duration_seconds Time to answer HTTP requests.\n# TYPE tessera_http_request_duration_seconds histogram\n");
        for (method, route, status, h) in &rows {
            let labels = format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape(route)
            );
            for (bound, count) in BUCKETS.iter().zip(h.cumulative()) {
                let _ = writeln!(
                    out,
                    "tessera_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
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
        render_counters(
            &mut out,
            "tessera_auth_outcomes_total",
            "Outcomes of every way of signing in and of token requests: login, refresh, page_sign_in, oauth_<grant>; success, challenged (a second step comes next), throttled, failure.",
            ["operation", "outcome"],
            &self.outcomes,
        );
        let _ = writeln!(
            out,
            "# HELP tessera_events_sent_total Events sent to /events subscribers.\n# TYPE tessera_events_sent_total counter\ntessera_events_sent_total {}",
            self.events_sent.load(Ordering::Relaxed)
        );
        render_counters(
            &mut out,
            "tessera_mail_total",
            "Mails sent, retried after a refusal or an unreachable relay, failed for good, or dropped with the queue full.",
            ["letter", "outcome"],
            &self.mails,
        );
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_histograms_and_outcomes() {
        let m = Metrics::default();
        m.observe_request("GET", "/me", 200, 0.002);
        m.observe_request("GET", "/me", 200, 0.02);
        m.observe_request("POST", "/me", 405, 0.0001);
        m.count_outcome("login", "failure");
        let text = m.render();
        assert!(text.contains(
            "tessera_http_requests_total{method=\"GET\",route=\"/me\",status=\"200\"} 2"
        ));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket{method=\"GET\",route=\"/me\",status=\"200\",le=\"0.0025\"} 1"));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket{method=\"GET\",route=\"/me\",status=\"200\",le=\"2.5\"} 2"));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket{method=\"GET\",route=\"/me\",status=\"200\",le=\"+Inf\"} 2"));
        assert!(
            text.contains("tessera_auth_outcomes_total{operation=\"login\",outcome=\"failure\"} 1")
        );
    }
}
