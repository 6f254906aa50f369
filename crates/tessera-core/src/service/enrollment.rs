//! Second factors under the `TESSERA_MFA` policy: the `enrollment_token`
//! a person the policy covers gets instead of tokens, setting up their
//! first factor with it, and ending the sessions the policy no longer
//! allows.

use super::factors::Confirmed;
use super::{Caller, ClientInfo, Factors, TotpEnrolment};
use crate::error::{Error, Result};
use crate::mfa::EnrollmentChallenge;
use crate::model::User;
use crate::store::Challenge;
use tessera_token::clock::Millis;
use tessera_token::crypto::{b64url, b64url_decode, random_bytes, sha256};
use uuid::Uuid;

/// The challenge purpose of a sign-in waiting for the person to set up the
/// second factor the policy demands.
const ENROLLMENT_PURPOSE: &str = "enrollment";
/// How long an `enrollment_token` lives.
const ENROLLMENT_TOKEN_TTL_MS: Millis = 10 * 60 * 1000;

impl Factors<'_> {
    /// A new `enrollment_token` for `user_id`.
    pub(super) async fn enrollment_challenge(&self, user_id: Uuid) -> Result<EnrollmentChallenge> {
        let token = b64url(random_bytes::<32>());
        let challenge = Challenge {
            user_id: Some(user_id),
            purpose: ENROLLMENT_PURPOSE.to_owned(),
            state: None,
            failures: 0,
            expires_at: self.now().saturating_add(ENROLLMENT_TOKEN_TTL_MS),
        };
        self.store
            .insert_challenge(&sha256(token.as_bytes()), &challenge)
            .await?;
        Ok(EnrollmentChallenge {
            enrollment_token: token.into(),
        })
    }

    /// The person an unspent `enrollment_token` belongs to, as a caller of
    /// the `/me/factors…` endpoints; `None` when it is not one.
    pub async fn enrollment_caller(&self, token: &str) -> Result<Option<Caller>> {
        Ok(self.enrolling_user(token).await?.map(|user| Caller {
            user_id: user.id,
            session_id: None,
            browser_session_id: None,
            is_admin: false,
        }))
    }

    /// The enabled person of an unspent `enrollment_token`.
    async fn enrolling_user(&self, token: &str) -> Result<Option<User>> {
        if b64url_decode(token).is_none_or(|raw| raw.len() != 32) {
            return Ok(None);
        }
        let found = self
            .store
            .challenge(&sha256(token.as_bytes()), ENROLLMENT_PURPOSE, self.now())
            .await?;
        let Some(user_id) = found.and_then(|c| c.user_id) else {
            return Ok(None);
        };
        Ok(match self.store.user_by_id(user_id).await? {
            Some(s) if !s.user.disabled => Some(s.user),
            _ => None,
        })
    }

    /// Starts a TOTP enrolment for the person of `enrollment_token` on the
    /// hosted pages: the password was given a moment ago, in the step that
    /// minted the token, so it is not asked again.
    pub async fn begin_totp_enrolling(&self, enrollment_token: &str) -> Result<TotpEnrolment> {
        let user = self
            .enrolling_user(enrollment_token)
            .await?
            .ok_or(Error::InvalidMfaToken)?;
        self.insert_totp(&user, "Authenticator app".to_owned())
            .await
    }

    /// Confirms the first factor of the person of `enrollment_token`, which
    /// it spends: the sign-in is complete. The person, the factor and its
    /// recovery codes.
    pub async fn confirm_totp_enrolling(
        &self,
        enrollment_token: &str,
        id: Uuid,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(User, Confirmed)> {
        let user = self
            .enrolling_user(enrollment_token)
            .await?
            .ok_or(Error::InvalidMfaToken)?;
        let caller = Caller {
            user_id: user.id,
            session_id: None,
            browser_session_id: None,
            is_admin: false,
        };
        let confirmed = self.confirm_totp(&caller, id, code, client).await?;
        self.spend_enrollment(enrollment_token).await?;
        Ok((user, confirmed))
    }

    /// Spends an `enrollment_token` once its first factor is in place.
    pub async fn spend_enrollment(&self, enrollment_token: &str) -> Result<()> {
        let hash = sha256(enrollment_token.as_bytes());
        if !self.store.spend_challenge(&hash, self.now()).await? {
            return Err(Error::InvalidMfaToken);
        }
        Ok(())
    }

    /// Applies the policy to live sessions: those of the people it covers
    /// (`user` alone, or everyone) that were signed in without a second
    /// factor end, browser sessions included.
    pub async fn enforce_policy(&self, user: Option<Uuid>) -> Result<()> {
        let policy = self.settings.mfa_policy;
        if policy == crate::settings::MfaPolicy::Optional {
            return Ok(());
        }
        let now = self.now();
        let until = self.revocation_horizon(now);
        let everyone = policy == crate::settings::MfaPolicy::Everyone;
        let revoked = self
            .store
            .revoke_sessions_without_mfa(user, everyone, now, until)
            .await?;
        self.events_written();
        for s in &revoked {
            self.revocations
                .apply(&crate::store::Revocation::session(s.id, until));
        }
        if !revoked.is_empty() {
            tracing::info!(
                sessions = revoked.len(),
                policy = policy.as_str(),
                "sessions signed in without a second factor ended"
            );
        }
        Ok(())
    }
}
