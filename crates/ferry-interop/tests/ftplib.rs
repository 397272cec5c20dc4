//! Python's ftplib against ferryd, across every command of the protocol.
//!
//! The checks on replies live in `tests/py/ftplib_suite.py`, one section per test here; each
//! test prepares the served folder, runs its section with the server's address and asserts the
//! exit status and the stored bytes afterwards. Every test runs twice, on a folder-backed ferryd
//! (`local::`) and on an S3-backed one (`s3::`, SeaweedFS on loopback); the suite is told which,
//! for the replies the README documents as different on S3. Needs `python3`
//! (`apt-get install python3`) and SeaweedFS (see `.ci/run`); fails, never skips, when one is
//! missing.

mod common;

use std::time::{Duration, SystemTime};

use common::{Backend, TestServer, ftplib, on_both_backends, pattern};
use ferry_server::User;

on_both_backends!(
    session_login_information_and_reply_codes,
    navigation_and_folders,
    transfers_listings_and_file_commands,
    abor_during_large_download,
    size_in_ascii_mode_and_stat_reply_codes,
);

/// The bytes the Python suite's `payload(size, seed)` makes.
fn payload(size: usize, seed: usize) -> Vec<u8> {
    (0..size)
        .map(|i| u8::try_from((i * 31 + seed * 7 + (i >> 8)) % 256).expect("below 256"))
        .collect()
}

async fn session_login_information_and_reply_codes(backend: Backend) {
    let alice = User::new(b"wonderland", "alice".into(), false).expect("hash a password");
    let server = TestServer::start_on_with(backend, "127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), alice);
    })
    .await;
    server.create_dir("alice").await;

    ftplib(&server, "session").await;

    assert_eq!(
        server.read("alice/from-alice.txt").await,
        b"alice was here\n",
        "alice's upload lands in her home"
    );
    assert_eq!(server.names("").await, ["alice"]);
}

async fn navigation_and_folders(backend: Backend) {
    let server = TestServer::start_on(backend).await;

    ftplib(&server, "navigation").await;

    assert_eq!(server.names("").await, ["kept", "ünïcödé dir"]);
    assert!(server.is_dir("kept").await);
}

async fn transfers_listings_and_file_commands(backend: Backend) {
    let started = SystemTime::now();
    let server = TestServer::start_on(backend).await;
    server.write("ascii-lf.txt", b"one\ntwo\nthree\n").await;

    ftplib(&server, "transfers").await;

    let binary = payload(200_000, 1);
    for mode in ["pasv", "port", "eprt"] {
        assert_eq!(
            server.read(&format!("binary-{mode}.bin")).await,
            binary,
            "{mode}"
        );
    }
    assert_eq!(server.read("ascii-lf.txt").await, b"one\ntwo\nthree\n");
    assert_eq!(
        server.read("ascii-up.txt").await,
        b"alpha\nbeta\ngamma\n",
        "a TYPE A upload is stored with LF line ends"
    );
    assert_eq!(server.read("resumed.bin").await, binary, "REST + STOR");
    assert_eq!(
        server.read("sub dir/moved.txt").await,
        b"unique bytes\n",
        "STOU"
    );
    assert_eq!(server.read("sub dir/ünï.txt").await, b"xxxxxxx");
    let modified = server.modified("binary-pasv.bin").await;
    let mfmt = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_934_245);
    match backend {
        Backend::Local => assert_eq!(modified, mfmt, "MFMT 20200102030405 set the time on disk"),
        // README: MFMT answers 554 on S3 (the suite checks the reply): the object keeps the
        // time it was written.
        Backend::S3 => assert!(
            modified > started - Duration::from_secs(60),
            "the object keeps its upload time, not MFMT's: {modified:?}"
        ),
    }
    // Deleted files are gone and no temporary upload file is left behind.
    assert_eq!(
        server.names("").await,
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
    assert_eq!(server.names("sub dir").await, ["moved.txt", "ünï.txt"]);
}

async fn abor_during_large_download(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    // Larger than the loopback socket buffers, so the transfer is still running at ABOR.
    let big = pattern(32 * 1024 * 1024, 5);
    server.write("big.bin", &big).await;
    server.write("small.txt", b"small file\n").await;

    ftplib(&server, "abort").await;

    assert_eq!(server.read("big.bin").await, big, "RETR changes nothing");
    assert_eq!(server.names("").await, ["big.bin", "small.txt"]);
}

async fn size_in_ascii_mode_and_stat_reply_codes(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    server.write("ascii-lf.txt", b"one\ntwo\nthree\n").await;

    ftplib(&server, "rfc_details").await;

    assert_eq!(server.read("ascii-lf.txt").await, b"one\ntwo\nthree\n");
}
