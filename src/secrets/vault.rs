//! AES-256-GCM encryption of provider credentials under the master encryption key. Each record
//! gets its own random nonce, is bound to its record id as associated data (a ciphertext copied
//! onto another record fails to open), and carries the id of the key that sealed it so the
//! master key can be rotated.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

/// One master key and its short id (the first 4 bytes of its SHA-256, in hex).
#[derive(Clone)]
struct Key {
    id: String,
    bytes: [u8; 32],
    cipher: Aes256Gcm,
}

impl Key {
    fn new(bytes: [u8; 32]) -> Key {
        Key { id: hex::encode(&Sha256::digest(bytes)[..4]), bytes, cipher: Aes256Gcm::new(&bytes.into()) }
    }
}

/// The master encryption keys: the first seals, every one opens (older keys stay readable
/// while `tollgate rotate-key` re-encrypts their records). Clones share the keys, so a
/// refresh from the key file is seen by every holder.
#[derive(Clone)]
pub struct Vault {
    keys: Arc<RwLock<Vec<Key>>>,
    /// The key file the keys came from; `None` when configured in the environment.
    file: Option<PathBuf>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("key_id", &self.key_id()).finish_non_exhaustive()
    }
}

/// Name of the generated key file inside the data directory.
pub const KEY_FILE: &str = "encryption.key";

/// Parses keys given as 64 hex digits or base64 of 32 bytes, separated by commas, spaces or
/// lines; the first is the current one.
fn parse_keys(text: &str) -> Result<Vec<Key>, String> {
    let keys = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| {
            let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
                hex::decode(t).map_err(|e| e.to_string())?
            } else {
                B64.decode(t).map_err(|_| "encryption key must be 64 hex digits or base64 of 32 bytes".to_string())?
            };
            let key: [u8; 32] = bytes.try_into().map_err(|_| "encryption key must be exactly 32 bytes".to_string())?;
            Ok(Key::new(key))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if keys.is_empty() {
        return Err("no encryption key given".into());
    }
    Ok(keys)
}

impl Vault {
    pub fn from_bytes(key: [u8; 32]) -> Vault {
        Vault { keys: Arc::new(RwLock::new(vec![Key::new(key)])), file: None }
    }

    /// Parses keys given as 64 hex digits or base64 of 32 bytes; several (comma-separated)
    /// while rotating: the new key first, then the old ones.
    pub fn from_text(text: &str) -> Result<Vault, String> {
        Ok(Vault { keys: Arc::new(RwLock::new(parse_keys(text)?)), file: None })
    }

    /// The configured key(s), else the key file in `data_dir`, created with mode 0600 if missing.
    pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> Result<Vault, String> {
        if let Some(text) = configured {
            return Vault::from_text(text);
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let keys = parse_keys(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(Vault { keys: Arc::new(RwLock::new(keys)), file: Some(path) })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                write_private_file(&path, hex::encode(key).as_bytes())
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), "generated a new encryption key file");
                Ok(Vault { keys: Arc::new(RwLock::new(vec![Key::new(key)])), file: Some(path) })
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    fn keys(&self) -> std::sync::RwLockReadGuard<'_, Vec<Key>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The id of the key that seals.
    pub fn key_id(&self) -> String {
        self.keys()[0].id.clone()
    }

    /// Ids of every key that opens, current first.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys().iter().map(|k| k.id.clone()).collect()
    }

    /// True if the keys come from the key file (which `rotate-key` can rewrite).
    pub fn is_file_based(&self) -> bool {
        self.file.is_some()
    }

    /// Re-reads the key file, so a gateway picks up a key `rotate-key` added while it runs.
    pub fn refresh(&self) -> Result<(), String> {
        let Some(path) = &self.file else { return Ok(()) };
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let keys = parse_keys(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(())
    }

    /// Seals `plaintext` for the record `record_id`: base64 of nonce ‖ ciphertext+tag. Re-reads
    /// the key file first, so nothing is sealed under a key that `rotate-key` has replaced.
    pub fn seal(&self, record_id: &str, plaintext: &str) -> String {
        if let Err(e) = self.refresh() {
            tracing::error!("encryption keys not refreshed before sealing: {e}");
        }
        let nonce_bytes: [u8; 12] = rand::random();
        let sealed = self.keys()[0]
            .cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), Payload { msg: plaintext.as_bytes(), aad: record_id.as_bytes() })
            .expect("AES-GCM encryption cannot fail for in-memory buffers");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        B64.encode(out)
    }

    /// Opens a value sealed by [`Vault::seal`] for the same record id, under any known key.
    pub fn open(&self, record_id: &str, sealed: &str) -> Result<String, String> {
        let keys = self.keys();
        open_with(&keys, record_id, sealed)
    }

    /// True if `sealed` opens under the current key (so rotation can leave it alone).
    pub fn opens_with_current(&self, record_id: &str, sealed: &str) -> bool {
        let keys = self.keys();
        open_with(&keys[..1], record_id, sealed).is_ok()
    }

    /// Generates a new current key and writes it first in the key file, the old keys after it
    /// (still needed to open records until they are re-encrypted). Answers the new key's id.
    pub fn add_new_key(&self) -> Result<String, String> {
        let path = self.file.as_ref().ok_or("the encryption key is configured, not in a key file")?;
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        let mut next = vec![Key::new(rand::random())];
        next.extend(keys.iter().cloned());
        replace_key_file(path, &next)?;
        *keys = next;
        Ok(keys[0].id.clone())
    }

    /// Rewrites the key file with the current key only (every record uses it now).
    pub fn retire_old_keys(&self) -> Result<usize, String> {
        let path = self.file.as_ref().ok_or("the encryption key is configured, not in a key file")?;
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        let retired = keys.len() - 1;
        keys.truncate(1);
        replace_key_file(path, &keys)?;
        Ok(retired)
    }
}

fn open_with(keys: &[Key], record_id: &str, sealed: &str) -> Result<String, String> {
    let bytes = B64.decode(sealed).map_err(|_| "sealed secret is not base64".to_string())?;
    if bytes.len() < 12 + 16 {
        return Err("sealed secret is too short".into());
    }
    let (nonce, ciphertext) = bytes.split_at(12);
    let plain = keys
        .iter()
        .find_map(|k| {
            k.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: record_id.as_bytes() }).ok()
        })
        .ok_or_else(|| "cannot decrypt secret (wrong key or record)".to_string())?;
    String::from_utf8(plain).map_err(|_| "decrypted secret is not UTF-8".to_string())
}

/// Writes the keys (one hex line each) to a fresh private file and renames it over `path`, so
/// a crash leaves either the old file or the new one.
fn replace_key_file(path: &Path, keys: &[Key]) -> Result<(), String> {
    let text: String = keys.iter().map(|k| format!("{}\n", hex::encode(k.bytes))).collect();
    let tmp = path.with_extension("key.new");
    let _ = std::fs::remove_file(&tmp);
    write_private_file(&tmp, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}

/// Writes a file readable only by its owner.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

/// A display form that never reveals a secret: `sk-p…wxyz`.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 8 {
        return "****".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_bound_to_record() {
        let v = Vault::from_bytes([7; 32]);
        let sealed = v.seal("cred-1", "sk-secret-value");
        assert!(!sealed.contains("sk-secret"));
        assert_eq!(v.open("cred-1", &sealed).unwrap(), "sk-secret-value");
        assert!(v.open("cred-2", &sealed).is_err(), "associated data binds the record");
        assert_ne!(v.seal("cred-1", "x"), v.seal("cred-1", "x"), "fresh nonce each time");
        let other = Vault::from_bytes([8; 32]);
        assert!(other.open("cred-1", &sealed).is_err());
        assert_ne!(v.key_id(), other.key_id());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Vault::load_or_create(None, dir.path()).unwrap();
        let b = Vault::load_or_create(None, dir.path()).unwrap();
        assert_eq!(a.key_id(), b.key_id());
        assert!(a.is_file_based());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(Vault::from_text("short").is_err());
        assert!(Vault::from_text(&"ab".repeat(32)).is_ok());
    }

    #[test]
    fn rotation_adds_a_key_that_seals_while_old_records_still_open() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::load_or_create(None, dir.path()).unwrap();
        let old_id = v.key_id();
        let old = v.seal("r1", "sk-1");
        // A second holder (a running gateway) of the same key file.
        let running = Vault::load_or_create(None, dir.path()).unwrap();
        let new_id = v.add_new_key().unwrap();
        assert_ne!(new_id, old_id);
        assert_eq!(v.key_ids(), vec![new_id.clone(), old_id.clone()]);
        assert_eq!(v.open("r1", &old).unwrap(), "sk-1");
        assert!(!v.opens_with_current("r1", &old));
        let new = v.seal("r1", "sk-1");
        assert!(v.opens_with_current("r1", &new));
        assert!(running.open("r1", &new).is_err(), "not refreshed yet");
        running.refresh().unwrap();
        assert_eq!(running.open("r1", &new).unwrap(), "sk-1");
        assert_eq!(running.key_id(), new_id);
        assert_eq!(v.retire_old_keys().unwrap(), 1);
        running.refresh().unwrap();
        assert!(running.open("r1", &old).is_err(), "the old key is gone");
        assert_eq!(running.key_ids(), vec![new_id]);
        let text = std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        assert_eq!(text.lines().count(), 1);
        let env = Vault::from_text(&format!("{},{}", "ab".repeat(32), "cd".repeat(32))).unwrap();
        assert_eq!(env.key_ids().len(), 2);
        assert!(env.add_new_key().is_err(), "an environment key is the operator's to change");
    }

    #[test]
    fn masks() {
        assert_eq!(mask("sk-proj-abcdefgh1234"), "sk-p…1234");
        assert_eq!(mask("short"), "****");
    }
}
