//! Information (RFC 959 section 4.1.3, RFC 3659): SIZE, MDTM, MLST, STAT, FEAT, HELP, OPTS,
//! SITE.

use std::sync::atomic::Ordering;

use ferry_proto::digest::Algorithm;
use ferry_proto::listing::{self, Entry, EntryKind};
use ferry_proto::{MultiLineEncoder, Reply, ReplyCode, TransferType, VirtualPath, feat, time};
use tokio::io::AsyncReadExt;

use crate::service::FileService;
use crate::service::quota::{Counts, Limits};
use crate::service::rules::{Right, Rights};

use super::replies::{Fault, file_reply, refuse, storage_reply};
use super::{Login, Session, now_unix, reply};

pub(super) fn list_line(entry: &Entry, now: i64) -> String {
    let mut out = Vec::new();
    listing::format_list_line(entry, now, &mut out);
    String::from_utf8_lossy(&out).trim_end().to_string()
}

/// FEAT (RFC 2389): the TLS commands when TLS is configured, then [`FEATURES`].
/// The HASH line marks the session's algorithm (draft-bryan-ftpext-hash-02 section 3.1).
pub(super) fn feat(tls: bool, hash: Algorithm) -> Reply {
    let tls_features = if tls { feat::TLS_FEATURES } else { &[] };
    let hash_line = Algorithm::feat_line(hash);
    feat::feat_reply(
        tls_features
            .iter()
            .chain(FEATURES)
            .copied()
            .chain([hash_line.as_str()])
            .chain(DIGEST_FEATURES.iter().copied()),
    )
}

pub(super) fn help() -> Reply {
    Reply::multi(
        ReplyCode::HELP,
        vec![
            "The following commands are recognized:".into(),
            HELP_COMMANDS.to_string(),
            "Help OK.".into(),
        ],
    )
}

pub(super) fn opts(options: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(options).to_ascii_uppercase();
    let mut words = text.split_ascii_whitespace();
    match (words.next(), words.next()) {
        (Some("UTF8" | "UTF-8"), Some("ON") | None) => reply(ReplyCode::OK, "Always in UTF8 mode."),
        (Some("UTF8" | "UTF-8"), Some("OFF")) => {
            reply(ReplyCode::OK, "UTF8 off; names are sent as stored.")
        }
        (Some("MLST"), _) => reply(
            ReplyCode::OK,
            "MLST OPTS type;size;modify;perm;unique;UNIX.mode;",
        ),
        _ => reply(ReplyCode::SYNTAX_ERROR_ARGS, "Option not understood."),
    }
}

/// "used / limit" for one quota figure.
fn used_of(used: Option<u64>, limit: u64) -> String {
    let used = used.map_or("?".to_string(), |used| used.to_string());
    if limit == 0 {
        format!("{used} / unlimited")
    } else {
        format!("{used} / {limit}")
    }
}

/// The MLSx `perm` fact of a file in a folder with `rights` (RFC 3659 section 7.5.5).
pub(super) fn file_perm(rights: Rights) -> String {
    perm_letters(&[
        ('a', rights.allows(Right::Overwrite)),
        ('d', rights.allows(Right::Delete)),
        ('f', rights.allows(Right::Rename)),
        ('r', rights.allows(Right::Download)),
        ('w', rights.allows(Right::Overwrite)),
    ])
}

/// The `perm` fact of a folder: what its parent allows on it (`d`, `f`) and what it allows
/// inside (`c`, `l`, `m`, `p`). It can always be entered (`e`).
pub(super) fn dir_perm(parent: Rights, own: Rights) -> String {
    perm_letters(&[
        ('c', own.allows(Right::Upload)),
        ('d', parent.allows(Right::Rmdir)),
        ('e', true),
        ('f', parent.allows(Right::Rename)),
        ('l', own.allows(Right::List)),
        ('m', own.allows(Right::Mkdir)),
        ('p', own.allows(Right::Delete)),
    ])
}

fn perm_letters(letters: &[(char, bool)]) -> String {
    letters
        .iter()
        .filter(|(_, allowed)| *allowed)
        .map(|(letter, _)| letter)
        .collect()
}

/// The quota line of STAT and SITE QUOTA: used / limit for bytes and files.
fn quota_line(used: Option<Counts>, limits: Limits) -> String {
    format!(
        "Quota: bytes {}, files {}",
        used_of(used.map(|u| u.bytes), limits.bytes),
        used_of(used.map(|u| u.files), limits.files)
    )
}

pub(super) const FEATURES: &[&str] = &[
    "EPRT",
    "EPSV",
    "MDTM",
    "MFMT",
    "MLST type*;size*;modify*;perm*;unique*;UNIX.mode*;",
    "PASV",
    "RANG STREAM",
    "REST STREAM",
    "SIZE",
    "TVFS",
    "UTF8",
];

/// The digest commands of ProFTPD's mod_digest, listed after HASH as it lists them.
const DIGEST_FEATURES: &[&str] = &["XCRC", "XMD5", "XSHA1", "XSHA256", "XSHA512"];

pub(super) const HELP_COMMANDS: &str = "ABOR ACCT ALLO APPE CDUP CWD DELE EPRT EPSV FEAT HASH HELP LIST MDTM \
     MFMT MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV PORT PWD QUIT RANG REIN REST RETR RMD RNFR \
     RNTO SITE SIZE STAT STOR STOU STRU SYST TYPE USER XCRC XCUP XCWD XMD5 XMKD XPWD XRMD XSHA1 \
     XSHA256 XSHA512";

/// Largest file whose ASCII-mode SIZE is computed by reading it.
pub(super) const MAX_ASCII_SIZE_SCAN: u64 = 16 * 1024 * 1024;

/// Bytes of a folder's STAT reply gathered before a write to the control connection.
pub(super) const STAT_FLUSH: usize = 64 * 1024;

impl Session {
    /// SITE HELP, SITE QUOTA.
    pub(super) async fn site(&self, files: &FileService, args: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(args).to_ascii_uppercase();
        match text.split_ascii_whitespace().next() {
            Some("HELP") => Reply::multi(
                ReplyCode::HELP,
                vec![
                    "SITE commands recognized:".into(),
                    "HELP QUOTA".into(),
                    "Help OK.".into(),
                ],
            ),
            Some("QUOTA") => match files.usage().await {
                Ok((used, limits)) => reply(ReplyCode::OK, quota_line(Some(used), limits)),
                Err(error) => file_reply(&error),
            },
            _ => reply(ReplyCode::NOT_IMPLEMENTED, "Unknown SITE command."),
        }
    }

    pub(super) async fn size(&self, files: &FileService, input: &[u8]) -> Reply {
        let view = match self.view(input) {
            Ok(view) => view,
            Err(answer) => return answer,
        };
        match files.stat(&view).await {
            Ok(entry) if entry.kind == EntryKind::Dir => refuse(Fault::NotAPlainFile),
            Ok(entry) if self.transfer_type == TransferType::Ascii => {
                self.ascii_size(files, &view, entry.size).await
            }
            Ok(entry) => reply(ReplyCode::FILE_STATUS, entry.size.to_string()),
            Err(error) => {
                // An interrupted upload reports the bytes it kept, so clients can resume it.
                if let Ok(Some(size)) = files.partial_size(&view).await {
                    return reply(ReplyCode::FILE_STATUS, size.to_string());
                }
                file_reply(&error)
            }
        }
    }

    /// SIZE in ASCII mode is the number of bytes a RETR would send (RFC 3659 section 4), which
    /// means reading the file; beyond [`MAX_ASCII_SIZE_SCAN`] bytes the answer is 550.
    pub(super) async fn ascii_size(
        &self,
        files: &FileService,
        view: &VirtualPath,
        size: u64,
    ) -> Reply {
        if size > MAX_ASCII_SIZE_SCAN {
            return refuse(Fault::AsciiSizeTooLarge);
        }
        let mut download = match files.read(view, 0).await {
            Ok((download, _)) => download,
            Err(error) => return file_reply(&error),
        };
        let (mut buffer, mut last, mut total) = (vec![0u8; 64 * 1024], 0u8, 0u64);
        loop {
            match download.read(&mut buffer).await {
                Ok(0) => break,
                Ok(n) => {
                    for &byte in &buffer[..n] {
                        total += if byte == b'\n' && last != b'\r' { 2 } else { 1 };
                        last = byte;
                    }
                }
                Err(error) => {
                    let error = ferry_storage::StorageError::from(error);
                    tracing::warn!(peer = %self.peer, user = files.name(), operation = "read", path = %view, cause = %error, "storage failed");
                    return storage_reply(&error);
                }
            }
        }
        reply(ReplyCode::FILE_STATUS, total.to_string())
    }

    pub(super) async fn mdtm(&self, files: &FileService, input: &[u8]) -> Reply {
        let view = match self.view(input) {
            Ok(view) => view,
            Err(answer) => return answer,
        };
        match files.stat(&view).await {
            Ok(entry) if entry.kind == EntryKind::Dir => refuse(Fault::NotAPlainFile),
            Ok(entry) => reply(
                ReplyCode::FILE_STATUS,
                time::format_timeval(entry.modified.unwrap_or(0)),
            ),
            Err(error) => file_reply(&error),
        }
    }

    pub(super) async fn mlst(&self, files: &FileService, input: Option<&[u8]>) -> Reply {
        let view = match self.view(input.unwrap_or(b"")) {
            Ok(view) => view,
            Err(answer) => return answer,
        };
        match files.stat(&view).await {
            Ok(mut entry) => {
                entry.name = view.to_bytes();
                let parent = files.rights_in(&view.parent());
                let perm = if entry.kind == EntryKind::Dir {
                    dir_perm(parent, files.rights_in(&view))
                } else {
                    file_perm(parent)
                };
                let mut facts = Vec::new();
                listing::format_mlsx(&entry, None, &perm, &mut facts);
                Reply::multi(
                    ReplyCode::FILE_ACTION_OK,
                    vec![
                        format!("Listing {view}"),
                        // Reply::encode starts inner lines with the space RFC 3659 requires.
                        String::from_utf8_lossy(&facts).into_owned(),
                        "End".into(),
                    ],
                )
            }
            Err(error) => file_reply(&error),
        }
    }

    /// STAT without an argument: the session's status.
    pub(super) fn status(&self) -> Reply {
        let mut lines = vec![
            "Ferry FTP server status:".to_string(),
            format!("Connected from {}", self.peer.ip()),
        ];
        match &self.login {
            Login::Done(files) => {
                lines.push(format!("Logged in as {}", files.name()));
                lines.push(quota_line(files.member().usage.used(), files.rules().quota));
            }
            _ => lines.push("Not logged in".to_string()),
        }
        lines.extend([
            format!(
                "TYPE: {}, STRUcture: File, MODE: Stream",
                if self.transfer_type == TransferType::Ascii {
                    "ASCII"
                } else {
                    "BINARY"
                }
            ),
            format!(
                "Control connection: {}",
                if self.stream.is_tls() { "TLS" } else { "clear" }
            ),
        ]);
        if self.hashing.is_some() {
            lines.push("Computing a digest (ABOR stops it)".to_string());
        }
        if let Some(running) = &self.running {
            lines.push(format!(
                "{} {}: {} bytes transferred",
                running.verb,
                running.name,
                running.bytes.load(Ordering::Relaxed)
            ));
        } else {
            lines.push("No data connection".into());
        }
        lines.push("End of status".into());
        Reply::multi(ReplyCode::SYSTEM_STATUS, lines)
    }

    /// STAT with a path: a file's `ls -l` line (213), or a folder's lines (212) written as
    /// they are read, like a listing, so a folder of any size costs one buffer; `None` when
    /// the reply went out already.
    pub(super) async fn stat(
        &mut self,
        files: &FileService,
        input: Option<&[u8]>,
    ) -> Option<Reply> {
        let Some(input) = input else {
            return Some(self.status());
        };
        let view = match self.view(input) {
            Ok(view) => view,
            Err(answer) => return Some(answer),
        };
        let now = now_unix();
        let title = format!("Status of {}:", String::from_utf8_lossy(input));
        let mut entries = match files.stat(&view).await {
            Ok(entry) if entry.kind == EntryKind::Dir => match files.list(&view).await {
                Ok(entries) => entries,
                Err(error) => return Some(file_reply(&error)),
            },
            // A file's status is 213, a folder's 212 (RFC 959 section 4.2).
            Ok(entry) => {
                let lines = vec![title, list_line(&entry, now), "End of status".into()];
                return Some(Reply::multi(ReplyCode::FILE_STATUS, lines));
            }
            Err(error) => return Some(file_reply(&error)),
        };
        let mut out = Vec::with_capacity(STAT_FLUSH + 1024);
        let reply = MultiLineEncoder::start(ReplyCode::DIRECTORY_STATUS, &title, &mut out);
        let mut line = Vec::new();
        while let Some(Ok(entry)) = entries.next().await {
            line.clear();
            listing::format_list_line(&entry, now, &mut line);
            reply.line(String::from_utf8_lossy(&line).trim_end(), &mut out);
            if out.len() >= STAT_FLUSH {
                if self.send_bytes(&out).await.is_err() {
                    // The control connection broke; the next read ends the session.
                    return None;
                }
                out.clear();
            }
        }
        reply.end("End of status", &mut out);
        let _ = self.send_bytes(&out).await;
        None
    }
}
