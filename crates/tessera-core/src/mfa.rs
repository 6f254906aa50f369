//! Second factors, the parts that need no database: TOTP codes (RFC 6238
//! through `totp-rs`), recovery codes, the `amr` values (RFC 8176) a
//! sign-in earns, and what a sign-in waiting for its second factor (or for
//! its enrolment) hands out.

use crate::secret::SecretString;
use tessera_token::clock::Millis;
use tessera_token::crypto::{random_bytes, sha256};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// A TOTP time step, in seconds.
pub const TOTP_STEP_SECS: u64 = 30;
/// Digits of a TOTP code.
const TOTP_DIGITS: usize = 6;
/// Bytes of a TOTP secret (160 bits, RFC 4226's recommendation).
pub const TOTP_SECRET_BYTES: usize = 20;
/// Recovery codes handed out at a time.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code.
const RECOVERY_CODE_CHARS: usize = 10;
/// Crockford's base32 alphabet: no `I`, `L`, `O` or `U`, so a code read
/// aloud or copied by hand survives.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// What kind of second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorKind {
    /// A time-based one-time password app.
    Totp,
    /// A WebAuthn credential.
    Passkey,
}

impl FactorKind {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
            FactorKind::Passkey => "passkey",
        }
    }

    /// The kind a stored name names.
    pub fn parse(name: &str) -> Option<FactorKind> {
        match name {
            "totp" => Some(FactorKind::Totp),
            "passkey" => Some(FactorKind::Passkey),
            _ => None,
        }
    }
}

/// How a person proved who they are, as RFC 8176 `amr` values.
pub mod amr {
    /// A password.
    pub const PASSWORD: &str = "pwd";
    /// A one-time password.
    pub const OTP: &str = "otp";
    /// A hardware-bound key (a passkey).
    pub const HARDWARE_KEY: &str = "hwk";
    /// More than one factor.
    pub const MFA: &str = "mfa";

    /// A password alone.
    pub fn password() -> Vec<String> {
        vec![PASSWORD.to_owned()]
    }

    /// A password and then `second` (`otp`, `hwk`, or nothing for a
    /// recovery code).
    pub fn password_and(second: Option<&str>) -> Vec<String> {
        let mut out = vec![PASSWORD.to_owned()];
        out.extend(second.map(str::to_owned));
        out.push(MFA.to_owned());
        out
    }

    /// Whether a sign-in used more than one factor.
    pub fn is_multi_factor(values: &[String]) -> bool {
        values.iter().any(|v| v == MFA)
    }

    /// The stored form (space-separated).
    pub fn to_stored(values: &[String]) -> String {
        values.join(" ")
    }

    /// The values a stored form holds; a session stored before second
    /// factors existed was signed in with a password.
    pub fn from_stored(stored: Option<&str>) -> Vec<String> {
        match stored {
            Some(s) if !s.trim().is_empty() => s.split_whitespace().map(str::to_owned).collect(),
            _ => password(),
        }
    }
}

/// What a sign-in still needs after a correct password: the single-use
/// `mfa_token` and the kinds of proof the person can give.
#[derive(Debug, Clone)]
pub struct MfaChallenge {
    /// Opaque, single use, 5 minutes.
    pub mfa_token: SecretString,
    /// `totp`, `passkey`, `recovery_code`: what the person can use.
    pub factors: Vec<&'static str>,
}

/// What a sign-in needs when the policy demands a second factor the person
/// has not set up: the `enrollment_token` that the `/me/factors…`
/// endpoints (and nothing else) accept while they set one up.
#[derive(Debug, Clone)]
pub struct EnrollmentChallenge {
    /// Opaque, not a JWT, 10 minutes.
    pub enrollment_token: SecretString,
}

/// A TOTP secret, its base32 form and the `otpauth://` URI an app scans.
#[derive(Debug)]
pub struct TotpSecret {
    /// The raw 20 bytes.
    pub bytes: Vec<u8>,
    /// Unpadded base32, as people type it.
    pub base32: SecretString,
    /// `otpauth://totp/ISSUER:USERNAME?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
    pub uri: SecretString,
}

impl TotpSecret {
    /// A new random secret for `username` at `issuer` (the deployment's name).
    pub fn generate(issuer: &str, username: &str) -> TotpSecret {
        TotpSecret::from_bytes(
            random_bytes::<TOTP_SECRET_BYTES>().to_vec(),
            issuer,
            username,
        )
    }

    /// The secret `bytes` for `username` at `issuer`.
    pub fn from_bytes(bytes: Vec<u8>, issuer: &str, username: &str) -> TotpSecret {
        let base32 = base32_unpadded(&bytes);
        let label = format!("{}:{}", uri_component(issuer), uri_component(username));
        let uri = format!(
            "otpauth://totp/{label}?secret={base32}&issuer={}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECS}",
            uri_component(issuer)
        );
        TotpSecret {
            bytes,
            base32: base32.into(),
            uri: uri.into(),
        }
    }
}

fn base32_unpadded(bytes: &[u8]) -> String {
    Secret::from(bytes.to_vec()).to_base32()
}

/// Percent-encodes a label or parameter of an `otpauth://` URI (spaces as
/// `%20`, as authenticator apps expect, never `+`).
fn uri_component(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn totp(secret: &[u8]) -> Totp {
    // SHA-1, 6 digits, 30 s and one step of drift either way: RFC 6238's
    // defaults, what every authenticator app assumes.
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(TOTP_DIGITS as u8)
        .with_step_duration(TOTP_STEP_SECS)
        .with_skew(1)
        .with_secret(secret.to_vec())
        .build_noncompliant()
}

/// The time step `now` falls in.
pub fn totp_step(now: Millis) -> i64 {
    now.div_euclid(1000).div_euclid(TOTP_STEP_SECS as i64)
}

/// The code of `secret` for time step `step`.
pub fn totp_code(secret: &[u8], step: i64) -> String {
    let secs = u64::try_from(step.max(0)).unwrap_or(0) * TOTP_STEP_SECS;
    totp(secret).generate(secs).to_string()
}

/// The time step whose code `code` is, among the step of `now` and one
/// either side, if it is later than `after` (the last step this factor
/// accepted, so a code works once). `totp-rs` compares in constant time.
pub fn totp_step_matching(
    secret: &[u8],
    code: &str,
    now: Millis,
    after: Option<i64>,
) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let secs = u64::try_from(now.div_euclid(1000)).ok()?;
    let step = i64::try_from(totp(secret).check(&code, secs)?).ok()?;
    after.is_none_or(|last| step > last).then_some(step)
}

/// A fresh set of recovery codes, as shown once (`ABCDE-FGHJK`: two groups of five).
pub fn new_recovery_codes() -> Vec<SecretString> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let raw = random_bytes::<RECOVERY_CODE_CHARS>();
            let chars: String = raw
                .iter()
                .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b & 31)]))
                .collect();
            let (a, b) = chars.split_at(RECOVERY_CODE_CHARS / 2);
            SecretString::from(format!("{a}-{b}"))
        })
        .collect()
}

/// A recovery code as typed, in its canonical form: upper case, without
/// `-` or spaces, Crockford's look-alikes (`O`, `I`, `L`) read as digits.
/// `None` when it cannot be a recovery code.
pub fn normalize_recovery_code(typed: &str) -> Option<String> {
    let canonical: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    (canonical.len() == RECOVERY_CODE_CHARS
        && canonical.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
    .then_some(canonical)
}

/// What the store keeps of a recovery code: a hash bound to its owner, so
/// one table of precomputed hashes does not serve every account.
pub fn recovery_code_hash(user_id: uuid::Uuid, canonical: &str) -> Vec<u8> {
    let mut input = Vec::with_capacity(64);
    input.extend_from_slice(b"tessera recovery code v1\0");
    input.extend_from_slice(user_id.as_bytes());
    input.extend_from_slice(canonical.as_bytes());
    sha256(&input).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ExposeSecret;

    /// RFC 6238 Appendix B, SHA-1 rows: the 20-byte ASCII secret
    /// "12345678901234567890", times and 8-digit codes; the 6-digit code is
    /// the last six digits.
    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let step = time / 30;
            assert_eq!(totp_code(secret, step), &eight[2..], "T = {time}");
        }
    }

    #[test]
    fn one_step_of_drift_either_way_and_no_more_and_never_twice() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_111_000;
        let step = totp_step(now);
        for drift in [-1, 0, 1] {
            let code = totp_code(secret, step + drift);
            assert_eq!(
                totp_step_matching(secret, &code, now, None),
                Some(step + drift)
            );
        }
        for drift in [-3, -2, 2, 3] {
            let code = totp_code(secret, step + drift);
            assert_eq!(totp_step_matching(secret, &code, now, None), None);
        }
        let code = totp_code(secret, step);
        assert_eq!(totp_step_matching(secret, &code, now, Some(step)), None);
        assert_eq!(
            totp_step_matching(secret, &code, now, Some(step - 1)),
            Some(step)
        );
        assert_eq!(totp_step_matching(secret, "12345", now, None), None);
        assert_eq!(totp_step_matching(secret, "abcdef", now, None), None);
    }

    #[test]
    fn the_otpauth_uri_names_issuer_account_and_parameters() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec(), "Acme SSO", "alice");
        assert_eq!(
            secret.base32.expose_secret(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(
            secret.uri.expose_secret(),
            "otpauth://totp/Acme%20SSO:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20SSO&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(TotpSecret::generate("x", "y").bytes.len(), 20);
    }

    #[test]
    fn recovery_codes_are_ten_distinct_codes_that_normalize_back() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let canonical: std::collections::BTreeSet<String> = codes
            .iter()
            .map(|c| {
                let c = c.expose_secret();
                assert_eq!(c.len(), 11);
                normalize_recovery_code(&c.to_lowercase()).expect("its own code")
            })
            .collect();
        assert_eq!(canonical.len(), 10);
        assert_eq!(
            normalize_recovery_code("abcde-fghjk").as_deref(),
            Some("ABCDEFGHJK")
        );
        assert_eq!(
            normalize_recovery_code("ABCDE fghjo").as_deref(),
            Some("ABCDEFGHJ0")
        );
        assert_eq!(normalize_recovery_code("ABCDE-FGHJ"), None);
        assert_eq!(normalize_recovery_code("ABCDE-FGHJU"), None);
        let user = uuid::Uuid::new_v4();
        assert_ne!(
            recovery_code_hash(user, "ABCDEFGHJK"),
            recovery_code_hash(uuid::Uuid::new_v4(), "ABCDEFGHJK")
        );
    }

    #[test]
    fn amr_values_round_trip_and_old_sessions_read_as_a_password() {
        let otp = amr::password_and(Some(amr::OTP));
        assert_eq!(otp, ["pwd", "otp", "mfa"]);
        assert!(amr::is_multi_factor(&otp));
        assert_eq!(amr::from_stored(Some(&amr::to_stored(&otp))), otp);
        assert_eq!(amr::from_stored(None), ["pwd"]);
        assert_eq!(amr::password_and(None), ["pwd", "mfa"]);
        assert!(!amr::is_multi_factor(&amr::password()));
    }
}
