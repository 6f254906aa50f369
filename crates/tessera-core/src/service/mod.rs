//! [`Tessera`]: every operation the API and the CLI offer, one service per
//! feature over one shared [`Context`].
//!
//! # Layout
//!
//! - [`Accounts`] (`accounts.rs`): registration, profiles, roles, deletion;
//!   `passwords.rs`: checking and changing passwords; `profiles.rs`: profile,
//!   role and status changes.
//! - [`Sessions`] (`sessions.rs`): login, refresh-token rotation, logout,
//!   issuing and verifying access tokens, a person's sessions.
//! - [`Keys`] (`keys.rs`): the access-token and ID-token key rings, rotation, JWKS.
//! - [`Clients`] (`clients.rs`): registering and authenticating OAuth clients.
//! - [`Grants`] (`grants.rs`, `token_endpoints.rs`): the token endpoint's
//!   grants and ID tokens; userinfo, revocation (RFC 7009), introspection (RFC 7662).
//! - [`Sso`] (`sso.rs`): authorization requests, browser sessions, codes, RP-initiated logout.
//! - [`Factors`] (`factors.rs`): second factors, recovery codes and the
//!   second step of signing in; `enrollment.rs`: enrolment under the
//!   `TESSERA_MFA` policy.
//! - [`Passkeys`] (`passkeys.rs`): WebAuthn ceremonies — adding a passkey,
//!   a passkey as the second step, and signing in with a passkey alone.
//! - [`Email`] (`email.rs`): verification and password-reset links, the
//!   mail limits, and the verified-address gate of signing in.
//! - [`Throttle`] (`throttle.rs`): login throttling and the registration rate.
//! - [`Events`] (`events.rs`): the event hub and the stream's history.
//! - [`Context`] (`context.rs`): what they share.
//!
//! A service is a view of the one [`Tessera`]: `tessera.accounts()` costs
//! nothing, and a service that needs another asks for it the same way, so
//! each dependency between features is written where it is used.

mod accounts;
mod authorize;
mod clients;
mod context;
mod email;
mod enrollment;
mod events;
mod factors;
mod grants;
mod keys;
mod overview;
mod passkeys;
mod passwords;
mod profiles;
mod refresh;
mod sessions;
mod sso;
mod throttle;
mod token_endpoints;

pub use accounts::{Accounts, NewAccount, Page, ProfileChanges, Registration};
pub use authorize::{AuthorizationRequest, AuthorizeError, Prompt, ValidAuthorization};
pub use clients::{ClientAuthentication, ClientUpdate, Clients, NewClient};
pub use context::Context;
use context::Spare;
pub use email::{Email, ResetRequest, VERIFY_LINK_TTL_MS};
pub use events::{EventHub, Events, SUBSCRIBER_QUEUE};
pub use factors::{
    Confirmed, EnrollmentChallenge, FactorInfo, FactorList, Factors, MfaChallenge, Proof,
    TotpEnrolment,
};
pub use grants::{Grants, ID_TOKEN_TYP, OAuthTokens};
pub use keys::{KeyInfo, Keys};
pub use overview::{HourOfSignIns, Overview};
pub use passkeys::Passkeys;
pub use sessions::{IssuedTokens, SessionGrant, Sessions};
pub use sso::{LogoutTarget, Sso};
pub use throttle::Throttle;

use crate::error::{Error, Result};
pub use crate::model::ClientInfo;
use crate::model::ROLE_ADMIN;
use crate::oauth::ApiAccess;
use crate::password::{PasswordHasher, PasswordPolicy};
use crate::settings::{Settings, ms};
use crate::store::{AuditEntry, AuditQuery, Committed, Store};
use std::sync::Arc;
use tessera_token::clock::Clock;
use tessera_token::revocation::RevocationSet;
use tessera_token::tokens::{AccessClaims, SharedKeyRing, VerifyPolicy};
use tessera_token::verified_cache::VerifiedCache;
use uuid::Uuid;

/// An authenticated caller, from a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user's id.
    pub user_id: Uuid,
    /// The session the token belongs to.
    pub session_id: Option<Uuid>,
    /// The browser session of a person acting on Tessera's pages; the
    /// sessions of that browser are theirs as much as `session_id`.
    pub browser_session_id: Option<Uuid>,
    /// Whether the token carries the `admin` role and may use it (a token
    /// issued to an OAuth client needs scope `tessera:admin` as well).
    pub is_admin: bool,
}

impl Caller {
    /// The caller a verified token describes. A token issued to an OAuth
    /// client acts as an admin only with scope `tessera:admin`
    /// ([`ApiAccess`]); whether it may act at all is the caller's check.
    pub fn from_claims(claims: &AccessClaims) -> Option<Caller> {
        let access = ApiAccess::of(claims.client_id.as_deref(), claims.scope.as_deref());
        Some(Caller {
            user_id: Uuid::parse_str(&claims.sub).ok()?,
            session_id: claims.sid.as_deref().and_then(|s| Uuid::parse_str(s).ok()),
            browser_session_id: None,
            is_admin: claims.has_role(ROLE_ADMIN) && access == ApiAccess::Admin,
        })
    }
}

/// The Tessera domain. Cheap to share behind an `Arc`; its services are
/// views of it ([`Tessera::accounts`], [`Tessera::sessions`], …).
#[derive(Debug)]
pub struct Tessera {
    ctx: Context,
}

impl std::ops::Deref for Tessera {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}

impl Tessera {
    /// Starts the domain on an opened, migrated store: loads the signing
    /// keys (creating the access-token key if there is none) and rebuilds
    /// the revocation set. An RS256 ID-token key still to be made is made
    /// when first needed, or by [`Keys::ensure_id_token_key`], which the
    /// server runs in the background once it listens.
    pub async fn start(
        store: Arc<dyn Store>,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let hasher = PasswordHasher::new(settings.hash_cost, settings.hash_concurrency)?;
        let verify_policy = VerifyPolicy {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway_secs: i64::try_from(settings.leeway.as_secs()).unwrap_or(i64::MAX),
            token_lifetime_ms: settings.token_lifetime_ms(),
        };
        let webauthn = passkeys::relying_party(&settings);
        let revocations = Arc::new(RevocationSet::new());
        let hub = Arc::new(EventHub::default());
        // What this process commits is in force here at once.
        let (announced, woken) = (revocations.clone(), hub.clone());
        store.on_commit(Box::new(move |committed| {
            events::take_in(&announced, &woken, committed);
        }));
        let tessera = Tessera {
            ctx: Context {
                store,
                clock,
                settings,
                keys: SharedKeyRing::default(),
                id_keys: SharedKeyRing::default(),
                id_key_making: tokio::sync::Mutex::new(()),
                revocations,
                hasher,
                verify_policy,
                verified: VerifiedCache::default(),
                hub,
                turns: throttle::Turns::default(),
                counts: overview::CountsCache::default(),
                webauthn,
                postbox: std::sync::OnceLock::new(),
            },
        };
        // The event cursor first: see `start_hub`.
        tessera.events().start_hub().await?;
        tessera.keys().reload_keys().await?;
        tessera.keys().protect_stored_keys().await?;
        tessera.factors().protect_stored_secrets().await?;
        tessera.keys().ensure_signing_key().await?;
        tessera.reload_revocations().await?;
        // A policy switched on (or widened) since the last start ends the
        // sessions it no longer allows.
        tessera.factors().enforce_policy(None).await?;
        Ok(tessera)
    }

    /// Accounts: registration, profiles, roles, passwords, deletion.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts { tessera: self }
    }

    /// Sessions and tokens: login, refresh, logout, verification.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { tessera: self }
    }

    /// Signing keys.
    pub fn keys(&self) -> Keys<'_> {
        Keys { tessera: self }
    }

    /// OAuth clients.
    pub fn clients(&self) -> Clients<'_> {
        Clients { tessera: self }
    }

    /// OAuth grants and the token endpoints.
    pub fn grants(&self) -> Grants<'_> {
        Grants { tessera: self }
    }

    /// Single sign-on in the browser.
    pub fn sso(&self) -> Sso<'_> {
        Sso { tessera: self }
    }

    /// Second factors and the second step of signing in.
    pub fn factors(&self) -> Factors<'_> {
        Factors { tessera: self }
    }

    /// Passkeys (WebAuthn): adding one, and signing in with one.
    pub fn passkeys(&self) -> Passkeys<'_> {
        Passkeys { tessera: self }
    }

    /// Email: verification and password-reset links.
    pub fn email(&self) -> Email<'_> {
        Email { tessera: self }
    }

    /// Sends letters through `postbox` from now on (once; a second call
    /// changes nothing and answers `false`).
    pub fn attach_postbox(&self, postbox: Arc<dyn crate::mail::Postbox>) -> bool {
        self.ctx.postbox.set(postbox).is_ok()
    }

    /// Login throttling and the registration rate.
    pub fn throttle(&self) -> Throttle<'_> {
        Throttle { tessera: self }
    }

    /// The event stream.
    pub fn events(&self) -> Events<'_> {
        Events { tessera: self }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The event hub (for the processes that wake and run it).
    pub fn event_hub(&self) -> &EventHub {
        &self.hub
    }

    /// The revocation set.
    pub fn revocations(&self) -> &RevocationSet {
        &self.revocations
    }

    /// Puts into force what a transaction committed by another replica
    /// announced (heard through [`crate::store::commits::listen`]), and
    /// wakes the event hub.
    pub fn heard(&self, committed: &Committed) {
        events::take_in(&self.revocations, &self.hub, committed);
    }

    /// The password policy in force.
    pub fn password_policy(&self) -> PasswordPolicy {
        self.ctx.password_policy()
    }

    /// The database's connection pools now.
    pub fn pool_stats(&self) -> Vec<crate::store::PoolStats> {
        self.store.pool_stats()
    }

    /// Whether the database answers.
    pub async fn check_database(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// Reads the audit log, newest first.
    pub async fn audit_log(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        for (path, filter) in [
            ("/user", &query.user),
            ("/event", &query.event),
            ("/actor", &query.actor),
            ("/subject", &query.subject),
        ] {
            if filter.as_deref().is_some_and(|f| f.contains('\0')) {
                return Err(Error::invalid(path, "must not contain U+0000"));
            }
        }
        Ok(self.store.audit_entries(query).await?)
    }

    /// Periodic upkeep: rotate keys when due, forget expired revocations,
    /// delete long-dead sessions, codes and browser sessions. Safe to run on every replica.
    pub async fn maintain(&self) -> Result<()> {
        let now = self.now();
        self.turns.tidy();
        // Each step runs even if an earlier one failed: a replica that cannot
        // rotate a key must still learn of revocations.
        let steps = [
            self.keys().rotate_keys_if_due().await.map(|_| ()),
            self.keys().reload_keys().await,
            self.reload_revocations().await,
            // Dead sessions are kept a day for the audit trail of reuse detection.
            self.store
                .purge_expired(now, now - 86_400_000)
                .await
                .map(|_| ())
                .map_err(Error::from),
            // Spent or expired authorization codes and ended browser sessions.
            self.store
                .purge_oauth(now - 86_400_000)
                .await
                .map(|_| ())
                .map_err(Error::from),
            // Replay (`GET /events?since=`) must reach back at least a day.
            self.store
                .purge_events(now.saturating_sub(2 * 86_400_000))
                .await
                .map(|_| ())
                .map_err(Error::from),
            match self.settings.audit_retention {
                Some(retention) => self
                    .store
                    .purge_audit(now.saturating_sub(ms(retention)))
                    .await
                    .map(|_| ())
                    .map_err(Error::from),
                None => Ok(()),
            },
        ];
        steps.into_iter().find(Result::is_err).unwrap_or(Ok(()))
    }
}
