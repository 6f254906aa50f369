//! Signing keys at rest: one row per key, with a generation unique within
//! its purpose so that only one replica adds each next key.

use super::audit::append_audit;
use super::records::{AuditEntry, StoredKey};
use super::sql::statement::sql;
use super::{SqlStore, StoreError, StoreResult};
use async_trait::async_trait;
use tessera_token::keys::KeyPurpose;

/// Signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Adds a signing key and records `audit`; `false` (and nothing recorded)
    /// if another process took that generation first.
    async fn insert_signing_key(&self, key: &StoredKey, audit: &[AuditEntry]) -> StoreResult<bool>;
    /// Replaces a key's stored private material (to seal it under a master key).
    async fn update_signing_key_material(
        &self,
        kid: &str,
        private_der: &[u8],
        encrypted: bool,
    ) -> StoreResult<()>;
    /// All signing keys, by purpose, newest generation first.
    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>>;
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    generation: i64,
    alg: String,
    private_der: Vec<u8>,
    encrypted: bool,
    created_at: i64,
    activates_at: i64,
    purpose: String,
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> Result<Self, StoreError> {
        Ok(StoredKey {
            purpose: KeyPurpose::parse(&row.purpose)
                .ok_or_else(|| StoreError::Corrupt("signing_keys.purpose".into()))?,
            kid: row.kid,
            generation: row.generation,
            alg: row.alg,
            private_der: row.private_der,
            encrypted: row.encrypted,
            created_at: row.created_at,
            activates_at: row.activates_at,
        })
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn insert_signing_key(&self, k: &StoredKey, audit: &[AuditEntry]) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let inserted = tx
            .execute(
                sql("INSERT INTO signing_keys \
                     (kid, generation, alg, private_der, encrypted, created_at, activates_at, purpose) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING")
                .bind(&k.kid)
                .bind(k.generation)
                .bind(&k.alg)
                .bind(&k.private_der)
                .bind(k.encrypted)
                .bind(k.created_at)
                .bind(k.activates_at)
                .bind(k.purpose.as_str()),
            )
            .await?
            == 1;
        if inserted {
            append_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn update_signing_key_material(
        &self,
        kid: &str,
        private_der: &[u8],
        encrypted: bool,
    ) -> StoreResult<()> {
        self.db
            .execute(
                sql("UPDATE signing_keys SET private_der = $2, encrypted = $3 WHERE kid = $1")
                    .bind(kid)
                    .bind(private_der)
                    .bind(encrypted),
            )
            .await?;
        Ok(())
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let rows: Vec<KeyRow> = self
            .db
            .fetch_all(sql(
                "SELECT kid, generation, alg, private_der, encrypted, created_at, activates_at, purpose \
                 FROM signing_keys ORDER BY purpose, generation DESC",
            ))
            .await?;
        rows.into_iter().map(StoredKey::try_from).collect()
    }
}
