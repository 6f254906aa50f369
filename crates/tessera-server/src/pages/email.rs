//! The pages a mailed link opens (SPEC §12): confirming an address, asking
//! for a reset link, and choosing a new password with one.

use super::{FieldErrors, Site, page};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyPage<'a> {
    site: &'a Site,
    token: &'a str,
}

#[derive(Template)]
#[template(path = "reset_request.html")]
struct ResetRequestPage<'a> {
    site: &'a Site,
    account: &'a str,
    lifetime: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPage<'a> {
    site: &'a Site,
    token: &'a str,
    password_min: usize,
    errors: &'a FieldErrors,
}

#[derive(Template)]
#[template(path = "link_done.html")]
struct DonePage<'a> {
    site: &'a Site,
    heading: &'a str,
    message: &'a str,
    next: &'a str,
    next_label: &'a str,
}

/// The page of a verification link: a button that posts its token.
pub fn verify_email(site: &Site, token: &str) -> Response {
    page(StatusCode::OK, &VerifyPage { site, token })
}

/// The form that asks for a reset link, with `account` filled in.
pub fn reset_request(
    site: &Site,
    status: StatusCode,
    account: &str,
    lifetime: &str,
    error: Option<&str>,
) -> Response {
    page(
        status,
        &ResetRequestPage {
            site,
            account,
            lifetime,
            error,
        },
    )
}

/// The form of a reset link: a new password, twice.
pub fn reset_password(
    site: &Site,
    status: StatusCode,
    token: &str,
    password_min: usize,
    errors: &FieldErrors,
) -> Response {
    page(
        status,
        &ResetPage {
            site,
            token,
            password_min,
            errors,
        },
    )
}

/// What a link did, and the way on.
pub fn done(
    site: &Site,
    status: StatusCode,
    heading: &str,
    message: &str,
    next: (&str, &str),
) -> Response {
    page(
        status,
        &DonePage {
            site,
            heading,
            message,
            next: next.0,
            next_label: next.1,
        },
    )
}
