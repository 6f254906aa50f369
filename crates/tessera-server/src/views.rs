//! Response bodies: what clients see of users, sessions, keys and tokens.
//! Nothing here can hold a password, hash, refresh-token hash or private key.

use serde::Serialize;
use tessera_core::model::{Session, User};
use tessera_core::secret::{self, SecretString};
use tessera_core::service::{FactorInfo, IssuedTokens, KeyInfo};
use tessera_token::clock::rfc3339;
use utoipa::ToSchema;

/// Every field of a user (self and admins).
#[derive(Debug, Serialize, ToSchema)]
pub struct FullUser {
    /// Stable id; the token's `sub`.
    pub id: String,
    /// Username as registered.
    pub username: String,
    /// E-mail.
    pub email: Option<String>,
    /// Whether the address was proven by following a link sent to it.
    pub email_verified: bool,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Roles; always includes `user`.
    pub roles: Vec<String>,
    /// Whether the user is disabled.
    pub disabled: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<User> for FullUser {
    fn from(u: User) -> Self {
        FullUser {
            id: u.id.to_string(),
            username: u.username,
            email: u.email,
            email_verified: u.email_verified,
            first_name: u.first_name,
            last_name: u.last_name,
            phone: u.phone,
            roles: u.roles,
            disabled: u.disabled,
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

/// The public view of a user.
#[derive(Debug, Serialize, ToSchema)]
pub struct BasicUser {
    /// Username.
    pub username: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
}

impl From<User> for BasicUser {
    fn from(u: User) -> Self {
        BasicUser {
            username: u.username,
            first_name: u.first_name,
            last_name: u.last_name,
        }
    }
}

/// `{user: …}` with the full view.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserEnvelope {
    /// The user.
    pub user: FullUser,
}

/// The answer of register, login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Signed JWT access token.
    #[serde(serialize_with = "secret::expose")]
    #[schema(value_type = String)]
    pub access_token: SecretString,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    /// Opaque refresh token.
    #[serde(serialize_with = "secret::expose")]
    #[schema(value_type = String)]
    pub refresh_token: SecretString,
    /// The user, full view.
    pub user: FullUser,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(t: IssuedTokens) -> Self {
        TokenResponse {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
            user: t.user.into(),
        }
    }
}

/// A live session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Session id (the tokens' `sid`).
    pub id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub last_used_at: String,
    /// When the refresh token expires unless used.
    pub expires_at: String,
    /// User agent at login.
    pub user_agent: Option<String>,
    /// IP at login.
    pub ip: Option<String>,
}

impl From<Session> for SessionView {
    fn from(s: Session) -> Self {
        SessionView {
            id: s.id.to_string(),
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            expires_at: rfc3339(s.expires_at),
            user_agent: s.user_agent,
            ip: s.ip,
        }
    }
}

/// A signing key's public facts.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: String,
    /// `access` (signs access tokens) or `id_token` (signs ID tokens).
    #[schema(value_type = String)]
    #[serde(rename = "use")]
    pub purpose: tessera_token::keys::KeyPurpose,
    /// `next`, `active`, `retiring` or `retired`.
    #[schema(value_type = String)]
    pub status: tessera_token::keys::KeyStatus,
    /// RFC 3339.
    pub created_at: String,
    /// When it starts or started signing.
    pub activates_at: String,
    /// When a superseded key stops verifying.
    pub retire_after: Option<String>,
}

impl From<KeyInfo> for KeyView {
    fn from(k: KeyInfo) -> Self {
        KeyView {
            kid: k.kid,
            alg: k.alg,
            purpose: k.purpose,
            status: k.status,
            created_at: rfc3339(k.created_at),
            activates_at: rfc3339(k.activates_at),
            retire_after: k.retire_after.map(rfc3339),
        }
    }
}

/// An OAuth client as admins see it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    /// The client id.
    pub client_id: String,
    /// Name shown on the login page.
    pub name: String,
    /// Registered redirect URIs (exact match).
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs (exact match).
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed grants.
    pub grant_types: Vec<String>,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// Whether it has a secret.
    pub confidential: bool,
    /// `client_secret_basic` (or `client_secret_post`) for confidential clients, `none` for public ones.
    pub token_endpoint_auth_method: &'static str,
    /// Its ID tokens' algorithm.
    pub id_token_signed_response_alg: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<tessera_core::oauth::OAuthClient> for ClientView {
    fn from(c: tessera_core::oauth::OAuthClient) -> Self {
        ClientView {
            token_endpoint_auth_method: if c.confidential {
                "client_secret_basic"
            } else {
                "none"
            },
            grant_types: c
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            id_token_signed_response_alg: c.id_token_alg.unwrap_or_else(|| "RS256".to_owned()),
            client_id: c.client_id,
            name: c.name,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            scopes: c.scopes,
            confidential: c.confidential,
            created_at: rfc3339(c.created_at),
        }
    }
}

/// A second factor as its owner sees it (SPEC §11; never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorView {
    /// Factor id.
    pub id: String,
    /// `totp` or `passkey`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// The name its owner gave it.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; `null` before its first use.
    pub last_used_at: Option<String>,
}

impl From<FactorInfo> for FactorView {
    fn from(f: FactorInfo) -> Self {
        FactorView {
            id: f.id.to_string(),
            kind: f.kind.as_str(),
            name: f.name,
            created_at: rfc3339(f.created_at),
            last_used_at: f.last_used_at.map(rfc3339),
        }
    }
}
