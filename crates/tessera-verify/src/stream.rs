//! The `/events` subscription: one background task that keeps a WebSocket
//! to Tessera open, applies revocations to the verifier's set as they come,
//! and reconnects — with `?since=` the last `seq` seen, after an
//! exponential, jittered backoff — whenever the connection ends.

use crate::backoff::{Backoff, random_fraction};
use crate::jwks::Jwks;
use crate::messages::{Retention, ServerMessage, StreamEvent, parse};
use crate::provider::TokenProvider;
use futures_util::{SinkExt as _, StreamExt as _};
use http::HeaderValue;
use std::sync::Arc;
use std::time::Duration;
use tessera_token::clock::{Clock, Millis};
use tessera_token::revocation::RevocationSet;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, connect_async_tls_with_config};

/// How long connecting (TCP, TLS, upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Tessera pings every 30 s; this long without any frame means the
/// connection is dead even if no error says so.
const IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Renew the stream's token this long before it expires (or halfway
/// through what is left, for short-lived tokens).
const RENEW_MARGIN: Millis = 60_000;
/// …but never sooner than this after the last renewal.
const MIN_RENEW_DELAY: Millis = 2_000;
/// …and at least this often (in case the token's `exp` is absurd).
const MAX_RENEW_DELAY: Millis = 3_600_000;
/// The largest frame accepted (Tessera's are well under 1 KiB).
const MAX_MESSAGE: usize = 64 * 1024;
/// Close codes after which the token must not be offered again.
const REFUSED_CODES: [u16; 3] = [4401, 4001, 4403];

/// The event stream as the verifier sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamState {
    /// Authenticated, and caught up with what was missed while away.
    pub connected: bool,
    /// Since when the stream has not been connected (epoch milliseconds by
    /// the verifier's clock); `None` while connected.
    pub down_since: Option<Millis>,
    /// The newest event `seq` received; the next connection asks for what
    /// follows it.
    pub last_seq: Option<i64>,
    /// Revocations applied from the stream.
    pub revocations_applied: u64,
    /// How often a reconnection learnt that Tessera no longer had every
    /// event it missed (`replay.truncated`). See the crate docs.
    pub replays_truncated: u64,
}

/// Everything the subscription task needs.
pub(crate) struct Subscriber {
    /// `ws(s)://…/events` without `since`.
    pub(crate) url: String,
    pub(crate) provider: Arc<dyn TokenProvider>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) jwks: Arc<Jwks>,
    pub(crate) revocations: Arc<RevocationSet>,
    pub(crate) retention: Retention,
    pub(crate) backoff: Backoff,
    pub(crate) state: watch::Sender<StreamState>,
}

/// How a connection ended.
#[derive(Debug, Default)]
struct Ended {
    /// It authenticated (so the backoff starts over).
    authenticated: bool,
    /// Tessera refused the token.
    refused: bool,
}

/// One open connection.
struct Connection<S> {
    ws: tokio_tungstenite::WebSocketStream<S>,
    /// The `since` it was opened with (0 on the first connection).
    since: i64,
    /// When to offer a fresh token.
    renew_at: Option<Instant>,
    ended: Ended,
}

impl Subscriber {
    /// Runs until the task is aborted (when the last `Verifier` clone drops).
    pub(crate) async fn run(mut self) {
        loop {
            let ended = self.connect_once().await;
            self.mark_down();
            if ended.refused {
                self.provider.refused();
            }
            if ended.authenticated {
                self.backoff.reset();
            }
            let delay = self.backoff.next_delay(random_fraction());
            tracing::debug!(?delay, "event stream down; reconnecting after a pause");
            tokio::time::sleep(delay).await;
        }
    }

    fn mark_up(&self) {
        self.state.send_modify(|s| {
            s.connected = true;
            s.down_since = None;
        });
    }

    fn mark_down(&self) {
        let now = self.clock.now_ms();
        self.state.send_modify(|s| {
            s.connected = false;
            s.down_since.get_or_insert(now);
        });
    }

    /// Connects, authenticates and reads until the connection ends.
    async fn connect_once(&self) -> Ended {
        let token = match self.provider.token().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "no token for the event stream");
                return Ended::default();
            }
        };
        // The first connection replays whatever Tessera still keeps, so
        // revocations made before this process started are known too.
        let since = self.state.borrow().last_seq.unwrap_or(0).max(0);
        let request = match self.request(&token, since) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the event-stream request");
                return Ended::default();
            }
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let connector = match self.connector() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot set up TLS for the event stream");
                return Ended::default();
            }
        };
        let connected = timeout(
            CONNECT_TIMEOUT,
            connect_async_tls_with_config(request, Some(config), true, Some(connector)),
        )
        .await;
        let ws = match connected {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => {
                tracing::warn!(url = %self.url, error = %e, "cannot connect to the event stream");
                return Ended::default();
            }
            Err(_) => {
                tracing::warn!(url = %self.url, "connecting to the event stream timed out");
                return Ended::default();
            }
        };
        let mut conn = Connection {
            ws,
            since,
            renew_at: None,
            ended: Ended::default(),
        };
        // The header authenticated the upgrade. Tessera reads client
        // messages only after replaying what was missed, so the `auth.ok`
        // answering this one also says the replay is over.
        if conn.ws.send(auth_message(&token)).await.is_err() {
            return conn.ended;
        }
        self.read(&mut conn).await;
        conn.ended
    }

    /// `GET /events?since=…` with the token in the `Authorization` header.
    fn request(
        &self,
        token: &str,
        since: i64,
    ) -> Result<http::Request<()>, tokio_tungstenite::tungstenite::Error> {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        let mut request = format!("{}{separator}since={since}", self.url).into_client_request()?;
        let bearer =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(http::Error::from)?;
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, bearer);
        Ok(request)
    }

    /// Plain for `ws://`; rustls with aws-lc-rs and the system's roots for `wss://`.
    fn connector(&self) -> Result<Connector, rustls::Error> {
        if !self.url.starts_with("wss:") {
            return Ok(Connector::Plain);
        }
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Connector::Rustls(Arc::new(config)))
    }

    /// Reads frames until the connection ends, renewing the token on time.
    async fn read<S>(&self, conn: &mut Connection<S>)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        loop {
            let renew_at = conn
                .renew_at
                .unwrap_or_else(|| Instant::now() + IDLE_TIMEOUT);
            tokio::select! {
                frame = timeout(IDLE_TIMEOUT, conn.ws.next()) => match frame {
                    Ok(Some(Ok(Message::Text(text)))) => self.handle(conn, &text),
                    Ok(Some(Ok(Message::Close(frame)))) => {
                        let code = frame.map(|f| u16::from(f.code));
                        tracing::info!(?code, "Tessera closed the event stream");
                        conn.ended.refused = code.is_some_and(|c| REFUSED_CODES.contains(&c));
                        return;
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(e))) => {
                        tracing::info!(error = %e, "the event stream failed");
                        return;
                    }
                    Ok(None) => return,
                    Err(_) => {
                        tracing::info!("the event stream went quiet; reconnecting");
                        return;
                    }
                },
                () = sleep_until(renew_at), if conn.renew_at.is_some() => {
                    conn.renew_at = None;
                    match self.provider.token().await {
                        Ok(token) => {
                            if conn.ws.send(auth_message(&token)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "no fresh token for the event stream"),
                    }
                }
            }
        }
    }

    /// Applies one text frame.
    fn handle<S>(&self, conn: &mut Connection<S>, text: &str) {
        match parse(text) {
            ServerMessage::AuthOk { exp } => {
                if !conn.ended.authenticated {
                    conn.ended.authenticated = true;
                    self.mark_up();
                    tracing::info!(url = %self.url, "event stream connected");
                }
                conn.renew_at = exp.map(|exp| self.renewal(exp));
            }
            ServerMessage::ReplayTruncated { oldest_seq } => {
                // The first connection asks for everything, so a trimmed
                // history is expected there.
                if conn.since > 0 {
                    tracing::warn!(
                        since = conn.since,
                        ?oldest_seq,
                        "Tessera no longer has every event missed while disconnected"
                    );
                    self.state.send_modify(|s| s.replays_truncated += 1);
                }
            }
            ServerMessage::Event { seq, event } => self.apply(seq, &event),
            ServerMessage::Other => {}
        }
    }

    /// Applies one event and advances `last_seq`.
    fn apply(&self, seq: i64, event: &StreamEvent) {
        let now = self.clock.now_ms();
        let revocation = event.revocation(now, self.retention);
        if let Some(r) = &revocation {
            self.revocations.apply(r);
            tracing::debug!(seq, kind = r.kind.as_str(), "revocation applied");
        }
        if let StreamEvent::KeyRotated { kid } = event {
            let (jwks, kid) = (self.jwks.clone(), kid.clone());
            tokio::spawn(async move { jwks.learn_kid(&kid).await });
        }
        self.state.send_modify(|s| {
            s.last_seq = Some(s.last_seq.map_or(seq, |last| last.max(seq)));
            if revocation.is_some() {
                s.revocations_applied += 1;
            }
        });
    }

    /// When to offer a fresh token, for one expiring at `exp` (seconds).
    fn renewal(&self, exp: i64) -> Instant {
        let left = exp.saturating_mul(1000).saturating_sub(self.clock.now_ms());
        Instant::now() + renewal_delay(left)
    }
}

/// How long to wait before renewing a token with `left_ms` to live: until
/// a minute before it expires, or halfway for a token with less than two
/// minutes left; never sooner than 2 s (a provider that keeps handing out
/// the same token is asked every 2 s until Tessera closes with 4001).
fn renewal_delay(left_ms: Millis) -> Duration {
    let delay = if left_ms > 2 * RENEW_MARGIN {
        left_ms - RENEW_MARGIN
    } else {
        left_ms / 2
    };
    Duration::from_millis(u64::try_from(delay.clamp(MIN_RENEW_DELAY, MAX_RENEW_DELAY)).unwrap_or(0))
}

/// `{"type":"auth","token":…}`
fn auth_message(token: &str) -> Message {
    Message::text(serde_json::json!({"type": "auth", "token": token}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_a_minute_before_expiry_or_halfway_when_short() {
        let secs = |s: u64| Duration::from_secs(s);
        assert_eq!(renewal_delay(900_000), secs(840), "15 min token");
        assert_eq!(renewal_delay(120_000), secs(60));
        assert_eq!(renewal_delay(10_000), secs(5));
        assert_eq!(renewal_delay(1_000), secs(2), "never sooner than 2 s");
        assert_eq!(renewal_delay(-5_000), secs(2), "already expired");
        assert_eq!(renewal_delay(i64::MAX), secs(3_600), "at least hourly");
    }
}
