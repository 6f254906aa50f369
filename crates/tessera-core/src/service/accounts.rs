//! Accounts: registration, lookups and deletion — each taking effect on
//! live tokens. Profile and role changes are `profiles.rs`'s, passwords
//! `passwords.rs`'s.

use super::{Caller, ClientInfo, Context, IssuedTokens, SessionGrant, Spare, Tessera};
use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::model::{
    ROLE_ADMIN, User, is_valid_email, is_valid_role, is_valid_username, normalize_roles,
};
use crate::secret::{ExposeSecret, SecretString};
use crate::store::{
    BrowserSession, FollowUp, Guarded, NewSession, NewUser, StoreError, UserFilter,
};
use uuid::Uuid;

/// The longest first or last name, in characters.
const MAX_NAME_CHARS: usize = 100;
/// The longest phone number, in characters.
const MAX_PHONE_CHARS: usize = 32;

/// A new account's details.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// Username.
    pub username: String,
    /// Password (checked against the policy, then hashed).
    pub password: SecretString,
    /// Optional e-mail.
    pub email: Option<String>,
    /// Optional given name.
    pub first_name: Option<String>,
    /// Optional family name.
    pub last_name: Option<String>,
    /// Optional phone.
    pub phone: Option<String>,
    /// Roles beyond `user` (only for accounts created by an administrator).
    pub roles: Vec<String>,
}

/// What a self-registration gives.
#[derive(Debug)]
pub enum Registration {
    /// Signed in: the tokens of the new account's first session.
    SignedIn(Box<IssuedTokens>),
    /// The deployment requires a verified address: the new account, not
    /// signed in; the link is on its way.
    MustVerify(User),
    /// The policy demands a second factor first: the new account and the
    /// `enrollment_token` to set it up with.
    MustEnrol {
        /// The new account.
        user: User,
        /// What the factor is set up with.
        enrollment: super::EnrollmentChallenge,
    },
}

/// A change to a user's profile, roles or status; `Some(None)` clears a field.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    /// E-mail.
    pub email: Option<Option<String>>,
    /// Given name.
    pub first_name: Option<Option<String>>,
    /// Family name.
    pub last_name: Option<Option<String>>,
    /// Phone.
    pub phone: Option<Option<String>>,
    /// Roles (admins only).
    pub roles: Option<Vec<String>>,
    /// Disabled flag (admins only).
    pub disabled: Option<bool>,
    /// The person's own password: needed when they change or clear their
    /// own email address.
    pub current_password: Option<SecretString>,
}

impl ProfileChanges {
    /// Whether the change touches fields only administrators may set.
    pub fn is_administrative(&self) -> bool {
        self.roles.is_some() || self.disabled.is_some()
    }

    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.first_name.is_none()
            && self.last_name.is_none()
            && self.phone.is_none()
            && self.roles.is_none()
            && self.disabled.is_none()
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

fn check_len(path: &str, value: &Option<String>, max: usize) -> Result<()> {
    match value {
        // Text columns cannot hold U+0000 on PostgreSQL; refuse it everywhere alike.
        Some(v) if v.contains('\0') => Err(Error::invalid(path, "must not contain U+0000")),
        Some(v) if v.chars().count() > max => Err(Error::invalid(
            path,
            format!("longer than {max} characters"),
        )),
        _ => Ok(()),
    }
}

pub(super) fn check_profile(
    email: &Option<String>,
    first: &Option<String>,
    last: &Option<String>,
    phone: &Option<String>,
) -> Result<()> {
    if let Some(e) = email
        && !is_valid_email(e)
    {
        return Err(Error::invalid("/email", "not a valid e-mail address"));
    }
    check_len("/first_name", first, MAX_NAME_CHARS)?;
    check_len("/last_name", last, MAX_NAME_CHARS)?;
    check_len("/phone", phone, MAX_PHONE_CHARS)
}

pub(super) fn check_roles(roles: &[String]) -> Result<Vec<String>> {
    if let Some(bad) = roles.iter().find(|r| !is_valid_role(r)) {
        return Err(Error::invalid(
            "/roles",
            format!("{bad:?} is not a valid role name"),
        ));
    }
    Ok(normalize_roles(roles.iter().cloned()))
}

/// Accounts: registration, profiles, roles, passwords and deletion.
#[derive(Debug, Clone, Copy)]
pub struct Accounts<'a> {
    pub(super) tessera: &'a Tessera,
}

impl std::ops::Deref for Accounts<'_> {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.tessera.ctx
    }
}

impl Accounts<'_> {
    /// Self-registration: creates a `user` account and logs it in — or,
    /// when the second-factor policy covers everyone, hands out the
    /// `enrollment_token` the person sets up their factor with first.
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, account: NewAccount, client: &ClientInfo) -> Result<Registration> {
        if !self.settings.allow_registration {
            return Err(Error::RegistrationDisabled);
        }
        self.tessera
            .throttle()
            .check_registration_rate(client)
            .await?;
        let account = NewAccount {
            roles: Vec::new(),
            ..account
        };
        self.tessera.email().check_given(&account.email)?;
        let must_verify = self.settings.require_verified_email;
        let must_enrol = self.must_enrol_when_registering();
        let (user, session) = self
            .insert_account(
                account,
                None,
                client,
                Creation::Registered {
                    with_session: !must_enrol && !must_verify,
                },
            )
            .await?;
        self.tessera.email().send_verification_or_log(&user).await;
        if must_verify {
            return Ok(Registration::MustVerify(user));
        }
        if must_enrol {
            let enrollment = self.tessera.factors().enrollment_challenge(user.id).await?;
            return Ok(Registration::MustEnrol { user, enrollment });
        }
        let (session, refresh_token) =
            session.ok_or_else(|| Error::Internal("registration without a session".into()))?;
        let tokens = self
            .tessera
            .sessions()
            .issue_session_tokens(user, &session, refresh_token)?;
        Ok(Registration::SignedIn(Box::new(tokens)))
    }

    /// Whether a newcomer must set up a second factor before signing in.
    fn must_enrol_when_registering(&self) -> bool {
        self.settings
            .mfa_policy
            .covers(&[crate::model::ROLE_USER.to_owned()])
    }

    /// Creates an account (by an administrator or the CLI).
    pub async fn create_user(
        &self,
        account: NewAccount,
        actor: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<User> {
        let user = self
            .insert_account(account, actor, client, Creation::ByAdmin)
            .await?
            .0;
        self.tessera.email().send_verification_or_log(&user).await;
        Ok(user)
    }

    /// Self-registration on Tessera's sign-up page: creates a `user` account
    /// and signs the browser in (no token session of its own beyond the
    /// browser's). The browser session and the cookie value that names it.
    /// When the second-factor policy covers everyone, the account is
    /// created and the answer is `MfaEnrollmentRequired`: the page goes on
    /// to setting up the factor.
    #[tracing::instrument(skip_all)]
    pub async fn register_in_browser(
        &self,
        account: NewAccount,
        client: &ClientInfo,
    ) -> Result<(BrowserSession, User, String)> {
        if !self.settings.allow_registration {
            return Err(Error::RegistrationDisabled);
        }
        self.tessera
            .throttle()
            .check_registration_rate(client)
            .await?;
        let account = NewAccount {
            roles: Vec::new(),
            ..account
        };
        self.tessera.email().check_given(&account.email)?;
        let (user, _) = self
            .insert_account(
                account,
                None,
                client,
                Creation::Registered {
                    with_session: false,
                },
            )
            .await?;
        self.tessera.email().send_verification_or_log(&user).await;
        if self.settings.require_verified_email {
            return Err(Error::EmailNotVerified);
        }
        if self.must_enrol_when_registering() {
            let enrollment = self.tessera.factors().enrollment_challenge(user.id).await?;
            return Err(Error::MfaEnrollmentRequired(enrollment));
        }
        let (browser, cookie) = self
            .tessera
            .sso()
            .start_browser_session(&user, crate::mfa::amr::password(), client, |_| Vec::new())
            .await?;
        Ok((browser, user, cookie))
    }

    /// Validates, hashes and stores an account — with its first session when
    /// a registration asks for one — and the audit entry, in one transaction.
    async fn insert_account(
        &self,
        account: NewAccount,
        actor: Option<Uuid>,
        client: &ClientInfo,
        creation: Creation,
    ) -> Result<(User, Option<(NewSession, String)>)> {
        let with_session = matches!(creation, Creation::Registered { with_session: true });
        if !is_valid_username(&account.username) {
            return Err(Error::invalid(
                "/username",
                "must match ^[A-Za-z0-9_.-]{3,32}$",
            ));
        }
        check_profile(
            &account.email,
            &account.first_name,
            &account.last_name,
            &account.phone,
        )?;
        let roles = check_roles(&account.roles)?;
        self.password_policy()
            .check(&account.username, account.password.expose_secret())
            .map_err(|p| Error::password("/password", p))?;
        // A cheap early answer for a taken name; the unique index decides races.
        if self
            .store
            .user_by_username(&account.username)
            .await?
            .is_some()
        {
            return Err(Error::UsernameTaken);
        }
        let password_hash = self.hasher.hash(account.password).await?;
        let id = Uuid::new_v4();
        let session = with_session.then(|| {
            self.tessera
                .sessions()
                .new_session(id, client, SessionGrant::default())
        });
        let record = if let Creation::Registered { .. } = creation {
            AuditRecord::Registered {
                user: id,
                username: account.username.clone(),
            }
        } else {
            AuditRecord::UserCreated {
                actor,
                username: account.username.clone(),
                roles: roles.clone(),
            }
        };
        let entry = self.audit(record, client);
        let user = self
            .store
            .insert_user(
                &NewUser {
                    id,
                    username: account.username,
                    email: account.email,
                    email_exempt: matches!(creation, Creation::ByAdmin),
                    first_name: account.first_name,
                    last_name: account.last_name,
                    phone: account.phone,
                    roles,
                    password_hash,
                    now: self.now(),
                },
                session.as_ref().map(|(s, _)| s),
                &[entry],
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict => Error::UsernameTaken,
                e => Error::Store(e),
            })?;
        Ok((user, session))
    }

    /// Creates the configured admin at start-up if that user does not exist.
    pub async fn ensure_admin(&self, username: &str, password: &str) -> Result<bool> {
        if self.store.user_by_username(username).await?.is_some() {
            return Ok(false);
        }
        let account = NewAccount {
            username: username.to_owned(),
            password: SecretString::from(password),
            roles: vec![ROLE_ADMIN.to_owned()],
            ..NewAccount::default()
        };
        match self
            .create_user(account, None, &ClientInfo::default())
            .await
        {
            Ok(_) | Err(Error::UsernameTaken) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Finds a user by username (case-insensitive).
    pub async fn user(&self, username: &str) -> Result<User> {
        Ok(self
            .store
            .user_by_username(username)
            .await?
            .ok_or(Error::UserNotFound)?
            .user)
    }

    /// Finds a user by id.
    pub async fn user_by_id(&self, id: Uuid) -> Result<User> {
        Ok(self
            .store
            .user_by_id(id)
            .await?
            .ok_or(Error::UserNotFound)?
            .user)
    }

    /// The users `filter` finds, by lower-cased username, `limit` per page
    /// (the cursor as [`Accounts::list_users`]'s).
    pub async fn search_users(
        &self,
        filter: &UserFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<User>> {
        let after = match cursor {
            Some(c) if is_valid_username(c) && c == c.to_lowercase() => Some(c),
            Some(_) => {
                return Err(Error::invalid(
                    "/cursor",
                    "not a cursor from a previous page",
                ));
            }
            None => None,
        };
        let filter = UserFilter {
            prefix: filter.prefix.trim().to_lowercase(),
            ..filter.clone()
        };
        let mut items = self
            .store
            .search_users(&filter, after, limit.saturating_add(1))
            .await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if more {
            items.last().map(|u| u.username.to_lowercase())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Users ordered by lower-cased username, `limit` per page.
    pub async fn list_users(&self, limit: u32, cursor: Option<&str>) -> Result<Page<User>> {
        // A cursor is the lower-cased username the previous page ended on:
        // anything else is not one Tessera gave out.
        let after = match cursor {
            Some(c) if is_valid_username(c) && c == c.to_lowercase() => Some(c),
            Some(_) => {
                return Err(Error::invalid(
                    "/cursor",
                    "not a cursor from a previous page",
                ));
            }
            None => None,
        };
        let mut items = self
            .store
            .list_users(after, limit.saturating_add(1))
            .await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if more {
            items.last().map(|u| u.username.to_lowercase())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Deletes a user and ends every session and token of theirs.
    pub async fn delete_user(
        &self,
        actor: Option<&Caller>,
        username: &str,
        client: &ClientInfo,
    ) -> Result<User> {
        let target = self.user(username).await?;
        // The sessions vanish with the user (ON DELETE CASCADE); they are
        // revoked first, in the same transaction, so their tokens are refused
        // by `sid` and not only by the issue-time cut-off (which spares a
        // token minted in the same millisecond, or by a replica whose clock
        // runs ahead).
        let record = AuditRecord::UserDeleted {
            actor: actor.map(|a| a.user_id),
            user: target.id,
            username: target.username.clone(),
        };
        let entry = self.audit(record, client);
        let follow = FollowUp {
            revoke_sessions: Some(self.session_revocation(Spare::NOTHING)),
            revocations: vec![self.cut_off(target.id)],
            audit: vec![entry],
        };
        let deleted = self.store.delete_user(target.id, &follow).await?;
        self.events_written();
        let deleted = match deleted {
            Guarded::Done(u) => u,
            Guarded::NotFound => return Err(Error::UserNotFound),
            Guarded::LastAdmin => return Err(Error::LastAdmin),
        };
        Ok(deleted)
    }
}

/// How an account comes to be.
#[derive(Debug, Clone, Copy)]
enum Creation {
    /// The person registered; `with_session`: logged in with tokens.
    Registered { with_session: bool },
    /// An administrator or the command line created it.
    ByAdmin,
}
