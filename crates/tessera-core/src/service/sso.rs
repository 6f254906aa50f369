//! Single sign-on in the browser: the browser session behind the hosted
//! login page's cookie, issuing authorization codes for requests
//! `authorize.rs` validated, and RP-initiated logout.

use super::authorize::ValidAuthorization;
use super::grants::ID_TOKEN_TYP;
use super::{ClientInfo, Context, SessionGrant, Tessera};
use crate::audit::{AuditRecord, Ended};
use crate::error::{Error, Result};
use crate::mfa::amr;
use crate::model::User;
use crate::oauth::AUTHORIZATION_CODE_TTL_MS;
use crate::secret::SecretString;
use crate::settings::ms;
use crate::store::{AuditEntry, AuthorizationCode, BrowserSession, NewBrowserSession};
use serde_json::Value;
use tessera_token::crypto::{b64url, b64url_decode, random_bytes, sha256};
use tessera_token::tokens::verify_jws;
use uuid::Uuid;

/// Where `GET /logout` sends the browser afterwards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogoutTarget {
    /// A registered post-logout redirect URI, if one was asked for.
    pub redirect_uri: Option<String>,
    /// The user an authentic `id_token_hint` names.
    pub hinted_user: Option<Uuid>,
    /// Why the redirect asked for cannot be followed (the person is still
    /// signed out, and stays on Tessera's page).
    pub problem: Option<String>,
}

/// Single sign-on in the browser: authorization requests, browser sessions, codes and RP-initiated logout.
#[derive(Debug, Clone, Copy)]
pub struct Sso<'a> {
    pub(super) tessera: &'a Tessera,
}

impl std::ops::Deref for Sso<'_> {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.tessera.ctx
    }
}

impl Sso<'_> {
    /// Signs a person in at the hosted login page (throttled like any
    /// login). When the browser is already signed in as the same person
    /// (`current`, as with `prompt=login`), that browser session is kept and
    /// only its `auth_time` moves, so a later logout still ends everything
    /// signed in through this browser; the cookie value is then `None` (the
    /// browser keeps its own). Otherwise a new browser session starts, with
    /// the cookie value that names it.
    pub async fn sso_sign_in(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
        current: Option<&BrowserSession>,
    ) -> Result<(BrowserSession, User, Option<String>)> {
        let user = self
            .tessera
            .sessions()
            .check_password(username, password, client)
            .await?;
        self.tessera.email().require_verified(&user).await?;
        self.tessera.factors().require_second_step(&user).await?;
        self.signed_in(user, amr::password(), client, current).await
    }

    /// [`Sso::sso_sign_in`]'s second step: the `mfa_token` the password
    /// earned and a TOTP code, a recovery code or a passkey.
    pub async fn sso_second_step(
        &self,
        mfa_token: &str,
        proof: super::Proof<'_>,
        client: &ClientInfo,
        current: Option<&BrowserSession>,
    ) -> Result<(BrowserSession, User, Option<String>)> {
        let (user, amr) = self
            .tessera
            .factors()
            .complete_sign_in(mfa_token, proof, client)
            .await?;
        self.signed_in(user, amr, client, current).await
    }

    /// Signs a browser in with a passkey alone.
    pub async fn sso_sign_in_with_passkey(
        &self,
        credential: &serde_json::Value,
        client: &ClientInfo,
        current: Option<&BrowserSession>,
    ) -> Result<(BrowserSession, User, Option<String>)> {
        let (user, amr) = self.tessera.passkeys().sign_in(credential, client).await?;
        self.signed_in(user, amr, client, current).await
    }

    /// [`Sso::sso_sign_in`] for a person the policy sent to set up a
    /// factor: the `enrollment_token`, the factor being set up and the
    /// app's first code. Signed in with a password and a one-time code;
    /// also the recovery codes, shown once.
    pub async fn sso_sign_in_enrolled(
        &self,
        enrollment_token: &str,
        factor: Uuid,
        code: &str,
        client: &ClientInfo,
        current: Option<&BrowserSession>,
    ) -> Result<(BrowserSession, User, Option<String>, Vec<SecretString>)> {
        let (user, confirmed) = self
            .tessera
            .factors()
            .confirm_totp_enrolling(enrollment_token, factor, code, client)
            .await?;
        let amr = amr::password_and(Some(amr::OTP));
        let (browser, user, cookie) = self.signed_in(user, amr, client, current).await?;
        Ok((
            browser,
            user,
            cookie,
            confirmed.recovery_codes.unwrap_or_default(),
        ))
    }

    /// The browser session of a person who has just signed in as `amr`
    /// says: `current` renewed when it is theirs, otherwise a new one.
    async fn signed_in(
        &self,
        user: User,
        amr: Vec<String>,
        client: &ClientInfo,
        current: Option<&BrowserSession>,
    ) -> Result<(BrowserSession, User, Option<String>)> {
        let now = self.now();
        let entry = |id: Uuid| {
            self.audit(
                AuditRecord::LoginSucceeded {
                    user: user.id,
                    username: user.username.clone(),
                    client_id: None,
                    browser_session: Some(id),
                },
                client,
            )
        };
        if let Some(current) = current.filter(|b| b.user_id == user.id)
            && self
                .store
                .reauthenticate_browser_session(current.id, now, &amr, &[entry(current.id)])
                .await?
        {
            self.events_written();
            let session = BrowserSession {
                auth_time: now,
                amr,
                ..current.clone()
            };
            return Ok((session, user, None));
        }
        // Someone else signing in on this browser (an account switch) ends
        // the previous person's browser session and what came through it:
        // its cookie is about to be replaced, so nothing could end it later.
        if let Some(previous) = current.filter(|b| b.user_id != user.id) {
            self.sso_sign_out(previous, client).await?;
        }
        let (session, cookie) = self
            .start_browser_session(&user, amr, client, |id| vec![entry(id)])
            .await?;
        Ok((session, user, Some(cookie)))
    }

    /// Starts a browser session for `user`, with the browser's own session
    /// among theirs, recording what `audit` makes of its id: the session and
    /// the cookie value that names it.
    pub(super) async fn start_browser_session(
        &self,
        user: &User,
        amr: Vec<String>,
        client: &ClientInfo,
        audit: impl FnOnce(Uuid) -> Vec<AuditEntry>,
    ) -> Result<(BrowserSession, String)> {
        let now = self.now();
        let cookie = b64url(random_bytes::<32>());
        let session = BrowserSession {
            id: Uuid::new_v4(),
            user_id: user.id,
            auth_time: now,
            amr: amr.clone(),
            expires_at: now.saturating_add(ms(self
                .settings
                .refresh_ttl
                .min(self.settings.session_max_age))),
        };
        // The browser appears among the person's sessions as a session of
        // its own, created with it and ended with it.
        let (device, _) = self.tessera.sessions().new_session(
            user.id,
            client,
            SessionGrant {
                browser_session_id: Some(session.id),
                auth_time: Some(now),
                amr: Some(amr),
                ..SessionGrant::default()
            },
        );
        self.store
            .insert_browser_session(
                &NewBrowserSession {
                    session: session.clone(),
                    token_hash: sha256(cookie.as_bytes()),
                    device: Some(device),
                },
                &audit(session.id),
            )
            .await?;
        self.events_written();
        Ok((session, cookie))
    }

    /// An access token of the browser's own session, for a page of Tessera's
    /// that talks to its API from the browser (the console's live events):
    /// it ends with the browser session. `NotFound` for a browser session
    /// older than such sessions (signing in again makes one).
    pub async fn browser_access_token(
        &self,
        browser: &BrowserSession,
        user: &User,
    ) -> Result<String> {
        let now = self.now();
        let own = self
            .store
            .live_sessions(user.id, now)
            .await?
            .into_iter()
            .find(|s| s.client_id.is_none() && s.browser_session_id == Some(browser.id))
            .ok_or(Error::NotFound)?;
        self.tessera
            .sessions()
            .issue_access_token(user, &own, None, now)
    }

    /// Notes that a browser session's browser was used now (its own
    /// session's "last used"; at most one write a minute).
    pub async fn browser_seen(&self, browser: &BrowserSession) -> Result<()> {
        Ok(self.store.touch_browser(browser.id, self.now()).await?)
    }

    /// The live browser session a cookie names, with its (enabled) user.
    pub async fn sso_session(&self, cookie: &str) -> Result<Option<(BrowserSession, User)>> {
        if b64url_decode(cookie).is_none_or(|b| b.len() != 32) {
            return Ok(None);
        }
        let Some(session) = self
            .store
            .browser_session(&sha256(cookie.as_bytes()), self.now())
            .await?
        else {
            return Ok(None);
        };
        match self.store.user_by_id(session.user_id).await? {
            Some(s) if !s.user.disabled => Ok(Some((session, s.user))),
            _ => Ok(None),
        }
    }

    /// Issues a single-use authorization code for a validated request and a
    /// signed-in browser.
    pub async fn issue_authorization_code(
        &self,
        request: &ValidAuthorization,
        browser: &BrowserSession,
    ) -> Result<String> {
        let code = b64url(random_bytes::<32>());
        let now = self.now();
        let record = AuthorizationCode {
            client_id: request.client.client_id.clone(),
            user_id: browser.user_id,
            browser_session_id: Some(browser.id),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            scope: request.scope.clone(),
            nonce: request.nonce.clone(),
            auth_time: browser.auth_time,
            amr: browser.amr.clone(),
            expires_at: now.saturating_add(AUTHORIZATION_CODE_TTL_MS),
            used_at: None,
            session_id: None,
        };
        self.store
            .insert_authorization_code(&sha256(code.as_bytes()), &record)
            .await?;
        Ok(code)
    }

    /// Ends a browser session and every token session issued through it.
    pub async fn sso_sign_out(&self, browser: &BrowserSession, client: &ClientInfo) -> Result<()> {
        let record = AuditRecord::Logout {
            actor: browser.user_id,
            user: browser.user_id,
            ended: Ended::BrowserSession(browser.id),
        };
        let entry = self.audit(record, client);
        self.end_browser_session(browser.id, entry).await
    }

    /// Ends browser session `id` and every token session that came through
    /// it, recording `entry`.
    pub(super) async fn end_browser_session(&self, id: Uuid, entry: AuditEntry) -> Result<()> {
        let now = self.now();
        let until = self.revocation_horizon(now);
        let ended = self
            .store
            .end_browser_session(id, now, until, &[entry])
            .await?;
        self.events_written();
        for s in ended {
            self.revocations
                .apply(&crate::store::Revocation::session(s.id, until));
        }
        Ok(())
    }

    /// Checks where `GET /logout` may send the browser: only to a
    /// post-logout redirect URI registered by the client that `client_id`
    /// or an authentic `id_token_hint` names. Anything else is no redirect
    /// and a `problem` to show; signing out goes ahead either way.
    pub async fn logout_target(
        &self,
        client_id: Option<&str>,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
    ) -> Result<LogoutTarget> {
        let hint = id_token_hint.and_then(|t| self.read_id_token_hint(t));
        let hinted_client = hint
            .as_ref()
            .and_then(|c| c.get("aud"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let hinted_user = hint
            .as_ref()
            .and_then(|c| c.get("sub"))
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok());
        let refused = |problem: &str| LogoutTarget {
            redirect_uri: None,
            hinted_user: None,
            problem: Some(problem.to_owned()),
        };
        if let (Some(named), Some(hinted)) = (client_id, hinted_client.as_deref())
            && named != hinted
        {
            return Ok(refused(
                "The id_token_hint was issued to another application.",
            ));
        }
        let Some(uri) = post_logout_redirect_uri else {
            return Ok(LogoutTarget {
                redirect_uri: None,
                hinted_user,
                problem: None,
            });
        };
        let Some(client_id) = client_id.map(str::to_owned).or(hinted_client) else {
            return Ok(refused(
                "A post_logout_redirect_uri needs a client_id or an id_token_hint.",
            ));
        };
        let registered = self
            .store
            .client_by_id(&client_id)
            .await?
            .is_some_and(|c| c.client.has_post_logout_redirect_uri(uri));
        if !registered {
            return Ok(refused(
                "The post_logout_redirect_uri is not one the application registered.",
            ));
        }
        Ok(LogoutTarget {
            redirect_uri: Some(uri.to_owned()),
            hinted_user,
            problem: None,
        })
    }

    /// The claims of an ID token Tessera signed (expired ones too, as
    /// RP-initiated logout allows), if its signature, `typ` and issuer hold.
    fn read_id_token_hint(&self, token: &str) -> Option<serde_json::Map<String, Value>> {
        let ring = self.tessera.keys().id_token_verification_keys();
        // Any key still known verifies; expiry does not matter for a hint.
        let jws = verify_jws(token, &ring, self.now(), i64::MAX).ok()?;
        // The access-token key may sign ID tokens too: only `typ` tells an
        // access token (`at+jwt`) from an ID token (RFC 8725 §3.11).
        if jws.header.get("typ").and_then(Value::as_str) != Some(ID_TOKEN_TYP) {
            return None;
        }
        let claims: serde_json::Map<String, Value> = serde_json::from_slice(&jws.payload).ok()?;
        (claims.get("iss").and_then(Value::as_str) == Some(self.settings.issuer.as_str()))
            .then_some(claims)
    }
}
