//! Human durations as configuration writes them: `900`, `900s`, `15m`, `12h`, `14d`.

use std::time::Duration;

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a number followed by an optional unit.
    #[error("expected a duration like 900, 900s, 15m, 12h or 14d")]
    Malformed,
    /// Zero where a positive duration is required.
    #[error("must be positive")]
    Zero,
    /// Longer than a hundred years.
    #[error("too large (at most 100 years)")]
    TooLarge,
}

/// The longest duration accepted: about a hundred years.
const MAX_SECS: u64 = 100 * 365 * 86_400;

/// Parses a duration; a bare number is seconds. Zero is allowed here;
/// [`parse_positive_duration`] refuses it.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() || digits.len() > 12 {
        return Err(if digits.len() > 12 {
            DurationError::TooLarge
        } else {
            DurationError::Malformed
        });
    }
    let value: u64 = digits.parse().map_err(|_| DurationError::Malformed)?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(DurationError::Malformed),
    };
    value
        .checked_mul(factor)
        .filter(|secs| *secs <= MAX_SECS)
        .map(Duration::from_secs)
        .ok_or(DurationError::TooLarge)
}

/// Parses a duration that must be greater than zero.
pub fn parse_positive_duration(text: &str) -> Result<Duration, DurationError> {
    match parse_duration(text)? {
        d if d.is_zero() => Err(DurationError::Zero),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_documented_form() {
        assert_eq!(parse_duration("900"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("900s"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("14d"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_malformed_and_zero() {
        for bad in ["", "s", "15 m", "1.5h", "-5s", "5w", "m15", "15mm"] {
            assert_eq!(
                parse_duration(bad),
                Err(DurationError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(parse_positive_duration("0"), Err(DurationError::Zero));
        assert_eq!(
            parse_duration("9999999999999d"),
            Err(DurationError::TooLarge)
        );
        assert_eq!(parse_duration("99999999999d"), Err(DurationError::TooLarge));
    }
}
