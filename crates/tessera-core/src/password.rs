//! Passwords: the acceptance policy (length, username, common-password list)
//! and Argon2id hashing on a small fixed pool of threads.

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use tokio::sync::Semaphore;

/// The longest password accepted, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl HashCost {
    /// OWASP's recommended minimum for Argon2id: 19 MiB, 2 iterations, 1 lane.
    pub const OWASP: HashCost = HashCost {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    fn params(self) -> Result<Params, argon2::Error> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
    }
}

/// Why a password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    /// Fewer characters than the configured minimum.
    #[error("shorter than {0} characters")]
    TooShort(usize),
    /// More than [`MAX_PASSWORD_CHARS`] characters.
    #[error("longer than {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    /// Equals or contains the username.
    #[error("the password must not contain the username")]
    ContainsUsername,
    /// On the bundled list of common and breached passwords.
    #[error("the password is too common")]
    TooCommon,
}

/// The rules a new password must meet (NIST SP 800-63B: length and a
/// blocklist, no composition rules).
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    /// Minimum length in characters.
    pub min_chars: usize,
}

impl PasswordPolicy {
    /// Checks `password` for `username`.
    pub fn check(&self, username: &str, password: &str) -> Result<(), PasswordProblem> {
        let chars = password.chars().count();
        if chars < self.min_chars {
            return Err(PasswordProblem::TooShort(self.min_chars));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(PasswordProblem::TooLong);
        }
        if password.to_lowercase().contains(&username.to_lowercase()) {
            return Err(PasswordProblem::ContainsUsername);
        }
        if is_common_password(password) {
            return Err(PasswordProblem::TooCommon);
        }
        Ok(())
    }
}

/// The 100,000 most common passwords of the SecLists "10 million passwords"
/// list, lower-cased (see `data/COMMON-PASSWORDS-SOURCE.md`).
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .collect()
});

/// Whether `password` (trimmed, compared case-insensitively) is on the bundled list.
pub fn is_common_password(password: &str) -> bool {
    COMMON_PASSWORDS.contains(password.trim().to_lowercase().as_str())
}

/// Number of entries on the bundled list.
pub fn common_password_count() -> usize {
    COMMON_PASSWORDS.len()
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched.
    pub ok: bool,
    /// The hash used weaker parameters than configured and should be replaced.
    pub needs_rehash: bool,
}

/// Hashing failed (only for impossible parameters or a task that panicked).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads that do nothing but hash. Unlike a general
/// blocking pool, whose threads come and go by the hundred, a few long-lived
/// threads keep the allocator's per-thread arenas — each holding one
/// Argon2 memory block between hashes — few and bounded.
#[derive(Debug)]
struct HashPool {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl HashPool {
    fn new(threads: usize) -> Result<Self, HashError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("tessera-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = match queue.lock().map(|q| q.recv()) {
                            Ok(Ok(job)) => job,
                            // The hasher is gone: so is the work.
                            _ => return,
                        };
                        // A panicking job must not take the worker with it.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .map_err(|e| HashError(e.to_string()))?;
        }
        Ok(Self { jobs })
    }
}

/// Argon2id hashing and verification, off the async executor on a fixed
/// pool of threads and at most `concurrency` at a time, so a flood of logins
/// cannot starve other requests or use unbounded memory (each hash holds
/// `memory_kib` KiB).
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    cost: HashCost,
    permits: Arc<Semaphore>,
    pool: Arc<HashPool>,
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// A hasher with `cost`, running at most `concurrency` hashes at once.
    pub fn new(cost: HashCost, concurrency: usize) -> Result<Self, HashError> {
        cost.params().map_err(|e| HashError(e.to_string()))?;
        // Unknown usernames are verified against this hash so that the answer
        // takes as long as for a real user with a wrong password. Its output
        // is random bytes: verifying it does all the work and never matches.
        let dummy = phc_string(
            cost,
            &crate::crypto::random_bytes::<16>(),
            &crate::crypto::random_bytes::<32>(),
        )?;
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            pool: Arc::new(HashPool::new(concurrency.max(1))?),
            dummy_hash: dummy.into(),
        })
    }

    /// The configured cost.
    pub fn cost(&self) -> HashCost {
        self.cost
    }

    /// Hashes `password` into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let cost = self.cost;
        self.run(move || {
            let salt = crate::crypto::random_bytes::<16>();
            let mut out = [0u8; 32];
            compute(
                &argon2(cost)?,
                cost.params().map_err(|e| HashError(e.to_string()))?,
                password.as_bytes(),
                &salt,
                &mut out,
            )?;
            phc_string(cost, &salt, &out)
        })
        .await
    }

    /// Verifies `password` against `hash`; with `None` it verifies against a
    /// dummy hash and reports failure, taking the same time.
    pub async fn verify(
        &self,
        password: String,
        hash: Option<String>,
    ) -> Result<Verified, HashError> {
        let cost = self.cost;
        let exists = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return Ok(Verified {
                    ok: false,
                    needs_rehash: false,
                });
            };
            let ok = verify_phc(&parsed, password.as_bytes()).unwrap_or(false) && exists;
            Ok(Verified {
                ok,
                needs_rehash: ok && is_weaker(&parsed, cost),
            })
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.pool
            .jobs
            .send(job)
            .map_err(|e| HashError(e.to_string()))?;
        result
            .await
            .map_err(|_| HashError("the hashing job failed".into()))?
    }
}

fn argon2(cost: HashCost) -> Result<Argon2<'static>, HashError> {
    Ok(Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        cost.params().map_err(|e| HashError(e.to_string()))?,
    ))
}

thread_local! {
    /// This hashing thread's Argon2 memory, allocated once and reused, so the
    /// process holds one block per hashing thread however many hashes run.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs Argon2 into `out` with this thread's reusable memory.
fn compute(
    argon: &Argon2<'_>,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), HashError> {
    BLOCKS
        .with(|blocks| {
            let mut blocks = blocks.borrow_mut();
            let needed = params.block_count();
            if blocks.len() < needed {
                blocks.resize(needed, argon2::Block::default());
            }
            argon.hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
        })
        .map_err(|e| HashError(e.to_string()))
}

/// The PHC string of an Argon2id hash.
fn phc_string(cost: HashCost, salt: &[u8], output: &[u8]) -> Result<String, HashError> {
    let salt = SaltString::encode_b64(salt).map_err(|e| HashError(e.to_string()))?;
    let output =
        argon2::password_hash::Output::new(output).map_err(|e| HashError(e.to_string()))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        cost.memory_kib,
        cost.iterations,
        cost.parallelism,
        salt.as_str(),
        output
    ))
}

/// Recomputes a stored hash for `password` and compares in constant time.
fn verify_phc(hash: &PasswordHash<'_>, password: &[u8]) -> Result<bool, HashError> {
    let bad = |e: &dyn std::fmt::Display| HashError(e.to_string());
    let algorithm = Algorithm::new(hash.algorithm.as_str()).map_err(|e| bad(&e))?;
    let version = hash
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| bad(&e))?
        .unwrap_or(Version::V0x13);
    let params = Params::try_from(hash).map_err(|e| bad(&e))?;
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return Ok(false);
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(|e| bad(&e))?;
    let mut out = vec![0u8; expected.len()];
    compute(
        &Argon2::new(algorithm, version, params.clone()),
        params,
        password,
        salt,
        &mut out,
    )?;
    Ok(crate::crypto::constant_time_eq(&out, expected.as_bytes()))
}

/// Whether a stored hash is weaker than `cost` (or not Argon2id at all).
fn is_weaker(hash: &PasswordHash<'_>, cost: HashCost) -> bool {
    let param = |name: &str| hash.params.get_decimal(name).unwrap_or(0);
    hash.algorithm.as_str() != "argon2id"
        || param("m") < cost.memory_kib
        || param("t") < cost.iterations
        || param("p") < cost.parallelism
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashCost = HashCost {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn policy_refuses_short_long_username_and_common() {
        let policy = PasswordPolicy { min_chars: 12 };
        assert_eq!(
            policy.check("alice", "short"),
            Err(PasswordProblem::TooShort(12))
        );
        assert_eq!(
            policy.check("alice", &"x".repeat(129)),
            Err(PasswordProblem::TooLong)
        );
        assert_eq!(
            policy.check("alice", "my-ALICE-password-7"),
            Err(PasswordProblem::ContainsUsername)
        );
        assert_eq!(
            policy.check("bob", "password1234"),
            Err(PasswordProblem::TooCommon)
        );
        assert_eq!(policy.check("bob", "correct horse battery staple"), Ok(()));
        assert_eq!(
            policy.check("bob", "ünïcødé-pässwörd-✓"),
            Ok(()),
            "any Unicode is allowed"
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let policy = PasswordPolicy { min_chars: 12 };
        assert_eq!(
            policy.check("bob", "ééééééééééé"),
            Err(PasswordProblem::TooShort(12)),
            "11 chars, 22 bytes"
        );
    }

    #[test]
    fn bundled_list_is_large_and_case_insensitive() {
        assert!(common_password_count() >= 100_000);
        assert!(is_common_password("PASSWORD"));
        assert!(is_common_password("qwerty123"));
        assert!(!is_common_password("a rather unusual passphrase"));
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = PasswordHasher::new(CHEAP, 2).unwrap();
        let hash = hasher.hash("s3cret pass phrase".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        assert!(
            hasher
                .verify("s3cret pass phrase".into(), Some(hash.clone()))
                .await
                .unwrap()
                .ok
        );
        assert!(!hasher.verify("wrong".into(), Some(hash)).await.unwrap().ok);
        assert!(
            !hasher.verify("anything".into(), None).await.unwrap().ok,
            "dummy never matches"
        );
    }

    #[test]
    fn hashes_are_interchangeable_with_the_argon2_crates_own() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        let theirs = argon2(CHEAP)
            .unwrap()
            .hash_password(b"pass phrase", &salt)
            .unwrap()
            .to_string();
        assert!(verify_phc(&PasswordHash::new(&theirs).unwrap(), b"pass phrase").unwrap());
        assert!(!verify_phc(&PasswordHash::new(&theirs).unwrap(), b"pass phrasE").unwrap());
        let mut out = [0u8; 32];
        compute(
            &argon2(CHEAP).unwrap(),
            CHEAP.params().unwrap(),
            b"pass phrase",
            b"sixteen byte slt",
            &mut out,
        )
        .unwrap();
        let ours = phc_string(CHEAP, b"sixteen byte slt", &out).unwrap();
        assert_eq!(ours, theirs);
        assert!(
            Argon2::default()
                .verify_password(b"pass phrase", &PasswordHash::new(&ours).unwrap())
                .is_ok()
        );
    }

    #[tokio::test]
    async fn weaker_hashes_ask_to_be_upgraded() {
        let weak = PasswordHasher::new(CHEAP, 1).unwrap();
        let strong = PasswordHasher::new(
            HashCost {
                memory_kib: 512,
                ..CHEAP
            },
            1,
        )
        .unwrap();
        let hash = weak.hash("pass phrase here".into()).await.unwrap();
        let v = strong
            .verify("pass phrase here".into(), Some(hash))
            .await
            .unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
    }
}
