//! AES-256-GCM encryption of provider credentials under the master encryption key. Each record
//! gets its own random nonce, is bound to its record id as associated data (a ciphertext copied
//! onto another record fails to open), and carries the id of the key that sealed it so the
//! master key can be rotated.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

/// The master encryption key and its short id.
#[derive(Clone)]
pub struct Vault {
    cipher: Aes256Gcm,
    key_id: String,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// Name of the generated key file inside the data directory.
pub const KEY_FILE: &str = "encryption.key";

impl Vault {
    pub fn from_bytes(key: [u8; 32]) -> Vault {
        let key_id = hex::encode(&Sha256::digest(key)[..4]);
        Vault { cipher: Aes256Gcm::new(&key.into()), key_id }
    }

    /// Parses a key given as 64 hex digits or base64 of 32 bytes.
    pub fn from_text(text: &str) -> Result<Vault, String> {
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).map_err(|e| e.to_string())?
        } else {
            B64.decode(t).map_err(|_| "encryption key must be 64 hex digits or base64 of 32 bytes".to_string())?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| "encryption key must be exactly 32 bytes".to_string())?;
        Ok(Vault::from_bytes(key))
    }

    /// The configured key, else the key file in `data_dir`, created with mode 0600 if missing.
    pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> Result<Vault, String> {
        if let Some(text) = configured {
            return Vault::from_text(text);
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Vault::from_text(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                write_private_file(&path, hex::encode(key).as_bytes())
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), "generated a new encryption key file");
                Ok(Vault::from_bytes(key))
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seals `plaintext` for the record `record_id`: base64 of nonce ‖ ciphertext+tag.
    pub fn seal(&self, record_id: &str, plaintext: &str) -> String {
        let nonce_bytes: [u8; 12] = rand::random();
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), Payload { msg: plaintext.as_bytes(), aad: record_id.as_bytes() })
            .expect("AES-GCM encryption cannot fail for in-memory buffers");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        B64.encode(out)
    }

    /// Opens a value sealed by [`Vault::seal`] for the same record id.
    pub fn open(&self, record_id: &str, sealed: &str) -> Result<String, String> {
        let bytes = B64.decode(sealed).map_err(|_| "sealed secret is not base64".to_string())?;
        if bytes.len() < 12 + 16 {
            return Err("sealed secret is too short".into());
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: record_id.as_bytes() })
            .map_err(|_| "cannot decrypt secret (wrong key or record)".to_string())?;
        String::from_utf8(plain).map_err(|_| "decrypted secret is not UTF-8".to_string())
    }
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
    fn masks() {
        assert_eq!(mask("sk-proj-abcdefgh1234"), "sk-p…1234");
        assert_eq!(mask("short"), "****");
    }
}
