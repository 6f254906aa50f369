//! Every refusal each operation of the generated document can answer,
//! with the error body it carries: the shared error shape (SPEC §2), the
//! RFC 6749 error of the OAuth endpoints, or the hosted pages' HTML.

use serde_json::{Value, json};

/// The body of an error in the shared shape (SPEC §2).
fn error_body(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    })
}

/// The body of an error of the `/oauth/*` endpoints (RFC 6749 §5.2).
fn oauth_error_body(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}},
    })
}

/// An HTML page (the hosted pages answer refusals with a page).
fn page_body(description: &str) -> Value {
    json!({"description": description, "content": {"text/html": {"schema": {"type": "string"}}}})
}

/// The refusals an operation answers because of what it is, beyond its own
/// annotation: (status, meaning).
fn common_refusals(path: &str, op: &Value) -> Vec<(&'static str, &'static str)> {
    let mut out = vec![
        (
            "408",
            "request_timeout: the request took longer than allowed",
        ),
        ("500", "internal: our own failure (never with its cause)"),
    ];
    // What reads or writes the database answers 503 while it cannot reach it.
    let from_memory = [
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/schemas",
        "/schemas/{name}",
    ];
    if !from_memory.contains(&path)
        && !path.starts_with("/.well-known/")
        && !path.starts_with("/assets/")
    {
        out.push((
            "503",
            "unavailable: the database cannot be reached (Retry-After); retry shortly",
        ));
    }
    let json_body = op["requestBody"]["content"]
        .get("application/json")
        .is_some();
    let form_body = op["requestBody"]["content"]
        .get("application/x-www-form-urlencoded")
        .is_some();
    if json_body {
        out.push(("400", "validation_failed or malformed_json"));
        out.push(("413", "payload_too_large: a body over 64 KiB"));
        out.push((
            "415",
            "unsupported_media_type: a body that is not application/json",
        ));
    }
    if form_body {
        out.push(("400", "the form is malformed, over 64 KiB, or refused"));
    }
    let params = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
    if params {
        out.push((
            "400",
            "validation_failed: a parameter out of bounds, repeated or malformed",
        ));
    }
    if path.contains('{') {
        out.push(("404", "not_found or user_not_found"));
    }
    let bearer = op["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
    if bearer {
        out.push((
            "401",
            "unauthenticated or invalid_token (WWW-Authenticate: Bearer)",
        ));
        out.push(("403", "forbidden: not allowed for this caller or token"));
    }
    out
}

/// What particular operations refuse besides: (method, path, status, meaning).
#[rustfmt::skip]
const PARTICULAR: [(&str, &str, &str, &str); 44] = [
    ("post", "/auth/register", "403", "registration_disabled"),
    ("post", "/auth/register", "409", "username_taken or email_taken"),
    ("post", "/auth/register", "429", "too_many_attempts (Retry-After)"),
    ("post", "/auth/login", "401", "invalid_credentials, or mfa_required (with mfa_token and factors)"),
    ("post", "/auth/login", "403", "email_not_verified: the address must be confirmed first (a link was sent)"),
    ("post", "/auth/passkey", "403", "email_not_verified: the address must be confirmed first (a link was sent)"),
    ("post", "/auth/password-reset", "503", "email_unavailable: this server sends no mail"),
    ("post", "/me/email/verify", "503", "email_unavailable: this server sends no mail"),
    ("post", "/me/email/verify", "400", "validation_failed: the account has no email address"),
    ("post", "/auth/verify-email", "409", "email_taken: another account confirmed the address"),
    ("post", "/auth/login/mfa", "401", "invalid_code or invalid_mfa_token"),
    ("post", "/auth/login/mfa", "429", "too_many_attempts (Retry-After)"),
    ("post", "/auth/login/mfa/options", "401", "invalid_mfa_token"),
    ("post", "/auth/passkey/options", "403", "forbidden: passkeys need TESSERA_PUBLIC_URL with a domain name"),
    ("post", "/auth/passkey", "401", "invalid_credentials"),
    ("post", "/auth/passkey", "429", "too_many_attempts (Retry-After)"),
    ("post", "/me/factors/passkey/options", "429", "too_many_attempts (Retry-After)"),
    ("post", "/me/factors/totp", "429", "too_many_attempts (Retry-After)"),
    ("post", "/me/factors/totp/{id}/confirm", "400", "invalid_code"),
    ("post", "/me/factors/{id}/remove", "429", "too_many_attempts (Retry-After)"),
    ("post", "/me/recovery-codes", "429", "too_many_attempts (Retry-After)"),
    ("post", "/me/recovery-codes", "403", "forbidden: no second factor yet"),
    ("post", "/auth/login", "429", "too_many_attempts (Retry-After)"),
    ("post", "/auth/refresh", "401", "invalid_refresh_token"),
    ("patch", "/users/{username}", "409", "last_admin or email_taken"),
    ("patch", "/users/{username}", "429", "too_many_attempts (Retry-After): wrong current passwords"),
    ("patch", "/users/{username}", "400", "validation_failed, e.g. current_password missing to change one's own email"),
    ("post", "/users/{username}/password", "429", "too_many_attempts (Retry-After)"),
    ("delete", "/users/{username}", "409", "last_admin"),
    ("post", "/admin/keys/rotate", "409", "key_rotation_unavailable"),
    ("get", "/events", "400", "validation_failed: not a WebSocket upgrade"),
    ("get", "/readyz", "503", "the database does not answer"),
    ("get", "/schemas/{name}", "404", "not_found"),
    ("post", "/oauth/token", "401", "invalid_client (WWW-Authenticate: Basic)"),
    ("post", "/oauth/token", "429", "too_many_attempts (Retry-After)"),
    ("post", "/oauth/revoke", "401", "invalid_client (WWW-Authenticate: Basic)"),
    ("post", "/oauth/introspect", "401", "invalid_client (WWW-Authenticate: Basic)"),
    ("get", "/authorize", "400", "an error page: unknown client or redirect_uri"),
    ("get", "/logout", "400", "an error page: nobody signed in and no way back"),
    ("post", "/authorize", "400", "the form again: username or password missing"),
    ("post", "/authorize", "401", "the form again: wrong username or password"),
    ("post", "/authorize", "403", "the form again: the CSRF token did not match"),
    ("post", "/authorize", "429", "the form again: too many attempts (Retry-After)"),
    ("post", "/logout", "403", "the CSRF token did not match"),
];

/// Adds every refusal each operation can answer, with its body.
pub(super) fn declare_refusals(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let mut refusals = common_refusals(path, op);
            refusals.extend(
                PARTICULAR
                    .iter()
                    .filter(|(m, p, _, _)| m == method && p == path)
                    .map(|(_, _, status, meaning)| (*status, *meaning)),
            );
            // The hosted pages answer refusals with a page.
            let pages = path == "/authorize" || path == "/logout";
            let responses = op["responses"].as_object_mut();
            let Some(responses) = responses else { continue };
            for (status, meaning) in refusals {
                let body = if path.starts_with("/oauth/") {
                    oauth_error_body(meaning)
                } else if pages && status != "500" && status != "408" {
                    page_body(meaning)
                } else {
                    error_body(meaning)
                };
                match responses.get_mut(status) {
                    // An annotation already names it: keep its words, add the body.
                    Some(existing) if existing.get("content").is_none() => {
                        if let (Some(existing), Some(content)) =
                            (existing.as_object_mut(), body.get("content"))
                        {
                            existing.insert("content".into(), content.clone());
                        }
                    }
                    Some(_) => {}
                    None => {
                        responses.insert(status.to_owned(), body);
                    }
                }
            }
        }
    }
}
