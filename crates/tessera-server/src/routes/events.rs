//! `GET /events`: the live event stream over WebSocket (SPEC §9) — how
//! relying services learn at once that a token they would still accept has
//! been revoked.

use crate::error::ApiError;
use crate::extract::Query;
use crate::extract::{ClientAddress, bearer_token};
use crate::state::AppState;
use crate::subscribers::{Applicant, Refusal, Slot};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::time::Duration;
use tessera_core::model::ROLE_ADMIN;
use tessera_core::oauth::ApiAccess;
use tessera_token::clock::Millis;
use tessera_token::events::Event;
use tessera_token::tokens::AccessClaims;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, interval, sleep_until, timeout};

/// Close codes (RFC 6455 private range).
mod close {
    /// No valid token: missing, late, invalid.
    pub(super) const UNAUTHENTICATED: u16 = 4401;
    /// The token expired or its session was revoked.
    pub(super) const EXPIRED: u16 = 4001;
    /// A re-authentication with another subject's token.
    pub(super) const WRONG_SUBJECT: u16 = 4403;
    /// The subscriber fell too far behind; reconnect with `since`.
    pub(super) const TOO_SLOW: u16 = 4008;
    /// The client sent something that is not a valid message.
    pub(super) const BAD_MESSAGE: u16 = 4400;
    /// The server holds as many subscribers as allowed (RFC 6455 "try again later").
    pub(super) const TRY_LATER: u16 = 1013;
}

/// How long a client has to send `{"type":"auth"}` without a header token.
const AUTH_WINDOW: Duration = Duration::from_secs(5);
/// Server pings.
const PING_EVERY: Duration = Duration::from_secs(30);
/// The scope that lets a client see every event.
const EVENTS_READ: &str = "events:read";
/// Replay batch size.
const REPLAY_BATCH: u32 = 500;

/// Query of `GET /events`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    since: Option<String>,
}

/// `GET /events`
#[utoipa::path(get, path = "/events", tag = "events",
    params(("since" = Option<i64>, Query, description = "replay the events after this seq first")),
    responses((status = 101, description = "WebSocket: authenticate by bearer header or a first {\"type\":\"auth\",\"token\":…} message within 5 s")))]
pub async fn events(
    State(state): State<AppState>,
    ClientAddress(ip): ClientAddress,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(_) => {
            return ApiError::invalid("", "GET /events expects a WebSocket upgrade")
                .into_response();
        }
    };
    // The upgrade is always accepted; a bad token is answered with a close code.
    let header_token = bearer_token(&headers).ok().flatten().map(str::to_owned);
    let since = query.since;
    // "Live from now" means from before the client sees the upgrade answer:
    // subscribe and note the newest committed event here, so an event
    // committed right after the handshake is delivered, not taken for history.
    let live = state.tessera.events().subscribe_events();
    let newest = state
        .tessera
        .events()
        .event_bounds()
        .await
        .ok()
        .and_then(|(_, n)| n)
        .unwrap_or(0);
    let start = Start {
        live,
        newest: newest.max(state.tessera.event_hub().last_seq()),
    };
    // Subscribers are mostly idle and receive small frames: small buffers
    // keep ten thousand of them cheap (the defaults are 128 KiB each way).
    upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(256 * 1024)
        .max_frame_size(16 * 1024)
        .max_message_size(16 * 1024)
        .on_upgrade(move |socket| async move {
            Subscription::run(socket, state, ip, header_token, since, start).await;
        })
}

/// Authenticates a new connection (by its header token, or by its first
/// message while it waits in the bounded waiting room) and only then takes
/// a slot, so connections that never authenticate hold none.
async fn authenticate(
    socket: &mut WebSocket,
    state: &AppState,
    ip: Option<IpAddr>,
    header_token: Option<String>,
) -> Result<(String, AccessClaims, bool), (u16, &'static str)> {
    const UNAUTHENTICATED: (u16, &str) = (close::UNAUTHENTICATED, "authentication required");
    if let Some(token) = header_token {
        return match state.tessera.sessions().verify_access_token(&token) {
            Ok(claims) => Ok((token, claims, false)),
            Err(_) => Err(UNAUTHENTICATED),
        };
    }
    let mut waiting = state.subscribers.wait(ip);
    tokio::select! {
        authenticated = first_message_auth(socket, state) => {
            authenticated.ok_or(UNAUTHENTICATED)
        }
        _ = &mut waiting.evicted => {
            Err((close::TRY_LATER, "too many connections waiting to authenticate; try again later"))
        }
    }
}

/// The slot for an authenticated subscriber, or the close code that says why not.
fn admit(
    state: &AppState,
    claims: &AccessClaims,
    ip: Option<IpAddr>,
) -> Result<Slot, (u16, &'static str)> {
    let applicant = Applicant {
        subject: claims.sub.clone(),
        ip,
        privileged: sees_all(claims),
    };
    state.subscribers.admit(applicant).map_err(|refusal| {
        let reason = match refusal {
            Refusal::Full => "too many subscribers; try again later",
            Refusal::SubjectLimit => "too many subscriptions for this subject",
            Refusal::AddressLimit => "too many subscriptions from this address",
        };
        (close::TRY_LATER, reason)
    })
}

/// Admins see every event (through a token issued to an OAuth client,
/// only with scope `tessera:admin`), and so do OAuth clients holding
/// `events:read` in a token about themselves (`client_credentials`); a
/// person's token never sees others' events through `events:read`.
fn sees_all(claims: &AccessClaims) -> bool {
    let own_client_token =
        claims.username.is_none() && claims.client_id.as_deref() == Some(claims.sub.as_str());
    let admin = claims.has_role(ROLE_ADMIN)
        && ApiAccess::of(claims.client_id.as_deref(), claims.scope.as_deref()) == ApiAccess::Admin;
    admin
        || (own_client_token
            && claims
                .scope
                .as_deref()
                .is_some_and(|s| s.split(' ').any(|x| x == EVENTS_READ)))
}

/// Where a subscription starts: the live feed opened before the handshake
/// and the newest event committed by then.
struct Start {
    live: tokio::sync::broadcast::Receiver<std::sync::Arc<Event>>,
    newest: i64,
}

/// One subscriber's connection.
struct Subscription {
    socket: WebSocket,
    state: AppState,
    token: String,
    claims: AccessClaims,
    /// The newest `seq` delivered (or skipped as invisible).
    last_seq: i64,
}

impl Subscription {
    async fn run(
        mut socket: WebSocket,
        state: AppState,
        ip: Option<IpAddr>,
        header_token: Option<String>,
        since: Option<String>,
        start: Start,
    ) {
        let (token, claims, by_message) =
            match authenticate(&mut socket, &state, ip, header_token).await {
                Ok(authenticated) => authenticated,
                Err((code, reason)) => {
                    close_with(&mut socket, code, reason).await;
                    return;
                }
            };
        // Held for the life of the subscription.
        let _slot = match admit(&state, &claims, ip) {
            Ok(slot) => slot,
            Err((code, reason)) => {
                close_with(&mut socket, code, reason).await;
                return;
            }
        };
        let since = match since.as_deref().map(str::parse::<i64>) {
            None => None,
            Some(Ok(seq)) if seq >= 0 => Some(seq),
            Some(_) => {
                close_with(
                    &mut socket,
                    close::BAD_MESSAGE,
                    "since must be a sequence number",
                )
                .await;
                return;
            }
        };
        if by_message
            && send_json(&mut socket, &json!({"type": "auth.ok", "exp": claims.exp}))
                .await
                .is_err()
        {
            return;
        }
        let mut sub = Subscription {
            socket,
            state,
            token,
            claims,
            last_seq: 0,
        };
        sub.serve(since, start).await;
    }

    /// Whether this subscriber sees every event ([`sees_all`]).
    fn sees_all(&self) -> bool {
        sees_all(&self.claims)
    }

    async fn send_event(&mut self, event: &Event) -> Result<(), ()> {
        if event.seq <= self.last_seq {
            return Ok(());
        }
        self.last_seq = event.seq;
        if !event.visible_to(&self.claims.sub, self.sees_all()) {
            return Ok(());
        }
        self.socket
            .send(Message::Text(event.to_message().into()))
            .await
            .map_err(|_| ())?;
        self.state.metrics.count_event_sent();
        Ok(())
    }

    /// Replay after `since`, then live events until the connection ends.
    async fn serve(&mut self, since: Option<i64>, start: Start) {
        // Subscribed before replaying, so nothing falls between the two.
        let mut live = start.live;
        match since {
            Some(since) => {
                if self.replay(since).await.is_err() {
                    return;
                }
            }
            None => self.last_seq = start.newest,
        }
        let mut pings = interval(PING_EVERY);
        pings.tick().await;
        loop {
            if let Some(code) = self.token_problem() {
                close_with(&mut self.socket, code, "token expired or revoked").await;
                return;
            }
            let deadline = self.expiry_deadline();
            tokio::select! {
                received = live.recv() => match received {
                    Ok(event) => {
                        if self.send_event(&event).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        close_with(&mut self.socket, close::TOO_SLOW, "too slow; reconnect with since").await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
                incoming = self.socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if let Err(code) = self.reauthenticate(&text).await {
                            close_with(&mut self.socket, code, "bad message or token").await;
                            return;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
                _ = pings.tick() => {
                    if self.socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                        return;
                    }
                }
                () = sleep_until(deadline) => {}
            }
        }
    }

    async fn replay(&mut self, since: i64) -> Result<(), ()> {
        let (oldest, _) = self
            .state
            .tessera
            .events()
            .event_bounds()
            .await
            .map_err(|_| ())?;
        if let Some(oldest) = oldest
            && since + 1 < oldest
        {
            send_json(
                &mut self.socket,
                &json!({"type": "replay.truncated", "oldest_seq": oldest}),
            )
            .await?;
        }
        self.last_seq = since;
        // History stops where this process's hub stands: an event it has
        // not broadcast yet may stand for a revocation not yet in force
        // here. Those come through the live feed, subscribed already,
        // once the hub has applied them.
        let until = self.state.tessera.event_hub().last_seq();
        loop {
            let batch = self
                .state
                .tessera
                .events()
                .events_after(self.last_seq, REPLAY_BATCH)
                .await
                .map_err(|_| ())?;
            let done =
                batch.len() < REPLAY_BATCH as usize || batch.last().is_some_and(|e| e.seq >= until);
            for event in batch.iter().take_while(|e| e.seq <= until) {
                self.send_event(event).await?;
            }
            if done {
                return Ok(());
            }
        }
    }

    /// A close code if the connection's token no longer holds: expired
    /// (with the leeway) or revoked.
    fn token_problem(&self) -> Option<u16> {
        let tessera = &self.state.tessera;
        let now = tessera.clock().now_ms();
        let leeway = tessera.settings().leeway.as_millis() as Millis;
        let c = &self.claims;
        let expired = now >= c.exp.saturating_mul(1000).saturating_add(leeway);
        let revoked =
            tessera
                .revocations()
                .is_revoked(c.sid.as_deref(), &c.jti, &c.sub, c.issued_at_ms());
        (expired || revoked).then_some(close::EXPIRED)
    }

    /// When to look at the token again even if nothing happens.
    fn expiry_deadline(&self) -> Instant {
        let tessera = &self.state.tessera;
        let now = tessera.clock().now_ms();
        let leeway = tessera.settings().leeway.as_millis() as Millis;
        let left = self
            .claims
            .exp
            .saturating_mul(1000)
            .saturating_add(leeway)
            .saturating_sub(now)
            .max(0);
        Instant::now() + Duration::from_millis(left as u64).min(PING_EVERY)
    }

    /// Handles a client message: only `{"type":"auth","token":…}`, which
    /// extends the connection with a newer token of the same subject.
    async fn reauthenticate(&mut self, text: &str) -> Result<(), u16> {
        let token = auth_token(text).ok_or(close::BAD_MESSAGE)?;
        let claims = self
            .state
            .tessera
            .sessions()
            .verify_access_token(&token)
            .map_err(|_| close::UNAUTHENTICATED)?;
        if claims.sub != self.claims.sub {
            return Err(close::WRONG_SUBJECT);
        }
        let ok = json!({"type": "auth.ok", "exp": claims.exp});
        self.token = token;
        self.claims = claims;
        send_json(&mut self.socket, &ok)
            .await
            .map_err(|()| close::BAD_MESSAGE)
    }
}

/// Reads `{"type":"auth","token":"…"}`.
fn auth_token(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    (value.get("type")?.as_str()? == "auth")
        .then(|| value.get("token")?.as_str().map(str::to_owned))?
}

/// Waits up to five seconds for the first message to authenticate.
async fn first_message_auth(
    socket: &mut WebSocket,
    state: &AppState,
) -> Option<(String, AccessClaims, bool)> {
    let deadline = Instant::now() + AUTH_WINDOW;
    loop {
        let message = timeout(
            deadline.saturating_duration_since(Instant::now()),
            socket.recv(),
        )
        .await
        .ok()??
        .ok()?;
        match message {
            Message::Text(text) => {
                let token = auth_token(&text)?;
                let claims = state.tessera.sessions().verify_access_token(&token).ok()?;
                return Some((token, claims, true));
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            _ => return None,
        }
    }
}

async fn send_json(socket: &mut WebSocket, value: &Value) -> Result<(), ()> {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .map_err(|_| ())
}

async fn close_with(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
