//! The mixed load a cluster run puts on the fleet, and its record.
//!
//! Each worker owns its users and their sessions, so it always knows what
//! the answer to its next request must be: an answer that differs is a
//! finding, not noise. Writes go through the load balancer; token checks go
//! to every replica directly. What a worker knows is the *model*: every
//! acknowledged write is in it, and a write whose answer was lost (a 5xx or
//! a broken connection: it may or may not have happened) takes what it
//! touched out of the model rather than guessing.

use super::record::{Op, Outcome, REVOCATION_ALLOWANCE, Revoked, describe, push, wall_ms};
use super::target::{Answer, Target};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// A session the model knows all about.
#[derive(Clone, Debug)]
pub struct Session {
    /// The refresh token that works now.
    pub refresh: String,
    /// The newest access token.
    pub access: String,
    /// Whether the access token is still good (a role change ends it).
    pub access_live: bool,
    /// The refresh token this one replaced, and when.
    pub previous: Option<(String, Instant)>,
}

/// A user the model knows all about.
#[derive(Clone, Debug)]
pub struct User {
    /// The username.
    pub name: String,
    /// The password that works now.
    pub password: String,
    /// The roles, sorted; `None` when a role change's answer was lost.
    pub roles: Option<Vec<String>>,
    /// Live sessions.
    pub sessions: Vec<Session>,
    /// Whether the password changed since the last check.
    pub password_changed: bool,
}

/// What one worker knows; kept from phase to phase.
#[derive(Debug)]
pub struct Worker {
    /// Its number (in usernames).
    pub id: usize,
    next_name: u64,
    rng: u64,
    /// Its users.
    pub users: Vec<User>,
    /// Users it deleted (acknowledged).
    pub deleted: Vec<String>,
}

impl Worker {
    /// A worker with no users yet.
    pub fn new(id: usize) -> Self {
        Worker {
            id,
            next_name: 0,
            rng: 0x9E37_79B9_7F4A_7C15 ^ ((id as u64 + 1) * 0x1000_0000_01B3),
            users: Vec::new(),
            deleted: Vec::new(),
        }
    }

    /// A number in `0..n` (xorshift; `n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % n.max(1) as u64) as usize
    }
}

/// The tokens of a token response.
fn tokens(body: &Value) -> Option<Session> {
    Some(Session {
        refresh: body["refresh_token"].as_str()?.to_owned(),
        access: body["access_token"].as_str()?.to_owned(),
        access_live: true,
        previous: None,
    })
}

/// Runs one worker until the target says stop; returns what it knows.
pub async fn run_worker(target: std::sync::Arc<Target>, mut worker: Worker) -> Worker {
    while !target.stop.load(Ordering::Relaxed) {
        step(&target, &mut worker).await;
    }
    worker
}

/// How often each operation comes, out of 100.
const MIX: [(Op, usize); 10] = [
    (Op::VerifyLive, 34),
    (Op::VerifyRevoked, 8),
    (Op::Refresh, 20),
    (Op::DoubleRefresh, 5),
    (Op::Login, 8),
    (Op::Register, 5),
    (Op::Logout, 10),
    (Op::RoleChange, 5),
    (Op::PasswordChange, 3),
    (Op::Delete, 2),
];

async fn step(target: &std::sync::Arc<Target>, w: &mut Worker) {
    if w.users.len() < 3 {
        register(target, w).await;
        return;
    }
    let mut pick = w.below(100);
    let mut op = Op::VerifyLive;
    for (candidate, weight) in MIX {
        if pick < weight {
            op = candidate;
            break;
        }
        pick -= weight;
    }
    let u = w.below(w.users.len());
    match op {
        Op::Register => register(target, w).await,
        Op::Login => {
            if w.users[u].sessions.len() >= 4 {
                logout(target, w, u).await
            } else {
                login(target, w, u).await
            }
        }
        Op::Refresh => refresh(target, w, u).await,
        Op::DoubleRefresh => double_refresh(target, w, u).await,
        Op::Logout => logout(target, w, u).await,
        Op::RoleChange => role_change(target, w, u).await,
        Op::PasswordChange => password_change(target, w, u).await,
        Op::Delete => {
            if w.users.len() > 6 {
                delete(target, w, u).await
            } else {
                register(target, w).await
            }
        }
        Op::VerifyLive => verify_live(target, w, u).await,
        Op::VerifyRevoked => verify_revoked(target, w).await,
    }
}

async fn register(target: &Target, w: &mut Worker) {
    let name = format!("{}-w{}-{}", target.run, w.id, w.next_name);
    w.next_name += 1;
    let password = format!("first passphrase {} of worker {}", w.next_name, w.id);
    let sent = Instant::now();
    let answer = target
        .post(
            "/auth/register",
            json!({"username": name, "password": password}),
            None,
        )
        .await;
    let outcome = match answer {
        Answer::Status(201, body) => match tokens(&body) {
            Some(session) => {
                w.users.push(User {
                    name,
                    password,
                    roles: Some(vec!["user".into()]),
                    sessions: vec![session],
                    password_changed: false,
                });
                Outcome::Expected
            }
            None => Outcome::Unexpected,
        },
        // Perhaps registered: the name is never used again.
        Answer::Failed => Outcome::Failed,
        Answer::Status(status, body) => {
            target.anomaly(format!("register {name}: {status} {body}"));
            Outcome::Unexpected
        }
    };
    target.log(sent, Op::Register, outcome);
}

async fn login(target: &Target, w: &mut Worker, u: usize) {
    let user = &mut w.users[u];
    let sent = Instant::now();
    let answer = target
        .post(
            "/auth/login",
            json!({"username": user.name, "password": user.password}),
            None,
        )
        .await;
    let outcome = match answer {
        Answer::Status(200, body) => match tokens(&body) {
            Some(session) => {
                user.sessions.push(session);
                Outcome::Expected
            }
            None => Outcome::Unexpected,
        },
        // A session the model does not know may exist: harmless.
        Answer::Failed => Outcome::Failed,
        Answer::Status(status, body) => {
            target.anomaly(format!("login of {}: {status} {body}", user.name));
            Outcome::Unexpected
        }
    };
    target.log(sent, Op::Login, outcome);
}

/// Refreshes session `s` of user `u` in the model after a 200.
fn rotated(session: &mut Session, body: &Value) -> bool {
    let Some(new) = tokens(body) else {
        return false;
    };
    let old = std::mem::replace(&mut session.refresh, new.refresh);
    session.access = new.access;
    session.access_live = true;
    session.previous = Some((old, Instant::now()));
    true
}

async fn refresh(target: &Target, w: &mut Worker, u: usize) {
    if w.users[u].sessions.is_empty() {
        return login(target, w, u).await;
    }
    let s = w.below(w.users[u].sessions.len());
    let user = &mut w.users[u];
    let sent = Instant::now();
    let answer = target
        .post(
            "/auth/refresh",
            json!({"refresh_token": user.sessions[s].refresh}),
            None,
        )
        .await;
    let outcome = match answer {
        Answer::Status(200, body) if rotated(&mut user.sessions[s], &body) => Outcome::Expected,
        Answer::Failed => {
            // Perhaps rotated: the session leaves the model.
            user.sessions.swap_remove(s);
            Outcome::Failed
        }
        Answer::Status(status, body) => {
            target.anomaly(format!(
                "refresh of a live session of {}: {status} {body}",
                user.name
            ));
            user.sessions.swap_remove(s);
            Outcome::Unexpected
        }
    };
    target.log(sent, Op::Refresh, outcome);
}

async fn double_refresh(target: &Target, w: &mut Worker, u: usize) {
    if w.users[u].sessions.is_empty() {
        return login(target, w, u).await;
    }
    let s = w.below(w.users[u].sessions.len());
    let user = &mut w.users[u];
    let body = json!({"refresh_token": user.sessions[s].refresh});
    let sent = Instant::now();
    let (a, b) = futures::future::join(
        target.post("/auth/refresh", body.clone(), None),
        target.post("/auth/refresh", body, None),
    )
    .await;
    let outcome = match (a, b) {
        (Answer::Status(200, a), Answer::Status(200, b)) => {
            if a["refresh_token"] == b["refresh_token"] {
                if rotated(&mut user.sessions[s], &a) {
                    Outcome::Expected
                } else {
                    Outcome::Unexpected
                }
            } else {
                target.violation(format!(
                    "one refresh token of {} rotated twice: two different new refresh tokens",
                    user.name
                ));
                user.sessions.swap_remove(s);
                Outcome::Unexpected
            }
        }
        (Answer::Status(200, one), Answer::Failed) | (Answer::Failed, Answer::Status(200, one)) => {
            if rotated(&mut user.sessions[s], &one) {
                Outcome::Expected
            } else {
                Outcome::Unexpected
            }
        }
        (Answer::Failed, Answer::Failed) => {
            user.sessions.swap_remove(s);
            Outcome::Failed
        }
        (a, b) => {
            let status = |a: &Answer| match a {
                Answer::Status(s, body) => format!("{s} {body}"),
                Answer::Failed => "failed".into(),
            };
            target.anomaly(format!(
                "two refreshes of one token of {} at once: {} and {}",
                user.name,
                status(&a),
                status(&b)
            ));
            user.sessions.swap_remove(s);
            Outcome::Unexpected
        }
    };
    target.log(sent, Op::DoubleRefresh, outcome);
}

/// A session of user `u` whose access token is live.
fn live_session(w: &mut Worker, u: usize) -> Option<usize> {
    let live: Vec<usize> = w.users[u]
        .sessions
        .iter()
        .enumerate()
        .filter(|(_, s)| s.access_live)
        .map(|(i, _)| i)
        .collect();
    if live.is_empty() {
        return None;
    }
    Some(live[w.below(live.len())])
}

async fn logout(target: &std::sync::Arc<Target>, w: &mut Worker, u: usize) {
    let Some(s) = live_session(w, u) else {
        return refresh(target, w, u).await;
    };
    let user = &mut w.users[u];
    let session = user.sessions.swap_remove(s);
    let sent = Instant::now();
    let answer = target
        .post("/auth/logout", json!({}), Some(&session.access))
        .await;
    let outcome = match answer {
        Answer::Status(204, _) => {
            target.revoked(
                Revoked {
                    access: session.access,
                    refresh: Some(session.refresh),
                    at: Instant::now(),
                    why: "logout",
                    wall: (0, wall_ms()),
                },
                true,
            );
            Outcome::Expected
        }
        Answer::Failed => Outcome::Failed,
        Answer::Status(status, body) => {
            target.anomaly(format!("logout of {}: {status} {body}", user.name));
            Outcome::Unexpected
        }
    };
    target.log(sent, Op::Logout, outcome);
}

async fn role_change(target: &std::sync::Arc<Target>, w: &mut Worker, u: usize) {
    let tag = format!("tier-{}", w.below(5));
    let sent_wall = wall_ms();
    let user = &mut w.users[u];
    let mut roles = vec![tag, "user".to_owned()];
    roles.sort();
    let path = format!("{}/users/{}", target.front, user.name);
    let sent = Instant::now();
    let answer = target
        .as_admin(|client, admin| {
            client
                .patch(&path)
                .bearer_auth(admin)
                .json(&json!({"roles": roles}))
        })
        .await;
    let outcome = match answer {
        // The same roles again change nothing: the tokens stay good.
        Answer::Status(200, _) if user.roles.as_ref() == Some(&roles) => Outcome::Expected,
        Answer::Status(200, _) => {
            let at = Instant::now();
            for session in &mut user.sessions {
                if session.access_live {
                    session.access_live = false;
                    // Unless the roles were unknown (a lost answer), these
                    // were issued with the old roles: the server must
                    // refuse them now.
                    if user.roles.is_some() {
                        target.revoked(
                            Revoked {
                                access: session.access.clone(),
                                refresh: None,
                                at,
                                why: "role change",
                                wall: (sent_wall, wall_ms()),
                            },
                            false,
                        );
                    }
                }
            }
            user.roles = Some(roles);
            Outcome::Expected
        }
        Answer::Failed => {
            user.roles = None;
            for session in &mut user.sessions {
                session.access_live = false;
            }
            Outcome::Failed
        }
        Answer::Status(status, body) => {
            target.anomaly(format!("role change of {}: {status} {body}", user.name));
            Outcome::Unexpected
        }
    };
    target.log(sent, Op::RoleChange, outcome);
}

async fn password_change(target: &std::sync::Arc<Target>, w: &mut Worker, u: usize) {
    let Some(s) = live_session(w, u) else {
        return refresh(target, w, u).await;
    };
    let turn = w.below(1_000_000);
    let user = &mut w.users[u];
    let new_password = format!("changed passphrase {turn}");
    let sent = Instant::now();
    let answer = target
        .post(
            &format!("/users/{}/password", user.name),
            json!({"current_password": user.password, "new_password": new_password}),
            Some(&user.sessions[s].access),
        )
        .await;
    let outcome = match answer {
        Answer::Status(204, _) => {
            let kept = user.sessions.swap_remove(s);
            let at = Instant::now();
            for other in user.sessions.drain(..) {
                target.revoked(
                    Revoked {
                        access: other.access,
                        refresh: Some(other.refresh),
                        at,
                        why: "password change",
                        wall: (0, wall_ms()),
                    },
                    false,
                );
            }
            user.sessions.push(kept);
            user.password = new_password;
            user.password_changed = true;
            Outcome::Expected
        }
        Answer::Failed => {
            // Which password works is unknown: the user leaves the model.
            w.users.swap_remove(u);
            Outcome::Failed
        }
        Answer::Status(status, body) => {
            target.anomaly(format!("password change of {}: {status} {body}", user.name));
            Outcome::Unexpected
        }
    };
    target.log(sent, Op::PasswordChange, outcome);
}

async fn delete(target: &std::sync::Arc<Target>, w: &mut Worker, u: usize) {
    let path = format!("{}/users/{}", target.front, w.users[u].name);
    let sent = Instant::now();
    let answer = target
        .as_admin(|client, admin| client.delete(&path).bearer_auth(admin))
        .await;
    let user = w.users.swap_remove(u);
    let outcome = match answer {
        Answer::Status(200, _) => {
            let at = Instant::now();
            for session in user.sessions {
                target.revoked(
                    Revoked {
                        access: session.access,
                        refresh: Some(session.refresh),
                        at,
                        why: "delete",
                        wall: (0, wall_ms()),
                    },
                    false,
                );
            }
            w.deleted.push(user.name);
            Outcome::Expected
        }
        Answer::Failed => Outcome::Failed,
        Answer::Status(status, body) => {
            target.anomaly(format!("delete of {}: {status} {body}", user.name));
            Outcome::Unexpected
        }
    };
    target.log(sent, Op::Delete, outcome);
}

async fn verify_live(target: &Target, w: &mut Worker, u: usize) {
    let Some(s) = live_session(w, u) else {
        return refresh(target, w, u).await;
    };
    let replica = w.below(target.replicas.len());
    let user = &w.users[u];
    let sent = Instant::now();
    let outcome = match target.verify(replica, &user.sessions[s].access).await {
        Some(200) => Outcome::Expected,
        None => Outcome::Failed,
        Some(status) => {
            target.anomaly(format!(
                "a live access token of {} answered {status} by replica {replica}",
                user.name
            ));
            Outcome::Unexpected
        }
    };
    target.log(sent, Op::VerifyLive, outcome);
}

async fn verify_revoked(target: &Target, w: &mut Worker) {
    let pick = {
        let Ok(revoked) = target.record.revoked.lock() else {
            return;
        };
        let due = revoked
            .iter()
            .rposition(|r| r.at.elapsed() > REVOCATION_ALLOWANCE)
            .map(|last| last + 1)
            .unwrap_or(0);
        if due == 0 {
            return;
        }
        revoked[w.below(due)].clone()
    };
    let replica = w.below(target.replicas.len());
    let sent = Instant::now();
    let outcome = match target.verify(replica, &pick.access).await {
        Some(401) => Outcome::Expected,
        None => Outcome::Failed,
        Some(status) if target.cut_off_since_before(replica, pick.at) => {
            push(
                &target.record.stale_while_cut_off,
                format!(
                    "replica {replica}, cut off, answered {status} to a token revoked ({}) elsewhere {:?} earlier",
                    pick.why,
                    pick.at.elapsed()
                ),
            );
            Outcome::Expected
        }
        Some(status) => {
            target.violation(format!(
                "replica {replica} answered {status} to a token revoked ({}) {:?} earlier: {}, revoking request sent/answered at {:?}",
                pick.why,
                pick.at.elapsed(),
                describe(&pick.access),
                pick.wall
            ));
            Outcome::Unexpected
        }
    };
    target.log(sent, Op::VerifyRevoked, outcome);
}
