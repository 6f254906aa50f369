//! `tessera keys …`: signing keys from the command line.

use super::{KeysCommand, say};
use anyhow::Result;
use tessera_core::Tessera;
use tessera_token::clock::rfc3339;

pub(super) async fn keys(cmd: KeysCommand, tessera: &Tessera) -> Result<()> {
    match cmd {
        KeysCommand::List { json } => {
            if !json {
                say(format!(
                    "{:<44} {:<6} {:<9} {:<26} {:<26} USE",
                    "KID", "ALG", "STATUS", "ACTIVATES", "RETIRE AFTER"
                ))?;
            }
            for k in tessera.keys().list_keys().await? {
                if json {
                    say(serde_json::json!({
                        "kid": k.kid,
                        "alg": k.alg,
                        "status": k.status,
                        "use": k.purpose,
                        "activates_at": rfc3339(k.activates_at),
                        "retire_after": k.retire_after.map(rfc3339),
                    }))?;
                    continue;
                }
                let status = serde_json::to_value(k.status)?
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                say(format!(
                    "{:<44} {:<6} {:<9} {:<26} {:<26} {}",
                    k.kid,
                    k.alg,
                    status,
                    rfc3339(k.activates_at),
                    k.retire_after.map(rfc3339).unwrap_or_default(),
                    serde_json::to_value(k.purpose)?
                        .as_str()
                        .unwrap_or_default()
                ))?;
            }
            Ok(())
        }
        KeysCommand::Rotate => {
            let kid = tessera.keys().rotate_keys(None).await?;
            say(format!(
                "rotated: {kid} signs from now on (running servers switch within about a second)"
            ))
        }
    }
}
