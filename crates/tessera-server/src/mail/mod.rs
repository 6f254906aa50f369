//! Sending mail (SPEC §12): the [`Mailer`] is the domain's postbox. A
//! posted letter is rendered and sent in the background — never while a
//! request waits — through the relay of `TESSERA_SMTP_URL`; a relay that
//! refuses for now or cannot be reached is tried again with doubling
//! waits. At most [`QUEUE`] letters wait at once; past that, a letter is
//! dropped. Every outcome is logged (without the link) and counted in
//! `/metrics` (`tessera_mail_total`).
//!
//! - `relay.rs`: the URL, TLS and credentials, and the transport.
//! - `letters.rs`: letters as mails, from the templates.

mod letters;
mod relay;

pub use letters::Sender;
pub use relay::{Relay, Security};

use crate::metrics::Metrics;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use tessera_core::mail::{Letter, Postbox};
use tessera_token::clock::Clock;
use tokio::sync::Semaphore;

/// Letters waiting or being retried at most.
pub const QUEUE: usize = 1024;
/// SMTP conversations at once.
const CONNECTIONS: usize = 4;
/// The first wait after a failed attempt; it doubles up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait between attempts.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// How long a letter is retried before it counts as failed.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30 * 60);

/// The mail configuration: the relay and the sender address.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `TESSERA_SMTP_URL`.
    pub relay: Relay,
    /// `TESSERA_MAIL_FROM`.
    pub from: Mailbox,
}

/// The postbox the domain posts letters to.
#[derive(Debug)]
pub struct Mailer(Arc<Outbox>);

/// What the mailer's background sends share.
struct Outbox {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    sender: Sender,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// One permit per letter waiting or being retried.
    slots: Arc<Semaphore>,
    /// One permit per SMTP conversation.
    connections: Arc<Semaphore>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.sender.from.to_string())
            .field("waiting", &(QUEUE - self.slots.available_permits()))
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer sending through `config`'s relay.
    pub fn new(
        config: &MailConfig,
        sender: Sender,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Mailer, String> {
        Ok(Mailer(Arc::new(Outbox {
            transport: config.relay.transport()?,
            sender,
            clock,
            metrics,
            slots: Arc::new(Semaphore::new(QUEUE)),
            connections: Arc::new(Semaphore::new(CONNECTIONS)),
        })))
    }
}

impl Outbox {
    /// Renders and sends one letter, trying again while the relay is
    /// unreachable or refuses for now.
    async fn deliver(self: Arc<Self>, letter: Letter) {
        let kind = letter.kind();
        let domain = letter
            .to()
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .to_owned();
        let message = match self.sender.mail(&letter, self.clock.now_ms()) {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(letter = kind, to_domain = %domain, %error, "mail not sent");
                self.metrics.count_mail(kind, "failed");
                return;
            }
        };
        let started = tokio::time::Instant::now();
        let mut wait = FIRST_WAIT;
        loop {
            let sent = match self.connections.acquire().await {
                Ok(_turn) => self.transport.send(message.clone()).await,
                Err(_) => return,
            };
            match sent {
                Ok(_) => {
                    tracing::info!(letter = kind, to_domain = %domain, "mail sent");
                    self.metrics.count_mail(kind, "sent");
                    return;
                }
                Err(error) if error.is_permanent() => {
                    tracing::warn!(letter = kind, to_domain = %domain, %error, "the relay refused the mail");
                    self.metrics.count_mail(kind, "failed");
                    return;
                }
                Err(error) if started.elapsed() + wait > GIVE_UP_AFTER => {
                    tracing::warn!(letter = kind, to_domain = %domain, %error, "mail not sent; giving up");
                    self.metrics.count_mail(kind, "failed");
                    return;
                }
                Err(error) => {
                    tracing::warn!(letter = kind, to_domain = %domain, %error, retry_in = ?wait, "mail not sent; trying again");
                    self.metrics.count_mail(kind, "retried");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_WAIT);
                }
            }
        }
    }
}

impl Postbox for Mailer {
    fn post(&self, letter: Letter) {
        let Ok(slot) = self.0.slots.clone().try_acquire_owned() else {
            tracing::warn!(letter = letter.kind(), "mail queue full; letter dropped");
            self.0.metrics.count_mail(letter.kind(), "dropped");
            return;
        };
        let mailer = self.0.clone();
        tokio::spawn(async move {
            mailer.deliver(letter).await;
            drop(slot);
        });
    }
}

/// Whether a `From:` text is an address mails can carry (`TESSERA_MAIL_FROM`).
pub fn parse_from(text: &str) -> Result<Mailbox, String> {
    text.parse::<Mailbox>()
        .map_err(|e| format!("not an address ({e}); for example \"Acme <login@acme.example>\""))
}
