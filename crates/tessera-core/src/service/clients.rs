//! OAuth clients: registration (with the rules a registration must meet),
//! listing, deletion, and authenticating a client at the token, revocation
//! and introspection endpoints.

use super::{ClientInfo, Context, Tessera};
use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::oauth::{
    GrantType, KNOWN_SCOPES, OAuthClient, OAuthError, SCOPE_ACCOUNT, SCOPE_ADMIN, SCOPE_INTROSPECT,
    StoredClient, TESSERA_SCOPE_PREFIX, is_valid_scope_token, redirect_uri_problem,
};
use crate::secret::{ExposeSecret, SecretString};
use crate::store::ClientFields;
use tessera_token::crypto::{b64url, random_bytes, sha256};
use tessera_token::keys::{alg_name, parse_alg};
use tessera_token::revocation::{Revocation, RevocationKind};
use uuid::Uuid;

/// What an administrator changes of a client; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientUpdate {
    /// A new name.
    pub name: Option<String>,
    /// New redirect URIs (replacing them all).
    pub redirect_uris: Option<Vec<String>>,
    /// New post-logout redirect URIs (replacing them all).
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// New scopes (replacing them all); taking one away ends the client's sessions.
    pub scopes: Option<Vec<String>>,
}

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
#[derive(Debug, Clone)]
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
        secret: SecretString,
    },
}

/// An OAuth error as a domain error.
pub(super) fn oauth(e: OAuthError) -> Error {
    Error::OAuth(e)
}

/// OAuth clients: registration, listing, deletion and authentication.
#[derive(Debug, Clone, Copy)]
pub struct Clients<'a> {
    pub(super) tessera: &'a Tessera,
}

impl std::ops::Deref for Clients<'_> {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.tessera.ctx
    }
}

impl Clients<'_> {
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
        self.tessera.keys().ensure_id_token_key().await?;
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
            && !parse_alg(alg)
                .is_some_and(|a| self.tessera.keys().id_token_algorithms().contains(&a))
        {
            let offered: Vec<&str> = self
                .tessera
                .keys()
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

    /// Changes a client (by an admin, `actor`), under the rules of
    /// registration; the client as it is now. Taking a scope away ends
    /// every session issued to the client, so no token carries a scope it
    /// no longer has.
    pub async fn update_client(
        &self,
        actor: Uuid,
        client_id: &str,
        update: ClientUpdate,
        client: &ClientInfo,
    ) -> Result<OAuthClient> {
        let current = self.client(client_id).await?.ok_or(Error::NotFound)?;
        let changed = NewClient {
            name: update.name.unwrap_or_else(|| current.name.clone()),
            redirect_uris: update
                .redirect_uris
                .unwrap_or_else(|| current.redirect_uris.clone()),
            post_logout_redirect_uris: update
                .post_logout_redirect_uris
                .unwrap_or_else(|| current.post_logout_redirect_uris.clone()),
            grant_types: current.grant_types.clone(),
            scopes: update.scopes.unwrap_or_else(|| current.scopes.clone()),
            confidential: current.confidential,
            id_token_alg: None,
        };
        self.check_new_client(&changed)?;
        let narrowed = current.scopes.iter().any(|s| !changed.scopes.contains(s));
        let record = AuditRecord::ClientUpdated {
            actor,
            client_id: client_id.to_owned(),
        };
        let entry = self.audit(record, client);
        let now = self.now();
        let until = self.revocation_horizon(now);
        let fields = ClientFields {
            name: changed.name.clone(),
            redirect_uris: changed.redirect_uris.clone(),
            post_logout_redirect_uris: changed.post_logout_redirect_uris.clone(),
            scopes: changed.scopes.clone(),
        };
        self.store
            .update_client(
                client_id,
                &fields,
                narrowed.then_some((now, until)),
                &[entry],
            )
            .await?
            .ok_or(Error::NotFound)?;
        self.events_written();
        Ok(OAuthClient {
            name: fields.name,
            redirect_uris: fields.redirect_uris,
            post_logout_redirect_uris: fields.post_logout_redirect_uris,
            scopes: fields.scopes,
            ..current
        })
    }

    /// Gives a confidential client a new secret (shown this once); the old
    /// one stops working at once. `NotFound` for an unknown or public client.
    pub async fn rotate_secret(
        &self,
        actor: Option<Uuid>,
        client_id: &str,
        client: &ClientInfo,
    ) -> Result<SecretString> {
        let secret = b64url(random_bytes::<32>());
        let entry = self.audit(
            AuditRecord::ClientUpdated {
                actor: actor.unwrap_or(Uuid::nil()),
                client_id: client_id.to_owned(),
            },
            client,
        );
        if !self
            .store
            .replace_client_secret(client_id, &sha256(secret.as_bytes()), &[entry])
            .await?
        {
            return Err(Error::NotFound);
        }
        Ok(secret.into())
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
        self.store
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
            (Some(c), Some(secret)) => {
                c.client.confidential && c.secret_matches(secret.expose_secret())
            }
            (None, _) => false,
        };
        if !ok {
            return Err(oauth(OAuthError::invalid_client()));
        }
        Ok(stored)
    }
}
