//! The token endpoint's grants (RFC 6749, with PKCE for codes) and the ID
//! tokens of OpenID Connect.

use super::clients::{ClientAuthentication, oauth};
use super::sessions::SessionGrant;
use super::{ClientInfo, Context, IssuedTokens, Tessera};
use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::model::{Session, User};
use crate::oauth::{
    FIRST_PARTY_SCOPES, GrantType, IdTokenClaims, OAuthClient, OAuthError, OAuthErrorCode,
    SCOPE_EMAIL, SCOPE_OPENID, SCOPE_PROFILE, parse_scope, pkce_matches, scope_has,
};
use crate::secret::SecretString;
use crate::store::Redemption;
use serde::Serialize;
use tessera_token::crypto::{b64url_decode, sha256};
use tessera_token::keys::parse_alg;
use tessera_token::tokens::{AccessClaims, Audience, TokenError, new_jti, sign_jws};
use uuid::Uuid;

/// The `typ` header of ID tokens (OIDC Core leaves it open; `JWT` is what
/// client libraries expect).
pub const ID_TOKEN_TYP: &str = "JWT";

/// What the token endpoint hands out (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct OAuthTokens {
    /// The access token.
    #[serde(serialize_with = "crate::secret::expose")]
    pub access_token: SecretString,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// The access token's lifetime in seconds.
    pub expires_in: u64,
    /// A refresh token, when the grant gives one.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::secret::expose_optional"
    )]
    pub refresh_token: Option<SecretString>,
    /// The granted scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// An ID token, when the scope holds `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
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

/// OAuth grants: the token endpoint's four grants, ID tokens, and (`token_endpoints.rs`) userinfo, revocation and introspection.
#[derive(Debug, Clone, Copy)]
pub struct Grants<'a> {
    pub(super) tessera: &'a Tessera,
}

impl std::ops::Deref for Grants<'_> {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.tessera.ctx
    }
}

impl Grants<'_> {
    /// `grant_type=password`: the person's own credentials, with or without a client.
    pub async fn password_grant(
        &self,
        auth: &ClientAuthentication,
        username: &str,
        password: &str,
        scope: Option<&str>,
        client: &ClientInfo,
    ) -> Result<OAuthTokens> {
        let stored = self.tessera.clients().authenticate_client(auth).await?;
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
            .tessera
            .sessions()
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
        let stored = self.tessera.clients().authenticate_client(auth).await?;
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
            .tessera
            .sessions()
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
            .tessera
            .clients()
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
            // Nobody signed in: a client speaks for itself.
            amr: None,
            auth_time: None,
        };
        Ok(OAuthTokens {
            access_token: self
                .tessera
                .sessions()
                .sign_access_claims(&claims, now)?
                .into(),
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
            .tessera
            .clients()
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
            amr: Some(found.amr.clone()),
        };
        let (session, refresh_token) = self.tessera.sessions().new_session(user.id, client, grant);
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
        let issued = self
            .tessera
            .sessions()
            .issue_session_tokens(user, &session, refresh_token)?;
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
        let key = self.tessera.keys().id_token_signer(alg).await?;
        let claims = IdTokenClaims {
            iss: self.settings.issuer.clone(),
            sub: user.id.to_string(),
            aud: client.client_id.clone(),
            exp: secs.saturating_add(self.access_ttl_secs()),
            iat: secs,
            auth_time: session.auth_time.div_euclid(1000),
            amr: session.amr.clone(),
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
            email_verified: (scope_has(scope, SCOPE_EMAIL) && user.email.is_some())
                .then_some(user.email_verified),
            roles: user.roles.clone(),
        };
        Ok(sign_jws(&key, ID_TOKEN_TYP, &claims).map_err(TokenError::from)?)
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
pub(super) fn full_name(user: &User) -> Option<String> {
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
