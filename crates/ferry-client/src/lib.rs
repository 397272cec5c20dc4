//! `ferry-client`: the engine of the `ferry` FTP client and its two faces.
//!
//! - [`connection`]: the async control connection (login, FEAT, commands, EPSV/PASV/active data
//!   connections, listings) over the sans-IO `ferry-proto`.
//! - [`transfer`]: downloads with resume, uploads, mirroring; reports to [`progress`].
//! - [`repl`]: the interactive client with the original six commands (CONN, UPLD, LIST, DWLD,
//!   DELF, QUIT) and the familiar aliases.
//! - [`oneshot`]: `ferry get|put|ls|rm|mkdir|mirror`, for scripts.
//! - [`sftp`]: `sftp://` URLs for the shell and the one-shot commands: SSH (russh),
//!   known_hosts, SFTP v3, mirror.
//! - [`tls`]: FTPS (RFC 4217): explicit and implicit TLS, trusted roots, the plain-or-TLS stream.
//! - [`url`], [`credentials`]: the small parsers around them (wildcards, FEAT and 257 quoting
//!   come from `ferry-proto`).
//!
//! Errors are [`ClientError`], whose `Display` is one line with the server's code and text when
//! the server refused. Nothing in this crate panics on what the network or the disk returns.
//! Cancel safety: dropping a future of [`connection::Connection`] mid-command leaves the control
//! connection out of step; drop the connection too.
#![warn(missing_docs)]

pub mod connection;
pub mod credentials;
mod error;
pub mod oneshot;
pub mod progress;
pub mod rate;
pub mod repl;
pub mod retry;
pub mod sftp;
pub mod tls;
pub mod transfer;
pub mod url;
pub mod verify;

pub use connection::{ConnectDefaults, ConnectOptions, Connection, Connector};
pub use error::ClientError;
