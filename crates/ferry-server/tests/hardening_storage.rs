//! Issue 14, the storage items: uploads through aliases or beside planted links never share or
//! follow a partial, special files never stall the server, STOU always finds a name, DELE leaves
//! a running upload alone, long names work, control characters are refused at creation, and MFMT
//! never reaches through a hard link.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Client, TestServer, names_in};
use ferry_server::Config;

/// A server on `root`, which the test keeps.
fn server_on(root: &Path) -> TestServer {
    TestServer::with_config(Config::for_folder(root), "127.0.0.1:0")
}

/// Starts an upload: EPSV, then `line`, which must be answered 150; returns the data connection.
fn begin_upload(client: &mut Client, line: &str) -> std::net::TcpStream {
    let data = client.passive();
    client.expect(line, 150);
    data
}

/// Sends the last bytes of an upload, closes the data connection and returns the final code.
fn finish_upload(client: &mut Client, mut data: std::net::TcpStream, bytes: &[u8]) -> u16 {
    data.write_all(bytes).unwrap();
    drop(data);
    client.read_reply().code.0
}

#[test]
fn uploads_through_a_symlinked_alias_never_share_a_partial() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::os::unix::fs::symlink("real", dir.path().join("alias")).unwrap();
    let server = server_on(dir.path());
    let mut first = server.anonymous();
    let mut second = server.anonymous();
    let data = begin_upload(&mut first, "STOR real/x.bin");
    first_bytes(&data);
    // The same file by another name: busy, and nothing of it reaches the running upload.
    let _spare = second.passive();
    second.expect("STOR alias/x.bin", 450);
    second.expect("APPE alias/x.bin", 450);
    second.expect("REST 3", 350);
    second.expect("STOR alias/./x.bin", 450);
    assert_eq!(finish_upload(&mut first, data, b" and the rest"), 226);
    assert_eq!(
        std::fs::read(dir.path().join("real/x.bin")).unwrap(),
        b"the first upload and the rest"
    );
    // Once it is done, the alias works as before.
    assert_eq!(second.upload("APPE alias/x.bin", b"!").code.0, 226);
    assert_eq!(
        std::fs::read(dir.path().join("real/x.bin")).unwrap(),
        b"the first upload and the rest!"
    );
}

fn first_bytes(mut data: &std::net::TcpStream) {
    data.write_all(b"the first upload").unwrap();
    data.flush().unwrap();
}

#[test]
fn two_servers_on_one_folder_never_share_a_partial() {
    // Two ferryd on one folder: each has its own in-memory busy set, so only the lock on the
    // partial's file can tell the second that the first is uploading.
    let dir = tempfile::tempdir().unwrap();
    let one = server_on(dir.path());
    let two = server_on(dir.path());
    let mut first = one.anonymous();
    let mut second = two.anonymous();
    let data = begin_upload(&mut first, "STOR shared.bin");
    first_bytes(&data);
    let _spare = second.passive();
    second.expect("STOR shared.bin", 450);
    second.expect("DELE shared.bin", 450);
    assert_eq!(finish_upload(&mut first, data, b"."), 226);
    assert_eq!(
        std::fs::read(dir.path().join("shared.bin")).unwrap(),
        b"the first upload."
    );
    assert_eq!(second.upload("STOR shared.bin", b"second").code.0, 226);
    assert_eq!(
        std::fs::read(dir.path().join("shared.bin")).unwrap(),
        b"second"
    );
}

#[test]
fn a_planted_partial_symlink_is_never_followed() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("keep.txt"), b"precious").unwrap();
    std::fs::write(parent.path().join("outside.txt"), b"outside").unwrap();
    let link = |name: &str, to: &str| std::os::unix::fs::symlink(to, root.join(name)).unwrap();
    link(".ferry-partial.x.bin", "keep.txt");
    link(".ferry-partial.y.bin", "../outside.txt");
    link(".ferry-partial.z.bin", "keep.txt");
    let server = server_on(&root);
    let mut client = server.anonymous();
    assert_eq!(client.upload("STOR x.bin", b"new bytes").code.0, 226);
    assert_eq!(std::fs::read(root.join("keep.txt")).unwrap(), b"precious");
    // A link is not an interrupted upload: there is nothing to resume.
    client.expect("SIZE z.bin", 550);
    assert_eq!(client.upload("STOR y.bin", b"why").code.0, 226);
    assert_eq!(client.upload("APPE z.bin", b"tail").code.0, 226);
    assert_eq!(std::fs::read(root.join("keep.txt")).unwrap(), b"precious");
    assert_eq!(
        std::fs::read(parent.path().join("outside.txt")).unwrap(),
        b"outside"
    );
    for (name, bytes) in [
        ("x.bin", &b"new bytes"[..]),
        ("y.bin", b"why"),
        ("z.bin", b"tail"),
    ] {
        let meta = std::fs::symlink_metadata(root.join(name)).unwrap();
        assert!(meta.is_file(), "{name} is not a plain file");
        assert_eq!(std::fs::read(root.join(name)).unwrap(), bytes, "{name}");
    }
    assert_eq!(names_in(&root), ["keep.txt", "x.bin", "y.bin", "z.bin"]);
}

/// Opens `path`, a FIFO, for writing without blocking when dropped: a reader stuck in open(2)
/// (the bug) is released, so that a failing test ends instead of hanging the server's shutdown.
struct FifoRelease(PathBuf);

impl Drop for FifoRelease {
    fn drop(&mut self) {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        for _ in 0..50 {
            // ENXIO while no reader waits; a stuck reader wakes once a writer opens.
            let _ = rustix::fs::open(&self.0, flags, Mode::empty());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

#[test]
fn a_fifo_in_the_folder_never_stalls_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let pipe = dir.path().join("pipe");
    mkfifo(&pipe);
    let server = server_on(dir.path());
    // Dropped before the server, whose shutdown would wait for a stuck worker.
    let _release = FifoRelease(pipe.clone());
    let short = Some(Duration::from_secs(5));
    // Two sessions, one per worker thread, ask for the pipe before either reply is read.
    let mut reader = server.anonymous();
    let mut sizer = server.anonymous();
    reader.stream.set_read_timeout(short).unwrap();
    sizer.stream.set_read_timeout(short).unwrap();
    let _data = reader.passive();
    sizer.expect("TYPE A", 200);
    let started = Instant::now();
    reader.send_raw(b"RETR pipe\r\n");
    sizer.send_raw(b"SIZE pipe\r\n");
    // Meanwhile another session logs in and works.
    let mut other = Client::connect(server.addr);
    other.stream.set_read_timeout(short).unwrap();
    other.login("anonymous", "x");
    other.expect("PWD", 257);
    assert_eq!(reader.read_reply().code.0, 550);
    assert_eq!(sizer.read_reply().code.0, 550);
    sizer.expect("TYPE I", 200);
    sizer.expect("MFMT 20200101000000 pipe", 550);
    let _spare = sizer.passive();
    sizer.expect("APPE pipe", 550);
    assert!(started.elapsed() < Duration::from_secs(5));
    // The pipe is still there, untouched, and the server still serves files.
    assert!(
        std::fs::symlink_metadata(&pipe)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    std::fs::write(dir.path().join("plain.txt"), b"plain").unwrap();
    assert_eq!(other.download("RETR plain.txt"), b"plain");
}

#[test]
fn twenty_stou_of_one_name_give_twenty_files() {
    let server = TestServer::start();
    let mut uploads: Vec<_> = (0..20)
        .map(|_| {
            let mut client = server.anonymous();
            let data = client.passive();
            (client, data)
        })
        .collect();
    // All twenty at once, then every reply: each gets its own name.
    for (client, _) in &mut uploads {
        client.send_raw(b"STOU same.txt\r\n");
    }
    for (i, (client, _)) in uploads.iter_mut().enumerate() {
        let reply = client.read_reply();
        assert_eq!(reply.code.0, 150, "STOU number {i}: {reply}");
    }
    for (i, (mut client, data)) in uploads.into_iter().enumerate() {
        let bytes = i.to_string();
        assert_eq!(finish_upload(&mut client, data, bytes.as_bytes()), 226);
    }
    let names = names_in(&server.root);
    assert_eq!(names.len(), 20, "{names:?}");
    let mut contents: Vec<u32> = names
        .iter()
        .map(|name| {
            assert!(name.starts_with("same.txt"), "{name}");
            String::from_utf8(std::fs::read(server.path(name)).unwrap())
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    contents.sort_unstable();
    assert_eq!(contents, (0..20).collect::<Vec<_>>());
}

#[test]
fn dele_of_a_name_being_uploaded_is_refused() {
    let server = TestServer::start();
    let mut uploader = server.anonymous();
    let mut other = server.anonymous();
    let data = begin_upload(&mut uploader, "STOR wip.bin");
    first_bytes(&data);
    other.expect("DELE wip.bin", 450);
    // Also when an older copy is visible under the name.
    std::fs::write(server.path("old.bin"), b"old").unwrap();
    let old = begin_upload(&mut other, "STOR old.bin");
    let mut third = server.anonymous();
    third.expect("DELE old.bin", 450);
    assert_eq!(std::fs::read(server.path("old.bin")).unwrap(), b"old");
    assert_eq!(finish_upload(&mut other, old, b"new"), 226);
    assert_eq!(finish_upload(&mut uploader, data, b"!"), 226);
    assert_eq!(
        std::fs::read(server.path("wip.bin")).unwrap(),
        b"the first upload!"
    );
    assert_eq!(std::fs::read(server.path("old.bin")).unwrap(), b"new");
    // Not busy any more: DELE works.
    third.expect("DELE wip.bin", 250);
    assert_eq!(names_in(&server.root), ["old.bin"]);
}

#[test]
fn names_up_to_255_bytes_store_list_fetch_resume_and_delete() {
    let server = TestServer::start();
    let mut client = server.anonymous();
    for len in [240, 241, 250, 255] {
        let name = format!(
            "{len}-{}",
            "n".repeat(len - 5 - len.to_string().len()) + ".bin"
        );
        assert_eq!(name.len(), len);
        // An interrupted upload, kept and resumed.
        let mut data = begin_upload(&mut client, &format!("STOR {name}"));
        data.write_all(b"first half ").unwrap();
        data.flush().unwrap();
        client.send_raw(b"ABOR\r\n");
        assert_eq!(client.read_reply().code.0, 426);
        assert_eq!(client.read_reply().code.0, 226);
        let kept: usize = client
            .expect(&format!("SIZE {name}"), 213)
            .text()
            .parse()
            .unwrap();
        let whole = b"first half second half";
        client.expect(&format!("REST {kept}"), 350);
        assert_eq!(
            client
                .upload(&format!("STOR {name}"), &whole[kept..])
                .code
                .0,
            226
        );
        assert_eq!(std::fs::read(server.path(&name)).unwrap(), whole);
        assert_eq!(client.upload(&format!("APPE {name}"), b"!").code.0, 226);
        assert_eq!(
            client.download("NLST"),
            format!("{name}\r\n").into_bytes(),
            "the listing shows the name and no partial"
        );
        assert_eq!(
            client.download(&format!("RETR {name}")),
            b"first half second half!"
        );
        // An interrupted upload beside the file: DELE removes the file, then the partial.
        let mut data = begin_upload(&mut client, &format!("STOR {name}"));
        data.write_all(b"abandoned").unwrap();
        data.flush().unwrap();
        client.send_raw(b"ABOR\r\n");
        assert_eq!(client.read_reply().code.0, 426);
        assert_eq!(client.read_reply().code.0, 226);
        client.expect(&format!("DELE {name}"), 250);
        client.expect(&format!("SIZE {name}"), 213);
        client.expect(&format!("DELE {name}"), 250);
        client.expect(&format!("SIZE {name}"), 550);
        assert_eq!(names_in(&server.root), Vec::<String>::new());
    }
}

#[test]
fn control_characters_are_refused_in_new_names() {
    let server = TestServer::start();
    std::fs::write(server.path("plain.txt"), b"x").unwrap();
    let mut client = server.anonymous();
    for bad in [
        &b"tab\there"[..],
        b"esc\x1bape",
        b"del\x7f",
        b"cr\rhere",
        b"bell\x07",
        b"\x01start",
    ] {
        let shown = String::from_utf8_lossy(bad).escape_debug().to_string();
        let _data = client.passive();
        for verb in [&b"STOR "[..], b"APPE ", b"STOU ", b"MKD "] {
            let reply = client.cmd_bytes(&[verb, bad].concat());
            assert_eq!(reply.code.0, 553, "{shown}: {reply}");
        }
        client.expect("RNFR plain.txt", 350);
        let reply = client.cmd_bytes(&[&b"RNTO "[..], bad].concat());
        assert_eq!(reply.code.0, 553, "RNTO {shown}: {reply}");
        // Inside a folder name too.
        let reply = client.cmd_bytes(&[&b"MKD "[..], bad, b"/sub"].concat());
        assert_ne!(reply.code.0 / 100, 2, "MKD {shown}/sub: {reply}");
    }
    assert_eq!(names_in(&server.root), ["plain.txt"]);
    // Names with other bytes still work (a space, UTF-8, Latin-1).
    assert_eq!(client.upload("STOR a b.txt", b"1").code.0, 226);
    client.expect("MKD caf\u{e9}", 257);
    let _data = client.passive();
    assert_eq!(client.cmd_bytes(b"STOR caf\xe9.txt").code.0, 150);
}

#[test]
fn mfmt_never_changes_a_hard_linked_file() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let outside = parent.path().join("outside.txt");
    std::fs::write(&outside, b"outside").unwrap();
    std::fs::hard_link(&outside, root.join("link.txt")).unwrap();
    std::fs::write(root.join("own.txt"), b"own").unwrap();
    let before = std::fs::metadata(&outside).unwrap().modified().unwrap();
    let server = server_on(&root);
    let mut client = server.anonymous();
    client.expect("MFMT 20000101000000 link.txt", 550);
    assert_eq!(
        std::fs::metadata(&outside).unwrap().modified().unwrap(),
        before
    );
    // A file with one name is set as before.
    client.expect("MFMT 20000101000000 own.txt", 213);
    client.expect("MDTM own.txt", 213);
    let own = std::fs::metadata(root.join("own.txt")).unwrap();
    assert_eq!(own.mtime(), 946_684_800);
}
