//! FTPS (RFC 4217): explicit AUTH TLS and implicit TLS, PBSZ/PROT sequencing, the require-TLS
//! policy, data-connection session reuse, and truncated TLS uploads that must not be committed.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use common::tls::{Control, pki, tls_connect};
use common::{IO_TIMEOUT, TestServer, assert_bytes, random_bytes};
use ferry_server::Config;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

#[test]
fn explicit_tls_round_trip_with_session_reuse() {
    let pki = pki();
    let server = pki.server(|config| config.require_tls_session_reuse = true);
    let client_config = pki.client_config(true);
    let mut control = Control::explicit(&server, Arc::clone(&client_config));
    let feat = control.expect("FEAT", 211);
    for feature in ["AUTH TLS", "PBSZ", "PROT"] {
        assert!(feat.lines.iter().any(|l| l.trim() == feature), "{feat:?}");
    }
    control.secure_login();
    let bytes = random_bytes(2 * 1024 * 1024 + 3, 7);
    assert_eq!(control.upload("STOR secret.bin", &bytes).code.0, 226);
    assert_bytes(&std::fs::read(server.path("secret.bin")).unwrap(), &bytes);
    assert_bytes(&control.download("RETR secret.bin", &client_config), &bytes);
    let listing = control.download("NLST", &client_config);
    assert_eq!(listing, b"secret.bin\r\n");
}

#[test]
fn pipelined_replies_all_arrive_over_tls() {
    // A client that sends many commands at once and reads slowly: the server's TLS writes meet
    // a full socket, and every reply must still arrive. tokio-rustls takes a reply that it cannot
    // write yet into its buffer and reports success; unflushed, the last replies stayed there.
    let pki = pki();
    let server = pki.server(|_| {});
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .connect_timeout(&server.addr.into(), IO_TIMEOUT)
        .unwrap();
    let plain: TcpStream = socket.into();
    plain.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut control = Control::over(plain, pki.client_config(true));
    control.secure_login();
    const COUNT: usize = 3000;
    control
        .io()
        .write_all("NOOP\r\n".repeat(COUNT).as_bytes())
        .unwrap();
    control.io().flush().unwrap();
    for _ in 0..COUNT {
        assert_eq!(control.read_reply().code.0, 200);
    }
}

#[test]
fn data_connection_without_session_reuse_is_refused_when_required() {
    let pki = pki();
    let server = pki.server(|config| config.require_tls_session_reuse = true);
    std::fs::write(server.path("f.txt"), b"x").unwrap();
    let mut control = Control::explicit(&server, pki.client_config(true));
    control.secure_login();
    let data = control.data_tcp();
    control.expect("RETR f.txt", 150);
    let fresh = pki.client_config(false);
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = StreamOwned::new(ClientConnection::new(fresh, name).unwrap(), data);
    let _ = tls.conn.complete_io(&mut tls.sock);
    let mut sink = Vec::new();
    let _ = tls.read_to_end(&mut sink);
    assert!(sink.is_empty());
    assert_eq!(control.read_reply().code.0, 522);
    // Without the requirement, ftplib-style clients that never resume are served.
    let relaxed = pki.server(|_| {});
    std::fs::write(relaxed.path("f.txt"), b"x").unwrap();
    let mut control = Control::explicit(&relaxed, pki.client_config(true));
    control.secure_login();
    assert_eq!(
        control.download("RETR f.txt", &pki.client_config(false)),
        b"x"
    );
}

#[test]
fn rfc4217_sequencing() {
    let pki = pki();
    let server = pki.server(|_| {});
    let mut control = Control::explicit(&server, pki.client_config(true));
    control.expect("PBSZ 0", 503);
    control.expect("PROT P", 503);
    control.expect("AUTH KERBEROS", 504);
    control.auth();
    control.expect("AUTH TLS", 503);
    control.expect("PROT P", 503);
    control.expect("PBSZ 0", 200);
    control.expect("PROT S", 536);
    control.expect("PROT E", 536);
    control.expect("PROT C", 200);
    control.expect("CCC", 534);
    control.expect("USER anonymous", 331);
    control.expect("PASS x", 230);
    // PROT C: the data connection is clear.
    let mut data = control.data_tcp();
    control.expect("NLST", 150);
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).unwrap();
    assert_eq!(control.read_reply().code.0, 226);
}

#[test]
fn require_tls_refuses_clear_logins_and_clear_data() {
    let pki = pki();
    let server = pki.server(|config| config.require_tls = true);
    let mut plain = server.anonymous_refused();
    plain.expect("USER anonymous", 530);
    plain.expect("PASS x", 530);
    let mut control = Control::explicit(&server, pki.client_config(true));
    control.auth();
    control.expect("PBSZ 0", 200);
    control.expect("PROT C", 534);
    control.expect("USER anonymous", 331);
    control.expect("PASS x", 230);
    control.data_tcp();
    control.expect("LIST", 521);
    control.expect("PROT P", 200);
    let config = pki.client_config(true);
    assert_eq!(control.download("NLST", &config), b"");
}

#[test]
fn truncated_tls_upload_is_not_committed() {
    let pki = pki();
    let server = pki.server(|_| {});
    let mut control = Control::explicit(&server, pki.client_config(true));
    control.secure_login();
    let data = control.data_tcp();
    control.expect("STOR cut.bin", 150);
    let config = pki.client_config(true);
    let mut tls = tls_connect(&config, data);
    tls.write_all(&random_bytes(500_000, 8)).unwrap();
    tls.flush().unwrap();
    // Close the TCP connection with no close_notify: an attacker's or a crash's truncation.
    tls.sock.shutdown(std::net::Shutdown::Both).unwrap();
    drop(tls);
    assert_eq!(control.read_reply().code.0, 426);
    assert!(!server.path("cut.bin").exists());
    control.expect("NOOP", 200);
}

#[test]
fn implicit_tls_listener() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("i.txt"), b"implicit").unwrap();
    let mut config = Config::for_folder(dir.path());
    config.tls = Some(pki.settings.clone());
    let server = TestServer::with_implicit(config);
    let client_config = pki.client_config(true);
    let mut control = Control::implicit(server.addr, Arc::clone(&client_config));
    control.expect("PBSZ 0", 200);
    control.expect("PROT P", 200);
    control.expect("USER anonymous", 331);
    control.expect("PASS x", 230);
    assert_eq!(control.download("RETR i.txt", &client_config), b"implicit");
}

#[test]
fn auth_without_tls_configured_is_refused() {
    let server = TestServer::start();
    let mut client = server.anonymous();
    client.expect("AUTH TLS", 502);
    let feat = client.expect("FEAT", 211);
    assert!(!feat.lines.iter().any(|l| l.contains("AUTH")));
}
