//! OAuth 2.0 and OpenID Connect: client registration, client
//! authentication, the token endpoint's grants, ID tokens, `userinfo`,
//! revocation (RFC 7009) and introspection (RFC 7662).

use super::auth::SessionGrant;
use super::{ClientInfo, IssuedTokens, Tessera};
use crate::audit::{AuditRecord, Ended};
use crate::error::{Error, Result};
use crate::model::{Session, User};
use crate::oauth::{
    FIRST_PARTY_SCOPES, GrantType, IdTokenClaims, KNOWN_SCOPES, OAuthClient, OAuthError,
    OAuthErrorCode, SCOPE_ACCOUNT, SCOPE_ADMIN, SCOPE_EMAIL, SCOPE_INTROSPECT, SCOPE_OPENID,
    SCOPE_PROFILE, StoredClient, TESSERA_SCOPE_PREFIX, is_valid_scope_token, parse_scope,
    pkce_matches, redirect_uri_problem, scope_has,
};
use crate::store::Redemption;
use serde::Serialize;
use serde_json::{Value, json};
use tessera_token::crypto::{b64url, b64url_decode, random_bytes, sha256};
use tessera_token::keys::{alg_name, parse_alg};
use tessera_token::revocation::{Revocation, RevocationKind};
use tessera_token::tokens::{AccessClaims, Audience, TokenError, new_jti, sign_jws};
use uuid::Uuid;

/// The `typ` header of ID tokens (OIDC Core leaves it open; `JWT` is what
/// client libraries expect).
pub const ID_TOKEN_TYP: &str = "JWT";

/// A client to register.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// A name shown on the login page.
    pub name: String,
    /// Where authorization responses may go.
    pub redirect_uris: Vec<String>,
    /// Where `GET /logout` may send the browser.
    pub post_logout_redirect_uris: Vec<String>,
    /// The grants it may use.
    pub grant_types: Vec<GrantType>,
    /// The scopes it may be granted.
    pub scopes: Vec<String>,
    /// Whether it gets a secret.
    pub confidential: bool,
    /// Its ID tokens' algorithm (`None`: RS256).
    pub id_token_alg: Option<String>,
}

/// How a request to the token, revocation or introspection endpoint
/// identifies its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuthentication {
    /// Not at all.
    None,
    /// By `client_id` alone (a public client).
    Public(String),
    /// By id and secret (HTTP Basic or `client_secret_post`).
    Secret {
        /// The client id.
        client_id: String,
        /// The secret as presented.
        secret: String,
    },
}

/// What the token endpoint hands out (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct OAuthTokens {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// The access token's lifetime in seconds.
    pub expires_in: u64,
    /// A refresh token, when the grant gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// An ID token, when the scope holds `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

fn oauth(e: OAuthError) -> Error {
    Error::OAuth(e)
}

/// Maps a failed grant to `invalid_grant`, keeping throttling and our own failures.
fn as_invalid_grant(e: Error) -> Error {
    match e {
        Error::InvalidCredentials => {
            oauth(OAuthError::invalid_grant("invalid username or password"))
        }
        Error::InvalidRefreshToken => oauth(OAuthError::invalid_grant(
            "the refresh token is invalid, expired or revoked",
        )),
        other => other,
    }
}

impl Tessera {
    /// Registers a client; returns it with its secret (confidential
    /// clients), which is shown this once and stored only as a hash.
    pub async fn register_client(
        &self,
        new: NewClient,
        actor: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<(OAuthClient, Option<String>)> {
        self.check_new_client(&new)?;
        let secret = new.confidential.then(|| b64url(random_bytes::<32>()));
        let stored = StoredClient {
            client: OAuthClient {
                client_id: b64url(random_bytes::<16>()),
                name: new.name,
                confidential: new.confidential,
                redirect_uris: new.redirect_uris,
                post_logout_redirect_uris: new.post_logout_redirect_uris,
                grant_types: new.grant_types,
                scopes: new.scopes,
                id_token_alg: new.id_token_alg,
                created_at: self.now(),
            },
            secret_hash: secret.as_ref().map(|s| sha256(s.as_bytes())),
        };
        let record = AuditRecord::ClientCreated {
            actor,
            client_id: stored.client.client_id.clone(),
            name: stored.client.name.clone(),
            confidential: stored.client.confidential,
        };
        let entry = self.audit(record, client);
        self.store.insert_client(&stored, &[entry]).await?;
        self.ensure_id_token_key().await?;
        Ok((stored.client, secret))
    }

    fn check_new_client(&self, new: &NewClient) -> Result<()> {
        if new.name.trim().is_empty() {
            return Err(Error::invalid("/name", "must not be blank"));
        }
        for (field, uris) in [
            ("redirect_uris", &new.redirect_uris),
            ("post_logout_redirect_uris", &new.post_logout_redirect_uris),
        ] {
            for (i, uri) in uris.iter().enumerate() {
                if let Some(problem) = redirect_uri_problem(uri) {
                    return Err(Error::invalid(&format!("/{field}/{i}"), problem));
                }
            }
        }
        if new.grant_types.is_empty() {
            return Err(Error::invalid(
                "/grant_types",
                "name at least one grant type",
            ));
        }
        if new.grant_types.contains(&GrantType::AuthorizationCode) && new.redirect_uris.is_empty() {
            return Err(Error::invalid(
                "/redirect_uris",
                "the authorization_code grant needs at least one redirect URI",
            ));
        }
        if new.grant_types.contains(&GrantType::ClientCredentials) && !new.confidential {
            return Err(Error::invalid(
                "/grant_types",
                "client_credentials is only for confidential clients",
            ));
        }
        for (i, scope) in new.scopes.iter().enumerate() {
            if !is_valid_scope_token(scope) {
                return Err(Error::invalid(
                    &format!("/scopes/{i}"),
                    "not a valid scope token",
                ));
            }
            if scope.starts_with(TESSERA_SCOPE_PREFIX) && !KNOWN_SCOPES.contains(&scope.as_str()) {
                return Err(Error::invalid(
                    &format!("/scopes/{i}"),
                    format!(
                        "the {TESSERA_SCOPE_PREFIX} scopes are Tessera's own: \
                         {SCOPE_ACCOUNT}, {SCOPE_ADMIN} or {SCOPE_INTROSPECT}"
                    ),
                ));
            }
            if scope == SCOPE_INTROSPECT && !new.confidential {
                return Err(Error::invalid(
                    &format!("/scopes/{i}"),
                    "only a confidential client (a resource server) may introspect tokens",
                ));
            }
        }
        if let Some(alg) = &new.id_token_alg
            && !parse_alg(alg).is_some_and(|a| self.id_token_algorithms().contains(&a))
        {
            let offered: Vec<&str> = self
                .id_token_algorithms()
                .into_iter()
                .map(alg_name)
                .collect();
            return Err(Error::invalid(
                "/id_token_signed_response_alg",
                format!("must be one of {}", offered.join(", ")),
            ));
        }
        Ok(())
    }

    /// Every registered client.
    pub async fn clients(&self) -> Result<Vec<OAuthClient>> {
        Ok(self.store.clients().await?)
    }

    /// A registered client, if it exists.
    pub async fn client(&self, client_id: &str) -> Result<Option<OAuthClient>> {
        Ok(self.store.client_by_id(client_id).await?.map(|c| c.client))
    }

    /// Deletes a client, ending every session issued to it and refusing its
    /// own (`client_credentials`) tokens from now on.
    pub async fn delete_client(
        &self,
        client_id: &str,
        actor: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<()> {
        let now = self.now();
        let until = self.revocation_horizon(now);
        let cut_off = Revocation {
            kind: RevocationKind::User,
            subject: client_id.to_owned(),
            not_before: now.saturating_add(1),
            expires_at: until,
        };
        let record = AuditRecord::ClientDeleted {
            actor,
            client_id: client_id.to_owned(),
        };
        let entry = self.audit(record, client);
        let revoked = self
            .store
            .delete_client(
                client_id,
                now,
                until,
                std::slice::from_ref(&cut_off),
                &[entry],
            )
            .await?
            .ok_or(Error::NotFound)?;
        self.events_written();
        self.revocations.apply(&cut_off);
        for s in revoked {
            self.revocations.apply(&Revocation::session(s.id, until));
        }
        Ok(())
    }

    /// The client a request identifies, checked: `None` when it names none;
    /// `invalid_client` when it names an unknown client, a confidential
    /// client without (or with a wrong) secret, or a public client with one.
    pub async fn authenticate_client(
        &self,
        auth: &ClientAuthentication,
    ) -> Result<Option<StoredClient>> {
        let (client_id, secret) = match auth {
            ClientAuthentication::None => return Ok(None),
            ClientAuthentication::Public(id) => (id, None),
            ClientAuthentication::Secret { client_id, secret } => (client_id, Some(secret)),
        };
        let stored = self.store.client_by_id(client_id).await?;
        let ok = match (&stored, secret) {
            (Some(c), None) => !c.client.confidential,
            (Some(c), Some(secret)) => c.client.confidential && c.secret_matches(secret),
            (None, _) => false,
        };
        if !ok {
            return Err(oauth(OAuthError::invalid_client()));
        }
        Ok(stored)
    }

    /// `grant_type=password`: the person's own credentials, with or without a client.
    pub async fn password_grant(
        &self,
        auth: &ClientAuthentication,
        username: &str,
        password: &str,
        scope: Option<&str>,
        client: &ClientInfo,
    ) -> Result<OAuthTokens> {
        let stored = self.authenticate_client(auth).await?;
        let oauth_client = stored.as_ref().map(|s| &s.client);
        let scope = match oauth_client {
            Some(c) => {
                if !c.allows(GrantType::Password) {
                    return Err(oauth(OAuthError::unauthorized_client("the password grant")));
                }
                Some(self.granted_scope(c, scope)?)
            }
            None => first_party_scope(scope)?,
        };
        let grant = SessionGrant {
            client_id: oauth_client.map(|c| c.client_id.clone()),
            scope: scope.clone(),
            ..SessionGrant::default()
        };
        let issued = self
            .login_with(username, password, client, grant)
            .await
            .map_err(as_invalid_grant)?;
        self.token_response(issued, oauth_client, None, None).await
    }

    /// `grant_type=refresh_token`: rotates the refresh token of a session
    /// issued to this client (or to no client, for first-party sessions).
    pub async fn refresh_token_grant(
        &self,
        auth: &ClientAuthentication,
        refresh_token: &str,
        scope: Option<&str>,
        client: &ClientInfo,
    ) -> Result<OAuthTokens> {
        let stored = self.authenticate_client(auth).await?;
        let oauth_client = stored.as_ref().map(|s| &s.client);
        if let Some(c) = oauth_client
            && !c.allows(GrantType::RefreshToken)
        {
            return Err(oauth(OAuthError::unauthorized_client(
                "the refresh_token grant",
            )));
        }
        let invalid = || {
            oauth(OAuthError::invalid_grant(
                "the refresh token is invalid, expired or revoked",
            ))
        };
        // A refresh token is bound to the client it was issued to (RFC 6749 §6):
        // check before rotating, so a stranger's attempt disturbs nothing.
        let session = self
            .refresh_token_session(refresh_token)
            .await?
            .ok_or_else(invalid)?;
        if session.client_id.as_deref() != oauth_client.map(|c| c.client_id.as_str()) {
            return Err(invalid());
        }
        let narrowed = match scope {
            None => None,
            Some(requested) => {
                let requested = parse_scope(requested)
                    .ok_or_else(|| oauth(OAuthError::invalid_scope("malformed scope")))?;
                let granted = session.scope.as_deref().unwrap_or("");
                if !requested.iter().all(|s| scope_has(granted, s)) {
                    return Err(oauth(OAuthError::invalid_scope(
                        "a refresh may not widen the scope",
                    )));
                }
                Some(requested.join(" "))
            }
        };
        let issued = self
            .refresh_with_scope(
                refresh_token,
                oauth_client.map(|c| c.client_id.as_str()),
                client,
                narrowed.as_deref(),
            )
            .await
            .map_err(as_invalid_grant)?;
        self.token_response(issued, oauth_client, narrowed, None)
            .await
    }

    /// The session a refresh token belongs to (current or recently rotated).
    async fn refresh_token_session(&self, refresh_token: &str) -> Result<Option<Session>> {
        if b64url_decode(refresh_token).is_none_or(|b| b.len() != 32) {
            return Ok(None);
        }
        let hash = sha256(refresh_token.as_bytes());
        if let Some(s) = self.store.session_by_refresh_hash(&hash).await? {
            return Ok(Some(s));
        }
        Ok(self
            .store
            .spent_refresh_token(&hash)
            .await?
            .map(|s| s.session))
    }

    /// `grant_type=client_credentials`: a token about the client itself.
    pub async fn client_credentials_grant(
        &self,
        auth: &ClientAuthentication,
        scope: Option<&str>,
    ) -> Result<OAuthTokens> {
        if !matches!(auth, ClientAuthentication::Secret { .. }) {
            return Err(oauth(OAuthError::invalid_client()));
        }
        let stored = self
            .authenticate_client(auth)
            .await?
            .ok_or_else(|| oauth(OAuthError::invalid_client()))?;
        let c = &stored.client;
        if !c.allows(GrantType::ClientCredentials) {
            return Err(oauth(OAuthError::unauthorized_client(
                "the client_credentials grant",
            )));
        }
        if scope.is_some_and(|s| scope_has(s, SCOPE_OPENID)) {
            return Err(oauth(OAuthError::invalid_scope(
                "openid is about a person; a client_credentials token has none",
            )));
        }
        // Without a requested scope the client gets its scopes, but `openid`
        // (which is about a person) is dropped.
        let granted = self.granted_scope(c, scope)?;
        let granted: Vec<&str> = granted.split(' ').filter(|s| *s != SCOPE_OPENID).collect();
        let scope = (!granted.is_empty()).then(|| granted.join(" "));
        let now = self.now();
        let secs = now.div_euclid(1000);
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: c.client_id.clone(),
            aud: Audience::One(self.settings.audience.clone()),
            exp: secs.saturating_add(self.access_ttl_secs()),
            iat: secs,
            nbf: Some(secs),
            jti: new_jti(now),
            sid: None,
            username: None,
            roles: None,
            client_id: Some(c.client_id.clone()),
            scope: scope.clone(),
        };
        Ok(OAuthTokens {
            access_token: self.sign_access_claims(&claims, now)?,
            token_type: "Bearer",
            expires_in: self.settings.access_ttl.as_secs(),
            refresh_token: None,
            scope,
            id_token: None,
        })
    }

    /// `grant_type=authorization_code`: redeems a code once, for the client
    /// and redirect URI it was issued to, with the PKCE verifier; a second
    /// use revokes what the first one issued (RFC 6749 §4.1.2).
    pub async fn authorization_code_grant(
        &self,
        auth: &ClientAuthentication,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        client: &ClientInfo,
    ) -> Result<OAuthTokens> {
        let stored = self
            .authenticate_client(auth)
            .await?
            .ok_or_else(|| oauth(OAuthError::invalid_request("client_id is required")))?;
        let c = &stored.client;
        if !c.allows(GrantType::AuthorizationCode) {
            return Err(oauth(OAuthError::unauthorized_client(
                "the authorization_code grant",
            )));
        }
        let verifier = code_verifier.ok_or_else(|| {
            oauth(OAuthError::invalid_request(
                "code_verifier is required (PKCE S256)",
            ))
        })?;
        let invalid = || {
            oauth(OAuthError::invalid_grant(
                "the code is invalid, expired or used",
            ))
        };
        if b64url_decode(code).is_none_or(|b| b.len() != 32) {
            return Err(invalid());
        }
        let hash = sha256(code.as_bytes());
        let found = self
            .store
            .authorization_code(&hash)
            .await?
            .ok_or_else(invalid)?;
        if found.client_id != c.client_id {
            return Err(invalid());
        }
        if let Some(sid) = found.session_id.filter(|_| found.used_at.is_some()) {
            self.code_reused(sid, c, client).await?;
            return Err(invalid());
        }
        if redirect_uri != Some(found.redirect_uri.as_str()) {
            return Err(oauth(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request's",
            )));
        }
        if !pkce_matches(verifier, &found.code_challenge) {
            return Err(oauth(OAuthError::invalid_grant(
                "the code_verifier does not match",
            )));
        }
        let user = match self.store.user_by_id(found.user_id).await? {
            Some(s) if !s.user.disabled => s.user,
            _ => return Err(invalid()),
        };
        let grant = SessionGrant {
            client_id: Some(c.client_id.clone()),
            scope: Some(found.scope.clone()),
            browser_session_id: found.browser_session_id,
            auth_time: Some(found.auth_time),
        };
        let (session, refresh_token) = self.new_session(user.id, client, grant);
        let record = AuditRecord::TokenIssued {
            user: user.id,
            username: user.username.clone(),
            client_id: c.client_id.clone(),
            grant: GrantType::AuthorizationCode.as_str(),
        };
        let entry = self.audit(record, client);
        match self
            .store
            .redeem_authorization_code(&hash, self.now(), &session, &[entry])
            .await?
        {
            Redemption::Redeemed => {}
            Redemption::AlreadyUsed(Some(sid)) => {
                self.code_reused(sid, c, client).await?;
                return Err(invalid());
            }
            Redemption::AlreadyUsed(None) | Redemption::Unknown => return Err(invalid()),
        }
        self.events_written();
        let issued = self.issue_session_tokens(user, &session, refresh_token)?;
        self.token_response(issued, Some(c), None, found.nonce)
            .await
    }

    /// A spent code came back: whoever holds it may have stolen it, so the
    /// tokens its first use issued are revoked.
    async fn code_reused(&self, sid: Uuid, c: &OAuthClient, client: &ClientInfo) -> Result<()> {
        let record = AuditRecord::AuthorizationCodeReused {
            client_id: c.client_id.clone(),
            session: sid,
        };
        let entry = self.audit(record, client);
        self.revoke_session_now(sid, entry).await?;
        Ok(())
    }

    /// The scope `client` is granted for `requested`, space-separated.
    fn granted_scope(&self, client: &OAuthClient, requested: Option<&str>) -> Result<String> {
        client
            .grant_scope(requested)
            .map(|s| s.join(" "))
            .ok_or_else(|| {
                oauth(OAuthError::invalid_scope(
                    "the scope is malformed or beyond what the client may have",
                ))
            })
    }

    fn access_ttl_secs(&self) -> i64 {
        i64::try_from(self.settings.access_ttl.as_secs()).unwrap_or(i64::MAX)
    }

    /// Turns issued session tokens into a token response, adding an ID token
    /// when the scope holds `openid`; the refresh token only goes to clients
    /// allowed the `refresh_token` grant (and to first-party callers).
    async fn token_response(
        &self,
        issued: IssuedTokens,
        client: Option<&OAuthClient>,
        narrowed_scope: Option<String>,
        nonce: Option<String>,
    ) -> Result<OAuthTokens> {
        let scope = narrowed_scope.or_else(|| issued.session.scope.clone());
        let id_token = match (client, &scope) {
            (Some(c), Some(s)) if scope_has(s, SCOPE_OPENID) => Some(
                self.issue_id_token(&issued.user, &issued.session, c, s, nonce)
                    .await?,
            ),
            _ => None,
        };
        let refresh_token = client
            .is_none_or(|c| c.allows(GrantType::RefreshToken))
            .then_some(issued.refresh_token);
        Ok(OAuthTokens {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token,
            scope,
            id_token,
        })
    }

    /// Signs an ID token (OIDC Core §2) for `user` in `session`, to `client`.
    async fn issue_id_token(
        &self,
        user: &User,
        session: &Session,
        client: &OAuthClient,
        scope: &str,
        nonce: Option<String>,
    ) -> Result<String> {
        let now = self.now();
        let secs = now.div_euclid(1000);
        let alg = client
            .id_token_alg
            .as_deref()
            .and_then(parse_alg)
            .unwrap_or(tessera_token::keys::Algorithm::RS256);
        let key = self.id_token_signer(alg).await?;
        let claims = IdTokenClaims {
            iss: self.settings.issuer.clone(),
            sub: user.id.to_string(),
            aud: client.client_id.clone(),
            exp: secs.saturating_add(self.access_ttl_secs()),
            iat: secs,
            auth_time: session.auth_time.div_euclid(1000),
            nonce,
            azp: client.client_id.clone(),
            sid: Some(session.id.to_string()),
            preferred_username: scope_has(scope, SCOPE_PROFILE).then(|| user.username.clone()),
            name: scope_has(scope, SCOPE_PROFILE)
                .then(|| full_name(user))
                .flatten(),
            email: scope_has(scope, SCOPE_EMAIL)
                .then(|| user.email.clone())
                .flatten(),
            roles: user.roles.clone(),
        };
        Ok(sign_jws(&key, ID_TOKEN_TYP, &claims).map_err(TokenError::from)?)
    }

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
        let stored = self.authenticate_client(auth).await?;
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
        let Ok(claims) = self.verify_access_token(token) else {
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
        self.revocations.apply(&revocation);
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
        if let Ok(c) = self.verify_access_token(token) {
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

/// The scope of a `password` grant without a client: at most
/// `profile email` (an ID token needs a client to be its audience).
fn first_party_scope(scope: Option<&str>) -> Result<Option<String>> {
    let Some(requested) = scope else {
        return Ok(None);
    };
    let scopes = parse_scope(requested)
        .ok_or_else(|| oauth(OAuthError::invalid_scope("malformed scope")))?;
    if scopes.iter().any(|s| s == SCOPE_OPENID) {
        return Err(oauth(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            "openid needs a client_id: the ID token's audience",
        )));
    }
    if !scopes
        .iter()
        .all(|s| FIRST_PARTY_SCOPES.contains(&s.as_str()))
    {
        return Err(oauth(OAuthError::invalid_scope(
            "without a client only profile and email may be asked for",
        )));
    }
    Ok(Some(scopes.join(" ")))
}

/// "First Last", or whichever part is set.
fn full_name(user: &User) -> Option<String> {
    match (&user.first_name, &user.last_name) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (Some(f), None) => Some(f.clone()),
        (None, Some(l)) => Some(l.clone()),
        (None, None) => None,
    }
}

impl From<OAuthError> for Error {
    fn from(e: OAuthError) -> Self {
        Error::OAuth(e)
    }
}
