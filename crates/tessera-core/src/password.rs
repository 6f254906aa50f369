//! Passwords: the acceptance policy (length, username, common-password list)
//! and Argon2id hashing on a small fixed pool of threads.

use crate::secret::{ExposeSecret, SecretString};
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
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

/// The bundled list (see `data/COMMON-PASSWORDS-SOURCE.md`): the 100,000 most
/// common passwords of the SecLists "10 million passwords" list, lower-cased,
/// one per line, most common first.
const COMMON_PASSWORDS_TEXT: &str = include_str!("../data/common-passwords.txt");

/// The bundled list sorted bytewise into one blob of lines, built on first
/// use and searched by bisection: about 780 KB in all, where a hash set of
/// the same entries takes three times that.
static COMMON_PASSWORDS: LazyLock<SortedLines> =
    LazyLock::new(|| SortedLines::new(COMMON_PASSWORDS_TEXT));

/// Distinct lines sorted bytewise and joined by `\n`, searched by bisection.
#[derive(Debug)]
struct SortedLines {
    blob: Box<str>,
    count: usize,
}

impl SortedLines {
    fn new(text: &str) -> Self {
        let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        lines.sort_unstable();
        lines.dedup();
        SortedLines {
            count: lines.len(),
            blob: lines.join("\n").into_boxed_str(),
        }
    }

    /// Whether `needle` is one of the lines. Each step looks at the line
    /// around the middle of the range still in question.
    fn contains(&self, needle: &str) -> bool {
        let bytes = self.blob.as_bytes();
        let needle = needle.as_bytes();
        // `lo` is always the start of a line, `hi` the end of one (or of the
        // blob); the lines in question are those in `lo..hi`.
        let (mut lo, mut hi) = (0, bytes.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let start = bytes[lo..mid]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(lo, |i| lo + i + 1);
            let end = bytes[start..hi]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(hi, |i| start + i);
            match bytes[start..end].cmp(needle) {
                std::cmp::Ordering::Equal => return true,
                std::cmp::Ordering::Less => lo = end + 1,
                std::cmp::Ordering::Greater => hi = start.saturating_sub(1),
            }
        }
        false
    }
}

/// Whether `password` (trimmed, compared case-insensitively) is on the bundled list.
pub fn is_common_password(password: &str) -> bool {
    COMMON_PASSWORDS.contains(&password.trim().to_lowercase())
}

/// Number of entries on the bundled list.
pub fn common_password_count() -> usize {
    COMMON_PASSWORDS.count
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
/// threads keep the allocator's per-thread arenas few and bounded. Argon2
/// memory is reused from hash to hash while logins keep coming, and handed
/// back to the system once the pool has been idle for [`IDLE_RELEASE`].
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
                    lower_priority();
                    loop {
                        let job = match queue.lock().map(|q| q.recv_timeout(IDLE_RELEASE)) {
                            Ok(Ok(job)) => job,
                            // Nothing to hash for a while: give the memory back.
                            Ok(Err(RecvTimeoutError::Timeout)) => {
                                release_spare_memory();
                                continue;
                            }
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
            &tessera_token::crypto::random_bytes::<16>(),
            &tessera_token::crypto::random_bytes::<32>(),
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
    pub async fn hash(&self, password: SecretString) -> Result<SecretString, HashError> {
        let cost = self.cost;
        self.run(move || {
            let salt = tessera_token::crypto::random_bytes::<16>();
            let mut out = [0u8; 32];
            compute(
                &argon2(cost)?,
                cost.params().map_err(|e| HashError(e.to_string()))?,
                password.expose_secret().as_bytes(),
                &salt,
                &mut out,
            )?;
            phc_string(cost, &salt, &out).map(SecretString::from)
        })
        .await
    }

    /// Verifies `password` against `hash`; with `None` it verifies against a
    /// dummy hash and reports failure, taking the same time.
    pub async fn verify(
        &self,
        password: SecretString,
        hash: Option<SecretString>,
    ) -> Result<Verified, HashError> {
        let cost = self.cost;
        let exists = hash.is_some();
        let hash = hash.unwrap_or_else(|| SecretString::from(self.dummy_hash.to_string()));
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(hash.expose_secret()) else {
                return Ok(Verified {
                    ok: false,
                    needs_rehash: false,
                });
            };
            let ok =
                verify_phc(&parsed, password.expose_secret().as_bytes()).unwrap_or(false) && exists;
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

/// How much lower than request handling the hashing threads run (added to
/// their nice value). A hash is milliseconds of pure CPU; at equal priority
/// a flood of logins would take half of a busy core from token verification
/// and stretch its latency. At nice +19 hashing gets all of a core that
/// request handling does not need, and only a small share (about 1.5%) of
/// one that request handling keeps busy: logins slow down under a
/// verification overload, verification does not slow down under a login
/// flood (SPEC §6).
const HASH_NICE: i32 = 19;

/// Lowers the calling thread's scheduling priority by [`HASH_NICE`]. On
/// Linux the nice value belongs to each thread; elsewhere nothing changes.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        if let Err(e) = rustix::process::nice(HASH_NICE) {
            tracing::debug!(error = %e, "cannot lower the hashing threads' priority");
        }
    }
}

/// How long the hashing pool waits for work before it returns its Argon2
/// memory to the system.
const IDLE_RELEASE: Duration = Duration::from_secs(2);

/// Argon2 memory not in use right now, kept for the next hash: at most one
/// block per hash running at once, so never more than the pool's threads.
static SPARE_MEMORY: Mutex<Vec<Vec<argon2::Block>>> = Mutex::new(Vec::new());

/// Blocks reserved for each Argon2 memory: beyond glibc's largest mmap
/// threshold (32 MiB), so the allocation is always a mapping of its own and
/// dropping it returns the memory to the system at once, however the
/// threshold has moved. Only the blocks a hash uses are ever touched
/// (19 MiB at the default cost); the rest is address space.
const RESERVED_BLOCKS: usize = (33 << 20) / std::mem::size_of::<argon2::Block>();

/// Returns every spare Argon2 memory to the system.
fn release_spare_memory() {
    SPARE_MEMORY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
}

/// Runs Argon2 into `out` with spare memory (or a new one), then keeps the
/// memory for the next hash.
fn compute(
    argon: &Argon2<'_>,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), HashError> {
    let needed = params.block_count();
    let spare = SPARE_MEMORY.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let mut blocks = spare.unwrap_or_default();
    if blocks.len() < needed {
        blocks = Vec::with_capacity(needed.max(RESERVED_BLOCKS));
        blocks.resize(needed, argon2::Block::default());
    }
    let result = argon
        .hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
        .map_err(|e| HashError(e.to_string()));
    SPARE_MEMORY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(blocks);
    result
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
    Ok(tessera_token::crypto::constant_time_eq(
        &out,
        expected.as_bytes(),
    ))
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

    #[test]
    fn every_listed_password_is_found_and_near_misses_are_not() {
        for line in COMMON_PASSWORDS_TEXT.lines() {
            assert!(is_common_password(line), "{line:?} is on the list");
            assert!(!COMMON_PASSWORDS.contains(&format!("{line}\u{1}")));
        }
        assert!(!COMMON_PASSWORDS.contains(""));
        assert!(!COMMON_PASSWORDS.contains("\u{10FFFF}"));
    }

    #[test]
    fn sorted_lines_bisect_small_lists_exactly() {
        let lines = SortedLines::new("m\nb\nzz\na\nb\nmm\n");
        assert_eq!(lines.count, 5);
        for present in ["a", "b", "m", "mm", "zz"] {
            assert!(lines.contains(present), "{present}");
        }
        for absent in ["", "0", "aa", "c", "ma", "mmm", "z", "zzz"] {
            assert!(!lines.contains(absent), "{absent}");
        }
        assert!(!SortedLines::new("").contains("a"));
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = PasswordHasher::new(CHEAP, 2).unwrap();
        let hash = hasher.hash("s3cret pass phrase".into()).await.unwrap();
        assert!(
            hash.expose_secret()
                .starts_with("$argon2id$v=19$m=256,t=1,p=1$")
        );
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
