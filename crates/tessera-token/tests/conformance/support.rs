//! What every conformance module uses: loading the vendored vectors, reading
//! Wycheproof's test groups, judging outcomes against the vector's verdicts
//! and a deviation table, and the configured-HMAC-secret key source.

use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use tessera_token::clock::Millis;
use tessera_token::keys::{SigningKey, VerifyingKey};
use tessera_token::tokens::KeySource;

/// The vendored vectors, `tests/vectors/`.
pub(crate) const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");

/// Any instant: none of these vectors carries claims Tessera would check.
pub(crate) const NOW: Millis = 1_700_000_000_000;

pub(crate) fn load(relative: &str) -> Value {
    let path = format!("{VECTORS}/{relative}");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("test vector missing at {path} ({e})"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

pub(crate) fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

pub(crate) fn groups(file: &Value) -> &[Value] {
    file["testGroups"].as_array().expect("testGroups")
}

pub(crate) fn tests(group: &Value) -> &[Value] {
    group["tests"].as_array().expect("tests")
}

pub(crate) fn tc_id(test: &Value) -> u64 {
    test["tcId"].as_u64().expect("tcId")
}

pub(crate) fn result(test: &Value) -> &str {
    test["result"].as_str().expect("result")
}

/// What happened to the cases of one file.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) ran: usize,
    accepted: usize,
    refused: usize,
    /// Cases decided against the vector's verdict, each listed with its
    /// reason.
    deviations: usize,
    /// `acceptable` cases and how each was decided.
    acceptable: Vec<(u64, bool)>,
}

impl Tally {
    fn count(&mut self, accepted: bool) {
        self.ran += 1;
        if accepted {
            self.accepted += 1;
        } else {
            self.refused += 1;
        }
    }

    fn report(&self, file: &str) {
        eprintln!(
            "{file}: ran {}, accepted {}, refused {}, deviations {}{}",
            self.ran,
            self.accepted,
            self.refused,
            self.deviations,
            if self.acceptable.is_empty() {
                String::new()
            } else {
                format!(", acceptable (tcId, accepted) {:?}", self.acceptable)
            }
        );
        assert!(self.ran > 0, "{file} yielded no cases");
    }
}

/// Checks every case against the vector's verdict and the deviation table:
/// `outcomes` maps tcId to (vector result, accepted, what Tessera said).
pub(crate) fn judge(
    file: &str,
    outcomes: &BTreeMap<u64, (String, bool, String)>,
    deviations: &BTreeMap<u64, &'static str>,
) -> Tally {
    let mut tally = Tally::default();
    let mut wrong = Vec::new();
    for (&tc, (expected, accepted, said)) in outcomes {
        tally.count(*accepted);
        let listed = deviations.get(&tc);
        match (expected.as_str(), *accepted, listed) {
            ("valid", true, None) | ("invalid", false, None) => {}
            ("valid", false, Some(_)) | ("invalid", true, Some(_)) => tally.deviations += 1,
            ("acceptable", accepted, None) => tally.acceptable.push((tc, accepted)),
            _ => wrong.push(format!(
                "tcId {tc}: vector says {expected}, Tessera {} ({said}); deviation table: {listed:?}",
                if *accepted { "accepted" } else { "refused" }
            )),
        }
    }
    let unknown: Vec<_> = deviations
        .keys()
        .filter(|tc| !outcomes.contains_key(tc))
        .collect();
    assert!(
        unknown.is_empty(),
        "{file}: deviation table names cases that do not exist: {unknown:?}"
    );
    assert!(
        wrong.is_empty(),
        "{file}: {} case(s) differ from the vectors and the deviation table:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    tally.report(file);
    tally
}

// ---------------------------------------------------------------------------
// Key sources: how the vectors' keys enter Tessera.

/// A configured HMAC secret (Tessera never reads a symmetric key from a JWK)
/// under the vector's key id.
pub(crate) struct Secret {
    pub(crate) kid: String,
    pub(crate) key: SigningKey,
}

impl KeySource for Secret {
    fn verifying_key(
        &self,
        kid: &str,
        _now_ms: Millis,
        _lifetime: Millis,
    ) -> Option<Cow<'_, VerifyingKey>> {
        (kid == self.kid).then(|| Cow::Borrowed(self.key.verifying_key()))
    }
}
