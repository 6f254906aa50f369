//! Key management: loading the ring from the store, creating the first key,
//! manual rotation, and automatic rotation with pre-publication.

use super::{ClientInfo, Tessera};
use crate::clock::Millis;
use crate::crypto::{open, seal};
use crate::error::{Error, Result};
use crate::keys::{
    KeyRing, KeyStatus, PublicJwk, SigningKey, alg_name, generate_private_key, is_hmac, parse_alg,
};
use crate::settings::ms;
use crate::store::StoredKey;
use std::sync::Arc;
use uuid::Uuid;

/// Binds a sealed private key to its key id.
fn key_context(kid: &str) -> Vec<u8> {
    format!("tessera signing key v1:{kid}").into_bytes()
}

/// A key as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: String,
    /// Status now.
    pub status: KeyStatus,
    /// Creation time.
    pub created_at: Millis,
    /// When it starts or started signing.
    pub activates_at: Millis,
    /// When a superseded key stops verifying.
    pub retire_after: Option<Millis>,
}

impl Tessera {
    /// Rebuilds the key ring from the store (and the configured HMAC secret).
    pub async fn reload_keys(&self) -> Result<()> {
        let stored_keys = self.store.signing_keys().await?;
        let mut keys = Vec::with_capacity(stored_keys.len() + 1);
        if is_hmac(self.settings.alg) {
            let secret = self.settings.hmac_secret.as_ref().ok_or_else(|| {
                Error::Internal("an HMAC algorithm needs TESSERA_JWT_SECRET".into())
            })?;
            // The shared secret signs; stored asymmetric keys (from an earlier
            // configuration) only verify what they signed until it expires.
            let mut key = SigningKey::from_hmac_secret(self.settings.alg, &secret.0)?;
            key.activates_at = stored_keys
                .iter()
                .map(|k| k.activates_at + 1)
                .max()
                .unwrap_or(0);
            keys.push(Arc::new(key));
        }
        for stored in stored_keys {
            let alg = parse_alg(&stored.alg)
                .ok_or_else(|| Error::Internal(format!("stored key alg {}", stored.alg)))?;
            let der = self.unseal_private_key(&stored)?;
            let key = SigningKey::from_private_der(
                alg,
                &der,
                stored.created_at,
                stored.activates_at,
                stored.generation,
            )?;
            keys.push(Arc::new(key));
        }
        self.keys.replace(KeyRing::new(keys));
        Ok(())
    }

    /// Seals private key material under the master key, if one is configured.
    fn seal_private_key(&self, kid: &str, der: &[u8]) -> Vec<u8> {
        match &self.settings.master_key {
            Some(master) => seal(&master.0, &key_context(kid), der),
            None => der.to_vec(),
        }
    }

    /// The plain private key of a stored key, opening it with the master key.
    fn unseal_private_key(&self, stored: &StoredKey) -> Result<Vec<u8>> {
        if !stored.encrypted {
            return Ok(stored.private_der.clone());
        }
        let master = self.settings.master_key.as_ref().ok_or_else(|| {
            Error::Config("the stored signing keys are encrypted: set TESSERA_MASTER_KEY to the key that sealed them".into())
        })?;
        open(&master.0, &key_context(&stored.kid), &stored.private_der).ok_or_else(|| {
            Error::Config(
                "TESSERA_MASTER_KEY does not open the stored signing keys (wrong master key?)"
                    .into(),
            )
        })
    }

    /// With a master key, seals keys stored in the clear; without one, warns.
    pub(super) async fn protect_stored_keys(&self) -> Result<()> {
        let stored = self.store.signing_keys().await?;
        if self.settings.master_key.is_none() {
            if !stored.is_empty() || !is_hmac(self.settings.alg) {
                tracing::warn!(
                    "private signing keys are stored unencrypted; set TESSERA_MASTER_KEY to encrypt them at rest"
                );
            }
            return Ok(());
        }
        for key in stored.iter().filter(|k| !k.encrypted) {
            let sealed = self.seal_private_key(&key.kid, &key.private_der);
            self.store
                .update_signing_key_material(&key.kid, &sealed, true)
                .await?;
            tracing::info!(kid = %key.kid, "signing key sealed under the master key");
        }
        Ok(())
    }

    /// The key ring in force.
    pub fn key_ring(&self) -> Arc<KeyRing> {
        self.keys.current()
    }

    /// Creates a signing key if none of the configured algorithm is active.
    pub(super) async fn ensure_signing_key(&self) -> Result<()> {
        if is_hmac(self.settings.alg) {
            return Ok(());
        }
        let now = self.now();
        let ring = self.keys.current();
        if ring
            .signer(now)
            .is_some_and(|k| k.alg() == self.settings.alg)
        {
            return Ok(());
        }
        self.add_key(now, "key.created", None, None).await?;
        Ok(())
    }

    /// Generates and stores a key that signs from `activates_at`, recording
    /// `event` in the audit log with it; returns its kid.
    async fn add_key(
        &self,
        activates_at: Millis,
        event: &str,
        actor: Option<Uuid>,
        detail: Option<serde_json::Value>,
    ) -> Result<String> {
        let alg = self.settings.alg;
        let der = tokio::task::spawn_blocking(move || generate_private_key(alg))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        let now = self.now();
        let generation = self
            .store
            .signing_keys()
            .await?
            .first()
            .map_or(1, |k| k.generation + 1);
        let parsed = SigningKey::from_private_der(alg, &der, now, activates_at, generation)?;
        let stored = StoredKey {
            kid: parsed.kid().to_owned(),
            generation,
            alg: alg_name(alg).to_owned(),
            private_der: self.seal_private_key(parsed.kid(), &der),
            encrypted: self.settings.master_key.is_some(),
            created_at: now,
            activates_at,
        };
        let client = ClientInfo::default();
        let entry = self.audit_entry(
            event,
            "success",
            actor,
            Some(stored.kid.clone()),
            &client,
            detail,
        );
        let inserted = self.store.insert_signing_key(&stored, &[entry]).await?;
        self.events_written();
        self.reload_keys().await?;
        if !inserted {
            // Another replica added this generation first; use theirs.
            tracing::info!(
                generation,
                "another process added the next signing key first"
            );
        } else {
            tracing::info!(kid = %stored.kid, alg = alg_name(alg), activates_at, "signing key added");
        }
        Ok(stored.kid)
    }

    /// Rotates now: a new key signs from this moment; the old one keeps
    /// verifying until every token it signed has expired.
    /// `actor` is the admin who asked (`None` from the command line).
    pub async fn rotate_keys(&self, actor: Option<Uuid>) -> Result<String> {
        if is_hmac(self.settings.alg) {
            return Err(Error::KeyRotationUnavailable);
        }
        self.add_key(self.now(), "key.rotated", actor, None).await
    }

    /// Automatic rotation: once the active key is within `TESSERA_KEY_PREPUBLISH`
    /// of its rotation age and no next key exists, publish one that starts
    /// signing no sooner than the pre-publication period from now.
    pub(super) async fn rotate_keys_if_due(&self) -> Result<Option<String>> {
        let Some(period) = self.settings.key_rotation else {
            return Ok(None);
        };
        if is_hmac(self.settings.alg) {
            return Ok(None);
        }
        let now = self.now();
        let ring = self.keys.current();
        if ring.keys().iter().any(|k| k.activates_at > now) {
            return Ok(None);
        }
        let Some(active) = ring.signer(now) else {
            return Ok(None);
        };
        let due = active.activates_at.saturating_add(ms(period));
        let prepublish = ms(self.settings.key_prepublish);
        if now < due.saturating_sub(prepublish) {
            return Ok(None);
        }
        let activates_at = due.max(now.saturating_add(prepublish));
        let detail = serde_json::json!({"automatic": true, "activates_at": activates_at});
        let kid = self
            .add_key(activates_at, "key.rotated", None, Some(detail))
            .await?;
        Ok(Some(kid))
    }

    /// Every key with its status now (HMAC secrets included, never their bytes).
    pub fn list_keys(&self) -> Vec<KeyInfo> {
        let now = self.now();
        self.keys
            .current()
            .states(now, self.settings.token_lifetime_ms())
            .into_iter()
            .map(|s| KeyInfo {
                kid: s.key.kid().to_owned(),
                alg: alg_name(s.key.alg()).to_owned(),
                status: s.status,
                created_at: s.key.created_at,
                activates_at: s.key.activates_at,
                retire_after: s.retire_after,
            })
            .collect()
    }

    /// The public keys to publish (RFC 7517): next, active and retiring.
    pub fn jwks(&self) -> Vec<PublicJwk> {
        self.keys
            .current()
            .published(self.now(), self.settings.token_lifetime_ms())
    }
}
