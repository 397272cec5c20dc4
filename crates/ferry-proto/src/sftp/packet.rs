//! The packets of SFTP version 3, one variant each in the draft's order (sections 4 to 8), then
//! the OpenSSH extension requests Ferry understands, and the values their fields take:
//! [`StatusCode`], [`OpenFlags`], [`NameEntry`], [`ExtensionPair`].
//!
//! Decoding is in decode.rs, encoding in encode.rs; this file only says what a packet holds.

use std::fmt;
use std::ops::BitOr;

use super::attrs::Attrs;
use super::packet_type;

/// What to do with bytes after the last field of a packet whose layout has no room for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trailing {
    /// Ignore them, as OpenSSH's `sftp-server` does (its `process()` discards "the remaining
    /// bytes from the current packet") and its client does. A server that refused them would
    /// refuse clients OpenSSH serves.
    #[default]
    Ignore,
    /// Refuse the packet with [`SftpError::TrailingBytes`](super::SftpError::TrailingBytes):
    /// for tests and for peers known to be exact.
    Reject,
}

/// An `SSH_FXP_STATUS` code. A newtype, not a closed enum: a client must accept codes from
/// later drafts that a version 3 server should not send but some do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(pub u32);

impl StatusCode {
    /// `SSH_FX_OK`: the request succeeded.
    pub const OK: StatusCode = StatusCode(0);
    /// `SSH_FX_EOF`: no more data to read, or no more names in the folder.
    pub const EOF: StatusCode = StatusCode(1);
    /// `SSH_FX_NO_SUCH_FILE`: a file that should exist does not.
    pub const NO_SUCH_FILE: StatusCode = StatusCode(2);
    /// `SSH_FX_PERMISSION_DENIED`: the user may not do this.
    pub const PERMISSION_DENIED: StatusCode = StatusCode(3);
    /// `SSH_FX_FAILURE`: any other error.
    pub const FAILURE: StatusCode = StatusCode(4);
    /// `SSH_FX_BAD_MESSAGE`: a badly formed packet.
    pub const BAD_MESSAGE: StatusCode = StatusCode(5);
    /// `SSH_FX_NO_CONNECTION`: made up by a client that has no connection; a server MUST NOT
    /// send it.
    pub const NO_CONNECTION: StatusCode = StatusCode(6);
    /// `SSH_FX_CONNECTION_LOST`: made up by a client that lost its connection; a server MUST
    /// NOT send it.
    pub const CONNECTION_LOST: StatusCode = StatusCode(7);
    /// `SSH_FX_OP_UNSUPPORTED`: the server does not implement the request.
    pub const OP_UNSUPPORTED: StatusCode = StatusCode(8);

    /// A short English text for the code, for a status message and for logs.
    pub fn message(self) -> &'static str {
        match self {
            StatusCode::OK => "Success",
            StatusCode::EOF => "End of file",
            StatusCode::NO_SUCH_FILE => "No such file",
            StatusCode::PERMISSION_DENIED => "Permission denied",
            StatusCode::FAILURE => "Failure",
            StatusCode::BAD_MESSAGE => "Bad message",
            StatusCode::NO_CONNECTION => "No connection",
            StatusCode::CONNECTION_LOST => "Connection lost",
            StatusCode::OP_UNSUPPORTED => "Operation unsupported",
            _ => "Unknown error",
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.0)
    }
}

/// The `pflags` of `SSH_FXP_OPEN` (draft section 6.3). Bits this version does not define are
/// kept, so that a server can refuse what it does not understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OpenFlags(pub u32);

impl OpenFlags {
    /// `SSH_FXF_READ`: open for reading.
    pub const READ: OpenFlags = OpenFlags(0x01);
    /// `SSH_FXF_WRITE`: open for writing (with `READ`, for both).
    pub const WRITE: OpenFlags = OpenFlags(0x02);
    /// `SSH_FXF_APPEND`: every write goes to the end of the file, whatever its offset.
    pub const APPEND: OpenFlags = OpenFlags(0x04);
    /// `SSH_FXF_CREAT`: create the file if it does not exist.
    pub const CREAT: OpenFlags = OpenFlags(0x08);
    /// `SSH_FXF_TRUNC`: truncate an existing file; the draft wants `CREAT` with it.
    pub const TRUNC: OpenFlags = OpenFlags(0x10);
    /// `SSH_FXF_EXCL`: fail if the file exists; the draft wants `CREAT` with it.
    pub const EXCL: OpenFlags = OpenFlags(0x20);
    /// Every bit version 3 defines.
    pub const ALL: OpenFlags = OpenFlags(0x3F);

    /// True when every bit of `other` is set.
    pub fn contains(self, other: OpenFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Bits set that version 3 does not define.
    pub fn unknown(self) -> u32 {
        self.0 & !OpenFlags::ALL.0
    }
}

impl BitOr for OpenFlags {
    type Output = OpenFlags;

    fn bitor(self, other: OpenFlags) -> OpenFlags {
        OpenFlags(self.0 | other.0)
    }
}

/// One `string name, string data` pair: an extension announced in `SSH_FXP_INIT` or
/// `SSH_FXP_VERSION` (draft section 4; OpenSSH puts the extension's version, such as `"1"`, in
/// `data`), or an extended attribute (section 5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtensionPair {
    /// `name@domain`; never holds a NUL.
    pub name: Vec<u8>,
    /// Any bytes.
    pub data: Vec<u8>,
}

impl ExtensionPair {
    /// A pair from anything that gives bytes.
    pub fn new(name: impl Into<Vec<u8>>, data: impl Into<Vec<u8>>) -> ExtensionPair {
        ExtensionPair {
            name: name.into(),
            data: data.into(),
        }
    }
}

/// One name of `SSH_FXP_NAME` (draft section 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameEntry {
    /// A name within the folder for `SSH_FXP_READDIR`, an absolute path for
    /// `SSH_FXP_REALPATH`, the link's target for `SSH_FXP_READLINK`.
    pub filename: Vec<u8>,
    /// An `ls -l` line for people to read (see [`longname`](super::longname)); clients should
    /// not parse it.
    pub longname: Vec<u8>,
    /// The entry's attributes (empty for `REALPATH` and `READLINK`: "a dummy attributes
    /// value").
    pub attrs: Attrs,
}

/// One SFTP packet, without its length and type framing.
///
/// Every request but `SSH_FXP_INIT` starts with an `id` chosen by the client, and every
/// response but `SSH_FXP_VERSION` carries the id of the request it answers. Field order in the
/// variants is the order on the wire, except for [`Packet::Symlink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `SSH_FXP_INIT` (1): the client's version, and extensions it announces.
    Init {
        /// The highest version the client speaks (OpenSSH sends 3).
        version: u32,
        /// Extension pairs up to the end of the packet.
        extensions: Vec<ExtensionPair>,
    },
    /// `SSH_FXP_VERSION` (2): the version both sides will speak, and the server's extensions.
    Version {
        /// The lower of the two versions.
        version: u32,
        /// Extension pairs up to the end of the packet; OpenSSH lists each extension it
        /// supports with its version number as text (`PROTOCOL` section 4.2).
        extensions: Vec<ExtensionPair>,
    },
    /// `SSH_FXP_OPEN` (3): open or create a file; answered by HANDLE or STATUS.
    Open {
        /// Request id.
        id: u32,
        /// The file's path.
        filename: Vec<u8>,
        /// How to open it.
        flags: OpenFlags,
        /// Attributes for a new file (OpenSSH uses only the permissions, default `0o666`).
        attrs: Attrs,
    },
    /// `SSH_FXP_CLOSE` (4): close a file or folder handle; answered by STATUS.
    Close {
        /// Request id.
        id: u32,
        /// The handle.
        handle: Vec<u8>,
    },
    /// `SSH_FXP_READ` (5): read up to `len` bytes at `offset`; answered by DATA, or STATUS
    /// (`EOF` at the end of the file).
    Read {
        /// Request id.
        id: u32,
        /// A file handle.
        handle: Vec<u8>,
        /// Where to read, from the start of the file.
        offset: u64,
        /// The most bytes to return (OpenSSH's server returns at most 255 KiB).
        len: u32,
    },
    /// `SSH_FXP_WRITE` (6): write `data` at `offset`; answered by STATUS.
    Write {
        /// Request id.
        id: u32,
        /// A file handle.
        handle: Vec<u8>,
        /// Where to write, from the start of the file (ignored for `APPEND` handles).
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// `SSH_FXP_LSTAT` (7): attributes of a path, not following a final symbolic link;
    /// answered by ATTRS or STATUS.
    Lstat {
        /// Request id.
        id: u32,
        /// The path.
        path: Vec<u8>,
    },
    /// `SSH_FXP_FSTAT` (8): attributes of an open file; answered by ATTRS or STATUS.
    Fstat {
        /// Request id.
        id: u32,
        /// A file handle.
        handle: Vec<u8>,
    },
    /// `SSH_FXP_SETSTAT` (9): change a path's attributes; answered by STATUS.
    Setstat {
        /// Request id.
        id: u32,
        /// The path.
        path: Vec<u8>,
        /// The attributes to change (the absent ones stay as they are).
        attrs: Attrs,
    },
    /// `SSH_FXP_FSETSTAT` (10): change an open file's attributes; answered by STATUS.
    Fsetstat {
        /// Request id.
        id: u32,
        /// A file handle.
        handle: Vec<u8>,
        /// The attributes to change.
        attrs: Attrs,
    },
    /// `SSH_FXP_OPENDIR` (11): open a folder for listing; answered by HANDLE or STATUS.
    Opendir {
        /// Request id.
        id: u32,
        /// The folder's path.
        path: Vec<u8>,
    },
    /// `SSH_FXP_READDIR` (12): the next names of an open folder; answered by NAME, or STATUS
    /// (`EOF` when all were sent).
    Readdir {
        /// Request id.
        id: u32,
        /// A folder handle.
        handle: Vec<u8>,
    },
    /// `SSH_FXP_REMOVE` (13): delete a file (not a folder); answered by STATUS.
    Remove {
        /// Request id.
        id: u32,
        /// The file's path.
        filename: Vec<u8>,
    },
    /// `SSH_FXP_MKDIR` (14): create a folder; answered by STATUS.
    Mkdir {
        /// Request id.
        id: u32,
        /// The new folder's path.
        path: Vec<u8>,
        /// Its attributes (OpenSSH uses only the permissions, default `0o777`).
        attrs: Attrs,
    },
    /// `SSH_FXP_RMDIR` (15): delete an empty folder; answered by STATUS.
    Rmdir {
        /// Request id.
        id: u32,
        /// The folder's path.
        path: Vec<u8>,
    },
    /// `SSH_FXP_REALPATH` (16): a path made absolute and canonical; answered by a NAME of one
    /// entry, or STATUS.
    Realpath {
        /// Request id.
        id: u32,
        /// The path (empty: the user's default folder).
        path: Vec<u8>,
    },
    /// `SSH_FXP_STAT` (17): attributes of a path, following symbolic links; answered by ATTRS
    /// or STATUS.
    Stat {
        /// Request id.
        id: u32,
        /// The path.
        path: Vec<u8>,
    },
    /// `SSH_FXP_RENAME` (18): rename; the draft makes it an error if `new_path` exists
    /// (OpenSSH's server keeps to that: `link` then `unlink` for a file, a `stat` of the new
    /// path before `rename` for the rest); answered by STATUS.
    Rename {
        /// Request id.
        id: u32,
        /// The current path.
        old_path: Vec<u8>,
        /// The new path.
        new_path: Vec<u8>,
    },
    /// `SSH_FXP_READLINK` (19): the target of a symbolic link; answered by a NAME of one
    /// entry, or STATUS.
    Readlink {
        /// Request id.
        id: u32,
        /// The link's path.
        path: Vec<u8>,
    },
    /// `SSH_FXP_SYMLINK` (20): create a symbolic link at `link_path` pointing to
    /// `target_path`; answered by STATUS.
    ///
    /// On the wire the TARGET comes first, then the link: the draft says `linkpath,
    /// targetpath`, but OpenSSH's `sftp-server` has always read them the other way round and
    /// kept that order once it was deployed (`PROTOCOL` section 4.1), and clients send what
    /// OpenSSH reads. We speak OpenSSH's order: a client that follows the draft literally gets
    /// its link reversed, as it does against OpenSSH.
    Symlink {
        /// Request id.
        id: u32,
        /// Where the new link is created (second on the wire).
        link_path: Vec<u8>,
        /// What it points to (first on the wire).
        target_path: Vec<u8>,
    },
    /// `SSH_FXP_STATUS` (101): the result of a request.
    Status {
        /// The id of the request.
        id: u32,
        /// The result.
        code: StatusCode,
        /// Text for people, UTF-8 by the draft. When decoding, a status that ends right after
        /// its code (as before version 3, and as OpenSSH's client accepts) gives an empty one.
        message: Vec<u8>,
        /// The message's language tag (RFC 1766); OpenSSH sends it empty.
        language: Vec<u8>,
    },
    /// `SSH_FXP_HANDLE` (102): the handle of an opened file or folder.
    Handle {
        /// The id of the request.
        id: u32,
        /// The handle, at most [`MAX_HANDLE_LEN`](super::MAX_HANDLE_LEN) bytes.
        handle: Vec<u8>,
    },
    /// `SSH_FXP_DATA` (103): bytes read.
    Data {
        /// The id of the request.
        id: u32,
        /// The bytes, no more than the READ asked for.
        data: Vec<u8>,
    },
    /// `SSH_FXP_NAME` (104): names with their attributes.
    Name {
        /// The id of the request.
        id: u32,
        /// The names (OpenSSH's server sends up to 100 per READDIR).
        entries: Vec<NameEntry>,
    },
    /// `SSH_FXP_ATTRS` (105): attributes of a file.
    Attrs {
        /// The id of the request.
        id: u32,
        /// The attributes.
        attrs: Attrs,
    },
    /// `SSH_FXP_EXTENDED` (200) `posix-rename@openssh.com` (`PROTOCOL` section 4.3): rename
    /// with POSIX semantics, replacing `new_path` if it exists; answered by STATUS.
    PosixRename {
        /// Request id.
        id: u32,
        /// The current path.
        old_path: Vec<u8>,
        /// The new path.
        new_path: Vec<u8>,
    },
    /// `SSH_FXP_EXTENDED` (200) `limits@openssh.com` (`PROTOCOL` section 4.8): the server's
    /// limits; answered by an EXTENDED_REPLY holding a [`LimitsReply`](super::LimitsReply).
    Limits {
        /// Request id.
        id: u32,
    },
    /// `SSH_FXP_EXTENDED` (200) `expand-path@openssh.com` (`PROTOCOL` section 4.9): REALPATH
    /// that also expands `~` and `~user`; answered as REALPATH is.
    ExpandPath {
        /// Request id.
        id: u32,
        /// The path.
        path: Vec<u8>,
    },
    /// `SSH_FXP_EXTENDED` (200) `fsync@openssh.com` (`PROTOCOL` section 4.6): flush an open
    /// file to stable storage; answered by STATUS.
    Fsync {
        /// Request id.
        id: u32,
        /// A file handle.
        handle: Vec<u8>,
    },
    /// `SSH_FXP_EXTENDED` (200) with any other request name, `statvfs@openssh.com` among them.
    /// A server that does not implement it MUST answer STATUS `OP_UNSUPPORTED` for `id`
    /// (draft section 8).
    ///
    /// Encoding one whose name is one of the typed requests above writes that request: it
    /// decodes as the typed variant.
    Extended {
        /// Request id.
        id: u32,
        /// The request's name, `name@domain`; never holds a NUL.
        name: Vec<u8>,
        /// The request's own fields, undecoded.
        data: Vec<u8>,
    },
    /// `SSH_FXP_EXTENDED_REPLY` (201): the answer to an extended request. Its layout depends on
    /// the request, which only the asker knows; [`LimitsReply::decode`](super::LimitsReply)
    /// reads the one of `limits@openssh.com`.
    ExtendedReply {
        /// The id of the request.
        id: u32,
        /// The reply's fields, undecoded.
        data: Vec<u8>,
    },
}

impl Packet {
    /// The type byte this packet goes out with.
    pub fn packet_type(&self) -> u8 {
        match self {
            Packet::Init { .. } => packet_type::INIT,
            Packet::Version { .. } => packet_type::VERSION,
            Packet::Open { .. } => packet_type::OPEN,
            Packet::Close { .. } => packet_type::CLOSE,
            Packet::Read { .. } => packet_type::READ,
            Packet::Write { .. } => packet_type::WRITE,
            Packet::Lstat { .. } => packet_type::LSTAT,
            Packet::Fstat { .. } => packet_type::FSTAT,
            Packet::Setstat { .. } => packet_type::SETSTAT,
            Packet::Fsetstat { .. } => packet_type::FSETSTAT,
            Packet::Opendir { .. } => packet_type::OPENDIR,
            Packet::Readdir { .. } => packet_type::READDIR,
            Packet::Remove { .. } => packet_type::REMOVE,
            Packet::Mkdir { .. } => packet_type::MKDIR,
            Packet::Rmdir { .. } => packet_type::RMDIR,
            Packet::Realpath { .. } => packet_type::REALPATH,
            Packet::Stat { .. } => packet_type::STAT,
            Packet::Rename { .. } => packet_type::RENAME,
            Packet::Readlink { .. } => packet_type::READLINK,
            Packet::Symlink { .. } => packet_type::SYMLINK,
            Packet::Status { .. } => packet_type::STATUS,
            Packet::Handle { .. } => packet_type::HANDLE,
            Packet::Data { .. } => packet_type::DATA,
            Packet::Name { .. } => packet_type::NAME,
            Packet::Attrs { .. } => packet_type::ATTRS,
            Packet::PosixRename { .. }
            | Packet::Limits { .. }
            | Packet::ExpandPath { .. }
            | Packet::Fsync { .. }
            | Packet::Extended { .. } => packet_type::EXTENDED,
            Packet::ExtendedReply { .. } => packet_type::EXTENDED_REPLY,
        }
    }

    /// The request id, or `None` for INIT and VERSION, which carry none.
    pub fn id(&self) -> Option<u32> {
        match self {
            Packet::Init { .. } | Packet::Version { .. } => None,
            Packet::Open { id, .. }
            | Packet::Close { id, .. }
            | Packet::Read { id, .. }
            | Packet::Write { id, .. }
            | Packet::Lstat { id, .. }
            | Packet::Fstat { id, .. }
            | Packet::Setstat { id, .. }
            | Packet::Fsetstat { id, .. }
            | Packet::Opendir { id, .. }
            | Packet::Readdir { id, .. }
            | Packet::Remove { id, .. }
            | Packet::Mkdir { id, .. }
            | Packet::Rmdir { id, .. }
            | Packet::Realpath { id, .. }
            | Packet::Stat { id, .. }
            | Packet::Rename { id, .. }
            | Packet::Readlink { id, .. }
            | Packet::Symlink { id, .. }
            | Packet::Status { id, .. }
            | Packet::Handle { id, .. }
            | Packet::Data { id, .. }
            | Packet::Name { id, .. }
            | Packet::Attrs { id, .. }
            | Packet::PosixRename { id, .. }
            | Packet::Limits { id }
            | Packet::ExpandPath { id, .. }
            | Packet::Fsync { id, .. }
            | Packet::Extended { id, .. }
            | Packet::ExtendedReply { id, .. } => Some(*id),
        }
    }

    /// True for what a client sends (INIT and the requests), false for what a server sends
    /// (VERSION and the responses). A server that decodes a response, or a client a request,
    /// has a confused peer.
    pub fn is_request(&self) -> bool {
        !matches!(
            self,
            Packet::Version { .. }
                | Packet::Status { .. }
                | Packet::Handle { .. }
                | Packet::Data { .. }
                | Packet::Name { .. }
                | Packet::Attrs { .. }
                | Packet::ExtendedReply { .. }
        )
    }
}
