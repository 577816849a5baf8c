//! Password hashing with Argon2id (OWASP parameters: m=19 MiB, t=2, p=1), off the async threads.

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// Hashes a password to a PHC string.
///
/// # Errors
/// When hashing fails (it does not for valid inputs).
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// At most one Argon2 computation per core at a time: more would only queue on the CPU while each
/// holds its 19 MiB of memory.
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
});

/// Argon2 working memory (19 MiB each), kept for reuse: allocating it per hash made glibc keep a
/// copy per thread (hundreds of MB under load), and mapping it fresh each time costs page faults.
/// At most one buffer per permitted concurrent hash is kept.
static MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Most verifications waiting or running at once, per core. Each costs about 40 ms of one core, so
/// a full queue is about half a second of work; beyond it a request is refused at once (503 with
/// `Retry-After`) rather than queued behind seconds of hashing.
const QUEUE_PER_CORE: usize = 16;

/// Verifications waiting or running now.
static QUEUED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The verification queue is full; try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// A place in the bounded verification queue, held from before an attempt is counted until the
/// verification ends (dropping it leaves the queue).
#[derive(Debug)]
pub struct Slot(());

impl Drop for Slot {
    fn drop(&mut self) {
        QUEUED.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Takes a place in the verification queue. Taken before anything else about a sign-in is
/// recorded, so a full queue refuses the attempt without counting it against the account.
///
/// # Errors
/// [`Busy`] when the bounded verification queue is full.
pub fn enter_queue() -> Result<Slot, Busy> {
    use std::sync::atomic::Ordering;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if QUEUED.fetch_add(1, Ordering::AcqRel) >= QUEUE_PER_CORE * cores {
        QUEUED.fetch_sub(1, Ordering::AcqRel);
        return Err(Busy);
    }
    Ok(Slot(()))
}

/// Verifies a password against a PHC string on a blocking thread, in the queue place `slot`. A
/// malformed hash never verifies.
pub async fn verify_in(slot: Slot, password: String, phc: String) -> bool {
    let _slot = slot;
    let Ok(_permit) = HASHING.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || verify_now(password.as_bytes(), &phc))
        .await
        .unwrap_or(false)
}

/// Verifies a password (taking a queue place first).
///
/// # Errors
/// [`Busy`] when the bounded verification queue is full.
pub async fn verify(password: String, phc: String) -> Result<bool, Busy> {
    Ok(verify_in(enter_queue()?, password, phc).await)
}

/// The Argon2 verification of the `argon2` crate, computed in pooled memory; the hash comparison is
/// constant time.
fn verify_now(password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    let reused = MEMORY
        .lock()
        .ok()
        .and_then(|mut pool| pool.iter().position(|m| m.len() == blocks).map(|i| pool.swap_remove(i)));
    let mut memory = reused.unwrap_or_else(|| vec![Block::default(); blocks]);
    let mut out = vec![0u8; expected.as_bytes().len()];
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt.as_ref(),
        &mut out,
        &mut memory[..],
    );
    if let Ok(mut pool) = MEMORY.lock()
        && pool.len() < std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    {
        pool.push(memory);
    }
    computed.is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn pooled_verification_agrees_with_the_crate() {
        use argon2::password_hash::PasswordVerifier;
        let h = super::hash("s3cret-pass").unwrap();
        for (pw, ok) in [("s3cret-pass", true), ("s3cret-pasS", false), ("", false)] {
            let crate_says = argon2::Argon2::default()
                .verify_password(pw.as_bytes(), &super::PasswordHash::new(&h).unwrap())
                .is_ok();
            assert_eq!(crate_says, ok);
            assert_eq!(super::verify(pw.into(), h.clone()).await, Ok(ok), "{pw}");
        }
        assert_eq!(
            super::verify("x".into(), "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$AAAA".into()).await,
            Ok(false)
        );
    }

    #[tokio::test]
    async fn hash_verifies_only_the_right_password() {
        let h = super::hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert_eq!(super::verify("correct horse".into(), h.clone()).await, Ok(true));
        assert_eq!(super::verify("wrong".into(), h).await, Ok(false));
        assert_eq!(super::verify("x".into(), "not a hash".into()).await, Ok(false));
    }
}
