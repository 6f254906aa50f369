//! `tessera user …`: accounts from the command line.

use super::{UserCommand, confirmed, say};
use anyhow::{Result, bail};
use std::io::{Read, Write as _};
use tessera_core::model::User;
use tessera_core::secret::ExposeSecret;
use tessera_core::service::{Caller, NewAccount, ProfileChanges};
use tessera_core::{ClientInfo, Tessera};
use tessera_token::clock::rfc3339;
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
                // A random password may, rarely, contain the username: draw
                // again until the policy takes it.
                let policy = tessera.password_policy();
                let fresh = std::iter::repeat_with(|| b64url(random_bytes::<18>()))
                    .take(100)
                    .find(|p| policy.check(&name, p).is_ok())
                    .unwrap_or_else(|| b64url(random_bytes::<18>()));
                (fresh, true)
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
        UserCommand::List { json } => {
            let mut cursor = None;
            if !json {
                say(format!(
                    "{:<32} {:<36} {:<20} {}",
                    "USERNAME", "ID", "ROLES", "DISABLED"
                ))?;
            }
            loop {
                let page = tessera
                    .accounts()
                    .list_users(100, cursor.as_deref())
                    .await?;
                for u in page.items {
                    if json {
                        say(user_json(&u))?;
                    } else {
                        say(format!(
                            "{:<32} {:<36} {:<20} {}",
                            u.username,
                            u.id,
                            u.roles.join(","),
                            u.disabled
                        ))?;
                    }
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => return Ok(()),
                }
            }
        }
        UserCommand::Show { name, json } => {
            let user = tessera.accounts().user(&name).await?;
            if json {
                return say(user_json(&user));
            }
            let factors = tessera.factors().list(user.id).await?;
            let sessions = tessera.sessions().sessions_of(user.id).await?;
            let none = || "-".to_owned();
            say(format!("username:    {}", user.username))?;
            say(format!("id:          {}", user.id))?;
            say(format!("roles:       {}", user.roles.join(",")))?;
            say(format!("disabled:    {}", user.disabled))?;
            say(format!(
                "email:       {}",
                user.email.clone().unwrap_or_else(none)
            ))?;
            let name_line = [user.first_name.as_deref(), user.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            say(format!(
                "name:        {}",
                if name_line.is_empty() {
                    none()
                } else {
                    name_line
                }
            ))?;
            say(format!("created:     {}", rfc3339(user.created_at)))?;
            say(format!(
                "two-step:    {} factor(s), {} recovery code(s) left",
                factors.factors.len(),
                factors.recovery_codes_left
            ))?;
            say(format!("sessions:    {} live", sessions.len()))
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
        UserCommand::Disable { name, yes } => {
            if !confirmed(
                &format!("Disable {name} and end every session of theirs?"),
                yes,
            )? {
                bail!("not disabled");
            }
            let user = set_disabled(tessera, &name, true).await?;
            say(format!("{} disabled; every session ended", user.username))
        }
        UserCommand::Enable { name } => {
            let user = set_disabled(tessera, &name, false).await?;
            say(format!("{} enabled", user.username))
        }
        UserCommand::SetPassword { name } => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            let password = text.trim_end_matches(['\r', '\n']);
            tessera
                .accounts()
                .change_password(&SYSTEM, &name, None, password, &ClientInfo::default())
                .await?;
            say(format!("{name}: password set; every session ended"))
        }
        UserCommand::Sessions { name, json } => {
            let user = tessera.accounts().user(&name).await?;
            let sessions = tessera.sessions().sessions_of(user.id).await?;
            if !json {
                say(format!(
                    "{:<36} {:<24} {:<24} {:<16} {}",
                    "ID", "SIGNED IN", "LAST USED", "ADDRESS", "CLIENT"
                ))?;
            }
            for s in sessions {
                if json {
                    say(serde_json::json!({
                        "id": s.id,
                        "created_at": rfc3339(s.created_at),
                        "last_used_at": rfc3339(s.last_used_at),
                        "expires_at": rfc3339(s.expires_at),
                        "ip": s.ip,
                        "user_agent": s.user_agent,
                        "client_id": s.client_id,
                        "amr": s.amr,
                    }))?;
                } else {
                    say(format!(
                        "{:<36} {:<24} {:<24} {:<16} {}",
                        s.id,
                        rfc3339(s.created_at),
                        rfc3339(s.last_used_at),
                        s.ip.unwrap_or_else(|| "-".into()),
                        s.client_id.unwrap_or_else(|| "-".into())
                    ))?;
                }
            }
            Ok(())
        }
        UserCommand::RevokeSessions { name, yes } => {
            if !confirmed(&format!("End every session of {name}?"), yes)? {
                bail!("nothing ended");
            }
            let user = tessera.accounts().user(&name).await?;
            tessera
                .sessions()
                .end_all_of(None, user.id, &ClientInfo::default())
                .await?;
            say(format!("{}: every session ended", user.username))
        }
        UserCommand::Delete { name, yes } => {
            if !confirmed(&format!("Delete {name} for good?"), yes)? {
                bail!("not deleted");
            }
            let user = tessera
                .accounts()
                .delete_user(None, &name, &ClientInfo::default())
                .await?;
            say(format!("deleted {}", user.username))
        }
        UserCommand::ResetLink { name } => {
            let (link, expires_at) = tessera.email().operator_reset_link(&name).await?;
            // The link alone on standard output, for scripts; what it is on
            // standard error.
            writeln!(
                std::io::stderr(),
                "A reset link for {name}; it works once, until {}. Hand it over privately:",
                rfc3339(expires_at)
            )?;
            say(link.expose_secret())
        }
        UserCommand::ResetFactors { name, yes } => {
            if !confirmed(&format!("Remove every second factor of {name}?"), yes)? {
                bail!("nothing removed");
            }
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

/// The command line acts as an administrator without a user of its own.
const SYSTEM: Caller = Caller {
    user_id: uuid::Uuid::nil(),
    session_id: None,
    browser_session_id: None,
    is_admin: true,
};

/// Disables or enables `name` (disabling ends every session).
async fn set_disabled(tessera: &Tessera, name: &str, disabled: bool) -> Result<User> {
    let changes = ProfileChanges {
        disabled: Some(disabled),
        ..ProfileChanges::default()
    };
    Ok(tessera
        .accounts()
        .update_user(&SYSTEM, name, changes, &ClientInfo::default())
        .await?)
}

/// A user as one JSON line (no password hash, nothing secret).
fn user_json(u: &User) -> serde_json::Value {
    serde_json::json!({
        "id": u.id,
        "username": u.username,
        "email": u.email,
        "first_name": u.first_name,
        "last_name": u.last_name,
        "phone": u.phone,
        "roles": u.roles,
        "disabled": u.disabled,
        "created_at": rfc3339(u.created_at),
        "updated_at": rfc3339(u.updated_at),
    })
}
