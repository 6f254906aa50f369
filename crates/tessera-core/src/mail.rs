//! What Tessera mails (SPEC §12), as the domain decides it: the letters,
//! each with its link and expiry, and the [`Postbox`] they are posted to.
//! Rendering and sending them (templates, SMTP, the queue) is the server's.

use crate::secret::SecretString;
use tessera_token::clock::Millis;

/// A mail to send. Links carry a single-use token: [`SecretString`], so no
/// `Debug` or log line shows one.
#[derive(Debug, Clone)]
pub enum Letter {
    /// "Confirm your address": the link that verifies it.
    VerifyEmail {
        /// The address to prove (and to send to).
        to: String,
        /// Whose account it is.
        username: String,
        /// `…/verify-email?token=…`.
        link: SecretString,
        /// When the link stops working.
        expires_at: Millis,
    },
    /// "Reset your password": the link to the form.
    ResetPassword {
        /// The verified address of the account.
        to: String,
        /// Whose account it is.
        username: String,
        /// `…/reset-password?token=…`.
        link: SecretString,
        /// When the link stops working.
        expires_at: Millis,
    },
    /// "Your address was changed": the notice to the old address.
    EmailChanged {
        /// The address the account had.
        to: String,
        /// Whose account it is.
        username: String,
        /// The new address, or `None` when it was removed.
        new_address: Option<String>,
    },
}

impl Letter {
    /// The recipient.
    pub fn to(&self) -> &str {
        match self {
            Letter::VerifyEmail { to, .. }
            | Letter::ResetPassword { to, .. }
            | Letter::EmailChanged { to, .. } => to,
        }
    }

    /// The kind of letter, as metrics and logs name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Letter::VerifyEmail { .. } => "verify_email",
            Letter::ResetPassword { .. } => "reset_password",
            Letter::EmailChanged { .. } => "email_changed",
        }
    }
}

/// Where letters go: a queue that sends them in the background. Posting
/// never waits for a mail server; a letter that cannot be queued is the
/// postbox's to log and count.
pub trait Postbox: Send + Sync + std::fmt::Debug {
    /// Queues `letter` for sending.
    fn post(&self, letter: Letter);
}
