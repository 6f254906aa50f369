//! The OpenAPI document is exact: every refusal an operation can answer is
//! declared with its body, form endpoints are described as forms, and the
//! contract suite (interop/contract, schemathesis) is allowed no more than
//! the refusals listed here.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((method.clone(), path.clone(), op.clone()));
        }
    }
    out
}

async fn document() -> Value {
    let app = TestApp::spawn().await;
    let r = app.get("/openapi.json", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    json_body(r).await
}

#[tokio::test]
async fn every_operation_declares_its_refusals_with_their_bodies() {
    let doc = document().await;
    let ops = operations(&doc);
    assert!(ops.len() >= 37, "{} operations", ops.len());
    for (method, path, op) in ops {
        let name = format!("{} {path}", method.to_uppercase());
        let responses = op["responses"].as_object().expect("responses");
        for status in ["408", "500"] {
            let body = &responses
                .get(status)
                .unwrap_or_else(|| panic!("{name} does not declare {status}"))["content"];
            assert!(body.is_object(), "{name} {status} has no body");
        }
        let bearer = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        if bearer {
            for status in ["401", "403"] {
                assert!(responses.contains_key(status), "{name} lacks {status}");
            }
        }
        if path.contains('{') {
            assert!(responses.contains_key("404"), "{name} lacks 404");
        }
        if op["requestBody"]["content"]
            .get("application/json")
            .is_some()
        {
            for status in ["400", "413", "415"] {
                assert!(responses.contains_key(status), "{name} lacks {status}");
            }
        }
        // Every declared refusal says what it carries.
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert!(
                    response["content"].is_object(),
                    "{name} {status} declares no body"
                );
            }
        }
        // The OAuth endpoints answer in RFC 6749's shape, the pages with a
        // page, everything else in the shared shape.
        let refusal = &responses["500"]["content"];
        if path.starts_with("/oauth/") {
            assert_eq!(
                refusal["application/json"]["schema"]["$ref"],
                "#/components/schemas/OAuthError"
            );
        } else {
            assert_eq!(
                refusal["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                "{name}"
            );
        }
        if path == "/authorize" || path == "/logout" {
            assert!(
                responses["400"]["content"]["text/html"].is_object(),
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn form_endpoints_are_described_as_the_forms_they_read() {
    let doc = document().await;
    let form = |method: &str, path: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/x-www-form-urlencoded"]
            ["schema"]
            .clone()
    };
    let token = form("post", "/oauth/token");
    let grants: Vec<&str> = token["oneOf"]
        .as_array()
        .expect("one schema per grant")
        .iter()
        .map(|g| g["properties"]["grant_type"]["enum"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        grants,
        [
            "authorization_code",
            "refresh_token",
            "password",
            "client_credentials"
        ]
    );
    assert_eq!(
        token["oneOf"][0]["required"],
        json!(["grant_type", "code", "redirect_uri", "code_verifier"])
    );
    for path in ["/oauth/revoke", "/oauth/introspect"] {
        let body = form("post", path);
        assert_eq!(body["required"], json!(["token"]), "{path}");
        assert_eq!(
            body["dependentRequired"]["client_secret"],
            json!(["client_id"]),
            "{path}"
        );
    }
    for path in ["/authorize", "/logout"] {
        assert_eq!(form("post", path)["required"], json!(["csrf_token"]));
    }
    // OIDC Core §5.3: the UserInfo endpoint takes GET and POST alike.
    assert!(doc["paths"]["/userinfo"]["post"].is_object());
    // Parameters carry the bounds the server enforces.
    let limit = doc["paths"]["/users"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .cloned()
        .expect("limit");
    assert_eq!(limit["schema"]["maximum"], 100);
}

/// The operations for which the contract suite accepts 400 in answer to a
/// request the schema calls valid, each with why no schema can say it.
const ALLOWED_400: [(&str, &str); 15] = [
    (
        "POST /auth/register",
        "a common password, or one containing the username",
    ),
    (
        "POST /users/{username}/password",
        "the password rules, and current_password for one's own",
    ),
    ("GET /events", "only a WebSocket upgrade is taken"),
    ("POST /oauth/token", "codes and tokens Tessera never issued"),
    ("POST /oauth/revoke", "clients Tessera does not know"),
    ("POST /oauth/introspect", "clients Tessera does not know"),
    ("GET /authorize", "an unknown client or redirect_uri"),
    (
        "POST /authorize",
        "a form without the browser's CSRF cookie",
    ),
    ("GET /logout", "an unknown client, nowhere to go back to"),
    ("POST /logout", "a form without the browser's CSRF cookie"),
    (
        "PATCH /users/{username}",
        "current_password to change one's own email, not another's",
    ),
    (
        "POST /auth/password-reset/confirm",
        "link tokens Tessera never mailed, and the password rules",
    ),
    (
        "POST /auth/verify-email",
        "link tokens Tessera never mailed",
    ),
    (
        "POST /me/email/verify",
        "an account without an address has nothing to confirm",
    ),
    (
        "POST /me/factors/passkey",
        "a credential that is no WebAuthn answer to an open challenge",
    ),
];

#[tokio::test]
async fn the_contract_suite_is_allowed_only_the_listed_refusals() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop/contract/schemathesis.toml");
    let config = std::fs::read_to_string(&config).expect("interop/contract/schemathesis.toml");
    let named: Vec<&str> = config
        .lines()
        .filter_map(|l| l.trim().strip_prefix("include-name = \""))
        .map(|l| l.trim_end_matches('"'))
        .collect();
    let listed: Vec<&str> = ALLOWED_400.iter().map(|(name, _)| *name).collect();
    assert_eq!(named, listed, "schemathesis.toml and ALLOWED_400 differ");
    // Invalid data may also be refused as too large (413); nothing else is
    // added to what schemathesis expects of a refusal.
    let (global, per_operation) = config.split_once("[[operations]]").unwrap();
    let refusals: Vec<&str> = global
        .lines()
        .filter(|l| l.contains("expected-statuses"))
        .collect();
    assert_eq!(
        refusals,
        [
            r#"expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]"#
        ]
    );
    // Each allowance is an operation that documents its 400, and allows
    // nothing but 400 on top of what schemathesis expects by default.
    assert_eq!(
        per_operation.matches("expected-statuses").count(),
        ALLOWED_400.len()
    );
    for line in per_operation
        .lines()
        .filter(|l| l.contains("expected-statuses"))
    {
        assert!(
            line.ends_with(r#"["2xx", "3xx", "400", "401", "403", "404", "409", "429"]"#),
            "{line}"
        );
    }
    let doc = document().await;
    for (name, why) in ALLOWED_400 {
        let (method, path) = name.split_once(' ').unwrap();
        let op = &doc["paths"][path][method.to_lowercase()];
        assert!(
            op["responses"]["400"].is_object(),
            "{name} ({why}) does not document 400"
        );
    }
}

#[tokio::test]
async fn docs_is_the_document_as_a_page_that_loads_only_from_tessera() {
    let app = TestApp::spawn().await;
    let doc = json_body(app.get("/openapi.json", None).await).await;
    let r = app.get("/docs", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let header = |name: &str| r.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    let csp = header("content-security-policy");
    assert!(
        csp.starts_with("default-src 'none'; style-src 'self'"),
        "{csp}"
    );
    assert_eq!(header("x-frame-options"), "DENY");
    let html = r.text().await.unwrap();
    for (method, path, op) in operations(&doc) {
        let anchor: String = format!("{method}-{path}")
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        assert!(
            html.contains(&format!("<article id=\"{anchor}\"")),
            "{method} {path}"
        );
        let summary = op["summary"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no summary"))
            .replace('\'', "&#39;");
        assert!(html.contains(&summary), "{summary}");
    }
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        assert!(html.contains(&format!("id=\"schema-{name}\"")), "{name}");
    }
    // Nothing is loaded from elsewhere, and nothing runs.
    assert!(!html.contains("<script"));
    for attribute in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attribute) {
            let target = &html[i + attribute.len()..];
            assert!(
                target.starts_with('/') || target.starts_with('#'),
                "{}",
                &target[..target.len().min(60)]
            );
        }
    }
    // What the page loads is there.
    for asset in ["/assets/tessera.css", "/assets/tessera.svg"] {
        let r = app.get(asset, None).await;
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
    }
}
