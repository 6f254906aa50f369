//! The key ring: every known key, which one signs now, which still verify,
//! and each key's status.

use super::{PublicJwk, SigningKey};
use crate::clock::Millis;
use serde::Serialize;
use std::sync::Arc;

/// What a key signs. Each purpose is its own family of keys with its own
/// rotation; both are published in the JWKS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum KeyPurpose {
    /// Access tokens (the configured `TESSERA_JWT_ALG`).
    #[serde(rename = "access")]
    Access,
    /// OpenID Connect ID tokens (RS256), kept beside an access key of
    /// another algorithm because OpenID Connect Discovery requires RS256.
    #[serde(rename = "id_token")]
    IdToken,
}

impl KeyPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Access => "access",
            KeyPurpose::IdToken => "id",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "access" => Some(KeyPurpose::Access),
            "id" => Some(KeyPurpose::IdToken),
            _ => None,
        }
    }
}

/// Where a key stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Published, not yet signing.
    Next,
    /// Signing new tokens.
    Active,
    /// Superseded; still verifies tokens it signed that have not expired.
    Retiring,
    /// Every token it signed has expired.
    Retired,
}

/// A key with its status at some instant.
#[derive(Debug, Clone)]
pub struct KeyState {
    /// The key.
    pub key: Arc<SigningKey>,
    /// Its status.
    pub status: KeyStatus,
    /// When a superseded key stops verifying (`None` while next or active).
    pub retire_after: Option<Millis>,
}

/// Every known key, ordered newest activation first.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Vec<Arc<SigningKey>>,
}

impl KeyRing {
    /// A ring of `keys` in any order.
    pub fn new(mut keys: Vec<Arc<SigningKey>>) -> Self {
        keys.sort_by(|a, b| {
            b.activates_at
                .cmp(&a.activates_at)
                .then(b.generation.cmp(&a.generation))
        });
        Self { keys }
    }

    /// All keys, newest activation first.
    pub fn keys(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }

    /// The key that signs at `now`: the most recently activated one.
    pub fn signer(&self, now: Millis) -> Option<&Arc<SigningKey>> {
        self.keys.iter().find(|k| k.activates_at <= now)
    }

    /// Each key's status at `now`, given the longest a token lives past its
    /// key's retirement (`token_lifetime`: access TTL plus leeway).
    pub fn states(&self, now: Millis, token_lifetime: Millis) -> Vec<KeyState> {
        let mut superseded_at: Option<Millis> = None;
        let mut out = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            let (status, retire_after) = if key.activates_at > now {
                (KeyStatus::Next, None)
            } else if let Some(at) = superseded_at {
                let retire = at.saturating_add(token_lifetime);
                (
                    if now < retire {
                        KeyStatus::Retiring
                    } else {
                        KeyStatus::Retired
                    },
                    Some(retire),
                )
            } else {
                (KeyStatus::Active, None)
            };
            if key.activates_at <= now {
                superseded_at = Some(key.activates_at);
            }
            out.push(KeyState {
                key: key.clone(),
                status,
                retire_after,
            });
        }
        out
    }

    /// The key named `kid` if it may verify tokens at `now` (not retired).
    pub fn verifier(
        &self,
        kid: &str,
        now: Millis,
        token_lifetime: Millis,
    ) -> Option<&Arc<SigningKey>> {
        let mut superseded_at: Option<Millis> = None;
        for key in &self.keys {
            let retired = key.activates_at <= now
                && superseded_at.is_some_and(|at| now >= at.saturating_add(token_lifetime));
            if key.kid() == kid {
                return (!retired).then_some(key);
            }
            if key.activates_at <= now {
                superseded_at = Some(key.activates_at);
            }
        }
        None
    }

    /// The public keys to publish at `now`: next, active and retiring.
    pub fn published(&self, now: Millis, token_lifetime: Millis) -> Vec<PublicJwk> {
        self.states(now, token_lifetime)
            .into_iter()
            .filter(|s| s.status != KeyStatus::Retired)
            .filter_map(|s| s.key.public_jwk().cloned())
            .collect()
    }
}
