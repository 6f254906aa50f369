//! The audit log's records: one variant per auth event, each knowing its
//! name, outcome, actor and subject, its detail, and the stream event it
//! implies (SPEC §6, §9). The domain builds a record; [`AuditRecord::entry`]
//! turns it into what the store persists, event included, so the store
//! never interprets an audit entry.
//!
//! `stream.rs` holds the stream event each record implies; `logging.rs`
//! the security log line each entry is written as.

mod logging;
mod stream;

pub use logging::log;

use crate::model::ClientInfo;
use crate::store::AuditEntry;
use serde_json::{Value, json};
use tessera_token::clock::Millis;
use uuid::Uuid;

/// Whether what was attempted happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was refused.
    Failure,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// How much a logout ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// One token session (by its owner or an admin).
    Session(Uuid),
    /// Nothing: the token had no session.
    NoSession,
    /// Every session of the person.
    Everything,
    /// Every session of the person but those of the browser they acted from.
    AllOthers,
    /// Every session of the person issued to an application (client id).
    Application(String),
    /// A token session, by revoking its refresh token (RFC 7009).
    RefreshToken(Uuid),
    /// A browser's single sign-on session and what came through it.
    BrowserSession(Uuid),
}

/// One auth event.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditRecord {
    /// A person registered.
    Registered {
        /// The new user.
        user: Uuid,
        /// Their username.
        username: String,
    },
    /// An admin or the command line (no actor) created an account.
    UserCreated {
        /// Who created it.
        actor: Option<Uuid>,
        /// The new account's username.
        username: String,
        /// Its roles.
        roles: Vec<String>,
    },
    /// A sign-in succeeded.
    LoginSucceeded {
        /// Who signed in.
        user: Uuid,
        /// Their username.
        username: String,
        /// The OAuth client the tokens went to, if any.
        client_id: Option<String>,
        /// The browser session it started, on the hosted page.
        browser_session: Option<Uuid>,
    },
    /// A password check failed: unknown user, wrong password or disabled
    /// account alike.
    LoginFailed {
        /// The account, when the name is one.
        user: Option<Uuid>,
        /// The name that was tried.
        username: String,
    },
    /// A refresh token was rotated (the store names the session's user) or,
    /// within the grace window, repeated.
    Refreshed {
        /// For a repeat: the session's user and the session.
        repeat: Option<(Uuid, Uuid)>,
    },
    /// A rotated refresh token came back after the grace window.
    RefreshReuseDetected {
        /// The session's user.
        user: Uuid,
        /// The session, now revoked.
        session: Uuid,
    },
    /// Sessions were ended.
    Logout {
        /// Who ended them.
        actor: Uuid,
        /// Whose they were.
        user: Uuid,
        /// What ended.
        ended: Ended,
    },
    /// Roles changed.
    RoleChanged {
        /// The admin.
        actor: Uuid,
        /// Whose roles.
        user: Uuid,
        /// Before.
        from: Vec<String>,
        /// After.
        to: Vec<String>,
    },
    /// Profile fields changed.
    ProfileUpdated {
        /// Who changed them.
        actor: Uuid,
        /// Whose profile.
        user: Uuid,
        /// The fields, by name.
        changed: Vec<&'static str>,
    },
    /// An account was disabled or enabled.
    DisabledChanged {
        /// The admin.
        actor: Uuid,
        /// The account.
        user: Uuid,
        /// Its new state.
        disabled: bool,
    },
    /// A password changed.
    PasswordChanged {
        /// Who changed it.
        actor: Uuid,
        /// Whose it is.
        user: Uuid,
    },
    /// A password was set by following a reset link.
    PasswordReset {
        /// Whose it is.
        user: Uuid,
    },
    /// A reset link was made: mailed to the person's verified address, or
    /// handed to an operator (`by_operator`).
    ResetLinkIssued {
        /// Whose password it resets.
        user: Uuid,
        /// Whether an operator asked for it on the command line.
        by_operator: bool,
    },
    /// A change of one's own address gave the wrong current password.
    EmailChangeRefused {
        /// Who tried.
        actor: Uuid,
        /// Whose address.
        user: Uuid,
    },
    /// An address was proven by its link.
    EmailVerified {
        /// Whose address.
        user: Uuid,
    },
    /// A password change gave the wrong current password.
    PasswordChangeFailed {
        /// Who tried.
        actor: Uuid,
        /// Whose password.
        user: Uuid,
    },
    /// An account was deleted.
    UserDeleted {
        /// The admin (none: the command line).
        actor: Option<Uuid>,
        /// The account.
        user: Uuid,
        /// Its username.
        username: String,
    },
    /// A signing key was generated: the first of its kind, or a rotation.
    KeyAdded {
        /// Who asked (none: start-up or automatic rotation).
        actor: Option<Uuid>,
        /// The key.
        kid: String,
        /// Whether it replaces a key (`key.rotated`) or is the first (`key.created`).
        rotation: bool,
        /// For an automatic rotation: when the new key starts signing
        /// (a manual one signs at once).
        activates_at: Option<Millis>,
    },
    /// An OAuth client was registered.
    ClientCreated {
        /// The admin (none: the command line).
        actor: Option<Uuid>,
        /// The client.
        client_id: String,
        /// Its name.
        name: String,
        /// Whether it holds a secret.
        confidential: bool,
    },
    /// An OAuth client was deleted.
    ClientDeleted {
        /// The admin (none: the command line).
        actor: Option<Uuid>,
        /// The client.
        client_id: String,
    },
    /// A client's redirect URIs were changed.
    ClientUpdated {
        /// The admin.
        actor: Uuid,
        /// The client.
        client_id: String,
    },
    /// Tokens were issued to a client for a person (a code redeemed).
    TokenIssued {
        /// The person.
        user: Uuid,
        /// Their username.
        username: String,
        /// The client.
        client_id: String,
        /// The grant.
        grant: &'static str,
    },
    /// A spent authorization code came back; what it issued is revoked.
    AuthorizationCodeReused {
        /// The client.
        client_id: String,
        /// The session the first redemption created.
        session: Uuid,
    },
    /// One access token was revoked (RFC 7009).
    TokenRevoked {
        /// Its subject (a user id, or a client id).
        sub: String,
        /// Its `jti`.
        jti: String,
    },
    /// A second factor became active.
    FactorAdded {
        /// Who added it.
        actor: Uuid,
        /// Whose it is.
        user: Uuid,
        /// The factor.
        factor: Uuid,
        /// Its kind.
        kind: crate::mfa::FactorKind,
    },
    /// A second factor was removed (by its owner, an admin, or the command
    /// line: the nil actor).
    FactorRemoved {
        /// Who removed it.
        actor: Option<Uuid>,
        /// Whose it was.
        user: Uuid,
        /// The factor.
        factor: Uuid,
    },
    /// A person replaced their recovery codes.
    RecoveryCodesRegenerated {
        /// Whose.
        user: Uuid,
    },
    /// A wrong second-factor code at sign-in.
    SecondFactorFailed {
        /// Who was signing in.
        user: Uuid,
        /// Their username.
        username: String,
    },
    /// A change to a person's second factors gave the wrong password.
    FactorChangeRefused {
        /// Who tried.
        actor: Uuid,
        /// Whose factors.
        user: Uuid,
    },
}

impl AuditRecord {
    /// The stored event name.
    pub fn name(&self) -> &'static str {
        use AuditRecord::*;
        match self {
            Registered { .. } => "register",
            UserCreated { .. } => "user.created",
            LoginSucceeded { .. } => "login.succeeded",
            LoginFailed { .. } => "login.failed",
            Refreshed { .. } => "refresh",
            RefreshReuseDetected { .. } => "refresh.reuse_detected",
            Logout { .. } => "logout",
            RoleChanged { .. } => "role.changed",
            ProfileUpdated { .. } => "user.updated",
            DisabledChanged { .. } => "user.disabled",
            PasswordChanged { .. } | PasswordChangeFailed { .. } => "password.changed",
            PasswordReset { .. } => "password.reset",
            ResetLinkIssued { .. } => "password.reset_requested",
            EmailVerified { .. } => "email.verified",
            EmailChangeRefused { .. } => "email.change_refused",
            UserDeleted { .. } => "user.deleted",
            KeyAdded {
                rotation: false, ..
            } => "key.created",
            KeyAdded { rotation: true, .. } => "key.rotated",
            ClientCreated { .. } => "client.created",
            ClientDeleted { .. } => "client.deleted",
            ClientUpdated { .. } => "client.updated",
            TokenIssued { .. } => "token.issued",
            AuthorizationCodeReused { .. } => "authorization_code.reused",
            TokenRevoked { .. } => "token.revoked",
            FactorAdded { .. } => "factor.added",
            FactorRemoved { .. } => "factor.removed",
            RecoveryCodesRegenerated { .. } => "recovery_codes.regenerated",
            SecondFactorFailed { .. } => "login.failed",
            FactorChangeRefused { .. } => "factor.change_refused",
        }
    }

    /// Whether it happened or was refused.
    pub fn outcome(&self) -> Outcome {
        use AuditRecord::*;
        match self {
            LoginFailed { .. }
            | RefreshReuseDetected { .. }
            | PasswordChangeFailed { .. }
            | AuthorizationCodeReused { .. }
            | SecondFactorFailed { .. }
            | EmailChangeRefused { .. }
            | FactorChangeRefused { .. } => Outcome::Failure,
            _ => Outcome::Success,
        }
    }

    /// Who acted, when known.
    pub fn actor(&self) -> Option<Uuid> {
        use AuditRecord::*;
        match self {
            Registered { user, .. }
            | LoginSucceeded { user, .. }
            | RefreshReuseDetected { user, .. }
            | TokenIssued { user, .. }
            | RecoveryCodesRegenerated { user }
            | PasswordReset { user }
            | EmailVerified { user }
            | SecondFactorFailed { user, .. } => Some(*user),
            ResetLinkIssued { .. } => None,
            LoginFailed { user, .. } => *user,
            Refreshed { repeat } => repeat.map(|(user, _)| user),
            Logout { actor, .. }
            | RoleChanged { actor, .. }
            | ProfileUpdated { actor, .. }
            | DisabledChanged { actor, .. }
            | PasswordChanged { actor, .. }
            | PasswordChangeFailed { actor, .. }
            | ClientUpdated { actor, .. }
            | FactorAdded { actor, .. }
            | EmailChangeRefused { actor, .. }
            | FactorChangeRefused { actor, .. } => Some(*actor),
            UserCreated { actor, .. }
            | UserDeleted { actor, .. }
            | KeyAdded { actor, .. }
            | ClientCreated { actor, .. }
            | ClientDeleted { actor, .. }
            | FactorRemoved { actor, .. } => *actor,
            AuthorizationCodeReused { .. } => None,
            TokenRevoked { sub, .. } => Uuid::parse_str(sub).ok(),
        }
    }

    /// Whom or what it concerns: a user id, a username, a key or a client.
    pub fn subject(&self) -> Option<String> {
        use AuditRecord::*;
        match self {
            Registered { username, .. }
            | UserCreated { username, .. }
            | LoginSucceeded { username, .. }
            | LoginFailed { username, .. }
            | TokenIssued { username, .. }
            | SecondFactorFailed { username, .. } => Some(username.clone()),
            Refreshed { repeat } => repeat.map(|(user, _)| user.to_string()),
            RefreshReuseDetected { user, .. }
            | Logout { user, .. }
            | RoleChanged { user, .. }
            | ProfileUpdated { user, .. }
            | DisabledChanged { user, .. }
            | PasswordChanged { user, .. }
            | PasswordChangeFailed { user, .. }
            | UserDeleted { user, .. }
            | FactorAdded { user, .. }
            | FactorRemoved { user, .. }
            | RecoveryCodesRegenerated { user }
            | PasswordReset { user }
            | ResetLinkIssued { user, .. }
            | EmailVerified { user }
            | EmailChangeRefused { user, .. }
            | FactorChangeRefused { user, .. } => Some(user.to_string()),
            KeyAdded { kid, .. } => Some(kid.clone()),
            ClientCreated { client_id, .. }
            | ClientDeleted { client_id, .. }
            | ClientUpdated { client_id, .. } => Some(client_id.clone()),
            AuthorizationCodeReused { .. } => None,
            TokenRevoked { sub, .. } => Some(sub.clone()),
        }
    }

    /// What else it records (never a secret).
    pub fn detail(&self) -> Option<Value> {
        use AuditRecord::*;
        match self {
            UserCreated { roles, .. } => Some(json!({"roles": roles})),
            LoginSucceeded {
                client_id,
                browser_session,
                ..
            } => match (client_id, browser_session) {
                (_, Some(b)) => Some(json!({"browser_session": b})),
                (Some(c), None) => Some(json!({"client_id": c})),
                (None, None) => None,
            },
            Refreshed { repeat } => repeat.map(|(_, sid)| json!({"sid": sid, "repeat": true})),
            RefreshReuseDetected { session, .. } => Some(json!({"sid": session})),
            Logout { ended, .. } => match ended {
                Ended::Session(sid) => Some(json!({"sid": sid})),
                Ended::NoSession => None,
                Ended::Everything => Some(json!({"all": true})),
                Ended::AllOthers => Some(json!({"all": true, "but": "this browser"})),
                Ended::Application(client_id) => Some(json!({"client_id": client_id})),
                Ended::RefreshToken(sid) => Some(json!({"sid": sid, "revoked": "refresh_token"})),
                Ended::BrowserSession(id) => Some(json!({"browser_session": id})),
            },
            RoleChanged { from, to, .. } => Some(json!({"from": from, "to": to})),
            ProfileUpdated { changed, .. } => Some(json!({"changed": changed})),
            DisabledChanged { disabled, .. } => Some(json!({"disabled": disabled})),
            UserDeleted { username, .. } => Some(json!({"username": username})),
            KeyAdded { activates_at, .. } => {
                activates_at.map(|at| json!({"automatic": true, "activates_at": at}))
            }
            ClientCreated {
                name, confidential, ..
            } => Some(json!({"name": name, "confidential": confidential})),
            TokenIssued {
                client_id, grant, ..
            } => Some(json!({"client_id": client_id, "grant": grant})),
            AuthorizationCodeReused { client_id, session } => {
                Some(json!({"client_id": client_id, "sid": session}))
            }
            TokenRevoked { jti, .. } => Some(json!({"jti": jti})),
            FactorAdded { factor, kind, .. } => {
                Some(json!({"factor_id": factor, "type": kind.as_str()}))
            }
            FactorRemoved { factor, .. } => Some(json!({"factor_id": factor})),
            SecondFactorFailed { .. } => Some(json!({"step": "second_factor"})),
            ResetLinkIssued { by_operator, .. } => by_operator.then(|| json!({"by": "operator"})),
            Registered { .. }
            | LoginFailed { .. }
            | PasswordChanged { .. }
            | PasswordChangeFailed { .. }
            | ClientDeleted { .. }
            | ClientUpdated { .. }
            | RecoveryCodesRegenerated { .. }
            | PasswordReset { .. }
            | EmailVerified { .. }
            | EmailChangeRefused { .. }
            | FactorChangeRefused { .. } => None,
        }
    }

    /// The entry the store persists: this record at `at`, from `client`,
    /// with its stream event.
    pub fn entry(&self, at: Millis, client: &ClientInfo) -> AuditEntry {
        AuditEntry {
            id: 0,
            at,
            event: self.name().to_owned(),
            // The nil id stands for the command line, which has no user.
            actor: self.actor().filter(|a| !a.is_nil()).map(|a| a.to_string()),
            // A subject may be a name a client sent (a failed login);
            // PostgreSQL text cannot hold U+0000, and the entry must not be
            // lost over it.
            subject: self.subject().map(|s| s.replace('\0', "\u{FFFD}")),
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            outcome: self.outcome().as_str().to_owned(),
            detail: self.detail().map(|d| d.to_string()),
            stream_event: self.event(client),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientInfo {
        ClientInfo {
            ip: Some("203.0.113.9".into()),
            user_agent: None,
        }
    }

    #[test]
    fn records_become_their_stream_events() {
        let user = Uuid::new_v4();
        let roles = AuditRecord::RoleChanged {
            actor: Uuid::new_v4(),
            user,
            from: vec!["user".into()],
            to: vec!["admin".into(), "user".into()],
        }
        .entry(7, &client());
        assert_eq!(roles.event, "role.changed");
        let event = roles.stream_event.unwrap();
        assert_eq!(event.kind, "roles.changed");
        assert_eq!(
            event.payload,
            json!({"sub": user, "roles": ["admin", "user"]})
        );

        let failed = AuditRecord::LoginFailed {
            user: None,
            username: "mallory".into(),
        }
        .entry(7, &client());
        assert_eq!(failed.outcome, "failure");
        let event = failed.stream_event.unwrap();
        assert!(event.admin_only());
        assert_eq!(
            event.payload,
            json!({"username": "mallory", "ip": "203.0.113.9"})
        );

        let refused = AuditRecord::PasswordChangeFailed { actor: user, user };
        assert_eq!(refused.event(&client()), None);
        let registered = AuditRecord::Registered {
            user,
            username: "u1".into(),
        };
        assert_eq!(registered.event(&client()), None);
        let key = AuditRecord::KeyAdded {
            actor: None,
            kid: "kid-1".into(),
            rotation: true,
            activates_at: None,
        }
        .event(&client())
        .unwrap();
        assert_eq!((key.sub, key.payload), (None, json!({"kid": "kid-1"})));
        let first = AuditRecord::KeyAdded {
            actor: None,
            kid: "kid-0".into(),
            rotation: false,
            activates_at: None,
        };
        assert_eq!(first.name(), "key.created");
        assert_eq!(first.event(&client()), None);
    }

    #[test]
    fn the_command_line_is_no_actor_and_nul_never_reaches_the_store() {
        let entry = AuditRecord::LoginFailed {
            user: Some(Uuid::nil()),
            username: "a\0b".into(),
        }
        .entry(0, &client());
        assert_eq!(entry.actor, None);
        assert_eq!(entry.subject.as_deref(), Some("a\u{FFFD}b"));
    }
}
