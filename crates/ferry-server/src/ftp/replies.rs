//! Error-to-reply mapping for storage, path and transfer failures.

use super::*;

/// The one mapping from a storage failure to a reply.
pub(super) fn storage_reply(error: &StorageError) -> Reply {
    let (code, text) = match error.kind() {
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
            ReplyCode(554),
            "Requested action not taken: not supported here (or invalid REST).",
        ),
        ErrorKind::Other => (ReplyCode::LOCAL_ERROR, "Local error in processing."),
    };
    reply(code, text)
}

pub(super) fn path_reply(error: PathError) -> Reply {
    match error {
        PathError::Nul | PathError::NotAName => {
            reply(ReplyCode::BAD_FILE_NAME, "File name not allowed.")
        }
        PathError::TooLong => reply(ReplyCode::BAD_FILE_NAME, "Path too long."),
    }
}

/// The final reply for a transfer's result.
pub(super) fn final_reply(result: &Result<(), Failure>) -> Reply {
    match result {
        Ok(()) => reply(ReplyCode::CLOSING_DATA, "Transfer complete."),
        Err(Failure::Connect(_)) => reply(ReplyCode::CANT_OPEN_DATA, "Can't open data connection."),
        Err(Failure::Network(_)) => reply(
            ReplyCode::TRANSFER_ABORTED,
            "Connection closed; transfer aborted.",
        ),
        Err(Failure::Cancelled) => reply(ReplyCode::TRANSFER_ABORTED, "Transfer aborted."),
        Err(Failure::Stalled(_)) => reply(
            ReplyCode::TRANSFER_ABORTED,
            "Data connection stalled; transfer aborted.",
        ),
        Err(Failure::Tls(reason)) => reply(
            ReplyCode(522),
            format!("TLS on the data connection failed: {reason}."),
        ),
        Err(Failure::Storage(error)) => storage_reply(error),
    }
}
