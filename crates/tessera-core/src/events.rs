//! The events the domain records (SPEC §9) and how the changes the store
//! records become them. Events are written by the store in the same
//! transaction as the change they describe, so a committed revocation is
//! never missing from the stream; [`tessera_token::events::Event`] is the
//! frame a subscriber receives.

use crate::store::AuditEntry;
use serde_json::{Value, json};
use tessera_token::clock::Millis;

/// Events only administrators (and `events:read` clients) receive.
pub const ADMIN_ONLY: [&str; 3] = ["login.succeeded", "login.failed", "refresh.reuse_detected"];

/// An event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Event type.
    pub kind: &'static str,
    /// The user it is about.
    pub sub: Option<String>,
    /// Fields besides `seq` and `type`.
    pub payload: Value,
}

impl NewEvent {
    /// Whether only administrators may see it.
    pub fn admin_only(&self) -> bool {
        ADMIN_ONLY.contains(&self.kind)
    }
}

/// `session.revoked`: the access tokens of session `sid` (of user `sub`),
/// which would otherwise have been valid until `until`, are refused.
pub fn session_revoked(sid: &str, sub: &str, until: Millis) -> NewEvent {
    NewEvent {
        kind: "session.revoked",
        sub: Some(sub.to_owned()),
        payload: json!({"sid": sid, "sub": sub, "exp": until.div_euclid(1000)}),
    }
}

/// `token.revoked`: the access token `jti` (of `sub`), which would otherwise
/// have been valid until `until`, is refused.
pub fn token_revoked(jti: &str, sub: &str, until: Millis) -> NewEvent {
    NewEvent {
        kind: "token.revoked",
        sub: Some(sub.to_owned()),
        payload: json!({"jti": jti, "sub": sub, "exp": until.div_euclid(1000)}),
    }
}

/// The stream event an audit record implies, if any.
pub fn from_audit(entry: &AuditEntry) -> Option<NewEvent> {
    if entry.outcome != "success"
        && entry.event != "login.failed"
        && entry.event != "refresh.reuse_detected"
    {
        return None;
    }
    let detail: Value = entry
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(Value::Null);
    let subject = entry.subject.clone();
    let (kind, sub, payload) = match entry.event.as_str() {
        "login.succeeded" => (
            "login.succeeded",
            entry.actor.clone(),
            json!({"sub": entry.actor, "username": subject}),
        ),
        "login.failed" => (
            "login.failed",
            entry.actor.clone(),
            json!({"username": subject, "ip": entry.ip}),
        ),
        "refresh.reuse_detected" => (
            "refresh.reuse_detected",
            subject.clone(),
            json!({"sub": subject, "sid": detail.get("sid")}),
        ),
        "role.changed" => (
            "roles.changed",
            subject.clone(),
            json!({"sub": subject, "roles": detail.get("to")}),
        ),
        "user.disabled" => (
            "user.updated",
            subject.clone(),
            json!({"sub": subject, "changed": ["disabled"]}),
        ),
        "user.updated" => (
            "user.updated",
            subject.clone(),
            json!({"sub": subject, "changed": detail.get("changed")}),
        ),
        "password.changed" => (
            "user.updated",
            subject.clone(),
            json!({"sub": subject, "changed": ["password"]}),
        ),
        "user.deleted" => ("user.deleted", subject.clone(), json!({"sub": subject})),
        "key.rotated" => ("key.rotated", None, json!({"kid": subject})),
        _ => return None,
    };
    Some(NewEvent { kind, sub, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit(event: &str, outcome: &str, subject: &str, detail: Option<Value>) -> AuditEntry {
        AuditEntry {
            id: 0,
            at: 0,
            event: event.into(),
            actor: Some("admin-id".into()),
            subject: Some(subject.into()),
            ip: Some("203.0.113.9".into()),
            user_agent: None,
            outcome: outcome.into(),
            detail: detail.map(|d| d.to_string()),
        }
    }

    #[test]
    fn audit_records_map_to_stream_events() {
        let roles = from_audit(&audit(
            "role.changed",
            "success",
            "u1",
            Some(json!({"to": ["admin", "user"]})),
        ))
        .unwrap();
        assert_eq!(roles.kind, "roles.changed");
        assert_eq!(
            roles.payload,
            json!({"sub": "u1", "roles": ["admin", "user"]})
        );
        let failed = from_audit(&audit("login.failed", "failure", "mallory", None)).unwrap();
        assert!(failed.admin_only());
        assert_eq!(
            from_audit(&audit("password.changed", "failure", "u1", None)),
            None
        );
        assert_eq!(from_audit(&audit("register", "success", "u1", None)), None);
        let key = from_audit(&audit("key.rotated", "success", "kid-1", None)).unwrap();
        assert_eq!((key.sub, key.payload), (None, json!({"kid": "kid-1"})));
    }
}
