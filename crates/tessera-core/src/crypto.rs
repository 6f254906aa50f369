//! Sealing a secret under another (AES-256-GCM with a derived key): the
//! successor of a rotated refresh token, and private keys at rest.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use tessera_token::crypto::{random_bytes, sha256};

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
}
