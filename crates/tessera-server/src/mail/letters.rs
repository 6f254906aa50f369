//! Letters as mails: a subject, a plain-text part and an HTML part, each
//! from its template under `templates/mail/`, with the deployment's name,
//! the link, when it expires, and what to do if it wasn't you.

use askama::Template;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use tessera_core::mail::Letter;
use tessera_core::secret::{ExposeSecret, SecretString};
use tessera_token::clock::Millis;

/// What every letter says of the deployment.
#[derive(Debug, Clone)]
pub struct Sender {
    /// `From:`.
    pub from: Mailbox,
    /// The deployment's name (`TESSERA_DISPLAY_NAME`).
    pub site: String,
    /// Where people reach Tessera (`TESSERA_PUBLIC_URL`).
    pub public_url: String,
}

/// What every letter shows: its subject, the deployment, the account.
struct Common<'a> {
    subject: &'a str,
    site: &'a str,
    username: &'a str,
}

/// A letter's link and when it stops working.
struct Link<'a> {
    url: &'a str,
    expires: String,
    lifetime: String,
}

impl<'a> Link<'a> {
    /// `url`, which stops working at `expires_at`, in a mail sent at `now`.
    fn new(url: &'a SecretString, expires_at: Millis, now: Millis) -> Self {
        Link {
            url: url.expose_secret(),
            expires: when(expires_at),
            lifetime: lifetime(expires_at - now),
        }
    }
}

#[derive(Template)]
#[template(path = "mail/verify_email.txt")]
struct VerifyText<'a> {
    c: &'a Common<'a>,
    link: &'a Link<'a>,
}

#[derive(Template)]
#[template(path = "mail/verify_email.html")]
struct VerifyHtml<'a> {
    c: &'a Common<'a>,
    link: &'a Link<'a>,
}

#[derive(Template)]
#[template(path = "mail/reset_password.txt")]
struct ResetText<'a> {
    c: &'a Common<'a>,
    link: &'a Link<'a>,
}

#[derive(Template)]
#[template(path = "mail/reset_password.html")]
struct ResetHtml<'a> {
    c: &'a Common<'a>,
    link: &'a Link<'a>,
}

#[derive(Template)]
#[template(path = "mail/email_changed.txt")]
struct ChangedText<'a> {
    c: &'a Common<'a>,
    new_address: Option<&'a str>,
    reset_page: &'a str,
}

#[derive(Template)]
#[template(path = "mail/email_changed.html")]
struct ChangedHtml<'a> {
    c: &'a Common<'a>,
    new_address: Option<&'a str>,
    reset_page: &'a str,
}

/// `2026-12-05 14:30 UTC`.
fn when(at: Millis) -> String {
    let text = tessera_token::clock::rfc3339(at);
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => text,
    }
}

/// A link's lifetime in words: `30 minutes`, `24 hours`.
fn lifetime(ms: Millis) -> String {
    match (ms / 60_000).max(1) {
        1 => "1 minute".to_owned(),
        60 => "1 hour".to_owned(),
        m if m % 60 == 0 => format!("{} hours", m / 60),
        m => format!("{m} minutes"),
    }
}

/// An address with most of its local part hidden (`a***@example.com`), for
/// the notice to an old address: whoever reads that mailbox learns where
/// the account went without learning the address itself.
fn masked(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

impl Sender {
    /// The mail for `letter`, sent at `now`.
    pub fn mail(&self, letter: &Letter, now: Millis) -> Result<Message, String> {
        let to: Mailbox = letter
            .to()
            .parse()
            .map_err(|e| format!("the recipient is not an address lettre accepts ({e})"))?;
        let (subject, text, html) = self.parts(letter, now)?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| format!("cannot build the mail: {e}"))
    }

    /// The subject, the text part and the HTML part of `letter`.
    fn parts(&self, letter: &Letter, now: Millis) -> Result<(String, String, String), String> {
        let site = self.site.as_str();
        let subject = match letter {
            Letter::VerifyEmail { .. } => format!("Confirm your email address for {site}"),
            Letter::ResetPassword { .. } => format!("Reset your {site} password"),
            Letter::EmailChanged { .. } => format!("Your {site} email address was changed"),
        };
        let (Letter::VerifyEmail { username, .. }
        | Letter::ResetPassword { username, .. }
        | Letter::EmailChanged { username, .. }) = letter;
        let c = Common {
            subject: &subject,
            site,
            username,
        };
        let (text, html) = match letter {
            Letter::VerifyEmail {
                link, expires_at, ..
            } => {
                let link = &Link::new(link, *expires_at, now);
                let c = &c;
                (
                    VerifyText { c, link }.render(),
                    VerifyHtml { c, link }.render(),
                )
            }
            Letter::ResetPassword {
                link, expires_at, ..
            } => {
                let link = &Link::new(link, *expires_at, now);
                let c = &c;
                (
                    ResetText { c, link }.render(),
                    ResetHtml { c, link }.render(),
                )
            }
            Letter::EmailChanged { new_address, .. } => {
                let reset_page =
                    format!("{}/reset-password", self.public_url.trim_end_matches('/'));
                let new_address = new_address.as_deref().map(masked);
                let (c, new_address, reset_page) =
                    (&c, new_address.as_deref(), reset_page.as_str());
                (
                    ChangedText {
                        c,
                        new_address,
                        reset_page,
                    }
                    .render(),
                    ChangedHtml {
                        c,
                        new_address,
                        reset_page,
                    }
                    .render(),
                )
            }
        };
        let rendered = |r: askama::Result<String>| r.map_err(|e| format!("template: {e}"));
        Ok((subject.clone(), rendered(text)?, rendered(html)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::secret::SecretString;

    fn sender() -> Sender {
        Sender {
            from: "Acme <login@acme.example>".parse().unwrap(),
            site: "Acme".into(),
            public_url: "https://login.acme.example".into(),
        }
    }

    fn text_of(message: &Message) -> String {
        String::from_utf8_lossy(&message.formatted()).into_owned()
    }

    #[test]
    fn a_reset_mail_says_what_was_asked_when_it_expires_and_what_if_it_was_not_you() {
        let now = 1_780_000_000_000;
        let letter = Letter::ResetPassword {
            to: "ada@example.com".into(),
            username: "ada".into(),
            link: SecretString::from("https://login.acme.example/reset-password?token=abc"),
            expires_at: now + 30 * 60_000,
        };
        let (subject, text, html) = sender().parts(&letter, now).unwrap();
        assert_eq!(subject, "Reset your Acme password");
        for part in [&text, &html] {
            assert!(part.contains("https://login.acme.example/reset-password?token=abc"));
            assert!(
                part.contains("30 minutes") && part.contains("UTC"),
                "{part}"
            );
            assert!(part.contains("If this wasn't you") || part.contains("If this wasn&#39;t you"));
            assert!(part.contains("ada") && part.contains("Acme"));
        }
        assert!(html.contains("<a href=\"https://login.acme.example/reset-password?token=abc\""));
        let mail = text_of(&sender().mail(&letter, now).unwrap());
        assert!(mail.contains("Subject: Reset your Acme password"), "{mail}");
        assert!(mail.contains("multipart/alternative"));
        assert!(mail.contains("text/plain") && mail.contains("text/html"));
    }

    #[test]
    fn the_notice_to_an_old_address_hides_the_new_one() {
        let letter = Letter::EmailChanged {
            to: "old@example.com".into(),
            username: "ada".into(),
            new_address: Some("ada.lovelace@new.example".into()),
        };
        let (_, text, html) = sender().parts(&letter, 0).unwrap();
        for part in [text, html] {
            assert!(part.contains("a***@new.example"), "{part}");
            assert!(!part.contains("ada.lovelace@"));
            assert!(part.contains("https://login.acme.example/reset-password"));
        }
    }

    #[test]
    fn lifetimes_read_as_words() {
        assert_eq!(lifetime(30 * 60_000), "30 minutes");
        assert_eq!(lifetime(60 * 60_000), "1 hour");
        assert_eq!(lifetime(90 * 60_000), "90 minutes");
        assert_eq!(lifetime(24 * 3_600_000), "24 hours");
        assert_eq!(lifetime(1), "1 minute");
    }
}
