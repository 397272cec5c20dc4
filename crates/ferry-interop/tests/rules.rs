//! Account rules against real clients: rights per folder, read-only users and quotas with
//! Python's ftplib (`tests/py/rules_suite.py`, on a folder and on an S3 bucket), and per-user
//! download rates measured with curl.
//!
//! Each refusal is checked twice: the reply code and words in the suite, and afterwards here,
//! that the served files are exactly what they were (or what the allowed operations made).
//! Needs `python3`, `curl` and SeaweedFS; fails, never skips, when one is missing.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use common::{Backend, TestServer, command, on_both_backends, run_ok, tool};
use ferry_server::User;
use ferry_server::auth::Right;

on_both_backends!(
    rights_per_folder_deepest_rule_wins,
    read_only_users_change_nothing,
    quotas_refuse_and_keep_what_was_there,
);

const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/rules_suite.py");

/// Runs one section of the rules suite against `server`.
async fn suite(server: &TestServer, section: &str) {
    run_ok(
        command(tool("python3", "python3"))
            .arg(SUITE)
            .arg(section)
            .arg(server.host())
            .arg(server.addr.port().to_string())
            .arg(match server.backend() {
                Backend::Local => "local",
                Backend::S3 => "s3",
            }),
    )
    .await;
}

fn user(password: &[u8], home: &str) -> User {
    User::new(password, home.into(), false).expect("hash a password")
}

async fn rights_per_folder_deepest_rule_wins(backend: Backend) {
    let mut alice = user(b"wonderland", "alice");
    let rules: [(&str, &[Right]); 6] = [
        ("/", &[Right::All]),
        ("/pub", &[Right::List, Right::Download]),
        ("/pub/drop", &[Right::Upload]),
        ("/incoming", &[Right::List, Right::Upload, Right::Mkdir]),
        ("/incoming/ok", &[Right::All]),
        ("/moves", &[Right::List, Right::Rename]),
    ];
    alice.permissions = rules
        .iter()
        .map(|(folder, rights)| (folder.to_string(), rights.to_vec()))
        .collect::<BTreeMap<_, _>>();
    let server = TestServer::start_on_with(backend, "127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), alice);
    })
    .await;
    server.write("alice/pub/readme.txt", b"read me\n").await;
    server.create_dir("alice/pub/drop").await;
    server.create_dir("alice/incoming/ok").await;
    server.write("alice/moves/m.txt", b"move me").await;

    suite(&server, "rights").await;

    assert_eq!(
        server.names("alice").await,
        ["incoming", "moved.txt", "moves", "pub"]
    );
    assert_eq!(server.names("alice/pub").await, ["drop", "readme.txt"]);
    assert_eq!(server.read("alice/pub/readme.txt").await, b"read me\n");
    assert_eq!(server.names("alice/pub/drop").await, ["dropped.bin"]);
    assert_eq!(server.read("alice/pub/drop/dropped.bin").await, b"dropped");
    assert_eq!(
        server.names("alice/incoming").await,
        ["ok", "sub", "up.txt"]
    );
    assert_eq!(server.read("alice/incoming/up.txt").await, b"up");
    assert!(server.names("alice/incoming/ok").await.is_empty());
    assert!(server.names("alice/moves").await.is_empty());
    assert_eq!(server.read("alice/moved.txt").await, b"move me");
}

async fn read_only_users_change_nothing(backend: Backend) {
    let mut reader = user(b"bookworm", "");
    reader.read_only = true;
    let server = TestServer::start_on_with(backend, "127.0.0.1:0", |config| {
        config.users.users.insert("reader".into(), reader);
    })
    .await;
    server.write("pub/readme.txt", b"read me\n").await;
    let before = server.tree("").await;

    suite(&server, "readonly").await;

    assert!(
        server.tree("").await == before,
        "a read-only user changed the served files"
    );
}

async fn quotas_refuse_and_keep_what_was_there(backend: Backend) {
    let mut quinn = user(b"limits", "quinn");
    quinn.quota_bytes = 1000;
    quinn.quota_files = 3;
    let server = TestServer::start_on_with(backend, "127.0.0.1:0", |config| {
        config.users.users.insert("quinn".into(), quinn);
    })
    .await;
    let old = common::pattern(400, 7);
    server.write("quinn/old.bin", &old).await;

    suite(&server, "quota").await;

    // Nothing of a refused upload is kept: no file, no partial.
    assert_eq!(server.names("quinn").await, ["c.bin", "d.bin", "old.bin"]);
    assert_eq!(
        server.read("quinn/old.bin").await,
        old,
        "the replaced file stays whole"
    );
    assert_eq!(server.read("quinn/c.bin").await, [b'c'; 10]);
}

/// Downloads `path` as `user` with curl; the seconds it took, checked against the bytes.
async fn timed_download(server: &TestServer, user: &str, path: &str, size: usize) -> f64 {
    let started = Instant::now();
    let output = run_ok(
        command(tool("curl", "curl"))
            .args(["--silent", "--show-error", "--output", "-"])
            .arg("--user")
            .arg(user)
            .arg(server.url(path)),
    )
    .await;
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(output.stdout.len(), size, "curl got every byte of {path}");
    seconds
}

/// Two downloads by one user with `download_rate` 4 MiB/s share it (each takes twice as long
/// as one alone); another user's download is not slowed. Measured from bytes and wall time,
/// 15% tolerance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_download_rate_is_shared_by_their_sessions() {
    const RATE: u64 = 4 << 20;
    const SIZE: usize = 8 << 20;
    let mut slow = user(b"slowpw", "");
    slow.download_rate = RATE;
    let fast = user(b"fastpw", "");
    let server = TestServer::start_on_with(Backend::Local, "127.0.0.1:0", |config| {
        config.users.users.insert("slow".into(), slow);
        config.users.users.insert("fast".into(), fast);
    })
    .await;
    let bytes = common::pattern(SIZE, 3);
    server.write("a.bin", &bytes).await;
    server.write("b.bin", &bytes).await;

    let alone = timed_download(&server, "slow:slowpw", "a.bin", SIZE).await;
    // The bucket holds an eighth of a second's worth, which goes at once.
    let expected = (SIZE as f64 - RATE as f64 / 8.0) / RATE as f64;
    assert!(
        (alone / expected - 1.0).abs() < 0.15,
        "one download took {alone:.2}s, expected {expected:.2}s at 4 MiB/s"
    );
    let (first, second, other) = tokio::join!(
        timed_download(&server, "slow:slowpw", "a.bin", SIZE),
        timed_download(&server, "slow:slowpw", "b.bin", SIZE),
        timed_download(&server, "fast:fastpw", "a.bin", SIZE),
    );
    for shared in [first, second] {
        let ratio = shared / alone;
        assert!(
            (ratio / 2.0 - 1.0).abs() < 0.15,
            "two downloads of one user took {first:.2}s and {second:.2}s, one alone {alone:.2}s \
             (ratio {ratio:.2}, expected 2)"
        );
    }
    assert!(
        other < expected / 2.0,
        "another user's download took {other:.2}s while the slow user's ran: it was slowed"
    );
}

/// curl meets the same rules: an upload into a read-only folder fails (and leaves nothing), a
/// delete there fails, a download from an upload-only folder fails, and what is allowed works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_meets_the_same_rights() {
    let mut alice = user(b"wonderland", "");
    let rules: [(&str, &[Right]); 3] = [
        ("/", &[Right::All]),
        ("/pub", &[Right::List, Right::Download]),
        ("/drop", &[Right::Upload]),
    ];
    alice.permissions = rules
        .iter()
        .map(|(folder, rights)| (folder.to_string(), rights.to_vec()))
        .collect::<BTreeMap<_, _>>();
    let server = TestServer::start_on_with(Backend::Local, "127.0.0.1:0", |config| {
        config.users.users.insert("alice".into(), alice);
    })
    .await;
    server.write("pub/readme.txt", b"read me\n").await;
    server.write("drop/secret.txt", b"dropped earlier").await;
    let local = tempfile::tempdir().expect("a temporary folder");
    let upload = local.path().join("up.txt");
    std::fs::write(&upload, b"uploaded").expect("write the file to upload");
    let curl = |args: &[&str]| {
        let mut curl = command(tool("curl", "curl"));
        curl.args(["--silent", "--show-error", "--user", "alice:wonderland"])
            .args(args);
        curl
    };
    let status = |output: std::process::Output| output.status.code();

    let upload_arg = upload.to_str().expect("a UTF-8 temporary path");
    let refused = common::run(
        &mut curl(&["--upload-file", upload_arg, &server.url("pub/up.txt")]),
        common::TOOL_LIMIT,
    )
    .await;
    assert_eq!(
        status(refused),
        Some(25),
        "curl's 'upload failed' for STOR into /pub"
    );
    let refused = common::run(
        &mut curl(&["--quote", "DELE pub/readme.txt", &server.url("")]),
        common::TOOL_LIMIT,
    )
    .await;
    assert_eq!(
        status(refused),
        Some(21),
        "curl's 'quote command failed' for DELE in /pub"
    );
    let refused = common::run(
        &mut curl(&["--output", "-", &server.url("drop/secret.txt")]),
        common::TOOL_LIMIT,
    )
    .await;
    assert_ne!(status(refused), Some(0), "RETR from the upload-only /drop");
    assert_eq!(server.names("pub").await, ["readme.txt"]);
    assert_eq!(server.read("pub/readme.txt").await, b"read me\n");

    run_ok(&mut curl(&[
        "--upload-file",
        upload_arg,
        &server.url("drop/up.txt"),
    ]))
    .await;
    assert_eq!(server.read("drop/up.txt").await, b"uploaded");
    let fetched = run_ok(&mut curl(&["--output", "-", &server.url("pub/readme.txt")])).await;
    assert_eq!(fetched.stdout, b"read me\n");
}

/// A name that is not UTF-8 (`bad\xff\xfename`) does not make the folder unreadable for a
/// UTF-8 client: listings show it with U+FFFD (ftplib decodes every line), and that name, sent
/// back, downloads and renames the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_are_not_utf8_stay_listable_and_reachable() {
    use std::os::unix::ffi::OsStrExt;
    let server = TestServer::start().await;
    let odd = std::ffi::OsStr::from_bytes(b"bad\xff\xfename");
    std::fs::write(server.root().join(odd), b"odd bytes").expect("write the odd name");
    std::fs::write(server.root().join("good.txt"), b"good").expect("write good.txt");

    suite(&server, "not_utf8").await;

    assert_eq!(common::names(server.root()), ["good.txt", "renamed.txt"]);
    assert_eq!(
        common::read(&server.root().join("renamed.txt")),
        b"odd bytes"
    );
}

/// Uploads `bytes` as `user` with curl to `path`; the seconds it took.
async fn timed_upload(server: &TestServer, user: &str, path: &str, bytes: &[u8]) -> f64 {
    let local = tempfile::tempdir().expect("a temporary folder");
    let file = local.path().join("upload.bin");
    std::fs::write(&file, bytes).expect("write the file to upload");
    let started = Instant::now();
    run_ok(
        command(tool("curl", "curl"))
            .args(["--silent", "--show-error", "--user", user, "--upload-file"])
            .arg(&file)
            .arg(server.url(path)),
    )
    .await;
    started.elapsed().as_secs_f64()
}

/// A user's `upload_rate` holds for an upload, and `--max-rate-down` caps the whole server:
/// two users without limits of their own share it. Measured from bytes and wall time, 15%
/// tolerance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_rates_and_the_server_wide_cap() {
    const UP: u64 = 2 << 20;
    const DOWN: u64 = 4 << 20;
    let mut uploader = user(b"uppw", "");
    uploader.upload_rate = UP;
    let server = TestServer::start_on_with(Backend::Local, "127.0.0.1:0", |config| {
        config.max_rate_down = DOWN;
        config.users.users.insert("uploader".into(), uploader);
        config.users.users.insert("one".into(), user(b"onepw", ""));
        config.users.users.insert("two".into(), user(b"twopw", ""));
    })
    .await;

    let bytes = common::pattern(4 << 20, 5);
    let took = timed_upload(&server, "uploader:uppw", "up.bin", &bytes).await;
    assert_eq!(
        server.read("up.bin").await,
        bytes,
        "the limited upload arrived whole"
    );
    let expected = (bytes.len() as f64 - UP as f64 / 8.0) / UP as f64;
    assert!(
        (took / expected - 1.0).abs() < 0.15,
        "a 4 MiB upload at 2 MiB/s took {took:.2}s, expected {expected:.2}s"
    );

    const SIZE: usize = 6 << 20;
    server.write("big.bin", &common::pattern(SIZE, 9)).await;
    let (first, second) = tokio::join!(
        timed_download(&server, "one:onepw", "big.bin", SIZE),
        timed_download(&server, "two:twopw", "big.bin", SIZE),
    );
    let expected = (2.0 * SIZE as f64 - DOWN as f64 / 8.0) / DOWN as f64;
    for took in [first, second] {
        assert!(
            (took / expected - 1.0).abs() < 0.15,
            "two users' downloads under --max-rate-down 4 MiB/s took {first:.2}s and \
             {second:.2}s, expected {expected:.2}s each"
        );
    }
}
