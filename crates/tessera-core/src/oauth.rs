//! The vocabulary of OAuth 2.0 and OpenID Connect as Tessera speaks it:
//! registered clients, grant types, scopes, PKCE, redirect URIs, the
//! RFC 6749 errors and the ID token's claims.

use serde::Serialize;
use std::borrow::Cow;
use tessera_token::clock::Millis;
use tessera_token::crypto::{b64url, constant_time_eq, sha256};

/// `openid`: the request is an OpenID Connect one; an ID token is issued.
pub const SCOPE_OPENID: &str = "openid";
/// `profile`: the user's names.
pub const SCOPE_PROFILE: &str = "profile";
/// `email`: the user's e-mail address.
pub const SCOPE_EMAIL: &str = "email";
/// `events:read`: a client may follow every event on `GET /events`.
pub const SCOPE_EVENTS_READ: &str = "events:read";
/// `tessera:account`: a person's token issued to a client may use Tessera's
/// own account API (`/me`, `/users/**`, `/sessions/**`, `/auth/logout*`).
pub const SCOPE_ACCOUNT: &str = "tessera:account";
/// `tessera:admin`: as `tessera:account`, and an admin's token issued to a
/// client may also administer Tessera (`/admin/**` and admin-only user changes).
pub const SCOPE_ADMIN: &str = "tessera:admin";
/// `tessera:introspect`: a confidential client (a resource server) may ask
/// `POST /oauth/introspect` about tokens.
pub const SCOPE_INTROSPECT: &str = "tessera:introspect";
/// The scopes that give a client's tokens power over Tessera itself: granted
/// only when asked for by name, and named to the person before they are.
pub const PRIVILEGED_SCOPES: [&str; 2] = [SCOPE_ACCOUNT, SCOPE_ADMIN];
/// The prefix of Tessera's own scopes; a client may register only those known.
pub const TESSERA_SCOPE_PREFIX: &str = "tessera:";
/// The scopes Tessera itself gives meaning to (clients may register others).
pub const KNOWN_SCOPES: [&str; 7] = [
    SCOPE_OPENID,
    SCOPE_PROFILE,
    SCOPE_EMAIL,
    SCOPE_EVENTS_READ,
    SCOPE_ACCOUNT,
    SCOPE_ADMIN,
    SCOPE_INTROSPECT,
];
/// The scopes a token from the `password` grant without a client may hold.
pub const FIRST_PARTY_SCOPES: [&str; 3] = [SCOPE_OPENID, SCOPE_PROFILE, SCOPE_EMAIL];

/// How long an authorization code may be redeemed (RFC 6749 §4.1.2 advises
/// at most ten minutes; a browser redirect takes a second).
pub const AUTHORIZATION_CODE_TTL_MS: Millis = 60_000;

/// An OAuth grant type (RFC 6749 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// The authorization-code flow (with PKCE `S256`).
    AuthorizationCode,
    /// Exchanging a refresh token.
    RefreshToken,
    /// Resource-owner password credentials.
    Password,
    /// A confidential client acting for itself.
    ClientCredentials,
}

impl GrantType {
    /// Every grant type, in the order discovery lists them.
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::Password,
        GrantType::ClientCredentials,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::Password => "password",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// A registered OAuth client, as anyone may see it (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// The client id.
    pub client_id: String,
    /// A name shown on the login page.
    pub name: String,
    /// Whether the client holds a secret (and must authenticate with it).
    pub confidential: bool,
    /// Where authorization responses may go (exact match).
    pub redirect_uris: Vec<String>,
    /// Where `GET /logout` may send the browser afterwards (exact match).
    pub post_logout_redirect_uris: Vec<String>,
    /// The grants the client may use.
    pub grant_types: Vec<GrantType>,
    /// The scopes the client may be granted.
    pub scopes: Vec<String>,
    /// The algorithm of its ID tokens (`None`: RS256).
    pub id_token_alg: Option<String>,
    /// When it was registered.
    pub created_at: Millis,
}

impl OAuthClient {
    /// Whether the client may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether `uri` is one of its redirect URIs, compared exactly.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }

    /// Whether `uri` is one of its post-logout redirect URIs, compared exactly.
    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|u| u == uri)
    }

    /// The scope granted for `requested` (`None`: all the client's scopes
    /// but Tessera's own `tessera:*`, which must be asked for by name), or
    /// `None` if it asks for a scope the client may not have.
    pub fn grant_scope(&self, requested: Option<&str>) -> Option<Vec<String>> {
        match requested {
            None => Some(
                self.scopes
                    .iter()
                    .filter(|s| !s.starts_with(TESSERA_SCOPE_PREFIX))
                    .cloned()
                    .collect(),
            ),
            Some(requested) => {
                let scopes = parse_scope(requested)?;
                scopes
                    .iter()
                    .all(|s| self.scopes.contains(s))
                    .then_some(scopes)
            }
        }
    }
}

/// A client as stored: with the hash of its secret.
#[derive(Clone)]
pub struct StoredClient {
    /// The client.
    pub client: OAuthClient,
    /// SHA-256 of the secret (confidential clients only).
    pub secret_hash: Option<[u8; 32]>,
}

impl std::fmt::Debug for StoredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredClient")
            .field("client", &self.client)
            .field("secret_hash", &self.secret_hash.map(|_| "<redacted>"))
            .finish()
    }
}

impl StoredClient {
    /// Whether `secret` is the client's secret, compared in constant time.
    /// The secret is 256 random bits, so a plain SHA-256 suffices at rest:
    /// there is nothing to guess that a slow hash would protect.
    pub fn secret_matches(&self, secret: &str) -> bool {
        self.secret_hash
            .is_some_and(|hash| constant_time_eq(&hash, &sha256(secret.as_bytes())))
    }
}

/// How much of Tessera's own API an access token may use.
///
/// A token Tessera issued to a person directly (`/auth/*`, or the `password`
/// grant without a client) speaks for that person everywhere. A token issued
/// to an OAuth client speaks for the person only as far as its scope says:
/// otherwise any registered application — or a script injected into one —
/// would hold the full power of whoever signs in to it, admins included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiAccess {
    /// None of Tessera's own API (the token is for other services).
    None,
    /// The person's own account.
    Account,
    /// The account, and administration when the person is an admin.
    Admin,
}

impl ApiAccess {
    /// The access of a token with `client_id` and `scope` claims.
    pub fn of(client_id: Option<&str>, scope: Option<&str>) -> Self {
        if client_id.is_none() {
            return ApiAccess::Admin;
        }
        let scope = scope.unwrap_or("");
        if scope_has(scope, SCOPE_ADMIN) {
            ApiAccess::Admin
        } else if scope_has(scope, SCOPE_ACCOUNT) {
            ApiAccess::Account
        } else {
            ApiAccess::None
        }
    }
}

/// What a privileged scope lets an application do, in words for the person
/// asked to allow it; `None` for the other scopes.
pub fn privileged_scope_description(scope: &str) -> Option<&'static str> {
    match scope {
        SCOPE_ACCOUNT => Some("see and change your account, and sign out your sessions"),
        SCOPE_ADMIN => Some("administer this service with your administrator rights"),
        _ => None,
    }
}

/// Whether `token` is an RFC 6749 §3.3 scope token (`%x21 / %x23-5B / %x5D-7E`).
pub fn is_valid_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Parses a space-separated scope into its tokens, without repeats, in the
/// order given; `None` if a token is malformed or there is none.
pub fn parse_scope(scope: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        if !is_valid_scope_token(token) {
            return None;
        }
        if !out.iter().any(|t| t == token) {
            out.push(token.to_owned());
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Whether a space-separated scope holds `token`.
pub fn scope_has(scope: &str, token: &str) -> bool {
    scope.split(' ').any(|t| t == token)
}

/// Whether `verifier` is a well-formed PKCE code verifier (RFC 7636 §4.1).
pub fn is_valid_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `challenge` looks like an `S256` challenge: 43 base64url characters.
pub fn is_valid_code_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Whether `verifier` answers the `S256` `challenge` (RFC 7636 §4.6).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    is_valid_code_verifier(verifier)
        && constant_time_eq(
            b64url(sha256(verifier.as_bytes())).as_bytes(),
            challenge.as_bytes(),
        )
}

/// Why a redirect URI cannot be registered, if it cannot: it must be an
/// absolute `https` or `http` URL without a fragment (RFC 6749 §3.1.2).
pub fn redirect_uri_problem(uri: &str) -> Option<&'static str> {
    if uri.len() > 2048 {
        return Some("longer than 2048 characters");
    }
    let Ok(url) = url::Url::parse(uri) else {
        return Some("not an absolute URL");
    };
    if !matches!(url.scheme(), "https" | "http") {
        return Some("only https and http redirect URIs are accepted");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Some("no host");
    }
    if url.fragment().is_some() || uri.contains('#') {
        return Some("a redirect URI must not have a fragment");
    }
    None
}

/// An RFC 6749 §5.2 (and §4.1.2.1, RFC 7009, RFC 7662) error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    /// A parameter is missing, repeated, malformed or unsupported.
    InvalidRequest,
    /// Client authentication failed (401).
    InvalidClient,
    /// The grant (code, refresh token, credentials) is invalid or spent.
    InvalidGrant,
    /// The client may not use this grant or response type.
    UnauthorizedClient,
    /// The grant type is unknown.
    UnsupportedGrantType,
    /// The scope is malformed or beyond what the client may have.
    InvalidScope,
    /// The response type is not `code`.
    UnsupportedResponseType,
    /// The person refused, or the client may not ask this of them.
    AccessDenied,
    /// `prompt=none` and nobody is signed in.
    LoginRequired,
    /// `prompt=none`, but the request needs the person's consent first.
    ConsentRequired,
    /// The token endpoint's own failure (500).
    ServerError,
    /// Too many failed attempts (429, with `Retry-After`).
    TooManyAttempts,
    /// The server cannot answer now (its database is unreachable): 503,
    /// with `Retry-After`.
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    /// The wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::LoginRequired => "login_required",
            OAuthErrorCode::ConsentRequired => "consent_required",
            OAuthErrorCode::ServerError => "server_error",
            OAuthErrorCode::TooManyAttempts => "too_many_attempts",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An OAuth error with its description (never holding a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    /// The code.
    pub code: OAuthErrorCode,
    /// A human-readable description.
    pub description: Cow<'static, str>,
}

impl OAuthError {
    /// An error with `code` and `description`.
    pub fn new(code: OAuthErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }

    /// `invalid_client`.
    pub fn invalid_client() -> Self {
        Self::new(
            OAuthErrorCode::InvalidClient,
            "client authentication failed",
        )
    }

    /// `invalid_scope`.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorCode::InvalidScope, description)
    }

    /// `unauthorized_client`.
    pub fn unauthorized_client(grant: &str) -> Self {
        Self::new(
            OAuthErrorCode::UnauthorizedClient,
            format!("the client may not use {grant}"),
        )
    }
}

/// The claims of an OpenID Connect ID token (OIDC Core §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The client id.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the person last entered their password.
    pub auth_time: i64,
    /// How they signed in (RFC 8176).
    pub amr: Vec<String>,
    /// The `nonce` of the authorization request, when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The party the token was issued to (the client id).
    pub azp: String,
    /// The token session (the `sid` of the access tokens and of
    /// `session.revoked` events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Username (scope `profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// Full name (scope `profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E-mail (scope `email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the address was proven by a link (scope `email`, with an address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Roles.
    pub roles: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_verifier_matches_its_challenge() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
        assert!(is_valid_code_challenge(challenge));
        assert!(!is_valid_code_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c="
        ));
    }

    #[test]
    fn scopes_parse_strictly_and_without_repeats() {
        assert_eq!(
            parse_scope("openid  profile openid").unwrap(),
            vec!["openid", "profile"]
        );
        assert!(parse_scope("").is_none());
        assert!(parse_scope("bad\"quote").is_none());
        assert!(parse_scope("back\\slash").is_none());
        assert!(parse_scope("é").is_none());
        assert!(scope_has("openid events:read", "events:read"));
        assert!(!scope_has("openid events:reader", "events:read"));
    }

    #[test]
    fn redirect_uris_must_be_absolute_http_without_fragment() {
        assert!(redirect_uri_problem("https://app.example/cb").is_none());
        assert!(redirect_uri_problem("http://127.0.0.1:8000/cb?x=1").is_none());
        assert!(redirect_uri_problem("/cb").is_some());
        assert!(redirect_uri_problem("https://app.example/cb#frag").is_some());
        assert!(redirect_uri_problem("javascript:alert(1)").is_some());
        assert!(redirect_uri_problem("ftp://x.example/").is_some());
    }

    #[test]
    fn a_client_is_granted_only_its_scopes() {
        let client = OAuthClient {
            client_id: "c".into(),
            name: "App".into(),
            confidential: false,
            redirect_uris: vec!["https://a.example/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec!["openid".into(), "profile".into()],
            id_token_alg: None,
            created_at: 0,
        };
        assert_eq!(client.grant_scope(None).unwrap(), vec!["openid", "profile"]);
        assert_eq!(client.grant_scope(Some("openid")).unwrap(), vec!["openid"]);
        assert!(client.grant_scope(Some("openid email")).is_none());
        assert!(client.has_redirect_uri("https://a.example/cb"));
        assert!(!client.has_redirect_uri("https://a.example/cb/"));
        assert!(!client.has_redirect_uri("HTTPS://a.example/cb"));
    }

    #[test]
    fn privileged_scopes_are_granted_only_when_asked_for() {
        let client = OAuthClient {
            client_id: "c".into(),
            name: "Console".into(),
            confidential: false,
            redirect_uris: vec!["https://a.example/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec![
                "openid".into(),
                SCOPE_ACCOUNT.into(),
                SCOPE_ADMIN.into(),
                SCOPE_INTROSPECT.into(),
            ],
            id_token_alg: None,
            created_at: 0,
        };
        assert_eq!(client.grant_scope(None).unwrap(), vec!["openid"]);
        assert_eq!(
            client.grant_scope(Some("openid tessera:admin")).unwrap(),
            vec!["openid", SCOPE_ADMIN]
        );
    }

    #[test]
    fn a_client_token_reaches_the_api_only_through_its_scope() {
        assert_eq!(ApiAccess::of(None, None), ApiAccess::Admin);
        assert_eq!(ApiAccess::of(None, Some("profile")), ApiAccess::Admin);
        assert_eq!(ApiAccess::of(Some("c"), None), ApiAccess::None);
        assert_eq!(
            ApiAccess::of(Some("c"), Some("openid profile")),
            ApiAccess::None
        );
        assert_eq!(
            ApiAccess::of(Some("c"), Some("openid tessera:account")),
            ApiAccess::Account
        );
        assert_eq!(
            ApiAccess::of(Some("c"), Some("tessera:admin")),
            ApiAccess::Admin
        );
        assert_eq!(
            ApiAccess::of(Some("c"), Some("tessera:accounts tessera:admins")),
            ApiAccess::None
        );
    }

    #[test]
    fn client_secrets_are_compared_by_hash() {
        let stored = StoredClient {
            client: OAuthClient {
                client_id: "c".into(),
                name: "n".into(),
                confidential: true,
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                grant_types: vec![],
                scopes: vec![],
                id_token_alg: None,
                created_at: 0,
            },
            secret_hash: Some(sha256(b"s3cret")),
        };
        assert!(stored.secret_matches("s3cret"));
        assert!(!stored.secret_matches("s3cres"));
        assert!(!format!("{stored:?}").contains("s3cret"));
    }
}
