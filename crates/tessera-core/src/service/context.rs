//! [`Context`]: what every service shares — the store, the clock, the
//! settings, the key rings, the revocation set, the password hasher, the
//! event hub — and the few steps they all take: reading the time, building
//! audit entries, and revoking sessions in the store and in memory at once.

use super::events::EventHub;
use super::throttle::Turns;
use crate::audit::AuditRecord;
use crate::error::Result;
use crate::model::{ClientInfo, Session};
use crate::password::{PasswordHasher, PasswordPolicy};
use crate::settings::Settings;
use crate::store::{AuditEntry, Revocation, RevocationKind, SessionRevocation, Store};
use std::sync::Arc;
use tessera_token::clock::{Clock, Millis};
use tessera_token::revocation::RevocationSet;
use tessera_token::tokens::{SharedKeyRing, VerifyPolicy};
use tessera_token::verified_cache::VerifiedCache;
use uuid::Uuid;

/// The state every service works on.
#[derive(Debug)]
pub struct Context {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: Settings,
    /// Access-token keys.
    pub(super) keys: SharedKeyRing,
    /// ID-token keys (when they differ from the access-token algorithm).
    pub(super) id_keys: SharedKeyRing,
    /// Held while the ID-token key is being made, so that callers who need
    /// it at once wait for one key instead of each making their own.
    pub(super) id_key_making: tokio::sync::Mutex<()>,
    pub(super) revocations: Arc<RevocationSet>,
    pub(super) hasher: PasswordHasher,
    pub(super) verify_policy: VerifyPolicy,
    /// Access tokens already verified (expiry, revocation and key re-checked on each use).
    pub(super) verified: VerifiedCache,
    pub(super) hub: Arc<EventHub>,
    /// Password checks of one username take turns.
    pub(super) turns: Turns,
    /// The console overview's counts, reused for a few seconds.
    pub(super) counts: super::overview::CountsCache,
    /// The WebAuthn relying party; `None` when the public URL has no domain
    /// name (WebAuthn refuses IP addresses).
    pub(super) webauthn: Option<webauthn_rs::Webauthn>,
    /// Where letters go, once the server attaches a mailer.
    pub(super) postbox: std::sync::OnceLock<Arc<dyn crate::mail::Postbox>>,
}

impl Context {
    /// Now, by the injected clock.
    pub(super) fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// The password policy in force.
    pub(super) fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_chars: self.settings.password_min_length,
        }
    }

    /// The mint time recorded in a new access token of `subject`: now, or
    /// the subject's cut-off when that is later (a change made in this very
    /// millisecond, see [`Context::cut_off`]).
    pub(super) fn mint_time(&self, subject: &str, now: Millis) -> Millis {
        self.revocations
            .user_not_before(subject)
            .map_or(now, |cut_off| now.max(cut_off))
    }

    /// When a revocation made now can be forgotten: once every access token
    /// it could match has expired.
    pub(super) fn revocation_horizon(&self, now: Millis) -> Millis {
        now.saturating_add(self.settings.token_lifetime_ms())
    }

    /// Revoking sessions now, remembered until their access tokens expire.
    pub(super) fn session_revocation(&self, spare: Spare) -> SessionRevocation {
        let now = self.now();
        SessionRevocation {
            except: spare.session,
            except_browser: spare.browser,
            now,
            until: self.revocation_horizon(now),
        }
    }

    /// A revocation of every access token of `user_id` minted until now,
    /// this millisecond included: a token's mint time is a millisecond, and
    /// one minted in this millisecond before the change carries what the
    /// change undoes. A token minted after it in the same millisecond is
    /// stamped with the cut-off itself ([`Context::mint_time`]), so it stays
    /// good.
    pub(super) fn cut_off(&self, user_id: Uuid) -> Revocation {
        let now = self.now();
        Revocation {
            kind: RevocationKind::User,
            subject: user_id.to_string(),
            not_before: now.saturating_add(1),
            expires_at: self.revocation_horizon(now),
        }
    }

    /// The audit entry of `record` now, from `client`. Entries are handed to
    /// the store with the change they record, so both commit together.
    /// The entry is also logged (`tessera::security`), inside the span of
    /// the request that made it, so the log line carries its request id.
    pub(super) fn audit(&self, record: AuditRecord, client: &ClientInfo) -> AuditEntry {
        let entry = record.entry(self.now(), client);
        crate::audit::log(&entry);
        entry
    }

    /// Records an audit event that changes nothing else (e.g. a repeated
    /// refresh inside the grace window).
    pub(super) async fn audit_alone(&self, entry: AuditEntry) -> Result<()> {
        self.store.append_audit(&entry).await?;
        self.events_written();
        Ok(())
    }

    /// After a write that may have recorded events: look for them at once.
    pub(super) fn events_written(&self) {
        self.hub.wake();
    }

    /// Re-reads durable revocations (e.g. made by another process).
    pub(super) async fn reload_revocations(&self) -> Result<()> {
        let now = self.now();
        let entries = self.store.active_revocations(now).await?;
        self.revocations.apply_all(&entries);
        self.revocations.purge(now);
        Ok(())
    }

    /// Revokes one session, recording `entry` with it; its access tokens are
    /// refused by this process at once (the store announces the revocation
    /// to this process as it commits, before it returns).
    pub(super) async fn revoke_session_now(
        &self,
        sid: Uuid,
        entry: AuditEntry,
    ) -> Result<Option<Session>> {
        let now = self.now();
        let until = self.revocation_horizon(now);
        let revoked = self.store.revoke_session(sid, now, until, &[entry]).await?;
        self.events_written();
        Ok(revoked)
    }

    /// Revokes a user's sessions (but those `spare` names), recording
    /// `audit` with it.
    pub(super) async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        spare: Spare,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let revoke = self.session_revocation(spare);
        self.store
            .revoke_user_sessions(user_id, &revoke, audit)
            .await?;
        self.events_written();
        Ok(())
    }
}

/// The sessions a revocation of "all of a user's sessions" leaves alone: the
/// caller's own session, and the browser (with what came through it) a
/// person acts from on Tessera's pages.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Spare {
    /// A session.
    pub(super) session: Option<Uuid>,
    /// A browser session and its sessions.
    pub(super) browser: Option<Uuid>,
}

impl Spare {
    /// Nothing: every session ends.
    pub(super) const NOTHING: Spare = Spare {
        session: None,
        browser: None,
    };

    /// What `caller` acts from.
    pub(super) fn caller(caller: &super::Caller) -> Spare {
        Spare {
            session: caller.session_id,
            browser: caller.browser_session_id,
        }
    }
}
