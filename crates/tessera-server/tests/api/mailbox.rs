//! A real SMTP server on 127.0.0.1 (mailin-embedded, on its own threads)
//! that keeps every mail it accepts, and what the tests read in them.

#![allow(dead_code, unreachable_pub)]

use mailin_embedded::{Handler, Server, response};
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A mail as it arrived.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope's recipients.
    pub to: Vec<String>,
    /// The message, transfer encodings undone (quoted-printable).
    pub text: String,
}

impl Mail {
    /// The `Subject:` header.
    pub fn subject(&self) -> String {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_owned()
    }

    /// The token of the first link to `page` (`/verify-email`, `/reset-password`).
    pub fn token(&self, page: &str) -> String {
        let marker = format!("{page}?token=");
        let at = self
            .text
            .find(&marker)
            .unwrap_or_else(|| panic!("no {page} link in {}", self.text));
        self.text[at + marker.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }

    /// The full address of the first link to `page`.
    pub fn link(&self, page: &str) -> String {
        let marker = format!("{page}?token=");
        let at = self.text.find(&marker).expect("a link");
        let start = self.text[..at].rfind("http").expect("an absolute link");
        format!("{}{}", &self.text[start..at], &marker) + &self.token(page)
    }
}

#[derive(Clone)]
struct Keeper {
    mails: Arc<Mutex<Vec<Mail>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Keeper {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let raw = String::from_utf8_lossy(&self.data).replace("\r\n", "\n");
        let decoded = quoted_printable::decode(raw.as_bytes(), quoted_printable::ParseMode::Robust)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or(raw);
        self.mails.lock().unwrap().push(Mail {
            to: std::mem::take(&mut self.to),
            text: decoded,
        });
        response::OK
    }

    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> mailin_embedded::Response {
        response::OK
    }
}

/// The SMTP server; it runs until the test process ends.
pub struct MailSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

/// A free port on 127.0.0.1 (for a relay that is not there yet).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `TESSERA_SMTP_URL` for a relay on `port`.
pub fn smtp_url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}?tls=none")
}

impl MailSink {
    /// Starts on a free port.
    pub fn start() -> MailSink {
        Self::listen(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// Starts on `port` (a relay that comes up late).
    pub fn start_on(port: u16) -> MailSink {
        Self::listen(TcpListener::bind(("127.0.0.1", port)).unwrap())
    }

    fn listen(listener: TcpListener) -> MailSink {
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let keeper = Keeper {
            mails: mails.clone(),
            to: Vec::new(),
            data: Vec::new(),
        };
        let mut server = Server::new(keeper);
        server.with_name("sink.test").with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        MailSink { port, mails }
    }

    /// `TESSERA_SMTP_URL` for this server.
    pub fn url(&self) -> String {
        smtp_url(self.port)
    }

    /// Every mail so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// The mails to `address` so far.
    pub fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// Waits (up to 15 s) until `address` has `n` mails; the `n`th.
    pub async fn nth_mail_to(&self, address: &str, n: usize) -> Mail {
        for _ in 0..300 {
            let mails = self.mails_to(address);
            if mails.len() >= n {
                return mails[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "mail {n} to {address} did not arrive; got {:?}",
            self.mails()
                .iter()
                .map(|m| (&m.to, m.subject()))
                .collect::<Vec<_>>()
        );
    }

    /// The first mail to `address`.
    pub async fn mail_to(&self, address: &str) -> Mail {
        self.nth_mail_to(address, 1).await
    }

    /// Asserts that `address` still has `n` mails after a moment in which
    /// a queued one would have arrived.
    pub async fn assert_count_stays(&self, address: &str, n: usize) {
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(self.mails_to(address).len(), n, "mails to {address}");
    }
}
