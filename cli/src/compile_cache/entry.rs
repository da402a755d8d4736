//! The format of a cache entry: a header that names what the entry is,
//! then the compiled component.
//!
//! ```text
//! magic   8 bytes   "PLCWASM1"
//! key     32 bytes  SHA-256 of the engine's compatibility hash and the component
//! digest  32 bytes  SHA-256 of the compiled bytes that follow
//! compiled ...      what `Engine::precompile_component` returned
//! ```

use sha2::{Digest, Sha256};

/// The first bytes of every entry (the format's version is the last one).
const MAGIC: &[u8; 8] = b"PLCWASM1";

/// The length of the header.
const HEADER_LEN: usize = MAGIC.len() + 32 + 32;

/// The file name of the entry with `key`.
pub(super) fn file_name(key: &[u8; 32]) -> String {
    let hex: String = key.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{hex}.cwasm")
}

/// The entry of `compiled` under `key`.
pub(super) fn encode(key: &[u8; 32], compiled: &[u8]) -> Vec<u8> {
    let mut entry = Vec::with_capacity(HEADER_LEN + compiled.len());
    entry.extend_from_slice(MAGIC);
    entry.extend_from_slice(key);
    entry.extend_from_slice(&Sha256::digest(compiled));
    entry.extend_from_slice(compiled);
    entry
}

/// The compiled bytes of `entry`, if it is an entry of `key` whose bytes
/// are the ones it was written with.
pub(super) fn verify<'a>(entry: &'a [u8], key: &[u8; 32]) -> Result<&'a [u8], Mismatch> {
    if entry.len() < HEADER_LEN || &entry[..MAGIC.len()] != MAGIC {
        return Err(Mismatch::NotAnEntry);
    }
    let (stored_key, rest) = entry[MAGIC.len()..].split_at(32);
    let (digest, compiled) = rest.split_at(32);
    if stored_key != key {
        return Err(Mismatch::OtherKey);
    }
    if Sha256::digest(compiled).as_slice() != digest {
        return Err(Mismatch::Damaged);
    }
    Ok(compiled)
}

/// How an entry's bytes failed [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mismatch {
    /// Too short, or without the magic bytes.
    NotAnEntry,
    /// The entry of another component or engine.
    OtherKey,
    /// The compiled bytes are not the ones written.
    Damaged,
}

impl Mismatch {
    /// The problem of the entry named `entry`.
    pub(super) fn with_entry(self, entry: &str) -> EntryProblem {
        let entry = entry.to_owned();
        match self {
            Mismatch::NotAnEntry | Mismatch::Damaged => EntryProblem::Damaged { entry },
            Mismatch::OtherKey => EntryProblem::Mismatched { entry },
        }
    }
}

/// Why a cache entry was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    /// Its bytes are not the ones written (bit rot, a torn or foreign
    /// write).
    #[error("`{entry}` is damaged (its SHA-256 does not match)")]
    Damaged {
        /// The entry's file name.
        entry: String,
    },
    /// It is a valid entry, but of another component or engine.
    #[error("`{entry}` holds another component")]
    Mismatched {
        /// The entry's file name.
        entry: String,
    },
    /// It is not a regular file of this user's with mode 0600 and one link.
    #[error("`{entry}` is not to be trusted: {reason}")]
    Untrusted {
        /// The entry's file name.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// It could not be opened or read.
    #[error("`{entry}` cannot be read: {reason}")]
    Unreadable {
        /// The entry's file name.
        entry: String,
        /// The error.
        reason: String,
    },
    /// It checked out, but wasmtime refused it.
    #[error("`{entry}` was refused by wasmtime: {reason}")]
    Refused {
        /// The entry's file name.
        entry: String,
        /// wasmtime's error.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_every_flipped_byte_is_caught() {
        let key = [7; 32];
        let entry = encode(&key, b"machine code");
        assert_eq!(verify(&entry, &key), Ok(&b"machine code"[..]));
        for at in 0..entry.len() {
            let mut damaged = entry.clone();
            damaged[at] ^= 0x10;
            assert!(verify(&damaged, &key).is_err(), "byte {at}");
        }
        assert_eq!(verify(&entry, &[8; 32]), Err(Mismatch::OtherKey));
        assert_eq!(
            verify(&entry[..HEADER_LEN - 1], &key),
            Err(Mismatch::NotAnEntry)
        );
    }

    #[test]
    fn names_are_the_key_in_hex() {
        let name = file_name(&[0xab; 32]);
        assert_eq!(name.len(), 64 + ".cwasm".len());
        assert!(name.starts_with("abab"));
    }
}
