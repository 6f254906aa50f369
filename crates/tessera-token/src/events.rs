//! The live event stream's frames (SPEC §9): an event as the server sends
//! it, with its deployment-wide sequence number, and who may see it.

use crate::clock::Millis;
use serde_json::{Map, Value, json};
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
