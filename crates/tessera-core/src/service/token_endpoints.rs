//! The endpoints around tokens already issued: `userinfo` (OIDC Core §5.3),
//! revocation (RFC 7009) and introspection (RFC 7662).

use super::ClientInfo;
use super::clients::{ClientAuthentication, oauth};
use super::grants::{Grants, full_name};
use crate::audit::{AuditRecord, Ended};
use crate::error::{Error, Result};
use crate::oauth::{
    OAuthError, OAuthErrorCode, SCOPE_EMAIL, SCOPE_INTROSPECT, SCOPE_OPENID, SCOPE_PROFILE,
    scope_has,
};
use serde_json::{Value, json};
use tessera_token::crypto::{b64url_decode, sha256};
use tessera_token::revocation::{Revocation, RevocationKind};
use tessera_token::tokens::{AccessClaims, TokenError};
use uuid::Uuid;

impl Grants<'_> {
    /// `GET /userinfo` (OIDC Core §5.3) for a verified access token.
    pub async fn userinfo(&self, claims: &AccessClaims) -> Result<Value> {
        if claims.username.is_none() {
            return Err(Error::Forbidden(
                "this token belongs to a client, not a person".into(),
            ));
        }
        let scope = claims.scope.as_deref();
        if scope.is_some_and(|s| !scope_has(s, SCOPE_OPENID)) {
            return Err(Error::Forbidden("the token's scope lacks openid".into()));
        }
        let id =
            Uuid::parse_str(&claims.sub).map_err(|_| Error::InvalidToken(TokenError::BadClaims))?;
        let user = match self.store.user_by_id(id).await? {
            Some(s) if !s.user.disabled => s.user,
            _ => return Err(Error::InvalidToken(TokenError::Revoked)),
        };
        // First-party tokens (no scope) see everything; scoped ones what
        // their scope names.
        let profile = scope.is_none_or(|s| scope_has(s, SCOPE_PROFILE));
        let email = scope.is_none_or(|s| scope_has(s, SCOPE_EMAIL));
        let mut info = serde_json::Map::new();
        info.insert("sub".into(), json!(user.id));
        if profile {
            info.insert("preferred_username".into(), json!(user.username));
            if let Some(name) = full_name(&user) {
                info.insert("name".into(), json!(name));
            }
            if let Some(given) = &user.first_name {
                info.insert("given_name".into(), json!(given));
            }
            if let Some(family) = &user.last_name {
                info.insert("family_name".into(), json!(family));
            }
            info.insert("updated_at".into(), json!(user.updated_at.div_euclid(1000)));
        }
        if email && let Some(address) = &user.email {
            info.insert("email".into(), json!(address));
            info.insert("email_verified".into(), json!(user.email_verified));
        }
        info.insert("roles".into(), json!(user.roles));
        Ok(Value::Object(info))
    }

    /// `POST /oauth/revoke` (RFC 7009): revokes a refresh token's session or
    /// one access token, when it was issued to the requesting client (or to
    /// no client, for first-party tokens). Anything else is quietly ignored.
    pub async fn revoke_token(
        &self,
        auth: &ClientAuthentication,
        token: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let stored = self.tessera.clients().authenticate_client(auth).await?;
        let requester = stored.as_ref().map(|s| s.client.client_id.as_str());
        if let Some(session) = self
            .store
            .session_by_refresh_hash(&sha256(token.as_bytes()))
            .await?
        {
            if session.client_id.as_deref() == requester && session.revoked_at.is_none() {
                let record = AuditRecord::Logout {
                    actor: session.user_id,
                    user: session.user_id,
                    ended: Ended::RefreshToken(session.id),
                };
                let entry = self.audit(record, client);
                self.revoke_session_now(session.id, entry).await?;
            }
            return Ok(());
        }
        let Ok(claims) = self.tessera.sessions().verify_access_token(token) else {
            return Ok(());
        };
        if claims.client_id.as_deref() != requester {
            return Ok(());
        }
        let now = self.now();
        let exp_ms = claims.exp.saturating_mul(1000);
        let revocation = Revocation {
            kind: RevocationKind::Token,
            subject: claims.jti.clone(),
            not_before: 0,
            expires_at: exp_ms.saturating_add(crate::settings::ms(self.settings.leeway)),
        };
        let record = AuditRecord::TokenRevoked {
            sub: claims.sub.clone(),
            jti: claims.jti.clone(),
        };
        let entry = self.audit(record, client);
        self.store
            .revoke_access_token(&revocation, &claims.sub, exp_ms, now, &[entry])
            .await?;
        self.events_written();
        Ok(())
    }

    /// `POST /oauth/introspect` (RFC 7662), for an authenticated confidential
    /// client registered as a resource server (scope `tessera:introspect`):
    /// what Tessera knows of a token, or `{"active": false}`. A refresh
    /// token is described only to the client it was issued to — a resource
    /// server never holds another party's refresh tokens, and a first-party
    /// one belongs to no client at all.
    pub async fn introspect(&self, auth: &ClientAuthentication, token: &str) -> Result<Value> {
        if !matches!(auth, ClientAuthentication::Secret { .. }) {
            return Err(oauth(OAuthError::invalid_client()));
        }
        let requester = self
            .tessera
            .clients()
            .authenticate_client(auth)
            .await?
            .ok_or_else(|| oauth(OAuthError::invalid_client()))?
            .client;
        if !requester.scopes.iter().any(|s| s == SCOPE_INTROSPECT) {
            return Err(oauth(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "only a client registered with scope tessera:introspect may introspect tokens",
            )));
        }
        if let Ok(c) = self.tessera.sessions().verify_access_token(token) {
            let mut out = json!({
                "active": true,
                "token_type": "Bearer",
                "iss": c.iss,
                "sub": c.sub,
                "aud": c.aud,
                "exp": c.exp,
                "iat": c.iat,
                "jti": c.jti,
            });
            for (key, value) in [
                ("nbf", c.nbf.map(|v| json!(v))),
                ("sid", c.sid.map(|v| json!(v))),
                ("username", c.username.map(|v| json!(v))),
                ("roles", c.roles.map(|v| json!(v))),
                ("client_id", c.client_id.map(|v| json!(v))),
                ("scope", c.scope.map(|v| json!(v))),
            ] {
                if let (Some(v), Some(map)) = (value, out.as_object_mut()) {
                    map.insert(key.into(), v);
                }
            }
            return Ok(out);
        }
        let now = self.now();
        if b64url_decode(token).is_some_and(|b| b.len() == 32)
            && let Some(s) = self
                .store
                .session_by_refresh_hash(&sha256(token.as_bytes()))
                .await?
            && s.is_live(now)
            && s.client_id.as_deref() == Some(requester.client_id.as_str())
            && let Some(user) = self.store.user_by_id(s.user_id).await?
            && !user.user.disabled
        {
            let mut out = json!({
                "active": true,
                "token_type": "refresh_token",
                "iss": self.settings.issuer,
                "sub": s.user_id,
                "username": user.user.username,
                "exp": s.expires_at.div_euclid(1000),
                "iat": s.last_used_at.div_euclid(1000),
                "sid": s.id,
            });
            if let Some(map) = out.as_object_mut() {
                if let Some(c) = s.client_id {
                    map.insert("client_id".into(), json!(c));
                }
                if let Some(scope) = s.scope {
                    map.insert("scope".into(), json!(scope));
                }
            }
            return Ok(out);
        }
        Ok(json!({"active": false}))
    }
}
