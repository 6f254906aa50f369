//! What Tessera sends on `/events` (SPEC §9), read leniently — an unknown
//! type or a missing field is skipped, never fatal — and what each event
//! means for the local revocation set.

use serde_json::Value;
use tessera_token::clock::Millis;
use tessera_token::revocation::{Revocation, RevocationKind};

/// A text frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerMessage {
    /// The answer to an `{"type":"auth"}` message, with the token's expiry.
    AuthOk {
        /// `exp` of the token the connection now runs on (seconds).
        exp: Option<i64>,
    },
    /// The `since` asked for is older than what Tessera keeps.
    ReplayTruncated {
        /// The oldest `seq` Tessera still has.
        oldest_seq: Option<i64>,
    },
    /// An event, with its deployment-wide sequence number.
    Event {
        /// Increasing across the deployment.
        seq: i64,
        /// What it means here.
        event: StreamEvent,
    },
    /// Anything else (ignored).
    Other,
}

/// The events that matter to a verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamEvent {
    /// `session.revoked`: every token of session `sid`, valid until `exp` at most.
    SessionRevoked {
        /// The session.
        sid: String,
        /// Until when its tokens would have been valid (seconds).
        exp: Option<i64>,
    },
    /// `token.revoked`: the token `jti`, valid until `exp` at most.
    TokenRevoked {
        /// The token.
        jti: String,
        /// Its expiry (seconds).
        exp: Option<i64>,
    },
    /// `user.deleted`, `roles.changed`, or `user.updated` changing
    /// `disabled`: the user's tokens minted before the change are refused.
    UserCutOff {
        /// The user.
        sub: String,
        /// When the change happened (the frame's `at`, Tessera's clock), if sent.
        at: Option<Millis>,
    },
    /// `key.rotated`: a new signing key.
    KeyRotated {
        /// Its key id.
        kid: String,
    },
    /// Every other event (logins, profile changes) or a malformed one.
    Ignored,
}

/// Reads one text frame.
pub(crate) fn parse(text: &str) -> ServerMessage {
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) else {
        return ServerMessage::Other;
    };
    let str_field = |name: &str| m.get(name).and_then(Value::as_str).map(str::to_owned);
    let int_field = |name: &str| m.get(name).and_then(Value::as_i64);
    let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
    match (kind, int_field("seq")) {
        ("auth.ok", _) => ServerMessage::AuthOk {
            exp: int_field("exp"),
        },
        ("replay.truncated", _) => ServerMessage::ReplayTruncated {
            oldest_seq: int_field("oldest_seq"),
        },
        (_, Some(seq)) => {
            let event = match kind {
                "session.revoked" => str_field("sid").map(|sid| StreamEvent::SessionRevoked {
                    sid,
                    exp: int_field("exp"),
                }),
                "token.revoked" => str_field("jti").map(|jti| StreamEvent::TokenRevoked {
                    jti,
                    exp: int_field("exp"),
                }),
                "user.deleted" | "roles.changed" => {
                    str_field("sub").map(|sub| StreamEvent::UserCutOff {
                        sub,
                        at: int_field("at"),
                    })
                }
                "user.updated" if changes_disabled(m.get("changed")) => {
                    str_field("sub").map(|sub| StreamEvent::UserCutOff {
                        sub,
                        at: int_field("at"),
                    })
                }
                "key.rotated" => str_field("kid").map(|kid| StreamEvent::KeyRotated { kid }),
                _ => None,
            };
            ServerMessage::Event {
                seq,
                event: event.unwrap_or(StreamEvent::Ignored),
            }
        }
        _ => ServerMessage::Other,
    }
}

/// Whether a `user.updated` `changed` list names `disabled`. (Tessera sends
/// the same for disabling and enabling; a cut-off on enabling is harmless,
/// since a disabled user's sessions were already revoked.)
fn changes_disabled(changed: Option<&Value>) -> bool {
    changed
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|f| f.as_str() == Some("disabled")))
}

/// How long revocations are remembered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retention {
    /// Clock-skew tolerance added to a revoked token's `exp`.
    pub(crate) leeway_ms: Millis,
    /// How long a per-user cut-off (or a revocation without `exp`) is kept:
    /// at least the longest access-token lifetime.
    pub(crate) horizon_ms: Millis,
}

impl StreamEvent {
    /// The revocation this event calls for, received at `now`.
    ///
    /// A per-user cut-off refuses the user's tokens minted before the change:
    /// the frame's `at`, or — from a server that sends none — `now`, the
    /// moment the verifier learnt of it (then tokens minted in between are
    /// refused too, and a client answered 401 refreshes and passes).
    pub(crate) fn revocation(&self, now: Millis, keep: Retention) -> Option<Revocation> {
        let until = |exp: Option<i64>| {
            exp.map_or(now.saturating_add(keep.horizon_ms), |e| {
                e.saturating_mul(1000).saturating_add(keep.leeway_ms)
            })
        };
        let (kind, subject, not_before, expires_at) = match self {
            StreamEvent::SessionRevoked { sid, exp } => {
                (RevocationKind::Session, sid, 0, until(*exp))
            }
            StreamEvent::TokenRevoked { jti, exp } => (RevocationKind::Token, jti, 0, until(*exp)),
            StreamEvent::UserCutOff { sub, at } => (
                RevocationKind::User,
                sub,
                at.unwrap_or(now),
                now.saturating_add(keep.horizon_ms),
            ),
            StreamEvent::KeyRotated { .. } | StreamEvent::Ignored => return None,
        };
        Some(Revocation {
            kind,
            subject: subject.clone(),
            not_before,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: Retention = Retention {
        leeway_ms: 60_000,
        horizon_ms: 86_400_000,
    };
    const NOW: Millis = 1_700_000_000_000;

    fn event(text: &str) -> (i64, StreamEvent) {
        match parse(text) {
            ServerMessage::Event { seq, event } => (seq, event),
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn a_revoked_session_is_kept_until_its_tokens_expire_plus_leeway() {
        let (seq, e) =
            event(r#"{"seq":7,"type":"session.revoked","sid":"s1","sub":"u1","exp":1700000900}"#);
        assert_eq!(seq, 7);
        assert_eq!(
            e.revocation(NOW, KEEP),
            Some(Revocation {
                kind: RevocationKind::Session,
                subject: "s1".into(),
                not_before: 0,
                expires_at: 1_700_000_960_000,
            })
        );
    }

    #[test]
    fn a_revoked_token_is_kept_by_jti() {
        let (_, e) =
            event(r#"{"seq":8,"type":"token.revoked","jti":"j1","sub":"u1","exp":1700000900}"#);
        let r = e.revocation(NOW, KEEP).unwrap();
        assert_eq!((r.kind, r.subject.as_str()), (RevocationKind::Token, "j1"));
    }

    #[test]
    fn a_cut_off_takes_the_time_of_the_change_when_the_frame_says_it() {
        let (_, e) = event(
            r#"{"seq":5,"at":1699999999123,"type":"roles.changed","sub":"u1","roles":["user"]}"#,
        );
        let r = e.revocation(NOW, KEEP).unwrap();
        assert_eq!(
            (r.kind, r.not_before),
            (RevocationKind::User, 1_699_999_999_123)
        );
        let (_, e) = event(r#"{"seq":6,"type":"user.deleted","sub":"u1"}"#);
        assert_eq!(
            e.revocation(NOW, KEEP).unwrap().not_before,
            NOW,
            "no at: the moment of receipt"
        );
    }

    #[test]
    fn deletion_role_changes_and_disabling_cut_off_the_users_earlier_tokens() {
        for text in [
            r#"{"seq":1,"type":"user.deleted","sub":"u1"}"#,
            r#"{"seq":1,"type":"roles.changed","sub":"u1","roles":["admin","user"]}"#,
            r#"{"seq":1,"type":"user.updated","sub":"u1","changed":["disabled"]}"#,
        ] {
            let (_, e) = event(text);
            assert_eq!(
                e.revocation(NOW, KEEP),
                Some(Revocation {
                    kind: RevocationKind::User,
                    subject: "u1".into(),
                    not_before: NOW,
                    expires_at: NOW + KEEP.horizon_ms,
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn profile_changes_logins_and_key_rotations_revoke_nothing() {
        for text in [
            r#"{"seq":1,"type":"user.updated","sub":"u1","changed":["email","password"]}"#,
            r#"{"seq":1,"type":"login.succeeded","sub":"u1","username":"a"}"#,
            r#"{"seq":1,"type":"key.rotated","kid":"k2"}"#,
            r#"{"seq":1,"type":"session.revoked","sub":"u1"}"#,
        ] {
            assert_eq!(event(text).1.revocation(NOW, KEEP), None, "{text}");
        }
        assert_eq!(
            event(r#"{"seq":3,"type":"key.rotated","kid":"k2"}"#).1,
            StreamEvent::KeyRotated { kid: "k2".into() }
        );
    }

    #[test]
    fn control_messages_and_garbage_are_told_apart() {
        assert_eq!(
            parse(r#"{"type":"auth.ok","exp":99}"#),
            ServerMessage::AuthOk { exp: Some(99) }
        );
        assert_eq!(
            parse(r#"{"type":"replay.truncated","oldest_seq":40}"#),
            ServerMessage::ReplayTruncated {
                oldest_seq: Some(40)
            }
        );
        for junk in ["", "[]", "not json", r#"{"type":"session.revoked"}"#] {
            assert_eq!(parse(junk), ServerMessage::Other, "{junk}");
        }
    }

    #[test]
    fn a_revocation_without_exp_is_kept_for_the_horizon() {
        let (_, e) = event(r#"{"seq":1,"type":"token.revoked","jti":"j1"}"#);
        assert_eq!(
            e.revocation(NOW, KEEP).unwrap().expires_at,
            NOW + KEEP.horizon_ms
        );
    }
}
