//! Sessions and tokens: login, issuing access tokens, logout, access-token
//! verification, and a person's list of sessions. Refresh-token rotation is
//! `refresh.rs`'s.

use super::{Caller, ClientInfo, Context, Spare, Tessera};
use crate::audit::{AuditRecord, Ended};
use crate::error::{Error, Result};
use crate::mfa::amr;
use crate::model::{Session, User};
use crate::secret::{ExposeSecret, SecretString};
use crate::settings::ms;
use crate::store::{AuditEntry, NewSession};
use std::sync::Arc;
use tessera_token::clock::Millis;
use tessera_token::crypto::{b64url, random_bytes, sha256};
use tessera_token::tokens::{
    ACCESS_TOKEN_TYP, AccessClaims, Audience, TokenError, new_jti, sign_jws,
};
use uuid::Uuid;

/// What a successful register, login or refresh hands out.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// The signed access token.
    pub access_token: SecretString,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The opaque refresh token.
    pub refresh_token: SecretString,
    /// The user.
    pub user: User,
    /// The session.
    pub session: Session,
}

/// What an OAuth grant adds to a new session.
#[derive(Debug, Clone, Default)]
pub struct SessionGrant {
    /// The client the tokens are issued to.
    pub client_id: Option<String>,
    /// The granted scope (space-separated).
    pub scope: Option<String>,
    /// The browser session the grant came through.
    pub browser_session_id: Option<Uuid>,
    /// When the person entered their password (default: now).
    pub auth_time: Option<Millis>,
    /// How they signed in (default: a password alone).
    pub amr: Option<Vec<String>>,
}

/// A fresh refresh token: 256 random bits, base64url.
pub(super) fn new_refresh_token() -> String {
    b64url(random_bytes::<32>())
}

/// Sessions and tokens: login, refresh-token rotation, logout, issuing and verifying access tokens, a person's sessions.
#[derive(Debug, Clone, Copy)]
pub struct Sessions<'a> {
    pub(super) tessera: &'a Tessera,
}

impl std::ops::Deref for Sessions<'_> {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.tessera.ctx
    }
}

impl Sessions<'_> {
    /// Logs a user in with username and password. Unknown users, wrong
    /// passwords and disabled users get the same answer after the same work.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<IssuedTokens> {
        self.login_with(username, password, client, SessionGrant::default())
            .await
    }

    /// Logs a user in and starts a session carrying `grant`.
    pub(super) async fn login_with(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
        grant: SessionGrant,
    ) -> Result<IssuedTokens> {
        let user = self.check_password(username, password, client).await?;
        self.tessera.email().require_verified(&user).await?;
        self.tessera.factors().require_second_step(&user).await?;
        self.start_session(user, client, grant).await
    }

    /// The second step of a login (`POST /auth/login/mfa`): the `mfa_token`
    /// a correct password earned and a TOTP code, a recovery code or a passkey.
    #[tracing::instrument(skip_all)]
    pub async fn login_second_step(
        &self,
        mfa_token: &str,
        proof: super::Proof<'_>,
        client: &ClientInfo,
    ) -> Result<IssuedTokens> {
        let (user, amr) = self
            .tessera
            .factors()
            .complete_sign_in(mfa_token, proof, client)
            .await?;
        let grant = SessionGrant {
            amr: Some(amr),
            ..SessionGrant::default()
        };
        self.start_session(user, client, grant).await
    }

    /// Signs in with a passkey alone (`POST /auth/passkey`).
    #[tracing::instrument(skip_all)]
    pub async fn login_with_passkey(
        &self,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<IssuedTokens> {
        let (user, amr) = self.tessera.passkeys().sign_in(credential, client).await?;
        let grant = SessionGrant {
            amr: Some(amr),
            ..SessionGrant::default()
        };
        self.start_session(user, client, grant).await
    }

    /// A passkey was added with an `enrollment_token`: the sign-in of the
    /// person the policy sent to enrol is complete, with a password and a
    /// passkey.
    pub async fn enrolled_with_passkey(
        &self,
        user: User,
        client: &ClientInfo,
    ) -> Result<IssuedTokens> {
        let grant = SessionGrant {
            amr: Some(amr::password_and(Some(amr::HARDWARE_KEY))),
            ..SessionGrant::default()
        };
        self.start_session(user, client, grant).await
    }

    /// The first factor of a person the policy sent to enrol is confirmed
    /// (`POST /me/factors/totp/{id}/confirm` with an `enrollment_token`):
    /// the sign-in is complete, with a password and a one-time code.
    pub async fn enrolled(&self, user: User, client: &ClientInfo) -> Result<IssuedTokens> {
        let grant = SessionGrant {
            amr: Some(amr::password_and(Some(amr::OTP))),
            ..SessionGrant::default()
        };
        self.start_session(user, client, grant).await
    }

    /// Starts a session for a person who has signed in, and issues its tokens.
    async fn start_session(
        &self,
        user: User,
        client: &ClientInfo,
        grant: SessionGrant,
    ) -> Result<IssuedTokens> {
        let entry = self.login_succeeded(&user, client, &grant);
        let (session, refresh_token) = self.new_session(user.id, client, grant);
        self.store.insert_session(&session, &[entry]).await?;
        self.events_written();
        self.issue_session_tokens(user, &session, refresh_token)
    }

    /// The audit entry of a successful login.
    pub(super) fn login_succeeded(
        &self,
        user: &User,
        client: &ClientInfo,
        grant: &SessionGrant,
    ) -> AuditEntry {
        self.audit(
            AuditRecord::LoginSucceeded {
                user: user.id,
                username: user.username.clone(),
                client_id: grant.client_id.clone(),
                browser_session: None,
            },
            client,
        )
    }

    /// Checks a username and password under the login throttle: the user,
    /// if the password is theirs and they are enabled. Failures are counted
    /// and audited; every failure is the same [`Error::InvalidCredentials`].
    pub(super) async fn check_password(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<User> {
        let admission = self
            .tessera
            .throttle()
            .admit_password_check(username, client)
            .await?;
        let stored = self.store.user_by_username(username).await?;
        let verified = self
            .hasher
            .verify(
                SecretString::from(password),
                stored.as_ref().map(|s| s.password_hash.clone()),
            )
            .await?;
        let user = match stored {
            Some(s) if verified.ok && !s.user.disabled => {
                if verified.needs_rehash {
                    let hash = self.hasher.hash(SecretString::from(password)).await?;
                    self.store
                        .set_password_hash(s.user.id, hash.expose_secret(), self.now())
                        .await?;
                }
                s.user
            }
            other => {
                let entry = self.audit(
                    AuditRecord::LoginFailed {
                        user: other.map(|s| s.user.id),
                        username: username.to_owned(),
                    },
                    client,
                );
                self.tessera
                    .throttle()
                    .password_check_failed(admission, entry)
                    .await?;
                return Err(Error::InvalidCredentials);
            }
        };
        self.tessera
            .throttle()
            .password_check_succeeded(admission)
            .await?;
        Ok(user)
    }

    /// A new session for `user` (not yet stored) and its first refresh token.
    pub(super) fn new_session(
        &self,
        user_id: Uuid,
        client: &ClientInfo,
        grant: SessionGrant,
    ) -> (NewSession, String) {
        let now = self.now();
        let refresh_token = new_refresh_token();
        let max_expires_at = now.saturating_add(ms(self.settings.session_max_age));
        let session = Session {
            id: Uuid::new_v4(),
            user_id,
            created_at: now,
            last_used_at: now,
            expires_at: now
                .saturating_add(ms(self.settings.refresh_ttl))
                .min(max_expires_at),
            max_expires_at,
            revoked_at: None,
            user_agent: client
                .user_agent
                .as_ref()
                .map(|ua| ua.chars().take(512).collect()),
            ip: client.ip.clone(),
            client_id: grant.client_id,
            scope: grant.scope,
            browser_session_id: grant.browser_session_id,
            auth_time: grant.auth_time.unwrap_or(now),
            amr: grant.amr.unwrap_or_else(amr::password),
        };
        let refresh_hash = sha256(refresh_token.as_bytes());
        (
            NewSession {
                session,
                refresh_hash,
            },
            refresh_token,
        )
    }

    /// The token response for a stored new session.
    pub(super) fn issue_session_tokens(
        &self,
        user: User,
        session: &NewSession,
        refresh_token: String,
    ) -> Result<IssuedTokens> {
        let access_token = self.issue_access_token(&user, &session.session, None, self.now())?;
        Ok(IssuedTokens {
            access_token: access_token.into(),
            expires_in: self.settings.access_ttl.as_secs(),
            refresh_token: refresh_token.into(),
            user,
            session: session.session.clone(),
        })
    }

    /// Signs an access token for `user` in `session`, carrying the session's
    /// client and scope (or `scope`, a narrower one asked for at refresh).
    pub fn issue_access_token(
        &self,
        user: &User,
        session: &Session,
        scope: Option<&str>,
        now: Millis,
    ) -> Result<String> {
        let secs = now.div_euclid(1000);
        let sub = user.id.to_string();
        let minted = self.mint_time(&sub, now);
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub,
            aud: Audience::One(self.settings.audience.clone()),
            exp: secs.saturating_add(
                i64::try_from(self.settings.access_ttl.as_secs()).unwrap_or(i64::MAX),
            ),
            iat: secs,
            nbf: Some(secs),
            jti: new_jti(minted),
            sid: Some(session.id.to_string()),
            username: Some(user.username.clone()),
            roles: Some(user.roles.clone()),
            client_id: session.client_id.clone(),
            scope: scope.map(str::to_owned).or_else(|| session.scope.clone()),
            amr: Some(session.amr.clone()),
            auth_time: Some(session.auth_time.div_euclid(1000)),
        };
        self.sign_access_claims(&claims, now)
    }

    /// Signs access-token claims with the active access key.
    pub(super) fn sign_access_claims(&self, claims: &AccessClaims, now: Millis) -> Result<String> {
        let ring = self.keys.current();
        let key = ring
            .signer(now)
            .ok_or_else(|| Error::Internal("no active signing key".into()))?;
        Ok(sign_jws(key, ACCESS_TOKEN_TYP, claims).map_err(TokenError::from)?)
    }

    /// Verifies an access token under every rule of SPEC §5. A token seen
    /// before is answered from the cache of verified tokens, which skips the
    /// signature check but re-checks expiry, revocation and its key.
    pub fn verify_access_token(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.verify_access_token_shared(token)
            .map(|claims| claims.as_ref().clone())
    }

    /// [`Tessera::verify_access_token`], answering the claims the cache
    /// holds rather than a copy of them.
    pub fn verify_access_token_shared(&self, token: &str) -> Result<Arc<AccessClaims>, TokenError> {
        self.verified.verify(
            token,
            self.keys.current().as_ref(),
            &self.revocations,
            &self.verify_policy,
            self.now(),
        )
    }

    /// Ends one session: its refresh token and every access token with its `sid`.
    pub async fn logout(&self, caller: &Caller, client: &ClientInfo) -> Result<()> {
        let ended = caller.session_id.map_or(Ended::NoSession, Ended::Session);
        let entry = self.audit(
            AuditRecord::Logout {
                actor: caller.user_id,
                user: caller.user_id,
                ended,
            },
            client,
        );
        match caller.session_id {
            Some(sid) => self.revoke_session_now(sid, entry).await.map(|_| ()),
            None => self.audit_alone(entry).await,
        }
    }

    /// Ends every session of the caller.
    pub async fn logout_all(&self, caller: &Caller, client: &ClientInfo) -> Result<()> {
        let entry = self.audit(
            AuditRecord::Logout {
                actor: caller.user_id,
                user: caller.user_id,
                ended: Ended::Everything,
            },
            client,
        );
        self.revoke_user_sessions(caller.user_id, Spare::NOTHING, &[entry])
            .await?;
        Ok(())
    }

    /// Ends every session of `user_id` (an administrator's or the command
    /// line's doing: `actor` `None`), their browsers' included.
    pub async fn end_all_of(
        &self,
        actor: Option<Uuid>,
        user_id: Uuid,
        client: &ClientInfo,
    ) -> Result<()> {
        let entry = self.audit(
            AuditRecord::Logout {
                actor: actor.unwrap_or(Uuid::nil()),
                user: user_id,
                ended: Ended::Everything,
            },
            client,
        );
        self.revoke_user_sessions(user_id, Spare::NOTHING, &[entry])
            .await
    }

    /// A user's live sessions, newest first.
    pub async fn sessions_of(&self, user_id: Uuid) -> Result<Vec<Session>> {
        Ok(self.store.live_sessions(user_id, self.now()).await?)
    }

    /// Revokes one session: the owner's or, for an admin, anyone's. Anything
    /// else is "not found", so session ids cannot be probed.
    pub async fn delete_session(
        &self,
        actor: &Caller,
        session_id: Uuid,
        client: &ClientInfo,
    ) -> Result<()> {
        let session = self
            .store
            .session_by_id(session_id)
            .await?
            .ok_or(Error::NotFound)?;
        if session.user_id != actor.user_id && !actor.is_admin {
            return Err(Error::NotFound);
        }
        if !session.is_live(self.now()) {
            return Err(Error::NotFound);
        }
        let record = AuditRecord::Logout {
            actor: actor.user_id,
            user: session.user_id,
            ended: Ended::Session(session_id),
        };
        let entry = self.audit(record, client);
        match session.browser_session_id {
            // A browser's own session: the browser is signed out, with
            // everything that came through it.
            Some(browser) if session.client_id.is_none() => {
                self.tessera.sso().end_browser_session(browser, entry).await
            }
            _ => self.revoke_session_now(session_id, entry).await.map(|_| ()),
        }
    }

    /// Revokes an application's access to the caller's account: every
    /// session of theirs issued to OAuth client `client_id`.
    pub async fn revoke_application(
        &self,
        caller: &Caller,
        client_id: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let entry = self.audit(
            AuditRecord::Logout {
                actor: caller.user_id,
                user: caller.user_id,
                ended: Ended::Application(client_id.to_owned()),
            },
            client,
        );
        let now = self.now();
        let until = self.revocation_horizon(now);
        let revoked = self
            .store
            .revoke_application(caller.user_id, client_id, now, until, &[entry])
            .await?;
        self.events_written();
        for s in revoked {
            self.revocations
                .apply(&crate::store::Revocation::session(s.id, until));
        }
        Ok(())
    }

    /// Ends every session of the caller but those of the browser (or the
    /// session) they act from.
    pub async fn end_other_sessions(&self, caller: &Caller, client: &ClientInfo) -> Result<()> {
        let entry = self.audit(
            AuditRecord::Logout {
                actor: caller.user_id,
                user: caller.user_id,
                ended: Ended::AllOthers,
            },
            client,
        );
        self.revoke_user_sessions(caller.user_id, Spare::caller(caller), &[entry])
            .await
    }
}
