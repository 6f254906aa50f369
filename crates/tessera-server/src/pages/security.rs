//! A person's security page (`/account/security`): two-step verification
//! (their authenticator apps, setting one up with a QR code, recovery
//! codes) and their recent security events.

use super::account::Nav;
use super::{FieldErrors, Site, page, page_with_script};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

/// One of the person's security events.
#[derive(Debug, Clone)]
pub struct EventLine {
    /// What happened, in words.
    pub what: String,
    /// When.
    pub when: String,
    /// From where: the address and device.
    pub from: String,
    /// Whether it was refused (a failed sign-in, a wrong password).
    pub refused: bool,
}

/// One of the person's second factors.
#[derive(Debug, Clone)]
pub struct FactorLine {
    /// Its id, which its removal form names.
    pub id: String,
    /// Its name.
    pub name: String,
    /// What kind, in words.
    pub kind: &'static str,
    /// When it was added, in words.
    pub added: String,
    /// When it last signed the person in, in words.
    pub last_used: String,
}

/// What the security page shows.
#[derive(Debug, Clone, Copy)]
pub struct Security<'a> {
    /// The person's active factors.
    pub factors: &'a [FactorLine],
    /// Unused recovery codes.
    pub codes_left: i64,
    /// Their recent security events.
    pub events: &'a [EventLine],
    /// What just happened.
    pub notice: Option<&'a str>,
    /// What is wrong with which form's field.
    pub errors: &'a FieldErrors,
    /// Whether passkeys can be added here (a public URL with a domain name).
    pub passkeys: bool,
    /// The person's email address and whether it is confirmed.
    pub email: Option<(&'a str, bool)>,
    /// Whether the server sends mail (so a link can be asked for).
    pub mail: bool,
}

impl Security<'_> {
    /// Whether so few recovery codes are left that the page warns.
    pub fn few_codes(&self) -> bool {
        self.codes_left <= 3
    }
}

#[derive(Template)]
#[template(path = "account/security.html")]
struct SecurityPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    security: &'a Security<'a>,
    errors: &'a FieldErrors,
}

/// An authenticator app being set up: the secret as a QR code and as text,
/// and the form that confirms it with a code.
#[derive(Debug, Clone, Copy)]
pub struct TotpSetup<'a> {
    /// The factor waiting for its first code.
    pub factor_id: &'a str,
    /// Its name.
    pub name: &'a str,
    /// The secret, unpadded base32.
    pub secret: &'a str,
    /// The `otpauth://` URI the QR code holds.
    pub uri: &'a str,
    /// The QR code, an SVG rendered here.
    pub qr_svg: &'a str,
    /// What went wrong with the code, if anything.
    pub error: Option<&'a str>,
}

impl TotpSetup<'_> {
    /// The secret in groups of four, as people type it.
    pub fn grouped_secret(&self) -> String {
        grouped(self.secret)
    }
}

/// A TOTP key in groups of four, as people type it.
pub fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Template)]
#[template(path = "account/totp_setup.html")]
struct TotpSetupPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    setup: &'a TotpSetup<'a>,
}

#[derive(Template)]
#[template(path = "account/recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    site: &'a Site,
    nav: Nav<'a>,
    codes: &'a [&'a str],
    first: bool,
}

/// The security page with `status`.
pub fn security(
    site: &Site,
    status: StatusCode,
    nav: Nav<'_>,
    security: &Security<'_>,
) -> Response {
    let page_of = if security.passkeys {
        page_with_script
    } else {
        page
    };
    page_of(
        status,
        &SecurityPage {
            site,
            nav,
            security,
            errors: security.errors,
        },
    )
}

/// The set-up page of an authenticator app with `status`.
pub fn totp_setup(
    site: &Site,
    status: StatusCode,
    nav: Nav<'_>,
    setup: &TotpSetup<'_>,
) -> Response {
    page(status, &TotpSetupPage { site, nav, setup })
}

/// New recovery codes, shown once (`first`: they came with the first factor).
pub fn recovery_codes(site: &Site, nav: Nav<'_>, codes: &[&str], first: bool) -> Response {
    page(
        StatusCode::OK,
        &RecoveryCodesPage {
            site,
            nav,
            codes,
            first,
        },
    )
}

/// `uri` as a QR code: an SVG element to place in a page (no script, no
/// image from elsewhere), dark on light whatever the page's colours.
pub fn qr_svg(uri: &str, label: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let start = svg.find("<svg")?;
    let label = askama::filters::escape(label, askama::filters::Html)
        .ok()?
        .to_string();
    Some(svg[start..].replacen(
        "<svg",
        &format!("<svg role=\"img\" aria-label=\"{label}\""),
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_a_bare_svg_with_a_label_and_nothing_to_run() {
        let svg = qr_svg("otpauth://totp/A:b?secret=ABC", "QR \"code\"").unwrap();
        assert!(
            svg.starts_with("<svg role=\"img\" aria-label=\"QR &#34;code&#34;\""),
            "{svg}"
        );
        assert!(!svg.contains("<?xml") && !svg.contains("<script"));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn the_secret_reads_in_groups_of_four() {
        let setup = TotpSetup {
            factor_id: "f",
            name: "Phone",
            secret: "GEZDGNBVGY3TQOJQ",
            uri: "",
            qr_svg: "",
            error: None,
        };
        assert_eq!(setup.grouped_secret(), "GEZD GNBV GY3T QOJQ");
    }
}
