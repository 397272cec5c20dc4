//! Sans-IO FTP and SFTP for Ferry: the pieces of RFC 959 and its extensions, and of SFTP
//! version 3, that both the server and the client need, as pure functions over bytes.
//!
//! This crate parses command lines ([`Command`]), encodes and decodes replies ([`Reply`],
//! [`ReplyDecoder`]), splits the control stream into bounded lines ([`LineBuffer`]), converts data
//! addresses ([`addr`]), formats and parses directory listings ([`listing`]) and normalises the paths
//! clients send ([`VirtualPath`]) and quotes them in 257 replies ([`quote_pathname`]). It also
//! holds the protocol text both sides share: FEAT ([`feat`]), wildcards ([`glob`]), the ASCII
//! line-ending rule ([`ascii`]), commands written as lines ([`Command::to_line`]) and the
//! commands answered during a transfer ([`is_urgent`]), and the digests of HASH and its kin
//! ([`digest`]). For SFTP it frames, decodes and encodes
//! the packets of version 3 as OpenSSH speaks them ([`sftp`]).
//!
//! It does NOT do I/O: no sockets, no tokio, no clock, no filesystem. Callers pass in the time
//! when a listing needs it.
#![warn(missing_docs)]

pub mod addr;
pub mod ascii;
mod command;
pub mod digest;
pub mod feat;
pub mod glob;
mod line;
pub mod listing;
mod path;
pub mod proxy;
mod reply;
pub mod sftp;
pub mod time;

pub use command::{
    Command, CommandError, EpsvArg, ProtLevel, StructureKind, TransferMode, TransferType, is_urgent,
};
pub use line::{LineBuffer, LineError};
pub use path::{
    MAX_NAME_LEN, MAX_PATH_LEN, PathError, VirtualPath, quote_pathname, unquote_pathname,
};
pub use reply::{MultiLineEncoder, Reply, ReplyCode, ReplyDecoder, ReplyError};
