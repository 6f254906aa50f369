//! Key management: loading the rings (access-token keys and ID-token keys)
//! from the store, creating the first keys, manual rotation, and automatic
//! rotation with pre-publication.

use super::{ClientInfo, Context, Tessera};
use crate::audit::AuditRecord;
use crate::crypto::{open, seal};
use crate::error::{Error, Result};
use crate::settings::ms;
use crate::store::StoredKey;
use std::sync::Arc;
use tessera_token::clock::Millis;
use tessera_token::keys::{
    Algorithm, KeyPurpose, KeyRing, KeyStatus, PublicJwk, SigningKey, alg_name,
    generate_private_key, is_hmac, parse_alg,
};
use tessera_token::tokens::SharedKeyRing;
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
    /// What it signs.
    pub purpose: KeyPurpose,
    /// Status now.
    pub status: KeyStatus,
    /// Creation time.
    pub created_at: Millis,
    /// When it starts or started signing.
    pub activates_at: Millis,
    /// When a superseded key stops verifying.
    pub retire_after: Option<Millis>,
}

/// Signing keys: the access-token and ID-token key rings, first keys, rotation, the JWKS.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    pub(super) tessera: &'a Tessera,
}

impl std::ops::Deref for Keys<'_> {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.tessera.ctx
    }
}

impl Keys<'_> {
    /// Rebuilds the key rings from the store (and the configured HMAC secret).
    pub async fn reload_keys(&self) -> Result<()> {
        self.load_keys().await.map(drop)
    }

    /// Reloads the key rings from the store, and answers the keys as stored.
    async fn load_keys(&self) -> Result<Vec<StoredKey>> {
        let stored_keys = self.store.signing_keys().await?;
        let mut access = Vec::with_capacity(stored_keys.len() + 1);
        let mut id_tokens = Vec::new();
        if is_hmac(self.settings.alg) {
            let secret = self.settings.hmac_secret.as_ref().ok_or_else(|| {
                Error::Internal("an HMAC algorithm needs TESSERA_JWT_SECRET".into())
            })?;
            // The shared secret signs; stored asymmetric keys (from an earlier
            // configuration) only verify what they signed until it expires.
            let mut key = SigningKey::from_hmac_secret(self.settings.alg, &secret.0)?;
            key.activates_at = stored_keys
                .iter()
                .filter(|k| k.purpose == KeyPurpose::Access)
                .map(|k| k.activates_at + 1)
                .max()
                .unwrap_or(0);
            access.push(Arc::new(key));
        }
        for stored in &stored_keys {
            let alg = parse_alg(&stored.alg)
                .ok_or_else(|| Error::Internal(format!("stored key alg {}", stored.alg)))?;
            let der = self.unseal_private_key(stored)?;
            let key = Arc::new(SigningKey::from_private_der(
                alg,
                &der,
                stored.created_at,
                stored.activates_at,
                stored.generation,
            )?);
            match stored.purpose {
                KeyPurpose::Access => access.push(key),
                KeyPurpose::IdToken => id_tokens.push(key),
            }
        }
        self.keys.replace(KeyRing::new(access));
        self.id_keys.replace(KeyRing::new(id_tokens));
        Ok(stored_keys)
    }

    /// Whether ID tokens need a key family of their own: they are signed
    /// with RS256, which the access-token key only serves when it is RS256.
    fn separate_id_keys(&self) -> bool {
        self.settings.alg != Algorithm::RS256
    }

    /// The ring of `purpose`.
    fn ring(&self, purpose: KeyPurpose) -> &SharedKeyRing {
        match purpose {
            KeyPurpose::Access => &self.keys,
            KeyPurpose::IdToken => &self.id_keys,
        }
    }

    /// The algorithm keys of `purpose` use.
    fn purpose_alg(&self, purpose: KeyPurpose) -> Algorithm {
        match purpose {
            KeyPurpose::Access => self.settings.alg,
            KeyPurpose::IdToken => Algorithm::RS256,
        }
    }

    /// The key that signs ID tokens with `alg` now: RS256 (from the ID-token
    /// family, or the access family when that is RS256), or the access
    /// algorithm when it is asymmetric. Another replica may have made the
    /// ID-token key: the rings are reloaded once before giving up.
    pub async fn id_token_signer(&self, alg: Algorithm) -> Result<Arc<SigningKey>> {
        for attempt in 0..2 {
            let ring = if alg == self.settings.alg && !is_hmac(alg) {
                self.keys.current()
            } else if alg == Algorithm::RS256 {
                self.id_keys.current()
            } else {
                break;
            };
            if let Some(key) = ring.signer(self.now()) {
                return Ok(key.clone());
            }
            if attempt == 0 {
                self.ensure_id_token_key().await?;
            }
        }
        Err(Error::Internal("no key signs ID tokens".into()))
    }

    /// The algorithms ID tokens can be signed with (RS256 first, the default).
    pub fn id_token_algorithms(&self) -> Vec<Algorithm> {
        let mut algs = vec![Algorithm::RS256];
        if !is_hmac(self.settings.alg) && self.settings.alg != Algorithm::RS256 {
            algs.push(self.settings.alg);
        }
        algs
    }

    /// Every key that may verify an ID token Tessera signed (for
    /// `id_token_hint`): both families.
    pub fn id_token_verification_keys(&self) -> KeyRing {
        let mut keys: Vec<_> = self.id_keys.current().keys().to_vec();
        keys.extend(
            self.keys
                .current()
                .keys()
                .iter()
                .filter(|k| !is_hmac(k.alg()))
                .cloned(),
        );
        KeyRing::new(keys)
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

    /// Creates an access-token signing key if none of the configured
    /// algorithm is active.
    pub(super) async fn ensure_signing_key(&self) -> Result<()> {
        let now = self.now();
        if !is_hmac(self.settings.alg)
            && !self
                .keys
                .current()
                .signer(now)
                .is_some_and(|k| k.alg() == self.settings.alg)
        {
            self.add_key(KeyPurpose::Access, now, false, None, false)
                .await?;
        }
        Ok(())
    }

    /// Creates the RS256 ID-token key if ID tokens need their own and none
    /// signs yet. The server runs this in the background as soon as it
    /// listens (an RSA key takes tens of milliseconds to make, at random,
    /// which a first start would otherwise spend before it answers), and
    /// the JWKS ([`Keys::jwks`]), the list of keys ([`Keys::list_keys`]), a
    /// new OAuth client, an ID token's signature and a rotation wait for it:
    /// the key is in every JWKS the server answers, so a relying party that
    /// cached the JWKS before the first OAuth client was registered can
    /// still check the first ID token. Concurrent callers make one key.
    pub async fn ensure_id_token_key(&self) -> Result<()> {
        if !self.separate_id_keys() || self.id_keys.current().signer(self.now()).is_some() {
            return Ok(());
        }
        let _making = self.id_key_making.lock().await;
        if self.id_keys.current().signer(self.now()).is_none() {
            // `add_key` reloads the rings first and keeps a first key
            // another process (a replica, a command) stored meanwhile.
            self.add_key(KeyPurpose::IdToken, self.now(), false, None, false)
                .await?;
        }
        Ok(())
    }

    /// Generates and stores a key of `purpose` that signs from
    /// `activates_at` — the first of its kind, or a `rotation` (asked for by
    /// `actor`, or `automatic`) — and audits it; returns its kid.
    async fn add_key(
        &self,
        purpose: KeyPurpose,
        activates_at: Millis,
        rotation: bool,
        actor: Option<Uuid>,
        automatic: bool,
    ) -> Result<String> {
        let alg = self.purpose_alg(purpose);
        // A family's first key takes its generation from before it is made
        // (which takes a while for RSA): another process making the first
        // key meanwhile stores the same generation, and one of the two is
        // kept. A rotation reads it after, as late as it can: a rotation
        // that loses to another still answers its own key's id.
        let stored = self.load_keys().await?;
        if !rotation
            && let Some(made) = self
                .ring(purpose)
                .current()
                .signer(self.now())
                .filter(|k| k.alg() == alg)
        {
            // Another process made the first key since the caller looked.
            return Ok(made.kid().to_owned());
        }
        let newest = stored.iter().find(|k| k.purpose == purpose);
        let first_generation = newest.map_or(1, |k| k.generation + 1);
        // The first ID-token key, made in the background while other
        // replicas may be starting, is in force from a leeway before it was
        // made: a replica whose clock is a little behind the maker's signs
        // with it at once instead of making a key of its own.
        let activates_at = match (purpose, newest) {
            (KeyPurpose::IdToken, None) => activates_at.saturating_sub(ms(self.settings.leeway)),
            _ => activates_at,
        };
        let der = tokio::task::spawn_blocking(move || generate_private_key(alg))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        let generation = if rotation {
            self.store
                .signing_keys()
                .await?
                .iter()
                .find(|k| k.purpose == purpose)
                .map_or(1, |k| k.generation + 1)
        } else {
            first_generation
        };
        let now = self.now();
        let parsed = SigningKey::from_private_der(alg, &der, now, activates_at, generation)?;
        let stored = StoredKey {
            kid: parsed.kid().to_owned(),
            purpose,
            generation,
            alg: alg_name(alg).to_owned(),
            private_der: self.seal_private_key(parsed.kid(), &der),
            encrypted: self.settings.master_key.is_some(),
            created_at: now,
            activates_at,
        };
        let client = ClientInfo::default();
        let record = AuditRecord::KeyAdded {
            actor,
            kid: stored.kid.clone(),
            rotation,
            activates_at: automatic.then_some(activates_at),
        };
        let entry = self.audit(record, &client);
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
            tracing::info!(kid = %stored.kid, alg = alg_name(alg), purpose = purpose.as_str(), activates_at, "signing key added");
        }
        Ok(stored.kid)
    }

    /// Rotates now: a new key signs from this moment; the old one keeps
    /// verifying until every token it signed has expired. A separate
    /// ID-token key rotates with it. Returns the new access-token key's id.
    /// `actor` is the admin who asked (`None` from the command line).
    pub async fn rotate_keys(&self, actor: Option<Uuid>) -> Result<String> {
        if is_hmac(self.settings.alg) {
            return Err(Error::KeyRotationUnavailable);
        }
        // A first ID-token key still in the making is made, then rotated.
        self.ensure_id_token_key().await?;
        let kid = self
            .add_key(KeyPurpose::Access, self.now(), true, actor, false)
            .await?;
        if self.separate_id_keys() && self.id_keys.current().signer(self.now()).is_some() {
            self.add_key(KeyPurpose::IdToken, self.now(), true, actor, false)
                .await?;
        }
        Ok(kid)
    }

    /// Automatic rotation of each key family: once the active key is within
    /// `TESSERA_KEY_PREPUBLISH` of its rotation age and no next key exists,
    /// publish one that starts signing no sooner than the pre-publication
    /// period from now. Returns the new access-token key's id, if one was added.
    pub(super) async fn rotate_keys_if_due(&self) -> Result<Option<String>> {
        let mut added = None;
        if !is_hmac(self.settings.alg) {
            added = self.rotate_family_if_due(KeyPurpose::Access).await?;
        }
        if self.separate_id_keys() {
            self.rotate_family_if_due(KeyPurpose::IdToken).await?;
        }
        Ok(added)
    }

    async fn rotate_family_if_due(&self, purpose: KeyPurpose) -> Result<Option<String>> {
        let Some(period) = self.settings.key_rotation else {
            return Ok(None);
        };
        let now = self.now();
        let ring = self.ring(purpose).current();
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
        let kid = self
            .add_key(purpose, activates_at, true, None, true)
            .await?;
        Ok(Some(kid))
    }

    /// Every key with its status now (HMAC secrets included, never their
    /// bytes): access-token keys first, then ID-token keys. On a first
    /// start, waits for (or makes) the ID-token key still in the making.
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        self.ensure_id_token_key().await?;
        let now = self.now();
        let lifetime = self.settings.token_lifetime_ms();
        Ok([KeyPurpose::Access, KeyPurpose::IdToken]
            .into_iter()
            .flat_map(|purpose| {
                self.ring(purpose)
                    .current()
                    .states(now, lifetime)
                    .into_iter()
                    .map(move |s| KeyInfo {
                        kid: s.key.kid().to_owned(),
                        alg: alg_name(s.key.alg()).to_owned(),
                        purpose,
                        status: s.status,
                        created_at: s.key.created_at,
                        activates_at: s.key.activates_at,
                        retire_after: s.retire_after,
                    })
            })
            .collect())
    }

    /// The public keys to publish (RFC 7517): next, active and retiring, of
    /// both families. On a first start, waits for (or makes) the ID-token
    /// key still in the making: a JWKS without it could be cached by a
    /// relying party that then cannot check the first ID token.
    pub async fn jwks(&self) -> Result<Vec<PublicJwk>> {
        self.ensure_id_token_key().await?;
        let now = self.now();
        let lifetime = self.settings.token_lifetime_ms();
        let mut keys = self.keys.current().published(now, lifetime);
        keys.extend(self.id_keys.current().published(now, lifetime));
        Ok(keys)
    }
}
