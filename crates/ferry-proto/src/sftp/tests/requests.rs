//! Requests, client to server (draft section 6 and `PROTOCOL` sections 4.1 to 4.9), each as
//! the bytes OpenSSH's `sftp` sends. Handles are four bytes, as OpenSSH's server makes them.

use super::*;

#[test]
fn init_as_openssh_sends_it_and_with_an_extension() {
    check(
        &[0, 0, 0, 5, 1, 0, 0, 0, 3],
        Packet::Init {
            version: 3,
            extensions: Vec::new(),
        },
    );
    let wire = cat(&[
        &[0, 0, 0, 19], // length: 1 + 4 + 9 + 5
        &[1],           // SSH_FXP_INIT
        &[0, 0, 0, 3],  // version
        &[0, 0, 0, 5],
        b"ext@x", // extension_name
        &[0, 0, 0, 1],
        b"1", // extension_data
    ]);
    check(
        &wire,
        Packet::Init {
            version: 3,
            extensions: vec![ExtensionPair::new("ext@x", "1")],
        },
    );
}

#[test]
fn open() {
    let wire = cat(&[
        &[0, 0, 0, 26], // length: 1 + 4 + 9 + 4 + 8
        &[3],           // SSH_FXP_OPEN
        &[0, 0, 0, 7],  // id
        &[0, 0, 0, 5],
        b"a.txt",            // filename
        &[0, 0, 0, 0x1A],    // pflags: WRITE | CREAT | TRUNC
        &[0, 0, 0, 4],       // attrs flags: PERMISSIONS
        &[0, 0, 0x01, 0xA4], // 0o644
    ]);
    check(
        &wire,
        Packet::Open {
            id: 7,
            filename: b"a.txt".to_vec(),
            flags: OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC,
            attrs: Attrs {
                permissions: Some(0o644),
                ..Attrs::default()
            },
        },
    );
}

#[test]
fn close_read_write() {
    let close = cat(&[&[0, 0, 0, 11], &[4], &[0, 0, 0, 1], &[0, 0, 0, 2], b"h1"]);
    check(
        &close,
        Packet::Close {
            id: 1,
            handle: b"h1".to_vec(),
        },
    );
    let read = cat(&[
        &[0, 0, 0, 25], // length: 1 + 4 + 8 + 8 + 4
        &[5],           // SSH_FXP_READ
        &[0, 0, 0, 2],  // id
        &[0, 0, 0, 4],
        &[0, 0, 0, 1],             // handle
        &[0, 0, 0, 1, 0, 0, 0, 0], // offset 4 GiB
        &[0, 0, 0x80, 0],          // len 32768
    ]);
    check(
        &read,
        Packet::Read {
            id: 2,
            handle: vec![0, 0, 0, 1],
            offset: 1 << 32,
            len: 32768,
        },
    );
    let write = cat(&[
        &[0, 0, 0, 30], // length: 1 + 4 + 8 + 8 + 9
        &[6],           // SSH_FXP_WRITE
        &[0, 0, 0, 3],  // id
        &[0, 0, 0, 4],
        &[0, 0, 0, 1],             // handle
        &[0, 0, 0, 0, 0, 0, 0, 5], // offset
        &[0, 0, 0, 5],
        b"hello", // data
    ]);
    check(
        &write,
        Packet::Write {
            id: 3,
            handle: vec![0, 0, 0, 1],
            offset: 5,
            data: b"hello".to_vec(),
        },
    );
}

#[test]
fn stat_family() {
    let lstat = cat(&[&[0, 0, 0, 13], &[7], &[0, 0, 0, 4], &[0, 0, 0, 4], b"/tmp"]);
    let path = b"/tmp".to_vec();
    check(&lstat, Packet::Lstat { id: 4, path });
    let fstat = cat(&[
        &[0, 0, 0, 13],
        &[8],
        &[0, 0, 0, 5],
        &[0, 0, 0, 4],
        &[0, 0, 0, 2],
    ]);
    let handle = vec![0, 0, 0, 2];
    check(&fstat, Packet::Fstat { id: 5, handle });
    let stat = cat(&[&[0, 0, 0, 10], &[17], &[0, 0, 0, 14], &[0, 0, 0, 1], b"a"]);
    let path = b"a".to_vec();
    check(&stat, Packet::Stat { id: 14, path });
}

#[test]
fn setstat_and_fsetstat() {
    let setstat = cat(&[
        &[0, 0, 0, 18], // length: 1 + 4 + 5 + 4 + 4
        &[9],           // SSH_FXP_SETSTAT
        &[0, 0, 0, 6],  // id
        &[0, 0, 0, 1],
        b"f",                // path
        &[0, 0, 0, 4],       // attrs flags: PERMISSIONS
        &[0, 0, 0x01, 0x80], // 0o600
    ]);
    check(
        &setstat,
        Packet::Setstat {
            id: 6,
            path: b"f".to_vec(),
            attrs: Attrs {
                permissions: Some(0o600),
                ..Attrs::default()
            },
        },
    );
    // Truncating an open file: FSETSTAT with a size of 0.
    let fsetstat = cat(&[
        &[0, 0, 0, 25], // length: 1 + 4 + 8 + 4 + 8
        &[10],          // SSH_FXP_FSETSTAT
        &[0, 0, 0, 7],  // id
        &[0, 0, 0, 4],
        &[0, 0, 0, 2], // handle
        &[0, 0, 0, 1], // attrs flags: SIZE
        &[0; 8],       // size 0
    ]);
    check(
        &fsetstat,
        Packet::Fsetstat {
            id: 7,
            handle: vec![0, 0, 0, 2],
            attrs: Attrs {
                size: Some(0),
                ..Attrs::default()
            },
        },
    );
}

#[test]
fn folders() {
    let opendir = cat(&[&[0, 0, 0, 10], &[11], &[0, 0, 0, 8], &[0, 0, 0, 1], b"."]);
    let path = b".".to_vec();
    check(&opendir, Packet::Opendir { id: 8, path });
    let readdir = cat(&[
        &[0, 0, 0, 13],
        &[12],
        &[0, 0, 0, 9],
        &[0, 0, 0, 4],
        &[0, 0, 0, 3],
    ]);
    let handle = vec![0, 0, 0, 3];
    check(&readdir, Packet::Readdir { id: 9, handle });
    let mkdir = cat(&[
        &[0, 0, 0, 18], // length: 1 + 4 + 5 + 4 + 4
        &[14],          // SSH_FXP_MKDIR
        &[0, 0, 0, 11], // id
        &[0, 0, 0, 1],
        b"d",                // path
        &[0, 0, 0, 4],       // attrs flags: PERMISSIONS
        &[0, 0, 0x01, 0xED], // 0o755
    ]);
    check(
        &mkdir,
        Packet::Mkdir {
            id: 11,
            path: b"d".to_vec(),
            attrs: Attrs {
                permissions: Some(0o755),
                ..Attrs::default()
            },
        },
    );
    let rmdir = cat(&[&[0, 0, 0, 10], &[15], &[0, 0, 0, 12], &[0, 0, 0, 1], b"d"]);
    let path = b"d".to_vec();
    check(&rmdir, Packet::Rmdir { id: 12, path });
}

#[test]
fn remove_rename_realpath() {
    let remove = cat(&[&[0, 0, 0, 12], &[13], &[0, 0, 0, 10], &[0, 0, 0, 3], b"old"]);
    let filename = b"old".to_vec();
    check(&remove, Packet::Remove { id: 10, filename });
    let rename = cat(&[
        &[0, 0, 0, 15], // length: 1 + 4 + 5 + 5
        &[18],          // SSH_FXP_RENAME
        &[0, 0, 0, 15], // id
        &[0, 0, 0, 1],
        b"a", // oldpath
        &[0, 0, 0, 1],
        b"b", // newpath
    ]);
    check(
        &rename,
        Packet::Rename {
            id: 15,
            old_path: b"a".to_vec(),
            new_path: b"b".to_vec(),
        },
    );
    // An empty path is valid: the user's default folder (draft section 6.2).
    let realpath = cat(&[&[0, 0, 0, 9], &[16], &[0, 0, 0, 13], &[0, 0, 0, 0]]);
    let path = Vec::new();
    check(&realpath, Packet::Realpath { id: 13, path });
}

#[test]
fn readlink_and_symlink_in_openssh_order() {
    let readlink = cat(&[&[0, 0, 0, 10], &[19], &[0, 0, 0, 16], &[0, 0, 0, 1], b"l"]);
    let path = b"l".to_vec();
    check(&readlink, Packet::Readlink { id: 16, path });
    // `ln -s target link` in OpenSSH's sftp: the target goes first (PROTOCOL section 4.1),
    // the reverse of the draft's `linkpath, targetpath`.
    let symlink = cat(&[
        &[0, 0, 0, 20], // length: 1 + 4 + 10 + 5
        &[20],          // SSH_FXP_SYMLINK
        &[0, 0, 0, 17], // id
        &[0, 0, 0, 6],
        b"target", // targetpath
        &[0, 0, 0, 1],
        b"l", // linkpath
    ]);
    check(
        &symlink,
        Packet::Symlink {
            id: 17,
            link_path: b"l".to_vec(),
            target_path: b"target".to_vec(),
        },
    );
}

#[test]
fn typed_extension_requests() {
    let posix_rename = cat(&[
        &[0, 0, 0, 43], // length: 1 + 4 + 28 + 5 + 5
        &[200],         // SSH_FXP_EXTENDED
        &[0, 0, 0, 18], // id
        &[0, 0, 0, 24],
        b"posix-rename@openssh.com", // extended-request
        &[0, 0, 0, 1],
        b"a", // oldpath
        &[0, 0, 0, 1],
        b"b", // newpath
    ]);
    check(
        &posix_rename,
        Packet::PosixRename {
            id: 18,
            old_path: b"a".to_vec(),
            new_path: b"b".to_vec(),
        },
    );
    let limits = cat(&[
        &[0, 0, 0, 27], // length: 1 + 4 + 22
        &[200],
        &[0, 0, 0, 19],
        &[0, 0, 0, 18],
        b"limits@openssh.com",
    ]);
    check(&limits, Packet::Limits { id: 19 });
    let expand_path = cat(&[
        &[0, 0, 0, 39], // length: 1 + 4 + 27 + 7
        &[200],
        &[0, 0, 0, 20],
        &[0, 0, 0, 23],
        b"expand-path@openssh.com",
        &[0, 0, 0, 3],
        b"~/x",
    ]);
    let path = b"~/x".to_vec();
    check(&expand_path, Packet::ExpandPath { id: 20, path });
    let fsync = cat(&[
        &[0, 0, 0, 34], // length: 1 + 4 + 21 + 8
        &[200],
        &[0, 0, 0, 21],
        &[0, 0, 0, 17],
        b"fsync@openssh.com",
        &[0, 0, 0, 4],
        &[0, 0, 0, 1],
    ]);
    let handle = vec![0, 0, 0, 1];
    check(&fsync, Packet::Fsync { id: 21, handle });
}

#[test]
fn other_extension_requests_stay_undecoded() {
    // statvfs@openssh.com (PROTOCOL section 4.4) is not one of ours: its path stays in `data`.
    let statvfs = cat(&[
        &[0, 0, 0, 33], // length: 1 + 4 + 23 + 5
        &[200],
        &[0, 0, 0, 22],
        &[0, 0, 0, 19],
        b"statvfs@openssh.com",
        &[0, 0, 0, 1],
        b"/",
    ]);
    check(
        &statvfs,
        Packet::Extended {
            id: 22,
            name: b"statvfs@openssh.com".to_vec(),
            data: vec![0, 0, 0, 1, b'/'],
        },
    );
    // An extension with nothing after its name, and one whose data is not strings at all.
    let bare = cat(&[
        &[0, 0, 0, 12],
        &[200],
        &[0, 0, 0, 23],
        &[0, 0, 0, 3],
        b"x@y",
    ]);
    check(
        &bare,
        Packet::Extended {
            id: 23,
            name: b"x@y".to_vec(),
            data: Vec::new(),
        },
    );
    let odd = cat(&[
        &[0, 0, 0, 13],
        &[200],
        &[0, 0, 0, 23],
        &[0, 0, 0, 3],
        b"x@y",
        &[9],
    ]);
    let decoded = decode(&odd, Trailing::Reject);
    assert_eq!(
        decoded,
        Ok(Some(Packet::Extended {
            id: 23,
            name: b"x@y".to_vec(),
            data: vec![9],
        }))
    );
}
