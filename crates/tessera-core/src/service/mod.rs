//! [`Tessera`]: every operation the API and the CLI offer, over a store, a
//! clock, the key ring and the revocation set.

mod auth;
mod events;
mod keys;
mod oauth;
mod sso;
mod throttle;
mod users;

pub use auth::{IssuedTokens, SessionGrant};
pub use events::{EventHub, SUBSCRIBER_QUEUE};
pub use keys::KeyInfo;
pub use oauth::{ClientAuthentication, ID_TOKEN_TYP, NewClient, OAuthTokens};
pub use sso::{AuthorizationRequest, AuthorizeError, LogoutTarget, Prompt, ValidAuthorization};
pub use users::{NewAccount, Page, ProfileChanges};

use crate::audit::AuditRecord;
use crate::error::{Error, Result};
pub use crate::model::ClientInfo;
use crate::password::{PasswordHasher, PasswordPolicy};
use crate::settings::{Settings, ms};
use crate::store::{AuditEntry, Store};
use std::sync::Arc;
use tessera_token::clock::{Clock, Millis};
use tessera_token::revocation::RevocationSet;
use tessera_token::tokens::{SharedKeyRing, VerifyPolicy};
use tessera_token::verified_cache::VerifiedCache;
use uuid::Uuid;

/// An authenticated caller, from a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user's id.
    pub user_id: Uuid,
    /// The session the token belongs to.
    pub session_id: Option<Uuid>,
    /// Whether the token carries the `admin` role and may use it (a token
    /// issued to an OAuth client needs scope `tessera:admin` as well).
    pub is_admin: bool,
}

/// The Tessera domain service. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Tessera {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    keys: SharedKeyRing,
    id_keys: SharedKeyRing,
    revocations: RevocationSet,
    hasher: PasswordHasher,
    verify_policy: VerifyPolicy,
    /// Access tokens already verified (expiry, revocation and key re-checked on each use).
    verified: VerifiedCache,
    hub: EventHub,
    turns: throttle::Turns,
}

impl Tessera {
    /// Starts the service on an opened, migrated store: loads (or creates)
    /// the signing keys and rebuilds the revocation set.
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
        let tessera = Tessera {
            store,
            clock,
            settings,
            keys: SharedKeyRing::default(),
            id_keys: SharedKeyRing::default(),
            revocations: RevocationSet::new(),
            hasher,
            verify_policy,
            verified: VerifiedCache::default(),
            hub: EventHub::default(),
            turns: throttle::Turns::default(),
        };
        tessera.reload_keys().await?;
        tessera.protect_stored_keys().await?;
        tessera.ensure_signing_key().await?;
        tessera.reload_revocations().await?;
        tessera.start_event_hub().await?;
        Ok(tessera)
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The revocation set.
    pub fn revocations(&self) -> &RevocationSet {
        &self.revocations
    }

    /// The password policy in force.
    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_chars: self.settings.password_min_length,
        }
    }

    fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// When a revocation made now can be forgotten.
    fn revocation_horizon(&self, now: Millis) -> Millis {
        now.saturating_add(self.settings.token_lifetime_ms())
    }

    /// Re-reads durable revocations (e.g. made by another process).
    pub async fn reload_revocations(&self) -> Result<()> {
        let now = self.now();
        let entries = self.store.active_revocations(now).await?;
        self.revocations.apply_all(&entries);
        self.revocations.purge(now);
        Ok(())
    }

    /// Periodic upkeep: rotate keys when due, forget expired revocations,
    /// delete long-dead sessions, codes and browser sessions. Safe to run on every replica.
    pub async fn maintain(&self) -> Result<()> {
        let now = self.now();
        self.turns.tidy();
        // Each step runs even if an earlier one failed: a replica that cannot
        // rotate a key must still learn of revocations.
        let steps = [
            self.rotate_keys_if_due().await.map(|_| ()),
            self.reload_keys().await,
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

    /// An audit entry for `event` at the current time. Entries are handed to
    /// the store with the change they record, so both commit together.
    pub(crate) fn audit(&self, record: AuditRecord, client: &ClientInfo) -> AuditEntry {
        record.entry(self.now(), client)
    }

    /// Records an audit event that changes nothing else (e.g. a repeated
    /// refresh inside the grace window).
    pub(crate) async fn audit_alone(&self, entry: AuditEntry) -> Result<()> {
        Ok(self.store.append_audit(&entry).await?)
    }
}
