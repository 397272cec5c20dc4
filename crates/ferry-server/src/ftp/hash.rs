//! Digests over FTP: HASH and OPTS HASH (draft-bryan-ftpext-hash-02), RANG
//! (draft-bryan-ftp-range: the range the next HASH or RETR covers), and the XCRC/XMD5/XSHA1/XSHA256/XSHA512
//! commands as ProFTPD's mod_digest (1.3.8, Debian's) answers them: `250 HEX`.
//!
//! A digest runs as its own task, like a transfer: the session answers ABOR, STAT, NOOP and
//! QUIT meanwhile and holds other commands back, so one session hashes one file at a time.
//! ABOR cancels it with 426 then 226, as for a transfer; the session's end cancels it too
//! (the [`Hashing`] drops its token's guard).

use std::sync::Arc;

use ferry_proto::digest::{Algorithm, hex};
use ferry_proto::{Reply, ReplyCode};
use ferry_storage::ErrorKind;
use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::service::{FileService, Span};

use super::replies::file_reply;
use super::{Session, reply};

/// A digest being computed for the session.
#[derive(Debug)]
pub(super) struct Hashing {
    /// The reply once the digest is done (213, or the error's).
    answer: oneshot::Receiver<Reply>,
    cancel: CancellationToken,
    /// Cancels the digest when the session drops it (the session ended).
    _guard: DropGuard,
}

impl Hashing {
    /// Stops the digest; its task answers nothing more.
    pub(super) fn cancel(&self) {
        self.cancel.cancel();
    }
}

/// Which reply a digest command wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// HASH: `213 SHA-256 0-5 <hex> <path>`, hex in lower case.
    Hash,
    /// XSHA1 and kin: `250 <HEX>`, as ProFTPD 1.3.8's mod_digest writes it.
    Bare,
}

/// Ends with the reply of the running digest; never when none runs.
pub(super) async fn next_answer(hashing: &mut Option<Hashing>) -> Reply {
    match hashing {
        Some(hashing) => match (&mut hashing.answer).await {
            Ok(answer) => answer,
            Err(_) => reply(ReplyCode::LOCAL_ERROR, "Digest ended unexpectedly."),
        },
        None => std::future::pending().await,
    }
}

impl Session {
    /// OPTS HASH [algorithm]: the session's algorithm, or a new one (draft section 3.2).
    pub(super) fn opts_hash(&mut self, argument: &str) -> Reply {
        let argument = argument.trim();
        if argument.is_empty() {
            return reply(ReplyCode::OK, self.hash_algorithm.name());
        }
        match Algorithm::parse(argument) {
            Some(algorithm) => {
                self.hash_algorithm = algorithm;
                reply(ReplyCode::OK, algorithm.name())
            }
            None => reply(
                ReplyCode::SYNTAX_ERROR_ARGS,
                "Unsupported algorithm; see FEAT.",
            ),
        }
    }

    /// RANG start end (draft-bryan-ftp-range): the octets `start..=end` the next HASH or RETR
    /// covers; `RANG 1 0` clears it.
    pub(super) fn rang(&mut self, start: u64, end: u64) -> Reply {
        if (start, end) == (1, 0) {
            self.range = None;
            return reply(ReplyCode::FILE_ACTION_PENDING, "Range cleared.");
        }
        if end < start {
            return reply(
                ReplyCode::SYNTAX_ERROR_ARGS,
                "RANG needs an end at or after its start.",
            );
        }
        self.range = Some((start, end));
        reply(
            ReplyCode::FILE_ACTION_PENDING,
            format!("Restarting at {start}. Ending byte {end}. Send RETR or HASH next."),
        )
    }

    /// HASH (with the session's algorithm and any RANG) or an X* command (one algorithm, the
    /// whole file): starts the digest and answers when it is done.
    pub(super) fn hash(
        &mut self,
        files: &Arc<FileService>,
        input: &[u8],
        algorithm: Algorithm,
        style: Style,
    ) -> Option<Reply> {
        let view = match self.view(input) {
            Ok(view) => view,
            Err(answer) => return Some(answer),
        };
        let range = if style == Style::Hash {
            self.range.take()
        } else {
            None
        };
        let span = match range {
            Some((start, end)) => Span {
                start,
                length: Some((end - start).saturating_add(1)),
                block: 0,
            },
            None => Span::WHOLE,
        };
        // As the client wrote it (ProFTPD does the same); the reply encoder keeps CR and LF out.
        let shown = String::from_utf8_lossy(input).into_owned();
        let cancel = CancellationToken::new();
        let (sender, answer) = oneshot::channel();
        let files = Arc::clone(files);
        let task_cancel = cancel.clone();
        tokio::spawn(async move {
            let answer = match files.digest(&view, algorithm, span, &task_cancel).await {
                Ok(Some(digest)) => match style {
                    Style::Hash => {
                        // The whole file reads `0-SIZE` as ProFTPD writes it; a RANG range as
                        // the client set it (its end included).
                        let end = match range {
                            Some((_, end)) => end,
                            None => digest.start + digest.length,
                        };
                        let text = format!(
                            "{} {}-{end} {} {shown}",
                            algorithm.name(),
                            digest.start,
                            hex(&digest.bytes, false)
                        );
                        reply(ReplyCode::FILE_STATUS, text)
                    }
                    Style::Bare => reply(ReplyCode::FILE_ACTION_OK, hex(&digest.bytes, true)),
                },
                // ABOR answered already.
                Ok(None) => return,
                Err(error) if error.storage_kind() == Some(ErrorKind::Unsupported) => reply(
                    ReplyCode::SYNTAX_ERROR_ARGS,
                    "The range goes past the end of the file.",
                ),
                Err(error) => file_reply(&error),
            };
            let _ = sender.send(answer);
        });
        self.hashing = Some(Hashing {
            answer,
            _guard: cancel.clone().drop_guard(),
            cancel,
        });
        None
    }
}
