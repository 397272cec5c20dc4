//! curl and wget against ferryd's HTTP front end: downloads resumed with `curl -C -` and
//! `wget -c`, conditional GETs (curl's `-z` and `--etag-compare`), HEAD, a 64 MiB PUT (and, on a folder, 1 GiB) with the
//! bytes compared, a PUT cut mid-way that leaves nothing visible, the JSON listing, Basic
//! logins (and wrong ones counted toward the ban FTP shares), `..` in every encoding sent as
//! is, and HTTPS with HTTP/2 negotiated by ALPN on the FTPS certificate.
//!
//! The file tests run twice, on a folder-backed ferryd (`local::`) and an S3-backed one
//! (`s3::`). Needs `curl` and `wget` (`.ci/run` installs both); fails, never skips, without.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{
    Backend, TestCert, TestServer, command, on_both_backends, pattern, run, run_ok, tool,
};
use ferry_server::{Anonymous, Config, User};
use ferry_testkit::Ferryd;
use tokio::process::Command;

on_both_backends!(
    curl_resumes_a_download_and_wget_fetches_and_resumes,
    conditional_gets_and_head,
    put_of_64_mib_is_exact_and_a_cut_put_leaves_nothing,
    json_listing,
);

/// curl, silent but showing errors, never waiting long for anything.
fn curl() -> Command {
    let mut curl = command(tool("curl", "curl"));
    curl.args(["--silent", "--show-error", "--max-time", "120"])
        .args(["--connect-timeout", "10"]);
    curl
}

fn wget() -> Command {
    let mut wget = command(tool("wget", "wget"));
    wget.args(["--quiet", "--tries=1", "--timeout=60"]);
    wget
}

/// What curl printed for `-w '%{http_code}'`.
async fn status(command: &mut Command) -> String {
    let output = run_ok(command.args(["-o", "/dev/null", "-w", "%{http_code}"])).await;
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn curl_resumes_a_download_and_wget_fetches_and_resumes(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let data = pattern(8 << 20, 3);
    server.write("dir/big file.bin", &data).await;
    let url = server.http_url("dir/big%20file.bin");
    let scratch = tempfile::tempdir().unwrap();

    let whole = scratch.path().join("whole.bin");
    run_ok(curl().arg("-o").arg(&whole).arg(&url)).await;
    assert!(
        std::fs::read(&whole).unwrap() == data,
        "curl download differs"
    );

    // A download that stopped after 3 MiB, resumed where the local file ends.
    let resumed = scratch.path().join("resumed.bin");
    std::fs::write(&resumed, &data[..3 << 20]).unwrap();
    let output = run_ok(
        curl()
            .args(["-C", "-", "-w", "%{http_code} %{size_download}", "-o"])
            .arg(&resumed)
            .arg(&url),
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("206 {}", data.len() - (3 << 20))
    );
    assert!(
        std::fs::read(&resumed).unwrap() == data,
        "resumed download differs"
    );

    let fetched = scratch.path().join("wget.bin");
    run_ok(wget().arg("-O").arg(&fetched).arg(&url)).await;
    assert!(
        std::fs::read(&fetched).unwrap() == data,
        "wget download differs"
    );
    let continued = scratch.path().join("continued.bin");
    std::fs::write(&continued, &data[..1 << 20]).unwrap();
    run_ok(wget().arg("-c").arg("-O").arg(&continued).arg(&url)).await;
    assert!(
        std::fs::read(&continued).unwrap() == data,
        "wget -c differs"
    );
}

async fn conditional_gets_and_head(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    server.write("notes.txt", b"some notes\n").await;
    let url = server.http_url("notes.txt");
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("notes.txt");
    let etag = scratch.path().join("etag");

    // curl -R keeps the server's time on the copy; -z then asks If-Modified-Since.
    run_ok(
        curl()
            .arg("-R")
            .arg("--etag-save")
            .arg(&etag)
            .arg("-o")
            .arg(&copy)
            .arg(&url),
    )
    .await;
    assert_eq!(std::fs::read(&copy).unwrap(), b"some notes\n");
    assert_eq!(status(curl().arg("-z").arg(&copy).arg(&url)).await, "304");
    assert_eq!(
        status(curl().arg("--etag-compare").arg(&etag).arg(&url)).await,
        "304"
    );
    // A changed file is sent again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.write("notes.txt", b"changed notes, longer\n").await;
    assert_eq!(
        status(curl().arg("--etag-compare").arg(&etag).arg(&url)).await,
        "200"
    );

    let output = run_ok(curl().arg("-I").arg(&url)).await;
    let head = String::from_utf8_lossy(&output.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-length: 22\r\n"), "{head}");
    assert!(
        head.contains("content-type: text/plain; charset=utf-8"),
        "{head}"
    );
    assert!(head.contains("etag: \""), "{head}");
    assert!(head.contains("last-modified: "), "{head}");
}

async fn put_of_64_mib_is_exact_and_a_cut_put_leaves_nothing(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let data = pattern(64 << 20, 9);
    let scratch = tempfile::tempdir().unwrap();
    let source = scratch.path().join("big.bin");
    std::fs::write(&source, &data).unwrap();
    let url = server.http_url("up/big.bin");
    server.create_dir("up").await;

    assert_eq!(status(curl().arg("-T").arg(&source).arg(&url)).await, "201");
    assert!(
        server.read("up/big.bin").await == data,
        "uploaded bytes differ"
    );
    let fetched = scratch.path().join("back.bin");
    run_ok(curl().arg("-o").arg(&fetched).arg(&url)).await;
    assert!(
        std::fs::read(&fetched).unwrap() == data,
        "downloaded bytes differ"
    );
    assert_eq!(status(curl().arg("-T").arg(&source).arg(&url)).await, "204");

    // curl gives up after 2 s at 4 MiB/s, some 8 MiB into the 64.
    let cut_url = server.http_url("up/cut.bin");
    let output = run(
        curl()
            .args(["--limit-rate", "4M", "--max-time", "2", "-T"])
            .arg(&source)
            .arg(&cut_url),
        common::TOOL_LIMIT,
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(28),
        "curl was not cut: {output:?}"
    );
    // Never visible, now or once the server has seen the connection go.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert!(
            !server.exists("up/cut.bin").await,
            "a cut upload became visible"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status(curl().arg(&cut_url)).await, "404");
    assert_eq!(server.names("up").await, ["big.bin"]);
}

/// The size: a 1 GiB `curl -T` arrives exact (compared piece by piece on the disk)
/// and is visible only once whole. On the folder backend only: the S3 path is the same code,
/// checked at 64 MiB above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_of_1_gib_is_exact() {
    let server = TestServer::start_on(Backend::Local).await;
    let scratch = tempfile::tempdir().unwrap();
    let source = scratch.path().join("huge.bin");
    {
        let piece = pattern(8 << 20, 21);
        let mut file = std::io::BufWriter::new(std::fs::File::create(&source).unwrap());
        for round in 0..128u8 {
            // Each 8 MiB piece differs from the last, so a piece written twice shows.
            let mut piece = piece.clone();
            piece[0] = round;
            std::io::Write::write_all(&mut file, &piece).unwrap();
        }
        std::io::Write::flush(&mut file).unwrap();
    }
    server.create_dir("up").await;
    let url = server.http_url("up/huge.bin");
    assert_eq!(status(curl().arg("-T").arg(&source).arg(&url)).await, "201");
    let stored = server.root().join("up/huge.bin");
    assert_eq!(
        std::fs::metadata(&stored).unwrap().len(),
        1 << 30,
        "stored size"
    );
    let (mut a, mut b) = (
        std::fs::File::open(&source).unwrap(),
        std::fs::File::open(&stored).unwrap(),
    );
    let (mut x, mut y) = (vec![0u8; 8 << 20], vec![0u8; 8 << 20]);
    for piece in 0..128 {
        std::io::Read::read_exact(&mut a, &mut x).unwrap();
        std::io::Read::read_exact(&mut b, &mut y).unwrap();
        assert!(x == y, "piece {piece} of the stored file differs");
    }
    assert_eq!(server.names("up").await, ["huge.bin"]);
}

async fn json_listing(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    server.write("shared/a.txt", b"aaa").await;
    server.write("shared/sub/b.txt", b"b").await;
    server.write("shared/caf\u{e9} <x>.txt", b"").await;
    let output = run_ok(curl().arg(server.http_url("shared/?format=json"))).await;
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut entries: Vec<(String, String, u64)> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            // S3 prefixes have no time.
            assert!(e["modified"].is_i64() || e["type"] == "dir", "{e}");
            (
                e["name"].as_str().unwrap().to_string(),
                e["type"].as_str().unwrap().to_string(),
                e["size"].as_u64().unwrap(),
            )
        })
        .collect();
    entries.sort();
    let mut expected = vec![
        ("a.txt".to_string(), "file".to_string(), 3),
        ("caf\u{e9} <x>.txt".to_string(), "file".to_string(), 0),
        ("sub".to_string(), "dir".to_string(), 0),
    ];
    expected.sort();
    assert_eq!(entries, expected);
    // Without the slash: redirected, and curl -L follows.
    let output = run_ok(curl().arg("-L").arg(server.http_url("shared?format=json"))).await;
    assert!(String::from_utf8_lossy(&output.stdout).contains("\"a.txt\""));
}

/// Basic logins with curl; wrong passwords over HTTP and over FTP (curl both times) count
/// toward one ban.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_and_a_ban_shared_with_ftp() {
    let server = TestServer::start_with("127.0.0.1:0", |config| {
        config.anonymous = Anonymous::Off;
        config.max_login_failures = 3;
        config.login_failure_delay = Duration::from_millis(10);
        config.users.users.insert(
            "alice".into(),
            User::new(b"wonder", String::new(), false).unwrap(),
        );
    })
    .await;
    server.write("private.txt", b"alice only").await;
    let url = server.http_url("private.txt");
    assert_eq!(status(curl().arg(&url)).await, "401");
    let output = run_ok(curl().args(["-u", "alice:wonder"]).arg(&url)).await;
    assert_eq!(output.stdout, b"alice only");
    assert_eq!(
        status(curl().args(["-u", "alice:guess1"]).arg(&url)).await,
        "401"
    );
    assert_eq!(
        status(curl().args(["-u", "alice:guess2"]).arg(&url)).await,
        "401"
    );
    // The third wrong password, over FTP, bans the address for both.
    let ftp = run(
        curl()
            .args(["-u", "alice:guess3"])
            .arg(server.url("private.txt")),
        common::TOOL_LIMIT,
    )
    .await;
    assert!(!ftp.status.success());
    assert_eq!(
        status(curl().args(["-u", "alice:wonder"]).arg(&url)).await,
        "429"
    );
}

/// `..` sent as is (`--path-as-is`) in every encoding: 400, and nothing of the folder around
/// the root comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_dot_in_every_encoding_is_refused() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("secret.txt"), b"SECRET").unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let running = Ferryd::builder(Config::for_folder(&root))
        .listen_http("127.0.0.1:0")
        .start();
    let base = format!("http://{}", running.http.unwrap());
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/..%2fsecret.txt",
        "/..%5csecret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/%c0%ae%c0%ae%c0%afsecret.txt",
    ] {
        let output = run_ok(
            curl()
                .arg("--path-as-is")
                .args(["-w", "\n%{http_code}"])
                .arg(format!("{base}{path}")),
        )
        .await;
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.ends_with("\n400"), "{path}: {text}");
        assert!(!text.contains("SECRET"), "{path}: {text}");
    }
}

/// HTTPS on the FTPS certificate: curl verifies it with `--cacert`, negotiates HTTP/2 (and
/// HTTP/1.1 when told), downloads and uploads; a password login is accepted over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_http2_on_the_ftps_certificate() {
    let cert = TestCert::new();
    let root = tempfile::tempdir().unwrap();
    let data = pattern(3 << 20, 5);
    std::fs::write(root.path().join("file.bin"), &data).unwrap();
    let mut config = Config::for_folder(root.path());
    config.tls = Some(cert.settings());
    config.anonymous = Anonymous::Off;
    config.users.users.insert(
        "alice".into(),
        User::new(b"wonder", String::new(), false).unwrap(),
    );
    let running = Ferryd::builder(config).listen_https("127.0.0.1:0").start();
    let url = format!(
        "https://localhost:{}/file.bin",
        running.https.unwrap().port()
    );
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("copy.bin");
    let tls = |curl: &mut Command| {
        curl.arg("--cacert")
            .arg(&cert.cert)
            .args(["-u", "alice:wonder"]);
    };

    let mut h2 = curl();
    tls(&mut h2);
    let output = run_ok(
        h2.args(["--http2", "-w", "%{http_version} %{http_code}", "-o"])
            .arg(&copy)
            .arg(&url),
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&output.stdout), "2 200");
    assert!(
        std::fs::read(&copy).unwrap() == data,
        "HTTP/2 download differs"
    );

    let mut h1 = curl();
    tls(&mut h1);
    let output = run_ok(
        h1.args(["--http1.1", "-w", "%{http_version}", "-o", "/dev/null"])
            .arg(&url),
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1.1");

    let mut put = curl();
    tls(&mut put);
    let upload = format!("https://localhost:{}/up.bin", running.https.unwrap().port());
    let output = run_ok(
        put.args([
            "--http2",
            "-w",
            "%{http_version} %{http_code}",
            "-o",
            "/dev/null",
            "-T",
        ])
        .arg(root.path().join("file.bin"))
        .arg(&upload),
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&output.stdout), "2 201");
    assert!(std::fs::read(root.path().join("up.bin")).unwrap() == data);

    // Without the certificate, curl refuses the connection.
    let untrusted = run(curl().arg(&url), common::TOOL_LIMIT).await;
    assert_eq!(untrusted.status.code(), Some(60), "{untrusted:?}");
}
