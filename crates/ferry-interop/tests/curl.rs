//! curl against ferryd: uploads creating folders, listings, downloads with each `--ftp-method`,
//! active mode (EPRT and PORT), `-Q` commands, resumed transfers and PASV without EPSV.
//!
//! Every test runs twice, on a folder-backed ferryd (`local::`) and on an S3-backed one (`s3::`,
//! SeaweedFS on loopback). Needs `curl` (`apt-get install curl`) and SeaweedFS (see `.ci/run`);
//! fails, never skips, when one is missing.

mod common;

use common::{Backend, TestServer, command, on_both_backends, pattern, read, run_ok, tool, write};
use tokio::process::Command;

on_both_backends!(
    upload_with_create_dirs_list_and_download_with_each_method,
    active_mode_with_eprt_and_with_port,
    quote_dele_and_rename,
    resume_download_and_upload,
    passive_with_pasv_when_epsv_is_disabled,
    many_clients_at_once,
    byte_ranges_end_with_abor,
);

/// curl, silent but showing errors, never waiting long for anything.
fn curl() -> Command {
    let mut curl = command(tool("curl", "curl"));
    curl.args(["--silent", "--show-error", "--max-time", "60"])
        .args(["--connect-timeout", "10"]);
    curl
}

/// What curl said to the server (`-v` lines starting with `> `), for checking which commands it
/// used.
fn sent_commands(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|line| line.strip_prefix("> "))
        .map(str::to_string)
        .collect()
}

async fn upload_with_create_dirs_list_and_download_with_each_method(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let scratch = tempfile::tempdir().expect("scratch folder");
    let data = pattern(300_000, 1);
    let local = scratch.path().join("source.bin");
    write(&local, &data);
    // "up/nested/deep er/file ü.bin", percent-encoded in the URL.
    let remote = "up/nested/deep%20er/file%20%C3%BC.bin";

    run_ok(
        curl()
            .arg("--ftp-create-dirs")
            .arg("-T")
            .arg(&local)
            .arg(server.url(remote)),
    )
    .await;
    assert_eq!(
        server.read("up/nested/deep er/file ü.bin").await,
        data,
        "uploaded bytes on the server"
    );

    // LIST of the new folder, then NLST (--list-only).
    let listing = run_ok(curl().arg(server.url("up/nested/deep%20er/"))).await;
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        listing
            .lines()
            .any(|line| line.ends_with(" file ü.bin") && line.contains("300000")),
        "LIST shows the file with its size:\n{listing}"
    );
    let names = run_ok(
        curl()
            .arg("--list-only")
            .arg(server.url("up/nested/deep%20er/")),
    )
    .await;
    // curl turns the CRLF line ends of an ASCII listing into LF; compare lines.
    let names = String::from_utf8_lossy(&names.stdout).into_owned();
    assert_eq!(names.lines().collect::<Vec<_>>(), ["file ü.bin"]);
    let parent = run_ok(curl().arg("--list-only").arg(server.url("up/nested/"))).await;
    let parent = String::from_utf8_lossy(&parent.stdout).into_owned();
    assert_eq!(parent.lines().collect::<Vec<_>>(), ["deep er"]);

    for method in ["multicwd", "nocwd", "singlecwd"] {
        let out = scratch.path().join(format!("down-{method}.bin"));
        let output = run_ok(
            curl()
                .arg("--verbose")
                .args(["--ftp-method", method, "-o"])
                .arg(&out)
                .arg(server.url(remote)),
        )
        .await;
        assert_eq!(read(&out), data, "download with --ftp-method {method}");
        let sent = sent_commands(&output.stderr);
        let cwds = sent.iter().filter(|line| line.starts_with("CWD")).count();
        let retr = sent.iter().find(|line| line.starts_with("RETR")).cloned();
        match method {
            "multicwd" => {
                assert_eq!(cwds, 3, "multicwd: one CWD per folder in {sent:?}");
                assert_eq!(retr.as_deref(), Some("RETR file ü.bin"));
            }
            "nocwd" => {
                assert_eq!(cwds, 0, "nocwd sends no CWD: {sent:?}");
                assert_eq!(retr.as_deref(), Some("RETR up/nested/deep er/file ü.bin"));
            }
            _ => {
                assert_eq!(cwds, 1, "singlecwd: one CWD in {sent:?}");
                assert_eq!(retr.as_deref(), Some("RETR file ü.bin"));
            }
        }
    }
}

async fn active_mode_with_eprt_and_with_port(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let scratch = tempfile::tempdir().expect("scratch folder");
    let data = pattern(200_000, 2);
    let local = scratch.path().join("active.bin");
    write(&local, &data);

    // `-P -`: listen on the control connection's local address (127.0.0.1); curl tries EPRT first.
    for (name, extra) in [("eprt.bin", None), ("port.bin", Some("--disable-eprt"))] {
        let upload = run_ok(
            curl()
                .args(["--verbose", "-P", "-"])
                .args(extra)
                .arg("-T")
                .arg(&local)
                .arg(server.url(name)),
        )
        .await;
        let expected = if extra.is_some() { "PORT " } else { "EPRT " };
        assert!(
            sent_commands(&upload.stderr)
                .iter()
                .any(|line| line.starts_with(expected)),
            "curl used {expected}: {:?}",
            sent_commands(&upload.stderr)
        );
        assert_eq!(server.read(name).await, data, "{name} on the server");

        let out = scratch.path().join(format!("back-{name}"));
        run_ok(
            curl()
                .args(["-P", "-"])
                .args(extra)
                .arg("-o")
                .arg(&out)
                .arg(server.url(name)),
        )
        .await;
        assert_eq!(read(&out), data, "{name} downloaded in active mode");

        let listing = run_ok(curl().args(["-P", "-"]).args(extra).arg(server.url(""))).await;
        assert!(
            String::from_utf8_lossy(&listing.stdout).contains(name),
            "active LIST shows {name}"
        );
    }
}

async fn quote_dele_and_rename(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    server.write("gone.txt", b"delete me\n").await;
    server.write("old name.txt", b"rename me\n").await;
    server.write("stays.txt", b"keep me\n").await;

    let listing = run_ok(
        curl()
            .args(["-Q", "DELE gone.txt"])
            .args(["-Q", "RNFR old name.txt", "-Q", "RNTO new name.txt"])
            .arg("--list-only")
            .arg(server.url("")),
    )
    .await;
    let mut names: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    assert_eq!(names, ["new name.txt", "stays.txt"]);
    assert!(server.exists("stays.txt").await, "the check sees files");
    assert!(!server.exists("gone.txt").await, "DELE removed it");
    assert!(!server.exists("old name.txt").await, "RNTO moved it");
    assert_eq!(server.read("new name.txt").await, b"rename me\n");

    // A quoted command that fails makes curl fail (exit 21, "quote command returned error").
    let output = common::run(
        curl()
            .args(["-Q", "DELE not-there.txt"])
            .arg(server.url("")),
        common::TOOL_LIMIT,
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(21),
        "DELE of a missing file fails"
    );
}

async fn resume_download_and_upload(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let scratch = tempfile::tempdir().expect("scratch folder");
    let data = pattern(1_000_000, 3);

    // Download: the local file holds the first 300,000 bytes; `-C -` asks REST 300000 + RETR.
    server.write("whole.bin", &data).await;
    let partial = scratch.path().join("partial.bin");
    write(&partial, &data[..300_000]);
    let output = run_ok(
        curl()
            .args(["--verbose", "-C", "-", "-o"])
            .arg(&partial)
            .arg(server.url("whole.bin")),
    )
    .await;
    assert!(
        sent_commands(&output.stderr).contains(&"REST 300000".to_string()),
        "curl resumed with REST: {:?}",
        sent_commands(&output.stderr)
    );
    assert_eq!(read(&partial), data, "resumed download");

    // Upload: the server holds the first 400,000 bytes; `-C - -T` asks SIZE then APPE.
    server.write("upload.bin", &data[..400_000]).await;
    let local = scratch.path().join("local.bin");
    write(&local, &data);
    let output = run_ok(
        curl()
            .args(["--verbose", "-C", "-", "-T"])
            .arg(&local)
            .arg(server.url("upload.bin")),
    )
    .await;
    assert!(
        sent_commands(&output.stderr).contains(&"APPE upload.bin".to_string()),
        "curl resumed with APPE: {:?}",
        sent_commands(&output.stderr)
    );
    assert_eq!(server.read("upload.bin").await, data, "resumed upload");
}

async fn passive_with_pasv_when_epsv_is_disabled(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let scratch = tempfile::tempdir().expect("scratch folder");
    let data = pattern(150_000, 4);
    let local = scratch.path().join("pasv.bin");
    write(&local, &data);

    let upload = run_ok(
        curl()
            .args(["--verbose", "--disable-epsv", "-T"])
            .arg(&local)
            .arg(server.url("pasv.bin")),
    )
    .await;
    let sent = sent_commands(&upload.stderr);
    assert!(
        sent.iter().any(|line| line == "PASV"),
        "PASV used: {sent:?}"
    );
    assert!(!sent.iter().any(|line| line == "EPSV"), "no EPSV: {sent:?}");
    assert_eq!(server.read("pasv.bin").await, data);

    let out = scratch.path().join("back.bin");
    run_ok(
        curl()
            .arg("--disable-epsv")
            .arg("-o")
            .arg(&out)
            .arg(server.url("pasv.bin")),
    )
    .await;
    assert_eq!(read(&out), data);

    // And the default: EPSV.
    let listing = run_ok(curl().arg("--verbose").arg(server.url(""))).await;
    let sent = sent_commands(&listing.stderr);
    assert!(
        sent.iter().any(|line| line == "EPSV"),
        "EPSV used: {sent:?}"
    );
    assert!(String::from_utf8_lossy(&listing.stdout).contains("pasv.bin"));
}

async fn many_clients_at_once(backend: Backend) {
    const CLIENTS: usize = 16;
    let server = TestServer::start_on(backend).await;
    let scratch = tempfile::tempdir().expect("scratch folder");
    let files: Vec<(String, Vec<u8>)> = (0..CLIENTS)
        .map(|i| {
            let seed = u8::try_from(i).expect("few clients");
            (format!("client {i}.bin"), pattern(100_000 + i * 1000, seed))
        })
        .collect();
    for (name, data) in &files {
        write(&scratch.path().join(name), data);
    }

    // Every upload at once, half passive and half active, then every download at once.
    for upload in [true, false] {
        let mut running = tokio::task::JoinSet::new();
        for (i, (name, _)) in files.iter().enumerate() {
            let mut command = curl();
            if i % 2 == 1 {
                command.args(["-P", "-"]);
            }
            let local = scratch.path().join(name);
            let url = server.url(&name.replace(' ', "%20"));
            if upload {
                command.arg("-T").arg(&local).arg(url);
            } else {
                command.arg("-o").arg(local.with_extension("back")).arg(url);
            }
            running.spawn(async move { run_ok(&mut command).await.status.success() });
        }
        while let Some(finished) = running.join_next().await {
            assert!(finished.expect("a curl task"), "curl succeeded");
        }
    }
    for (name, data) in &files {
        assert_eq!(&server.read(name).await, data, "{name} on the server");
        let back = scratch.path().join(name).with_extension("back");
        assert_eq!(&read(&back), data, "{name} downloaded");
    }
}

async fn byte_ranges_end_with_abor(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let scratch = tempfile::tempdir().expect("scratch folder");
    let data = pattern(5_000_000, 8);
    server.write("ranged.bin", &data).await;

    // curl asks REST 100 + RETR, reads 100 bytes, then sends ABOR (426, 226) and quits. Two URLs
    // in one run: the second range comes after the first one's ABOR.
    let first = scratch.path().join("first.bin");
    let second = scratch.path().join("second.bin");
    let output = run_ok(
        curl()
            .args(["--verbose", "-r", "100-199", "-o"])
            .arg(&first)
            .arg(server.url("ranged.bin"))
            .arg("-o")
            .arg(&second)
            .arg(server.url("ranged.bin")),
    )
    .await;
    assert_eq!(read(&first), &data[100..200]);
    assert_eq!(read(&second), &data[100..200]);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("< 426"),
        "the range ended with ABOR and 426"
    );

    // `curl -I`: SIZE and MDTM as headers.
    let head = run_ok(curl().arg("-I").arg(server.url("ranged.bin"))).await;
    let head = String::from_utf8_lossy(&head.stdout).into_owned();
    assert!(head.contains("Content-Length: 5000000"), "{head}");
    assert!(head.contains("Last-Modified: "), "{head}");
}
