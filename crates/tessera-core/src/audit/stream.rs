//! The stream event (SPEC §9) each audit record implies.

use super::AuditRecord;
use crate::events::NewEvent;
use crate::model::ClientInfo;
use serde_json::json;

impl AuditRecord {
    /// The stream event it implies, if any (SPEC §9).
    pub fn event(&self, client: &ClientInfo) -> Option<NewEvent> {
        use AuditRecord::*;
        let (kind, sub, payload) = match self {
            LoginSucceeded { user, username, .. } => (
                "login.succeeded",
                Some(user.to_string()),
                json!({"sub": user, "username": username}),
            ),
            LoginFailed { user, username } => (
                "login.failed",
                user.map(|u| u.to_string()),
                json!({"username": username.replace('\0', "\u{FFFD}"), "ip": client.ip}),
            ),
            SecondFactorFailed { user, username } => (
                "login.failed",
                Some(user.to_string()),
                json!({"username": username, "ip": client.ip, "step": "second_factor"}),
            ),
            // The frame's own `type` is the event's; the factor's kind is
            // `factor_type`.
            FactorAdded {
                user, factor, kind, ..
            } => (
                "factor.added",
                Some(user.to_string()),
                json!({"sub": user, "factor_id": factor, "factor_type": kind.as_str()}),
            ),
            FactorRemoved { user, factor, .. } => (
                "factor.removed",
                Some(user.to_string()),
                json!({"sub": user, "factor_id": factor}),
            ),
            RefreshReuseDetected { user, session } => (
                "refresh.reuse_detected",
                Some(user.to_string()),
                json!({"sub": user, "sid": session}),
            ),
            RoleChanged { user, to, .. } => (
                "roles.changed",
                Some(user.to_string()),
                json!({"sub": user, "roles": to}),
            ),
            DisabledChanged { user, .. } => (
                "user.updated",
                Some(user.to_string()),
                json!({"sub": user, "changed": ["disabled"]}),
            ),
            ProfileUpdated { user, changed, .. } => (
                "user.updated",
                Some(user.to_string()),
                json!({"sub": user, "changed": changed}),
            ),
            PasswordChanged { user, .. } => (
                "user.updated",
                Some(user.to_string()),
                json!({"sub": user, "changed": ["password"]}),
            ),
            UserDeleted { user, .. } => {
                ("user.deleted", Some(user.to_string()), json!({"sub": user}))
            }
            KeyAdded {
                kid,
                rotation: true,
                ..
            } => ("key.rotated", None, json!({"kid": kid})),
            _ => return None,
        };
        Some(NewEvent { kind, sub, payload })
    }
}
