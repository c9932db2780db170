//! `tollgate rotate-key`: re-encrypts every credential under the current master key while
//! gateways keep serving. With a key file, a new key is generated and written first in the file
//! (old keys stay after it, so running gateways and not-yet-converted records still open);
//! gateways pick the new key up at their next snapshot reload. With `TOLLGATE_ENCRYPTION_KEY`,
//! the operator lists the new key first (`new,old`) and this re-encrypts under it.
//! `--retire-old-keys` then drops the old keys once no record needs them.

use crate::config::Config;
use crate::secrets::vault::Vault;
use crate::store::{Db, providers as q};

/// What a rotation did.
#[derive(Debug, Default)]
pub struct Rotation {
    pub key_id: String,
    pub new_key: bool,
    pub resealed: usize,
    /// Records changed by someone else mid-rotation (left for the next run).
    pub skipped: usize,
    pub retired: usize,
}

/// Rotates (or, with `retire_old_keys`, finishes a rotation) on the configured database.
pub async fn run(config: &Config, retire_old_keys: bool) -> Result<Rotation, String> {
    let vault = Vault::load_or_create(config.encryption_key.as_deref(), &config.data_dir)?;
    let db = Db::open(config).await?;
    let result = rotate(&db, &vault, retire_old_keys).await;
    db.close().await;
    result
}

async fn rotate(db: &Db, vault: &Vault, retire_old_keys: bool) -> Result<Rotation, String> {
    let mut r = Rotation::default();
    if !retire_old_keys {
        if vault.is_file_based() {
            vault.add_new_key()?;
            r.new_key = true;
        } else if vault.key_ids().len() < 2 {
            return Err("the encryption key comes from TOLLGATE_ENCRYPTION_KEY: set it to the new key followed by \
                        the old one (`NEW,OLD`), restart the gateways, then run rotate-key"
                .into());
        }
    }
    r.key_id = vault.key_id();
    for c in q::list_credentials(db, None).await.map_err(|e| e.to_string())? {
        if vault.opens_with_current(&c.id, &c.secret_sealed) {
            continue;
        }
        let plain = vault.open(&c.id, &c.secret_sealed).map_err(|e| format!("credential {}: {e}", c.id))?;
        let sealed = vault.seal(&c.id, &plain);
        if q::reseal_credential(db, &c.id, &c.secret_sealed, &sealed, &r.key_id).await.map_err(|e| e.to_string())? {
            r.resealed += 1;
        } else {
            r.skipped += 1;
        }
    }
    if retire_old_keys {
        if r.skipped > 0 {
            return Err(format!("{} credential(s) changed during the rotation; run it again", r.skipped));
        }
        if vault.is_file_based() {
            r.retired = vault.retire_old_keys()?;
        }
    }
    Ok(r)
}
