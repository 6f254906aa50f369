//! Secrets in memory: passwords, tokens, password hashes and client secrets
//! travel as [`SecretString`], whose `Debug` shows nothing of them and whose
//! memory is wiped when dropped. Reading one is an explicit
//! [`ExposeSecret::expose_secret`]; writing one into a response is an
//! explicit `#[serde(serialize_with = "…")]` with [`expose`].

pub use secrecy::{ExposeSecret, SecretString};
use serde::Serializer;

/// Serialises a secret as its plain text (for the response that hands it out).
pub fn expose<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

/// [`expose`] for an optional secret.
pub fn expose_optional<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => serializer.serialize_str(secret.expose_secret()),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{StoredUser, User};
    use crate::service::{ClientAuthentication, IssuedTokens, NewAccount, OAuthTokens};
    use crate::store::NewUser;

    const SECRET: &str = "hunter2-but-longer";

    fn user() -> User {
        User {
            id: uuid::Uuid::nil(),
            username: "alice".into(),
            email: None,
            email_verified: false,
            email_exempt: false,
            first_name: None,
            last_name: None,
            phone: None,
            roles: vec!["user".into()],
            disabled: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn debug_of_every_carrier_of_a_secret_hides_it() {
        let secret = || SecretString::from(SECRET);
        let account = NewAccount {
            username: "alice".into(),
            password: secret(),
            email: None,
            first_name: None,
            last_name: None,
            phone: None,
            roles: vec![],
        };
        let stored = StoredUser {
            user: user(),
            password_hash: secret(),
        };
        let new_user = NewUser {
            id: uuid::Uuid::nil(),
            username: "alice".into(),
            email: None,
            email_exempt: false,
            first_name: None,
            last_name: None,
            phone: None,
            roles: vec![],
            password_hash: secret(),
            now: 0,
        };
        let client = ClientAuthentication::Secret {
            client_id: "c".into(),
            secret: secret(),
        };
        let tokens = OAuthTokens {
            access_token: secret(),
            token_type: "Bearer",
            expires_in: 60,
            refresh_token: Some(secret()),
            scope: None,
            id_token: None,
        };
        for debug in [
            format!("{account:?}"),
            format!("{stored:?}"),
            format!("{new_user:?}"),
            format!("{client:?}"),
            format!("{tokens:?}"),
        ] {
            assert!(!debug.contains(SECRET), "{debug}");
            assert!(debug.contains("alice") || debug.contains("Bearer") || debug.contains('c'));
        }
        // Handing tokens out is deliberate: the response carries them.
        let json = serde_json::to_value(&tokens).unwrap();
        assert_eq!(json["access_token"], SECRET);
        assert_eq!(json["refresh_token"], SECRET);
        let _: fn() -> Option<IssuedTokens> = || None;
    }
}
