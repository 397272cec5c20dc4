//! `--verify`: a file whose bytes changed on the way is caught, named, and not left behind; a
//! server without digests gives one warning and the files count as unverified.
//!
//! ferryd has no HASH on this branch yet, so the corrupting case runs against a scripted server
//! that announces `HASH SHA-256*`, answers HASH with the true file's digest (from `sha256sum`)
//! and flips one byte on the data connection, as a faulty proxy between the two would.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::io::Write;

use common::{
    Client, Fake, Server, answer_epsv, assert_file, assert_ok, assert_one_line_error, send_on_data,
    stderr, stdout,
};

fn sha256sum(bytes: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let output = std::process::Command::new(ferry_testkit::tool("sha256sum", "coreutils"))
        .arg(file.path())
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()[..64].to_string()
}

/// A server with HASH whose data connection flips byte `flip` (none: sends the file as it is).
fn hashing_server(payload: Vec<u8>, flip: Option<usize>) -> Fake {
    let digest = sha256sum(&payload);
    let size = payload.len() as u64;
    Fake::with_features(
        &["EPSV", "SIZE", "HASH SHA-256*;SHA-1;MD5"],
        size,
        move |line, control, data| {
            let verb = line.split(' ').next().unwrap_or("");
            match verb {
                "RETR" => {
                    let mut sent = payload.clone();
                    if let Some(at) = flip {
                        sent[at] ^= 0x01;
                    }
                    send_on_data(control, data, &sent);
                }
                "EPSV" => answer_epsv(control, data),
                "HASH" => write!(control, "213 SHA-256 0-{size} {digest} f.bin\r\n").unwrap(),
                _ => control.write_all(b"502 no\r\n").unwrap(),
            }
            true
        },
    )
}

#[test]
fn a_flipped_byte_is_caught_and_the_file_removed() {
    let payload = ferry_testkit::test_bytes(300_000, 41);
    let fake = hashing_server(payload.clone(), Some(123_456));
    let client = Client::new();
    let output = client.run(&["get", &format!("ftp://{}/f.bin", fake.addr), "--verify"]);
    assert_one_line_error(&output, "f.bin: SHA-256 differs: here ");
    assert!(stderr(&output).contains("the download was removed"));
    assert!(
        std::fs::read_dir(client.work()).unwrap().next().is_none(),
        "a file was left behind"
    );
    assert!(fake.commands().iter().any(|line| line == "HASH f.bin"));

    // The same server without the fault: verified, kept.
    let fake = hashing_server(payload.clone(), None);
    let output = client.run(&["get", &format!("ftp://{}/f.bin", fake.addr), "--verify"]);
    assert_ok(&output);
    assert_file(client.work().join("f.bin"), &payload);
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
}

#[test]
fn no_digest_on_the_server_is_one_warning() {
    let server = Server::start();
    std::fs::create_dir_all(server.path("tree/sub")).unwrap();
    for name in ["a", "b", "sub/c"] {
        std::fs::write(server.path(&format!("tree/{name}")), name.as_bytes()).unwrap();
    }
    let client = Client::new();
    let output = client.run(&["get", &server.url("tree/a"), "--verify"]);
    assert_ok(&output);
    assert_file(client.work().join("a"), b"a");
    assert_eq!(
        stderr(&output).matches("warning").count(),
        1,
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("1 file(s) unverified"));

    let output = client.run(&["mirror", &server.url("tree/"), "copy", "--verify"]);
    assert_ok(&output);
    assert_eq!(
        stdout(&output),
        "Mirrored 3 files (7b), 0 unchanged, 0 failed, 3 unverified\n"
    );
    assert_eq!(
        stderr(&output).matches("warning").count(),
        1,
        "{}",
        stderr(&output)
    );
}

/// `set verify on` in the shell: the corrupt download is removed and named; a server without
/// digests is warned about once a session, however many files.
#[test]
fn the_shell_verifies_when_set() {
    let payload = ferry_testkit::test_bytes(100_000, 42);
    let fake = hashing_server(payload, Some(99));
    let client = Client::new();
    let script = format!(
        "set verify on\nopen ftp://{}/\nget f.bin\nquit\n",
        fake.addr
    );
    let output = common::run_script(client.home(), client.work(), &[], &script);
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(text.contains("f.bin: SHA-256 differs"), "{text}");
    assert!(!client.work().join("f.bin").exists());

    let server = Server::start();
    std::fs::write(server.path("a"), b"a").unwrap();
    std::fs::write(server.path("b"), b"b").unwrap();
    let script = format!(
        "set verify on\nset\nopen {}\nget a\nget b\nquit\n",
        server.url("")
    );
    let output = common::run_script(client.home(), client.work(), &[], &script);
    let text = stdout(&output);
    assert!(text.contains("verify on"), "{text}");
    assert_eq!(text.matches("Warning: ").count(), 1, "{text}");
    assert_file(client.work().join("b"), b"b");
}
