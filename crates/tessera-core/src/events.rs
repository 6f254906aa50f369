//! The stream events the domain records (SPEC §9). The store writes each in
//! the same transaction as the change it describes, so a committed
//! revocation is never missing from the stream; [`crate::audit`] says which
//! audit records imply which event, and [`tessera_token::events::Event`] is
//! the frame a subscriber receives.

use serde_json::{Value, json};
use tessera_token::clock::Millis;

/// Events only administrators (and `events:read` clients) receive.
pub const ADMIN_ONLY: [&str; 3] = ["login.succeeded", "login.failed", "refresh.reuse_detected"];

/// An event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
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
