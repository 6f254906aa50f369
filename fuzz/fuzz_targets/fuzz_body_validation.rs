//! Request-body validation along the path `extract::ValidJson` takes:
//! `serde_json::from_slice` (failures become `malformed_json`), then
//! `Schemas::validate`, then `serde_json::from_value` into the body type.
//!
//! Input: one byte choosing the schema (`SCHEMA_NAMES[b % 6]`; `b'0'` is
//! `register`, `b'1'` `login`, … `b'5'` an unknown name), then the body.
#![no_main]

use axum::http::StatusCode;
use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tessera_core::secret::ExposeSecret;
use tessera_fuzz::{SCHEMA_NAMES, schemas};
use tessera_server::error::{ApiError, FieldError};
use tessera_server::routes::auth::{LoginBody, RefreshBody, RegisterBody};
use tessera_server::routes::users::{PasswordChangeBody, UserUpdateBody};
use tessera_server::schemas::USERNAME_PATTERN;

/// Fields whose values are secrets and must never shape an error message.
const SECRET_FIELDS: [&str; 3] = ["password", "new_password", "current_password"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let name = SCHEMA_NAMES[usize::from(pick) % SCHEMA_NAMES.len()];

    // 1. JSON, as the extractor parses it.
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            let err = ApiError::MalformedJson(e.to_string());
            assert_eq!(err.status(), StatusCode::BAD_REQUEST);
            let _ = err.into_response();
            return;
        }
    };

    // 2. The schema.
    let outcome = schemas().validate(name, &value);
    if name == "no_such_schema" {
        assert!(matches!(outcome, Err(ApiError::Internal(_))), "{outcome:?}");
        return;
    }
    // No violation depends on a secret's content, only on its type and
    // length, so the details can never quote it.
    if let Some(masked) = mask_secrets(&value) {
        assert_eq!(
            details(&outcome),
            details(&schemas().validate(name, &masked)),
            "validation depends on a secret's content"
        );
    }
    match outcome {
        Err(ApiError::Validation { details, message }) => {
            assert!(!details.is_empty());
            assert!(message.ends_with(name));
            assert!(details.windows(2).all(|w| w[0].path <= w[1].path));
            for (i, d) in details.iter().enumerate() {
                assert!(!details[i + 1..].contains(d), "duplicate detail {d:?}");
            }
            for d in &details {
                assert!(
                    d.path.is_empty() || d.path.starts_with('/'),
                    "not a JSON pointer: {:?}",
                    d.path
                );
            }
            let _ = ApiError::Validation { details, message }.into_response();
        }
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(()) => {
            // 3. Whatever passes the schema deserialises into the body type:
            // the schema and the struct agree.
            match name {
                "register" => {
                    let b: RegisterBody = typed(name, value);
                    let n = b.username.chars().count();
                    assert!((3..=32).contains(&n), "{USERNAME_PATTERN}");
                    assert!(
                        b.username
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
                    );
                    assert!((12..=128).contains(&b.password.expose_secret().chars().count()));
                }
                "login" => {
                    let b: LoginBody = typed(name, value);
                    assert!((1..=64).contains(&b.username.chars().count()));
                    assert!((1..=128).contains(&b.password.expose_secret().chars().count()));
                }
                "refresh" => {
                    let b: RefreshBody = typed(name, value);
                    assert!((1..=512).contains(&b.refresh_token.expose_secret().chars().count()));
                }
                "user_update" => {
                    let b: UserUpdateBody = typed(name, value);
                    if let Some(roles) = &b.roles {
                        assert!(roles.len() <= 64);
                    }
                }
                "password_change" => {
                    let b: PasswordChangeBody = typed(name, value);
                    assert!((12..=128).contains(&b.new_password.expose_secret().chars().count()));
                }
                _ => unreachable!(),
            }
        }
    }
});

/// Deserialises a body that passed schema `name`; failing is a finding.
fn typed<T: DeserializeOwned>(name: &str, value: Value) -> T {
    match serde_json::from_value(value) {
        Ok(b) => b,
        Err(e) => panic!("passed schema {name} but does not deserialise: {e}"),
    }
}

/// The field errors of a validation outcome (`None` when it passed).
fn details(outcome: &Result<(), ApiError>) -> Option<Vec<FieldError>> {
    match outcome {
        Ok(()) => None,
        Err(ApiError::Validation { details, .. }) => Some(details.clone()),
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

/// The body with every top-level secret string replaced by as many `x` as
/// it has characters; `None` when there is no such field.
fn mask_secrets(value: &Value) -> Option<Value> {
    let object = value.as_object()?;
    let mut masked = object.clone();
    let mut any = false;
    for field in SECRET_FIELDS {
        if let Some(Value::String(s)) = masked.get_mut(field) {
            *s = "x".repeat(s.chars().count());
            any = true;
        }
    }
    any.then_some(Value::Object(masked))
}
