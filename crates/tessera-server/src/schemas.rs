//! The JSON Schemas (draft 2020-12) every request body is validated against,
//! published at `GET /schemas/<name>.json`, and the translation of schema
//! violations into `details` that never echo the submitted values.

use crate::error::{ApiError, FieldError};
use jsonschema::error::ValidationErrorKind;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The username rule of SPEC §3.
pub const USERNAME_PATTERN: &str = "^[A-Za-z0-9_.-]{3,32}$";
/// Role names.
pub const ROLE_PATTERN: &str = "^[A-Za-z0-9_.:-]{1,64}$";
/// An RFC 6749 §3.3 scope token.
pub const SCOPE_PATTERN: &str = "^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,128}$";
const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The published schemas and their validators, each compiled the first time
/// a body is validated against it: start-up stays quick, and a process that
/// only verifies tokens never loads the validator code into memory.
pub struct Schemas {
    documents: BTreeMap<&'static str, Value>,
    validators: BTreeMap<&'static str, OnceLock<Result<jsonschema::Validator, String>>>,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("names", &self.documents.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Optional text of at most `max` characters, without U+0000 (which names
/// nothing, and PostgreSQL's text cannot hold).
fn optional_string(max: u64) -> Value {
    json!({"type": ["string", "null"], "maxLength": max, "pattern": "^[^\u{0}]*$"})
}

fn object(id: String, title: &str, required: &[&str], properties: Value) -> Value {
    json!({
        "$schema": DRAFT,
        "$id": id,
        "title": title,
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": properties,
    })
}

impl Schemas {
    /// Builds every schema for an issuer and a minimum password length.
    pub fn new(issuer: &str, password_min: usize) -> Result<Self, String> {
        let id = |name: &str| format!("{}/schemas/{name}.json", issuer.trim_end_matches('/'));
        let password = json!({"type": "string", "minLength": password_min, "maxLength": 128});
        let mut documents = BTreeMap::new();
        documents.insert(
            "register",
            object(
                id("register"),
                "Register a new user",
                &["username", "password"],
                json!({
                    "username": {"type": "string", "pattern": USERNAME_PATTERN},
                    "password": password,
                    "email": {"type": ["string", "null"], "maxLength": 254, "format": "email"},
                    "first_name": optional_string(100),
                    "last_name": optional_string(100),
                    "phone": optional_string(32),
                }),
            ),
        );
        documents.insert(
            "login",
            object(
                id("login"),
                "Log in with a username and password",
                &["username", "password"],
                json!({
                    "username": {"type": "string", "minLength": 1, "maxLength": 64},
                    "password": {"type": "string", "minLength": 1, "maxLength": 128},
                }),
            ),
        );
        documents.insert(
            "refresh",
            object(
                id("refresh"),
                "Exchange a refresh token",
                &["refresh_token"],
                json!({
                    "refresh_token": {"type": "string", "minLength": 1, "maxLength": 512},
                }),
            ),
        );
        let mut update = object(
            id("user_update"),
            "Change a user",
            &[],
            json!({
                "email": {"type": ["string", "null"], "maxLength": 254, "format": "email"},
                "first_name": optional_string(100),
                "last_name": optional_string(100),
                "phone": optional_string(32),
                "roles": {"type": "array", "maxItems": 64, "items": {"type": "string", "pattern": ROLE_PATTERN}},
                "disabled": {"type": "boolean"},
                "current_password": {"type": "string", "minLength": 1, "maxLength": 128},
            }),
        );
        update["minProperties"] = json!(1);
        documents.insert("user_update", update);
        documents.insert(
            "password_change",
            object(
                id("password_change"),
                "Change a password",
                &["new_password"],
                json!({
                    "current_password": {"type": "string", "minLength": 1, "maxLength": 128},
                    "new_password": password,
                }),
            ),
        );
        // Email (SPEC §12). A link's token is any string: whatever its
        // shape, one that is not a live link is `invalid_link`.
        let mut reset = object(
            id("password_reset"),
            "Ask for a password-reset link",
            &[],
            json!({
                "email": {"type": "string", "maxLength": 254, "format": "email"},
                "username": {"type": "string", "minLength": 1, "maxLength": 64},
            }),
        );
        reset["oneOf"] = json!([{"required": ["email"]}, {"required": ["username"]}]);
        documents.insert("password_reset", reset);
        documents.insert(
            "password_reset_confirm",
            object(
                id("password_reset_confirm"),
                "Set a new password with a reset link",
                &["token", "new_password"],
                json!({"token": true, "new_password": password}),
            ),
        );
        documents.insert(
            "verify_email",
            object(
                id("verify_email"),
                "Verify an email address with its link",
                &["token"],
                json!({"token": true}),
            ),
        );
        // Second factors (SPEC §11).
        let current = json!({"type": "string", "minLength": 1, "maxLength": 128});
        let code = json!({"type": "string", "minLength": 1, "maxLength": 32});
        let factor_name = json!({"type": ["string", "null"], "maxLength": 64, "pattern": "^[^\u{0}-\u{1f}\u{7f}-\u{9f}]*$"});
        documents.insert(
            "login_mfa",
            object(
                id("login_mfa"),
                "Finish a sign-in with a second factor",
                &["mfa_token"],
                json!({
                    "mfa_token": {"type": "string", "minLength": 1, "maxLength": 128},
                    "code": code,
                    "credential": {"type": "object"},
                }),
            ),
        );
        documents.entry("login_mfa").and_modify(|schema| {
            schema["oneOf"] = json!([{"required": ["code"]}, {"required": ["credential"]}]);
        });
        documents.insert(
            "login_mfa_options",
            object(
                id("login_mfa_options"),
                "Ask for the options of a passkey as the second step",
                &["mfa_token"],
                json!({"mfa_token": {"type": "string", "minLength": 1, "maxLength": 128}}),
            ),
        );
        documents.insert(
            "passkey_options",
            object(
                id("passkey_options"),
                "Ask for the options of signing in with a passkey",
                &[],
                json!({}),
            ),
        );
        documents.insert(
            "passkey_sign_in",
            object(
                id("passkey_sign_in"),
                "Sign in with a passkey",
                &["credential"],
                json!({"credential": {"type": "object"}}),
            ),
        );
        documents.insert(
            "factor_passkey",
            object(
                id("factor_passkey"),
                "Add a passkey",
                &["credential"],
                json!({"name": factor_name.clone(), "credential": {"type": "object"}}),
            ),
        );
        documents.insert(
            "factor_totp",
            object(
                id("factor_totp"),
                "Start adding an authenticator app",
                &["password"],
                json!({"password": current, "name": factor_name}),
            ),
        );
        documents.insert(
            "factor_confirm",
            object(
                id("factor_confirm"),
                "Confirm an authenticator app with a code from it",
                &["code"],
                json!({"code": code}),
            ),
        );
        documents.insert(
            "password_confirm",
            object(
                id("password_confirm"),
                "Confirm a change with the current password",
                &["password"],
                json!({"password": current}),
            ),
        );
        // Absolute http(s) URLs with a host and no fragment, compared exactly.
        let uris = json!({"type": "array", "maxItems": 20, "uniqueItems": true,
            "items": {"type": "string", "minLength": 1, "maxLength": 2048, "format": "uri",
                "pattern": "^https?://[A-Za-z0-9._~-]+(:[0-9]{1,5})?(/[^#\\s]*)?$"}});
        // Tessera's own scopes are reserved: only those it knows.
        let known: Vec<&str> = tessera_core::oauth::KNOWN_SCOPES
            .into_iter()
            .filter(|s| s.starts_with(tessera_core::oauth::TESSERA_SCOPE_PREFIX))
            .collect();
        let scope = json!({"type": "string", "pattern": SCOPE_PATTERN,
            "anyOf": [{"not": {"pattern": "^tessera:"}}, {"enum": known}]});
        let contains = |item: &str| json!({"contains": {"const": item}});
        documents.insert(
            "client_create",
            object(
                id("client_create"),
                "Register an OAuth client",
                &["name", "redirect_uris", "grant_types", "scopes", "confidential"],
                json!({
                    "name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S"},
                    "redirect_uris": uris,
                    "post_logout_redirect_uris": uris,
                    "grant_types": {"type": "array", "minItems": 1, "uniqueItems": true, "items": {
                        "enum": ["authorization_code", "refresh_token", "password", "client_credentials"]}},
                    "scopes": {"type": "array", "maxItems": 50, "uniqueItems": true, "items": scope},
                    "confidential": {"type": "boolean"},
                    "id_token_signed_response_alg": {"enum": ["RS256"]},
                }),
            ),
        );
        // The rules that tie fields together.
        documents.entry("client_create").and_modify(|schema| {
            schema["allOf"] = json!([
                {"if": {"properties": {"grant_types": contains("authorization_code")}},
                 "then": {"properties": {"redirect_uris": {"minItems": 1}}}},
                {"if": {"properties": {"grant_types": contains("client_credentials")}},
                 "then": {"properties": {"confidential": {"const": true}}}},
                {"if": {"properties": {"scopes": contains(tessera_core::oauth::SCOPE_INTROSPECT)}},
                 "then": {"properties": {"confidential": {"const": true}}}},
            ]);
        });
        let validators = documents
            .keys()
            .map(|name| (*name, OnceLock::new()))
            .collect();
        Ok(Self {
            documents,
            validators,
        })
    }

    /// Narrows `id_token_signed_response_alg` of client registrations to the
    /// algorithms this deployment signs ID tokens with.
    pub fn with_id_token_algorithms(mut self, algorithms: &[&str]) -> Self {
        if let Some(schema) = self.documents.get_mut("client_create") {
            schema["properties"]["id_token_signed_response_alg"] = json!({"enum": algorithms});
        }
        self
    }

    /// The published document named `name`.
    pub fn document(&self, name: &str) -> Option<&Value> {
        self.documents.get(name)
    }

    /// Every schema name.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.documents.keys().copied()
    }

    /// The compiled validator of schema `name`, compiling it on first use.
    fn validator(&self, name: &str) -> Result<&jsonschema::Validator, ApiError> {
        let (Some(cell), Some(document)) = (self.validators.get(name), self.documents.get(name))
        else {
            return Err(ApiError::internal(format!("no schema {name}")));
        };
        cell.get_or_init(|| {
            jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(document)
                .map_err(|e| format!("schema {name}: {e}"))
        })
        .as_ref()
        .map_err(|e| ApiError::internal(e.clone()))
    }

    /// Validates `instance` against schema `name`.
    pub fn validate(&self, name: &str, instance: &Value) -> Result<(), ApiError> {
        let validator = self.validator(name)?;
        // The common case, a valid body, takes the short path; only a
        // failure walks every error to report each.
        if validator.is_valid(instance) {
            return Ok(());
        }
        let mut details: Vec<FieldError> = Vec::new();
        for error in validator.iter_errors(instance) {
            let path = error.instance_path().to_string();
            details.extend(describe(&path, error.kind()));
        }
        if details.is_empty() {
            return Ok(());
        }
        details.sort_by(|a, b| a.path.cmp(&b.path));
        details.dedup();
        Err(ApiError::Validation {
            message: format!("request body does not match schema {name}"),
            details,
        })
    }
}

/// Turns one violation into field errors, without quoting the value (it may
/// be a password).
fn describe(path: &str, kind: &ValidationErrorKind) -> Vec<FieldError> {
    let at = |p: String, m: String| FieldError {
        path: p,
        message: m,
    };
    let here = |m: String| vec![at(path.to_owned(), m)];
    match kind {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![at(format!("{path}/{name}"), "is required".into())]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| at(format!("{path}/{name}"), "is not an allowed field".into()))
            .collect(),
        ValidationErrorKind::MinLength { limit } => {
            here(format!("shorter than {limit} characters"))
        }
        ValidationErrorKind::MaxLength { limit } => here(format!("longer than {limit} characters")),
        ValidationErrorKind::Pattern { pattern } if pattern.contains('\0') => {
            here("must not contain U+0000".into())
        }
        ValidationErrorKind::Pattern { pattern } => here(format!("does not match {pattern}")),
        ValidationErrorKind::Type { kind } => {
            here(format!("has the wrong type (expected {})", type_name(kind)))
        }
        ValidationErrorKind::MinProperties { .. } => here("must not be empty".into()),
        ValidationErrorKind::MaxItems { limit } => here(format!("has more than {limit} items")),
        ValidationErrorKind::MinItems { limit } => here(format!("has fewer than {limit} items")),
        ValidationErrorKind::UniqueItems => here("has repeated items".into()),
        // Schema constants, never request values.
        ValidationErrorKind::Constant { expected_value } => {
            here(format!("must be {expected_value}"))
        }
        ValidationErrorKind::Enum { options } => here(format!("must be one of {options}")),
        ValidationErrorKind::Format { format } => here(format!("is not a valid {format}")),
        other => here(format!("is invalid ({})", other.keyword())),
    }
}

fn type_name(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(t) => t.to_string(),
        jsonschema::error::TypeKind::Multiple(set) => set
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(name: &str, body: Value) -> Vec<FieldError> {
        match Schemas::new("http://x", 12).unwrap().validate(name, &body) {
            Err(ApiError::Validation { details, .. }) => details,
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn short_password_is_reported_without_its_value() {
        let d = details(
            "register",
            json!({"username": "alice", "password": "hunter2"}),
        );
        assert_eq!(
            d,
            vec![FieldError {
                path: "/password".into(),
                message: "shorter than 12 characters".into()
            }]
        );
    }

    #[test]
    fn unknown_and_missing_fields_name_their_paths() {
        let d = details("login", json!({"username": "a", "admin": true}));
        let paths: Vec<_> = d.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["/admin", "/password"]);
    }

    #[test]
    fn update_refuses_empty_objects_and_null_roles() {
        assert_eq!(details("user_update", json!({}))[0].path, "");
        assert_eq!(
            details("user_update", json!({"roles": null}))[0].path,
            "/roles"
        );
        assert_eq!(
            details("user_update", json!({"disabled": null}))[0].path,
            "/disabled"
        );
    }

    #[test]
    fn every_schema_compiles() {
        let s = Schemas::new("http://x", 12).unwrap();
        for name in s.names() {
            assert!(s.validator(name).is_ok(), "schema {name}");
        }
        assert!(s.validator("nonexistent").is_err());
    }

    #[test]
    fn valid_bodies_pass() {
        let s = Schemas::new("http://x", 12).unwrap();
        assert!(
            s.validate(
                "register",
                &json!({"username": "alice", "password": "a long passphrase", "email": null})
            )
            .is_ok()
        );
        assert!(
            s.validate("user_update", &json!({"first_name": null}))
                .is_ok()
        );
    }
}
