//! The client's error type: every failure of a connection, transfer or local file, as one line
//! a person can act on.
//!
//! Server refusals keep the server's code and text (`550 No such file`). This module does not
//! print anything or decide exit codes; the REPL and the one-shot commands do.

use std::path::PathBuf;

use ferry_proto::{Reply, ReplyCode};

/// Anything that can go wrong between `ferry` and a server, or on the local disk.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection to the server could not be made.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// `host:port` as the user gave it.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server answered a command with an error or an unexpected reply.
    #[error("{command}: {code} {text}", code = reply.code, text = reply.text())]
    Server {
        /// The command, without secrets (PASS is shown as `PASS`).
        command: String,
        /// The server's reply.
        reply: Reply,
    },
    /// The control or data connection failed mid-way.
    #[error("{context}: {source}")]
    Network {
        /// What was going on.
        context: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server closed the control connection.
    #[error("the server closed the connection")]
    Closed,
    /// An SFTP server answered a request with a STATUS other than OK.
    #[error("{command}: {text}")]
    Sftp {
        /// The request and its path (`OPEN /srv/a.txt`).
        command: String,
        /// The status code.
        code: ferry_proto::sftp::StatusCode,
        /// The server's message, or the code's own text when the server sent none.
        text: String,
    },
    /// SSH failed: the transport, the server's host key, or authentication.
    #[error("{0}")]
    Ssh(String),
    /// The SSH server showed a host key known_hosts does not hold.
    #[error("{0}")]
    UnknownHostKey(Box<crate::sftp::UnknownHostKey>),
    /// The server did not answer in time.
    #[error("timed out {0}")]
    Timeout(String),
    /// The server sent something that is not FTP.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A local file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Local {
        /// The local path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TLS could not be set up: an untrusted certificate, an unreadable CA file, a failed
    /// handshake.
    #[error("TLS: {0}")]
    Tls(String),
    /// The user pressed Ctrl-C.
    #[error("interrupted")]
    Interrupted,
    /// The URL or a command argument is not usable.
    #[error("{0}")]
    Usage(String),
}

impl ClientError {
    /// The server's reply code, when the server refused.
    pub fn code(&self) -> Option<ReplyCode> {
        match self {
            ClientError::Server { reply, .. } => Some(reply.code),
            _ => None,
        }
    }

    /// True when the server refused the request (an FTP error reply or an SFTP STATUS), so the
    /// connection is still usable.
    pub fn is_server_refusal(&self) -> bool {
        matches!(self, ClientError::Server { .. } | ClientError::Sftp { .. })
    }

    /// The SFTP status code, when an SFTP server refused.
    pub fn sftp_code(&self) -> Option<ferry_proto::sftp::StatusCode> {
        match self {
            ClientError::Sftp { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn local(path: impl Into<PathBuf>, source: std::io::Error) -> ClientError {
        ClientError::Local {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn network(context: impl Into<String>, source: std::io::Error) -> ClientError {
        ClientError::Network {
            context: context.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_error_is_one_line_with_code_and_text() {
        let error = ClientError::Server {
            command: "RETR a.txt".into(),
            reply: Reply::multi(
                ReplyCode::FILE_UNAVAILABLE,
                vec!["No such".into(), "file".into()],
            ),
        };
        assert_eq!(error.to_string(), "RETR a.txt: 550 No such file");
        assert_eq!(error.code(), Some(ReplyCode::FILE_UNAVAILABLE));
    }
}
