//! File digests as FTP's HASH (draft-bryan-ftpext-hash-02), SFTP's `check-file` extension and
//! HTTP's `Repr-Digest` (RFC 9530) name them, and the hashing itself over bytes fed in pieces.
//!
//! This module does NOT read files: the caller feeds [`Hasher::update`] with what it read.

use sha2::Digest as _;

/// A digest algorithm a server computes and a client checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// SHA-256 (FIPS 180-4): the default.
    Sha256,
    /// SHA-512 (FIPS 180-4).
    Sha512,
    /// SHA-1: broken for collisions, kept for the clients that know nothing else.
    Sha1,
    /// MD5 (RFC 1321): likewise.
    Md5,
    /// CRC-32 (ISO-HDLC, as zlib's `crc32`): catches accidents, not attacks.
    Crc32,
}

impl Algorithm {
    /// Every algorithm, in the order FEAT lists them.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Sha256,
        Algorithm::Sha512,
        Algorithm::Sha1,
        Algorithm::Md5,
        Algorithm::Crc32,
    ];

    /// The name in the IANA "Hash Function Textual Names" registry, as HASH, FEAT and OPTS
    /// HASH write it (`SHA-256`, `MD5`, `CRC32`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha512 => "SHA-512",
            Algorithm::Sha1 => "SHA-1",
            Algorithm::Md5 => "MD5",
            Algorithm::Crc32 => "CRC32",
        }
    }

    /// The name as SFTP's `check-file` extension writes it (`sha256`, `md5`; CRC-32 has
    /// none there).
    pub fn sftp_name(self) -> Option<&'static str> {
        match self {
            Algorithm::Sha256 => Some("sha256"),
            Algorithm::Sha512 => Some("sha512"),
            Algorithm::Sha1 => Some("sha1"),
            Algorithm::Md5 => Some("md5"),
            Algorithm::Crc32 => None,
        }
    }

    /// Reads a HASH name, in any case; the dash may be left out (`sha256`, as some clients
    /// send it).
    pub fn parse(name: &str) -> Option<Algorithm> {
        let name = name.trim();
        Algorithm::ALL.into_iter().find(|algorithm| {
            let canonical = algorithm.name();
            canonical.eq_ignore_ascii_case(name)
                || canonical.replace('-', "").eq_ignore_ascii_case(name)
        })
    }

    /// Reads an SFTP `check-file` name (`sha256`, `md5`).
    pub fn parse_sftp(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.sftp_name() == Some(name))
    }

    /// The FEAT line: `HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32`, the star on `selected`.
    pub fn feat_line(selected: Algorithm) -> String {
        let names: Vec<String> = Algorithm::ALL
            .iter()
            .map(|&algorithm| {
                let star = if algorithm == selected { "*" } else { "" };
                format!("{}{star}", algorithm.name())
            })
            .collect();
        format!("HASH {}", names.join(";"))
    }

    /// A new hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        Hasher(match self {
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => State::Sha512(Box::default()),
            Algorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
            Algorithm::Md5 => State::Md5(md5::Md5::new()),
            Algorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
        })
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A digest being computed: feed it bytes, then [`Hasher::finish`].
#[derive(Debug, Clone)]
pub struct Hasher(State);

#[derive(Debug, Clone)]
enum State {
    Sha256(sha2::Sha256),
    Sha512(Box<sha2::Sha512>),
    Sha1(sha1::Sha1),
    Md5(md5::Md5),
    Crc32(crc32fast::Hasher),
}

impl Hasher {
    /// Adds bytes that follow those added before.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            State::Sha256(state) => state.update(bytes),
            State::Sha512(state) => state.update(bytes),
            State::Sha1(state) => state.update(bytes),
            State::Md5(state) => state.update(bytes),
            State::Crc32(state) => state.update(bytes),
        }
    }

    /// The digest of every byte added; CRC-32 as 4 bytes, most significant first (as its hex
    /// is written).
    pub fn finish(self) -> Vec<u8> {
        match self.0 {
            State::Sha256(state) => state.finalize().to_vec(),
            State::Sha512(state) => (*state).finalize().to_vec(),
            State::Sha1(state) => state.finalize().to_vec(),
            State::Md5(state) => state.finalize().to_vec(),
            State::Crc32(state) => state.finalize().to_be_bytes().to_vec(),
        }
    }
}

/// `bytes` as hexadecimal digits, lower case (HASH) or upper case (ProFTPD's `XSHA1` and kin).
pub fn hex(bytes: &[u8], upper: bool) -> String {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(digits[usize::from(byte >> 4)]));
        text.push(char::from(digits[usize::from(byte & 0xf)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(algorithm: Algorithm, bytes: &[u8]) -> String {
        let mut hasher = algorithm.hasher();
        // In two pieces, as a file is read.
        let (first, second) = bytes.split_at(bytes.len() / 2);
        hasher.update(first);
        hasher.update(second);
        hex(&hasher.finish(), false)
    }

    #[test]
    fn known_answers() {
        // FIPS 180-2 and RFC 1321 test vectors; CRC-32 of "abc" as zlib gives it.
        let table = [
            (
                Algorithm::Sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                Algorithm::Sha512,
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                 2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
            (Algorithm::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (Algorithm::Md5, "900150983cd24fb0d6963f7d28e17f72"),
            (Algorithm::Crc32, "352441c2"),
        ];
        for (algorithm, expected) in table {
            assert_eq!(digest(algorithm, b"abc"), expected, "{algorithm}");
        }
        assert_eq!(digest(Algorithm::Crc32, b""), "00000000");
    }

    #[test]
    fn names() {
        assert_eq!(Algorithm::parse("sha-256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::parse("SHA512"), Some(Algorithm::Sha512));
        assert_eq!(Algorithm::parse("crc32"), Some(Algorithm::Crc32));
        assert_eq!(Algorithm::parse("SHA-3"), None);
        assert_eq!(Algorithm::parse(""), None);
        assert_eq!(Algorithm::parse_sftp("md5"), Some(Algorithm::Md5));
        assert_eq!(Algorithm::parse_sftp("crc32"), None);
        assert_eq!(
            Algorithm::feat_line(Algorithm::Sha256),
            "HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32"
        );
        assert_eq!(
            Algorithm::feat_line(Algorithm::Md5),
            "HASH SHA-256;SHA-512;SHA-1;MD5*;CRC32"
        );
        assert_eq!(hex(&[0x0a, 0xbc], true), "0ABC");
    }
}
