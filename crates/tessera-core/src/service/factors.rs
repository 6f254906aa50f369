//! Second factors (SPEC §11): a person's TOTP factors and recovery codes,
//! enrolment and removal, an administrator's reset, and the second step of
//! signing in — the `mfa_token` a correct password earns and the code that
//! redeems it.

use super::{Caller, ClientInfo, Context, Tessera};
use crate::audit::AuditRecord;
use crate::crypto::{open, seal};
use crate::error::{Error, Result};
pub use crate::mfa::{EnrollmentChallenge, MfaChallenge};
use crate::mfa::{
    FactorKind, TotpSecret, amr, new_recovery_codes, normalize_recovery_code, recovery_code_hash,
    totp_step_matching,
};
use crate::model::{StoredUser, User};
use crate::secret::{ExposeSecret, SecretString};
use crate::store::{Challenge, StoredFactor};
use tessera_token::clock::Millis;
use tessera_token::crypto::{b64url, b64url_decode, random_bytes, sha256};
use uuid::Uuid;

/// How long an unconfirmed TOTP factor waits for its first code.
const ENROLMENT_TTL_MS: Millis = 10 * 60 * 1000;
/// How long an `mfa_token` lives.
const MFA_TOKEN_TTL_MS: Millis = 5 * 60 * 1000;
/// Wrong codes that spend an `mfa_token`.
const MFA_TOKEN_MAX_FAILURES: i64 = 5;
/// The longest factor name, in characters.
const MAX_FACTOR_NAME_CHARS: usize = 64;
/// The challenge purpose of a sign-in waiting for its second factor.
const LOGIN_PURPOSE: &str = "login";

/// Domain separation for sealing TOTP secrets under the master key.
const TOTP_SEAL_CONTEXT: &[u8] = b"tessera totp secret v1";

/// A factor as its owner and administrators see it (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorInfo {
    /// Its id.
    pub id: Uuid,
    /// TOTP or passkey.
    pub kind: FactorKind,
    /// Its name.
    pub name: String,
    /// When it was added.
    pub created_at: Millis,
    /// When it last signed the person in.
    pub last_used_at: Option<Millis>,
}

impl From<&StoredFactor> for FactorInfo {
    fn from(f: &StoredFactor) -> Self {
        FactorInfo {
            id: f.id,
            kind: f.kind,
            name: f.name.clone(),
            created_at: f.created_at,
            last_used_at: f.last_used_at,
        }
    }
}

/// A person's factors and how many recovery codes they have left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorList {
    /// Confirmed factors, oldest first.
    pub factors: Vec<FactorInfo>,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

/// A TOTP factor waiting for its first code.
#[derive(Debug)]
pub struct TotpEnrolment {
    /// The factor (not active yet).
    pub factor: FactorInfo,
    /// Its secret and `otpauth://` URI, shown once.
    pub secret: TotpSecret,
}

/// A factor just made active.
#[derive(Debug)]
pub struct Confirmed {
    /// The factor.
    pub factor: FactorInfo,
    /// With the first factor: the recovery codes, shown once.
    pub recovery_codes: Option<Vec<SecretString>>,
}

/// What a person offers as the second step of a sign-in.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// A TOTP code or a recovery code.
    Code(&'a str),
    /// A passkey's answer to the options of `POST /auth/login/mfa/options`
    /// (`AuthenticationResponseJSON`).
    Passkey(&'a serde_json::Value),
}

/// Second factors: enrolment, removal, recovery codes, the second step of signing in.
#[derive(Debug, Clone, Copy)]
pub struct Factors<'a> {
    pub(super) tessera: &'a Tessera,
}

impl std::ops::Deref for Factors<'_> {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.tessera.ctx
    }
}

pub(super) fn check_name(name: Option<String>, default: &str) -> Result<String> {
    let name = name.map(|n| n.trim().to_owned()).unwrap_or_default();
    if name.contains('\0') || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "/name",
            "must not contain control characters",
        ));
    }
    if name.chars().count() > MAX_FACTOR_NAME_CHARS {
        return Err(Error::invalid(
            "/name",
            format!("longer than {MAX_FACTOR_NAME_CHARS} characters"),
        ));
    }
    Ok(if name.is_empty() {
        default.to_owned()
    } else {
        name
    })
}

impl Factors<'_> {
    /// A person's confirmed factors and recovery codes left.
    pub async fn list(&self, user_id: Uuid) -> Result<FactorList> {
        let factors = self.store.factors_of(user_id).await?;
        Ok(FactorList {
            factors: factors.iter().map(FactorInfo::from).collect(),
            recovery_codes_left: self.store.recovery_codes_left(user_id).await?,
        })
    }

    /// Whether a person has a confirmed factor.
    pub async fn has_factor(&self, user_id: Uuid) -> Result<bool> {
        Ok(!self.store.factors_of(user_id).await?.is_empty())
    }

    /// Which of `user_ids` have a confirmed factor (for the console's lists).
    pub async fn users_with_factors(&self, user_ids: &[Uuid]) -> Result<Vec<Uuid>> {
        Ok(self.store.users_with_factors(user_ids).await?)
    }

    /// The caller's account, after checking that `password` is theirs.
    async fn confirm_password(
        &self,
        caller: &Caller,
        password: &str,
        client: &ClientInfo,
    ) -> Result<StoredUser> {
        let stored = self
            .store
            .user_by_id(caller.user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        self.tessera
            .accounts()
            .check_own_password(&stored, password, client, caller.user_id)
            .await?;
        Ok(stored)
    }

    /// Starts a TOTP enrolment (SPEC §11 `POST /me/factors/totp`): a new
    /// secret and URI, active once a code from it is confirmed within 10
    /// minutes.
    pub async fn begin_totp(
        &self,
        caller: &Caller,
        password: &str,
        name: Option<String>,
        client: &ClientInfo,
    ) -> Result<TotpEnrolment> {
        let name = check_name(name, "Authenticator app")?;
        let stored = self.confirm_password(caller, password, client).await?;
        self.insert_totp(&stored.user, name).await
    }

    /// A new unconfirmed TOTP factor named `name` for `user`.
    pub(super) async fn insert_totp(&self, user: &User, name: String) -> Result<TotpEnrolment> {
        let now = self.now();
        let secret = TotpSecret::generate(&self.settings.display_name, &user.username);
        let (kept, sealed) = match &self.settings.master_key {
            Some(master) => (seal(&master.0, TOTP_SEAL_CONTEXT, &secret.bytes), true),
            None => (secret.bytes.clone(), false),
        };
        let factor = StoredFactor {
            id: Uuid::new_v4(),
            user_id: user.id,
            kind: FactorKind::Totp,
            name,
            secret: Some(kept),
            sealed,
            credential_id: None,
            credential: None,
            last_step: None,
            confirmed_at: None,
            expires_at: Some(now.saturating_add(ENROLMENT_TTL_MS)),
            created_at: now,
            last_used_at: None,
        };
        self.store.insert_factor(&factor, &[]).await?;
        Ok(TotpEnrolment {
            factor: FactorInfo::from(&factor),
            secret,
        })
    }

    /// Confirms a TOTP enrolment with a code from the app; with the first
    /// factor come the recovery codes. A wrong code is `InvalidCode`.
    pub async fn confirm_totp(
        &self,
        caller: &Caller,
        id: Uuid,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Confirmed> {
        let now = self.now();
        let factor = self
            .store
            .factor_of(caller.user_id, id, now)
            .await?
            .filter(|f| f.kind == FactorKind::Totp && f.confirmed_at.is_none())
            .ok_or(Error::NotFound)?;
        let secret = self.totp_secret(&factor)?;
        let step = totp_step_matching(&secret, code, now, factor.last_step)
            .ok_or(Error::InvalidCode { signing_in: false })?;
        let codes = new_recovery_codes();
        let hashes = hashes_of(caller.user_id, &codes);
        let entry = self.audit(
            AuditRecord::FactorAdded {
                actor: caller.user_id,
                user: caller.user_id,
                factor: factor.id,
                kind: factor.kind,
            },
            client,
        );
        let first = self
            .store
            .confirm_factor(caller.user_id, id, Some(step), now, &hashes, &[entry])
            .await?
            .ok_or(Error::NotFound)?;
        self.events_written();
        let confirmed = StoredFactor {
            confirmed_at: Some(now),
            last_used_at: Some(now),
            ..factor
        };
        Ok(Confirmed {
            factor: FactorInfo::from(&confirmed),
            recovery_codes: first.then_some(codes),
        })
    }

    /// Removes one of the caller's factors (SPEC §11 `POST
    /// /me/factors/{id}/remove`); the last one takes the recovery codes with it.
    pub async fn remove(
        &self,
        caller: &Caller,
        id: Uuid,
        password: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let stored = self.confirm_password(caller, password, client).await?;
        let now = self.now();
        let factor = self
            .store
            .factor_of(caller.user_id, id, now)
            .await?
            .ok_or(Error::NotFound)?;
        if factor.confirmed_at.is_some()
            && self.settings.mfa_policy.covers(&stored.user.roles)
            && self.store.factors_of(caller.user_id).await?.len() <= 1
        {
            return Err(Error::LastFactor);
        }
        let entry = self.audit(
            AuditRecord::FactorRemoved {
                actor: Some(caller.user_id),
                user: caller.user_id,
                factor: factor.id,
            },
            client,
        );
        // An unfinished enrolment leaves no trace in the audit log.
        let audit = if factor.confirmed_at.is_some() {
            vec![entry]
        } else {
            Vec::new()
        };
        if !self.store.remove_factor(caller.user_id, id, &audit).await? {
            return Err(Error::NotFound);
        }
        self.events_written();
        Ok(())
    }

    /// A new set of recovery codes for the caller (the old set stops
    /// working); only for a person with a factor.
    pub async fn regenerate_recovery_codes(
        &self,
        caller: &Caller,
        password: &str,
        client: &ClientInfo,
    ) -> Result<Vec<SecretString>> {
        self.confirm_password(caller, password, client).await?;
        if !self.has_factor(caller.user_id).await? {
            return Err(Error::Forbidden(
                "recovery codes come with a second factor; add one first".into(),
            ));
        }
        let codes = new_recovery_codes();
        let entry = self.audit(
            AuditRecord::RecoveryCodesRegenerated {
                user: caller.user_id,
            },
            client,
        );
        self.store
            .replace_recovery_codes(caller.user_id, &hashes_of(caller.user_id, &codes), &[entry])
            .await?;
        Ok(codes)
    }

    /// Removes every factor and recovery code of `username` (an
    /// administrator's `DELETE /users/{username}/factors`, or the command
    /// line with no actor); one `factor.removed` event per factor. The
    /// number of factors removed.
    pub async fn reset(
        &self,
        actor: Option<&Caller>,
        username: &str,
        client: &ClientInfo,
    ) -> Result<usize> {
        if actor.is_some_and(|a| !a.is_admin) {
            return Err(Error::Forbidden(
                "only an admin may reset second factors".into(),
            ));
        }
        let user = self
            .store
            .user_by_username(username)
            .await?
            .ok_or(Error::UserNotFound)?
            .user;
        let factors = self.store.factors_of(user.id).await?;
        let audit: Vec<_> = factors
            .iter()
            .map(|f| {
                self.audit(
                    AuditRecord::FactorRemoved {
                        actor: Some(actor.map_or(Uuid::nil(), |a| a.user_id)),
                        user: user.id,
                        factor: f.id,
                    },
                    client,
                )
            })
            .collect();
        self.store.remove_all_factors(user.id, &audit).await?;
        self.events_written();
        Ok(factors.len())
    }

    /// After a correct password: `Ok(())` when the person has no factor,
    /// otherwise the `MfaRequired` refusal that carries a new `mfa_token`.
    pub(super) async fn require_second_step(&self, user: &User) -> Result<()> {
        let factors = self.store.factors_of(user.id).await?;
        if factors.is_empty() {
            if self.settings.mfa_policy.covers(&user.roles) {
                return Err(Error::MfaEnrollmentRequired(
                    self.enrollment_challenge(user.id).await?,
                ));
            }
            return Ok(());
        }
        let token = b64url(random_bytes::<32>());
        let challenge = Challenge {
            user_id: Some(user.id),
            purpose: LOGIN_PURPOSE.to_owned(),
            state: None,
            failures: 0,
            expires_at: self.now().saturating_add(MFA_TOKEN_TTL_MS),
        };
        self.store
            .insert_challenge(&sha256(token.as_bytes()), &challenge)
            .await?;
        let mut kinds: Vec<&'static str> = Vec::new();
        for f in &factors {
            if !kinds.contains(&f.kind.as_str()) {
                kinds.push(f.kind.as_str());
            }
        }
        if self.store.recovery_codes_left(user.id).await? > 0 {
            kinds.push("recovery_code");
        }
        Err(Error::MfaRequired(MfaChallenge {
            mfa_token: token.into(),
            factors: kinds,
        }))
    }

    /// The second step of a sign-in: the person of `mfa_token`, if `code`
    /// (a TOTP code or a recovery code) is theirs, and the `amr` the
    /// sign-in earned. Wrong codes count against the token (5 spend it) and
    /// against the person (doubling waits past 5, cleared only by a
    /// completed sign-in).
    pub async fn complete_sign_in(
        &self,
        mfa_token: &str,
        proof: Proof<'_>,
        client: &ClientInfo,
    ) -> Result<(User, Vec<String>)> {
        let now = self.now();
        let (hash, user) = self.signing_in(mfa_token).await?;
        let throttle = self.tessera.throttle();
        throttle.admit_code(user.id).await?;
        let checked = match proof {
            Proof::Code(code) => self.check_code(&user, code, now).await?,
            Proof::Passkey(credential) => self
                .tessera
                .passkeys()
                .second_step(&user, credential)
                .await?
                .then(|| amr::password_and(Some(amr::HARDWARE_KEY))),
        };
        let Some(amr) = checked else {
            let entry = self.audit(
                AuditRecord::SecondFactorFailed {
                    user: user.id,
                    username: user.username.clone(),
                },
                client,
            );
            self.store
                .challenge_failed(&hash, MFA_TOKEN_MAX_FAILURES, now)
                .await?;
            throttle.code_failed(user.id, entry).await?;
            return Err(Error::InvalidCode { signing_in: true });
        };
        if !self.store.spend_challenge(&hash, now).await? {
            return Err(Error::InvalidMfaToken);
        }
        throttle.code_succeeded(user.id).await?;
        Ok((user, amr))
    }

    /// The options of a passkey as the second step of the sign-in
    /// `mfa_token` names (`POST /auth/login/mfa/options`).
    pub async fn passkey_options(&self, mfa_token: &str) -> Result<serde_json::Value> {
        let (_, user) = self.signing_in(mfa_token).await?;
        self.tessera.passkeys().second_step_options(&user).await
    }

    /// The hash of a live `mfa_token` and its enabled person.
    async fn signing_in(&self, mfa_token: &str) -> Result<([u8; 32], User)> {
        let hash = match b64url_decode(mfa_token) {
            Some(raw) if raw.len() == 32 => sha256(mfa_token.as_bytes()),
            _ => return Err(Error::InvalidMfaToken),
        };
        let challenge = self
            .store
            .challenge(&hash, LOGIN_PURPOSE, self.now())
            .await?
            .ok_or(Error::InvalidMfaToken)?;
        let user_id = challenge.user_id.ok_or(Error::InvalidMfaToken)?;
        match self.store.user_by_id(user_id).await? {
            Some(s) if !s.user.disabled => Ok((hash, s.user)),
            _ => Err(Error::InvalidMfaToken),
        }
    }

    /// The `amr` a code earns, if it is one of the person's: a TOTP code of a
    /// step none of their factors accepted before, or an unused recovery code.
    async fn check_code(
        &self,
        user: &User,
        code: &str,
        now: Millis,
    ) -> Result<Option<Vec<String>>> {
        for factor in self.store.factors_of(user.id).await? {
            if factor.kind != FactorKind::Totp {
                continue;
            }
            let secret = self.totp_secret(&factor)?;
            if let Some(step) = totp_step_matching(&secret, code, now, factor.last_step)
                && self.store.use_totp_step(factor.id, step, now).await?
            {
                return Ok(Some(amr::password_and(Some(amr::OTP))));
            }
        }
        if let Some(canonical) = normalize_recovery_code(code)
            && self
                .store
                .use_recovery_code(user.id, &recovery_code_hash(user.id, &canonical), now)
                .await?
        {
            return Ok(Some(amr::password_and(None)));
        }
        Ok(None)
    }

    /// With a master key, seals the TOTP secrets stored in the clear (set up
    /// before the key was): a deployment moves to encrypted secrets by
    /// setting `TESSERA_MASTER_KEY` and restarting.
    pub(super) async fn protect_stored_secrets(&self) -> Result<()> {
        let Some(master) = &self.settings.master_key else {
            return Ok(());
        };
        let mut sealed = 0;
        for (id, secret) in self.store.unsealed_secrets().await? {
            let kept = seal(&master.0, TOTP_SEAL_CONTEXT, &secret);
            if self.store.seal_secret(id, &kept).await? {
                sealed += 1;
            }
        }
        if sealed > 0 {
            tracing::info!(factors = sealed, "TOTP secrets sealed under the master key");
        }
        Ok(())
    }

    /// A TOTP factor's secret, opened with the master key when sealed.
    fn totp_secret(&self, factor: &StoredFactor) -> Result<Vec<u8>> {
        let stored = factor
            .secret
            .as_deref()
            .ok_or_else(|| Error::Internal("a TOTP factor without a secret".into()))?;
        if !factor.sealed {
            return Ok(stored.to_vec());
        }
        let master = self.settings.master_key.as_ref().ok_or_else(|| {
            Error::Config("TOTP secrets are encrypted; TESSERA_MASTER_KEY is required".into())
        })?;
        open(&master.0, TOTP_SEAL_CONTEXT, stored).ok_or_else(|| {
            Error::Config("TESSERA_MASTER_KEY does not open the stored TOTP secrets".into())
        })
    }
}

/// The stored hashes of `codes`, for `user_id`.
fn hashes_of(user_id: Uuid, codes: &[SecretString]) -> Vec<Vec<u8>> {
    codes
        .iter()
        .filter_map(|c| normalize_recovery_code(c.expose_secret()))
        .map(|c| recovery_code_hash(user_id, &c))
        .collect()
}
