//! Changing an account: its profile, roles and status, by its owner or an
//! administrator, each change taking effect on live tokens.

use super::accounts::{check_profile, check_roles};
use super::{Accounts, Caller, ClientInfo, ProfileChanges, Spare};
use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::model::User;
use crate::store::{FollowUp, Guarded, UserChanges};
use uuid::Uuid;

impl Accounts<'_> {
    /// Changes a user's profile, roles or status. Who may change what is the
    /// caller's business; this enforces the values and the last-admin rule,
    /// and makes the change take effect on live tokens.
    pub async fn update_user(
        &self,
        actor: &Caller,
        username: &str,
        changes: ProfileChanges,
        client: &ClientInfo,
    ) -> Result<User> {
        let before = self.user(username).await?;
        let flat = |f: &Option<Option<String>>| f.clone().flatten();
        check_profile(
            &flat(&changes.email),
            &flat(&changes.first_name),
            &flat(&changes.last_name),
            &flat(&changes.phone),
        )?;
        let roles = changes.roles.as_deref().map(check_roles).transpose()?;
        // Setting the address it already has changes nothing.
        let email = changes.email.filter(|e| *e != before.email);
        if let Some(new) = &email {
            self.tessera
                .email()
                .check_change(actor, &before, new, changes.current_password, client)
                .await?;
        }
        let now = self.now();
        let store_changes = UserChanges {
            email,
            first_name: changes.first_name,
            last_name: changes.last_name,
            phone: changes.phone,
            roles,
            disabled: changes.disabled,
        };
        let roles_changed = store_changes
            .roles
            .as_ref()
            .is_some_and(|r| *r != before.roles);
        let disabled_now = store_changes.disabled == Some(true) && !before.disabled;
        let mut follow = FollowUp::default();
        if disabled_now {
            follow.revoke_sessions = Some(self.session_revocation(Spare::NOTHING));
        }
        if roles_changed || disabled_now {
            follow.revocations.push(self.cut_off(before.id));
        }
        if roles_changed {
            let record = AuditRecord::RoleChanged {
                actor: actor.user_id,
                user: before.id,
                from: before.roles.clone(),
                to: store_changes.roles.clone().unwrap_or_default(),
            };
            follow.audit.push(self.audit(record, client));
        }
        let profile: Vec<&'static str> = [
            ("email", store_changes.email.is_some()),
            ("first_name", store_changes.first_name.is_some()),
            ("last_name", store_changes.last_name.is_some()),
            ("phone", store_changes.phone.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if !profile.is_empty() {
            let record = AuditRecord::ProfileUpdated {
                actor: actor.user_id,
                user: before.id,
                changed: profile,
            };
            follow.audit.push(self.audit(record, client));
        }
        if let Some(disabled) = store_changes.disabled.filter(|d| *d != before.disabled) {
            let record = AuditRecord::DisabledChanged {
                actor: actor.user_id,
                user: before.id,
                disabled,
            };
            follow.audit.push(self.audit(record, client));
        }
        let updated = self
            .store
            .update_user(before.id, &store_changes, now, &follow)
            .await?;
        self.events_written();
        let after = match updated {
            Guarded::Done(u) => u,
            Guarded::NotFound => return Err(Error::UserNotFound),
            Guarded::LastAdmin => return Err(Error::LastAdmin),
        };
        if after.email != before.email
            && let Err(e) = self.tessera.email().address_changed(&before, &after).await
        {
            tracing::warn!(error = %e, "could not send the address-change mails");
        }
        // A role that puts the person under the second-factor policy ends
        // their sessions signed in without one.
        let policy = self.settings.mfa_policy;
        if policy.covers(&after.roles) && !policy.covers(&before.roles) {
            self.tessera
                .factors()
                .enforce_policy(Some(after.id))
                .await?;
        }
        Ok(after)
    }

    /// Replaces a user's roles (CLI); same rules as [`Tessera::update_user`].
    pub async fn set_roles(&self, username: &str, roles: Vec<String>) -> Result<User> {
        // The command line acts as an administrator without a user of its own.
        let system = Caller {
            user_id: Uuid::nil(),
            session_id: None,
            browser_session_id: None,
            is_admin: true,
        };
        let changes = ProfileChanges {
            roles: Some(roles),
            ..ProfileChanges::default()
        };
        self.update_user(&system, username, changes, &ClientInfo::default())
            .await
    }
}
