//! Test bytes, and checks on files and bytes that do not print megabytes.

use std::path::Path;

/// `len` deterministic pseudo-random bytes from `seed` (SplitMix64): the same every run, with no
/// repeating stretch, so a transfer that skips, repeats or reorders a block shows up.
pub fn test_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut bytes = vec![0u8; len];
    for chunk in bytes.chunks_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^= mixed >> 31;
        chunk.copy_from_slice(&mixed.to_le_bytes()[..chunk.len()]);
    }
    bytes
}

/// The names directly in `folder`, hidden ones included, sorted.
pub fn names_in(folder: &Path) -> Vec<String> {
    let listing = match std::fs::read_dir(folder) {
        Ok(listing) => listing,
        Err(error) => panic!("cannot list {}: {error}", folder.display()),
    };
    let mut names: Vec<String> = listing
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Asserts two byte strings are equal without printing megabytes when they are not.
#[track_caller]
pub fn assert_bytes(actual: &[u8], expected: &[u8]) {
    if actual != expected {
        let first = actual.iter().zip(expected).position(|(a, b)| a != b);
        panic!(
            "bytes differ: got {} bytes, expected {}; first difference at {:?}",
            actual.len(),
            expected.len(),
            first
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_bytes_are_deterministic_and_differ_by_seed() {
        assert_eq!(test_bytes(1001, 7), test_bytes(1001, 7));
        assert_ne!(test_bytes(64, 7), test_bytes(64, 8));
        assert_eq!(test_bytes(13, 3), test_bytes(20, 3)[..13]);
        assert!(test_bytes(0, 1).is_empty());
    }

    #[test]
    fn test_bytes_do_not_repeat_a_block() {
        let bytes = test_bytes(1 << 20, 1);
        let blocks: std::collections::HashSet<&[u8]> = bytes.chunks(16).collect();
        assert_eq!(blocks.len(), (1 << 20) / 16);
    }
}
