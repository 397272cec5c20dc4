//! WebDAV clients against ferryd: Debian's `litmus` (suites basic, copymove, props, locks, each
//! with 0 failures), rclone's webdav backend (copy, sync and `check --download` both ways),
//! a scripted `cadaver` session, and Python's stdlib http.client for raw requests (OPTIONS
//! before login, Depth infinity, Destinations out of the folder or the server) and for a flood
//! of 10,000 PROPFIND Depth 1 on a folder of 3,000 files, most cut mid-body, with the server's
//! memory checked before and after.
//!
//! WebDAV over HTTPS with HTTP/2 is checked with curl.
//!
//! litmus and rclone run on a folder-backed ferryd (`local::`) and an S3-backed one (`s3::`).
//! Needs `litmus`, `rclone`, `cadaver`, `curl` and `python3` (`scripts/test` installs them); fails,
//! never skips, without.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestCert, TestServer, command, on_both_backends, run, run_ok, tool};
use ferry_server::{Anonymous, Config, User};
use ferry_testkit::Ferryd;

on_both_backends!(litmus_suites_pass, rclone_copies_syncs_and_checks_both_ways);

const RAW: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/webdav_raw.py");

/// alice (password `wonder`), whose home is the served folder; no anonymous access.
fn alice_only(config: &mut Config) {
    config.anonymous = Anonymous::Off;
    config.users.users.insert(
        "alice".into(),
        User::new(b"wonder", String::new(), false).unwrap(),
    );
}

/// litmus's suites, one run each (a suite's failure does not hide the next one's): every one
/// must report `0 failed`; warnings are allowed.
async fn litmus_suites_pass(backend: Backend) {
    let server = TestServer::start_on_with(backend, "127.0.0.1:0", alice_only).await;
    let litmus = tool("litmus", "litmus");
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for suite in ["basic", "copymove", "props", "locks"] {
        // A folder per suite: on S3 (SeaweedFS), a folder moved away by copymove can stay
        // listed, empty, where no lookup finds it, and the next suite could not clear it.
        server.create_dir(&format!("litmus-{suite}")).await;
        let url = server.http_url(&format!("litmus-{suite}/"));
        let output = run(
            command(&litmus)
                .current_dir(scratch.path())
                .env("TESTS", suite)
                .args([url.as_str(), "alice", "wonder"]),
            Duration::from_secs(300),
        )
        .await;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let summary = text
            .lines()
            .find(|line| line.contains(&format!("summary for `{suite}'")))
            .map(str::to_string);
        println!("{suite}: {}", summary.as_deref().unwrap_or("no summary"));
        match summary {
            Some(line) if line.contains(" 0 failed") => {}
            _ => failures.push(format!("{suite}:\n{text}")),
        }
    }
    assert!(
        failures.is_empty(),
        "litmus failed:\n{}",
        failures.join("\n")
    );
}

/// rclone's webdav backend (vendor `other`): copy a tree up, sync a deletion, an addition and
/// a change, `check --download` (bytes compared), then copy it all back down and compare.
async fn rclone_copies_syncs_and_checks_both_ways(backend: Backend) {
    let server = TestServer::start_on_with(backend, "127.0.0.1:0", alice_only).await;
    let scratch = tempfile::tempdir().unwrap();
    let local = scratch.path().join("tree");
    let files = [
        ("a.bin", 100_000),
        ("empty.txt", 0),
        ("sub/b.bin", 3 << 20),
        ("sub/deeper/c with space.txt", 10),
        ("ünï/ç.txt", 1000),
    ];
    for (name, size) in files {
        let path = local.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, common::pattern(size, 5)).unwrap();
    }
    let rclone = tool("rclone", "rclone");
    let obscured = run_ok(command(&rclone).args(["obscure", "wonder"])).await;
    let obscured = String::from_utf8_lossy(&obscured.stdout).trim().to_string();
    let webdav_url = server.http_url("");
    let rclone_run = |args: &[&str]| {
        let mut command = command(&rclone);
        command
            .env("RCLONE_CONFIG", "/dev/null")
            .args(["--webdav-url", &webdav_url, "--webdav-user", "alice"])
            .args(["--webdav-pass", &obscured, "--webdav-vendor", "other"])
            .args(["--retries", "1", "--low-level-retries", "1"])
            .args(args);
        command
    };
    let remote = ":webdav:up";
    let local_arg = local.to_str().unwrap();
    run_ok(&mut rclone_run(&["copy", local_arg, remote])).await;
    for (name, size) in files {
        assert!(
            server.read(&format!("up/{name}")).await == common::pattern(size, 5),
            "{name} differs after copy"
        );
    }

    std::fs::remove_file(local.join("a.bin")).unwrap();
    std::fs::write(local.join("new.bin"), common::pattern(5000, 6)).unwrap();
    std::fs::write(local.join("sub/b.bin"), common::pattern(1 << 20, 7)).unwrap();
    run_ok(&mut rclone_run(&["sync", local_arg, remote])).await;
    assert!(
        !server.exists("up/a.bin").await,
        "sync did not delete a.bin"
    );
    assert!(server.read("up/new.bin").await == common::pattern(5000, 6));
    assert!(server.read("up/sub/b.bin").await == common::pattern(1 << 20, 7));
    run_ok(&mut rclone_run(&["check", "--download", local_arg, remote])).await;

    let back = scratch.path().join("back");
    run_ok(&mut rclone_run(&["copy", remote, back.to_str().unwrap()])).await;
    common::assert_same_tree(&local, &back, &|_| false);
    run_ok(&mut rclone_run(&[
        "check",
        "--download",
        remote,
        back.to_str().unwrap(),
    ]))
    .await;
}

/// cadaver, scripted as a person at a mounted folder would work: make a folder, put a file,
/// list, copy, move, lock and unlock, get the file back, delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cadaver_session() {
    let server = TestServer::start_with("127.0.0.1:0", alice_only).await;
    let scratch = tempfile::tempdir().unwrap();
    let data = common::pattern(200_000, 9);
    std::fs::write(scratch.path().join("report.bin"), &data).unwrap();
    // cadaver reads the login from ~/.netrc when there is one.
    let port = server.http.unwrap().port();
    std::fs::write(
        scratch.path().join(".netrc"),
        "machine 127.0.0.1 login alice password wonder\n",
    )
    .unwrap();
    let script = "mkcol docs\ncd docs\nput report.bin\nls\ncopy report.bin copy.bin\n\
                  move copy.bin moved.bin\nlock moved.bin\nunlock moved.bin\n\
                  get report.bin back.bin\ndelete moved.bin\nls\nquit\n";
    std::fs::write(scratch.path().join("script"), script).unwrap();
    // cadaver reads its commands from standard input, which `run` closes: a shell feeds it.
    let cadaver = tool("cadaver", "cadaver");
    let output = run_ok(
        command("sh")
            .current_dir(scratch.path())
            .env("HOME", scratch.path())
            .args(["-c", "exec \"$0\" -t \"$1\" < script"])
            .arg(&cadaver)
            .arg(format!("http://127.0.0.1:{port}/")),
    )
    .await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains("failed"),
        "cadaver reported a failure:\n{text}"
    );
    assert!(server.read("docs/report.bin").await == data);
    assert!(std::fs::read(scratch.path().join("back.bin")).unwrap() == data);
    assert!(!server.exists("docs/moved.bin").await);
    assert!(!server.exists("docs/copy.bin").await);
}

/// Raw requests through Python's http.client: OPTIONS answered before login, Depth infinity
/// refused with its precondition, Destinations out of the folder (403, 400) or on another
/// server (502), and nothing written outside the served folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_requests_from_http_client() {
    let server = TestServer::start_with("127.0.0.1:0", alice_only).await;
    server.write("inside.txt", b"inside").await;
    let http = server.http.unwrap();
    run_ok(
        command(tool("python3", "python3"))
            .arg(RAW)
            .args(["checks", "127.0.0.1", &http.port().to_string()])
            .args(["alice", "wonder"]),
    )
    .await;
    let outside = server.root().parent().unwrap().join("outside.txt");
    assert!(!outside.exists(), "a file was written outside the root");
    assert!(server.read("copied.txt").await == b"inside");
}

/// 10,000 PROPFIND Depth 1 on a folder of 3,000 files, most cut after their first bytes:
/// every one answered, every 500th complete, the server's memory (this process's, as ferryd
/// runs on a thread of it) grows by less than 64 MiB, and the server serves afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propfind_flood_on_a_big_folder() {
    let server = TestServer::start_with("127.0.0.1:0", |config| {
        config.anonymous = Anonymous::Read;
    })
    .await;
    let big = server.root().join("big");
    std::fs::create_dir(&big).unwrap();
    for index in 0..3000 {
        std::fs::write(big.join(format!("file-{index:05}.txt")), b"x").unwrap();
    }
    let http = server.http.unwrap();
    let before = resident_bytes();
    let started = Instant::now();
    let output = run(
        command(tool("python3", "python3"))
            .arg(RAW)
            .args(["flood", "127.0.0.1", &http.port().to_string(), "/big/"])
            .args(["10000", "3001"]),
        Duration::from_secs(900),
    )
    .await;
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let after = resident_bytes();
    println!(
        "10,000 PROPFIND in {:.1} s; resident {} -> {} MiB",
        started.elapsed().as_secs_f64(),
        before >> 20,
        after >> 20
    );
    assert!(
        after < before + (64 << 20),
        "memory grew from {before} to {after} bytes"
    );
    let still = run_ok(
        command(tool("python3", "python3"))
            .arg(RAW)
            .args(["flood", "127.0.0.1", &http.port().to_string(), "/big/"])
            .args(["1", "3001"]),
    )
    .await;
    assert!(still.status.success());
}

/// WebDAV over HTTPS with HTTP/2 (curl, ALPN h2): PROPFIND, LOCK, a MOVE refused while
/// locked (423), UNLOCK, then the MOVE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_over_https_with_http2() {
    let cert = TestCert::new();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("doc.txt"), b"doc").unwrap();
    let mut config = Config::for_folder(root.path());
    config.tls = Some(cert.settings());
    alice_only(&mut config);
    let running = Ferryd::builder(config).listen_https("127.0.0.1:0").start();
    let base = format!("https://localhost:{}", running.https.unwrap().port());
    let curl = |method: &str, path: &str| {
        let mut curl = command(tool("curl", "curl"));
        curl.args(["--silent", "--show-error", "--max-time", "60", "--http2"])
            .arg("--cacert")
            .arg(&cert.cert)
            .args(["-u", "alice:wonder", "-X", method])
            .args(["-w", "\n%{http_version} %{http_code}"])
            .arg(format!("{base}{path}"));
        curl
    };
    let last_line = |output: &std::process::Output| {
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.lines().last().unwrap_or_default().to_string()
    };
    let listing = run_ok(curl("PROPFIND", "/").args(["-H", "Depth: 1"])).await;
    assert_eq!(last_line(&listing), "2 207");
    assert!(String::from_utf8_lossy(&listing.stdout).contains("doc.txt"));
    let lockinfo = "<?xml version=\"1.0\"?><D:lockinfo xmlns:D=\"DAV:\"><D:lockscope>\
                    <D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>";
    let locked = run_ok(curl("LOCK", "/doc.txt").args(["-D", "-", "--data", lockinfo])).await;
    assert_eq!(last_line(&locked), "2 200");
    let head = String::from_utf8_lossy(&locked.stdout).into_owned();
    let token = head
        .lines()
        .find_map(|line| line.strip_prefix("lock-token: "))
        .unwrap()
        .trim()
        .to_string();
    let destination = format!("Destination: {base}/moved.txt");
    let refused = run_ok(curl("MOVE", "/doc.txt").args(["-H", &destination])).await;
    assert_eq!(last_line(&refused), "2 423");
    let unlock = format!("Lock-Token: {token}");
    let unlocked = run_ok(curl("UNLOCK", "/doc.txt").args(["-H", &unlock])).await;
    assert_eq!(last_line(&unlocked), "2 204");
    let moved = run_ok(curl("MOVE", "/doc.txt").args(["-H", &destination])).await;
    assert_eq!(last_line(&moved), "2 201");
    assert_eq!(
        std::fs::read(root.path().join("moved.txt")).unwrap(),
        b"doc"
    );
}

/// This process's resident memory, from /proc.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}
