//! Encryption at rest for stored secrets, and the master keys that do it.
//!
//! # Cipher and stored format
//!
//! Each secret is sealed with XChaCha20-Poly1305 under the keyring's *current* key, with a fresh
//! random 24-byte nonce, and stored as
//!
//! ```text
//! v1:<key-id>:<base64(nonce ‖ ciphertext ‖ tag)>
//! ```
//!
//! (standard base64 with padding). The additional authenticated data binds the value to its row:
//! `cortex-store/secret/v1:<len(owner)>:<owner>/<name>` — the owner's length makes the split
//! unambiguous — so a value copied to another owner or name fails to decrypt, as does any change
//! to a single byte. Decryption picks the key by the id written in the value, so values sealed
//! under an older key keep working while that key stays in the keyring, and
//! [`crate::Store::rotate_secrets`] re-seals them under the current key.
//!
//! # Where the master key comes from ([`Keyring::load_or_create`])
//!
//! 1. `AZURE_CORTEX_MASTER_KEY` (base64 of 32 bytes), when set and non-empty. Its key id is
//!    `AZURE_CORTEX_MASTER_KEY_ID`, default `env`. Older keys, for decryption only, can be given
//!    in `AZURE_CORTEX_PREVIOUS_MASTER_KEYS` as `id=base64,id=base64`. No file is read or written.
//! 2. Otherwise the key file `<dir>/master.key`. It is created on first run (directory `0700`
//!    if it has to be made, file `0600`, written to a temporary file and linked into place so
//!    two processes starting together agree on one key). An existing file whose mode grants any
//!    permission to group or others is refused.
//!
//! # Key file format
//!
//! JSON, one object:
//!
//! ```json
//! {
//!   "format": "cortex-store-keyring/v1",
//!   "current": "k1763805300-9f3c0a1e",
//!   "keys": {
//!     "k1763805300-9f3c0a1e": "<base64 of 32 bytes>",
//!     "k1761213300-04b2c7d9": "<base64 of 32 bytes>"
//!   }
//! }
//! ```
//!
//! `current` names the key that seals new values; every key in `keys` can decrypt. Key ids are
//! `k<unix seconds>-<8 random hex digits>` when generated here; ids read from a file or the
//! environment must be 1–64 characters of `[A-Za-z0-9._-]`.
//!
//! # Rotation
//!
//! [`Keyring::rotate_file`] adds a new key to the file and makes it current (the file is
//! replaced atomically, mode `0600`). Then reopen the store with the new keyring and call
//! [`crate::Store::rotate_secrets`]. Once it returns, no value needs the old keys; an operator
//! may delete them from the file. With keys from the environment, put the new key in
//! `AZURE_CORTEX_MASTER_KEY` and the old one in `AZURE_CORTEX_PREVIOUS_MASTER_KEYS`.
//! Key rotation of the file is meant to be run by one operator at a time.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use prisma_types::SecretString;
use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// What to do when a process's master key does not match the database's.
const SHARE_KEY_FIX: &str = "Every process on one database needs the same master key: set the \
     same AZURE_CORTEX_MASTER_KEY (and AZURE_CORTEX_MASTER_KEY_ID) for each, or copy the first \
     process's master.key into every data directory (docs/operations.md, \"Replicas\").";

/// The key file's name inside the directory given to [`Keyring::load_or_create`].
pub const KEY_FILE_NAME: &str = "master.key";
/// Base64 of a 32-byte master key; takes precedence over the key file.
pub const ENV_MASTER_KEY: &str = "AZURE_CORTEX_MASTER_KEY";
/// The key id of [`ENV_MASTER_KEY`] (default `env`).
pub const ENV_MASTER_KEY_ID: &str = "AZURE_CORTEX_MASTER_KEY_ID";
/// Older keys for decryption only: `id=base64,id=base64`.
pub const ENV_PREVIOUS_MASTER_KEYS: &str = "AZURE_CORTEX_PREVIOUS_MASTER_KEYS";

const FILE_FORMAT: &str = "cortex-store-keyring/v1";
const VALUE_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// The master keys: one current key that seals, and any number of older keys that still open.
///
/// `Debug` shows key ids only.
#[derive(Clone)]
pub struct Keyring {
    current: String,
    keys: BTreeMap<String, [u8; 32]>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: String,
    current: String,
    keys: BTreeMap<String, String>,
}

impl Keyring {
    /// A keyring with a single key, which is current.
    pub fn from_key(id: &str, key: [u8; 32]) -> Keyring {
        let mut keys = BTreeMap::new();
        keys.insert(id.to_owned(), key);
        Keyring {
            current: id.to_owned(),
            keys,
        }
    }

    /// Adds an older key that decrypts but never seals. A key with the current id is ignored.
    pub fn with_previous(mut self, id: &str, key: [u8; 32]) -> Keyring {
        if id != self.current {
            self.keys.insert(id.to_owned(), key);
        }
        self
    }

    /// A keyring with a fresh random key (for tests and throwaway stores).
    pub fn generate() -> Result<Keyring, StoreError> {
        Ok(Keyring::from_key(&new_key_id()?, random_key()?))
    }

    /// The id of the key that seals new values.
    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// Every key id in the keyring, current included.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The fingerprint a database records of key `id`: the first 16 bytes (hex) of SHA-256 over a
    /// domain tag and the key. It tells keys apart without revealing anything of them.
    pub fn fingerprint(&self, id: &str) -> Option<String> {
        use sha2::Digest;
        let key = self.keys.get(id)?;
        let mut hash = sha2::Sha256::new();
        hash.update(b"cortex-store/master-key-fingerprint/v1\0");
        hash.update(key);
        let digest = hash.finalize();
        Some(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Checks this keyring against the fingerprints a database recorded (`key id → fingerprint`):
    /// a key whose id is recorded must have the recorded fingerprint, and a database that
    /// recorded any key must know at least one of ours — else this process would seal secrets
    /// the others cannot read and fail to read theirs. An empty record (a new database) passes.
    pub fn check_recorded(&self, recorded: &BTreeMap<String, String>) -> Result<(), StoreError> {
        for id in self.keys.keys() {
            if let Some(theirs) = recorded.get(id)
                && self.fingerprint(id).as_deref() != Some(theirs.as_str())
            {
                return Err(StoreError::KeyMismatch {
                    message: format!(
                        "this process's master key `{id}` is not the key of that id this \
                         database was written with (the fingerprints differ). {SHARE_KEY_FIX}"
                    ),
                });
            }
        }
        if !recorded.is_empty() && !self.keys.keys().any(|id| recorded.contains_key(id)) {
            let theirs = recorded.keys().cloned().collect::<Vec<_>>().join(", ");
            let ours = self.keys.keys().cloned().collect::<Vec<_>>().join(", ");
            return Err(StoreError::KeyMismatch {
                message: format!(
                    "this database was written with master key(s) {theirs}; this process has {ours} \
                     and could not read the secrets stored there. {SHARE_KEY_FIX}"
                ),
            });
        }
        Ok(())
    }

    /// Loads the master key from the environment or `<dir>/master.key`; see the module docs.
    pub fn load_or_create(dir: &Path) -> Result<Keyring, StoreError> {
        load_or_create_with_env(dir, |name| std::env::var(name).ok())
    }

    /// Adds a new random key to `<dir>/master.key` and makes it current; the old keys stay for
    /// decryption. Creates the file when it does not exist yet.
    pub fn rotate_file(dir: &Path) -> Result<Keyring, StoreError> {
        let path = dir.join(KEY_FILE_NAME);
        if !path.exists() {
            return load_or_create_file(dir);
        }
        let mut keyring = read_key_file(&path)?;
        let id = loop {
            let id = new_key_id()?;
            if !keyring.keys.contains_key(&id) {
                break id;
            }
        };
        keyring.keys.insert(id.clone(), random_key()?);
        keyring.current = id;
        let tmp = write_temp_key_file(dir, &keyring)?;
        fs::rename(&tmp, &path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_config("replace", &path, e)
        })?;
        tracing::info!(key_id = %keyring.current, path = %path.display(), "master key rotated");
        Ok(keyring)
    }

    /// Seals `plaintext` for the row `owner`/`name` under the current key.
    pub(crate) fn seal(
        &self,
        owner: &str,
        name: &str,
        plaintext: &str,
    ) -> Result<String, StoreError> {
        let key = self
            .keys
            .get(&self.current)
            .ok_or_else(|| StoreError::crypto("the current key is missing from the keyring"))?;
        let mut nonce = [0u8; NONCE_LEN];
        OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|e| StoreError::crypto(format!("no randomness for a nonce: {e}")))?;
        let aad = aad(owner, name);
        let ciphertext = XChaCha20Poly1305::new(&(*key).into())
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| StoreError::crypto("encryption failed"))?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(format!(
            "{VALUE_PREFIX}{}:{}",
            self.current,
            B64.encode(blob)
        ))
    }

    /// Opens a value produced by [`Keyring::seal`] for the same `owner`/`name`.
    pub(crate) fn open(
        &self,
        owner: &str,
        name: &str,
        stored: &str,
    ) -> Result<SecretString, StoreError> {
        let what = || format!("secret {owner}/{name}");
        let rest = stored
            .strip_prefix(VALUE_PREFIX)
            .ok_or_else(|| StoreError::crypto(format!("{}: unsupported value format", what())))?;
        let (key_id, encoded) = rest
            .rsplit_once(':')
            .ok_or_else(|| StoreError::crypto(format!("{}: malformed value", what())))?;
        let key = self.keys.get(key_id).ok_or_else(|| {
            StoreError::crypto(format!("{}: key {key_id:?} is not in the keyring", what()))
        })?;
        let blob = B64
            .decode(encoded)
            .map_err(|_| StoreError::crypto(format!("{}: malformed value", what())))?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(StoreError::crypto(format!("{}: value too short", what())));
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| StoreError::crypto(format!("{}: malformed value", what())))?;
        let aad = aad(owner, name);
        let plaintext = XChaCha20Poly1305::new(&(*key).into())
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                StoreError::crypto(format!(
                    "{}: does not authenticate (tampered, moved, or wrong key)",
                    what()
                ))
            })?;
        String::from_utf8(plaintext)
            .map(SecretString::from)
            .map_err(|_| StoreError::crypto(format!("{}: not UTF-8", what())))
    }

    /// The key id a stored value was sealed with, if it is well formed.
    pub(crate) fn key_id_of(stored: &str) -> Option<&str> {
        stored
            .strip_prefix(VALUE_PREFIX)?
            .rsplit_once(':')
            .map(|(id, _)| id)
    }
}

fn aad(owner: &str, name: &str) -> String {
    format!("cortex-store/secret/v1:{}:{owner}/{name}", owner.len())
}

fn random_key() -> Result<[u8; 32], StoreError> {
    let mut key = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut key)
        .map_err(|e| StoreError::crypto(format!("no randomness for a key: {e}")))?;
    Ok(key)
}

fn new_key_id() -> Result<String, StoreError> {
    let mut suffix = [0u8; 4];
    OsRng
        .try_fill_bytes(&mut suffix)
        .map_err(|e| StoreError::crypto(format!("no randomness for a key id: {e}")))?;
    Ok(format!(
        "k{}-{:08x}",
        time::OffsetDateTime::now_utc().unix_timestamp(),
        u32::from_be_bytes(suffix)
    ))
}

fn validate_key_id(id: &str) -> Result<(), StoreError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::config(format!(
            "key id {id:?} must be 1-64 characters of [A-Za-z0-9._-]"
        )))
    }
}

fn decode_key(what: &str, encoded: &str) -> Result<[u8; 32], StoreError> {
    let bytes = B64
        .decode(encoded.trim())
        .map_err(|_| StoreError::config(format!("{what} is not valid base64")))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        StoreError::config(format!(
            "{what} must be 32 bytes, got {} bytes",
            bytes.len()
        ))
    })
}

fn io_config(action: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::config(format!("cannot {action} key file {}: {e}", path.display()))
}

pub(crate) fn load_or_create_with_env(
    dir: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Keyring, StoreError> {
    match env(ENV_MASTER_KEY).filter(|v| !v.trim().is_empty()) {
        Some(encoded) => {
            let id = env(ENV_MASTER_KEY_ID)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "env".to_owned());
            let id = id.trim();
            validate_key_id(id)?;
            let mut keyring = Keyring::from_key(id, decode_key(ENV_MASTER_KEY, &encoded)?);
            if let Some(previous) = env(ENV_PREVIOUS_MASTER_KEYS) {
                for item in previous.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (prev_id, prev_key) = item.split_once('=').ok_or_else(|| {
                        StoreError::config(format!(
                            "{ENV_PREVIOUS_MASTER_KEYS} must be id=base64,id=base64"
                        ))
                    })?;
                    validate_key_id(prev_id)?;
                    let key = decode_key(ENV_PREVIOUS_MASTER_KEYS, prev_key)?;
                    keyring = keyring.with_previous(prev_id, key);
                }
            }
            tracing::debug!(key_id = %keyring.current, "master key loaded from the environment");
            Ok(keyring)
        }
        None => load_or_create_file(dir),
    }
}

fn load_or_create_file(dir: &Path) -> Result<Keyring, StoreError> {
    let path = dir.join(KEY_FILE_NAME);
    if path.exists() {
        return read_key_file(&path);
    }
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_config("create the directory of", &path, e))?;
    }
    let keyring = Keyring::from_key(&new_key_id()?, random_key()?);
    let tmp = write_temp_key_file(dir, &keyring)?;
    // A hard link fails if the name exists: of two processes starting together, exactly one
    // key file wins, and the other process reads it.
    let linked = fs::hard_link(&tmp, &path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(key_id = %keyring.current, path = %path.display(), "master key created");
            Ok(keyring)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key_file(&path),
        Err(e) => Err(io_config("create", &path, e)),
    }
}

fn read_key_file(path: &Path) -> Result<Keyring, StoreError> {
    let meta = fs::metadata(path).map_err(|e| io_config("read", path, e))?;
    if !meta.is_file() {
        return Err(StoreError::config(format!(
            "key file {} is not a regular file",
            path.display()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::config(format!(
            "key file {} has mode {mode:04o}: it must be readable by its owner only; \
             run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    let text = fs::read_to_string(path).map_err(|e| io_config("read", path, e))?;
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| {
        // serde_json errors name a line and column, never the content.
        StoreError::config(format!("key file {} is not valid: {e}", path.display()))
    })?;
    if file.format != FILE_FORMAT {
        return Err(StoreError::config(format!(
            "key file {} has format {:?}, expected {FILE_FORMAT:?}",
            path.display(),
            file.format
        )));
    }
    let mut keys = BTreeMap::new();
    for (id, encoded) in &file.keys {
        validate_key_id(id)?;
        keys.insert(id.clone(), decode_key(&format!("key {id:?}"), encoded)?);
    }
    if !keys.contains_key(&file.current) {
        return Err(StoreError::config(format!(
            "key file {}: current key {:?} is not among its keys",
            path.display(),
            file.current
        )));
    }
    Ok(Keyring {
        current: file.current,
        keys,
    })
}

/// Writes the keyring to a new `0600` temporary file in `dir` and returns its path.
fn write_temp_key_file(dir: &Path, keyring: &Keyring) -> Result<PathBuf, StoreError> {
    let file = KeyFile {
        format: FILE_FORMAT.to_owned(),
        current: keyring.current.clone(),
        keys: keyring
            .keys
            .iter()
            .map(|(id, key)| (id.clone(), B64.encode(key)))
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&file)
        .map_err(|e| StoreError::config(format!("cannot encode the key file: {e}")))?;
    text.push('\n');
    let mut suffix = [0u8; 8];
    OsRng
        .try_fill_bytes(&mut suffix)
        .map_err(|e| StoreError::crypto(format!("no randomness: {e}")))?;
    let tmp = dir.join(format!(
        ".{KEY_FILE_NAME}.tmp-{}-{:016x}",
        std::process::id(),
        u64::from_be_bytes(suffix)
    ));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_config("write", &tmp, e)
    })?;
    Ok(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::from_key("k1", [7u8; 32])
    }

    #[test]
    fn seal_and_open_round_trip() {
        let k = keyring();
        let sealed = k.seal("acct-1", "client_secret", "canary-8d1f").unwrap();
        assert!(sealed.starts_with("v1:k1:"), "{sealed}");
        assert!(!sealed.contains("canary"));
        assert_eq!(Keyring::key_id_of(&sealed), Some("k1"));
        let opened = k.open("acct-1", "client_secret", &sealed).unwrap();
        assert_eq!(opened.expose(), "canary-8d1f");
        // A fresh nonce each time.
        assert_ne!(
            sealed,
            k.seal("acct-1", "client_secret", "canary-8d1f").unwrap()
        );
    }

    #[test]
    fn aad_binds_owner_and_name() {
        let k = keyring();
        let sealed = k.seal("a/b", "c", "x").unwrap();
        for (owner, name) in [("a", "b/c"), ("a/b", "d"), ("a/c", "c")] {
            let err = k.open(owner, name, &sealed).unwrap_err();
            assert_eq!(err.code(), "crypto");
        }
    }

    #[test]
    fn tamper_and_unknown_key_are_crypto_errors() {
        let k = keyring();
        let sealed = k.seal("o", "n", "value").unwrap();
        let mut bytes = sealed.clone().into_bytes();
        let i = bytes.len() - 5;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(matches!(
            k.open("o", "n", &tampered),
            Err(StoreError::Crypto { .. })
        ));
        let other = Keyring::from_key("k2", [9u8; 32]);
        let err = other.open("o", "n", &sealed).unwrap_err();
        assert!(
            err.to_string().contains("\"k1\" is not in the keyring"),
            "{err}"
        );
        assert!(matches!(
            k.open("o", "n", "plain"),
            Err(StoreError::Crypto { .. })
        ));
        assert!(matches!(
            k.open("o", "n", "v1:k1:!!"),
            Err(StoreError::Crypto { .. })
        ));
    }

    #[test]
    fn previous_keys_decrypt_but_never_seal() {
        let old = keyring();
        let sealed = old.seal("o", "n", "value").unwrap();
        let new = Keyring::from_key("k2", [9u8; 32]).with_previous("k1", [7u8; 32]);
        assert_eq!(new.current_key_id(), "k2");
        assert_eq!(new.open("o", "n", &sealed).unwrap().expose(), "value");
        assert!(new.seal("o", "n", "value").unwrap().starts_with("v1:k2:"));
        // Adding a "previous" key with the current id keeps the current key.
        let same = new.with_previous("k2", [1u8; 32]);
        assert_eq!(same.keys["k2"], [9u8; 32]);
    }

    #[test]
    fn debug_shows_ids_only() {
        let k = Keyring::from_key("k1", [0xAB; 32]);
        let debug = format!("{k:?}");
        assert!(debug.contains("k1"));
        assert!(!debug.contains("171") && !debug.contains("AB") && !debug.contains("ab"));
        assert!(!debug.contains(&B64.encode([0xAB; 32])));
    }

    #[test]
    fn key_from_env_takes_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let key = B64.encode([3u8; 32]);
        let prev = B64.encode([4u8; 32]);
        let env = |name: &str| match name {
            ENV_MASTER_KEY => Some(key.clone()),
            ENV_MASTER_KEY_ID => Some("prod-2".to_owned()),
            ENV_PREVIOUS_MASTER_KEYS => Some(format!("prod-1={prev}")),
            _ => None,
        };
        let k = load_or_create_with_env(dir.path(), env).unwrap();
        assert_eq!(k.current_key_id(), "prod-2");
        assert_eq!(k.key_ids().collect::<Vec<_>>(), ["prod-1", "prod-2"]);
        assert!(
            !dir.path().join(KEY_FILE_NAME).exists(),
            "no file when the key is in env"
        );

        let default_id = load_or_create_with_env(dir.path(), |name| {
            (name == ENV_MASTER_KEY).then(|| key.clone())
        })
        .unwrap();
        assert_eq!(default_id.current_key_id(), "env");

        let short = load_or_create_with_env(dir.path(), |name| {
            (name == ENV_MASTER_KEY).then(|| B64.encode([1u8; 16]))
        })
        .unwrap_err();
        assert_eq!(short.code(), "config");
        assert!(short.to_string().contains("32 bytes"), "{short}");
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("state");
        let first = load_or_create_with_env(&dir, |_| None).unwrap();
        let path = dir.join(KEY_FILE_NAME);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let second = load_or_create_with_env(&dir, |_| None).unwrap();
        assert_eq!(first.current_key_id(), second.current_key_id());
        assert_eq!(first.keys, second.keys);
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn loose_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create_with_env(dir.path(), |_| None).unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = load_or_create_with_env(dir.path(), |_| None).unwrap_err();
            assert_eq!(err.code(), "config");
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("{mode:04o}")) && msg.contains("chmod 600"),
                "{msg}"
            );
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        load_or_create_with_env(dir.path(), |_| None).unwrap();
    }

    #[test]
    fn rotate_file_keeps_old_keys() {
        let dir = tempfile::tempdir().unwrap();
        let first = Keyring::rotate_file(dir.path()).unwrap(); // creates
        let sealed = first.seal("o", "n", "value").unwrap();
        let second = Keyring::rotate_file(dir.path()).unwrap();
        assert_ne!(first.current_key_id(), second.current_key_id());
        assert_eq!(second.key_ids().count(), 2);
        assert_eq!(second.open("o", "n", &sealed).unwrap().expose(), "value");
        let path = dir.path().join(KEY_FILE_NAME);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let reloaded = load_or_create_with_env(dir.path(), |_| None).unwrap();
        assert_eq!(reloaded.current_key_id(), second.current_key_id());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
