//! The in-memory revocation set consulted on every token verification, so the
//! request path never queries the database. It is rebuilt from the store at
//! start, fed by every revocation this process makes, and forgets entries once
//! no token they could match can still be valid.

use crate::clock::Millis;
use std::collections::HashMap;
use std::sync::RwLock;

/// What a revocation applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationKind {
    /// Every access token with this `sid`.
    Session,
    /// The access token with this `jti`.
    Token,
    /// Every access token of this `sub` issued before `not_before`.
    User,
}

impl RevocationKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Session => "session",
            RevocationKind::Token => "token",
            RevocationKind::User => "user",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "session" => Some(RevocationKind::Session),
            "token" => Some(RevocationKind::Token),
            "user" => Some(RevocationKind::User),
            _ => None,
        }
    }
}

/// A durable revocation: kept until every token it could match has expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// What it applies to.
    pub kind: RevocationKind,
    /// The `sid`, `jti` or `sub`.
    pub subject: String,
    /// For [`RevocationKind::User`]: tokens issued before this instant are refused.
    pub not_before: Millis,
    /// When the entry can be forgotten.
    pub expires_at: Millis,
}

impl Revocation {
    /// A revocation of every access token of session `sid`, kept until `until`.
    pub fn session(sid: uuid::Uuid, until: Millis) -> Self {
        Revocation {
            kind: RevocationKind::Session,
            subject: sid.to_string(),
            not_before: 0,
            expires_at: until,
        }
    }
}

#[derive(Debug, Default)]
struct Entries {
    /// `sid` → keep until.
    sessions: HashMap<String, Millis>,
    /// `jti` → keep until.
    tokens: HashMap<String, Millis>,
    /// `sub` → (tokens issued before this are refused, keep until).
    users: HashMap<String, (Millis, Millis)>,
}

/// Revoked sessions, tokens and per-user cut-offs.
#[derive(Debug, Default)]
pub struct RevocationSet {
    entries: RwLock<Entries>,
}

impl RevocationSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a revocation.
    pub fn apply(&self, r: &Revocation) {
        let mut e = self.entries.write().unwrap_or_else(|p| p.into_inner());
        match r.kind {
            RevocationKind::Session => {
                let until = e.sessions.entry(r.subject.clone()).or_insert(r.expires_at);
                *until = (*until).max(r.expires_at);
            }
            RevocationKind::Token => {
                let until = e.tokens.entry(r.subject.clone()).or_insert(r.expires_at);
                *until = (*until).max(r.expires_at);
            }
            RevocationKind::User => {
                let entry = e
                    .users
                    .entry(r.subject.clone())
                    .or_insert((r.not_before, r.expires_at));
                *entry = (entry.0.max(r.not_before), entry.1.max(r.expires_at));
            }
        }
    }

    /// Adds many revocations.
    pub fn apply_all<'a>(&self, rs: impl IntoIterator<Item = &'a Revocation>) {
        for r in rs {
            self.apply(r);
        }
    }

    /// Whether a token with these claims is revoked. `issued_at_ms` is when the
    /// token was minted, to the millisecond.
    pub fn is_revoked(
        &self,
        sid: Option<&str>,
        jti: &str,
        sub: &str,
        issued_at_ms: Millis,
    ) -> bool {
        let e = self.entries.read().unwrap_or_else(|p| p.into_inner());
        sid.is_some_and(|sid| e.sessions.contains_key(sid))
            || e.tokens.contains_key(jti)
            || e.users
                .get(sub)
                .is_some_and(|(not_before, _)| issued_at_ms < *not_before)
    }

    /// The cut-off of `sub`'s tokens, if any: those minted before it are
    /// revoked.
    pub fn user_not_before(&self, sub: &str) -> Option<Millis> {
        let e = self.entries.read().unwrap_or_else(|p| p.into_inner());
        e.users.get(sub).map(|(not_before, _)| *not_before)
    }

    /// Forgets entries whose tokens have all expired by `now`.
    pub fn purge(&self, now: Millis) {
        let mut e = self.entries.write().unwrap_or_else(|p| p.into_inner());
        e.sessions.retain(|_, until| *until > now);
        e.tokens.retain(|_, until| *until > now);
        e.users.retain(|_, (_, until)| *until > now);
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        let e = self.entries.read().unwrap_or_else(|p| p.into_inner());
        e.sessions.len() + e.tokens.len() + e.users.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(
        kind: RevocationKind,
        subject: &str,
        not_before: Millis,
        expires_at: Millis,
    ) -> Revocation {
        Revocation {
            kind,
            subject: subject.into(),
            not_before,
            expires_at,
        }
    }

    #[test]
    fn sessions_tokens_and_user_cutoffs_are_matched() {
        let set = RevocationSet::new();
        set.apply(&rev(RevocationKind::Session, "s1", 0, 100));
        set.apply(&rev(RevocationKind::Token, "j1", 0, 100));
        set.apply(&rev(RevocationKind::User, "u1", 50, 100));
        assert!(set.is_revoked(Some("s1"), "j9", "u9", 0));
        assert!(set.is_revoked(None, "j1", "u9", 0));
        assert!(
            set.is_revoked(Some("s9"), "j9", "u1", 49),
            "issued before the cut-off"
        );
        assert!(
            !set.is_revoked(Some("s9"), "j9", "u1", 50),
            "issued at or after the cut-off"
        );
        assert!(!set.is_revoked(Some("s9"), "j9", "u9", 0));
    }

    #[test]
    fn purge_forgets_only_what_has_expired() {
        let set = RevocationSet::new();
        set.apply(&rev(RevocationKind::Session, "old", 0, 100));
        set.apply(&rev(RevocationKind::Session, "new", 0, 300));
        set.purge(200);
        assert!(!set.is_revoked(Some("old"), "j", "u", 0));
        assert!(set.is_revoked(Some("new"), "j", "u", 0));
        assert_eq!(set.len(), 1);
    }
}
