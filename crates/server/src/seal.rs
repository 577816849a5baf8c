//! Encryption at rest of private signing keys and server secrets: AES-256-GCM (aws-lc-rs) under a
//! key-encryption key (KEK) the operator supplies (`GATEHOUSE_SECRET_KEY` or
//! `GATEHOUSE_SECRET_KEY_FILE`). Without a KEK the values are stored as they are and Gatehouse says
//! so in `config check` and `/health/detailed`.
//!
//! A sealed value is `GHS1 || kek id (8 bytes) || nonce (12) || ciphertext || tag (16)`. The kek id
//! (the first 8 bytes of SHA-256 of the KEK) lets an error say "wrong key" rather than "corrupt". The
//! associated data names what the value is (`signing_key:KID`, `server_secret:NAME`), so a sealed
//! value cannot be moved to another row and opened there.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const MAGIC: &[u8; 4] = b"GHS1";
const HEADER: usize = MAGIC.len() + 8 + NONCE_LEN;

/// A key-encryption key.
pub struct Kek {
    key: LessSafeKey,
    id: [u8; 8],
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek([redacted], id {})", self.id_hex())
    }
}

impl Kek {
    /// Parses a KEK written as 32 bytes in base64, base64url (padded or not) or 64 hex digits.
    ///
    /// # Errors
    /// A message saying what is expected, never echoing the value.
    pub fn parse(raw: &str) -> Result<Self, String> {
        use base64::Engine;
        let raw = raw.trim();
        let bytes = if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&raw[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .ok()
        } else {
            let engines = [
                &base64::engine::general_purpose::STANDARD,
                &base64::engine::general_purpose::URL_SAFE,
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ];
            engines.iter().find_map(|e| e.decode(raw).ok())
        };
        match bytes {
            Some(b) if b.len() == 32 => Ok(Self::from_bytes(&b)),
            _ => Err("must be 32 random bytes in base64 or hex; create one with: openssl rand -base64 32".into()),
        }
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).unwrap_or_else(|_| unreachable!()));
        Self { key, id }
    }

    /// The key's public identifier, in hex (safe to show).
    #[must_use]
    pub fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Seals `plain` for the row `aad` names.
    ///
    /// # Errors
    /// When the system random source or the cipher fails.
    pub fn seal(&self, aad: &str, plain: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| "the system random source failed".to_owned())?;
        let mut out = Vec::with_capacity(HEADER + plain.len() + 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut body,
            )
            .map_err(|_| "encryption failed".to_owned())?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a value sealed by [`Self::seal`] for the row `aad` names.
    ///
    /// # Errors
    /// Another KEK sealed it, or it was altered or moved from another row.
    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.len() < HEADER + 16 || !is_sealed(sealed) {
            return Err("not a sealed value".into());
        }
        if sealed[MAGIC.len()..MAGIC.len() + 8] != self.id {
            return Err(format!(
                "it was encrypted with another key (id {}), not this GATEHOUSE_SECRET_KEY (id {})",
                sealed[MAGIC.len()..MAGIC.len() + 8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
                self.id_hex()
            ));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[MAGIC.len() + 8..HEADER]);
        let mut body = sealed[HEADER..].to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut body,
            )
            .map_err(|_| "it does not decrypt: altered, or moved from another row".to_owned())?;
        Ok(plain.to_vec())
    }
}

/// Whether a stored value is sealed (plaintext values are PKCS#8 DER, which starts with `0x30`, or
/// random secrets, which start with these four bytes once in 2^32).
#[must_use]
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.starts_with(MAGIC)
}

/// The KEK of this process, installed once at start from the configuration.
static KEK: OnceLock<Option<Kek>> = OnceLock::new();

/// Installs the process's KEK (first call wins; later calls are ignored).
pub fn install(kek: Option<Kek>) {
    let _ = KEK.set(kek);
}

/// The installed KEK, if any.
#[must_use]
pub fn kek() -> Option<&'static Kek> {
    KEK.get().and_then(Option::as_ref)
}

/// Seals with the installed KEK, or returns `plain` unchanged without one.
///
/// # Errors
/// When encryption fails.
pub fn seal(aad: &str, plain: &[u8]) -> Result<Vec<u8>, String> {
    match kek() {
        Some(k) => k.seal(aad, plain),
        None => Ok(plain.to_vec()),
    }
}

/// Opens a stored value: sealed values with the installed KEK, plaintext ones as they are.
///
/// # Errors
/// A sealed value without a KEK, or with the wrong one, naming the fix.
pub fn open(aad: &str, stored: &[u8]) -> Result<Vec<u8>, String> {
    if !is_sealed(stored) {
        return Ok(stored.to_vec());
    }
    match kek() {
        Some(k) => k
            .open(aad, stored)
            .map_err(|e| format!("{aad} cannot be decrypted: {e}")),
        None => Err(format!(
            "{aad} is encrypted at rest; set GATEHOUSE_SECRET_KEY or GATEHOUSE_SECRET_KEY_FILE to the key it was encrypted with"
        )),
    }
}

/// The associated data of a signing key's private half.
#[must_use]
pub fn signing_key_aad(kid: &str) -> String {
    format!("signing_key:{kid}")
}

/// The associated data of a server secret.
#[must_use]
pub fn server_secret_aad(name: &str) -> String {
    format!("server_secret:{name}")
}

/// The server secrets Gatehouse keeps in the store.
pub const SERVER_SECRETS: &[&str] = &["refresh_rotation", "form_csrf"];

/// Re-encrypts every private signing key and server secret in the store for the installed KEK:
/// values still in plaintext, or (with `previous`) sealed under the previous KEK. Values already
/// sealed for the installed KEK are left alone, so an interrupted run can simply be repeated.
/// Without an installed KEK (and with `previous`), decrypts them back to plaintext. Returns how many
/// values were rewritten.
///
/// # Errors
/// A value sealed under a key that is neither the installed nor the previous one; store failures.
pub async fn reseal(store: &dyn gatehouse_storage::Store, previous: Option<&Kek>) -> anyhow::Result<usize> {
    let now = crate::clock::system_now();
    let mut rewritten = 0;
    let rewrap = |aad: &str, stored: &[u8]| -> anyhow::Result<Option<Vec<u8>>> {
        let current = kek();
        let plain = match (is_sealed(stored), current, previous) {
            (true, Some(k), _) if k.open(aad, stored).is_ok() => return Ok(None),
            (true, _, Some(old)) => old.open(aad, stored).map_err(|e| anyhow::anyhow!("{aad}: {e}"))?,
            (true, _, None) => open(aad, stored).map_err(anyhow::Error::msg)?,
            (false, None, _) => return Ok(None),
            (false, Some(_), _) => stored.to_vec(),
        };
        Ok(Some(seal(aad, &plain).map_err(anyhow::Error::msg)?))
    };
    for key in store.list_keys().await? {
        if let Some(v) = rewrap(&signing_key_aad(&key.kid), &key.private_der)? {
            store.replace_key_material(&key.kid, &v).await?;
            rewritten += 1;
        }
    }
    for name in SERVER_SECRETS {
        // A secret not created yet is created here, as the server would: random, sealed.
        let aad = server_secret_aad(name);
        let mut fresh = [0u8; 32];
        aws_lc_rs::rand::fill(&mut fresh).map_err(|_| anyhow::anyhow!("the system random source failed"))?;
        let candidate = seal(&aad, &fresh).map_err(anyhow::Error::msg)?;
        let stored = store.server_secret(name, &candidate, now).await?;
        if let Some(v) = rewrap(&aad, &stored)? {
            store.replace_server_secret(name, &v).await?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}

/// At start with a KEK: encrypts whatever is still stored in plaintext (keys created before the KEK
/// was set), so setting `GATEHOUSE_SECRET_KEY` is all an operator does to turn encryption on.
///
/// # Errors
/// As [`reseal`].
pub async fn seal_stored(store: &dyn gatehouse_storage::Store) -> anyhow::Result<()> {
    if kek().is_none() {
        return Ok(());
    }
    let n = reseal(store, None).await?;
    if n > 0 {
        tracing::info!(target: "gatehouse::audit", event = "keys.encrypted_at_rest", values = n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> Kek {
        Kek::from_bytes(&[byte; 32])
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_row() {
        let k = kek(1);
        let sealed = k.seal("signing_key:a", b"private der").unwrap();
        assert!(is_sealed(&sealed));
        assert_ne!(&sealed[HEADER..HEADER + 11], b"private der");
        assert_eq!(k.open("signing_key:a", &sealed).unwrap(), b"private der");
        assert!(k.open("signing_key:b", &sealed).is_err(), "moved to another row");
        assert!(
            kek(2)
                .open("signing_key:a", &sealed)
                .unwrap_err()
                .contains("another key")
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(k.open("signing_key:a", &altered).is_err());
        assert_ne!(
            k.seal("x", b"same").unwrap(),
            k.seal("x", b"same").unwrap(),
            "fresh nonce each time"
        );
    }

    #[test]
    fn keks_parse_from_base64_and_hex_only_at_32_bytes() {
        let b64 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
        assert_eq!(Kek::parse(b64).unwrap().id_hex(), kek(1).id_hex());
        assert_eq!(Kek::parse(&"01".repeat(32)).unwrap().id_hex(), kek(1).id_hex());
        assert_eq!(Kek::parse(b64.trim_end_matches('=')).unwrap().id_hex(), kek(1).id_hex());
        for bad in ["", "short", &"01".repeat(31), "AQEB"] {
            let e = Kek::parse(bad).unwrap_err();
            assert!(e.contains("openssl rand"), "{e}");
        }
    }

    #[test]
    fn plaintext_passes_through_without_a_key() {
        assert_eq!(open("server_secret:x", b"\x30plain").unwrap(), b"\x30plain");
    }
}
