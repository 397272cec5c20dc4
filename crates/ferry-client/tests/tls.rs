//! FTPS from the `ferry` binary against ferryd: explicit (`ftpes://`, `--tls`) and implicit
//! (`ftps://`) TLS with a certificate made here and trusted with `--ca-file`; bytes checked on
//! both sides. ferryd requires TLS (so PBSZ/PROT P happened) and, where said, session reuse on
//! data connections. A self-signed certificate is refused without `--insecure` and accepted,
//! with a warning, with it.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use common::{
    TlsServer, assert_file, assert_ok, assert_one_line_failure, run, run_script, stderr, stdout,
};

fn payload(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed).to_le_bytes()[1])
        .collect()
}

fn strict(config: &mut ferry_server::Config) {
    config.require_tls = true;
    config.require_tls_session_reuse = true;
}

#[test]
fn explicit_and_implicit_upload_and_download() {
    let server = TlsServer::start(strict);
    let ca = server.ca_file.clone().unwrap();
    let ca = ca.to_str().unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let big = payload(1_500_000, 7);
    std::fs::write(work.path().join("big.bin"), &big).unwrap();

    // Explicit: ftpes:// upload into a new folder, then download under another name.
    let output = run(
        home.path(),
        work.path(),
        &["--ca-file", ca, "put", "big.bin", &server.ftpes("up/")],
    );
    assert_ok(&output);
    assert_file(server.path("up/big.bin"), &big);
    let output = run(
        home.path(),
        work.path(),
        &[
            "--ca-file",
            ca,
            "get",
            &server.ftpes("up/big.bin"),
            "-o",
            "explicit.bin",
        ],
    );
    assert_ok(&output);
    assert_file(work.path().join("explicit.bin"), &big);

    // Implicit: ftps://, both ways.
    let small = payload(70_000, 9);
    std::fs::write(work.path().join("small.bin"), &small).unwrap();
    let output = run(
        home.path(),
        work.path(),
        &["put", "small.bin", &server.ftps("imp/"), "--ca-file", ca],
    );
    assert_ok(&output);
    assert_file(server.path("imp/small.bin"), &small);
    let output = run(
        home.path(),
        work.path(),
        &[
            "get",
            &server.ftps("up/big.bin"),
            "-o",
            "implicit.bin",
            "--ca-file",
            ca,
        ],
    );
    assert_ok(&output);
    assert_file(work.path().join("implicit.bin"), &big);

    // --tls upgrades ftp:// to explicit TLS; -v shows the data connection resumed the session.
    let output = run(
        home.path(),
        work.path(),
        &["--tls", "--ca-file", ca, "-v", "ls", &server.ftp("up/")],
    );
    assert_ok(&output);
    assert!(stdout(&output).contains("big.bin"), "{}", stdout(&output));
    let log = stderr(&output);
    for expected in [
        "--> AUTH TLS",
        "--> PBSZ 0",
        "--> PROT P",
        "data connection: ",
    ] {
        assert!(log.contains(expected), "{expected} missing:\n{log}");
    }
    assert!(log.contains("session resumed"), "{log}");

    // Without --tls, ftp:// stays plain, and ferryd (require_tls) refuses the login.
    let output = run(home.path(), work.path(), &["ls", &server.ftp("up/")]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
}

#[test]
fn a_repl_session_over_tls_moves_several_files() {
    let server = TlsServer::start(strict);
    let ca = server.ca_file.clone().unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    for index in 0..3 {
        std::fs::write(
            work.path().join(format!("f{index}.bin")),
            payload(200_000 + index, index as u32),
        )
        .unwrap();
    }
    let script = format!(
        "CONN {explicit}\nUPLD f0.bin\nUPLD f1.bin\nUPLD f2.bin\nLIST\nlcd out\nDWLD f1.bin\n\
         open {implicit}\nget f2.bin\nQUIT\n",
        explicit = server.ftpes(""),
        implicit = server.ftps(""),
    );
    std::fs::create_dir(work.path().join("out")).unwrap();
    let output = run_script(
        home.path(),
        work.path(),
        &["--ca-file", ca.to_str().unwrap()],
        &script,
    );
    assert_ok(&output);
    let text = stdout(&output);
    assert_eq!(text.matches("Connection successful").count(), 2, "{text}");
    assert!(text.contains("Total directory size: 600003b"), "{text}");
    assert!(text.contains("Successfully downloaded f1.bin"), "{text}");
    for index in 0..3 {
        let name = format!("f{index}.bin");
        assert_file(server.path(&name), payload(200_000 + index, index as u32));
    }
    for index in 1..3 {
        assert_file(
            work.path().join(format!("out/f{index}.bin")),
            payload(200_000 + index, index as u32),
        );
    }
}

#[test]
fn a_self_signed_certificate_needs_insecure() {
    let server = TlsServer::self_signed();
    std::fs::write(server.path("hello.txt"), b"hello over tls\n").unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();

    for url in [server.ftpes("hello.txt"), server.ftps("hello.txt")] {
        let output = run(home.path(), work.path(), &["get", &url]);
        let text = assert_one_line_failure(&output);
        assert!(
            text.starts_with("ferry: TLS: ") && text.contains("--insecure"),
            "{text}"
        );
        assert!(!work.path().join("hello.txt").exists());
    }

    let output = run(
        home.path(),
        work.path(),
        &["--insecure", "get", &server.ftpes("hello.txt")],
    );
    assert_ok(&output);
    assert!(
        stderr(&output).contains("warning: --insecure"),
        "{}",
        stderr(&output)
    );
    assert_file(work.path().join("hello.txt"), b"hello over tls\n");
}

#[test]
fn a_server_without_tls_refuses_ftpes_in_one_line() {
    // Plain ferryd (no TLS configured) answers AUTH TLS with an error: ftpes:// must not fall
    // back to clear text.
    let server = common::Server::start();
    std::fs::write(server.path("a.txt"), b"a").unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let url = format!("ftpes://{}/a.txt", server.addr);
    let output = run(home.path(), work.path(), &["get", &url]);
    let text = assert_one_line_failure(&output);
    assert!(text.contains("AUTH TLS"), "{text}");
    assert!(!work.path().join("a.txt").exists());
}

/// Uploads `count` files in one session to a ferryd that requires TLS session reuse on data
/// connections.
fn upload_in_one_session(count: u32) -> std::process::Output {
    let server = TlsServer::start(strict);
    let ca = server.ca_file.clone().unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut names = Vec::new();
    for index in 0..count {
        let name = format!("f{index}.bin");
        std::fs::write(work.path().join(&name), payload(10_000, index)).unwrap();
        names.push(name);
    }
    let url = server.ftpes("many/");
    let mut args = vec!["--ca-file", ca.to_str().unwrap(), "put"];
    args.extend(names.iter().map(String::as_str));
    args.push(&url);
    let output = run(home.path(), work.path(), &args);
    if output.status.success() {
        for (index, name) in names.iter().enumerate() {
            assert_file(
                server.path(&format!("many/{name}")),
                payload(10_000, index as u32),
            );
        }
    }
    output
}

/// Every data connection of a session resumes it: ferryd (TLS 1.3) gives tickets on the control
/// connection, which the client spends one per data connection.
#[test]
fn several_data_connections_resume_the_session() {
    assert_ok(&upload_in_one_session(6));
}

/// Reads one CRLF line from a TLS stream, byte by byte (a test's fake server only).
fn read_line(stream: &mut impl std::io::Read) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) => line.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&line).trim_end().to_string())
}

/// An implicit-FTPS fake server that sends 1000 bytes of a download and then closes the TLS
/// data connection without close_notify (an attacker cutting it, or a broken server), but
/// still says `226`. SIZE is refused, so only the missing close_notify can show the cut.
#[test]
fn a_download_cut_without_close_notify_is_an_error() {
    use std::io::Write;
    use std::net::TcpListener;
    use std::sync::Arc;

    let config = ferry_server::tls::TlsSettings::self_signed()
        .unwrap()
        .config;
    let control = TcpListener::bind("127.0.0.1:0").unwrap();
    let data = TcpListener::bind("127.0.0.1:0").unwrap();
    let control_addr = control.local_addr().unwrap();
    let data_port = data.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (tcp, _) = control.accept().unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let session = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
        let mut stream = rustls::StreamOwned::new(session, tcp);
        stream.write_all(b"220 fake\r\n").unwrap();
        while let Some(line) = read_line(&mut stream) {
            let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
            let reply = match verb.as_str() {
                "USER" => "230 in".to_string(),
                "PBSZ" | "PROT" | "TYPE" => "200 ok".to_string(),
                "FEAT" => "211 no features".to_string(),
                "SIZE" => "550 no size here".to_string(),
                "EPSV" => format!("229 Entering Extended Passive Mode (|||{data_port}|)"),
                "RETR" => {
                    stream.write_all(b"150 here it comes\r\n").unwrap();
                    let (tcp, _) = data.accept().unwrap();
                    let session = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                    let mut channel = rustls::StreamOwned::new(session, tcp);
                    channel.write_all(&[b'x'; 1000]).unwrap();
                    channel.flush().unwrap();
                    // Dropped without send_close_notify: a bare TCP close.
                    drop(channel);
                    "226 all sent (not really)".to_string()
                }
                "QUIT" => {
                    let _ = stream.write_all(b"221 bye\r\n");
                    break;
                }
                _ => "502 no".to_string(),
            };
            stream.write_all(format!("{reply}\r\n").as_bytes()).unwrap();
        }
    });

    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let url = format!("ftps://{control_addr}/cut.bin");
    let output = run(home.path(), work.path(), &["--insecure", "get", &url]);
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    let last = text.lines().last().unwrap_or("");
    assert!(last.contains("without close_notify"), "{text}");
    assert!(!work.path().join("cut.bin").exists());
}

/// Without `--ca-file`, the system's store decides (rustls-native-certs honours
/// `SSL_CERT_FILE`): the test certificate put there is trusted, and an empty store is one clear
/// line.
#[test]
fn the_system_store_is_used_without_ca_file() {
    let server = TlsServer::start(|_| {});
    std::fs::write(server.path("s.txt"), b"system roots\n").unwrap();
    let ca = server.ca_file.clone().unwrap();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let get = |store: &std::path::Path| {
        let child = common::ferry(home.path(), work.path())
            .env("SSL_CERT_FILE", store)
            .env_remove("SSL_CERT_DIR")
            .args(["get", &server.ftps("s.txt")])
            .spawn()
            .unwrap();
        common::wait_bounded(child)
    };
    let output = get(&ca);
    assert_ok(&output);
    assert_file(work.path().join("s.txt"), b"system roots\n");
    let empty = work.path().join("empty.pem");
    std::fs::write(&empty, b"").unwrap();
    let output = get(&empty);
    let text = assert_one_line_failure(&output);
    assert!(
        text.contains("no trusted certificates found in the system's store"),
        "{text}"
    );
    assert!(text.contains("--ca-file"), "{text}");
}
