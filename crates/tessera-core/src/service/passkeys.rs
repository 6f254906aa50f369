//! Passkeys (SPEC §11, WebAuthn Level 3 through `webauthn-rs`): adding one
//! to an account, a passkey as the second step of a sign-in, and signing in
//! with a passkey alone (a discoverable credential with user verification).
//!
//! Each ceremony's state is kept in the database under the hash of its
//! challenge, so any replica can finish what another began and a restart
//! loses nothing; a challenge works once and for 5 minutes. The state is
//! found again from the challenge the authenticator signed, which the
//! browser returns in `clientDataJSON`.

use super::{Caller, ClientInfo, Confirmed, Context, FactorInfo, Tessera};
use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::mfa::{
    FactorKind, amr, new_recovery_codes, normalize_recovery_code, recovery_code_hash,
};
use crate::model::User;
use crate::secret::ExposeSecret;
use crate::settings::Settings;
use crate::store::{Challenge, StoredFactor};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tessera_token::clock::Millis;
use tessera_token::crypto::{b64url_decode, sha256};
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey,
    SecurityKeyAuthentication, SecurityKeyRegistration, Url,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// How long a ceremony's challenge works.
const CEREMONY_TTL_MS: Millis = 5 * 60 * 1000;
/// Adding a passkey.
const REGISTER: &str = "passkey_register";
/// A passkey as the second step of a sign-in.
const SECOND_STEP: &str = "passkey_second_step";
/// Signing in with a passkey alone.
const PASSWORDLESS: &str = "passkey_sign_in";

/// The relying party `settings` describe: the public URL's origin, its host
/// the relying party id. `None` when the host is not a domain name.
pub(super) fn relying_party(settings: &Settings) -> Option<Webauthn> {
    let origin = Url::parse(settings.public_url()).ok()?;
    let host = origin.domain()?.to_owned();
    match WebauthnBuilder::new(&host, &origin)
        .and_then(|b| b.rp_name(&settings.display_name).build())
    {
        Ok(rp) => Some(rp),
        Err(e) => {
            tracing::warn!(error = %e, "passkeys are off: the public URL cannot be a WebAuthn origin");
            None
        }
    }
}

/// The challenge a browser's `credential` answers (from its
/// `clientDataJSON`), as the bytes the options carried.
fn answered_challenge(credential: &Value) -> Option<Vec<u8>> {
    let client_data = credential["response"]["clientDataJSON"].as_str()?;
    let client_data: Value = serde_json::from_slice(&b64url_decode(client_data)?).ok()?;
    b64url_decode(client_data["challenge"].as_str()?)
}

/// A credential the browser sent, as `webauthn-rs` reads it.
fn parse<T: DeserializeOwned>(credential: &Value) -> Result<T> {
    serde_json::from_value(credential.clone())
        .map_err(|_| Error::invalid("/credential", "is not a WebAuthn credential"))
}

/// The stored form of a passkey.
fn stored(passkey: &SecurityKey) -> Result<String> {
    serde_json::to_string(passkey).map_err(|e| Error::Internal(e.to_string()))
}

/// A stored passkey.
fn passkey_of(factor: &StoredFactor) -> Result<SecurityKey> {
    let text = factor
        .credential
        .as_deref()
        .ok_or_else(|| Error::Internal("a passkey without a credential".into()))?;
    serde_json::from_str(text).map_err(|_| Error::Internal("a stored passkey is unreadable".into()))
}

/// Passkeys: adding one, a passkey as the second step, signing in with one alone.
#[derive(Debug, Clone, Copy)]
pub struct Passkeys<'a> {
    pub(super) tessera: &'a Tessera,
}

impl std::ops::Deref for Passkeys<'_> {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.tessera.ctx
    }
}

impl Passkeys<'_> {
    /// Whether passkeys work here (the public URL has a domain name).
    pub fn available(&self) -> bool {
        self.webauthn.is_some()
    }

    /// The relying party, or the refusal that says passkeys are off here.
    fn rp(&self) -> Result<&Webauthn> {
        self.webauthn.as_ref().ok_or_else(|| {
            Error::Forbidden(
                "passkeys need TESSERA_PUBLIC_URL with a domain name (localhost will do)".into(),
            )
        })
    }

    /// Keeps a ceremony's `state` under its `challenge` for 5 minutes.
    async fn keep(
        &self,
        challenge: &[u8],
        purpose: &str,
        user: Option<Uuid>,
        state: &impl Serialize,
    ) -> Result<()> {
        let state = serde_json::to_string(state).map_err(|e| Error::Internal(e.to_string()))?;
        let record = Challenge {
            user_id: user,
            purpose: purpose.to_owned(),
            state: Some(state),
            failures: 0,
            expires_at: self.now().saturating_add(CEREMONY_TTL_MS),
        };
        Ok(self
            .store
            .insert_challenge(&sha256(challenge), &record)
            .await?)
    }

    /// The state of the ceremony `credential` answers, spent now (a
    /// challenge works once), with the user it was for.
    async fn take<T: DeserializeOwned>(
        &self,
        credential: &Value,
        purpose: &str,
    ) -> Result<(T, Option<Uuid>)> {
        let refused = || {
            Error::invalid(
                "/credential",
                "answers no open challenge (they last 5 minutes)",
            )
        };
        let challenge = answered_challenge(credential).ok_or_else(refused)?;
        let hash = sha256(&challenge);
        let now = self.now();
        let found = self
            .store
            .challenge(&hash, purpose, now)
            .await?
            .ok_or_else(refused)?;
        if !self.store.spend_challenge(&hash, now).await? {
            return Err(refused());
        }
        let state = found
            .state
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| Error::Internal("a ceremony's state is unreadable".into()))?;
        Ok((state, found.user_id))
    }

    /// The options of adding a passkey (`POST /me/factors/passkey/options`),
    /// after the current password.
    pub async fn registration_options(
        &self,
        caller: &Caller,
        password: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Value> {
        let rp = self.rp()?;
        let stored_user = self
            .store
            .user_by_id(caller.user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        if let Some(password) = password {
            self.tessera
                .accounts()
                .check_own_password(&stored_user, password, client, caller.user_id)
                .await?;
        }
        let user = stored_user.user;
        let existing: Vec<_> = self
            .store
            .factors_of(user.id)
            .await?
            .iter()
            .filter(|f| f.kind == FactorKind::Passkey)
            .filter_map(|f| passkey_of(f).ok())
            .map(|p| p.cred_id().clone())
            .collect();
        // User verification preferred: a passkey that verified its user
        // when it was made must go on doing so (webauthn-rs holds it to
        // that), and one that could not still serves as a second factor.
        let (options, state) = rp
            .start_securitykey_registration(
                user.id,
                &user.username,
                &user.username,
                Some(existing),
                None,
                None,
            )
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.keep(
            &options.public_key.challenge,
            REGISTER,
            Some(user.id),
            &state,
        )
        .await?;
        let mut options = serde_json::to_value(&options.public_key)
            .map_err(|e| Error::Internal(e.to_string()))?;
        // Any authenticator, not only a security key; discoverable
        // credentials are welcome: they also sign in alone. No credProtect
        // demand: browsers refuse "user verification required" protection
        // alongside user verification preferred, and user verification is
        // held to what the authenticator did at registration anyway.
        if let Some(options) = options.as_object_mut() {
            options.remove("hints");
        }
        if let Some(extensions) = options["extensions"].as_object_mut() {
            extensions.remove("credentialProtectionPolicy");
            extensions.remove("enforceCredentialProtectionPolicy");
        }
        // ES256 and RS256, the two every authenticator and SPEC §11 name.
        if let Some(params) = options["pubKeyCredParams"].as_array_mut() {
            params.retain(|p| matches!(p["alg"].as_i64(), Some(-7 | -257)));
        }
        options["authenticatorSelection"]["residentKey"] = Value::from("preferred");
        options["authenticatorSelection"]["requireResidentKey"] = Value::from(false);
        Ok(options)
    }

    /// Adds the passkey `credential` created from the caller's options
    /// (`POST /me/factors/passkey`); with the first factor come the
    /// recovery codes.
    pub async fn register(
        &self,
        caller: &Caller,
        name: Option<String>,
        credential: &Value,
        client: &ClientInfo,
    ) -> Result<Confirmed> {
        let rp = self.rp()?;
        let name = super::factors::check_name(name, "Passkey")?;
        let registration: RegisterPublicKeyCredential = parse(credential)?;
        let (state, user): (SecurityKeyRegistration, _) = self.take(credential, REGISTER).await?;
        if user != Some(caller.user_id) {
            return Err(Error::invalid(
                "/credential",
                "answers another person's challenge",
            ));
        }
        let passkey = rp
            .finish_securitykey_registration(&registration, &state)
            .map_err(|e| Error::invalid("/credential", format!("was refused: {e}")))?;
        if self
            .store
            .factor_by_credential(passkey.cred_id())
            .await?
            .is_some()
        {
            return Err(Error::invalid("/credential", "is registered already"));
        }
        let now = self.now();
        let factor = StoredFactor {
            id: Uuid::new_v4(),
            user_id: caller.user_id,
            kind: FactorKind::Passkey,
            name,
            secret: None,
            sealed: false,
            credential_id: Some(passkey.cred_id().to_vec()),
            credential: Some(stored(&passkey)?),
            last_step: None,
            confirmed_at: None,
            expires_at: Some(now.saturating_add(CEREMONY_TTL_MS)),
            created_at: now,
            last_used_at: None,
        };
        self.store.insert_factor(&factor, &[]).await?;
        let codes = new_recovery_codes();
        let hashes: Vec<Vec<u8>> = codes
            .iter()
            .filter_map(|c| normalize_recovery_code(c.expose_secret()))
            .map(|c| recovery_code_hash(caller.user_id, &c))
            .collect();
        let entry = self.audit(
            AuditRecord::FactorAdded {
                actor: caller.user_id,
                user: caller.user_id,
                factor: factor.id,
                kind: FactorKind::Passkey,
            },
            client,
        );
        let first = self
            .store
            .confirm_factor(caller.user_id, factor.id, None, now, &hashes, &[entry])
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

    /// The options of a passkey as the second step of the sign-in of
    /// `user` (`POST /auth/login/mfa/options`): user verification preferred.
    pub(super) async fn second_step_options(&self, user: &User) -> Result<Value> {
        let rp = self.rp()?;
        let keys: Vec<SecurityKey> = self
            .store
            .factors_of(user.id)
            .await?
            .iter()
            .filter(|f| f.kind == FactorKind::Passkey)
            .filter_map(|f| passkey_of(f).ok())
            .collect();
        if keys.is_empty() {
            return Err(Error::invalid("/mfa_token", "this person has no passkey"));
        }
        let (options, state) = rp
            .start_securitykey_authentication(&keys)
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.keep(
            &options.public_key.challenge,
            SECOND_STEP,
            Some(user.id),
            &state,
        )
        .await?;
        let mut options = serde_json::to_value(&options.public_key)
            .map_err(|e| Error::Internal(e.to_string()))?;
        if let Some(options) = options.as_object_mut() {
            options.remove("hints");
        }
        Ok(options)
    }

    /// Checks a passkey `credential` as the second step of `user`'s
    /// sign-in; `false` when it is not one of theirs or does not verify.
    pub(super) async fn second_step(&self, user: &User, credential: &Value) -> Result<bool> {
        let rp = self.rp()?;
        let assertion: PublicKeyCredential = parse(credential)?;
        let (state, owner) = match self
            .take::<SecurityKeyAuthentication>(credential, SECOND_STEP)
            .await
        {
            Ok(found) => found,
            Err(_) => return Ok(false),
        };
        if owner != Some(user.id) {
            return Ok(false);
        }
        let Some(factor) = self
            .store
            .factor_by_credential(assertion.get_credential_id())
            .await?
            .filter(|f| f.user_id == user.id)
        else {
            return Ok(false);
        };
        let result = match rp.finish_securitykey_authentication(&assertion, &state) {
            Ok(r) => r,
            Err(_) => return Ok(false),
        };
        let mut passkey = passkey_of(&factor)?;
        passkey.update_credential(&result);
        self.store
            .use_passkey(factor.id, &stored(&passkey)?, self.now())
            .await?;
        Ok(true)
    }

    /// The options of signing in with a passkey alone (`POST
    /// /auth/passkey/options`): any discoverable credential, user
    /// verification required.
    pub async fn sign_in_options(&self) -> Result<Value> {
        let rp = self.rp()?;
        let (options, state) = rp
            .start_discoverable_authentication()
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.keep(&options.public_key.challenge, PASSWORDLESS, None, &state)
            .await?;
        serde_json::to_value(&options.public_key).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Signs in with a passkey alone (`POST /auth/passkey`): the person
    /// whose discoverable credential it is, if it verifies, with user
    /// verification; `amr` `["hwk", "mfa"]`. Every refusal is
    /// `InvalidCredentials`, and is throttled like a wrong password.
    pub async fn sign_in(
        &self,
        credential: &Value,
        client: &ClientInfo,
    ) -> Result<(User, Vec<String>)> {
        let rp = self.rp()?;
        // Anything that is not a passkey's answer signs nobody in, like a
        // wrong password.
        let assertion: PublicKeyCredential =
            parse(credential).map_err(|_| Error::InvalidCredentials)?;
        let (state, _): (DiscoverableAuthentication, _) = self
            .take(credential, PASSWORDLESS)
            .await
            .map_err(|_| Error::InvalidCredentials)?;
        let (user_id, cred_id) = rp
            .identify_discoverable_authentication(&assertion)
            .map_err(|_| Error::InvalidCredentials)?;
        let factor = self
            .store
            .factor_by_credential(cred_id)
            .await?
            .filter(|f| f.user_id == user_id)
            .ok_or(Error::InvalidCredentials)?;
        let user = match self.store.user_by_id(user_id).await? {
            Some(s) if !s.user.disabled => s.user,
            _ => return Err(Error::InvalidCredentials),
        };
        let throttle = self.tessera.throttle();
        throttle.admit_code(user.id).await?;
        let mut passkey = passkey_of(&factor)?;
        let result = match rp.finish_discoverable_authentication_v2(&assertion, state, &passkey) {
            Ok(result) if result.user_verified() => result,
            _ => {
                let entry = self.audit(
                    AuditRecord::SecondFactorFailed {
                        user: user.id,
                        username: user.username.clone(),
                    },
                    client,
                );
                throttle.code_failed(user.id, entry).await?;
                return Err(Error::InvalidCredentials);
            }
        };
        passkey.update_credential(&result);
        self.store
            .use_passkey(factor.id, &stored(&passkey)?, self.now())
            .await?;
        throttle.code_succeeded(user.id).await?;
        // The credential is proven: only now may the answer tell more.
        self.tessera.email().require_verified(&user).await?;
        Ok((
            user,
            vec![amr::HARDWARE_KEY.to_owned(), amr::MFA.to_owned()],
        ))
    }
}
