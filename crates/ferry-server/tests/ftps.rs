//! FTPS (RFC 4217): explicit AUTH TLS and implicit TLS, PBSZ/PROT sequencing, the require-TLS
//! policy, data-connection session reuse, and truncated TLS uploads that must not be committed.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use common::{IO_TIMEOUT, TestServer, assert_bytes, random_bytes};
use ferry_proto::{Reply, ReplyDecoder, addr};
use ferry_server::Config;
use ferry_server::tls::TlsSettings;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A certificate for 127.0.0.1 written to PEM files, and a client config that trusts it.
struct Pki {
    _dir: tempfile::TempDir,
    settings: TlsSettings,
    cert: CertificateDer<'static>,
}

fn pki() -> Pki {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let settings = TlsSettings::from_pem_files(&cert, &key).unwrap();
    Pki {
        _dir: dir,
        settings,
        cert: made.cert.der().clone(),
    }
}

impl Pki {
    fn client_config(&self, resume: bool) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        if !resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Arc::new(config)
    }

    fn server(&self, configure: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_folder(dir.keep());
        config.tls = Some(self.settings.clone());
        configure(&mut config);
        TestServer::with_config(config, "127.0.0.1:0")
    }
}

fn tls_connect(
    config: &Arc<ClientConfig>,
    tcp: TcpStream,
) -> StreamOwned<ClientConnection, TcpStream> {
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connection = ClientConnection::new(Arc::clone(config), name).unwrap();
    let mut stream = StreamOwned::new(connection, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    stream
}

fn tcp(addr: SocketAddr) -> TcpStream {
    let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp
}

/// A control connection that may be upgraded to TLS.
struct Control {
    plain: Option<TcpStream>,
    tls: Option<StreamOwned<ClientConnection, TcpStream>>,
    decoder: ReplyDecoder,
    config: Arc<ClientConfig>,
}

impl Control {
    fn explicit(server: &TestServer, config: Arc<ClientConfig>) -> Control {
        Control::over(tcp(server.addr), config)
    }

    /// A control connection on `plain`, a TCP connection to the server's explicit port.
    fn over(plain: TcpStream, config: Arc<ClientConfig>) -> Control {
        let mut control = Control {
            plain: Some(plain),
            tls: None,
            decoder: ReplyDecoder::default(),
            config,
        };
        assert_eq!(control.read_reply().code.0, 220);
        control
    }

    fn implicit(addr: SocketAddr, config: Arc<ClientConfig>) -> Control {
        let tls = tls_connect(&config, tcp(addr));
        let mut control = Control {
            plain: None,
            tls: Some(tls),
            decoder: ReplyDecoder::default(),
            config,
        };
        assert_eq!(control.read_reply().code.0, 220);
        control
    }

    fn io(&mut self) -> &mut dyn ReadWrite {
        match (&mut self.tls, &mut self.plain) {
            (Some(tls), _) => tls,
            (None, Some(plain)) => plain,
            (None, None) => unreachable!(),
        }
    }

    fn read_reply(&mut self) -> Reply {
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(reply) = self.decoder.next_reply().unwrap() {
                return reply;
            }
            let n = self.io().read(&mut buffer).unwrap();
            assert!(n > 0, "control connection closed");
            self.decoder.extend(&buffer[..n]);
        }
    }

    fn expect(&mut self, line: &str, code: u16) -> Reply {
        let bytes = format!("{line}\r\n");
        self.io().write_all(bytes.as_bytes()).unwrap();
        self.io().flush().unwrap();
        let reply = self.read_reply();
        assert_eq!(reply.code.0, code, "{line} -> {reply}");
        reply
    }

    fn auth(&mut self) {
        self.expect("AUTH TLS", 234);
        let plain = self.plain.take().unwrap();
        self.tls = Some(tls_connect(&self.config, plain));
    }

    /// AUTH TLS, PBSZ 0, PROT P, anonymous login.
    fn secure_login(&mut self) {
        self.auth();
        self.expect("PBSZ 0", 200);
        self.expect("PROT P", 200);
        self.expect("USER anonymous", 331);
        self.expect("PASS x", 230);
    }

    fn data_tcp(&mut self) -> TcpStream {
        let reply = self.expect("EPSV", 229);
        let port = addr::parse_epsv_reply(&reply.text()).unwrap();
        tcp(SocketAddr::new("127.0.0.1".parse().unwrap(), port))
    }

    /// A download over a TLS data connection using `config`.
    fn download(&mut self, line: &str, config: &Arc<ClientConfig>) -> Vec<u8> {
        let data = self.data_tcp();
        self.expect(line, 150);
        let mut tls = tls_connect(config, data);
        let mut bytes = Vec::new();
        tls.read_to_end(&mut bytes).unwrap();
        assert_eq!(self.read_reply().code.0, 226);
        bytes
    }

    fn upload(&mut self, line: &str, bytes: &[u8]) -> Reply {
        let data = self.data_tcp();
        self.expect(line, 150);
        let config = Arc::clone(&self.config);
        let mut tls = tls_connect(&config, data);
        tls.write_all(bytes).unwrap();
        tls.conn.send_close_notify();
        tls.flush().unwrap();
        // Wait for the server's close_notify before closing, as a careful client does.
        let mut rest = Vec::new();
        let _ = tls.read_to_end(&mut rest);
        drop(tls);
        self.read_reply()
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

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
