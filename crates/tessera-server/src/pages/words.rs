//! What a person reads when a form is refused: the rules of the API (its
//! JSON Schemas and the domain's checks), said next to the field they are
//! about, in words rather than patterns.

use super::FieldErrors;
use crate::error::ApiError;
use tessera_core::Error;

/// The words for a refusal of `field` whose technical message is `raw`.
fn field_words(field: &str, raw: &str, password_min: usize) -> String {
    if raw.contains("U+0000") {
        return "Remove the invisible control characters.".to_owned();
    }
    match field {
        "username" => "Use 3 to 32 letters, digits, dots, dashes or underscores.".to_owned(),
        "email" => "Enter an e-mail address like name@example.com.".to_owned(),
        "password" | "new_password" if raw.starts_with("shorter") || raw.contains("at least") => {
            format!("Use at least {password_min} characters.")
        }
        "password" | "new_password" if raw.starts_with("longer") => {
            "Use at most 128 characters.".to_owned()
        }
        "current_password" => "Enter your current password.".to_owned(),
        "first_name" | "last_name" => "Use at most 100 characters.".to_owned(),
        "phone" => "Use at most 32 characters.".to_owned(),
        _ => "This value cannot be used.".to_owned(),
    }
}

/// The field errors of a request body the schemas refused.
pub fn schema_errors(e: &ApiError, password_min: usize) -> FieldErrors {
    let mut errors = FieldErrors::default();
    if let ApiError::Validation { details, .. } = e {
        for detail in details {
            let field = detail.path.trim_start_matches('/');
            let field = field.split('/').next().unwrap_or(field);
            if !errors.has(field) {
                errors.push(field, field_words(field, &detail.message, password_min));
            }
        }
    }
    if errors.is_empty() {
        errors.push("form", "This form cannot be used. Check what you entered.");
    }
    errors
}

/// The field errors of a domain refusal of a form whose password field is
/// `password_field`; `None` when the refusal is not about what was typed.
pub fn domain_errors(e: &Error, password_field: &str, password_min: usize) -> Option<FieldErrors> {
    let mut errors = FieldErrors::default();
    match e {
        Error::Validation { path, message } => {
            let field = path.trim_start_matches('/');
            errors.push(field, field_words(field, message, password_min));
        }
        Error::PasswordTooWeak(_) => errors.push(
            password_field,
            "Choose a password that does not contain your username.",
        ),
        Error::PasswordTooCommon => errors.push(
            password_field,
            "This password is too common. Choose one that is harder to guess.",
        ),
        Error::UsernameTaken => errors.push("username", "This username is taken."),
        Error::EmailTaken => errors.push(
            "email",
            "This address is confirmed on another account. Use another one.",
        ),
        Error::InvalidCredentials => {
            errors.push("current_password", "This is not your current password.")
        }
        Error::TooManyAttempts { retry_after } => {
            errors.push("form", too_many_attempts(*retry_after))
        }
        _ => return None,
    }
    Some(errors)
}

/// A second-factor code that is not right (or was used already).
pub const WRONG_CODE: &str =
    "That code did not work. Enter the current code from your app, or an unused recovery code.";

/// A username and password that do not sign anyone in.
pub const WRONG_PASSWORD: &str = "Wrong username or password.";

/// A sign-in held until the person's address is confirmed.
pub const CONFIRM_ADDRESS_FIRST: &str = "Confirm your email address first: follow the link we sent to it, then sign in. (We send a new link at most once a minute.)";

/// A passkey that did not sign anyone in.
pub const PASSKEY_REFUSED: &str =
    "That passkey did not work here. Try again, or sign in another way.";

/// A sign-in whose second step waited too long or failed too often.
pub const SIGN_IN_EXPIRED: &str = "Your sign-in expired. Please sign in again.";

/// A refusal for too many attempts, with the wait in words.
pub fn too_many_attempts(retry_after: u64) -> String {
    format!("Too many attempts. Try again in {}.", wait(retry_after))
}

/// `seconds` in words: "30 seconds", "2 minutes".
pub fn wait(seconds: u64) -> String {
    match seconds {
        0..=1 => "a second".to_owned(),
        2..=59 => format!("{seconds} seconds"),
        60..=119 => "a minute".to_owned(),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_said_next_to_their_field_in_words() {
        let e = Error::invalid("/email", "not a valid e-mail address");
        let errors = domain_errors(&e, "password", 12).unwrap();
        assert_eq!(
            errors.get("email"),
            Some("Enter an e-mail address like name@example.com.")
        );
        let errors = domain_errors(&Error::PasswordTooCommon, "new_password", 12).unwrap();
        assert!(errors.get("new_password").unwrap().contains("too common"));
        assert!(domain_errors(&Error::NotFound, "password", 12).is_none());
        assert_eq!(wait(90), "a minute");
        assert_eq!(wait(600), "10 minutes");
    }
}
