//! Small cryptographic helpers of the token layer: randomness, SHA-256,
//! strict base64url and constant-time comparison.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Fills a fresh array with bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // aws-lc's RNG only fails if the OS entropy source is gone; nothing
    // sensible can continue without it.
    #[expect(
        clippy::expect_used,
        reason = "no request can influence the OS entropy source"
    )]
    aws_lc_rs::rand::fill(&mut out).expect("the operating system's random source failed");
    out
}

/// base64url without padding (RFC 7515 §2).
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url decoding: no padding, canonical trailing bits.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64url_decode("AQ").as_deref(), Some(&[1u8][..]));
        assert_eq!(b64url_decode("AQ=="), None, "padding refused");
        assert_eq!(
            b64url_decode("AR"),
            None,
            "non-canonical trailing bits refused"
        );
        assert_eq!(b64url_decode("A+"), None, "standard alphabet refused");
    }

    /// aws-lc is built without its CPU-jitter entropy collector
    /// (`.cargo/config.toml`), which would cost every start of the server
    /// tens of milliseconds before its first random byte: the collector's
    /// code is not in this test's program, which draws random bytes
    /// through aws-lc as the server does.
    #[test]
    fn random_bytes_come_from_the_operating_system() {
        assert_ne!(random_bytes::<32>(), random_bytes::<32>());
        let program = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        // The collector's entry point, spelt backwards here so that this
        // test's own text does not hold the name it looks for.
        let collector: Vec<u8> = b"tini_yportne_tnej".iter().rev().copied().collect();
        assert!(
            !program
                .windows(collector.len())
                .any(|w| w == collector.as_slice()),
            "aws-lc was built with its CPU-jitter entropy collector: \
             is AWS_LC_SYS_NO_JITTER_ENTROPY set (.cargo/config.toml)?"
        );
    }

    #[test]
    fn constant_time_eq_compares_contents() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
