//! The constants and helpers shared by the concern modules: users, sessions
//! and rotations, audit entries, revocations, OAuth clients and stream events
//! as the cases hand them to the store or read them back.

use std::collections::HashSet;
use std::sync::Arc;
use tessera_core::model::Session;
use tessera_core::oauth::{GrantType, OAuthClient, StoredClient};
use tessera_core::store::{
    AuditEntry, AuditQuery, Guarded, NewSession, NewUser, RevocationKind, Rotation, Store,
};
use tessera_token::clock::Millis;
use tessera_token::crypto::sha256;
use uuid::Uuid;

/// A fixed "now" for the suite; the store never reads a clock itself.
pub(crate) const NOW: Millis = 1_700_000_000_000;
pub(crate) const MINUTE: Millis = 60_000;
pub(crate) const DAY: Millis = 86_400_000;

pub(crate) fn new_user(username: &str, roles: &[&str]) -> NewUser {
    let mut roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    roles.push("user".into());
    roles.sort();
    roles.dedup();
    NewUser {
        id: Uuid::new_v4(),
        username: username.into(),
        email: None,
        email_exempt: false,
        first_name: None,
        last_name: None,
        phone: None,
        roles,
        password_hash: format!("$argon2id$v=19$m=64,t=1,p=1$c2FsdA$hash-of-{username}").into(),
        now: NOW,
    }
}

pub(crate) async fn add_user(store: &Arc<dyn Store>, username: &str, roles: &[&str]) -> Uuid {
    store
        .insert_user(&new_user(username, roles), None, &[])
        .await
        .expect("insert user")
        .id
}

pub(crate) fn random_hash() -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    out[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    out
}

/// A session of `user_id` created at `created_at`, idle-expiring a day later.
pub(crate) fn new_session(user_id: Uuid, created_at: Millis) -> (NewSession, [u8; 32]) {
    let hash = random_hash();
    let session = Session {
        id: Uuid::new_v4(),
        user_id,
        created_at,
        last_used_at: created_at,
        expires_at: created_at + DAY,
        max_expires_at: created_at + 90 * DAY,
        revoked_at: None,
        user_agent: Some("store-test/1.0".into()),
        ip: Some("192.0.2.7".into()),
        client_id: None,
        scope: None,
        browser_session_id: None,
        auth_time: created_at,
        amr: vec!["pwd".into()],
    };
    (
        NewSession {
            session,
            refresh_hash: hash,
        },
        hash,
    )
}

pub(crate) async fn add_session(
    store: &Arc<dyn Store>,
    user_id: Uuid,
    created_at: Millis,
) -> (Session, [u8; 32]) {
    let (new, hash) = new_session(user_id, created_at);
    store
        .insert_session(&new, &[])
        .await
        .expect("insert session");
    (new.session, hash)
}

pub(crate) fn rotation(old: [u8; 32], now: Millis) -> Rotation {
    Rotation {
        old_hash: old,
        new_hash: random_hash(),
        sealed_new: random_hash().to_vec(),
        now,
        idle_ttl_ms: DAY,
        client_id: None,
    }
}

pub(crate) fn done<T: std::fmt::Debug>(g: Guarded<T>) -> T {
    match g {
        Guarded::Done(v) => v,
        other => panic!("expected Done, got {other:?}"),
    }
}

/// An audit entry as a caller hands it to the store (the store assigns the id).
pub(crate) fn audit_entry(event: &str, actor: Option<&str>, subject: Option<&str>) -> AuditEntry {
    AuditEntry {
        id: 0,
        at: NOW,
        event: event.into(),
        actor: actor.map(Into::into),
        subject: subject.map(Into::into),
        ip: Some("192.0.2.7".into()),
        user_agent: Some("store-test/1.0".into()),
        outcome: "success".into(),
        detail: Some(r#"{"via":"store-test"}"#.into()),
        stream_event: None,
    }
}

/// The whole audit log, newest first, with the store's ids cleared so
/// entries compare equal to what was handed in.
pub(crate) async fn audit_log(store: &Arc<dyn Store>) -> Vec<AuditEntry> {
    store
        .audit_entries(&AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("audit entries")
        .into_iter()
        .map(|e| AuditEntry { id: 0, ..e })
        .collect()
}

/// The subjects of the revocations in force at `now`, by kind.
pub(crate) async fn revoked_subjects(
    store: &Arc<dyn Store>,
    now: Millis,
) -> HashSet<(RevocationKind, String)> {
    store
        .active_revocations(now)
        .await
        .expect("active revocations")
        .into_iter()
        .map(|r| (r.kind, r.subject))
        .collect()
}

pub(crate) fn oauth_client(
    client_id: &str,
    secret: Option<&str>,
    created_at: Millis,
) -> StoredClient {
    StoredClient {
        client: OAuthClient {
            client_id: client_id.into(),
            name: format!("App {client_id}"),
            confidential: secret.is_some(),
            redirect_uris: vec![format!("https://{client_id}.example/cb")],
            post_logout_redirect_uris: vec![format!("https://{client_id}.example/bye")],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: vec!["openid".into(), "profile".into()],
            id_token_alg: secret.map(|_| "ES256".to_owned()),
            created_at,
        },
        secret_hash: secret.map(|s| sha256(s.as_bytes())),
    }
}

pub(crate) async fn add_client(store: &Arc<dyn Store>, client_id: &str) {
    store
        .insert_client(&oauth_client(client_id, None, NOW), &[])
        .await
        .expect("insert client");
}

/// A session like [`new_session`]'s, issued to `client_id` through `browser`.
pub(crate) async fn add_oauth_session(
    store: &Arc<dyn Store>,
    user_id: Uuid,
    client_id: Option<&str>,
    browser: Option<Uuid>,
) -> (Session, [u8; 32]) {
    let (mut new, hash) = new_session(user_id, NOW);
    new.session.client_id = client_id.map(Into::into);
    new.session.scope = client_id.map(|_| "openid profile".to_owned());
    new.session.browser_session_id = browser;
    store
        .insert_session(&new, &[])
        .await
        .expect("insert session");
    (new.session, hash)
}

/// The stream events after `seq` 0, as (type, sub, payload).
pub(crate) async fn events(
    store: &Arc<dyn Store>,
) -> Vec<(String, Option<String>, serde_json::Value)> {
    store
        .events_after(0, 1000)
        .await
        .expect("events")
        .into_iter()
        .map(|e| (e.kind, e.sub, e.payload))
        .collect()
}
