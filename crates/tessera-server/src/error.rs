//! The one error type of the HTTP API. Every handler returns
//! `Result<_, ApiError>`; each variant documents its status and carries the
//! stable `code` of SPEC §2. Domain errors are mapped by hand so nothing
//! becomes a 500 by accident, and a 500 never shows its cause. The `/oauth/*`
//! endpoints answer with [`OAuthApiError`] instead, in RFC 6749's shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::Error;
use tessera_core::oauth::{OAuthError, OAuthErrorCode};
use tessera_core::secret::ExposeSecret;
use tessera_core::store::StoreError;
use tessera_token::tokens::TokenError;

/// One entry of `details`: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON pointer into the request body.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// An API error: status, code, message and optional field details.
///
/// What the domain refuses arrives as [`ApiError::Domain`] and keeps the
/// domain's own message; the other variants are the HTTP layer's own
/// refusals. A 500 logs its cause with the whole source chain and shows none
/// of it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A domain refusal: its status and code follow from the variant (400
    /// `validation_failed`, 401 `invalid_credentials`, 409 `last_admin`, …).
    #[error(transparent)]
    Domain(#[from] Error),
    /// 400 `validation_failed`: a request body, path or query that breaks
    /// its schema.
    #[error("{message}")]
    Validation {
        /// Summary.
        message: String,
        /// The offending fields.
        details: Vec<FieldError>,
    },
    /// 400 `malformed_json`.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// 401 `unauthenticated`: no bearer token.
    #[error("a bearer token is required")]
    Unauthenticated,
    /// 401 `invalid_token`.
    #[error("the access token is invalid, expired or revoked")]
    InvalidToken,
    /// 403 `forbidden`.
    #[error("{0}")]
    Forbidden(String),
    /// 403 `forbidden`: a token issued to an OAuth client lacks the scope
    /// named (RFC 6750 §3.1 `insufficient_scope`).
    #[error("this token was issued to an application; Tessera's own API needs scope {0}")]
    InsufficientScope(&'static str),
    /// 404 `not_found`.
    #[error("not found")]
    NotFound,
    /// 405 `method_not_allowed`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 413 `payload_too_large`.
    #[error("the request body is larger than 64 KiB")]
    PayloadTooLarge,
    /// 415 `unsupported_media_type`.
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    /// 408 `request_timeout`: the request took longer than allowed.
    #[error("the request took too long")]
    RequestTimeout,
    /// 500 `internal`; the cause is logged, never sent.
    #[error("internal server error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            Domain(e) => domain_status(e),
            Validation { .. } | MalformedJson(_) => StatusCode::BAD_REQUEST,
            Unauthenticated | InvalidToken => StatusCode::UNAUTHORIZED,
            Forbidden(_) | InsufficientScope(_) => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code (SPEC §2).
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            Domain(e) => domain_code(e),
            Validation { .. } => "validation_failed",
            MalformedJson(_) => "malformed_json",
            Unauthenticated => "unauthenticated",
            InvalidToken => "invalid_token",
            Forbidden(_) | InsufficientScope(_) => "forbidden",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            RequestTimeout => "request_timeout",
            Internal(_) => "internal",
        }
    }

    /// The message a client sees: never a cause of ours.
    fn message(&self) -> String {
        match self {
            ApiError::Domain(e) => match e {
                Error::Validation { .. } | Error::OAuth(_) => "the request is invalid".into(),
                Error::InvalidToken(_) => ApiError::InvalidToken.to_string(),
                Error::TooManyAttempts { .. } => "too many attempts; try again later".into(),
                Error::Store(StoreError::Unavailable) => {
                    "the service cannot reach its database; try again shortly".into()
                }
                Error::Store(_) | Error::Internal(_) | Error::Config(_) => {
                    "internal server error".into()
                }
                other => other.to_string(),
            },
            other => other.to_string(),
        }
    }

    /// The field-level problems, for `validation_failed`.
    fn details(&self) -> Vec<FieldError> {
        match self {
            ApiError::Validation { details, .. } => details.clone(),
            ApiError::Domain(Error::Validation { path, message }) => vec![FieldError {
                path: path.clone(),
                message: message.clone(),
            }],
            ApiError::Domain(Error::OAuth(e)) => vec![FieldError {
                path: String::new(),
                message: e.description.to_string(),
            }],
            _ => Vec::new(),
        }
    }

    /// A 403 with a message.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Forbidden(message.into())
    }

    /// A 400 `validation_failed` for one field.
    pub fn invalid(path: &str, message: impl Into<String>) -> Self {
        ApiError::Validation {
            message: "the request is invalid".into(),
            details: vec![FieldError {
                path: path.into(),
                message: message.into(),
            }],
        }
    }

    /// A 500 caused by `cause`, kept with its source chain for the log.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(cause.into())
    }
}

/// The status of a domain refusal.
fn domain_status(e: &Error) -> StatusCode {
    match e {
        Error::Validation { .. }
        | Error::PasswordTooWeak(_)
        | Error::PasswordTooCommon
        | Error::InvalidLink
        | Error::OAuth(_) => StatusCode::BAD_REQUEST,
        Error::InvalidCredentials
        | Error::InvalidRefreshToken
        | Error::InvalidToken(_)
        | Error::MfaRequired(_)
        | Error::InvalidMfaToken
        | Error::InvalidCode { signing_in: true } => StatusCode::UNAUTHORIZED,
        Error::InvalidCode { signing_in: false } => StatusCode::BAD_REQUEST,
        Error::Forbidden(_)
        | Error::RegistrationDisabled
        | Error::MfaEnrollmentRequired(_)
        | Error::EmailNotVerified => StatusCode::FORBIDDEN,
        Error::UserNotFound | Error::NotFound => StatusCode::NOT_FOUND,
        Error::UsernameTaken
        | Error::LastAdmin
        | Error::KeyRotationUnavailable
        | Error::EmailTaken
        | Error::LastFactor => StatusCode::CONFLICT,
        Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Store(StoreError::Unavailable) | Error::EmailUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        Error::Store(_) | Error::Internal(_) | Error::Config(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The code of a domain refusal.
fn domain_code(e: &Error) -> &'static str {
    match e {
        Error::Validation { .. } | Error::OAuth(_) => "validation_failed",
        Error::PasswordTooWeak(_) => "password_too_weak",
        Error::PasswordTooCommon => "password_too_common",
        Error::UsernameTaken => "username_taken",
        Error::RegistrationDisabled => "registration_disabled",
        Error::InvalidCredentials => "invalid_credentials",
        Error::InvalidRefreshToken => "invalid_refresh_token",
        Error::MfaRequired(_) => "mfa_required",
        Error::InvalidCode { .. } => "invalid_code",
        Error::InvalidMfaToken => "invalid_mfa_token",
        Error::MfaEnrollmentRequired(_) => "mfa_enrollment_required",
        Error::LastFactor => "last_factor",
        Error::EmailNotVerified => "email_not_verified",
        Error::EmailTaken => "email_taken",
        Error::InvalidLink => "invalid_link",
        Error::EmailUnavailable => "email_unavailable",
        Error::UserNotFound => "user_not_found",
        Error::NotFound => "not_found",
        Error::Forbidden(_) => "forbidden",
        Error::LastAdmin => "last_admin",
        Error::KeyRotationUnavailable => "key_rotation_unavailable",
        Error::InvalidToken(_) => "invalid_token",
        Error::TooManyAttempts { .. } => "too_many_attempts",
        Error::Store(StoreError::Unavailable) => "unavailable",
        Error::Store(_) | Error::Internal(_) | Error::Config(_) => "internal",
    }
}

/// Seconds a client is asked to wait while the database is unreachable.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 2;

/// `error` and every error below it, for the log.
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The JSON body of every error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// HTTP status, repeated.
    pub status: u16,
    /// Stable code (SPEC §2).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Field-level problems, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
    /// For `mfa_required`: the single-use token of the sign-in's second step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// For `mfa_required`: the kinds of second factor the person can use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factors: Option<Vec<&'static str>>,
    /// For `mfa_enrollment_required`: the token the `/me/factors…`
    /// endpoints accept while the person sets up their factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrollment_token: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            let cause = match &self {
                ApiError::Internal(cause) => source_chain(cause.as_ref()),
                other => source_chain(other),
            };
            tracing::error!(%cause, "internal error");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                status: status.as_u16(),
                code: self.code(),
                message: self.message(),
                details: self.details(),
                mfa_token: match &self {
                    ApiError::Domain(Error::MfaRequired(c)) => {
                        Some(c.mfa_token.expose_secret().to_owned())
                    }
                    _ => None,
                },
                factors: match &self {
                    ApiError::Domain(Error::MfaRequired(c)) => Some(c.factors.clone()),
                    _ => None,
                },
                enrollment_token: match &self {
                    ApiError::Domain(Error::MfaEnrollmentRequired(c)) => {
                        Some(c.enrollment_token.expose_secret().to_owned())
                    }
                    _ => None,
                },
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthenticated
            | ApiError::Domain(
                Error::InvalidCredentials
                | Error::MfaRequired(_)
                | Error::InvalidMfaToken
                | Error::InvalidCode { signing_in: true },
            ) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::InvalidToken | ApiError::Domain(Error::InvalidToken(_)) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            ApiError::Domain(Error::TooManyAttempts { retry_after }) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::Domain(Error::Store(StoreError::Unavailable)) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER),
                );
            }
            ApiError::InsufficientScope(scope) => {
                let challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"");
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            _ => {}
        }
        response
    }
}

impl From<TokenError> for ApiError {
    fn from(_: TokenError) -> Self {
        ApiError::InvalidToken
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// An error of the `/oauth/*` endpoints, in RFC 6749 §5.2's shape
/// `{"error", "error_description"}` rather than the shared one.
#[derive(Debug)]
pub struct OAuthApiError {
    /// The error.
    pub error: OAuthError,
    /// Seconds to wait, for `too_many_attempts`.
    pub retry_after: Option<u64>,
}

impl OAuthApiError {
    /// An `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::invalid_request(description.into()).into()
    }

    /// The HTTP status: 401 for `invalid_client`, 429 for throttling, 500
    /// for our own failure, 400 otherwise.
    pub fn status(&self) -> StatusCode {
        match self.error.code {
            OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            OAuthErrorCode::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<OAuthError> for OAuthApiError {
    fn from(error: OAuthError) -> Self {
        OAuthApiError {
            error,
            retry_after: None,
        }
    }
}

impl From<Error> for OAuthApiError {
    fn from(e: Error) -> Self {
        let error = match e {
            Error::OAuth(e) => e,
            Error::TooManyAttempts { retry_after } => {
                return OAuthApiError {
                    error: OAuthError::new(
                        OAuthErrorCode::TooManyAttempts,
                        "too many failed attempts; try again later",
                    ),
                    retry_after: Some(retry_after),
                };
            }
            Error::Store(StoreError::Unavailable) => {
                return OAuthApiError {
                    error: OAuthError::new(
                        OAuthErrorCode::TemporarilyUnavailable,
                        "the server cannot reach its database; try again shortly",
                    ),
                    retry_after: Some(UNAVAILABLE_RETRY_AFTER),
                };
            }
            Error::InvalidCredentials => OAuthError::invalid_grant("invalid username or password"),
            Error::MfaRequired(_) => OAuthError::invalid_grant(
                "this account signs in with a second factor; use the hosted login page (/authorize)",
            ),
            Error::MfaEnrollmentRequired(_) => OAuthError::invalid_grant(
                "this account must set up a second factor first; use the hosted login page (/authorize)",
            ),
            Error::EmailNotVerified => OAuthError::invalid_grant(
                "the account's email address must be verified first (the link mailed to it; a new one goes out at most once a minute)",
            ),
            Error::InvalidRefreshToken | Error::InvalidToken(_) => {
                OAuthError::invalid_grant("the grant is invalid, expired or revoked")
            }
            Error::Validation { path, message } => {
                OAuthError::invalid_request(format!("{path}: {message}"))
            }
            other => {
                tracing::error!(cause = %other, "internal error at an OAuth endpoint");
                OAuthError::new(
                    OAuthErrorCode::ServerError,
                    "the server could not complete the request",
                )
            }
        };
        error.into()
    }
}

impl IntoResponse for OAuthApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.error.code.as_str(),
            "error_description": self.error.description,
        });
        let mut response = (self.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.error.code == OAuthErrorCode::InvalidClient {
            // RFC 6749 §5.2: a 401 names the scheme the client may use.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tessera\", charset=\"UTF-8\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::store::StoreError;

    #[test]
    fn domain_refusals_keep_the_domains_message_and_map_to_their_status() {
        let e = ApiError::from(Error::LastAdmin);
        assert_eq!((e.status(), e.code()), (StatusCode::CONFLICT, "last_admin"));
        assert_eq!(e.message(), Error::LastAdmin.to_string());
        let e = ApiError::from(Error::invalid("/email", "not an address"));
        assert_eq!(e.code(), "validation_failed");
        assert_eq!(e.details()[0].path, "/email");
    }

    #[test]
    fn a_500_shows_nothing_of_its_cause_but_keeps_the_chain_for_the_log() {
        let e = ApiError::from(Error::Store(StoreError::Corrupt("users.roles".into())));
        assert_eq!(
            (e.status(), e.code()),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        );
        assert_eq!(e.message(), "internal server error");
        assert!(source_chain(&e).contains("users.roles"));
        let io = std::io::Error::other("disk on fire");
        let e = ApiError::internal(io);
        assert_eq!(e.to_string(), "internal server error");
        assert!(std::error::Error::source(&e).is_some());
        let ApiError::Internal(cause) = &e else {
            panic!("internal");
        };
        assert!(source_chain(cause.as_ref()).contains("disk on fire"));
    }
}
