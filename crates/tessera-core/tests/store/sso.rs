//! Single sign-on: browser sessions and the authorization codes issued through
//! them.

use crate::support::{
    DAY, MINUTE, NOW, add_client, add_oauth_session, add_session, add_user, audit_entry, audit_log,
    done, events, new_session, random_hash, revoked_subjects,
};
use std::collections::HashSet;
use std::sync::Arc;
use tessera_core::store::{
    AuthorizationCode, BrowserSession, FollowUp, NewBrowserSession, NewSession, Redemption,
    RevocationKind, SessionRevocation, Store,
};
use tessera_token::clock::Millis;
use uuid::Uuid;

conformance!(
    a_browser_session_is_found_by_its_cookie_hash_only_while_live,
    a_live_browser_session_can_be_reauthenticated_an_ended_one_cannot,
    ending_a_browser_session_revokes_the_token_sessions_that_came_through_it,
    an_authorization_code_is_redeemed_exactly_once,
    concurrent_redemptions_of_one_code_admit_exactly_one,
    a_logout_racing_a_redemption_never_leaves_a_live_token_session,
    an_expired_or_unknown_code_is_not_redeemed,
    purge_oauth_forgets_expired_codes_and_ended_browser_sessions,
    revoke_user_sessions_also_ends_the_users_browser_sessions,
    deleting_a_user_forgets_their_browser_sessions_and_codes,
);

// ----------------------------------------------------------------- helpers

/// A browser session of `user_id` from `NOW`, live for a day; its cookie hash.
async fn add_browser_session(store: &Arc<dyn Store>, user_id: Uuid) -> (BrowserSession, [u8; 32]) {
    add_browser_session_until(store, user_id, NOW + DAY).await
}

/// A browser session of `user_id` from `NOW` until `expires_at`; its cookie hash.
async fn add_browser_session_until(
    store: &Arc<dyn Store>,
    user_id: Uuid,
    expires_at: Millis,
) -> (BrowserSession, [u8; 32]) {
    let session = BrowserSession {
        id: Uuid::new_v4(),
        user_id,
        auth_time: NOW,
        amr: vec!["pwd".into()],
        expires_at,
    };
    let token_hash = random_hash();
    store
        .insert_browser_session(
            &NewBrowserSession {
                session: session.clone(),
                token_hash,
                device: None,
            },
            &[],
        )
        .await
        .expect("insert browser session");
    (session, token_hash)
}

fn code(client_id: &str, user_id: Uuid, browser: Option<Uuid>) -> AuthorizationCode {
    AuthorizationCode {
        client_id: client_id.into(),
        user_id,
        browser_session_id: browser,
        redirect_uri: format!("https://{client_id}.example/cb"),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        scope: "openid profile".into(),
        nonce: Some("n-0S6_WzA2Mj".into()),
        auth_time: NOW - MINUTE,
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
        expires_at: NOW + MINUTE,
        used_at: None,
        session_id: None,
    }
}

// -------------------------------------------------------- browser sessions

async fn a_browser_session_is_found_by_its_cookie_hash_only_while_live(store: Arc<dyn Store>) {
    let hal = add_user(&store, "hal", &[]).await;
    let login = audit_entry("login.succeeded", Some("hal"), Some("hal"));
    let session = BrowserSession {
        id: Uuid::new_v4(),
        user_id: hal,
        auth_time: NOW,
        amr: vec!["pwd".into()],
        expires_at: NOW + DAY,
    };
    let hash = random_hash();
    store
        .insert_browser_session(
            &NewBrowserSession {
                session: session.clone(),
                token_hash: hash,
                device: None,
            },
            std::slice::from_ref(&login),
        )
        .await
        .unwrap();
    assert_eq!(audit_log(&store).await, vec![login]);

    assert_eq!(
        store.browser_session(&hash, NOW).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        store.browser_session(&hash, NOW + DAY - 1).await.unwrap(),
        Some(session.clone())
    );
    assert!(
        store
            .browser_session(&hash, NOW + DAY)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .browser_session(&random_hash(), NOW)
            .await
            .unwrap()
            .is_none()
    );
    let mut near = hash;
    near[31] ^= 1;
    assert!(store.browser_session(&near, NOW).await.unwrap().is_none());

    store
        .end_browser_session(session.id, NOW + 5, NOW + DAY, &[])
        .await
        .unwrap();
    assert!(
        store
            .browser_session(&hash, NOW + 6)
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_live_browser_session_can_be_reauthenticated_an_ended_one_cannot(store: Arc<dyn Store>) {
    let una = add_user(&store, "una", &[]).await;
    let (browser, hash) = add_browser_session(&store, una).await;
    let again = audit_entry("login.succeeded", Some("una"), Some("una"));
    let otp: Vec<String> = vec!["pwd".into(), "otp".into(), "mfa".into()];
    assert!(
        store
            .reauthenticate_browser_session(
                browser.id,
                NOW + MINUTE,
                &otp,
                std::slice::from_ref(&again)
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.browser_session(&hash, NOW + MINUTE).await.unwrap(),
        Some(BrowserSession {
            auth_time: NOW + MINUTE,
            amr: otp.clone(),
            ..browser.clone()
        }),
        "only auth_time and amr move"
    );
    assert_eq!(audit_log(&store).await, vec![again]);

    store
        .end_browser_session(browser.id, NOW + 2 * MINUTE, NOW + DAY, &[])
        .await
        .unwrap();
    let late = audit_entry("login.succeeded", Some("una"), Some("una"));
    assert!(
        !store
            .reauthenticate_browser_session(browser.id, NOW + 3 * MINUTE, &otp, &[late])
            .await
            .unwrap()
    );
    assert_eq!(audit_log(&store).await.len(), 1, "nothing recorded");
    assert!(
        !store
            .reauthenticate_browser_session(Uuid::new_v4(), NOW, &otp, &[])
            .await
            .unwrap()
    );
    let (expired, _) = add_browser_session_until(&store, una, NOW + MINUTE).await;
    assert!(
        !store
            .reauthenticate_browser_session(expired.id, NOW + MINUTE, &otp, &[])
            .await
            .unwrap()
    );
}

async fn ending_a_browser_session_revokes_the_token_sessions_that_came_through_it(
    store: Arc<dyn Store>,
) {
    let ida = add_user(&store, "ida", &[]).await;
    add_client(&store, "app").await;
    let (browser, hash) = add_browser_session(&store, ida).await;
    let (other_browser, other_hash) = add_browser_session(&store, ida).await;
    let (a, _) = add_oauth_session(&store, ida, Some("app"), Some(browser.id)).await;
    let (b, _) = add_oauth_session(&store, ida, Some("app"), Some(browser.id)).await;
    let (elsewhere, _) = add_oauth_session(&store, ida, Some("app"), Some(other_browser.id)).await;
    let (first_party, _) = add_oauth_session(&store, ida, None, None).await;
    let events_before = events(&store).await.len();

    let until = NOW + DAY;
    let logout = audit_entry("logout", Some("ida"), Some("ida"));
    let ended = store
        .end_browser_session(browser.id, NOW + 10, until, std::slice::from_ref(&logout))
        .await
        .unwrap();
    let ids: HashSet<Uuid> = ended.iter().map(|s| s.id).collect();
    assert_eq!(ids, HashSet::from([a.id, b.id]));
    assert!(
        store
            .browser_session(&hash, NOW + 11)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.browser_session(&other_hash, NOW + 11).await.unwrap(),
        Some(other_browser)
    );
    let live: HashSet<Uuid> = store
        .live_sessions(ida, NOW + 11)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, HashSet::from([elsewhere.id, first_party.id]));

    let active = revoked_subjects(&store, NOW + 11).await;
    assert_eq!(
        active,
        HashSet::from([
            (RevocationKind::Session, a.id.to_string()),
            (RevocationKind::Session, b.id.to_string()),
        ])
    );
    let sids: HashSet<String> = events(&store)
        .await
        .split_off(events_before)
        .into_iter()
        .filter(|(kind, _, _)| kind == "session.revoked")
        .map(|(_, _, payload)| payload["sid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sids, HashSet::from([a.id.to_string(), b.id.to_string()]));
    assert_eq!(audit_log(&store).await, vec![logout]);

    // Ending it again ends nothing more.
    assert!(
        store
            .end_browser_session(browser.id, NOW + 20, until, &[])
            .await
            .unwrap()
            .is_empty()
    );
}

async fn revoke_user_sessions_also_ends_the_users_browser_sessions(store: Arc<dyn Store>) {
    let pat = add_user(&store, "pat", &[]).await;
    let quinn = add_user(&store, "quinn", &[]).await;
    let (_, pats) = add_browser_session(&store, pat).await;
    let (_, pats_other) = add_browser_session(&store, pat).await;
    let (quinns_session, quinns) = add_browser_session(&store, quinn).await;
    let (keep, _) = add_session(&store, pat, NOW).await;

    store
        .revoke_user_sessions(
            pat,
            &SessionRevocation {
                except: Some(keep.id),
                except_browser: None,
                now: NOW + 10,
                until: NOW + DAY,
            },
            &[],
        )
        .await
        .unwrap();
    for hash in [pats, pats_other] {
        assert!(
            store
                .browser_session(&hash, NOW + 11)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(
        store.browser_session(&quinns, NOW + 11).await.unwrap(),
        Some(quinns_session)
    );
    assert_eq!(
        store.live_sessions(pat, NOW + 11).await.unwrap(),
        vec![keep],
        "the spared token session lives on"
    );
}

// ----------------------------------------------------- authorization codes

async fn an_authorization_code_is_redeemed_exactly_once(store: Arc<dyn Store>) {
    let jo = add_user(&store, "jo", &[]).await;
    add_client(&store, "app").await;
    let (browser, _) = add_browser_session(&store, jo).await;
    let hash = random_hash();
    let issued = code("app", jo, Some(browser.id));
    store
        .insert_authorization_code(&hash, &issued)
        .await
        .unwrap();
    assert_eq!(
        store.authorization_code(&hash).await.unwrap(),
        Some(issued.clone())
    );
    assert!(
        store
            .authorization_code(&random_hash())
            .await
            .unwrap()
            .is_none()
    );

    let (session, _) = new_session(jo, NOW);
    let redeemed = audit_entry("token.issued", Some("jo"), Some("jo"));
    assert_eq!(
        store
            .redeem_authorization_code(&hash, NOW + 1, &session, std::slice::from_ref(&redeemed))
            .await
            .unwrap(),
        Redemption::Redeemed
    );
    assert_eq!(
        store.session_by_id(session.session.id).await.unwrap(),
        Some(session.session.clone()),
        "the session is created with the redemption"
    );
    let spent = store.authorization_code(&hash).await.unwrap().unwrap();
    assert_eq!(spent.used_at, Some(NOW + 1));
    assert_eq!(spent.session_id, Some(session.session.id));
    assert_eq!(audit_log(&store).await, vec![redeemed]);

    // The second redemption names the first one's session and creates nothing.
    let (second, _) = new_session(jo, NOW);
    let again = audit_entry("token.issued", Some("jo"), Some("jo"));
    assert_eq!(
        store
            .redeem_authorization_code(&hash, NOW + 2, &second, &[again])
            .await
            .unwrap(),
        Redemption::AlreadyUsed(Some(session.session.id))
    );
    assert!(
        store
            .session_by_id(second.session.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(audit_log(&store).await.len(), 1);
    assert_eq!(
        store
            .authorization_code(&hash)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(NOW + 1)
    );
}

async fn a_logout_racing_a_redemption_never_leaves_a_live_token_session(store: Arc<dyn Store>) {
    let kim = add_user(&store, "kim", &[]).await;
    add_client(&store, "app").await;
    // Many rounds, each racing one redemption against the logout of its
    // browser: whichever commits first, no live session may survive both.
    for round in 0..25 {
        let (browser, _) = add_browser_session(&store, kim).await;
        let hash = random_hash();
        store
            .insert_authorization_code(&hash, &code("app", kim, Some(browser.id)))
            .await
            .unwrap();
        let (mut session, _) = new_session(kim, NOW);
        session.session.browser_session_id = Some(browser.id);
        let sid = session.session.id;
        let (redeemer, ender) = (store.clone(), store.clone());
        let redeem = tokio::spawn(async move {
            redeemer
                .redeem_authorization_code(&hash, NOW + 1, &session, &[])
                .await
                .unwrap()
        });
        let end = tokio::spawn(async move {
            ender
                .end_browser_session(browser.id, NOW + 1, NOW + DAY, &[])
                .await
                .unwrap()
        });
        let (redeemed, _) = (redeem.await.unwrap(), end.await.unwrap());
        let live = store
            .session_by_id(sid)
            .await
            .unwrap()
            .is_some_and(|s| s.is_live(NOW + 2));
        assert!(
            !live,
            "round {round}: {redeemed:?} left a live session after the logout"
        );
    }
}

async fn concurrent_redemptions_of_one_code_admit_exactly_one(store: Arc<dyn Store>) {
    let kim = add_user(&store, "kim", &[]).await;
    add_client(&store, "app").await;
    let hash = random_hash();
    store
        .insert_authorization_code(&hash, &code("app", kim, None))
        .await
        .unwrap();
    let sessions: Vec<NewSession> = (0..8).map(|_| new_session(kim, NOW).0).collect();
    let outcomes = futures_join(sessions.iter().map(|s| {
        let store = store.clone();
        let s = s.clone();
        async move {
            store
                .redeem_authorization_code(&hash, NOW + 1, &s, &[])
                .await
                .unwrap()
        }
    }))
    .await;
    let winners: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| **o == Redemption::Redeemed)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = sessions[winners[0]].session.id;
    for (i, outcome) in outcomes.iter().enumerate() {
        if i != winners[0] {
            assert_eq!(*outcome, Redemption::AlreadyUsed(Some(winner)));
        }
    }
    let live: Vec<Uuid> = store
        .live_sessions(kim, NOW + 2)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, vec![winner], "one session, the winner's");
}

/// Runs futures concurrently on the runtime's threads; their outputs in order.
async fn futures_join<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

async fn an_expired_or_unknown_code_is_not_redeemed(store: Arc<dyn Store>) {
    let lou = add_user(&store, "lou", &[]).await;
    add_client(&store, "app").await;
    let hash = random_hash();
    let issued = code("app", lou, None);
    store
        .insert_authorization_code(&hash, &issued)
        .await
        .unwrap();
    let (late, _) = new_session(lou, NOW);
    assert_eq!(
        store
            .redeem_authorization_code(&hash, issued.expires_at, &late, &[])
            .await
            .unwrap(),
        Redemption::Unknown
    );
    assert!(
        store
            .session_by_id(late.session.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .authorization_code(&hash)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        None
    );
    let (stranger, _) = new_session(lou, NOW);
    assert_eq!(
        store
            .redeem_authorization_code(&random_hash(), NOW, &stranger, &[])
            .await
            .unwrap(),
        Redemption::Unknown
    );
    assert!(store.live_sessions(lou, NOW).await.unwrap().is_empty());
    // A code whose browser session has ended no longer redeems.
    let (browser, _) = add_browser_session(&store, lou).await;
    let orphan = random_hash();
    store
        .insert_authorization_code(&orphan, &code("app", lou, Some(browser.id)))
        .await
        .unwrap();
    store
        .end_browser_session(browser.id, NOW, NOW + DAY, &[])
        .await
        .unwrap();
    let (after_logout, _) = new_session(lou, NOW);
    assert_eq!(
        store
            .redeem_authorization_code(&orphan, NOW + 1, &after_logout, &[])
            .await
            .unwrap(),
        Redemption::Unknown
    );
    assert!(
        store
            .session_by_id(after_logout.session.id)
            .await
            .unwrap()
            .is_none()
    );
    // A millisecond earlier it was still good.
    let (in_time, _) = new_session(lou, NOW);
    assert_eq!(
        store
            .redeem_authorization_code(&hash, issued.expires_at - 1, &in_time, &[])
            .await
            .unwrap(),
        Redemption::Redeemed
    );
}

// ----------------------------------------------------------------- cleanup

async fn purge_oauth_forgets_expired_codes_and_ended_browser_sessions(store: Arc<dyn Store>) {
    let ona = add_user(&store, "ona", &[]).await;
    add_client(&store, "app").await;
    let cutoff = NOW + DAY;
    let old_code = random_hash();
    let live_code = random_hash();
    store
        .insert_authorization_code(&old_code, &code("app", ona, None))
        .await
        .unwrap();
    store
        .insert_authorization_code(
            &live_code,
            &AuthorizationCode {
                expires_at: cutoff + MINUTE,
                ..code("app", ona, None)
            },
        )
        .await
        .unwrap();
    // Expired by the cut-off; ended before it; ended after it; live.
    let (_, expired_hash) = add_browser_session_until(&store, ona, cutoff).await;
    let (ended_early, _) = add_browser_session_until(&store, ona, cutoff + DAY).await;
    let (ended_late, _) = add_browser_session_until(&store, ona, cutoff + DAY).await;
    let (live, live_hash) = add_browser_session_until(&store, ona, cutoff + DAY).await;
    store
        .end_browser_session(ended_early.id, NOW + 1, cutoff, &[])
        .await
        .unwrap();
    store
        .end_browser_session(ended_late.id, cutoff + 1, cutoff + DAY, &[])
        .await
        .unwrap();

    assert_eq!(store.purge_oauth(cutoff).await.unwrap(), 3);
    assert!(store.authorization_code(&old_code).await.unwrap().is_none());
    assert!(
        store
            .authorization_code(&live_code)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .browser_session(&expired_hash, NOW)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.browser_session(&live_hash, cutoff).await.unwrap(),
        Some(live)
    );
    assert_eq!(store.purge_oauth(cutoff).await.unwrap(), 0, "idempotent");
    // The one ended after the cut-off goes at a later purge.
    assert_eq!(store.purge_oauth(cutoff + 1).await.unwrap(), 1);
}

async fn deleting_a_user_forgets_their_browser_sessions_and_codes(store: Arc<dyn Store>) {
    let ray = add_user(&store, "ray", &[]).await;
    let sam = add_user(&store, "sam", &[]).await;
    add_client(&store, "app").await;
    let (_, rays) = add_browser_session(&store, ray).await;
    let (sams_session, sams) = add_browser_session(&store, sam).await;
    let code_hash = random_hash();
    store
        .insert_authorization_code(&code_hash, &code("app", ray, None))
        .await
        .unwrap();
    done(store.delete_user(ray, &FollowUp::default()).await.unwrap());
    assert!(store.browser_session(&rays, NOW).await.unwrap().is_none());
    assert!(
        store
            .authorization_code(&code_hash)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.browser_session(&sams, NOW).await.unwrap(),
        Some(sams_session)
    );
}
