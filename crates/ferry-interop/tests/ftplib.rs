//! Python's ftplib against ferryd, across every command of the protocol.
//!
//! The checks on replies live in `tests/py/ftplib_suite.py`, one section per test here; each
//! test prepares the served folder, runs its section with the server's address and asserts the
//! exit status and the bytes on disk afterwards. Needs `python3` (`apt-get install python3`);
//! fails, never skips, when it is missing.

mod common;

use std::time::{Duration, SystemTime};

use common::{TestServer, ftplib, names, pattern, read, write};
use ferry_server::User;

/// The bytes the Python suite's `payload(size, seed)` makes.
fn payload(size: usize, seed: usize) -> Vec<u8> {
    (0..size)
        .map(|i| u8::try_from((i * 31 + seed * 7 + (i >> 8)) % 256).expect("below 256"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_login_information_and_reply_codes() {
    let alice = User::new(b"wonderland", "alice".into(), false).expect("hash a password");
    let server = TestServer::start_with("127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), alice);
    })
    .await;
    std::fs::create_dir(server.root().join("alice")).expect("alice's home");

    ftplib(&server, "session").await;

    assert_eq!(
        read(&server.root().join("alice/from-alice.txt")),
        b"alice was here\n",
        "alice's upload lands in her home"
    );
    assert_eq!(names(server.root()), ["alice"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn navigation_and_folders() {
    let server = TestServer::start().await;

    ftplib(&server, "navigation").await;

    assert_eq!(names(server.root()), ["kept", "ünïcödé dir"]);
    assert!(server.root().join("kept").is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_listings_and_file_commands() {
    let server = TestServer::start().await;
    write(&server.root().join("ascii-lf.txt"), b"one\ntwo\nthree\n");

    ftplib(&server, "transfers").await;

    let root = server.root();
    let binary = payload(200_000, 1);
    for mode in ["pasv", "port", "eprt"] {
        assert_eq!(
            read(&root.join(format!("binary-{mode}.bin"))),
            binary,
            "{mode}"
        );
    }
    assert_eq!(read(&root.join("ascii-lf.txt")), b"one\ntwo\nthree\n");
    assert_eq!(
        read(&root.join("ascii-up.txt")),
        b"alpha\nbeta\ngamma\n",
        "a TYPE A upload is stored with LF line ends"
    );
    assert_eq!(read(&root.join("resumed.bin")), binary, "REST + STOR");
    assert_eq!(
        read(&root.join("sub dir/moved.txt")),
        b"unique bytes\n",
        "STOU"
    );
    assert_eq!(read(&root.join("sub dir/ünï.txt")), b"xxxxxxx");
    let modified = std::fs::metadata(root.join("binary-pasv.bin"))
        .and_then(|metadata| metadata.modified())
        .expect("modification time");
    assert_eq!(
        modified,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_934_245),
        "MFMT 20200102030405 set the time on disk"
    );
    // Deleted files are gone and no temporary upload file is left behind.
    assert_eq!(
        names(root),
        [
            "ascii-lf.txt",
            "ascii-up.txt",
            "binary-eprt.bin",
            "binary-pasv.bin",
            "binary-port.bin",
            "resumed.bin",
            "sub dir",
        ]
    );
    assert_eq!(names(&root.join("sub dir")), ["moved.txt", "ünï.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abor_during_large_download() {
    let server = TestServer::start().await;
    // Larger than the loopback socket buffers, so the transfer is still running at ABOR.
    let big = pattern(32 * 1024 * 1024, 5);
    write(&server.root().join("big.bin"), &big);
    write(&server.root().join("small.txt"), b"small file\n");

    ftplib(&server, "abort").await;

    assert_eq!(
        read(&server.root().join("big.bin")),
        big,
        "RETR changes nothing"
    );
    assert_eq!(names(server.root()), ["big.bin", "small.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_in_ascii_mode_and_stat_reply_codes() {
    let server = TestServer::start().await;
    write(&server.root().join("ascii-lf.txt"), b"one\ntwo\nthree\n");

    ftplib(&server, "rfc_details").await;

    assert_eq!(
        read(&server.root().join("ascii-lf.txt")),
        b"one\ntwo\nthree\n"
    );
}
