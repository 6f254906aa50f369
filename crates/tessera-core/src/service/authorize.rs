//! The authorization request of single sign-on (OIDC Core §3.1.2.1,
//! RFC 6749 §4.1.1, RFC 7636): what arrived, what it must hold, and the
//! request once its client, redirect URI, scope, PKCE challenge, `prompt`
//! and `max_age` are checked.

use super::Sso;
use crate::error::Error;
use crate::oauth::{GrantType, OAuthClient, OAuthError, OAuthErrorCode, is_valid_code_challenge};
use serde::Deserialize;
use tessera_token::clock::Millis;

/// The longest `state` or `nonce` accepted: enough for any client library,
/// small enough to keep codes and pages small.
const MAX_PARAMETER_CHARS: usize = 512;

/// An authorization request as it arrived (OIDC Core §3.1.2.1); every
/// field optional so that validation can say what is missing.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: Option<String>,
    /// Where to send the answer.
    pub redirect_uri: Option<String>,
    /// Must be `code`.
    pub response_type: Option<String>,
    /// Space-separated scopes.
    pub scope: Option<String>,
    /// Opaque value returned to the client.
    pub state: Option<String>,
    /// Goes into the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// Must be `S256`.
    pub code_challenge_method: Option<String>,
    /// `none`, `login` (others are accepted and ignored).
    pub prompt: Option<String>,
    /// The longest ago, in seconds, the person may have signed in.
    pub max_age: Option<String>,
    /// Only `query` is supported.
    pub response_mode: Option<String>,
}

/// What the request asks of the login page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Ask for a password only when nobody is signed in.
    Default,
    /// Always ask for the password again.
    Login,
    /// Never show a page: answer `login_required` if nobody is signed in.
    None,
}

/// A request that passed validation.
#[derive(Debug, Clone)]
pub struct ValidAuthorization {
    /// The client.
    pub client: OAuthClient,
    /// The registered redirect URI it named.
    pub redirect_uri: String,
    /// The granted scope, space-separated.
    pub scope: String,
    /// The client's `state`.
    pub state: Option<String>,
    /// The client's `nonce`.
    pub nonce: Option<String>,
    /// The PKCE `S256` challenge.
    pub code_challenge: String,
    /// What it asks of the login page.
    pub prompt: Prompt,
    /// The longest ago, in seconds, the person may have signed in (OIDC
    /// `max_age`): an older sign-in asks for the password (and the second
    /// factor) again.
    pub max_age: Option<i64>,
}

impl ValidAuthorization {
    /// Whether a browser signed in at `auth_time` is signed in recently
    /// enough for this request at `now`.
    pub fn fresh_enough(&self, auth_time: Millis, now: Millis) -> bool {
        self.max_age
            .is_none_or(|secs| now.saturating_sub(auth_time) <= secs.saturating_mul(1000))
    }
}

impl ValidAuthorization {
    /// What the granted scope lets the application do with Tessera itself
    /// ([`crate::oauth::PRIVILEGED_SCOPES`]), in words for the person; empty
    /// for an ordinary sign-in. Such a request is never answered silently.
    pub fn privileges(&self) -> Vec<&'static str> {
        self.scope
            .split(' ')
            .filter_map(crate::oauth::privileged_scope_description)
            .collect()
    }
}

/// Why an authorization request cannot go ahead.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show an error page,
    /// never redirect (RFC 6749 §4.1.2.1).
    Page(String),
    /// Tell the client, at its redirect URI.
    Redirect {
        /// Where.
        redirect_uri: String,
        /// The client's `state`.
        state: Option<String>,
        /// What went wrong.
        error: OAuthError,
    },
    /// Our own failure.
    Internal(Error),
}

impl From<Error> for AuthorizeError {
    fn from(e: Error) -> Self {
        AuthorizeError::Internal(e)
    }
}

impl Sso<'_> {
    /// Validates an authorization request. An unknown client or an
    /// unregistered redirect URI is a page error; everything after that is
    /// reported to the client at its redirect URI.
    pub async fn validate_authorization(
        &self,
        req: &AuthorizationRequest,
    ) -> std::result::Result<ValidAuthorization, AuthorizeError> {
        let page = |m: &str| AuthorizeError::Page(m.to_owned());
        let client_id = req
            .client_id
            .as_deref()
            .ok_or_else(|| page("The request names no client (client_id is missing)."))?;
        let client = self
            .store
            .client_by_id(client_id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| page("The application that sent you here is not registered."))?
            .client;
        let redirect_uri = req
            .redirect_uri
            .clone()
            .ok_or_else(|| page("The request names no redirect_uri."))?;
        if !client.has_redirect_uri(&redirect_uri) {
            return Err(page(
                "The redirect_uri is not one the application registered.",
            ));
        }
        let state = req.state.clone();
        let fail = |code: OAuthErrorCode, description: &'static str| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error: OAuthError::new(code, description),
        };
        if state
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_PARAMETER_CHARS)
            || req
                .nonce
                .as_ref()
                .is_some_and(|n| n.chars().count() > MAX_PARAMETER_CHARS)
        {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "state or nonce is too long",
            ));
        }
        if req.response_type.as_deref() != Some("code") {
            return Err(fail(
                OAuthErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
        if req.response_mode.as_deref().is_some_and(|m| m != "query") {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "only response_mode=query is supported",
            ));
        }
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(fail(
                OAuthErrorCode::UnauthorizedClient,
                "the client may not use the authorization code flow",
            ));
        }
        let Some(code_challenge) = req.code_challenge.clone() else {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "code_challenge is required (PKCE S256)",
            ));
        };
        if req.code_challenge_method.as_deref() != Some("S256") {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "code_challenge_method must be S256",
            ));
        }
        if !is_valid_code_challenge(&code_challenge) {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "malformed code_challenge",
            ));
        }
        let Some(scope) = client.grant_scope(req.scope.as_deref()) else {
            return Err(fail(
                OAuthErrorCode::InvalidScope,
                "the scope is malformed or beyond what the client may have",
            ));
        };
        let prompts: Vec<&str> = req
            .prompt
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|p| !p.is_empty())
            .collect();
        let prompt = match (prompts.contains(&"none"), prompts.contains(&"login")) {
            (true, true) => {
                return Err(fail(
                    OAuthErrorCode::InvalidRequest,
                    "prompt=none cannot be combined with other values",
                ));
            }
            (true, false) => Prompt::None,
            (false, true) => Prompt::Login,
            (false, false) => Prompt::Default,
        };
        let max_age = match req.max_age.as_deref() {
            None => None,
            Some(text) => match text.parse::<u32>() {
                Ok(secs) => Some(i64::from(secs)),
                Err(_) => {
                    return Err(fail(
                        OAuthErrorCode::InvalidRequest,
                        "max_age must be a number of seconds",
                    ));
                }
            },
        };
        Ok(ValidAuthorization {
            client,
            redirect_uri,
            scope: scope.join(" "),
            state,
            nonce: req.nonce.clone(),
            code_challenge,
            prompt,
            max_age,
        })
    }
}
