//! FTPS test support: a certificate for 127.0.0.1, rustls client configurations that trust it,
//! and a control connection spoken by hand that can be upgraded with AUTH TLS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use ferry_proto::{Reply, ReplyDecoder, addr};
use ferry_server::Config;
use ferry_server::tls::TlsSettings;
use ferry_testkit::TestCert;
use rustls::client::{Resumption, Tls12Resumption};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, StreamOwned, SupportedProtocolVersion,
};

use super::{IO_TIMEOUT, TestServer};

/// A TLS client stream over a blocking TCP connection.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// The test kit's certificate for 127.0.0.1, ferryd's settings for it, and client configs that
/// trust it.
pub struct Pki {
    pub settings: TlsSettings,
    cert: TestCert,
}

pub fn pki() -> Pki {
    let cert = TestCert::new();
    Pki {
        settings: cert.settings(),
        cert,
    }
}

/// What a client config offers besides trusting the test certificate.
#[derive(Clone, Copy)]
pub struct ClientOptions<'a> {
    pub versions: &'a [&'static SupportedProtocolVersion],
    /// Remember sessions (a store of its own per config) and resume them.
    pub resume: bool,
    /// TLS 1.2 resumption by session ID only, no tickets.
    pub tls12_session_ids_only: bool,
    /// ALPN protocols offered; none when empty.
    pub alpn: &'a [&'a [u8]],
}

impl Default for ClientOptions<'_> {
    fn default() -> Self {
        ClientOptions {
            versions: rustls::DEFAULT_VERSIONS,
            resume: true,
            tls12_session_ids_only: false,
            alpn: &[],
        }
    }
}

impl Pki {
    /// TLS 1.2 and 1.3, no ALPN; with its own resumption store when `resume`.
    pub fn client_config(&self, resume: bool) -> Arc<ClientConfig> {
        self.client_config_with(ClientOptions {
            resume,
            ..ClientOptions::default()
        })
    }

    pub fn client_config_with(&self, options: ClientOptions<'_>) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.cert.der.clone()))
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(options.versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.resumption = if !options.resume {
            Resumption::disabled()
        } else if options.tls12_session_ids_only {
            Resumption::in_memory_sessions(64).tls12_resumption(Tls12Resumption::SessionIdOnly)
        } else {
            Resumption::in_memory_sessions(64)
        };
        config.alpn_protocols = options.alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// A server with this certificate on a fresh folder, changed by `configure`.
    pub fn server(&self, configure: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_folder(dir.keep());
        config.tls = Some(self.settings.clone());
        configure(&mut config);
        TestServer::with_config(config, "127.0.0.1:0")
    }
}

/// A TLS handshake as a client over `tcp`; the error if it fails.
pub fn try_tls_connect(config: &Arc<ClientConfig>, tcp: TcpStream) -> std::io::Result<TlsStream> {
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connection = ClientConnection::new(Arc::clone(config), name).unwrap();
    let mut stream = StreamOwned::new(connection, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

pub fn tls_connect(config: &Arc<ClientConfig>, tcp: TcpStream) -> TlsStream {
    try_tls_connect(config, tcp).unwrap()
}

pub fn tcp(addr: SocketAddr) -> TcpStream {
    let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp
}

/// A control connection that may be upgraded to TLS.
pub struct Control {
    pub plain: Option<TcpStream>,
    pub tls: Option<TlsStream>,
    decoder: ReplyDecoder,
    pub config: Arc<ClientConfig>,
}

impl Control {
    pub fn explicit(server: &TestServer, config: Arc<ClientConfig>) -> Control {
        Control::over(tcp(server.addr), config)
    }

    /// A control connection on `plain`, a TCP connection to the server's explicit port.
    pub fn over(plain: TcpStream, config: Arc<ClientConfig>) -> Control {
        let mut control = Control {
            plain: Some(plain),
            tls: None,
            decoder: ReplyDecoder::default(),
            config,
        };
        assert_eq!(control.read_reply().code.0, 220);
        control
    }

    pub fn implicit(addr: SocketAddr, config: Arc<ClientConfig>) -> Control {
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

    pub fn io(&mut self) -> &mut dyn ReadWrite {
        match (&mut self.tls, &mut self.plain) {
            (Some(tls), _) => tls,
            (None, Some(plain)) => plain,
            (None, None) => unreachable!(),
        }
    }

    /// The next reply, or `None` when the connection ends (closed, reset or cut TLS) first.
    pub fn try_read_reply(&mut self) -> Option<Reply> {
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(reply) = self.decoder.next_reply().unwrap() {
                return Some(reply);
            }
            match self.io().read(&mut buffer) {
                Ok(0) => return None,
                Ok(n) => self.decoder.extend(&buffer[..n]),
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    panic!("reply timed out")
                }
                Err(_) => return None,
            }
        }
    }

    pub fn read_reply(&mut self) -> Reply {
        self.try_read_reply().expect("control connection closed")
    }

    /// Sends raw bytes, as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.io().write_all(bytes).unwrap();
        self.io().flush().unwrap();
    }

    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    pub fn expect(&mut self, line: &str, code: u16) -> Reply {
        self.send(line);
        let reply = self.read_reply();
        assert_eq!(reply.code.0, code, "{line} -> {reply}");
        reply
    }

    /// AUTH TLS and the handshake with this connection's config; the handshake's error if it
    /// fails.
    pub fn try_auth(&mut self) -> std::io::Result<()> {
        self.expect("AUTH TLS", 234);
        let plain = self.plain.take().unwrap();
        self.tls = Some(try_tls_connect(&self.config, plain)?);
        Ok(())
    }

    pub fn auth(&mut self) {
        self.try_auth().unwrap();
    }

    /// AUTH TLS, PBSZ 0, PROT P, anonymous login.
    pub fn secure_login(&mut self) {
        self.secure_login_as("anonymous", "x");
    }

    /// AUTH TLS, PBSZ 0, PROT P, login as `user`.
    pub fn secure_login_as(&mut self, user: &str, password: &str) {
        self.auth();
        self.expect("PBSZ 0", 200);
        self.expect("PROT P", 200);
        self.expect(&format!("USER {user}"), 331);
        self.expect(&format!("PASS {password}"), 230);
    }

    /// EPSV; the port the server listens on.
    pub fn epsv_port(&mut self) -> u16 {
        let reply = self.expect("EPSV", 229);
        addr::parse_epsv_reply(&reply.text()).unwrap()
    }

    pub fn data_tcp(&mut self) -> TcpStream {
        let port = self.epsv_port();
        tcp(SocketAddr::new("127.0.0.1".parse().unwrap(), port))
    }

    /// A download over a TLS data connection using `config`.
    pub fn download(&mut self, line: &str, config: &Arc<ClientConfig>) -> Vec<u8> {
        let data = self.data_tcp();
        self.expect(line, 150);
        let mut tls = tls_connect(config, data);
        let mut bytes = Vec::new();
        tls.read_to_end(&mut bytes).unwrap();
        assert_eq!(self.read_reply().code.0, 226);
        bytes
    }

    pub fn upload(&mut self, line: &str, bytes: &[u8]) -> Reply {
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

pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
