//! The one mapping from what went wrong to the FTP reply that says so: every storage error
//! kind, path error, transfer failure, unparsable command and refusal of the front end becomes
//! a [`Fault`], and [`answer`] gives its code, its text and whether the session closes after
//! it. Handlers never pick an error code themselves.
//!
//! This module does NOT decide when a command fails (the handlers and the storage do), nor
//! answer sequencing mistakes (`503` with a hint of what to send first), which are part of the
//! conversation rather than failures.

use ferry_proto::{PathError, Reply, ReplyCode};
use ferry_storage::{ErrorKind, StorageError};

use crate::service::FileError;
use crate::service::rules::Right;
use crate::transfer::Failure;

use super::{Session, reply};
use ferry_proto::CommandError;

/// Whether the session goes on after a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum After {
    Continue,
    Close,
}

/// What went wrong, as the FTP front end tells the client.
#[derive(Debug)]
pub(super) enum Fault<'a> {
    /// The storage refused or failed, with this kind.
    Storage(ErrorKind),
    /// The file service refused or failed.
    File(&'a FileError),
    /// The client's path cannot name a file.
    Path(PathError),
    /// A transfer ended without success.
    Transfer(&'a Failure),
    /// The command line did not parse.
    Command(&'a CommandError),
    /// A longer command line than `--max-line`.
    LineTooLong,
    /// SIZE in ASCII mode of a file too large to count its line endings.
    AsciiSizeTooLarge,
    /// The account may not do this here.
    Denied { right: Right, folder: &'a str },
    /// The user's quota is reached; says which limit.
    Quota(&'a str),
    /// The account has as many sessions open as it may.
    TooManyUserSessions(u64),
    /// The account was removed from the users file while the session was open.
    AccountRemoved,
    /// A folder was needed.
    NotAFolder,
    /// A plain file was needed.
    NotAPlainFile,
    /// An upload named a folder.
    IsAFolder,
    /// A transfer without PORT, PASV or EPSV before it.
    NoDataConnection,
    /// The data connection could not be made or accepted.
    DataConnectionFailed,
    /// A command that needs a login, before one.
    NotLoggedIn,
    /// USER and PASS did not match.
    LoginIncorrect,
    /// `--require-tls`: a login on a clear control connection.
    TlsRequiredForLogin,
    /// `--require-tls`: a transfer without PROT P.
    DataMustBeProtected,
    /// Too many failed logins from this address: it is banned now.
    TooManyFailures,
    /// The login or idle timeout ran out.
    Timeout,
    /// The server is stopping.
    ShuttingDown,
    /// Bytes came in clear after AUTH, before the TLS handshake (CVE-2011-0411).
    CommandsBeforeHandshake,
}

/// The reply for `fault`, and whether the session closes after it.
pub(super) fn answer(fault: Fault<'_>) -> (Reply, After) {
    use After::{Close, Continue};
    let (code, text, after): (ReplyCode, String, After) = match fault {
        Fault::Storage(kind) => {
            let (code, text) = storage_text(kind);
            (code, text.into(), Continue)
        }
        Fault::File(FileError::Path(error)) => return answer(Fault::Path(*error)),
        Fault::File(FileError::Denied { right, folder }) => {
            return answer(Fault::Denied {
                right: *right,
                folder,
            });
        }
        Fault::File(FileError::Quota(limit)) => return answer(Fault::Quota(limit)),
        Fault::File(FileError::Storage(error)) => return answer(Fault::Storage(error.kind())),
        Fault::Path(PathError::Nul | PathError::NotAName) => (
            ReplyCode::BAD_FILE_NAME,
            "File name not allowed.".into(),
            Continue,
        ),
        Fault::Path(PathError::TooLong) => {
            (ReplyCode::BAD_FILE_NAME, "Path too long.".into(), Continue)
        }
        Fault::Transfer(failure) => match failure {
            Failure::Connect(_) => return answer(Fault::DataConnectionFailed),
            Failure::Network(_) => (
                ReplyCode::TRANSFER_ABORTED,
                "Connection closed; transfer aborted.".into(),
                Continue,
            ),
            Failure::Cancelled => (
                ReplyCode::TRANSFER_ABORTED,
                "Transfer aborted.".into(),
                Continue,
            ),
            Failure::Stalled(_) => (
                ReplyCode::TRANSFER_ABORTED,
                "Data connection stalled; transfer aborted.".into(),
                Continue,
            ),
            Failure::Tls(reason) => (
                ReplyCode::DATA_TLS_FAILED,
                format!("TLS on the data connection failed: {reason}."),
                Continue,
            ),
            Failure::Storage(error) => return answer(Fault::Storage(error.kind())),
            Failure::Quota(limit) => (
                ReplyCode::EXCEEDED_STORAGE,
                format!("Quota exceeded: {limit} bytes allowed; nothing was kept."),
                Continue,
            ),
        },
        Fault::Command(error) => return (Reply::from(error), Continue),
        Fault::LineTooLong => (
            ReplyCode::SYNTAX_ERROR,
            "Command line too long.".into(),
            Continue,
        ),
        Fault::AsciiSizeTooLarge => (
            ReplyCode::FILE_UNAVAILABLE,
            "SIZE in ASCII mode is refused for large files; use TYPE I.".into(),
            Continue,
        ),
        Fault::Denied { right, folder } => (
            ReplyCode::FILE_UNAVAILABLE,
            format!("Permission denied: no {} right in {folder}.", right.name()),
            Continue,
        ),
        Fault::Quota(limit) => (
            ReplyCode::EXCEEDED_STORAGE,
            format!("Quota exceeded: {limit}."),
            Continue,
        ),
        Fault::TooManyUserSessions(limit) => (
            ReplyCode::SERVICE_NOT_AVAILABLE,
            format!("Too many sessions for this user (at most {limit}); try again later."),
            Close,
        ),
        Fault::AccountRemoved => (
            ReplyCode::SERVICE_NOT_AVAILABLE,
            "Your account was removed; closing.".into(),
            Close,
        ),
        Fault::NotAFolder => (
            ReplyCode::FILE_UNAVAILABLE,
            "Not a folder.".into(),
            Continue,
        ),
        Fault::NotAPlainFile => (
            ReplyCode::FILE_UNAVAILABLE,
            "Not a plain file.".into(),
            Continue,
        ),
        Fault::IsAFolder => (
            ReplyCode::FILE_UNAVAILABLE,
            "That is a folder.".into(),
            Continue,
        ),
        Fault::NoDataConnection => (
            ReplyCode::CANT_OPEN_DATA,
            "Use PORT, PASV or EPSV first.".into(),
            Continue,
        ),
        Fault::DataConnectionFailed => (
            ReplyCode::CANT_OPEN_DATA,
            "Can't open data connection.".into(),
            Continue,
        ),
        Fault::NotLoggedIn => (
            ReplyCode::NOT_LOGGED_IN,
            "Please log in with USER and PASS first.".into(),
            Continue,
        ),
        Fault::LoginIncorrect => (
            ReplyCode::NOT_LOGGED_IN,
            "Login incorrect.".into(),
            Continue,
        ),
        Fault::TlsRequiredForLogin => (
            ReplyCode::NOT_LOGGED_IN,
            "TLS required: use AUTH TLS before logging in.".into(),
            Continue,
        ),
        Fault::DataMustBeProtected => (
            ReplyCode::DATA_PROTECTION_REFUSED,
            "Data connections must be protected: use PBSZ 0 and PROT P.".into(),
            Continue,
        ),
        Fault::TooManyFailures => (
            ReplyCode::SERVICE_NOT_AVAILABLE,
            "Too many failed logins; closing.".into(),
            Close,
        ),
        Fault::Timeout => (
            ReplyCode::SERVICE_NOT_AVAILABLE,
            "Timeout: closing control connection.".into(),
            Close,
        ),
        Fault::ShuttingDown => (
            ReplyCode::SERVICE_NOT_AVAILABLE,
            "Server shutting down.".into(),
            Close,
        ),
        Fault::CommandsBeforeHandshake => (
            ReplyCode::SERVICE_NOT_AVAILABLE,
            "Commands sent after AUTH before the TLS handshake; closing.".into(),
            Close,
        ),
    };
    (Reply::new(code, text), after)
}

/// The reply for a fault after which the session goes on.
pub(super) fn refuse(fault: Fault<'_>) -> Reply {
    answer(fault).0
}

impl Session {
    /// The reply for `fault`; marks the session to close after it when the fault says so.
    pub(super) fn fail(&mut self, fault: Fault<'_>) -> Reply {
        let (reply, after) = answer(fault);
        if after == After::Close {
            self.closing = true;
        }
        reply
    }
}

/// Each storage error kind's code and text; the kinds' doc lines in `ferry-storage` name the
/// same codes.
fn storage_text(kind: ErrorKind) -> (ReplyCode, &'static str) {
    match kind {
        ErrorKind::NotFound => (ReplyCode::FILE_UNAVAILABLE, "No such file or folder."),
        ErrorKind::PermissionDenied => (ReplyCode::FILE_UNAVAILABLE, "Permission denied."),
        ErrorKind::AlreadyExists => (ReplyCode::FILE_UNAVAILABLE, "Already exists."),
        ErrorKind::WrongKind => (
            ReplyCode::FILE_UNAVAILABLE,
            "Not a plain file or not a folder.",
        ),
        ErrorKind::NotEmpty => (ReplyCode::FILE_UNAVAILABLE, "Folder not empty."),
        ErrorKind::NoSpace => (
            ReplyCode::INSUFFICIENT_STORAGE,
            "Insufficient storage space.",
        ),
        ErrorKind::QuotaExceeded => (ReplyCode::EXCEEDED_STORAGE, "Storage allocation exceeded."),
        ErrorKind::BadName => (ReplyCode::BAD_FILE_NAME, "File name not allowed."),
        ErrorKind::Busy => (
            ReplyCode::FILE_BUSY,
            "File busy: another upload to it is running.",
        ),
        ErrorKind::Unsupported => (
            ReplyCode::ACTION_NOT_TAKEN,
            "Requested action not taken: not supported here (or invalid REST).",
        ),
        ErrorKind::Other => (ReplyCode::LOCAL_ERROR, "Local error in processing."),
    }
}

/// The reply for a storage failure.
pub(super) fn storage_reply(error: &StorageError) -> Reply {
    refuse(Fault::Storage(error.kind()))
}

/// The reply for a failure of the file service.
pub(super) fn file_reply(error: &FileError) -> Reply {
    refuse(Fault::File(error))
}

/// The reply for a client path that cannot name a file.
pub(super) fn path_reply(error: PathError) -> Reply {
    refuse(Fault::Path(error))
}

/// The final reply for a transfer's result.
pub(super) fn final_reply(result: &Result<(), Failure>) -> Reply {
    match result {
        Ok(()) => reply(ReplyCode::CLOSING_DATA, "Transfer complete."),
        Err(failure) => refuse(Fault::Transfer(failure)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn code_of(fault: Fault<'_>) -> (u16, After) {
        let (reply, after) = answer(fault);
        (reply.code.0, after)
    }

    #[test]
    fn every_storage_kind_has_its_code() {
        let table = [
            (ErrorKind::NotFound, 550),
            (ErrorKind::PermissionDenied, 550),
            (ErrorKind::AlreadyExists, 550),
            (ErrorKind::WrongKind, 550),
            (ErrorKind::NotEmpty, 550),
            (ErrorKind::NoSpace, 452),
            (ErrorKind::QuotaExceeded, 552),
            (ErrorKind::BadName, 553),
            (ErrorKind::Busy, 450),
            (ErrorKind::Unsupported, 554),
            (ErrorKind::Other, 451),
        ];
        for (kind, code) in table {
            assert_eq!(
                code_of(Fault::Storage(kind)),
                (code, After::Continue),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn transfer_failures_and_their_storage_errors() {
        let io = || std::io::Error::other("x");
        let table = [
            (Failure::Connect(io()), 425),
            (Failure::Network(io()), 426),
            (Failure::Cancelled, 426),
            (Failure::Stalled(Duration::from_secs(1)), 426),
            (Failure::Quota(100), 552),
            (Failure::Tls("no".into()), 522),
            (
                Failure::Storage(StorageError::new(ErrorKind::NoSpace, "full")),
                452,
            ),
        ];
        for (failure, code) in table {
            assert_eq!(code_of(Fault::Transfer(&failure)), (code, After::Continue));
        }
        let tls = refuse(Fault::Transfer(&Failure::Tls(
            "session reuse required".into(),
        )));
        assert_eq!(
            tls.text(),
            "TLS on the data connection failed: session reuse required."
        );
        assert_eq!(final_reply(&Ok(())).code.0, 226);
    }

    #[test]
    fn refusals_and_which_close_the_session() {
        let table = [
            (Fault::Path(PathError::Nul), 553, After::Continue),
            (Fault::Path(PathError::TooLong), 553, After::Continue),
            (
                Fault::Command(&CommandError::Unknown("X".into())),
                500,
                After::Continue,
            ),
            (Fault::LineTooLong, 500, After::Continue),
            (Fault::AsciiSizeTooLarge, 550, After::Continue),
            (
                Fault::File(&FileError::Denied {
                    right: Right::Upload,
                    folder: "/pub".into(),
                }),
                550,
                After::Continue,
            ),
            (
                Fault::File(&FileError::Quota("10 files allowed".into())),
                552,
                After::Continue,
            ),
            (
                Fault::File(&FileError::Path(PathError::TooLong)),
                553,
                After::Continue,
            ),
            (
                Fault::File(&FileError::Storage(StorageError::new(ErrorKind::Busy, "x"))),
                450,
                After::Continue,
            ),
            (
                Fault::Denied {
                    right: Right::List,
                    folder: "/",
                },
                550,
                After::Continue,
            ),
            (Fault::Quota("1 files allowed"), 552, After::Continue),
            (Fault::TooManyUserSessions(3), 421, After::Close),
            (Fault::AccountRemoved, 421, After::Close),
            (Fault::NotAFolder, 550, After::Continue),
            (Fault::NotAPlainFile, 550, After::Continue),
            (Fault::IsAFolder, 550, After::Continue),
            (Fault::NoDataConnection, 425, After::Continue),
            (Fault::DataConnectionFailed, 425, After::Continue),
            (Fault::NotLoggedIn, 530, After::Continue),
            (Fault::LoginIncorrect, 530, After::Continue),
            (Fault::TlsRequiredForLogin, 530, After::Continue),
            (Fault::DataMustBeProtected, 521, After::Continue),
            (Fault::TooManyFailures, 421, After::Close),
            (Fault::Timeout, 421, After::Close),
            (Fault::ShuttingDown, 421, After::Close),
            (Fault::CommandsBeforeHandshake, 421, After::Close),
        ];
        for (fault, code, after) in table {
            let shown = format!("{fault:?}");
            assert_eq!(code_of(fault), (code, after), "{shown}");
        }
    }
}
