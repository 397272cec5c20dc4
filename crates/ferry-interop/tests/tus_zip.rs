//! tus resumable uploads and zip downloads against real clients (`tests/py/tus_zip_suite.py`):
//! tuspy uploads 200 MiB through `/.tus/`, is cut by a loopback proxy some 70 MiB in, resumes
//! from the offset the server reports (sending less than the file) and the file is byte-exact
//! and invisible until complete; checksum mismatch (460), termination, another user's upload
//! (404), no upload right (403). Python's zipfile reads `GET /dir/?zip` archives: a folder of
//! 1,000 files and 1 GiB with the server's memory flat, a selection, a folder the user may not
//! read left out.
//!
//! The tus and small zip tests run on a folder and on an S3 bucket. Needs tuspy in the virtual
//! environment scripts/test makes (`~/.local/share/ferry-tuspy`); fails, never skips, without.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Backend, TestServer, command, on_both_backends, pattern, run_ok};
use ferry_server::User;
use ferry_server::auth::Right;

on_both_backends!(
    tuspy_resumes_a_cut_200_mib_upload,
    tus_refusals,
    zip_of_a_tree_a_selection_and_a_hidden_folder,
);

const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/tus_zip_suite.py");

/// The python of the virtual environment where scripts/test installs tuspy.
fn tuspy_python() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_default();
    let python = Path::new(&home).join(".local/share/ferry-tuspy/bin/python");
    let found = std::process::Command::new(&python)
        .args(["-c", "import tusclient"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        found,
        "tuspy is not installed in {}: run scripts/test, which installs it \
         (python3 -m venv ~/.local/share/ferry-tuspy; its pip install tuspy==1.1.0)",
        python.display()
    );
    python
}

/// alice (every right, but none in `/share/secret`), bob (every right), carol (read-only).
async fn server(backend: Backend) -> TestServer {
    let mut alice = User::new(b"wonderland", "alice".into(), false).unwrap();
    alice.permissions = [
        ("/".to_string(), vec![Right::All]),
        ("/share/secret".to_string(), vec![]),
    ]
    .into_iter()
    .collect::<BTreeMap<_, _>>();
    let bob = User::new(b"builder", "bob".into(), false).unwrap();
    let carol = User::new(b"readonly", "carol".into(), true).unwrap();
    let server = TestServer::start_on_with(backend, "127.0.0.1:0", |config| {
        config.anonymous = ferry_server::Anonymous::Off;
        config.users.users.insert("alice".into(), alice);
        config.users.users.insert("bob".into(), bob);
        config.users.users.insert("carol".into(), carol);
    })
    .await;
    server.create_dir("alice/up").await;
    server.create_dir("bob").await;
    server.create_dir("carol").await;
    server
}

/// Runs a section of the suite; its JSON line of measurements.
async fn suite(server: &TestServer, args: &[&str]) -> serde_json::Value {
    let http = server.http.unwrap();
    let output = run_ok(
        command(tuspy_python())
            .arg(SUITE)
            .arg(args[0])
            .arg(http.ip().to_string())
            .arg(http.port().to_string())
            .args(&args[1..]),
    )
    .await;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or("null");
    serde_json::from_str(line).unwrap_or(serde_json::Value::Null)
}

async fn tuspy_resumes_a_cut_200_mib_upload(backend: Backend) {
    let server = server(backend).await;
    let scratch = tempfile::tempdir().unwrap();
    let source = scratch.path().join("big.bin");
    let data = pattern(200 << 20, 18);
    std::fs::write(&source, &data).unwrap();
    let measured = suite(
        &server,
        &["resume", source.to_str().unwrap(), "/up/big file.bin"],
    )
    .await;
    eprintln!("tus resume ({backend:?}): {measured}");
    let size = measured["size"].as_u64().unwrap();
    let resent = measured["bytes_sent_on_resume"].as_u64().unwrap();
    assert!(resent < size, "{measured}");
    assert!(
        server.read("alice/up/big file.bin").await == data,
        "stored bytes differ"
    );
    assert_eq!(server.names("alice/up").await, ["big file.bin"]);
}

async fn tus_refusals(backend: Backend) {
    let server = server(backend).await;
    suite(&server, &["refusals"]).await;
    assert_eq!(server.names("alice/up").await, Vec::<String>::new());
    assert_eq!(server.read("alice/named.txt").await, b"abc");
    assert_eq!(server.names("carol").await, Vec::<String>::new());
}

/// Writes `files` (path, bytes) under `root` on disk.
fn tree(root: &Path, files: &[(&str, Vec<u8>)]) {
    for (path, bytes) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

async fn zip_of_a_tree_a_selection_and_a_hidden_folder(backend: Backend) {
    let server = server(backend).await;
    let visible: Vec<(&str, Vec<u8>)> = vec![
        ("a.txt", b"a file\n".to_vec()),
        ("caf\u{e9} & co.bin", pattern(300 << 10, 1)),
        ("sub/b.bin", pattern(700 << 10, 2)),
        ("sub/deeper/c.txt", Vec::new()),
        ("other/d.txt", b"d".to_vec()),
    ];
    for (path, bytes) in &visible {
        server.write(&format!("alice/share/{path}"), bytes).await;
    }
    server.write("alice/share/secret/hidden.txt", b"no").await;
    let scratch = tempfile::tempdir().unwrap();
    let whole = scratch.path().join("whole");
    tree(&whole, &visible);
    let expected = whole.to_str().unwrap();
    let measured = suite(&server, &["zip", "/share/?zip", expected]).await;
    eprintln!("zip ({backend:?}): {measured}");
    // Without the slash: redirected to the folder, the query kept.
    suite(&server, &["status", "/share?zip", "301"]).await;

    let chosen = scratch.path().join("chosen");
    tree(
        &chosen,
        &visible
            .iter()
            .filter(|(path, _)| path.starts_with("sub/") || path.starts_with("caf"))
            .cloned()
            .collect::<Vec<_>>(),
    );
    suite(
        &server,
        &[
            "zip",
            "/share/?zip&files=sub,caf%C3%A9%20%26%20co.bin",
            chosen.to_str().unwrap(),
        ],
    )
    .await;
    suite(&server, &["status", "/share/?zip&files=../x", "400"]).await;
    suite(&server, &["status", "/share/?zip&files=sub%2Fb.bin", "400"]).await;
    suite(&server, &["status", "/share/?zip&files=nothing", "404"]).await;
    suite(&server, &["status", "/share/secret/?zip", "403"]).await;
}

/// VmRSS of this process (where the test's ferryd runs), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

/// A folder of 1,000 files and 1 GiB (10 folders of 100 files of 1 MiB and a bit, and an empty
/// folder) streams as a zip that Python's zipfile reads back byte for byte, while ferryd's
/// memory (this process's RSS, sampled every 50 ms) grows by less than 64 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_of_1000_files_and_1_gib_keeps_memory_flat() {
    let server = server(Backend::Local).await;
    let big = server.root().join("alice/big");
    for folder in 0..10 {
        for file in 0..100 {
            let path = big.join(format!("f{folder}/file {file}.bin"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, pattern(1_073_742, (folder * 100 + file) as u8)).unwrap();
        }
    }
    std::fs::create_dir_all(big.join("empty")).unwrap();
    let before = rss();
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = std::sync::Arc::clone(&sampling);
        std::thread::spawn(move || {
            let mut peak = 0;
            // Bounded: at most 20 minutes of samples.
            for _ in 0..24_000 {
                if !sampling.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                peak = peak.max(rss());
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    };
    let measured = suite(&server, &["zip", "/big/?zip", big.to_str().unwrap()]).await;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    let growth = peak.saturating_sub(before);
    eprintln!(
        "zip of 1 GiB: {measured}; RSS before {} MiB, peak {} MiB, growth {} MiB",
        before >> 20,
        peak >> 20,
        growth >> 20
    );
    assert_eq!(measured["entries"].as_u64(), Some(1000 + 11));
    assert!(measured["zip_bytes"].as_u64().unwrap() > 1000 * 1_073_742);
    assert!(growth < 64 << 20, "RSS grew by {} MiB", growth >> 20);
}

/// ZIP64 where it is needed, read back by Python's zipfile: a (sparse) file of 4 GiB and a bit,
/// whose sizes need the entry's ZIP64 fields and after which every offset does, and 70,000
/// entries, more than the classic end record counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip64_for_a_4_gib_file_and_70000_entries() {
    let server = server(Backend::Local).await;
    let folder = server.root().join("alice/many");
    std::fs::create_dir_all(folder.join("small")).unwrap();
    let big = std::fs::File::create(folder.join("big.bin")).unwrap();
    big.set_len((4 << 30) + 3).unwrap();
    drop(big);
    std::fs::write(folder.join("tail.txt"), b"after the big one\n").unwrap();
    for i in 0..70_000 {
        std::fs::write(folder.join(format!("small/{i}")), b"").unwrap();
    }
    let measured = suite(&server, &["zip", "/many/?zip", folder.to_str().unwrap()]).await;
    eprintln!("zip64: {measured}");
    assert_eq!(measured["entries"].as_u64(), Some(70_003));
}
