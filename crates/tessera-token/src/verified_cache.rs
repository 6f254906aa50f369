//! A bounded cache of access tokens whose signature has already been
//! verified, so a token presented again skips parsing and the signature
//! check (tens of µs for ES256) — but never the checks that can change their
//! answer: expiry, revocation and whether its key still verifies run on
//! every use, so a logout or a role change refuses a cached token at once.

use crate::clock::Millis;
use crate::crypto::sha256;
use crate::revocation::RevocationSet;
use crate::tokens::{
    AccessClaims, KeySource, TokenError, VerifiedToken, VerifyPolicy, check_claims,
    verify_access_token_keyed,
};
use jsonwebtoken::Algorithm;
use std::collections::{HashMap, hash_map};
use std::sync::{Arc, RwLock};

/// How many verified tokens Tessera keeps by default. An entry holds the
/// claims (a few hundred bytes), so the cache stays under about 10 MiB
/// however many distinct tokens arrive (a little more while a retired
/// generation is being freed).
pub const DEFAULT_CAPACITY: usize = 16_384;

/// A token is found by the SHA-256 of its whole text: a forged or altered
/// token cannot collide with a verified one, and the cache never holds the
/// token itself.
type Digest = [u8; 32];

/// What a verified token left behind: its claims, and the key that verified
/// it, which must still verify when the token comes back.
#[derive(Debug)]
struct Entry {
    claims: Arc<AccessClaims>,
    kid: String,
    alg: Algorithm,
}

/// How many entries of a retired generation each insertion frees. Filling
/// a generation takes as many insertions as it holds entries, so a retired
/// generation is gone after an eighth of the next one has filled.
const FREED_PER_INSERT: usize = 8;

/// Two generations: entries go into `current`; when it is full it becomes
/// `previous` (retiring the older one), and a hit in `previous` moves the
/// entry back into `current`. Tokens in use stay; the rest age out. At most
/// twice `generation` entries are found; a retired generation is freed a few
/// entries per insertion, never thousands at once while the requests on the
/// same thread wait.
#[derive(Debug, Default)]
struct Generations {
    /// Where entries go.
    current: HashMap<Digest, Arc<Entry>>,
    /// The generation before; a hit here moves the entry into `current`.
    previous: HashMap<Digest, Arc<Entry>>,
    /// The generation before that, found no more and being freed
    /// [`FREED_PER_INSERT`] entries per insertion.
    retired: Option<hash_map::IntoIter<Digest, Arc<Entry>>>,
}

/// Verified access tokens by digest, bounded in size. Only tokens that
/// passed every rule of SPEC §5 are ever added, so a flood of distinct
/// forged tokens cannot grow it.
#[derive(Debug)]
pub struct VerifiedCache {
    generations: RwLock<Generations>,
    /// Entries per generation (0: the cache is off).
    generation: usize,
}

impl Default for VerifiedCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl VerifiedCache {
    /// A cache of at most about `capacity` tokens (0 turns caching off).
    pub fn new(capacity: usize) -> Self {
        VerifiedCache {
            generations: RwLock::default(),
            generation: capacity.div_ceil(2),
        }
    }

    /// Verifies an access token under every rule of SPEC §5 at `now_ms`, as
    /// [`crate::tokens::verify_access_token`] does, answering shared claims. A token verified before
    /// is not parsed or checked for its signature again; its expiry, `nbf`,
    /// `iat`, issuer, audience and revocation are, and so is whether the key
    /// that verified it still verifies (a retired or removed key refuses the
    /// token as `UnknownKey`).
    pub fn verify(
        &self,
        token: &str,
        keys: &(impl KeySource + ?Sized),
        revocations: &RevocationSet,
        policy: &VerifyPolicy,
        now_ms: Millis,
    ) -> Result<Arc<AccessClaims>, TokenError> {
        if self.generation == 0 {
            return verify_access_token_keyed(token, keys, revocations, policy, now_ms)
                .map(|v| Arc::new(v.claims));
        }
        let digest = sha256(token.as_bytes());
        if let Some(entry) = self.get(&digest) {
            match keys.verifying_key(&entry.kid, now_ms, policy.token_lifetime_ms) {
                Some(key) if key.alg() == entry.alg => {}
                Some(_) => return Err(TokenError::AlgorithmMismatch),
                None => return Err(TokenError::UnknownKey),
            }
            check_claims(&entry.claims, revocations, policy, now_ms)?;
            return Ok(entry.claims.clone());
        }
        let VerifiedToken { claims, kid, alg } =
            verify_access_token_keyed(token, keys, revocations, policy, now_ms)?;
        let claims = Arc::new(claims);
        self.insert(
            digest,
            Arc::new(Entry {
                claims: claims.clone(),
                kid,
                alg,
            }),
        );
        Ok(claims)
    }

    /// How many tokens are held.
    pub fn len(&self) -> usize {
        let g = self.generations.read().unwrap_or_else(|p| p.into_inner());
        g.current.len() + g.previous.len()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every token (e.g. after the keys changed).
    pub fn clear(&self) {
        let mut g = self.generations.write().unwrap_or_else(|p| p.into_inner());
        *g = Generations::default();
    }

    fn get(&self, digest: &Digest) -> Option<Arc<Entry>> {
        let found = {
            let g = self.generations.read().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = g.current.get(digest) {
                return Some(entry.clone());
            }
            g.previous.get(digest).cloned()
        }?;
        // Still in use: keep it through the next generation change.
        self.insert(*digest, found.clone());
        Some(found)
    }

    fn insert(&self, digest: Digest, entry: Arc<Entry>) {
        let mut freed: [Option<Arc<Entry>>; FREED_PER_INSERT] = Default::default();
        let (mut unfinished, mut emptied) = (None, None);
        {
            let mut g = self.generations.write().unwrap_or_else(|p| p.into_inner());
            if g.current.len() >= self.generation && !g.current.contains_key(&digest) {
                let fresh = HashMap::with_capacity(self.generation);
                let full = std::mem::replace(&mut g.current, fresh);
                let older = std::mem::replace(&mut g.previous, full);
                // A generation takes more insertions to fill than the one
                // retired before holds entries, so that one is already gone;
                // were it not, the rest would go at once.
                unfinished = g.retired.replace(older.into_iter());
            }
            g.previous.remove(&digest);
            g.current.insert(digest, entry);
            if let Some(retired) = g.retired.as_mut() {
                for slot in &mut freed {
                    *slot = retired.next().map(|(_, entry)| entry);
                }
                if retired.len() == 0 {
                    // Its table's memory too, after the lock.
                    emptied = g.retired.take();
                }
            }
        }
        // Freed after the lock is released, not while every other
        // verification waits.
        drop(freed);
        drop(unfinished);
        drop(emptied);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyRing, SigningKey, generate_private_key};
    use crate::revocation::{Revocation, RevocationKind};
    use crate::tokens::{ACCESS_TOKEN_TYP, Audience, new_jti, sign_jws};

    const NOW: Millis = 1_700_000_000_000;

    fn policy() -> VerifyPolicy {
        VerifyPolicy {
            issuer: "https://id.test".into(),
            audience: "https://id.test".into(),
            leeway_secs: 60,
            token_lifetime_ms: 960_000,
        }
    }

    fn claims(sid: &str, minted: Millis) -> AccessClaims {
        AccessClaims {
            iss: "https://id.test".into(),
            sub: "user-1".into(),
            aud: Audience::One("https://id.test".into()),
            exp: minted / 1000 + 900,
            iat: minted / 1000,
            nbf: Some(minted / 1000),
            jti: new_jti(minted),
            sid: Some(sid.into()),
            username: Some("alice".into()),
            roles: Some(vec!["user".into()]),
            client_id: None,
            scope: None,
            amr: None,
            auth_time: None,
        }
    }

    fn ring(alg: Algorithm) -> KeyRing {
        let key = if alg == Algorithm::HS256 {
            SigningKey::from_hmac_secret(alg, &[7u8; 32]).unwrap()
        } else {
            let der = generate_private_key(alg).unwrap();
            SigningKey::from_private_der(alg, &der, 0, 0, 1).unwrap()
        };
        KeyRing::new(vec![Arc::new(key)])
    }

    fn token(ring: &KeyRing, claims: &AccessClaims) -> String {
        sign_jws(ring.signer(NOW).unwrap(), ACCESS_TOKEN_TYP, claims).unwrap()
    }

    fn revocation(kind: RevocationKind, subject: &str, not_before: Millis) -> Revocation {
        Revocation {
            kind,
            subject: subject.into(),
            not_before,
            expires_at: NOW + 10_000_000,
        }
    }

    #[test]
    fn a_verified_token_is_cached_and_answers_the_same_claims() {
        let ring = ring(Algorithm::ES256);
        let (cache, revs) = (VerifiedCache::default(), RevocationSet::new());
        let c = claims("sid-1", NOW);
        let t = token(&ring, &c);
        assert_eq!(
            cache.verify(&t, &ring, &revs, &policy(), NOW),
            Ok(Arc::new(c.clone()))
        );
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.verify(&t, &ring, &revs, &policy(), NOW + 1),
            Ok(Arc::new(c))
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_refused_token_is_never_cached() {
        let ring = ring(Algorithm::ES256);
        let (cache, revs) = (VerifiedCache::default(), RevocationSet::new());
        let t = token(&ring, &claims("sid-1", NOW));
        // Another canonical last character: a different signature.
        let last = if t.ends_with('A') { 'Q' } else { 'A' };
        let forged = format!("{}{last}", &t[..t.len() - 1]);
        for _ in 0..3 {
            assert!(cache.verify(&forged, &ring, &revs, &policy(), NOW).is_err());
        }
        assert!(cache.is_empty());
    }

    #[test]
    fn a_revoked_sessions_cached_token_is_refused() {
        let ring = ring(Algorithm::ES256);
        let (cache, revs) = (VerifiedCache::default(), RevocationSet::new());
        let t = token(&ring, &claims("sid-1", NOW));
        assert!(cache.verify(&t, &ring, &revs, &policy(), NOW).is_ok());
        revs.apply(&revocation(RevocationKind::Session, "sid-1", 0));
        assert_eq!(
            cache.verify(&t, &ring, &revs, &policy(), NOW),
            Err(TokenError::Revoked)
        );
    }

    #[test]
    fn a_revoked_cached_token_is_refused_by_its_jti() {
        let ring = ring(Algorithm::HS256);
        let (cache, revs) = (VerifiedCache::default(), RevocationSet::new());
        let c = claims("sid-1", NOW);
        let t = token(&ring, &c);
        assert!(cache.verify(&t, &ring, &revs, &policy(), NOW).is_ok());
        revs.apply(&revocation(RevocationKind::Token, &c.jti, 0));
        assert_eq!(
            cache.verify(&t, &ring, &revs, &policy(), NOW),
            Err(TokenError::Revoked)
        );
    }

    #[test]
    fn a_role_change_cut_off_applies_to_a_cached_token() {
        let ring = ring(Algorithm::ES256);
        let (cache, revs) = (VerifiedCache::default(), RevocationSet::new());
        let before = token(&ring, &claims("sid-1", NOW));
        let after = token(&ring, &claims("sid-1", NOW + 5));
        assert!(cache.verify(&before, &ring, &revs, &policy(), NOW).is_ok());
        assert!(
            cache
                .verify(&after, &ring, &revs, &policy(), NOW + 5)
                .is_ok()
        );
        // The user's roles changed at NOW + 1: tokens minted before are refused.
        revs.apply(&revocation(RevocationKind::User, "user-1", NOW + 1));
        assert_eq!(
            cache.verify(&before, &ring, &revs, &policy(), NOW + 10),
            Err(TokenError::Revoked)
        );
        assert!(
            cache
                .verify(&after, &ring, &revs, &policy(), NOW + 10)
                .is_ok()
        );
    }

    #[test]
    fn an_expired_cached_token_is_refused() {
        let ring = ring(Algorithm::ES256);
        let (cache, revs) = (VerifiedCache::default(), RevocationSet::new());
        let t = token(&ring, &claims("sid-1", NOW));
        assert!(cache.verify(&t, &ring, &revs, &policy(), NOW).is_ok());
        // exp is NOW + 900 s; the leeway is 60 s.
        assert!(
            cache
                .verify(&t, &ring, &revs, &policy(), NOW + 959_000)
                .is_ok()
        );
        assert_eq!(
            cache.verify(&t, &ring, &revs, &policy(), NOW + 960_000),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_cached_token_whose_key_left_the_ring_is_refused() {
        let old = ring(Algorithm::ES256);
        let (cache, revs) = (VerifiedCache::default(), RevocationSet::new());
        let t = token(&old, &claims("sid-1", NOW));
        assert!(cache.verify(&t, &old, &revs, &policy(), NOW).is_ok());
        let other = ring(Algorithm::ES256);
        assert_eq!(
            cache.verify(&t, &other, &revs, &policy(), NOW),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn a_cached_token_whose_key_retired_is_refused() {
        let first = generate_private_key(Algorithm::ES256).unwrap();
        let second = generate_private_key(Algorithm::ES256).unwrap();
        let key = |der: &[u8], at: Millis, generation: i64| {
            Arc::new(
                SigningKey::from_private_der(Algorithm::ES256, der, 0, at, generation).unwrap(),
            )
        };
        // The first key signs from 0; the second supersedes it at NOW + 1.
        let ring = KeyRing::new(vec![key(&first, 0, 1), key(&second, NOW + 1, 2)]);
        let (cache, revs) = (VerifiedCache::default(), RevocationSet::new());
        let t = token(&ring, &claims("sid-1", NOW));
        // A policy whose token lifetime outlasts the token's exp would keep
        // the key longer than the token; a short one retires the key first.
        let short = VerifyPolicy {
            token_lifetime_ms: 1_000,
            ..policy()
        };
        assert!(cache.verify(&t, &ring, &revs, &short, NOW).is_ok());
        assert!(cache.verify(&t, &ring, &revs, &short, NOW + 500).is_ok());
        assert_eq!(
            cache.verify(&t, &ring, &revs, &short, NOW + 1_001),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let ring = ring(Algorithm::HS256);
        let (cache, revs) = (VerifiedCache::new(8), RevocationSet::new());
        let tokens: Vec<String> = (0..50)
            .map(|i| token(&ring, &claims(&format!("sid-{i}"), NOW)))
            .collect();
        for t in &tokens {
            assert!(cache.verify(t, &ring, &revs, &policy(), NOW).is_ok());
            assert!(cache.len() <= 8);
        }
        // A token in steady use survives the turnover of the others.
        let hot = &tokens[0];
        for t in &tokens {
            assert!(cache.verify(hot, &ring, &revs, &policy(), NOW).is_ok());
            assert!(cache.verify(t, &ring, &revs, &policy(), NOW).is_ok());
        }
        assert!(cache.len() <= 8);
    }

    #[test]
    fn a_retired_generation_is_freed_a_few_entries_per_insertion() {
        let ring = ring(Algorithm::HS256);
        let (cache, revs) = (VerifiedCache::new(64), RevocationSet::new());
        let verify = |i: usize| {
            let t = token(&ring, &claims(&format!("sid-{i}"), NOW));
            cache.verify(&t, &ring, &revs, &policy(), NOW).unwrap()
        };
        // The first generation's claims, shared with their entries.
        let first: Vec<Arc<AccessClaims>> = (0..32).map(verify).collect();
        let kept = || first.iter().filter(|c| Arc::strong_count(c) > 1).count();
        (32..64).for_each(|i| drop(verify(i)));
        assert_eq!(kept(), 32, "a full generation becomes the previous one");
        // The next insertion retires the first generation and frees a few.
        drop(verify(64));
        assert_eq!(kept(), 32 - FREED_PER_INSERT);
        drop(verify(65));
        assert_eq!(kept(), 32 - 2 * FREED_PER_INSERT);
        let last = 64 + 32usize.div_ceil(FREED_PER_INSERT);
        (66..last).for_each(|i| drop(verify(i)));
        assert_eq!(
            kept(),
            0,
            "all freed after 32 / {FREED_PER_INSERT} insertions"
        );
        let g = cache.generations.read().unwrap();
        assert!(g.retired.is_none(), "the emptied generation is let go");
        assert_eq!(g.current.len() + g.previous.len(), 32 + (last - 64));
    }

    #[test]
    fn a_zero_capacity_cache_verifies_without_keeping_anything() {
        let ring = ring(Algorithm::ES256);
        let (cache, revs) = (VerifiedCache::new(0), RevocationSet::new());
        let t = token(&ring, &claims("sid-1", NOW));
        assert!(cache.verify(&t, &ring, &revs, &policy(), NOW).is_ok());
        assert!(cache.is_empty());
    }
}
