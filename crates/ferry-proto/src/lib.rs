//! Sans-IO FTP for Ferry: the pieces of RFC 959 and its extensions that both the server and the
//! client need, as pure functions over bytes.
//!
//! This crate parses command lines ([`Command`]), encodes and decodes replies ([`Reply`],
//! [`ReplyDecoder`]), splits the control stream into bounded lines ([`LineBuffer`]), converts data
//! addresses ([`addr`]), formats and parses directory listings ([`listing`]) and normalises the paths
//! clients send ([`VirtualPath`]).
//!
//! It does NOT do I/O: no sockets, no tokio, no clock, no filesystem. Callers pass in the time
//! when a listing needs it.
#![warn(missing_docs)]

pub mod addr;
mod command;
mod line;
pub mod listing;
mod path;
pub mod proxy;
mod reply;
pub mod time;

pub use command::{
    Command, CommandError, EpsvArg, ProtLevel, StructureKind, TransferMode, TransferType,
};
pub use line::{LineBuffer, LineError};
pub use path::{MAX_NAME_LEN, MAX_PATH_LEN, PathError, VirtualPath};
pub use reply::{MultiLineEncoder, Reply, ReplyCode, ReplyDecoder, ReplyError};
