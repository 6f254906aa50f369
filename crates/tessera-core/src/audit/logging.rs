//! The security log: each audit entry as a log line.

use super::Outcome;
use crate::store::AuditEntry;

/// Logs a security outcome under the target `tessera::security`: a refusal
/// (a failed sign-in, refresh-token reuse, a wrong current password) at
/// WARN, anything else at INFO, except routine refreshes (DEBUG: the access
/// log has them). What a client typed (a username) is written quoted, so it
/// cannot forge a log line; an entry never holds a secret.
pub fn log(entry: &AuditEntry) {
    const TARGET: &str = "tessera::security";
    let AuditEntry {
        event,
        actor,
        subject,
        ip,
        detail,
        ..
    } = entry;
    if entry.outcome == Outcome::Failure.as_str() {
        tracing::warn!(target: TARGET, event = %event, actor = ?actor, subject = ?subject, ip = ?ip, detail = ?detail, "refused");
    } else if event == "refresh" {
        tracing::debug!(target: TARGET, event = %event, actor = ?actor, ip = ?ip, "done");
    } else {
        tracing::info!(target: TARGET, event = %event, actor = ?actor, subject = ?subject, ip = ?ip, detail = ?detail, "done");
    }
}
