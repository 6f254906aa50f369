//! The domain's error: one variant per outcome a caller must tell apart,
//! with the message a person reads (the API shows it as it is, except for
//! our own failures). The HTTP layer maps each to a status and code by
//! hand; nothing here carries a secret.

use crate::password::PasswordProblem;
use crate::store::StoreError;
use tessera_token::tokens::TokenError;

/// What a domain operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that breaks a rule a schema could express (`path` is a JSON pointer).
    #[error("{path}: {message}")]
    Validation {
        /// JSON pointer of the offending field.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The password contains the username.
    #[error("{0}")]
    PasswordTooWeak(String),
    /// The password is on the common-password list.
    #[error("the password is on the list of common or breached passwords")]
    PasswordTooCommon,
    /// The username is taken (case-insensitively).
    #[error("username is already taken")]
    UsernameTaken,
    /// Self-registration is switched off.
    #[error("registration is disabled")]
    RegistrationDisabled,
    /// Unknown user, wrong password or disabled user — deliberately alike.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The password was right, and the person has a second factor: the
    /// sign-in continues with the challenge's `mfa_token`.
    #[error("a second factor is required")]
    MfaRequired(crate::mfa::MfaChallenge),
    /// A TOTP or recovery code that is not (or no longer) right: 400 while
    /// enrolling, 401 while signing in.
    #[error("the code is not valid")]
    InvalidCode {
        /// Whether it was the second step of a sign-in.
        signing_in: bool,
    },
    /// The policy demands a second factor and the person has none yet: the
    /// sign-in continues with enrolment under the `enrollment_token`.
    #[error("a second factor must be set up before signing in")]
    MfaEnrollmentRequired(crate::mfa::EnrollmentChallenge),
    /// Removing this factor would leave a person the policy covers without one.
    #[error("the last second factor cannot be removed while the policy requires one")]
    LastFactor,
    /// Signing in needs a verified address, and this person's is not
    /// (a fresh link is on its way when mail can be sent).
    #[error("the email address must be verified before signing in; follow the link mailed to it")]
    EmailNotVerified,
    /// Another account has verified this address.
    #[error("the email address is verified on another account")]
    EmailTaken,
    /// A link token that is not (or no longer) live.
    #[error("the link is invalid, expired or already used")]
    InvalidLink,
    /// No mail can be sent: the deployment has no SMTP server.
    #[error("email is not configured on this server")]
    EmailUnavailable,
    /// An `mfa_token` that is unknown, spent or expired.
    #[error("the sign-in expired or was already completed; sign in again")]
    InvalidMfaToken,
    /// The refresh token is unknown, expired, revoked or was reused.
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    /// No such user.
    #[error("user not found")]
    UserNotFound,
    /// No such resource (or not the caller's to see).
    #[error("not found")]
    NotFound,
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The change would leave no enabled admin.
    #[error("the last admin cannot be removed, demoted, disabled or deleted")]
    LastAdmin,
    /// Keys cannot rotate: `HS*` keys are the configured shared secret.
    #[error("keys cannot be rotated with an HMAC algorithm; change TESSERA_JWT_SECRET instead")]
    KeyRotationUnavailable,
    /// Too many attempts from this username or client; retry after the given seconds.
    #[error("too many attempts; retry after {retry_after} s")]
    TooManyAttempts {
        /// Whole seconds to wait.
        retry_after: u64,
    },
    /// The configuration cannot work with what is stored (e.g. a wrong master key).
    #[error("{0}")]
    Config(String),
    /// An OAuth 2.0 request failed (RFC 6749 §5.2 and kin).
    #[error(transparent)]
    OAuth(crate::oauth::OAuthError),
    /// A token was refused.
    #[error("invalid token: {0}")]
    InvalidToken(#[from] TokenError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else that is our fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A validation error at `path`.
    pub fn invalid(path: &str, message: impl Into<String>) -> Self {
        Error::Validation {
            path: path.to_owned(),
            message: message.into(),
        }
    }

    /// The error for a refused password in field `path`.
    pub fn password(path: &str, problem: PasswordProblem) -> Self {
        match problem {
            PasswordProblem::TooShort(_) | PasswordProblem::TooLong => {
                Error::invalid(path, problem.to_string())
            }
            PasswordProblem::ContainsUsername => Error::PasswordTooWeak(problem.to_string()),
            PasswordProblem::TooCommon => Error::PasswordTooCommon,
        }
    }
}

impl From<crate::password::HashError> for Error {
    fn from(e: crate::password::HashError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<tessera_token::keys::KeyError> for Error {
    fn from(e: tessera_token::keys::KeyError) -> Self {
        Error::Internal(e.to_string())
    }
}

/// Result alias for domain operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
