//! What a cluster run checks once a fault is over and the load has stopped:
//! every acknowledged write is there, and every revoked token and spent
//! refresh token is refused by every replica.

use super::load::Worker;
use super::record::{GRACE, Revoked, push, snapshot};
use super::target::{Answer, Target};
use futures::StreamExt as _;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// How many checks ran and what they found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Requests the checks made.
    pub requests: usize,
    /// Acknowledged writes whose effect is missing.
    pub lost: Vec<String>,
    /// Promises broken: a revoked token accepted, a refresh token honoured
    /// twice.
    pub violations: Vec<String>,
    /// Checks that could not get an answer (the cluster should be healthy
    /// by now).
    pub unanswered: usize,
}

/// How many spent refresh tokens are presented again per check.
const REUSE_SAMPLE: usize = 16;
/// Requests in flight at once during checks.
const PARALLEL: usize = 16;

/// Checks what the workers know against the cluster, then updates their
/// model with what the checks changed (refreshed sessions, sessions the
/// reuse check revoked, logins after a password change).
pub async fn check(target: &Arc<Target>, workers: &mut [Worker], revoked_from: usize) -> Checked {
    let mut out = Checked::default();
    users(target, workers, &mut out).await;
    sessions(target, workers, &mut out).await;
    reuse(target, workers, &mut out).await;
    let revoked = snapshot(&target.record.revoked);
    refused(
        target,
        &revoked[revoked_from.min(revoked.len())..],
        &mut out,
    )
    .await;
    out
}

/// Users are there with their roles; deleted ones are gone; a changed
/// password is the one that works.
async fn users(target: &Target, workers: &mut [Worker], out: &mut Checked) {
    let admin = target.admin_token();
    let mut asks = Vec::new();
    for w in workers.iter() {
        for u in &w.users {
            asks.push((u.name.clone(), u.roles.clone(), true));
        }
        for name in &w.deleted {
            asks.push((name.clone(), None, false));
        }
    }
    let results: Vec<_> = futures::stream::iter(asks)
        .map(|(name, roles, present)| {
            let admin = admin.clone();
            async move {
                let url = format!("{}/users/{name}", target.front);
                let answer = target
                    .send(target.client.get(url).bearer_auth(&admin))
                    .await;
                (name, roles, present, answer)
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for (name, roles, present, answer) in results {
        out.requests += 1;
        match (present, answer) {
            (_, Answer::Failed) => out.unanswered += 1,
            (true, Answer::Status(200, body)) => {
                if let Some(roles) = roles {
                    let mut got: Vec<String> = body["user"]["roles"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|r| r.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    got.sort();
                    if got != roles {
                        out.lost
                            .push(format!("role change of {name}: {got:?}, not {roles:?}"));
                    }
                }
            }
            (true, Answer::Status(status, _)) => {
                out.lost.push(format!(
                    "registration of {name}: GET /users answers {status}"
                ));
            }
            (false, Answer::Status(404, _)) => {}
            (false, Answer::Status(status, _)) => {
                out.lost
                    .push(format!("deletion of {name}: GET /users answers {status}"));
            }
        }
    }
    for w in workers.iter_mut() {
        for u in w.users.iter_mut().filter(|u| u.password_changed) {
            out.requests += 1;
            let answer = target
                .post(
                    "/auth/login",
                    json!({"username": u.name, "password": u.password}),
                    None,
                )
                .await;
            match answer {
                Answer::Status(200, _) => u.password_changed = false,
                Answer::Failed => out.unanswered += 1,
                Answer::Status(status, _) => out.lost.push(format!(
                    "password change of {}: the new password answers {status}",
                    u.name
                )),
            }
        }
    }
}

/// Every live session's refresh token works (no rotation was lost).
async fn sessions(target: &Target, workers: &mut [Worker], out: &mut Checked) {
    let mut asks = Vec::new();
    for (wi, w) in workers.iter().enumerate() {
        for (ui, u) in w.users.iter().enumerate() {
            for (si, s) in u.sessions.iter().enumerate() {
                asks.push((wi, ui, si, s.refresh.clone()));
            }
        }
    }
    let results: Vec<_> = futures::stream::iter(asks)
        .map(|(wi, ui, si, refresh)| async move {
            let answer = target
                .post("/auth/refresh", json!({"refresh_token": refresh}), None)
                .await;
            (wi, ui, si, answer)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut gone = Vec::new();
    for (wi, ui, si, answer) in results {
        out.requests += 1;
        let user = &mut workers[wi].users[ui];
        match answer {
            Answer::Status(200, body) => {
                let session = &mut user.sessions[si];
                match (
                    body["refresh_token"].as_str(),
                    body["access_token"].as_str(),
                ) {
                    (Some(refresh), Some(access)) => {
                        let old = std::mem::replace(&mut session.refresh, refresh.to_owned());
                        session.access = access.to_owned();
                        session.access_live = true;
                        session.previous = Some((old, Instant::now()));
                    }
                    _ => gone.push((wi, ui, si)),
                }
            }
            Answer::Failed => {
                out.unanswered += 1;
                gone.push((wi, ui, si));
            }
            Answer::Status(status, _) => {
                out.lost.push(format!(
                    "a live session of {}: its refresh token answers {status}",
                    user.name
                ));
                gone.push((wi, ui, si));
            }
        }
    }
    // Highest index first, so the others stay where they are.
    gone.sort_unstable_by(|a, b| b.cmp(a));
    for (wi, ui, si) in gone {
        workers[wi].users[ui].sessions.swap_remove(si);
    }
}

/// A refresh token rotated longer than the grace ago is refused, and its
/// session with it (SPEC §5: reuse revokes the whole session).
async fn reuse(target: &Arc<Target>, workers: &mut [Worker], out: &mut Checked) {
    let mut sample = 0;
    for w in workers.iter_mut() {
        for u in w.users.iter_mut() {
            let mut s = 0;
            while s < u.sessions.len() && sample < REUSE_SAMPLE {
                let spent = match &u.sessions[s].previous {
                    Some((old, at)) if at.elapsed() > GRACE => old.clone(),
                    _ => {
                        s += 1;
                        continue;
                    }
                };
                sample += 1;
                let session = u.sessions.swap_remove(s);
                out.requests += 2;
                match target
                    .post("/auth/refresh", json!({"refresh_token": spent}), None)
                    .await
                {
                    Answer::Status(401, _) => {}
                    Answer::Failed => out.unanswered += 1,
                    Answer::Status(status, _) => out.violations.push(format!(
                        "a refresh token of {} rotated {GRACE:?}+ ago answered {status}",
                        u.name
                    )),
                }
                match target
                    .post(
                        "/auth/refresh",
                        json!({"refresh_token": session.refresh}),
                        None,
                    )
                    .await
                {
                    Answer::Status(401, _) => {}
                    Answer::Failed => out.unanswered += 1,
                    Answer::Status(status, _) => out.violations.push(format!(
                        "the session of {} survived the reuse of its old refresh token ({status})",
                        u.name
                    )),
                }
                push(
                    &target.record.revoked,
                    Revoked {
                        access: session.access,
                        refresh: None,
                        at: Instant::now(),
                        why: "refresh-token reuse",
                        wall: (0, super::record::wall_ms()),
                    },
                );
            }
        }
    }
}

/// Every revoked access token is refused by every replica, and every
/// revoked session's refresh token by the cluster.
async fn refused(target: &Target, revoked: &[Revoked], out: &mut Checked) {
    let replicas = target.replicas.len();
    let asks: Vec<(usize, &Revoked)> = revoked
        .iter()
        .flat_map(|r| (0..replicas).map(move |i| (i, r)))
        .collect();
    let results: Vec<_> = futures::stream::iter(asks)
        .map(|(replica, r)| async move { (replica, r, target.verify(replica, &r.access).await) })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for (replica, r, status) in results {
        out.requests += 1;
        match status {
            Some(401) => {}
            None => out.unanswered += 1,
            Some(status) => out.violations.push(format!(
                "replica {replica} answers {status} to an access token revoked by a {} {:?} ago: {}, revoking request sent/answered at {:?}",
                r.why,
                r.at.elapsed(),
                super::record::describe(&r.access),
                r.wall
            )),
        }
    }
    let refreshes: Vec<_> = futures::stream::iter(
        revoked
            .iter()
            .filter_map(|r| r.refresh.as_ref().map(|token| (r, token.clone()))),
    )
    .map(|(r, token)| async move {
        let answer = target
            .post("/auth/refresh", json!({"refresh_token": token}), None)
            .await;
        (r, answer)
    })
    .buffer_unordered(PARALLEL)
    .collect()
    .await;
    for (r, answer) in refreshes {
        out.requests += 1;
        match answer {
            Answer::Status(401, _) => {}
            Answer::Failed => out.unanswered += 1,
            Answer::Status(status, _) => out.violations.push(format!(
                "the refresh token of a session ended by a {} answers {status}",
                r.why
            )),
        }
    }
}
