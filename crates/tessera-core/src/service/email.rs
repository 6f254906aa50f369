//! Email (SPEC §12): verification links for addresses, password-reset
//! links, the mail limits, and the gate that keeps unverified addresses
//! out when the deployment requires them. Letters go to the [`Postbox`]
//! the server attaches; without one, the endpoints that mail are
//! `EmailUnavailable` and operators hand out reset links themselves.

use super::{Caller, ClientInfo, Context, Spare, Tessera};
use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::mail::{Letter, Postbox};
use crate::model::{User, is_valid_email};
use crate::secret::{ExposeSecret, SecretString};
use crate::settings::ms;
use crate::store::{EmailLink, LinkKind, Revocation, Verification};
use std::sync::Arc;
use tessera_token::clock::Millis;
use tessera_token::crypto::{b64url, random_bytes, sha256};

/// How long a verification link works.
pub const VERIFY_LINK_TTL_MS: Millis = 24 * 3_600_000;
/// Verification mails per address per minute.
const VERIFY_MAILS_PER_MINUTE: i64 = 1;
/// Reset mails per address per hour.
const RESET_MAILS_PER_ADDRESS: i64 = 5;
/// Reset mails per client IP per hour.
const RESET_MAILS_PER_IP: i64 = 20;
/// The longest link token worth looking up (ours are 43 characters).
const MAX_TOKEN_CHARS: usize = 128;

const MINUTE_MS: Millis = 60_000;
const HOUR_MS: Millis = 3_600_000;

/// Whose password a reset request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetRequest {
    /// A verified address (ignoring case).
    Email(String),
    /// A username; its account's verified address gets the mail.
    Username(String),
}

/// Email: verification, password reset, and the mail limits.
#[derive(Debug, Clone, Copy)]
pub struct Email<'a> {
    pub(super) tessera: &'a Tessera,
}

impl std::ops::Deref for Email<'_> {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.tessera.ctx
    }
}

/// The address with its case folded, as limits and uniqueness compare it.
fn folded(email: &str) -> String {
    email.to_lowercase().replace('\0', "\u{FFFD}")
}

impl Email<'_> {
    /// Whether mail can be sent (a postbox is attached).
    pub fn available(&self) -> bool {
        self.postbox.get().is_some()
    }

    fn postbox(&self) -> Result<&Arc<dyn Postbox>> {
        self.postbox.get().ok_or(Error::EmailUnavailable)
    }

    /// A new link token and the URL of `page` that carries it.
    fn new_link(&self, page: &str) -> (String, SecretString) {
        let token = b64url(random_bytes::<32>());
        let url = format!(
            "{}/{page}?token={token}",
            self.settings.public_url().trim_end_matches('/')
        );
        (token, SecretString::from(url))
    }

    /// Counts one mail of `key` against a fixed window; whether it may go.
    async fn within(&self, key: &str, window_ms: Millis, max: i64) -> Result<bool> {
        let (count, _) = self
            .store
            .rate_limit_hit(key, self.now(), window_ms)
            .await?;
        Ok(count <= max)
    }

    /// The gate after the credentials and `disabled`: under
    /// `TESSERA_REQUIRE_VERIFIED_EMAIL`, a person whose address is not
    /// verified is refused — and sent a fresh link (within the limit), so
    /// the refusal is also the way forward.
    pub(super) async fn require_verified(&self, user: &User) -> Result<()> {
        if !self.settings.require_verified_email || user.email_verified || user.email_exempt {
            return Ok(());
        }
        if user.email.is_some() && self.available() {
            self.send_verification_or_log(user).await;
        }
        Err(Error::EmailNotVerified)
    }

    /// Mails a verification link to `user`'s address, at most one a minute
    /// per address; does nothing without an address or a postbox.
    pub(super) async fn send_verification(&self, user: &User) -> Result<()> {
        let (Some(to), Some(postbox)) = (&user.email, self.postbox.get()) else {
            return Ok(());
        };
        let key = format!("mail:verify:{}", folded(to));
        if !self
            .within(&key, MINUTE_MS, VERIFY_MAILS_PER_MINUTE)
            .await?
        {
            return Ok(());
        }
        let (token, link) = self.new_link("verify-email");
        let now = self.now();
        let expires_at = now.saturating_add(VERIFY_LINK_TTL_MS);
        let record = EmailLink {
            user_id: user.id,
            kind: LinkKind::Verify,
            email: to.clone(),
            created_at: now,
            expires_at,
        };
        self.store
            .insert_link(&sha256(token.as_bytes()), &record)
            .await?;
        postbox.post(Letter::VerifyEmail {
            to: to.clone(),
            username: user.username.clone(),
            link,
            expires_at,
        });
        Ok(())
    }

    /// Under `TESSERA_REQUIRE_VERIFIED_EMAIL`, a registration must give an
    /// address.
    pub(super) fn check_given(&self, email: &Option<String>) -> Result<()> {
        if self.settings.require_verified_email && email.is_none() {
            return Err(Error::invalid(
                "/email",
                "is required: this server signs in verified addresses only",
            ));
        }
        Ok(())
    }

    /// Mails the link that verifies a new account's address. The account
    /// exists whatever happens to the mail: a failure is logged, and the
    /// person can ask for the link again.
    pub(super) async fn send_verification_or_log(&self, user: &User) {
        if let Err(e) = self.send_verification(user).await {
            tracing::warn!(error = %e, "could not send the verification mail");
        }
    }

    /// A change of `before`'s address to `new` by `actor`: a person changing
    /// their own gives their password; an address another account has
    /// verified is taken.
    pub(super) async fn check_change(
        &self,
        actor: &Caller,
        before: &User,
        new: &Option<String>,
        current_password: Option<SecretString>,
        client: &ClientInfo,
    ) -> Result<()> {
        if actor.user_id == before.id {
            let password = current_password.ok_or_else(|| {
                Error::invalid(
                    "/current_password",
                    "is required to change the email address",
                )
            })?;
            let stored = self
                .store
                .user_by_id(before.id)
                .await?
                .ok_or(Error::UserNotFound)?;
            self.tessera
                .accounts()
                .check_password_of(&stored, password.expose_secret(), client, || {
                    AuditRecord::EmailChangeRefused {
                        actor: actor.user_id,
                        user: before.id,
                    }
                })
                .await?;
        }
        if let Some(address) = new
            && self
                .store
                .email_verified_elsewhere(address, Some(before.id))
                .await?
        {
            return Err(Error::EmailTaken);
        }
        Ok(())
    }

    /// After an address changed: the link to the new one, and the notice
    /// to the old one.
    pub(super) async fn address_changed(&self, before: &User, after: &User) -> Result<()> {
        let Some(postbox) = self.postbox.get() else {
            return Ok(());
        };
        if let Some(old) = &before.email {
            postbox.post(Letter::EmailChanged {
                to: old.clone(),
                username: after.username.clone(),
                new_address: after.email.clone(),
            });
        }
        self.send_verification(after).await
    }

    /// `POST /me/email/verify`: sends the caller's verification link again
    /// (at most one mail a minute per address; past that, nothing is sent
    /// and the answer is the same).
    pub async fn resend_verification(&self, caller: &Caller) -> Result<()> {
        self.postbox()?;
        let user = self.tessera.accounts().user_by_id(caller.user_id).await?;
        if user.email.is_none() {
            return Err(Error::invalid("/email", "the account has no email address"));
        }
        if user.email_verified {
            return Ok(());
        }
        self.send_verification(&user).await
    }

    /// Follows a verification link: the account, its address now verified.
    pub async fn verify(&self, token: &str, client: &ClientInfo) -> Result<User> {
        if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
            return Err(Error::InvalidLink);
        }
        let hash = sha256(token.as_bytes());
        let Some(link) = self.store.link(&hash, LinkKind::Verify, self.now()).await? else {
            return Err(Error::InvalidLink);
        };
        let entry = self.audit(AuditRecord::EmailVerified { user: link.user_id }, client);
        let verified = self
            .store
            .verify_with_link(&hash, self.now(), &[entry])
            .await?;
        self.events_written();
        match verified {
            Verification::Verified(user) => Ok(user),
            Verification::Invalid => Err(Error::InvalidLink),
            Verification::Taken => Err(Error::EmailTaken),
        }
    }

    /// Checks that a reset can be mailed at all (a postbox is attached):
    /// the request itself is [`Email::request_reset`], run off the request
    /// so every answer takes the same time.
    pub fn check_reset_available(&self) -> Result<()> {
        self.postbox().map(|_| ())
    }

    /// `POST /auth/password-reset`: mails a reset link to the verified
    /// address `request` names, within the limits; for an unknown address,
    /// an account without a verified one, a disabled account or past a
    /// limit, nothing — and the caller learns none of it.
    pub async fn request_reset(&self, request: ResetRequest, client: &ClientInfo) -> Result<()> {
        let postbox = self.postbox()?;
        let stored = match &request {
            ResetRequest::Email(email) if is_valid_email(email) => {
                self.store.user_by_verified_email(email).await?
            }
            ResetRequest::Email(_) => None,
            ResetRequest::Username(name) => self.store.user_by_username(name).await?,
        };
        let Some(user) = stored.map(|s| s.user) else {
            return Ok(());
        };
        let to = match &user.email {
            Some(to) if user.email_verified && !user.disabled => to.clone(),
            _ => return Ok(()),
        };
        let key = format!("mail:reset:{}", folded(&to));
        if !self.within(&key, HOUR_MS, RESET_MAILS_PER_ADDRESS).await? {
            return Ok(());
        }
        if let Some(ip) = &client.ip
            && !self
                .within(&format!("mail:reset:ip:{ip}"), HOUR_MS, RESET_MAILS_PER_IP)
                .await?
        {
            return Ok(());
        }
        let (link, expires_at) = self.reset_link_for(&user, &to, false, client).await?;
        postbox.post(Letter::ResetPassword {
            to,
            username: user.username,
            link,
            expires_at,
        });
        Ok(())
    }

    /// `tessera user reset-link`: a reset link for an operator to hand
    /// over, whatever the account's address; voids the older ones.
    pub async fn operator_reset_link(&self, username: &str) -> Result<(SecretString, Millis)> {
        let user = self.tessera.accounts().user(username).await?;
        if user.disabled {
            return Err(Error::Forbidden(
                "the account is disabled; enable it first".into(),
            ));
        }
        let to = user.email.clone().unwrap_or_default();
        self.reset_link_for(&user, &to, true, &ClientInfo::default())
            .await
    }

    /// Stores a new reset link for `user` (voiding older ones): its URL and
    /// when it expires.
    async fn reset_link_for(
        &self,
        user: &User,
        to: &str,
        by_operator: bool,
        client: &ClientInfo,
    ) -> Result<(SecretString, Millis)> {
        let (token, link) = self.new_link("reset-password");
        let now = self.now();
        let expires_at = now.saturating_add(ms(self.settings.reset_ttl));
        let record = EmailLink {
            user_id: user.id,
            kind: LinkKind::Reset,
            email: to.to_owned(),
            created_at: now,
            expires_at,
        };
        self.store
            .insert_link(&sha256(token.as_bytes()), &record)
            .await?;
        let entry = self.audit(
            AuditRecord::ResetLinkIssued {
                user: user.id,
                by_operator,
            },
            client,
        );
        self.audit_alone(entry).await?;
        Ok((link, expires_at))
    }

    /// Whether `token` is a live reset link (the page checks before it
    /// shows the form).
    pub async fn reset_link_is_live(&self, token: &str) -> Result<bool> {
        if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
            return Ok(false);
        }
        Ok(self
            .store
            .link(&sha256(token.as_bytes()), LinkKind::Reset, self.now())
            .await?
            .is_some())
    }

    /// `POST /auth/password-reset/confirm`: sets a new password with a
    /// live reset link and ends every session of the person; their second
    /// factors stay. A password the policy refuses leaves the link live.
    pub async fn confirm_reset(
        &self,
        token: &str,
        new_password: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
            return Err(Error::InvalidLink);
        }
        let hash = sha256(token.as_bytes());
        let link = self
            .store
            .link(&hash, LinkKind::Reset, self.now())
            .await?
            .ok_or(Error::InvalidLink)?;
        let user = self.tessera.accounts().user_by_id(link.user_id).await?;
        if user.disabled {
            return Err(Error::InvalidLink);
        }
        self.password_policy()
            .check(&user.username, new_password)
            .map_err(|p| Error::password("/new_password", p))?;
        let password_hash = self.hasher.hash(SecretString::from(new_password)).await?;
        let revoke = self.session_revocation(Spare::NOTHING);
        let entry = self.audit(AuditRecord::PasswordReset { user: user.id }, client);
        let (_, revoked) = self
            .store
            .reset_with_link(&hash, password_hash.expose_secret(), &revoke, &[entry])
            .await?
            .ok_or(Error::InvalidLink)?;
        self.events_written();
        for s in revoked {
            self.revocations
                .apply(&Revocation::session(s.id, revoke.until));
        }
        Ok(())
    }
}
