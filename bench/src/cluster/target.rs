//! Where the load goes and how: the HTTP client, the balancer and each
//! replica, the administrator's token, and the probe that follows a logout
//! until every replica refuses its token.

use super::record::{Op, Outcome, REVOCATION_ALLOWANCE, Record, Request, Revoked, push};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The longest a logout's probe waits for every replica to refuse.
const PROBE_LIMIT: Duration = Duration::from_secs(60);

/// An answer: a status and its JSON body (`Null` when none), or a failure.
pub enum Answer {
    /// A status below 500.
    Status(u16, Value),
    /// A 5xx, a timeout or a broken connection.
    Failed,
}

/// Where the load goes and how, shared by workers and checks.
pub struct Target {
    /// The HTTP client (keep-alive).
    pub client: reqwest::Client,
    /// The load balancer.
    pub front: String,
    /// Each replica, directly.
    pub replicas: Vec<String>,
    /// The administrator's access token.
    pub admin: Mutex<String>,
    /// Makes usernames unique to this run.
    pub run: String,
    /// Set to end the load.
    pub stop: AtomicBool,
    /// Logouts still being followed until every replica refuses them.
    probing: AtomicUsize,
    /// The replica cut off from the database, since when, and until when
    /// (once the link is back).
    pub cut_off: Mutex<Option<(usize, Instant, Option<Instant>)>>,
    /// What happened.
    pub record: Record,
}

impl Target {
    /// A client that gives up after 15 s, so a hung server shows as a
    /// failure rather than a stuck run.
    pub fn new(front: String, replicas: Vec<String>, run: String) -> reqwest::Result<Self> {
        Ok(Target {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .pool_max_idle_per_host(256)
                .build()?,
            front,
            replicas,
            admin: Mutex::new(String::new()),
            run,
            stop: AtomicBool::new(false),
            probing: AtomicUsize::new(0),
            cut_off: Mutex::new(None),
            record: Record::default(),
        })
    }

    /// Sends `request`; 5xx and transport errors are [`Answer::Failed`].
    /// Each failure's reason goes into [`Record::failures`].
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                let reason = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connection refused or failed"
                } else {
                    "connection broken"
                };
                push(&self.record.failures, reason.to_owned());
                return Answer::Failed;
            }
        };
        let status = response.status().as_u16();
        if status >= 500 {
            let code = response
                .json::<Value>()
                .await
                .ok()
                .and_then(|b| b["error"]["code"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "no error body".into());
            push(&self.record.failures, format!("{status} {code}"));
            return Answer::Failed;
        }
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Answer::Status(status, body)
    }

    /// `POST` of `body` to the load balancer.
    pub async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{path}", self.front))
            .json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    /// `GET /auth/verify` of `token` on replica `replica`: its status.
    pub async fn verify(&self, replica: usize, token: &str) -> Option<u16> {
        match self
            .send(
                self.client
                    .get(format!("{}/auth/verify", self.replicas[replica]))
                    .bearer_auth(token),
            )
            .await
        {
            Answer::Status(status, _) => Some(status),
            Answer::Failed => None,
        }
    }

    /// The administrator's token.
    pub fn admin_token(&self) -> String {
        self.admin.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Signs the administrator in (again).
    pub async fn admin_login(&self) -> bool {
        let answer = self
            .post(
                "/auth/login",
                json!({"username": super::fleet::ADMIN, "password": super::fleet::ADMIN_PASSWORD}),
                None,
            )
            .await;
        if let Answer::Status(200, body) = answer
            && let Some(token) = body["access_token"].as_str()
            && let Ok(mut admin) = self.admin.lock()
        {
            *admin = token.to_owned();
            return true;
        }
        false
    }

    /// A request as the administrator, signing in again once if its token
    /// is refused.
    pub async fn as_admin(
        &self,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Answer {
        let answer = self.send(build(&self.client, &self.admin_token())).await;
        if matches!(answer, Answer::Status(401, _)) && self.admin_login().await {
            return self.send(build(&self.client, &self.admin_token())).await;
        }
        answer
    }

    pub(super) fn log(&self, sent: Instant, op: Op, outcome: Outcome) {
        push(
            &self.record.requests,
            Request {
                sent,
                took: sent.elapsed(),
                op,
                outcome,
            },
        );
    }

    pub(super) fn anomaly(&self, text: String) {
        push(&self.record.anomalies, text);
    }

    pub(super) fn violation(&self, text: String) {
        push(&self.record.violations, text);
    }

    /// Whether `replica` was cut off from the database when a revocation
    /// acknowledged at `at` was made, and has not had its link back for
    /// [`REVOCATION_ALLOWANCE`] yet.
    pub(super) fn cut_off_since_before(&self, replica: usize, at: Instant) -> bool {
        let Ok(cut) = self.cut_off.lock() else {
            return false;
        };
        cut.is_some_and(|(r, from, until)| {
            r == replica
                && at >= from
                && until.is_none_or(|back| back.elapsed() < REVOCATION_ALLOWANCE)
        })
    }

    /// Revokes in the model, and for a logout follows the token until
    /// every replica refuses it.
    pub(super) fn revoked(self: &std::sync::Arc<Self>, entry: Revoked, probe: bool) {
        let access = entry.access.clone();
        let at = entry.at;
        push(&self.record.revoked, entry);
        if probe {
            let target = self.clone();
            self.probing.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                target.probe(access, at).await;
                target.probing.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    /// Waits until every logout's probe has its answer.
    pub async fn wait_for_probes(&self) {
        while self.probing.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Measures from `at` until no replica accepts `access` any more. A
    /// replica that does not answer (killed, restarting) accepts nothing:
    /// it counts only if it accepted the token before refusing it.
    async fn probe(&self, access: String, at: Instant) {
        let replicas = self.replicas.len();
        let mut refused_at: Vec<Option<Duration>> = vec![None; replicas];
        let mut accepted = vec![false; replicas];
        while refused_at.iter().any(Option::is_none) {
            for r in 0..replicas {
                if refused_at[r].is_some() {
                    continue;
                }
                match self.verify(r, &access).await {
                    Some(401) => refused_at[r] = Some(at.elapsed()),
                    Some(_) => accepted[r] = true,
                    None => {}
                }
            }
            if at.elapsed() > PROBE_LIMIT {
                let waiting: Vec<usize> =
                    (0..replicas).filter(|&r| refused_at[r].is_none()).collect();
                self.violation(format!(
                    "a logged-out token not refused by replica(s) {waiting:?} after {PROBE_LIMIT:?}"
                ));
                return;
            }
            if refused_at.iter().any(Option::is_none) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let bound = (0..replicas)
            .filter(|&r| accepted[r])
            .filter_map(|r| refused_at[r])
            .max()
            .unwrap_or_default();
        push(&self.record.revocation_bounds, bound);
    }
}
