//! Passwords of accounts: checking a person's own before a change to their
//! account (throttled like a login), and changing one — by its owner, who
//! gives the current one, or by an administrator.

use super::{Accounts, Caller, ClientInfo, Spare};
use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::model::StoredUser;
use crate::secret::{ExposeSecret, SecretString};
use crate::store::Revocation;
use uuid::Uuid;

impl Accounts<'_> {
    /// Checks that `password` is the person's own before a change to their
    /// account, throttled like a login (guessing it with a stolen token
    /// gets no further than guessing it at the login page); a wrong one is
    /// recorded as `refused` makes it and is `InvalidCredentials`.
    pub(super) async fn check_password_of(
        &self,
        target: &StoredUser,
        password: &str,
        client: &ClientInfo,
        refused: impl FnOnce() -> AuditRecord,
    ) -> Result<()> {
        let throttle = self.tessera.throttle();
        let admission = throttle
            .admit_password_check(&target.user.username, client)
            .await?;
        let verified = self
            .hasher
            .verify(
                SecretString::from(password),
                Some(target.password_hash.clone()),
            )
            .await?;
        if !verified.ok {
            let entry = self.audit(refused(), client);
            throttle.password_check_failed(admission, entry).await?;
            return Err(Error::InvalidCredentials);
        }
        throttle.password_check_succeeded(admission).await
    }

    /// [`Accounts::check_password_of`] for a change to `target`'s second
    /// factors by `actor`.
    pub(super) async fn check_own_password(
        &self,
        target: &StoredUser,
        password: &str,
        client: &ClientInfo,
        actor: Uuid,
    ) -> Result<()> {
        self.check_password_of(target, password, client, || {
            AuditRecord::FactorChangeRefused {
                actor,
                user: target.user.id,
            }
        })
        .await
    }

    /// Changes a password. A user changing their own must give the current
    /// one, and their other sessions end; an administrator resetting
    /// another user's password ends all of that user's sessions.
    pub async fn change_password(
        &self,
        actor: &Caller,
        username: &str,
        current_password: Option<&str>,
        new_password: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let target = self
            .store
            .user_by_username(username)
            .await?
            .ok_or(Error::UserNotFound)?;
        let is_self = target.user.id == actor.user_id;
        if !is_self && !actor.is_admin {
            return Err(Error::Forbidden(
                "only the user or an admin may change this password".into(),
            ));
        }
        if is_self {
            let current = current_password
                .ok_or_else(|| Error::invalid("/current_password", "is required"))?;
            self.check_password_of(&target, current, client, || {
                AuditRecord::PasswordChangeFailed {
                    actor: actor.user_id,
                    user: target.user.id,
                }
            })
            .await?;
        }
        self.password_policy()
            .check(&target.user.username, new_password)
            .map_err(|p| Error::password("/new_password", p))?;
        let hash = self.hasher.hash(SecretString::from(new_password)).await?;
        // One's own password change keeps the session (or browser) it came from.
        let keep = if is_self {
            Spare::caller(actor)
        } else {
            Spare::NOTHING
        };
        let revoke = self.session_revocation(keep);
        let record = AuditRecord::PasswordChanged {
            actor: actor.user_id,
            user: target.user.id,
        };
        let entry = self.audit(record, client);
        let revoked = self
            .store
            .change_password(target.user.id, hash.expose_secret(), &revoke, &[entry])
            .await?
            .ok_or(Error::UserNotFound)?;
        self.events_written();
        for s in revoked {
            self.revocations
                .apply(&Revocation::session(s.id, revoke.until));
        }
        Ok(())
    }
}
