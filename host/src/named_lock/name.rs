//! Lock names: what a guest may ask for, and how a name becomes a file
//! name (a namespace on a local directory) or a 64-bit key (PostgreSQL).

use sha2::{Digest, Sha256};

use crate::bindings::portalocker::filelock::named_lock_types::NamedLockError;

/// The longest lock name, in bytes.
pub(crate) const MAX_NAME_LEN: usize = 255;

/// Checks a guest's lock name: 1 to [`MAX_NAME_LEN`] bytes, no control
/// characters.
pub(crate) fn check(name: &str) -> Result<(), NamedLockError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(NamedLockError::InvalidName);
    }
    Ok(())
}

/// The longest file name stem the local backend writes before it falls back
/// to a hash (file systems allow 255 bytes; `.fence` and `.lock` follow).
const MAX_STEM_LEN: usize = 200;

/// A file name stem for `name`, safe on every file system: ASCII letters,
/// digits, `-` and `_` stay, every other byte becomes `%XX` (so `.`, `/` and
/// `%` never appear unescaped, and distinct names give distinct stems). A
/// stem that would be too long becomes `#` and the SHA-256 of the name.
pub(crate) fn file_stem(name: &str) -> String {
    let mut stem = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            stem.push(char::from(byte));
        } else {
            stem.push_str(&format!("%{byte:02X}"));
        }
    }
    if stem.len() <= MAX_STEM_LEN {
        return stem;
    }
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("#{hex}")
}

/// A 64-bit key for `name` in the namespace whose service-side prefix is
/// `prefix`: the first 8 bytes of SHA-256 over both, with a separator no
/// name can contain. Two names collide with a chance of 2⁻⁶⁴ per pair.
#[cfg(feature = "postgres")]
pub(crate) fn key64(prefix: &str, name: &str) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(prefix.as_bytes());
    hasher.update([0]);
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check("invoice-42").is_ok());
        assert!(check("ünïcode/and spaces").is_ok());
        assert!(check(&"x".repeat(255)).is_ok());
        for bad in [String::new(), "x".repeat(256), "a\nb".into(), "a\0b".into()] {
            assert!(
                matches!(check(&bad), Err(NamedLockError::InvalidName)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn file_stems_are_safe_and_distinct() {
        assert_eq!(file_stem("invoice-42"), "invoice-42");
        assert_eq!(file_stem("a.b"), "a%2Eb");
        assert_eq!(file_stem("../x"), "%2E%2E%2Fx");
        assert_ne!(file_stem("a%2Eb"), file_stem("a.b"));
        let long = file_stem(&"é".repeat(100));
        assert!(long.starts_with('#') && long.len() == 65, "{long}");
    }

    #[test]
    #[cfg(feature = "postgres")]
    fn keys_depend_on_prefix_and_name() {
        assert_eq!(key64("jobs", "a"), key64("jobs", "a"));
        assert_ne!(key64("jobs", "a"), key64("jobs", "b"));
        assert_ne!(key64("jobs", "a"), key64("job", "sa"));
    }
}
