//! `tessera keys list` and `keys rotate`: the first key, rotation to a new
//! active key while the old one is still published, and no rotation with HMAC.

use crate::harness::{Env, decode_part, get, register};

#[tokio::test]
async fn keys_list_and_keys_rotate() {
    let env = Env::new();
    let list = env.run(&["keys", "list"]).ok().stdout;
    let rows: Vec<Vec<&str>> = list
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(list.starts_with("KID"), "{list}");
    // The access-token key, and the RS256 key of ID tokens, both at once.
    assert_eq!(rows.len(), 2, "the first keys are created: {list}");
    let access = rows.iter().find(|r| r[1] == "ES256").expect("an ES256 key");
    assert!(
        rows.iter().any(|r| r[1] == "RS256" && r[2] == "active"),
        "{list}"
    );
    let first_kid = access[0].to_owned();
    assert_eq!(access[2], "active");
    // Listing again creates nothing.
    assert_eq!(env.run(&["keys", "list"]).ok().stdout, list);

    let rotated = env.run(&["keys", "rotate"]).ok().stdout;
    let new_kid = rotated
        .trim()
        .strip_prefix("rotated: ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{rotated}"))
        .to_owned();
    assert_ne!(new_kid, first_kid);

    let list = env.run(&["keys", "list"]).ok().stdout;
    let status_of = |kid: &str| {
        list.lines()
            .find(|l| l.starts_with(kid))
            .and_then(|l| l.split_whitespace().nth(2))
            .map(str::to_owned)
    };
    assert_eq!(status_of(&new_kid).as_deref(), Some("active"), "{list}");
    assert_eq!(status_of(&first_kid).as_deref(), Some("retiring"), "{list}");

    // The server signs with the new key and still publishes the old one.
    let server = env.serve();
    let (_, jwks) = get(&server, "/.well-known/jwks.json", None).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&first_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{jwks}"
    );
    let body = register(&server, "kit").await;
    let header = decode_part(
        body["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap(),
    );
    assert_eq!(header["kid"], new_kid.as_str());
    drop(server);

    // With an HMAC algorithm there is nothing to rotate.
    let hmac = env
        .run_with(
            &["keys", "rotate"],
            None,
            &[
                ("TESSERA_JWT_ALG", "HS256"),
                (
                    "TESSERA_JWT_SECRET",
                    "an-hmac-secret-of-at-least-32-bytes!!",
                ),
            ],
        )
        .fails();
    assert!(hmac.stderr.contains("HMAC"), "{}", hmac.stderr);
}
