//! Refresh-token rotation (SPEC §5): one round trip rotates the token, a
//! repeat inside the grace window gets the same successor, and the reuse of
//! a rotated token ends its session.

use super::ClientInfo;
use super::sessions::{IssuedTokens, Sessions, new_refresh_token};
use crate::audit::AuditRecord;
use crate::crypto::{open, seal};
use crate::error::{Error, Result};
use crate::model::{Session, User};
use crate::settings::ms;
use crate::store::Rotation;
use tessera_token::clock::Millis;
use tessera_token::crypto::{b64url_decode, sha256};

/// Domain separation for sealing a rotated refresh token's successor.
const GRACE_SEAL_CONTEXT: &[u8] = b"tessera refresh grace v1";

impl Sessions<'_> {
    /// Exchanges a first-party refresh token for new tokens, rotating it
    /// (SPEC §5). A refresh token issued to an OAuth client is refused here
    /// like an unknown one: it works only at `/oauth/token`, where that
    /// client authenticates.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &str, client: &ClientInfo) -> Result<IssuedTokens> {
        self.refresh_with_scope(refresh_token, None, client, None)
            .await
    }

    /// Rotates a refresh token of a session issued to `oauth_client` (`None`:
    /// first-party), with the new access token's scope narrowed to `scope`
    /// (already checked to lie within the session's). The client is part of
    /// the rotation's condition, so a token presented on behalf of another
    /// client rotates nothing and revokes nothing.
    pub(super) async fn refresh_with_scope(
        &self,
        refresh_token: &str,
        oauth_client: Option<&str>,
        client: &ClientInfo,
        scope: Option<&str>,
    ) -> Result<IssuedTokens> {
        // Anything that is not 32 bytes of base64url cannot be one of ours.
        if b64url_decode(refresh_token).is_none_or(|b| b.len() != 32) {
            return Err(Error::InvalidRefreshToken);
        }
        let now = self.now();
        let old_hash = sha256(refresh_token.as_bytes());
        let successor = new_refresh_token();
        let rotation = Rotation {
            old_hash,
            new_hash: sha256(successor.as_bytes()),
            sealed_new: seal(
                refresh_token.as_bytes(),
                GRACE_SEAL_CONTEXT,
                successor.as_bytes(),
            ),
            now,
            idle_ttl_ms: ms(self.settings.refresh_ttl),
            client_id: oauth_client.map(str::to_owned),
        };
        // The rotation and its audit entry commit together; the store names
        // the session's user as actor.
        let entry = self.audit(AuditRecord::Refreshed { repeat: None }, client);
        if let Some(rotated) = self
            .store
            .rotate_refresh_token(&rotation, Some(&entry))
            .await?
        {
            return self.issue(rotated.user, rotated.session, successor, scope, now);
        }
        // Not the current token: a repeat within the grace window, reuse, or garbage.
        let Some(spent) = self.store.spent_refresh_token(&old_hash).await? else {
            return Err(Error::InvalidRefreshToken);
        };
        if !spent.session.is_live(now) || spent.session.client_id.as_deref() != oauth_client {
            return Err(Error::InvalidRefreshToken);
        }
        let grace = ms(self.settings.refresh_grace);
        if grace > 0
            && now.saturating_sub(spent.spent_at) <= grace
            && let Some(sealed) = &spent.sealed_successor
        {
            let successor = open(refresh_token.as_bytes(), GRACE_SEAL_CONTEXT, sealed)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or(Error::InvalidRefreshToken)?;
            let repeat = Some((spent.session.user_id, spent.session.id));
            let entry = self.audit(AuditRecord::Refreshed { repeat }, client);
            self.audit_alone(entry).await?;
            return self
                .tokens_for_session(spent.session, successor, scope, now)
                .await;
        }
        // Reuse of a rotated token: someone else may hold it. End the session.
        let entry = self.audit(
            AuditRecord::RefreshReuseDetected {
                user: spent.session.user_id,
                session: spent.session.id,
            },
            client,
        );
        self.revoke_session_now(spent.session.id, entry).await?;
        Err(Error::InvalidRefreshToken)
    }

    /// The tokens of a repeat within the grace window: the session's user
    /// is read afresh.
    async fn tokens_for_session(
        &self,
        session: Session,
        refresh_token: String,
        scope: Option<&str>,
        now: Millis,
    ) -> Result<IssuedTokens> {
        let Some(user) = self.store.user_by_id(session.user_id).await? else {
            return Err(Error::InvalidRefreshToken);
        };
        self.issue(user.user, session, refresh_token, scope, now)
    }

    /// A new access token for `session` with its successor refresh token;
    /// a disabled user gets none.
    fn issue(
        &self,
        user: User,
        session: Session,
        refresh_token: String,
        scope: Option<&str>,
        now: Millis,
    ) -> Result<IssuedTokens> {
        if user.disabled {
            return Err(Error::InvalidRefreshToken);
        }
        let access_token = self.issue_access_token(&user, &session, scope, now)?;
        Ok(IssuedTokens {
            access_token: access_token.into(),
            expires_in: self.settings.access_ttl.as_secs(),
            refresh_token: refresh_token.into(),
            user,
            session,
        })
    }
}
