//! `tessera client …`: OAuth clients from the command line.

use super::{ClientCommand, confirmed, say};
use anyhow::{Context, Result};
use tessera_core::oauth::{GrantType, OAuthClient};
use tessera_core::secret::ExposeSecret;
use tessera_core::service::NewClient;
use tessera_core::{ClientInfo, Tessera};
use tessera_token::clock::rfc3339;

pub(super) async fn client(cmd: ClientCommand, tessera: &Tessera) -> Result<()> {
    match cmd {
        ClientCommand::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            grants,
            scopes,
            confidential,
            id_token_alg,
        } => {
            let grants = if grants.is_empty() {
                vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
            } else {
                grants
            };
            let grant_types = grants
                .iter()
                .map(|g| GrantType::parse(g).with_context(|| format!("unknown grant type {g}")))
                .collect::<Result<Vec<_>>>()?;
            let scopes = if scopes.is_empty() {
                ["openid", "profile", "email"].map(String::from).to_vec()
            } else {
                scopes
            };
            let new = NewClient {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                grant_types,
                scopes,
                confidential,
                id_token_alg,
            };
            let (created, secret) = tessera
                .clients()
                .register_client(new, None, &ClientInfo::default())
                .await?;
            say(format!("client_id: {}", created.client_id))?;
            if let Some(secret) = secret {
                say(format!(
                    "client_secret: {secret}\n(shown this once; Tessera keeps only its hash)"
                ))?;
            }
            Ok(())
        }
        ClientCommand::List { json } => {
            if !json {
                say(format!(
                    "{:<24} {:<13} {:<40} {}",
                    "CLIENT ID", "TYPE", "GRANTS", "NAME"
                ))?;
            }
            for c in tessera.clients().clients().await? {
                if json {
                    say(client_json(&c))?;
                    continue;
                }
                let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                say(format!(
                    "{:<24} {:<13} {:<40} {}",
                    c.client_id,
                    if c.confidential {
                        "confidential"
                    } else {
                        "public"
                    },
                    grants.join(","),
                    c.name
                ))?;
            }
            Ok(())
        }
        ClientCommand::Show { client_id, json } => {
            let c = tessera
                .clients()
                .client(&client_id)
                .await?
                .with_context(|| format!("no client {client_id}"))?;
            if json {
                return say(client_json(&c));
            }
            let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
            say(format!("client_id:     {}", c.client_id))?;
            say(format!("name:          {}", c.name))?;
            say(format!(
                "type:          {}",
                if c.confidential {
                    "confidential"
                } else {
                    "public"
                }
            ))?;
            say(format!("grants:        {}", grants.join(",")))?;
            say(format!("scopes:        {}", c.scopes.join(" ")))?;
            say(format!("redirect URIs: {}", c.redirect_uris.join(" ")))?;
            say(format!(
                "logout URIs:   {}",
                c.post_logout_redirect_uris.join(" ")
            ))?;
            say(format!("registered:    {}", rfc3339(c.created_at)))
        }
        ClientCommand::Update {
            client_id,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            scopes,
        } => {
            let given = |list: Vec<String>| (!list.is_empty()).then_some(list);
            let update = tessera_core::service::ClientUpdate {
                name,
                redirect_uris: given(redirect_uris),
                post_logout_redirect_uris: given(post_logout_redirect_uris),
                scopes: given(scopes),
            };
            if update == tessera_core::service::ClientUpdate::default() {
                anyhow::bail!(
                    "nothing to change: give --name, --redirect-uri, --post-logout-redirect-uri or --scope"
                );
            }
            let updated = tessera
                .clients()
                .update_client(
                    uuid::Uuid::nil(),
                    &client_id,
                    update,
                    &ClientInfo::default(),
                )
                .await?;
            say(format!(
                "{}: name {:?}; redirect URIs {}; scopes {}",
                updated.client_id,
                updated.name,
                updated.redirect_uris.join(" "),
                updated.scopes.join(" ")
            ))
        }
        ClientCommand::RotateSecret { client_id, yes } => {
            let question =
                format!("Replace {client_id}'s secret? The old one stops working at once.");
            if !confirmed(&question, yes)? {
                anyhow::bail!("the secret is unchanged");
            }
            let secret = tessera
                .clients()
                .rotate_secret(None, &client_id, &ClientInfo::default())
                .await
                .map_err(|e| match e {
                    tessera_core::Error::NotFound => {
                        anyhow::anyhow!("no confidential client {client_id}")
                    }
                    other => other.into(),
                })?;
            say(format!(
                "client_secret: {}\n(shown this once; the old secret no longer works)",
                secret.expose_secret()
            ))
        }
        ClientCommand::Delete { client_id } => {
            tessera
                .clients()
                .delete_client(&client_id, None, &ClientInfo::default())
                .await?;
            say(format!("deleted {client_id}; its sessions are revoked"))
        }
    }
}

/// A client as one JSON line (never its secret, which Tessera does not keep).
fn client_json(c: &OAuthClient) -> serde_json::Value {
    serde_json::json!({
        "client_id": c.client_id,
        "name": c.name,
        "confidential": c.confidential,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scopes": c.scopes,
        "id_token_alg": c.id_token_alg,
        "created_at": rfc3339(c.created_at),
    })
}
