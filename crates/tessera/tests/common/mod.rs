//! Harness shared by the binary's test suites: child processes that die with
//! their test, and starting `tessera serve` until it logs its address.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Kills its child when dropped, whatever happened in the test.
pub(crate) struct ChildGuard(pub(crate) Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a pipe to its end on a thread (so a full pipe never blocks the child).
pub(crate) fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// The address in "Tessera listening on http://ADDR".
pub(crate) fn listening_address(line: &str) -> Option<String> {
    let rest = line.split("Tessera listening on http://").nth(1)?;
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    (!addr.is_empty()).then_some(addr)
}

/// Spawns a `tessera serve` command, collects its log, and waits (up to
/// `timeout`) until it reports the address it listens on.
pub(crate) fn spawn_server(
    mut cmd: Command,
    timeout: Duration,
) -> (ChildGuard, String, Arc<Mutex<String>>) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = ChildGuard(cmd.spawn().expect("spawn tessera serve"));
    let stderr = child.0.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = listening_address(&line) {
                let _ = tx.send(addr);
            }
            let mut log = sink.lock().expect("log");
            log.push_str(&line);
            log.push('\n');
        }
    });
    let Ok(addr) = rx.recv_timeout(timeout) else {
        let status = child.0.try_wait().ok().flatten();
        panic!(
            "tessera did not report its address (exit {status:?}); log:\n{}",
            log.lock().expect("log")
        );
    };
    (child, addr, log)
}
