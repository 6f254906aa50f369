//! A phase's results as a row of the Markdown table of
//! docs/operations.md, and what went wrong in it, line by line.

use super::{Fault, Phase};
use std::time::Duration;

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1_000.0)
}

impl Phase {
    /// The head of the results table (Markdown).
    pub fn header() -> String {
        "| fault | what it did | load (req/s) | acknowledged writes | lost | promises broken | revocation bound p99 / max (ms, n) | writes failed during | writes failed after | recovery (ms) | writes failed in the last 2 s | slowest failure (ms) | /readyz not 200 after (ms) | ready again (ms) | verify during (200/all) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
            .to_owned()
    }

    /// This phase as a row of that table.
    pub fn row(&self) -> String {
        let pct = |(failed, all): (usize, usize)| {
            if all == 0 {
                "0 / 0".to_owned()
            } else {
                format!(
                    "{failed} / {all} ({:.1}%)",
                    failed as f64 * 100.0 / all as f64
                )
            }
        };
        let bound = match (self.bound(0.99), self.bound(1.0)) {
            (Some(p99), Some(max)) => format!(
                "{} / {} ({})",
                ms(p99),
                ms(max),
                self.revocation_bounds.len()
            ),
            _ => "—".into(),
        };
        format!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |",
            self.fault.map_or("?", Fault::name),
            self.note,
            self.rate,
            self.acknowledged_total(),
            self.lost.len(),
            self.violations.len(),
            bound,
            pct(self.failed_during),
            pct(self.failed_after),
            ms(self.recovery),
            pct(self.failed_tail),
            ms(self.slowest_failure),
            self.not_ready_after.map_or("—".into(), ms),
            self.ready_again_after.map_or("—".into(), ms),
            self.verified_during.0,
            self.verified_during.1,
        )
    }

    /// What went wrong, line by line (at most a few of each kind).
    pub fn details(&self) -> Vec<String> {
        let mut out = Vec::new();
        let by_kind: Vec<String> = self
            .acknowledged
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        out.push(format!("acknowledged: {}", by_kind.join(", ")));
        out.push(format!(
            "checks: {} requests, {} unanswered",
            self.checks.0, self.checks.1
        ));
        if let Some(op) = self.slowest_failure_op {
            out.push(format!(
                "slowest failure: {} after {} ms",
                op.name(),
                ms(self.slowest_failure)
            ));
        }
        if !self.failures.is_empty() {
            let reasons: Vec<String> = self
                .failures
                .iter()
                .map(|(reason, n)| format!("{reason} ×{n}"))
                .collect();
            out.push(format!("failures: {}", reasons.join(", ")));
        }
        for (what, list) in [
            ("LOST", &self.lost),
            ("BROKEN", &self.violations),
            ("unexpected", &self.anomalies),
            ("stale while cut off", &self.stale_while_cut_off),
        ] {
            for line in list.iter().take(5) {
                out.push(format!("{what}: {line}"));
            }
            if list.len() > 5 {
                out.push(format!("{what}: … {} more", list.len() - 5));
            }
        }
        out
    }
}
