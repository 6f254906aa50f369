//! Small cryptographic helpers shared by the domain: randomness, hashing,
//! base64url, constant-time comparison and sealing a secret under another.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
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

/// Seals `secret` (AES-256-GCM) under a key derived from `key_material`
/// with domain separation by `context`. The output is `nonce || ciphertext`.
pub fn seal(key_material: &[u8], context: &[u8], secret: &[u8]) -> Vec<u8> {
    let key = aead_key(key_material, context);
    let nonce_bytes = random_bytes::<NONCE_LEN>();
    let mut in_out = secret.to_vec();
    // Sealing only fails for inputs larger than GCM allows (64 GiB).
    if key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(context),
            &mut in_out,
        )
        .is_err()
    {
        return Vec::new();
    }
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&in_out);
    out
}

/// Opens what [`seal`] produced; `None` if the key or data is wrong.
pub fn open(key_material: &[u8], context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let key = aead_key(key_material, context);
    let mut in_out = ciphertext.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(context), &mut in_out)
        .ok()?;
    Some(plain.to_vec())
}

fn aead_key(key_material: &[u8], context: &[u8]) -> LessSafeKey {
    let mut input = Vec::with_capacity(context.len() + 1 + key_material.len());
    input.extend_from_slice(context);
    input.push(0);
    input.extend_from_slice(key_material);
    let derived = sha256(&input);
    #[expect(
        clippy::expect_used,
        reason = "a 32-byte key is always valid for AES-256-GCM"
    )]
    let unbound = UnboundKey::new(&AES_256_GCM, &derived).expect("32-byte AES-256 key");
    LessSafeKey::new(unbound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_only_with_the_same_key_and_context() {
        let sealed = seal(b"key one", b"ctx", b"the secret");
        assert_eq!(
            open(b"key one", b"ctx", &sealed).as_deref(),
            Some(&b"the secret"[..])
        );
        assert_eq!(open(b"key two", b"ctx", &sealed), None);
        assert_eq!(open(b"key one", b"other", &sealed), None);
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(open(b"key one", b"ctx", &tampered), None);
    }

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

    #[test]
    fn constant_time_eq_compares_contents() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
