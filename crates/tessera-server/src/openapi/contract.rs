//! What the handlers' annotations cannot say, added to the generated
//! document so that it is exact (with `refusals.rs`, every refusal each
//! operation can answer): every parameter with the bounds the server
//! enforces, the form bodies of the OAuth endpoints and hosted pages,
//! `POST /userinfo`, and a summary of each operation and section. `/docs`
//! and schemathesis read the result.

use serde_json::{Map, Value, json};

/// A query or path parameter with its exact schema.
fn parameter(
    name: &str,
    location: &str,
    required: bool,
    description: &str,
    schema: Value,
) -> Value {
    json!({"name": name, "in": location, "required": required, "description": description, "schema": schema})
}

/// Sets the parameters of `method path` (replacing what the annotation said).
fn set_parameters(doc: &mut Value, method: &str, path: &str, parameters: Vec<Value>) {
    if let Some(op) = doc["paths"][path][method].as_object_mut() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
}

/// Text without U+0000 (which names nothing and PostgreSQL cannot hold).
fn text() -> Value {
    json!({"type": "string", "pattern": "^[^\\u0000]*$"})
}

/// The parameters the server reads, with the bounds it enforces.
pub(super) fn declare_parameters(doc: &mut Value) {
    let username =
        json!({"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[^\\u0000/]+$"});
    for (method, path) in [
        ("get", "/users/{username}"),
        ("patch", "/users/{username}"),
        ("delete", "/users/{username}"),
        ("post", "/users/{username}/password"),
        ("get", "/users/{username}/sessions"),
    ] {
        set_parameters(
            doc,
            method,
            path,
            vec![parameter(
                "username",
                "path",
                true,
                "any case",
                username.clone(),
            )],
        );
    }
    set_parameters(
        doc,
        "get",
        "/users",
        vec![
            parameter(
                "limit",
                "query",
                false,
                "users per page (default 50)",
                json!({"type": "integer", "minimum": 1, "maximum": 100}),
            ),
            parameter(
                "cursor",
                "query",
                false,
                "the next_cursor of the previous page",
                json!({"type": "string", "pattern": "^[a-z0-9_.-]{3,32}$"}),
            ),
        ],
    );
    set_parameters(
        doc,
        "get",
        "/admin/audit",
        vec![
            parameter(
                "user",
                "query",
                false,
                "only entries whose actor or subject is this",
                text(),
            ),
            parameter(
                "event",
                "query",
                false,
                "only this event (e.g. login.failed)",
                text(),
            ),
            parameter(
                "since",
                "query",
                false,
                "from this time (RFC 3339, inclusive)",
                json!({"type": "string", "format": "date-time"}),
            ),
            parameter(
                "until",
                "query",
                false,
                "until this time (RFC 3339, exclusive)",
                json!({"type": "string", "format": "date-time"}),
            ),
            parameter(
                "cursor",
                "query",
                false,
                "the next_cursor of the previous page",
                json!({"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}),
            ),
            parameter(
                "limit",
                "query",
                false,
                "entries per page (default 100)",
                json!({"type": "integer", "minimum": 1, "maximum": 500}),
            ),
        ],
    );
    set_parameters(
        doc,
        "get",
        "/events",
        vec![parameter(
            "since",
            "query",
            false,
            "replay the events after this seq first",
            json!({"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991_i64}),
        )],
    );
    set_parameters(
        doc,
        "get",
        "/schemas/{name}",
        vec![parameter(
            "name",
            "path",
            true,
            "a schema's name, with or without .json",
            text(),
        )],
    );
    set_parameters(
        doc,
        "delete",
        "/sessions/{id}",
        vec![parameter(
            "id",
            "path",
            true,
            "the session id (the tokens' sid)",
            text(),
        )],
    );
    set_parameters(
        doc,
        "delete",
        "/admin/clients/{client_id}",
        vec![parameter(
            "client_id",
            "path",
            true,
            "the client id",
            text(),
        )],
    );
    let authorize = |name: &str, required: bool, description: &str, schema: Value| {
        parameter(name, "query", required, description, schema)
    };
    // The hosted pages take any text: what they cannot use, they explain.
    let any = || json!({"type": "string"});
    set_parameters(
        doc,
        "get",
        "/authorize",
        vec![
            authorize(
                "response_type",
                true,
                "code",
                json!({"type": "string", "enum": ["code"]}),
            ),
            authorize("client_id", true, "a registered client", any()),
            authorize("redirect_uri", true, "one of the client's, exactly", any()),
            authorize(
                "scope",
                false,
                "space-separated, within the client's",
                any(),
            ),
            authorize("state", false, "returned as is", any()),
            authorize("nonce", false, "put in the ID token", any()),
            authorize(
                "code_challenge",
                true,
                "PKCE S256 challenge",
                json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"}),
            ),
            authorize(
                "code_challenge_method",
                true,
                "S256",
                json!({"type": "string", "enum": ["S256"]}),
            ),
            authorize(
                "prompt",
                false,
                "login or none",
                json!({"type": "string", "enum": ["login", "none"]}),
            ),
            authorize(
                "response_mode",
                false,
                "query",
                json!({"type": "string", "enum": ["query"]}),
            ),
        ],
    );
    set_parameters(
        doc,
        "get",
        "/logout",
        vec![
            authorize("id_token_hint", false, "an ID token Tessera issued", any()),
            authorize("client_id", false, "the application asking", any()),
            authorize(
                "post_logout_redirect_uri",
                false,
                "one the application registered",
                any(),
            ),
            authorize("state", false, "returned as is", any()),
        ],
    );
}

/// A form body (`application/x-www-form-urlencoded`) with `schema`.
fn form(schema: Value) -> Value {
    json!({"required": true, "content": {"application/x-www-form-urlencoded": {"schema": schema}}})
}

/// The form bodies of the OAuth endpoints and the hosted pages' forms.
pub(super) fn declare_forms(doc: &mut Value) {
    // An empty field counts as absent (RFC 6749 §3.2), and any text is
    // taken: what names nothing is refused for that.
    let string = || json!({"type": "string"});
    let client = |mut properties: Map<String, Value>| {
        properties.insert("client_id".into(), string());
        properties.insert("client_secret".into(), string());
        properties
    };
    let grant = |grant_type: &str, fields: &[&str], optional: &[&str]| {
        let mut properties = Map::new();
        properties.insert(
            "grant_type".into(),
            json!({"type": "string", "enum": [grant_type]}),
        );
        for f in fields.iter().chain(optional) {
            properties.insert((*f).into(), string());
        }
        let mut required = vec![json!("grant_type")];
        required.extend(fields.iter().map(|f| json!(f)));
        json!({"type": "object", "properties": client(properties), "required": required,
            "dependentRequired": {"client_secret": ["client_id"]}})
    };
    let token = json!({"oneOf": [
        grant("authorization_code", &["code", "redirect_uri", "code_verifier"], &[]),
        grant("refresh_token", &["refresh_token"], &["scope"]),
        grant("password", &["username", "password"], &["scope"]),
        grant("client_credentials", &[], &["scope"]),
    ]});
    let token_only = |hint: bool| {
        let mut properties = Map::new();
        properties.insert("token".into(), string());
        if hint {
            // A hint (RFC 7009 §2.1, RFC 7662 §2.1): one Tessera does not
            // know is ignored, and the token looked up all the same.
            properties.insert(
                "token_type_hint".into(),
                json!({"type": "string", "examples": ["access_token", "refresh_token"]}),
            );
        }
        json!({"type": "object", "properties": client(properties), "required": ["token"],
            "dependentRequired": {"client_secret": ["client_id"]}})
    };
    for (path, schema) in [
        ("/oauth/token", token),
        ("/oauth/revoke", token_only(true)),
        ("/oauth/introspect", token_only(true)),
    ] {
        if let Some(op) = doc["paths"][path]["post"].as_object_mut() {
            op.insert("requestBody".into(), form(schema));
        }
    }
    let login = json!({"type": "object", "required": ["csrf_token"], "properties": {
        "username": string(), "password": string(), "consent": {"type": "string", "enum": ["allow", "deny"]},
        "csrf_token": string(), "client_id": string(), "redirect_uri": string(),
        "response_type": {"type": "string", "enum": ["code"]}, "scope": string(), "state": string(),
        "nonce": string(), "code_challenge": string(), "code_challenge_method": {"type": "string", "enum": ["S256"]},
    }});
    let logout = json!({"type": "object", "required": ["csrf_token"], "properties": {
        "csrf_token": string(), "id_token_hint": string(), "client_id": string(),
        "post_logout_redirect_uri": string(), "state": string(),
    }});
    for (path, schema) in [("/authorize", login), ("/logout", logout)] {
        if let Some(op) = doc["paths"][path]["post"].as_object_mut() {
            op.insert("requestBody".into(), form(schema));
        }
    }
}

/// `POST /userinfo` (OIDC Core §5.3 requires both methods) and the
/// components the refusals refer to.
pub(super) fn declare_extras(doc: &mut Value) {
    let get = doc["paths"]["/userinfo"]["get"].clone();
    if let Some(mut post) = get.as_object().cloned() {
        post.insert("operationId".into(), json!("userinfo_post"));
        doc["paths"]["/userinfo"]["post"] = Value::Object(post);
    }
    doc["components"]["schemas"]["OAuthError"] = json!({
        "type": "object",
        "description": "An error of the /oauth/* endpoints (RFC 6749 §5.2)",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "error_description": {"type": "string"},
        },
    });
}

/// The sections of the reference, in order: (tag, description).
#[rustfmt::skip]
const TAGS: [(&str, &str); 8] = [
    ("auth", "Accounts and sessions of the password flow: register, log in, refresh, log out, and forward-auth for reverse proxies."),
    ("users", "People: their profiles, passwords and roles."),
    ("sessions", "The sessions (devices) signed in to an account."),
    ("oauth", "OAuth 2.0 and OpenID Connect: the hosted sign-in and sign-out pages, the token, revocation, introspection and UserInfo endpoints."),
    ("keys", "The public keys that verify Tessera's tokens, and discovery."),
    ("events", "Revocations and account changes, live, over a WebSocket."),
    ("admin", "Administration: OAuth clients, signing keys, the audit log."),
    ("ops", "Operations: health, readiness, metrics, and this contract."),
];

/// One line on what each operation does: (method, path, summary).
#[rustfmt::skip]
const SUMMARIES: [(&str, &str, &str); 39] = [
    ("post", "/auth/register", "Register an account (when registration is open)"),
    ("post", "/auth/login", "Log in with a username and password"),
    ("post", "/auth/refresh", "Exchange a refresh token for new tokens"),
    ("post", "/auth/logout", "End the caller's session"),
    ("post", "/auth/logout-all", "End every session of the caller"),
    ("get", "/auth/verify", "Check a token for a reverse proxy (forward-auth)"),
    ("get", "/me", "The caller's own account"),
    ("get", "/users", "List users, by username"),
    ("get", "/users/{username}", "One user"),
    ("patch", "/users/{username}", "Change a profile, roles or the disabled flag"),
    ("delete", "/users/{username}", "Delete a user and end all their sessions"),
    ("post", "/users/{username}/password", "Change a password"),
    ("get", "/users/{username}/sessions", "A user's live sessions"),
    ("delete", "/sessions/{id}", "End one session"),
    ("get", "/.well-known/jwks.json", "The public signing keys (JWK Set)"),
    ("get", "/.well-known/openid-configuration", "OpenID Connect discovery"),
    ("get", "/authorize", "Start a sign-in: the hosted login page"),
    ("post", "/authorize", "Submit the login or consent form"),
    ("get", "/logout", "Sign out of the browser session (RP-initiated logout)"),
    ("post", "/logout", "Confirm signing out"),
    ("post", "/oauth/token", "The token endpoint: codes, refresh tokens, passwords, client credentials"),
    ("post", "/oauth/revoke", "Revoke a token (RFC 7009)"),
    ("post", "/oauth/introspect", "Introspect a token (RFC 7662)"),
    ("get", "/userinfo", "Claims about the signed-in person (OpenID Connect)"),
    ("post", "/userinfo", "Claims about the signed-in person, by POST"),
    ("get", "/events", "Subscribe to revocations and account changes (WebSocket)"),
    ("get", "/admin/clients", "List OAuth clients"),
    ("post", "/admin/clients", "Register an OAuth client"),
    ("delete", "/admin/clients/{client_id}", "Delete an OAuth client and revoke its tokens"),
    ("get", "/admin/keys", "The signing keys and their states"),
    ("post", "/admin/keys/rotate", "Rotate the signing key now"),
    ("get", "/admin/audit", "Read the audit log"),
    ("get", "/healthz", "Whether the process is up"),
    ("get", "/readyz", "Whether the database answers"),
    ("get", "/metrics", "Prometheus metrics"),
    ("get", "/openapi.json", "This contract, as OpenAPI 3.1"),
    ("get", "/docs", "This contract, as a page for people"),
    ("get", "/schemas", "The names of the request-body JSON Schemas"),
    ("get", "/schemas/{name}", "One request-body JSON Schema"),
];

/// Names each section and sums up each operation. What the handler's doc
/// said after its first line (or after a dash) stays as the description.
pub(super) fn declare_summaries(doc: &mut Value) {
    doc["tags"] = TAGS
        .iter()
        .map(|(name, description)| json!({"name": name, "description": description}))
        .collect();
    for (method, path, summary) in SUMMARIES {
        let Some(op) = doc["paths"][path][method].as_object_mut() else {
            continue;
        };
        let said = op
            .get("summary")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some((_, more)) = said.split_once(" — ") {
            let more = more.replace('\n', " ");
            let description = match op.get("description").and_then(Value::as_str) {
                Some(d) if !d.is_empty() => format!("{more} {d}"),
                _ => more,
            };
            op.insert("description".into(), json!(description));
        }
        op.insert("summary".into(), json!(summary));
    }
}
