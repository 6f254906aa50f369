//! The steps of signing in on the hosted pages (`/login` and `/authorize`
//! alike): what a submitted sign-in form asks — the password, a code or a
//! passkey for the second step, a passkey alone, the first code of the app
//! the policy demands — what the domain makes of it, and which form comes
//! next when it does not sign the person in. Each route draws its pages its
//! own way; the steps and their refusals live here once.

use crate::pages::{Hidden, words};
use crate::routes::oauth::OAuthForm;
use axum::http::StatusCode;
use tessera_core::Error;
use tessera_core::model::ClientInfo;
use tessera_core::secret::{ExposeSecret, SecretString};
use tessera_core::service::{MfaChallenge, Proof, Tessera};
use tessera_core::store::BrowserSession;
use uuid::Uuid;

/// The hidden field that carries a sign-in's `mfa_token` to its second step.
pub(crate) const MFA_TOKEN_FIELD: &str = "mfa_token";
/// The hidden field a passkey's answer (`AuthenticationResponseJSON`) comes in.
pub(crate) const CREDENTIAL_FIELD: &str = "credential";
/// The hidden field that carries an `enrollment_token` through the set-up
/// of the factor the policy demands.
pub(crate) const ENROLLMENT_TOKEN_FIELD: &str = "enrollment_token";
/// The hidden field that says the person of a second step has a passkey.
const PASSKEY_HINT: &str = "passkey";

/// A sign-in waiting for its second step: its `mfa_token`, and whether the
/// person has a passkey to offer (a hint for the page, carried along).
#[derive(Debug, Clone)]
pub(crate) struct SecondStep {
    /// The token the password earned.
    pub(crate) mfa_token: String,
    /// Whether to offer the person's passkey.
    pub(crate) passkey: bool,
}

impl SecondStep {
    /// The second step a refusal of `mfa_required` begins.
    fn of(challenge: &MfaChallenge) -> Self {
        SecondStep {
            mfa_token: challenge.mfa_token.expose_secret().to_owned(),
            passkey: challenge.factors.contains(&"passkey"),
        }
    }

    /// The second step a submitted code form carries.
    fn carried(form: &OAuthForm, mfa_token: &str) -> Self {
        SecondStep {
            mfa_token: mfa_token.to_owned(),
            passkey: form.get(PASSKEY_HINT).is_some(),
        }
    }

    /// Its hidden fields.
    pub(crate) fn push_to(&self, hidden: &mut Hidden) {
        hidden.push(MFA_TOKEN_FIELD, &self.mfa_token);
        if self.passkey {
            hidden.push(PASSKEY_HINT, "1");
        }
    }
}

/// Where a sign-in form's answer leads.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Signed in: the browser session, the cookie value when it is new,
    /// and the recovery codes of a factor just set up (shown once).
    SignedIn {
        /// The browser session.
        browser: BrowserSession,
        /// The cookie value naming a new browser session.
        cookie: Option<String>,
        /// The recovery codes of the factor set up during this sign-in.
        codes: Option<Vec<SecretString>>,
    },
    /// Not (yet) signed in: the form that comes next.
    Next(Next),
}

/// The form a sign-in shows next, with the words of what happened.
#[derive(Debug)]
pub(crate) enum Next {
    /// The password form: a refusal, or a sign-in that expired.
    Password {
        /// The answer's status.
        status: StatusCode,
        /// The username to fill in again.
        username: String,
        /// What happened.
        message: String,
        /// Seconds to wait, when throttled.
        retry_after: Option<u64>,
    },
    /// The second step's form.
    Code {
        /// The sign-in waiting for it.
        step: SecondStep,
        /// The answer's status.
        status: StatusCode,
        /// What happened, if anything.
        message: Option<String>,
        /// Seconds to wait, when throttled.
        retry_after: Option<u64>,
    },
    /// Setting up the factor the policy demands.
    Enrol {
        /// The `enrollment_token`.
        token: String,
        /// A wrong code: the same set-up again, from what the form carried.
        refusal: Option<&'static str>,
    },
    /// Our own failure.
    Failure(Error),
}

impl Outcome {
    /// How the step went, as `tessera_auth_outcomes_total` counts it.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Outcome::SignedIn { .. } => "success",
            Outcome::Next(Next::Password {
                retry_after: Some(_),
                ..
            })
            | Outcome::Next(Next::Code {
                retry_after: Some(_),
                ..
            }) => "throttled",
            Outcome::Next(Next::Code { message: None, .. } | Next::Enrol { refusal: None, .. }) => {
                "challenged"
            }
            Outcome::Next(_) => "failure",
        }
    }
}

/// The password form again, with `message` and `status`.
fn password_form(status: StatusCode, username: &str, message: impl Into<String>) -> Outcome {
    Outcome::Next(Next::Password {
        status,
        username: username.to_owned(),
        message: message.into(),
        retry_after: None,
    })
}

/// What the domain's refusal `e` of a step makes the next form: the code
/// form again when the sign-in still waits for its second step (`step`),
/// the password form otherwise.
fn refused(e: Error, username: &str, step: Option<SecondStep>, wrong: &'static str) -> Outcome {
    match (e, step) {
        (Error::InvalidCode { .. }, Some(step)) => Outcome::Next(Next::Code {
            step,
            status: StatusCode::UNAUTHORIZED,
            message: Some(wrong.to_owned()),
            retry_after: None,
        }),
        (Error::TooManyAttempts { retry_after }, Some(step)) => Outcome::Next(Next::Code {
            step,
            status: StatusCode::TOO_MANY_REQUESTS,
            message: Some(words::too_many_attempts(retry_after)),
            retry_after: Some(retry_after),
        }),
        (Error::TooManyAttempts { retry_after }, None) => Outcome::Next(Next::Password {
            status: StatusCode::TOO_MANY_REQUESTS,
            username: username.to_owned(),
            message: words::too_many_attempts(retry_after),
            retry_after: Some(retry_after),
        }),
        (Error::InvalidMfaToken | Error::NotFound, _) => {
            password_form(StatusCode::UNAUTHORIZED, "", words::SIGN_IN_EXPIRED)
        }
        (Error::InvalidCredentials, _) => {
            password_form(StatusCode::UNAUTHORIZED, username, words::WRONG_PASSWORD)
        }
        (Error::EmailNotVerified, _) => password_form(
            StatusCode::FORBIDDEN,
            username,
            words::CONFIRM_ADDRESS_FIRST,
        ),
        (Error::InvalidCode { .. } | Error::Validation { .. }, None) => {
            password_form(StatusCode::UNAUTHORIZED, "", wrong)
        }
        (Error::MfaRequired(challenge), _) => Outcome::Next(Next::Code {
            step: SecondStep::of(&challenge),
            status: StatusCode::OK,
            message: None,
            retry_after: None,
        }),
        (Error::MfaEnrollmentRequired(challenge), _) => Outcome::Next(Next::Enrol {
            token: challenge.enrollment_token.expose_secret().to_owned(),
            refusal: None,
        }),
        (other, _) => Outcome::Next(Next::Failure(other)),
    }
}

/// Signed in, from the domain's `(browser, user, cookie)`.
fn signed_in(done: (BrowserSession, tessera_core::model::User, Option<String>)) -> Outcome {
    Outcome::SignedIn {
        browser: done.0,
        cookie: done.2,
        codes: None,
    }
}

/// Takes the step a submitted sign-in form asks for (its CSRF token
/// already checked), for a browser signed in as `current` if at all.
pub(crate) async fn take_step(
    tessera: &Tessera,
    form: &OAuthForm,
    client: &ClientInfo,
    current: Option<&BrowserSession>,
) -> Outcome {
    let sso = tessera.sso();
    let username = form.get("username").unwrap_or("");
    let mfa_token = form.get(MFA_TOKEN_FIELD);
    let step = mfa_token.map(|t| SecondStep::carried(form, t));
    // A passkey: alone, or as the second step of the sign-in `mfa_token` names.
    if let Some(credential) = form.get(CREDENTIAL_FIELD) {
        let Ok(credential) = serde_json::from_str::<serde_json::Value>(credential) else {
            return password_form(StatusCode::BAD_REQUEST, "", words::PASSKEY_REFUSED);
        };
        let result = match mfa_token {
            Some(token) => {
                sso.sso_second_step(token, Proof::Passkey(&credential), client, current)
                    .await
            }
            None => {
                sso.sso_sign_in_with_passkey(&credential, client, current)
                    .await
            }
        };
        return match result {
            Ok(done) => signed_in(done),
            Err(e) => refused(e, "", step, words::PASSKEY_REFUSED),
        };
    }
    // Setting up the factor the policy demands: the app's first code.
    if let Some(token) = form.get(ENROLLMENT_TOKEN_FIELD) {
        let factor = form
            .get("factor")
            .and_then(|f| Uuid::parse_str(f).ok())
            .unwrap_or_default();
        let code = form.get("code").unwrap_or("");
        return match sso
            .sso_sign_in_enrolled(token, factor, code, client, current)
            .await
        {
            Ok((browser, _, cookie, codes)) => Outcome::SignedIn {
                browser,
                cookie,
                codes: Some(codes),
            },
            Err(Error::InvalidCode { .. }) => Outcome::Next(Next::Enrol {
                token: token.to_owned(),
                refusal: Some(words::WRONG_CODE),
            }),
            Err(e) => refused(e, "", None, words::WRONG_CODE),
        };
    }
    // The second step: a code for the sign-in the password began.
    if let Some(token) = mfa_token {
        let code = form.get("code").unwrap_or("");
        return match sso
            .sso_second_step(token, Proof::Code(code), client, current)
            .await
        {
            Ok(done) => signed_in(done),
            Err(e) => refused(e, "", step, words::WRONG_CODE),
        };
    }
    // The password.
    let password = form.get("password").unwrap_or("");
    if username.is_empty() || password.is_empty() {
        return password_form(
            StatusCode::BAD_REQUEST,
            username,
            "Enter your username and password.",
        );
    }
    match sso.sso_sign_in(username, password, client, current).await {
        Ok(done) => signed_in(done),
        Err(e) => refused(e, username, None, words::WRONG_CODE),
    }
}
