//! The domain's records: users, sessions, roles and the rules on usernames.

use crate::secret::SecretString;
use tessera_token::clock::Millis;
use uuid::Uuid;

/// The role every user holds.
pub const ROLE_USER: &str = "user";
/// The role that grants administration.
pub const ROLE_ADMIN: &str = "admin";

/// A registered person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable identifier; the access token's `sub`.
    pub id: Uuid,
    /// The username as registered (lookups ignore case).
    pub username: String,
    /// Optional e-mail address.
    pub email: Option<String>,
    /// Whether `email` was proven by following a link sent to it.
    pub email_verified: bool,
    /// Whether the account signs in without a verified address even when
    /// the deployment requires one (an operator created it).
    pub email_exempt: bool,
    /// Optional given name.
    pub first_name: Option<String>,
    /// Optional family name.
    pub last_name: Option<String>,
    /// Optional phone number.
    pub phone: Option<String>,
    /// Roles, always including [`ROLE_USER`], sorted and unique.
    pub roles: Vec<String>,
    /// A disabled user cannot log in or refresh.
    pub disabled: bool,
    /// When the user was created.
    pub created_at: Millis,
    /// When the user was last changed.
    pub updated_at: Millis,
}

impl User {
    /// Whether the user holds the `admin` role.
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == ROLE_ADMIN)
    }
}

/// A user together with their password hash, as the store keeps them.
#[derive(Debug, Clone)]
pub struct StoredUser {
    /// The user.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: SecretString,
}

/// A login session: what a refresh token belongs to, and the `sid` of its access tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Session id; the access token's `sid`.
    pub id: Uuid,
    /// Whose session it is.
    pub user_id: Uuid,
    /// When the session was created (login or registration).
    pub created_at: Millis,
    /// The last refresh.
    pub last_used_at: Millis,
    /// When the refresh token expires unless used (idle expiry, capped by `max_expires_at`).
    pub expires_at: Millis,
    /// The absolute end of the session.
    pub max_expires_at: Millis,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Millis>,
    /// The client's `User-Agent` at login.
    pub user_agent: Option<String>,
    /// The client's IP address at login.
    pub ip: Option<String>,
    /// The OAuth client the session's tokens were issued to, if any.
    pub client_id: Option<String>,
    /// The OAuth scope granted, if any (space-separated).
    pub scope: Option<String>,
    /// The browser (single sign-on) session the tokens came through, if any;
    /// ending it at `GET /logout` ends this session too.
    pub browser_session_id: Option<Uuid>,
    /// When the person last entered their password for this session
    /// (OIDC `auth_time`).
    pub auth_time: Millis,
    /// How the person signed in (RFC 8176 `amr`: `pwd`, `otp`, `hwk`, `mfa`).
    pub amr: Vec<String>,
}

impl Session {
    /// Whether the session can still be refreshed at `now`.
    pub fn is_live(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// Normalises a role list: trimmed, unique, sorted, and always holding `user`.
pub fn normalize_roles<I, S>(roles: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut out: Vec<String> = roles.into_iter().map(Into::into).collect();
    out.push(ROLE_USER.to_owned());
    out.sort();
    out.dedup();
    out
}

/// Whether `role` is a well-formed role name (`^[A-Za-z0-9_.:-]{1,64}$`).
pub fn is_valid_role(role: &str) -> bool {
    (1..=64).contains(&role.len())
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// Whether `name` matches `^[A-Za-z0-9_.-]{3,32}$`.
pub fn is_valid_username(name: &str) -> bool {
    (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `email` looks like an address: one `@`, non-empty local part and a
/// dotted domain, no whitespace, at most 254 characters.
pub fn is_valid_email(email: &str) -> bool {
    if email.chars().count() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
}

/// Who is asking, as far as the network tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// Client IP address.
    pub ip: Option<String>,
    /// `User-Agent` header.
    pub user_agent: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_always_include_user_and_are_sorted() {
        assert_eq!(normalize_roles(["admin", "admin"]), vec!["admin", "user"]);
        assert_eq!(normalize_roles(Vec::<String>::new()), vec!["user"]);
    }

    #[test]
    fn usernames_follow_the_pattern() {
        assert!(is_valid_username("alice_1.b-c"));
        assert!(!is_valid_username("al"));
        assert!(!is_valid_username("alice smith"));
        assert!(!is_valid_username("ålice"));
        assert!(!is_valid_username(&"a".repeat(33)));
    }

    #[test]
    fn emails_are_checked_for_shape() {
        assert!(is_valid_email("a@example.com"));
        assert!(!is_valid_email("a@example"));
        assert!(!is_valid_email("a example@x.com"));
        assert!(!is_valid_email("@x.com"));
        assert!(!is_valid_email("a@.x.com"));
    }
}
