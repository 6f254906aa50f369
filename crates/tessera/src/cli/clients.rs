//! `tessera client …`: OAuth clients from the command line.

use super::{ClientCommand, say};
use anyhow::{Context, Result};
use tessera_core::oauth::GrantType;
use tessera_core::service::NewClient;
use tessera_core::{ClientInfo, Tessera};

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
        ClientCommand::List => {
            say(format!(
                "{:<24} {:<13} {:<40} {}",
                "CLIENT ID", "TYPE", "GRANTS", "NAME"
            ))?;
            for c in tessera.clients().clients().await? {
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
        ClientCommand::Delete { client_id } => {
            tessera
                .clients()
                .delete_client(&client_id, None, &ClientInfo::default())
                .await?;
            say(format!("deleted {client_id}; its sessions are revoked"))
        }
    }
}
