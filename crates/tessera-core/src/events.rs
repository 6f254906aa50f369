//! The live event stream (SPEC §9): the events there are, who may see each,
//! and how the changes the store records become events. Events are written
//! by the store in the same transaction as the change they describe, so a
//! committed revocation is never missing from the stream.

use crate::clock::Millis;
#[cfg(feature = "server")]
use crate::store::AuditEntry;
use serde_json::{Map, Value, json};

/// Events only administrators (and `events:read` clients) receive.
const ADMIN_ONLY: [&str; 3] = ["login.succeeded", "login.failed", "refresh.reuse_detected"];

/// An event as stored, with its deployment-wide sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Increasing across the deployment.
    pub seq: i64,
    /// When it happened.
    pub at: Millis,
    /// `session.revoked`, `roles.changed`, …
    pub kind: String,
    /// The user it is about, if any.
    pub sub: Option<String>,
    /// Whether only administrators may see it.
    pub admin_only: bool,
    /// The event's fields (besides `seq` and `type`).
    pub payload: Value,
}

impl Event {
    /// The JSON text frame: `{"seq": …, "type": …, "at": …, <payload fields>}`.
    pub fn to_message(&self) -> String {
        let mut map = Map::new();
        map.insert("seq".into(), json!(self.seq));
        // When it happened (epoch milliseconds, Tessera's clock): lets a
        // verifier cut off a user's tokens at the very change.
        map.insert("at".into(), json!(self.at));
        map.insert("type".into(), json!(self.kind));
        if let Value::Object(fields) = &self.payload {
            for (k, v) in fields {
                map.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Value::Object(map).to_string()
    }

    /// Whether a subscriber may see this event: those who see everything
    /// (admins, `events:read` clients) do; others see events about
    /// themselves that are not admin-only, and `key.rotated`.
    pub fn visible_to(&self, subject: &str, sees_all: bool) -> bool {
        if sees_all {
            return true;
        }
        if self.admin_only {
            return false;
        }
        self.kind == "key.rotated" || self.sub.as_deref() == Some(subject)
    }
}

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
#[cfg(feature = "server")]
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

    #[cfg(feature = "server")]
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
    fn messages_carry_seq_type_and_the_payload() {
        let e = Event {
            seq: 7,
            at: 0,
            kind: "session.revoked".into(),
            sub: Some("u1".into()),
            admin_only: false,
            payload: json!({"sid": "s1", "sub": "u1", "exp": 99}),
        };
        let m: Value = serde_json::from_str(&e.to_message()).unwrap();
        assert_eq!(
            m,
            json!({"seq": 7, "at": 0, "type": "session.revoked", "sid": "s1", "sub": "u1", "exp": 99})
        );
    }

    #[test]
    fn users_see_their_own_events_and_key_rotations_admins_see_all() {
        let mine = Event {
            seq: 1,
            at: 0,
            kind: "roles.changed".into(),
            sub: Some("u1".into()),
            admin_only: false,
            payload: json!({}),
        };
        let key = Event {
            kind: "key.rotated".into(),
            sub: None,
            ..mine.clone()
        };
        let login = Event {
            kind: "login.succeeded".into(),
            admin_only: true,
            ..mine.clone()
        };
        assert!(mine.visible_to("u1", false));
        assert!(!mine.visible_to("u2", false));
        assert!(key.visible_to("u2", false));
        assert!(
            !login.visible_to("u1", false),
            "admin-only even about oneself"
        );
        assert!(login.visible_to("anyone", true));
    }

    #[test]
    #[cfg(feature = "server")]
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
