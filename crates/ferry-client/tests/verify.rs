//! `--verify`: a file whose bytes changed on the way is caught, named, and not left behind; a
//! server without digests gives one warning and the files count as unverified.
//!
//! The corruption is caught two ways: ferryd's own HASH behind a loopback proxy that flips one
//! byte on the data connection, and a scripted server that announces `HASH SHA-256*`, answers
//! with the true file's digest (from `sha256sum`) and flips a byte itself. A scripted server
//! that refuses every digest command (as vsftpd does) takes the warning path.
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

/// A server without HASH that refuses the X aliases as unknown (as vsftpd does): the digest
/// commands the client tried, in order.
fn digestless_server(payload: Vec<u8>) -> Fake {
    Fake::with_features(
        &["EPSV", "SIZE"],
        payload.len() as u64,
        move |line, control, data| {
            match line.split(' ').next().unwrap_or("") {
                "RETR" => send_on_data(control, data, &payload),
                "EPSV" => answer_epsv(control, data),
                _ => control.write_all(b"500 Unknown command.\r\n").unwrap(),
            }
            true
        },
    )
}

#[test]
fn no_digest_on_the_server_is_one_warning() {
    let fake = digestless_server(b"abc".to_vec());
    let client = Client::new();
    let output = client.run(&["get", &format!("ftp://{}/a", fake.addr), "--verify"]);
    assert_ok(&output);
    assert_file(client.work().join("a"), b"abc");
    assert_eq!(
        stderr(&output).matches("warning").count(),
        1,
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("1 file(s) unverified"));
    let probes: Vec<String> = fake
        .commands()
        .into_iter()
        .filter(|line| line.starts_with('X'))
        .collect();
    assert_eq!(probes, ["XSHA256 a", "XSHA1 a", "XMD5 a", "XCRC a"]);
}

/// ferryd's HASH verifies every file of a mirror, and a get, with no warning.
#[test]
fn ferryd_verifies_a_mirror() {
    let server = Server::start();
    std::fs::create_dir_all(server.path("tree/sub")).unwrap();
    for name in ["a", "b", "sub/c"] {
        std::fs::write(server.path(&format!("tree/{name}")), name.as_bytes()).unwrap();
    }
    let client = Client::new();
    let output = client.run(&["get", &server.url("tree/a"), "--verify"]);
    assert_ok(&output);
    assert_file(client.work().join("a"), b"a");
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));

    let output = client.run(&["mirror", &server.url("tree/"), "copy", "--verify"]);
    assert_ok(&output);
    assert_eq!(
        stdout(&output),
        "Mirrored 3 files (7b), 0 unchanged, 0 failed, 3 verified\n"
    );
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
    // Up, too.
    let output = client.run(&["mirror", "-R", "copy", &server.url("back/"), "--verify"]);
    assert_ok(&output);
    assert!(
        stdout(&output).contains(", 3 verified"),
        "{}",
        stdout(&output)
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

    // A server without digests: one warning for the session, however many files.
    let fake = digestless_server(b"b".to_vec());
    let script = format!(
        "set verify on\nset\nopen ftp://{}/\nget a\nget b\nquit\n",
        fake.addr
    );
    let output = common::run_script(client.home(), client.work(), &[], &script);
    let text = stdout(&output);
    assert!(text.contains("verify on"), "{text}");
    assert_eq!(text.matches("Warning: ").count(), 1, "{text}");
    assert_file(client.work().join("b"), b"b");
}

/// A loopback proxy in front of an FTP server that flips one byte of every download: the
/// control connection is relayed as it is, except that each EPSV answer (229) points at a data
/// listener of the proxy's own, which relays to the server's and XORs byte `flip` of what the
/// server sends. Serves one client session; its threads end when either side closes.
struct FlipProxy {
    addr: std::net::SocketAddr,
}

impl FlipProxy {
    fn start(server: std::net::SocketAddr, flip: u64) -> FlipProxy {
        use std::io::{BufRead, BufReader, Read};
        use std::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let upstream = TcpStream::connect(server).unwrap();
            let timeout = Some(std::time::Duration::from_secs(30));
            for stream in [&client, &upstream] {
                stream.set_read_timeout(timeout).unwrap();
            }
            // Client to server: as it is.
            let (mut from_client, mut to_server) =
                (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_client, &mut to_server);
                let _ = to_server.shutdown(std::net::Shutdown::Both);
            });
            // Server to client, line by line, with EPSV answers rewritten.
            let mut lines = BufReader::new(upstream);
            let mut to_client = client;
            loop {
                let mut line = String::new();
                if lines.read_line(&mut line).unwrap_or(0) == 0 {
                    let _ = to_client.shutdown(std::net::Shutdown::Both);
                    return;
                }
                if line.starts_with("229 ")
                    && let Some(port) = line
                        .split("|||")
                        .nth(1)
                        .and_then(|rest| rest.split('|').next())
                        .and_then(|port| port.parse::<u16>().ok())
                {
                    let data = TcpListener::bind("127.0.0.1:0").unwrap();
                    let ours = data.local_addr().unwrap().port();
                    std::thread::spawn(move || {
                        let Ok((mut near, _)) = data.accept() else {
                            return;
                        };
                        let mut far = TcpStream::connect(("127.0.0.1", port)).unwrap();
                        let (mut up_near, mut up_far) =
                            (near.try_clone().unwrap(), far.try_clone().unwrap());
                        // Uploads pass untouched.
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut up_near, &mut up_far);
                            let _ = up_far.shutdown(std::net::Shutdown::Write);
                        });
                        let mut seen = 0u64;
                        let mut buf = vec![0; 64 * 1024];
                        loop {
                            let read = far.read(&mut buf).unwrap_or(0);
                            if read == 0 {
                                let _ = near.shutdown(std::net::Shutdown::Write);
                                return;
                            }
                            if (seen..seen + read as u64).contains(&flip) {
                                buf[(flip - seen) as usize] ^= 0x01;
                            }
                            seen += read as u64;
                            if near.write_all(&buf[..read]).is_err() {
                                return;
                            }
                        }
                    });
                    line = format!("229 Entering Extended Passive Mode (|||{ours}|)\r\n");
                }
                if to_client.write_all(line.as_bytes()).is_err() {
                    return;
                }
            }
        });
        FlipProxy { addr }
    }
}

/// End to end against ferryd's HASH: a proxy flips one byte on the data connection; the client
/// names the file, exits non-zero and leaves no file; through no proxy, the same get verifies.
#[test]
fn ferryd_hash_catches_a_byte_flipped_on_the_way() {
    let server = Server::start();
    let payload = ferry_testkit::test_bytes(700_000, 43);
    std::fs::write(server.path("data.bin"), &payload).unwrap();
    let proxy = FlipProxy::start(server.addr, 654_321);
    let client = Client::new();
    let output = client.run(&["get", &format!("ftp://{}/data.bin", proxy.addr), "--verify"]);
    assert_one_line_error(&output, "data.bin: SHA-256 differs: here ");
    assert!(
        std::fs::read_dir(client.work()).unwrap().next().is_none(),
        "a file was left behind"
    );
    let output = client.run(&["get", &server.url("data.bin"), "--verify"]);
    assert_ok(&output);
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
    assert_file(client.work().join("data.bin"), &payload);
}

/// A mirror's HASH commands go pipelined, 32 files to a write: a file corrupted in the middle
/// of the first batch is still the one named and removed, and only it; the files on either
/// side of it, and those of the last, shorter batch, verify.
#[test]
fn a_mismatch_in_the_middle_of_a_pipelined_batch_fails_that_file_only() {
    let server = Server::start();
    std::fs::create_dir_all(server.path("tree")).unwrap();
    let big = ferry_testkit::test_bytes(30_000, 44);
    for index in 0..40 {
        let name = format!("tree/f{index:02}");
        // Only f17 reaches the byte the proxy flips (the listing stays shorter too).
        let bytes = if index == 17 { big.clone() } else { vec![b'x'] };
        std::fs::write(server.path(&name), bytes).unwrap();
    }
    let proxy = FlipProxy::start(server.addr, 20_000);
    let client = Client::new();
    let output = client.run(&[
        "-v",
        "mirror",
        &format!("ftp://{}/tree/", proxy.addr),
        "copy",
        "--verify",
    ]);
    assert!(
        !output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let text = stderr(&output);
    assert!(
        text.contains("f17: SHA-256 differs"),
        "{:?} {} {text}",
        output.status,
        stdout(&output)
    );
    assert!(text.contains(", 1 failed, 39 verified"), "{text}");
    assert!(
        !client.work().join("copy/f17").exists(),
        "f17 was left behind"
    );
    for index in (0..40).filter(|index| *index != 17) {
        assert_file(client.work().join(format!("copy/f{index:02}")), b"x");
    }
    // Pipelined: a HASH sent while the one before it had no answer yet.
    let sent: Vec<&str> = text.lines().collect();
    let pipelined = sent
        .windows(2)
        .any(|pair| pair[0].starts_with("--> HASH ") && pair[1].starts_with("--> HASH "));
    assert!(pipelined, "{text}");
}

/// A scripted server with HASH that stores uploads and answers HASH with the digest of the
/// bytes it got, except the first `wrong` times (a digest of other bytes, as if the upload had
/// been damaged on the way).
fn storing_server(wrong: usize) -> Fake {
    let mut stored = Vec::new();
    let mut answered = 0;
    Fake::with_features(
        &["EPSV", "SIZE", "HASH SHA-256*;SHA-1;MD5"],
        0,
        move |line, control, data| {
            let verb = line.split(' ').next().unwrap_or("");
            match verb {
                "STOR" => {
                    control.write_all(b"150 send it\r\n").unwrap();
                    let (mut stream, _) = data.take().unwrap().accept().unwrap();
                    stored.clear();
                    std::io::Read::read_to_end(&mut stream, &mut stored).unwrap();
                    control.write_all(b"226 stored\r\n").unwrap();
                }
                "HASH" => {
                    let mut hashed = stored.clone();
                    if answered < wrong {
                        hashed.push(b'!');
                    }
                    answered += 1;
                    let digest = sha256sum(&hashed);
                    let size = stored.len();
                    write!(control, "213 SHA-256 0-{size} {digest} up.bin\r\n").unwrap();
                }
                _ => control.write_all(b"502 no\r\n").unwrap(),
            }
            true
        },
    )
}

/// `put --verify`: an upload whose digest differs is sent again, once; verified then, it
/// succeeds; differing again, it fails naming the file.
#[test]
fn a_differing_upload_is_sent_again_once() {
    let client = Client::new();
    let payload = ferry_testkit::test_bytes(50_000, 43);
    std::fs::write(client.work().join("up.bin"), &payload).unwrap();

    let fake = storing_server(1);
    let output = client.run(&[
        "put",
        "up.bin",
        &format!("ftp://{}/up.bin", fake.addr),
        "--verify",
    ]);
    assert_ok(&output);
    let commands = fake.commands();
    let stors = commands
        .iter()
        .filter(|line| line.starts_with("STOR"))
        .count();
    let hashes = commands
        .iter()
        .filter(|line| line.starts_with("HASH"))
        .count();
    assert_eq!((stors, hashes), (2, 2), "{commands:?}");

    let fake = storing_server(2);
    let output = client.run(&[
        "put",
        "up.bin",
        &format!("ftp://{}/up.bin", fake.addr),
        "--verify",
    ]);
    assert_one_line_error(&output, "up.bin: SHA-256 differs: here ");
    let commands = fake.commands();
    let stors = commands
        .iter()
        .filter(|line| line.starts_with("STOR"))
        .count();
    assert_eq!(stors, 2, "sent again only once: {commands:?}");
}
