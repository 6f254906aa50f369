//! `tessera user …`: accounts from the command line.

use super::{UserCommand, say};
use anyhow::Result;
use std::io::Read;
use tessera_core::service::NewAccount;
use tessera_core::{ClientInfo, Tessera};
use tessera_token::crypto::{b64url, random_bytes};

pub(super) async fn user(cmd: UserCommand, tessera: &Tessera) -> Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            admin,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                (text.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (b64url(random_bytes::<18>()), true)
            };
            let roles = if admin {
                vec!["admin".to_owned()]
            } else {
                Vec::new()
            };
            let account = NewAccount {
                username: name,
                password: password.clone().into(),
                roles,
                ..NewAccount::default()
            };
            let user = tessera
                .accounts()
                .create_user(account, None, &ClientInfo::default())
                .await?;
            say(format!(
                "created {} ({}) roles={}",
                user.username,
                user.id,
                user.roles.join(",")
            ))?;
            if generated {
                say(format!("password: {password}"))?;
            }
            Ok(())
        }
        UserCommand::List => {
            let mut cursor = None;
            say(format!(
                "{:<32} {:<36} {:<20} {}",
                "USERNAME", "ID", "ROLES", "DISABLED"
            ))?;
            loop {
                let page = tessera
                    .accounts()
                    .list_users(100, cursor.as_deref())
                    .await?;
                for u in page.items {
                    say(format!(
                        "{:<32} {:<36} {:<20} {}",
                        u.username,
                        u.id,
                        u.roles.join(","),
                        u.disabled
                    ))?;
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => return Ok(()),
                }
            }
        }
        UserCommand::SetRoles { name, roles } => {
            // No roles would strip every one, `admin` included: say so.
            if roles.is_empty() {
                anyhow::bail!(
                    "give the roles {name} should have (`user` alone: `tessera user set-roles {name} user`)"
                );
            }
            let user = tessera.accounts().set_roles(&name, roles).await?;
            say(format!("{} roles={}", user.username, user.roles.join(",")))
        }
        UserCommand::Delete { name } => {
            let user = tessera
                .accounts()
                .delete_user(None, &name, &ClientInfo::default())
                .await?;
            say(format!("deleted {}", user.username))
        }
        UserCommand::ResetFactors { name } => {
            let removed = tessera
                .factors()
                .reset(None, &name, &ClientInfo::default())
                .await?;
            say(format!(
                "{name}: {removed} second factor(s) and every recovery code removed"
            ))
        }
    }
}
