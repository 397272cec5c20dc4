//! Storage errors: a kind the server maps to one reply, and the cause for the log.

use std::io;

/// What went wrong, in terms a client can be told. Each kind names the reply it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The path does not exist: 550.
    NotFound,
    /// Not allowed, or the path leads outside the root (a symlink): 550.
    PermissionDenied,
    /// The path exists and must not (MKD of an existing folder, STOU's name taken): 550.
    AlreadyExists,
    /// A folder where a file is needed, or the other way round: 550.
    WrongKind,
    /// RMD of a folder that is not empty: 550.
    NotEmpty,
    /// The disk is full: 452.
    NoSpace,
    /// A quota is exceeded: 552.
    QuotaExceeded,
    /// The name is not allowed (too long, reserved, not representable): 553.
    BadName,
    /// Another upload to the same file is running: 450.
    Busy,
    /// The backend cannot do this (e.g. REST beyond the data there is): 504 or 554.
    Unsupported,
    /// Anything else, probably temporary: 451.
    Other,
}

/// A storage failure: its [`ErrorKind`] and a message for the log (never shown to the client
/// beyond what the kind says).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    kind: ErrorKind,
    message: String,
}

impl StorageError {
    /// An error of `kind` with a log message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> StorageError {
        StorageError {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl From<io::Error> for StorageError {
    fn from(error: io::Error) -> StorageError {
        let kind = match error.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
            io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory => ErrorKind::WrongKind,
            io::ErrorKind::DirectoryNotEmpty => ErrorKind::NotEmpty,
            io::ErrorKind::StorageFull => ErrorKind::NoSpace,
            io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => ErrorKind::QuotaExceeded,
            io::ErrorKind::InvalidFilename => ErrorKind::BadName,
            io::ErrorKind::ResourceBusy => ErrorKind::Busy,
            io::ErrorKind::Unsupported => ErrorKind::Unsupported,
            _ => match error.raw_os_error() {
                // ELOOP: a symlink loop, or cap-std refusing to follow a link out of the root.
                Some(40) => ErrorKind::PermissionDenied,
                _ => ErrorKind::Other,
            },
        };
        StorageError {
            kind,
            message: error.to_string(),
        }
    }
}
