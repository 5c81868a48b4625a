//! Ed25519 signing of the client config (4.3.3e). Keys live in the control
//! plane (`signing_keys`), generated on first start. The newest unretired
//! key signs; every unretired key is published, so a rotation is: `vitals
//! switch rotate-key` (new key signs from now on, the old one stays
//! published), ship app builds that embed the new public key, then `vitals
//! switch retire-key OLD_ID`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use vitals_store::{ControlPlane, StoreError};

/// The keys in force.
pub struct Keys {
    /// (key id, key), newest first; the first signs.
    keys: Vec<(String, SigningKey)>,
}

impl Keys {
    /// Loads the unretired keys, creating one if there is none.
    pub fn load(cp: &ControlPlane) -> Result<Keys, StoreError> {
        let mut keys = Self::read(cp)?;
        if keys.keys.is_empty() {
            // Another node may be doing the same: only one key is added.
            let (id, seed) = new_key();
            cp.add_first_signing_key(&id, &seed)?;
            keys = Self::read(cp)?;
        }
        Ok(keys)
    }

    fn read(cp: &ControlPlane) -> Result<Keys, StoreError> {
        let keys = cp
            .signing_keys()?
            .into_iter()
            .filter(|k| k.retired_at.is_none())
            .filter_map(|k| {
                let seed: [u8; 32] = k.secret.as_slice().try_into().ok()?;
                Some((k.key_id, SigningKey::from_bytes(&seed)))
            })
            .collect();
        Ok(Keys { keys })
    }

    /// The signing key's id.
    pub fn active_id(&self) -> &str {
        self.keys.first().map(|(id, _)| id.as_str()).unwrap_or("")
    }

    /// Base64 signature of `body` with the active key.
    pub fn sign(&self, body: &[u8]) -> Option<String> {
        let (_, k) = self.keys.first()?;
        Some(STANDARD.encode(k.sign(body).to_bytes()))
    }

    /// Published public keys (base64 of 32 bytes), the signing one first.
    pub fn public_keys(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|(_, k)| STANDARD.encode(k.verifying_key().to_bytes()))
            .collect()
    }
}

/// Adds a new signing key; returns its id.
pub fn rotate(cp: &ControlPlane) -> Result<String, StoreError> {
    let (id, seed) = new_key();
    cp.add_signing_key(&id, &seed)?;
    Ok(id)
}

/// A fresh key: (id, 32-byte seed).
fn new_key() -> (String, [u8; 32]) {
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    let pk = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    (format!("ck_{}", &hex::encode(pk)[..12]), seed)
}

/// Verifies a base64 signature over `body` with any of `public_keys`
/// (base64), as a client does.
pub fn verify(body: &[u8], signature: &str, public_keys: &[String]) -> bool {
    let Ok(sig) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Ok(sig) = ed25519_dalek::Signature::from_slice(&sig) else {
        return false;
    };
    public_keys.iter().any(|k| {
        STANDARD
            .decode(k)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
            .is_some_and(|vk| vk.verify(body, &sig).is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_verifies_rotates_and_rejects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let cp = ControlPlane::open(dir.path().join("c.sqlite")).unwrap();
        let keys = Keys::load(&cp).unwrap();
        let body = br#"{"v":1,"app_id":"a"}"#;
        let sig = keys.sign(body).unwrap();
        let published = keys.public_keys();
        assert!(verify(body, &sig, &published));
        let mut tampered = body.to_vec();
        tampered[5] ^= 1;
        assert!(!verify(&tampered, &sig, &published));
        let old = keys.active_id().to_string();
        let new = rotate(&cp).unwrap();
        let keys2 = Keys::load(&cp).unwrap();
        assert_eq!(keys2.active_id(), new);
        assert_eq!(keys2.public_keys().len(), 2, "old key stays published");
        assert!(verify(body, &sig, &keys2.public_keys()));
        cp.retire_signing_key(&old).unwrap();
        assert!(!verify(body, &sig, &Keys::load(&cp).unwrap().public_keys()));
    }
}
