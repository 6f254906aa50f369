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
#[derive(Debug)]
pub enum ApiError {
    /// 400 `validation_failed`.
    Validation {
        /// Summary.
        message: String,
        /// The offending fields.
        details: Vec<FieldError>,
    },
    /// 400 `malformed_json`.
    MalformedJson(String),
    /// 400 `password_too_weak`.
    PasswordTooWeak(String),
    /// 400 `password_too_common`.
    PasswordTooCommon,
    /// 401 `unauthenticated`: no bearer token.
    Unauthenticated,
    /// 401 `invalid_token`.
    InvalidToken,
    /// 401 `invalid_credentials`.
    InvalidCredentials,
    /// 401 `invalid_refresh_token`.
    InvalidRefreshToken,
    /// 403 `forbidden`.
    Forbidden(String),
    /// 403 `forbidden`: a token issued to an OAuth client lacks the scope
    /// named (RFC 6750 §3.1 `insufficient_scope`).
    InsufficientScope(&'static str),
    /// 403 `registration_disabled`.
    RegistrationDisabled,
    /// 404 `user_not_found`.
    UserNotFound,
    /// 404 `not_found`.
    NotFound,
    /// 405 `method_not_allowed`.
    MethodNotAllowed,
    /// 409 `username_taken`.
    UsernameTaken,
    /// 409 `last_admin`.
    LastAdmin,
    /// 409 `key_rotation_unavailable`.
    KeyRotationUnavailable,
    /// 413 `payload_too_large`.
    PayloadTooLarge,
    /// 415 `unsupported_media_type`.
    UnsupportedMediaType,
    /// 429 `too_many_attempts`, with `Retry-After`.
    TooManyAttempts {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// 408 `request_timeout`: the request took longer than allowed.
    RequestTimeout,
    /// 500 `internal`; the cause is logged, never sent.
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            Validation { .. } | MalformedJson(_) | PasswordTooWeak(_) | PasswordTooCommon => {
                StatusCode::BAD_REQUEST
            }
            Unauthenticated | InvalidToken | InvalidCredentials | InvalidRefreshToken => {
                StatusCode::UNAUTHORIZED
            }
            Forbidden(_) | InsufficientScope(_) | RegistrationDisabled => StatusCode::FORBIDDEN,
            UserNotFound | NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            UsernameTaken | LastAdmin | KeyRotationUnavailable => StatusCode::CONFLICT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            Validation { .. } => "validation_failed",
            MalformedJson(_) => "malformed_json",
            PasswordTooWeak(_) => "password_too_weak",
            PasswordTooCommon => "password_too_common",
            Unauthenticated => "unauthenticated",
            InvalidToken => "invalid_token",
            InvalidCredentials => "invalid_credentials",
            InvalidRefreshToken => "invalid_refresh_token",
            Forbidden(_) | InsufficientScope(_) => "forbidden",
            RegistrationDisabled => "registration_disabled",
            UserNotFound => "user_not_found",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            UsernameTaken => "username_taken",
            LastAdmin => "last_admin",
            KeyRotationUnavailable => "key_rotation_unavailable",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            TooManyAttempts { .. } => "too_many_attempts",
            RequestTimeout => "request_timeout",
            Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        use ApiError::*;
        match self {
            Validation { message, .. } => message.clone(),
            MalformedJson(m) => format!("the request body is not valid JSON: {m}"),
            PasswordTooWeak(m) => m.clone(),
            PasswordTooCommon => {
                "the password is on the list of common or breached passwords".into()
            }
            Unauthenticated => "a bearer token is required".into(),
            InvalidToken => "the access token is invalid, expired or revoked".into(),
            InvalidCredentials => "invalid username or password".into(),
            InvalidRefreshToken => "the refresh token is invalid, expired or revoked".into(),
            Forbidden(m) => m.clone(),
            InsufficientScope(scope) => format!(
                "this token was issued to an application; Tessera's own API needs scope {scope}"
            ),
            RegistrationDisabled => "registration is disabled".into(),
            UserNotFound => "user not found".into(),
            NotFound => "not found".into(),
            MethodNotAllowed => "method not allowed".into(),
            UsernameTaken => "username is already taken".into(),
            LastAdmin => "the last admin cannot be removed, demoted, disabled or deleted".into(),
            KeyRotationUnavailable => {
                "keys cannot be rotated with an HMAC algorithm; change TESSERA_JWT_SECRET instead"
                    .into()
            }
            PayloadTooLarge => "the request body is larger than 64 KiB".into(),
            UnsupportedMediaType => "the request body must be application/json".into(),
            TooManyAttempts { .. } => "too many attempts; try again later".into(),
            RequestTimeout => "the request took too long".into(),
            Internal(_) => "internal server error".into(),
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let details = match &self {
            ApiError::Validation { details, .. } => details.clone(),
            _ => Vec::new(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                status: status.as_u16(),
                code: self.code(),
                message: self.message(),
                details,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthenticated | ApiError::InvalidCredentials => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            ApiError::TooManyAttempts { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
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

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Validation { path, message } => ApiError::invalid(&path, message),
            Error::PasswordTooWeak(m) => ApiError::PasswordTooWeak(m),
            Error::PasswordTooCommon => ApiError::PasswordTooCommon,
            Error::UsernameTaken => ApiError::UsernameTaken,
            Error::RegistrationDisabled => ApiError::RegistrationDisabled,
            Error::InvalidCredentials => ApiError::InvalidCredentials,
            Error::InvalidRefreshToken => ApiError::InvalidRefreshToken,
            Error::UserNotFound => ApiError::UserNotFound,
            Error::NotFound => ApiError::NotFound,
            Error::Forbidden(m) => ApiError::Forbidden(m),
            Error::LastAdmin => ApiError::LastAdmin,
            Error::KeyRotationUnavailable => ApiError::KeyRotationUnavailable,
            Error::InvalidToken(_) => ApiError::InvalidToken,
            Error::TooManyAttempts { retry_after } => ApiError::TooManyAttempts { retry_after },
            Error::OAuth(e) => ApiError::invalid("", e.description),
            Error::Store(e) => ApiError::Internal(e.to_string()),
            Error::Internal(m) | Error::Config(m) => ApiError::Internal(m),
        }
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
            Error::InvalidCredentials => OAuthError::invalid_grant("invalid username or password"),
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
