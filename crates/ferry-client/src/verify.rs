//! `--verify`: after each file, the server's digest of it against ours.
//!
//! FTP: FEAT `HASH` (draft-bryan-ftpext-hash-02) picks the best algorithm both sides know
//! (SHA-256, SHA-512, SHA-1, MD5, CRC32 in that order; `OPTS HASH` when it is not the server's
//! selected one), then `HASH path` answers `213 SHA-256 0-N hex path`. Without HASH the common
//! aliases are tried once each, in that order: `XSHA256`, `XSHA1`, `XMD5`, `XCRC` (`250 hex`);
//! the first the server knows is kept for the session. SFTP: the `check-file-name` extension
//! (ProFTPD's mod_sftp) when the server announced it. A server with none of these leaves the
//! file unverified: the caller warns once and counts it.
//!
//! The parsing and the digests are sans-IO (`parse_*`, [`Hasher`]); [`FtpDigests`] and
//! `sftp_digest` do the asking.

use std::path::Path;

use crate::ClientError;
use crate::connection::Connection;

/// A digest algorithm both FTP HASH and SFTP check-file know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
    /// SHA-1.
    Sha1,
    /// MD5.
    Md5,
    /// CRC-32 (IEEE, as zlib's crc32).
    Crc32,
}

impl Algo {
    /// Best first.
    pub const PREFERENCE: [Algo; 5] = [
        Algo::Sha256,
        Algo::Sha512,
        Algo::Sha1,
        Algo::Md5,
        Algo::Crc32,
    ];

    /// The name HASH uses (`SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            Algo::Sha256 => "SHA-256",
            Algo::Sha512 => "SHA-512",
            Algo::Sha1 => "SHA-1",
            Algo::Md5 => "MD5",
            Algo::Crc32 => "CRC32",
        }
    }

    /// The algorithm HASH (or SFTP, `sha256`) calls `name`.
    pub fn from_name(name: &str) -> Option<Algo> {
        let plain: String = name
            .chars()
            .filter(|c| *c != '-')
            .collect::<String>()
            .to_ascii_uppercase();
        match plain.as_str() {
            "SHA256" => Some(Algo::Sha256),
            "SHA512" => Some(Algo::Sha512),
            "SHA1" => Some(Algo::Sha1),
            "MD5" => Some(Algo::Md5),
            "CRC32" => Some(Algo::Crc32),
            _ => None,
        }
    }

    /// Hex digits of a digest.
    pub fn hex_len(self) -> usize {
        match self {
            Algo::Sha256 => 64,
            Algo::Sha512 => 128,
            Algo::Sha1 => 40,
            Algo::Md5 => 32,
            Algo::Crc32 => 8,
        }
    }

    /// The alias command (`XSHA256`), for those that have one.
    fn alias(self) -> Option<&'static str> {
        match self {
            Algo::Sha256 => Some("XSHA256"),
            Algo::Sha1 => Some("XSHA1"),
            Algo::Md5 => Some("XMD5"),
            Algo::Crc32 => Some("XCRC"),
            Algo::Sha512 => None,
        }
    }
}

/// A digest: its algorithm and lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// The algorithm.
    pub algo: Algo,
    /// Lower-case hex.
    pub hex: String,
}

/// FEAT's `HASH SHA-256*;SHA-512;MD5` (the text after `HASH`): the algorithms offered, and the
/// selected one (starred).
pub fn parse_feat_hash(text: &str) -> (Vec<Algo>, Option<Algo>) {
    let mut offered = Vec::new();
    let mut selected = None;
    for item in text
        .split(';')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let starred = item.ends_with('*');
        if let Some(algo) = Algo::from_name(item.trim_end_matches('*')) {
            offered.push(algo);
            if starred {
                selected = Some(algo);
            }
        }
    }
    (offered, selected)
}

/// The best algorithm of `offered`.
pub fn best_of(offered: &[Algo]) -> Option<Algo> {
    Algo::PREFERENCE
        .into_iter()
        .find(|algo| offered.contains(algo))
}

/// A `213` HASH reply's text, `SHA-256 0-49 hex path`: the digest, when it covers the whole
/// file (starts at 0) and the hex is of the algorithm's length. The three words may come after
/// others: ProFTPD's mod_digest sends `213-Computing SHA-256 digest` first, and a multi-line
/// reply's text holds every line.
pub fn parse_hash_reply(text: &str) -> Option<Digest> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(3).find_map(|window| {
        let algo = Algo::from_name(window[0])?;
        if !window[1].starts_with("0-") || !is_hex(window[2], algo) {
            return None;
        }
        Some(Digest {
            algo,
            hex: window[2].to_ascii_lowercase(),
        })
    })
}

/// An alias reply's text (`250 hex` or `250 hex path`, some servers put the path first): the
/// first word that is hex of the algorithm's length.
pub fn parse_alias_reply(text: &str, algo: Algo) -> Option<Digest> {
    text.split_whitespace()
        .find(|word| is_hex(word, algo))
        .map(|hex| Digest {
            algo,
            hex: hex.to_ascii_lowercase(),
        })
}

fn is_hex(word: &str, algo: Algo) -> bool {
    word.len() == algo.hex_len() && word.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Digests bytes as they come: ferry-proto's hashing (the server's own), named by [`Algo`].
pub struct Hasher {
    algo: Algo,
    inner: ferry_proto::digest::Hasher,
}

impl Hasher {
    /// A fresh hasher for `algo`.
    pub fn new(algo: Algo) -> Hasher {
        use ferry_proto::digest::Algorithm;
        let algorithm = match algo {
            Algo::Sha256 => Algorithm::Sha256,
            Algo::Sha512 => Algorithm::Sha512,
            Algo::Sha1 => Algorithm::Sha1,
            Algo::Md5 => Algorithm::Md5,
            Algo::Crc32 => Algorithm::Crc32,
        };
        Hasher {
            algo,
            inner: algorithm.hasher(),
        }
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
    }

    /// The digest.
    pub fn finish(self) -> Digest {
        Digest {
            algo: self.algo,
            hex: ferry_proto::digest::hex(&self.inner.finish(), false),
        }
    }
}

/// The digest of a local file (read on a blocking thread).
pub async fn local_digest(path: &Path, algo: Algo) -> Result<Digest, ClientError> {
    let owned = path.to_path_buf();
    let result = tokio::task::spawn_blocking(move || {
        let mut buf = vec![0; 256 * 1024];
        digest_file(&owned, algo, &mut buf)
    })
    .await
    .map_err(|error| std::io::Error::other(error.to_string()));
    result
        .and_then(|inner| inner)
        .map_err(|source| ClientError::local(path, source))
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The digests agree.
    Verified(Algo),
    /// The server has no digest command: nothing was checked.
    Unverified,
    /// They differ: ours, the server's.
    Mismatch(Digest, Digest),
}

impl Check {
    /// The one-line error of a mismatch on `name`.
    pub fn mismatch_error(name: &str, ours: &Digest, theirs: &Digest) -> ClientError {
        ClientError::Usage(format!(
            "{name}: {} differs: here {}, on the server {}",
            ours.algo.name(),
            ours.hex,
            theirs.hex
        ))
    }
}

/// How an FTP server gives digests, learnt at the first file and kept for the session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FtpDigests {
    /// Not asked yet.
    #[default]
    Unknown,
    /// HASH, with this algorithm selected.
    Hash(Algo),
    /// This alias command.
    Alias(Algo),
    /// None.
    None,
}

impl FtpDigests {
    /// The server's digest of `path`, `None` when it offers none.
    pub async fn remote(
        &mut self,
        connection: &mut Connection,
        path: &str,
    ) -> Result<Option<Digest>, ClientError> {
        if *self == FtpDigests::Unknown {
            *self = self.learn(connection, path).await?;
        }
        match *self {
            FtpDigests::Hash(algo) => {
                let line = format!("HASH {path}");
                let reply = connection.command(&line).await?;
                if !reply.code.is_success() {
                    return Err(ClientError::Server {
                        command: line,
                        reply,
                    });
                }
                parse_hash_reply(&reply.text())
                    .filter(|digest| digest.algo == algo)
                    .map(Some)
                    .ok_or_else(|| ClientError::Protocol(format!("HASH reply: {}", reply.text())))
            }
            FtpDigests::Alias(algo) => {
                let command = algo.alias().unwrap_or("XSHA256");
                let line = format!("{command} {path}");
                let reply = connection.command(&line).await?;
                if !reply.code.is_success() {
                    return Err(ClientError::Server {
                        command: line,
                        reply,
                    });
                }
                parse_alias_reply(&reply.text(), algo)
                    .map(Some)
                    .ok_or_else(|| {
                        ClientError::Protocol(format!("{command} reply: {}", reply.text()))
                    })
            }
            FtpDigests::Unknown | FtpDigests::None => Ok(None),
        }
    }

    /// Finds how the server gives digests: FEAT HASH (choosing with OPTS HASH), else the first
    /// alias it does not refuse as unknown (500, 502, 504).
    async fn learn(
        &self,
        connection: &mut Connection,
        path: &str,
    ) -> Result<FtpDigests, ClientError> {
        let feat = connection.features().lines().iter().find_map(|line| {
            let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            word.eq_ignore_ascii_case("HASH").then(|| rest.to_string())
        });
        if let Some(rest) = feat {
            let (offered, selected) = parse_feat_hash(&rest);
            if let Some(best) = best_of(&offered) {
                if selected == Some(best) {
                    return Ok(FtpDigests::Hash(best));
                }
                let reply = connection
                    .command(&format!("OPTS HASH {}", best.name()))
                    .await?;
                if reply.code.is_success() {
                    return Ok(FtpDigests::Hash(best));
                }
                if let Some(selected) = selected {
                    return Ok(FtpDigests::Hash(selected));
                }
            }
        }
        for algo in [Algo::Sha256, Algo::Sha1, Algo::Md5, Algo::Crc32] {
            let Some(command) = algo.alias() else {
                continue;
            };
            let reply = connection.command(&format!("{command} {path}")).await?;
            if reply.code.is_success() {
                return Ok(FtpDigests::Alias(algo));
            }
            if !matches!(reply.code.0, 500 | 502 | 504) {
                // Known, but refused for this file: the command exists.
                return Ok(FtpDigests::Alias(algo));
            }
        }
        Ok(FtpDigests::None)
    }

    /// Checks `remote` against the local `local`.
    pub async fn check(
        &mut self,
        connection: &mut Connection,
        remote: &str,
        local: &Path,
    ) -> Result<Check, ClientError> {
        let Some(theirs) = self.remote(connection, remote).await? else {
            return Ok(Check::Unverified);
        };
        let ours = local_digest(local, theirs.algo).await?;
        Ok(if ours.hex == theirs.hex {
            Check::Verified(ours.algo)
        } else {
            Check::Mismatch(ours, theirs)
        })
    }
}

impl FtpDigests {
    /// True when checks may be batched with [`FtpDigests::check_batch`]: the server announced
    /// HASH in FEAT and it was chosen. Servers with only the aliases, or none, are asked one
    /// file at a time as before.
    pub fn batches(&self) -> bool {
        matches!(self, FtpDigests::Hash(_))
    }

    /// Checks several files at once: their `HASH` commands go in one write and the replies are
    /// read in order while the local digests are computed (one blocking task for them all).
    /// One result per `(remote, local)`, in order: a refusal or a bad reply fails its own file
    /// only; a connection that fails fails every file of the batch. Call only when
    /// [`FtpDigests::batches`].
    pub async fn check_batch(
        &self,
        connection: &mut Connection,
        files: &[(String, std::path::PathBuf)],
    ) -> Vec<Result<Check, ClientError>> {
        let FtpDigests::Hash(algo) = *self else {
            return files
                .iter()
                .map(|_| Err(ClientError::Protocol("no HASH to batch".into())))
                .collect();
        };
        let lines: Vec<String> = files
            .iter()
            .map(|(remote, _)| format!("HASH {remote}"))
            .collect();
        let locals: Vec<std::path::PathBuf> =
            files.iter().map(|(_, local)| local.clone()).collect();
        let (replies, ours) =
            tokio::join!(connection.pipeline(&lines), local_digests(locals, algo));
        let replies = match replies {
            Ok(replies) => replies,
            Err(error) => {
                let text = error.to_string();
                return files
                    .iter()
                    .map(|_| Err(ClientError::Protocol(text.clone())))
                    .collect();
            }
        };
        lines
            .into_iter()
            .zip(replies)
            .zip(ours)
            .map(|((line, reply), ours)| {
                if !reply.code.is_success() {
                    return Err(ClientError::Server {
                        command: line,
                        reply,
                    });
                }
                let theirs = parse_hash_reply(&reply.text())
                    .filter(|digest| digest.algo == algo)
                    .ok_or_else(|| {
                        ClientError::Protocol(format!("HASH reply: {}", reply.text()))
                    })?;
                let ours = ours?;
                Ok(if ours.hex == theirs.hex {
                    Check::Verified(ours.algo)
                } else {
                    Check::Mismatch(ours, theirs)
                })
            })
            .collect()
    }
}

/// The digests of several local files, on one blocking thread; one result a file.
async fn local_digests(
    paths: Vec<std::path::PathBuf>,
    algo: Algo,
) -> Vec<Result<Digest, ClientError>> {
    let count = paths.len();
    let joined = tokio::task::spawn_blocking(move || {
        let mut buf = vec![0; 256 * 1024];
        paths
            .iter()
            .map(|path| {
                digest_file(path, algo, &mut buf).map_err(|source| ClientError::local(path, source))
            })
            .collect::<Vec<_>>()
    })
    .await;
    match joined {
        Ok(results) => results,
        Err(error) => (0..count)
            .map(|_| Err(ClientError::Protocol(format!("local digest: {error}"))))
            .collect(),
    }
}

fn digest_file(path: &Path, algo: Algo, buf: &mut [u8]) -> std::io::Result<Digest> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Hasher::new(algo);
    loop {
        let read = file.read(buf)?;
        if read == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..read]);
    }
}

/// Checks `remote` against the local `local` over SFTP (`check-file-name`).
pub async fn check_sftp(
    session: &mut crate::sftp::SftpSession,
    remote: &str,
    local: &Path,
) -> Result<Check, ClientError> {
    let Some(theirs) = session.check_file(remote).await? else {
        return Ok(Check::Unverified);
    };
    let ours = local_digest(local, theirs.algo).await?;
    Ok(if ours.hex == theirs.hex {
        Check::Verified(ours.algo)
    } else {
        Check::Mismatch(ours, theirs)
    })
}

/// What a downloaded file's check means: `Ok(true)` verified, `Ok(false)` unverified (no
/// digest on the server); a mismatch removes `target` (no corrupt file is left) and is the
/// error, naming `name`.
pub async fn settle_download(
    check: Result<Check, ClientError>,
    target: &Path,
    name: &str,
) -> Result<bool, ClientError> {
    match check {
        Ok(Check::Verified(_)) => Ok(true),
        Ok(Check::Unverified) => Ok(false),
        Ok(Check::Mismatch(ours, theirs)) => {
            let _ = tokio::fs::remove_file(target).await;
            let error = Check::mismatch_error(name, &ours, &theirs);
            Err(ClientError::Usage(format!(
                "{error}; the download was removed"
            )))
        }
        Err(error) => {
            // Unchecked is not checked: the file goes too.
            let _ = tokio::fs::remove_file(target).await;
            Err(error)
        }
    }
}

/// The one warning for files the server could not verify.
pub fn unverified_warning(count: usize) -> String {
    format!(
        "warning: the server offers no digest (FTP HASH, XSHA256, XSHA1, XMD5, XCRC; SFTP \
         check-file): {count} file(s) unverified"
    )
}

/// The SFTP `check-file-name` request's fields: path, algorithms, whole file, one hash.
pub fn check_file_request(path: &str) -> Vec<u8> {
    let mut data = Vec::new();
    for field in [path.as_bytes(), b"sha256,sha512,sha1,md5".as_slice()] {
        data.extend_from_slice(&(field.len() as u32).to_be_bytes());
        data.extend_from_slice(field);
    }
    data.extend_from_slice(&0u64.to_be_bytes());
    data.extend_from_slice(&0u64.to_be_bytes());
    data.extend_from_slice(&0u32.to_be_bytes());
    data
}

/// A `check-file` reply's fields (after the id): `"check-file"`, the algorithm, the hash.
pub fn parse_check_file_reply(data: &[u8]) -> Option<Digest> {
    fn string(data: &[u8]) -> Option<(&[u8], &[u8])> {
        let len = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as usize;
        let value = data.get(4..4 + len)?;
        Some((value, &data[4 + len..]))
    }
    let (first, mut rest) = string(data)?;
    let name = if first == b"check-file" {
        let (name, after) = string(rest)?;
        rest = after;
        name
    } else {
        first
    };
    let algo = Algo::from_name(std::str::from_utf8(name).ok()?)?;
    (rest.len() * 2 == algo.hex_len()).then(|| Digest {
        algo,
        hex: rest.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feat_and_replies() {
        let (offered, selected) = parse_feat_hash("SHA-256*;SHA-512;SHA-1;MD5;CRC32");
        assert_eq!(offered.len(), 5);
        assert_eq!(selected, Some(Algo::Sha256));
        let (offered, selected) = parse_feat_hash("SHA-1;MD5*;CRC32");
        assert_eq!(
            (best_of(&offered), selected),
            (Some(Algo::Sha1), Some(Algo::Md5))
        );
        let hex = "ab".repeat(32);
        let digest = parse_hash_reply(&format!(
            "SHA-256 0-1048576 {} dir/a b.txt",
            hex.to_uppercase()
        ))
        .unwrap_or_else(|| panic!("parsed"));
        assert_eq!(digest.hex, hex);
        assert!(parse_hash_reply(&format!("SHA-256 5-10 {hex} a")).is_none());
        // ProFTPD's two lines, joined.
        let proftpd = format!("Computing SHA-256 digest SHA-256 0-1500000 {hex} tree/big.bin");
        assert_eq!(parse_hash_reply(&proftpd).map(|d| d.hex), Some(hex.clone()));
        assert!(parse_hash_reply("SHA-256 0-1 abc a").is_none());
        assert_eq!(
            parse_alias_reply("a.txt 0A1B2C3D", Algo::Crc32).map(|d| d.hex),
            Some("0a1b2c3d".into())
        );
        assert!(parse_alias_reply("no digest here", Algo::Md5).is_none());
    }

    #[test]
    fn digests_match_the_usual_tools() {
        let digest = |algo, bytes: &[u8]| {
            let mut hasher = Hasher::new(algo);
            hasher.update(bytes);
            hasher.finish().hex
        };
        // sha256sum, sha1sum, md5sum and python3 -c 'zlib.crc32' of "hello\n".
        assert_eq!(
            digest(Algo::Sha256, b"hello\n"),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert_eq!(
            digest(Algo::Sha1, b"hello\n"),
            "f572d396fae9206628714fb2ce00f72e94f2258f"
        );
        assert_eq!(
            digest(Algo::Md5, b"hello\n"),
            "b1946ac92492d2347c6235b4d2611184"
        );
        assert_eq!(digest(Algo::Crc32, b"hello\n"), "363a3020");
        assert_eq!(digest(Algo::Crc32, b""), "00000000");
    }

    #[test]
    fn check_file_round_trip() {
        let request = check_file_request("/a");
        assert_eq!(&request[..6], b"\0\0\0\x02/a");
        let mut reply = Vec::new();
        for field in [b"check-file".as_slice(), b"md5"] {
            reply.extend_from_slice(&(field.len() as u32).to_be_bytes());
            reply.extend_from_slice(field);
        }
        reply.extend_from_slice(&[0xb1; 16]);
        let digest = parse_check_file_reply(&reply).unwrap_or_else(|| panic!("parsed"));
        assert_eq!((digest.algo, digest.hex), (Algo::Md5, "b1".repeat(16)));
        assert!(parse_check_file_reply(&reply[..20]).is_none());
    }
}
