//! `GET /events` (SPEC §9): authentication, audience, replay, closing.

use crate::helpers::*;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(app: &TestApp, query: &str, token: Option<&str>) -> Socket {
    let url = format!("ws://{}/events{query}", app.addr);
    let mut request = url.into_client_request().unwrap();
    if let Some(t) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    connect_async(request).await.expect("upgrade accepted").0
}

/// The next text message as JSON, skipping pings.
async fn next_json(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time");
        match msg.expect("open").expect("frame") {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Waits for the server's close frame and returns its code.
async fn close_code(ws: &mut Socket) -> u16 {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("closed in time");
        match msg {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("error before close: {e}"),
        }
    }
}

/// Asks the server to broadcast something unrelated (another user logs out).
async fn stir(app: &TestApp) {
    let other = app.register(&format!("stir{}", rand_suffix())).await;
    app.post("/auth/logout", Some(&other.access), json!({}))
        .await;
}

fn rand_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

#[tokio::test]
async fn a_subscriber_learns_at_once_that_one_of_its_sessions_was_revoked() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let second = app.login("alice", PASSWORD).await;
    let mut ws = connect(&app, "", Some(&alice.access)).await;
    app.post("/auth/logout", Some(&second.access), json!({}))
        .await;
    let event = next_json(&mut ws).await;
    assert_eq!(event["type"], "session.revoked");
    assert_eq!(event["sub"], alice.body["user"]["id"]);
    assert!(event["sid"].is_string());
    assert!(event["seq"].as_i64().unwrap() > 0);
    assert!(event["exp"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn a_browser_authenticates_with_a_first_message_and_gets_auth_ok() {
    let app = TestApp::spawn().await;
    let bob = app.register("bob").await;
    let mut ws = connect(&app, "", None).await;
    ws.send(Message::Text(
        json!({"type": "auth", "token": bob.access})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let ok = next_json(&mut ws).await;
    assert_eq!(ok["type"], "auth.ok");
    assert!(ok["exp"].as_i64().unwrap() > 0);
    assert!(ok.get("seq").is_none(), "control messages carry no seq");
}

#[tokio::test]
async fn an_invalid_token_is_closed_with_4401() {
    let app = TestApp::spawn().await;
    let mut ws = connect(&app, "", Some("not.a.token")).await;
    assert_eq!(close_code(&mut ws).await, 4401);
    let mut ws = connect(&app, "", None).await;
    ws.send(Message::Text(
        json!({"type": "auth", "token": "x.y.z"}).to_string().into(),
    ))
    .await
    .unwrap();
    assert_eq!(close_code(&mut ws).await, 4401);
}

#[tokio::test]
async fn no_token_within_five_seconds_is_closed_with_4401() {
    let app = TestApp::spawn().await;
    let mut ws = connect(&app, "", None).await;
    assert_eq!(close_code(&mut ws).await, 4401);
}

#[tokio::test]
async fn users_see_only_their_own_events_and_key_rotations_while_admins_see_all() {
    let app = TestApp::spawn().await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    let root = app.admin("root").await;
    let mut carol_ws = connect(&app, "", Some(&carol.access)).await;
    let mut admin_ws = connect(&app, "", Some(&root.access)).await;

    app.post("/auth/logout", Some(&dave.access), json!({}))
        .await;
    let r = app
        .post("/admin/keys/rotate", Some(&root.access), json!({}))
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let failed = app
        .post(
            "/auth/login",
            None,
            json!({"username": "dave", "password": "wrong password"}),
        )
        .await;
    assert_eq!(failed.status(), reqwest::StatusCode::UNAUTHORIZED);

    // Carol's first event is the key rotation: Dave's logout is not hers.
    let first = next_json(&mut carol_ws).await;
    assert_eq!(first["type"], "key.rotated");
    assert!(first["kid"].is_string());

    let mut seen = Vec::new();
    while seen.len() < 4 {
        seen.push(
            next_json(&mut admin_ws).await["type"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // A rotation renews the access-token key and the ID-token key.
    assert_eq!(
        seen,
        [
            "session.revoked",
            "key.rotated",
            "key.rotated",
            "login.failed"
        ]
    );
}

#[tokio::test]
async fn since_replays_what_the_subscriber_missed_then_goes_live() {
    let app = TestApp::spawn().await;
    let erin = app.register("erin").await;
    let mut ws = connect(&app, "", Some(&erin.access)).await;
    let s1 = app.login("erin", PASSWORD).await;
    app.post("/auth/logout", Some(&s1.access), json!({})).await;
    let first = next_json(&mut ws).await;
    let seq = first["seq"].as_i64().unwrap();
    drop(ws);

    // Missed while disconnected.
    let s2 = app.login("erin", PASSWORD).await;
    app.post("/auth/logout", Some(&s2.access), json!({})).await;
    let mut ws = connect(&app, &format!("?since={seq}"), Some(&erin.access)).await;
    let replayed = next_json(&mut ws).await;
    assert_eq!(replayed["type"], "session.revoked");
    assert!(replayed["seq"].as_i64().unwrap() > seq);
    // Then live.
    let s3 = app.login("erin", PASSWORD).await;
    app.post("/auth/logout", Some(&s3.access), json!({})).await;
    let live = next_json(&mut ws).await;
    assert!(live["seq"].as_i64().unwrap() > replayed["seq"].as_i64().unwrap());
}

#[tokio::test]
async fn a_since_older_than_what_is_kept_starts_with_replay_truncated() {
    let app = TestApp::spawn().await;
    let frank = app.register("frank").await;
    for _ in 0..3 {
        let s = app.login("frank", PASSWORD).await;
        app.post("/auth/logout", Some(&s.access), json!({})).await;
    }
    // Forget all but the newest event, as the daily purge would.
    let store = tessera_core::store::connect(&app.database_url)
        .await
        .unwrap();
    store.purge_events(i64::MAX).await.unwrap();
    let (oldest, newest) = store.event_bounds().await.unwrap();
    assert_eq!(oldest, newest);
    let mut ws = connect(&app, "?since=0", Some(&frank.access)).await;
    let first = next_json(&mut ws).await;
    assert_eq!(
        first,
        json!({"type": "replay.truncated", "oldest_seq": oldest.unwrap()})
    );
}

#[tokio::test]
async fn the_connection_closes_with_4001_when_its_session_is_revoked() {
    let app = TestApp::spawn().await;
    let gina = app.register("gina").await;
    let mut ws = connect(&app, "", Some(&gina.access)).await;
    app.post("/auth/logout", Some(&gina.access), json!({}))
        .await;
    assert_eq!(close_code(&mut ws).await, 4001);
}

#[tokio::test]
async fn the_connection_closes_with_4001_when_its_token_expires() {
    let app = TestApp::spawn().await;
    let hank = app.register("hank").await;
    let mut ws = connect(&app, "", Some(&hank.access)).await;
    // 15 minutes plus the 60 s leeway.
    app.clock.advance(Duration::from_secs(15 * 60 + 61));
    stir(&app).await;
    assert_eq!(close_code(&mut ws).await, 4001);
}

#[tokio::test]
async fn a_newer_token_extends_the_connection_and_another_subjects_token_closes_it_with_4403() {
    let app = TestApp::spawn().await;
    let ivy = app.register("ivy").await;
    let jack = app.register("jack").await;
    let mut ws = connect(&app, "", Some(&ivy.access)).await;
    app.clock.advance(Duration::from_secs(10 * 60));
    let newer = app.refresh(&ivy.refresh).await;
    let newer = json_body(newer).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    ws.send(Message::Text(
        json!({"type": "auth", "token": newer}).to_string().into(),
    ))
    .await
    .unwrap();
    let ok = next_json(&mut ws).await;
    assert_eq!(ok["type"], "auth.ok");
    // Past the first token's expiry, the connection lives on.
    app.clock.advance(Duration::from_secs(6 * 60 + 61));
    let s = app.login("ivy", PASSWORD).await;
    app.post("/auth/logout", Some(&s.access), json!({})).await;
    assert_eq!(next_json(&mut ws).await["type"], "session.revoked");

    let jacks = app.login("jack", PASSWORD).await;
    let _ = jack;
    ws.send(Message::Text(
        json!({"type": "auth", "token": jacks.access})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(close_code(&mut ws).await, 4403);
}

#[tokio::test]
async fn a_plain_http_request_to_events_is_a_clear_error() {
    let app = TestApp::spawn().await;
    let r = app.get("/events", None).await;
    assert_error(r, reqwest::StatusCode::BAD_REQUEST, "validation_failed").await;
}

#[tokio::test]
async fn subscribers_beyond_the_connection_cap_are_told_to_try_again_later() {
    let app = TestApp::builder()
        .env("TESSERA_MAX_CONNECTIONS", "3")
        .spawn()
        .await;
    let root = app.admin("root").await;
    let lee = app.register("lee").await;
    // Of three slots, people may take two; one is kept for admins and services.
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut ws = connect(&app, "", Some(&lee.access)).await;
        ws.send(Message::Ping(Vec::new().into())).await.unwrap();
        open.push(ws);
    }
    let mut extra = connect(&app, "", Some(&lee.access)).await;
    assert_eq!(close_code(&mut extra).await, 1013);
    let mut admin = connect(&app, "", Some(&root.access)).await;
    admin.send(Message::Ping(Vec::new().into())).await.unwrap();
    let mut beyond = connect(&app, "", Some(&root.access)).await;
    assert_eq!(close_code(&mut beyond).await, 1013);
    // A slot frees when a subscriber leaves.
    drop(open.pop());
    let mut again = None;
    for _ in 0..50 {
        let mut ws = connect(&app, "", Some(&lee.access)).await;
        let s = app.login("lee", PASSWORD).await;
        app.post("/auth/logout", Some(&s.access), json!({})).await;
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => {
                again = Some(ws);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(again.is_some(), "a new subscriber is served once one left");
}

#[tokio::test]
async fn anonymous_connections_cannot_keep_a_service_subscriber_out() {
    let app = TestApp::builder()
        .env("TESSERA_MAX_CONNECTIONS", "6")
        .spawn()
        .await;
    let root = app.admin("root").await;
    let service = app
        .create_client(
            &root.access,
            json!({
                "name": "revocation listener",
                "redirect_uris": [],
                "grant_types": ["client_credentials"],
                "scopes": ["events:read"],
                "confidential": true,
            }),
        )
        .await;
    let token = app
        .token_ok(service.basic(), &[("grant_type", "client_credentials")])
        .await;
    let service_token = token["access_token"].as_str().unwrap().to_owned();
    // Four times as many anonymous upgrades as there are slots, all waiting
    // silently for their 5 seconds to authenticate.
    let mut anonymous = Vec::new();
    for _ in 0..24 {
        anonymous.push(connect(&app, "", None).await);
    }
    // People fill every slot open to them.
    let mut people = Vec::new();
    for i in 0..6 {
        let person = app.register(&format!("person{i}")).await;
        people.push((connect(&app, "", Some(&person.access)).await, person));
    }
    // The service authenticates by message, as a browser must, and is served.
    let mut ws = connect(&app, "", None).await;
    ws.send(Message::Text(
        json!({"type": "auth", "token": service_token})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let ok = next_json(&mut ws).await;
    assert_eq!(ok["type"], "auth.ok", "{ok}");
    let alice = app.register("alice").await;
    app.post("/auth/logout", Some(&alice.access), json!({}))
        .await;
    let event = next_json(&mut ws).await;
    assert_eq!(event["type"], "session.revoked", "{event}");
    assert_eq!(event["sub"], alice.body["user"]["id"]);
    // Of the six people, five got a slot; the sixth was told to try later.
    let mut refused = 0;
    for (socket, _) in &mut people {
        socket.send(Message::Ping(Vec::new().into())).await.ok();
        if let Ok(Some(Ok(Message::Close(Some(frame))))) =
            tokio::time::timeout(Duration::from_millis(500), socket.next()).await
        {
            assert_eq!(u16::from(frame.code), 1013);
            refused += 1;
        }
    }
    assert_eq!(refused, 1);
    // The anonymous connections that were pushed out of the waiting room
    // were told to try later; the rest are closed 4401 when their time is up.
    let mut codes = std::collections::BTreeMap::new();
    for mut socket in anonymous {
        *codes.entry(close_code(&mut socket).await).or_insert(0) += 1;
    }
    assert!(codes.get(&1013).is_some_and(|n| *n >= 18), "{codes:?}");
    assert_eq!(codes.values().sum::<i32>(), 24, "{codes:?}");
}

#[tokio::test]
async fn one_person_cannot_hold_more_than_sixteen_subscriptions() {
    let app = TestApp::spawn().await;
    let lee = app.register("lee").await;
    let mut open = Vec::new();
    for _ in 0..16 {
        let mut ws = connect(&app, "", Some(&lee.access)).await;
        ws.send(Message::Ping(Vec::new().into())).await.unwrap();
        open.push(ws);
    }
    let mut extra = connect(&app, "", Some(&lee.access)).await;
    assert_eq!(close_code(&mut extra).await, 1013);
    // Someone else still gets one.
    let kim = app.register("kim").await;
    let mut ws = connect(&app, "", Some(&kim.access)).await;
    let other_session = app.login("kim", PASSWORD).await;
    app.post("/auth/logout", Some(&other_session.access), json!({}))
        .await;
    assert_eq!(next_json(&mut ws).await["type"], "session.revoked");
}

#[tokio::test]
async fn an_admins_application_token_is_no_admin_for_the_reserved_slots() {
    let app = TestApp::builder()
        .env("TESSERA_MAX_CONNECTIONS", "2")
        .spawn()
        .await;
    let root = app.admin("root").await;
    let r = app
        .post(
            "/admin/clients",
            Some(&root.access),
            json!({"name": "cli", "redirect_uris": [], "grant_types": ["password"],
                   "scopes": ["openid"], "confidential": false}),
        )
        .await;
    let cli = json_body(r).await["client"]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tokens = app
        .token_ok(
            None,
            &[
                ("grant_type", "password"),
                ("username", "root"),
                ("password", PASSWORD),
                ("client_id", &cli),
            ],
        )
        .await;
    let app_token = tokens["access_token"].as_str().unwrap().to_owned();
    // Of two slots one is for people; the application's token takes it.
    let mut first = connect(&app, "", Some(&app_token)).await;
    first.send(Message::Ping(Vec::new().into())).await.unwrap();
    // A second application token is a person's, not an admin's: refused.
    let mut second = connect(&app, "", Some(&app_token)).await;
    assert_eq!(close_code(&mut second).await, 1013);
    // root's own token is an admin's and gets the reserved slot.
    let mut own = connect(&app, "", Some(&root.access)).await;
    let alice = app.register("alice").await;
    app.post("/auth/logout", Some(&alice.access), json!({}))
        .await;
    assert_eq!(next_json(&mut own).await["type"], "session.revoked");
}

#[tokio::test]
async fn one_client_address_cannot_hold_more_than_sixty_four_subscriptions() {
    let app = TestApp::builder()
        .env("TESSERA_TRUSTED_PROXIES", "127.0.0.1")
        .spawn()
        .await;
    let connect_from = |token: String, address: &'static str| {
        let app = &app;
        async move {
            let url = format!("ws://{}/events", app.addr);
            let mut request = url.into_client_request().unwrap();
            let headers = request.headers_mut();
            headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
            headers.insert("x-forwarded-for", address.parse().unwrap());
            connect_async(request).await.expect("upgrade accepted").0
        }
    };
    let mut open = Vec::new();
    for i in 0..64 {
        let person = app.register(&format!("crowd{i}")).await;
        let mut ws = connect_from(person.access, "203.0.113.7").await;
        ws.send(Message::Ping(Vec::new().into())).await.unwrap();
        open.push(ws);
    }
    let late = app.register("late").await;
    let mut refused = connect_from(late.access.clone(), "203.0.113.7").await;
    assert_eq!(close_code(&mut refused).await, 1013);
    // The same person from another address is served.
    let mut elsewhere = connect_from(late.access.clone(), "198.51.100.1").await;
    let other_session = app.login("late", PASSWORD).await;
    app.post("/auth/logout", Some(&other_session.access), json!({}))
        .await;
    assert_eq!(next_json(&mut elsewhere).await["type"], "session.revoked");
}
