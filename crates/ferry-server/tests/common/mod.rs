//! Shared test support: a real ferryd on 127.0.0.1:0 (or [::1]:0) with a temporary root (the
//! test kit's [`Ferryd`]), and a raw control-connection client that asserts reply codes.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use ferry_proto::{Reply, ReplyDecoder, addr};
use ferry_server::Config;
use ferry_testkit::Ferryd;
#[allow(unused_imports, reason = "each test file uses only some")]
pub use ferry_testkit::{assert_bytes, names_in, test_bytes as random_bytes};

pub mod daemon;
pub mod tls;

/// How long any single read from the server may take before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A running server; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub root: PathBuf,
    /// Before the folder, so the server stops before its folder goes.
    _running: Ferryd,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Anonymous read-write on a fresh temporary folder.
    pub fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut server = TestServer::with_config(Config::for_folder(dir.path()), "127.0.0.1:0");
        server._dir = Some(dir);
        server
    }

    /// `config` as given, listening on `bind`.
    pub fn with_config(config: Config, bind: &str) -> TestServer {
        TestServer::running(config.root.clone(), Ferryd::start(config, bind))
    }

    /// `config` on an implicit-FTPS listener at 127.0.0.1:0.
    pub fn with_implicit(config: Config) -> TestServer {
        let root = config.root.clone();
        let running = Ferryd::builder(config)
            .listen_implicit("127.0.0.1:0")
            .start();
        TestServer::running(root, running)
    }

    /// Serves `config`'s S3 bucket once it answers (a fresh SeaweedFS creates its bucket a moment
    /// after its port opens), listening on 127.0.0.1:0.
    pub fn with_storage_ready(config: Config) -> TestServer {
        let root = config.root.clone();
        let running = Ferryd::builder(config)
            .storage_ready_within(Duration::from_secs(30))
            .listen("127.0.0.1:0")
            .start();
        TestServer::running(root, running)
    }

    fn running(root: PathBuf, running: Ferryd) -> TestServer {
        TestServer {
            addr: running.addr,
            root,
            _running: running,
            _dir: None,
        }
    }

    /// A raw client that has only read the greeting.
    pub fn anonymous_refused(&self) -> Client {
        Client::connect(self.addr)
    }

    /// A raw client, logged in anonymously.
    pub fn anonymous(&self) -> Client {
        let mut client = Client::connect(self.addr);
        client.login("anonymous", "guest@");
        client
    }

    /// A suppaftp client, logged in anonymously.
    pub fn suppaftp(&self) -> suppaftp::FtpStream {
        let mut ftp = suppaftp::FtpStream::connect(self.addr).unwrap();
        ftp.get_ref().set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        ftp.login("anonymous", "guest@").unwrap();
        ftp.transfer_type(suppaftp::types::FileType::Binary)
            .unwrap();
        ftp
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

/// A control connection spoken by hand.
pub struct Client {
    pub stream: TcpStream,
    decoder: ReplyDecoder,
    pub greeting: Reply,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::connect_from(addr, None)
    }

    /// Connects from a chosen local IP (127.0.0.2 plays another host).
    pub fn connect_from(addr: SocketAddr, local: Option<IpAddr>) -> Client {
        Client::from_stream(connect_from(addr, local))
    }

    /// Wraps a connected stream and reads the greeting.
    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut client = Client {
            stream,
            decoder: ReplyDecoder::default(),
            // Replaced by the real greeting below (read_reply fails the test otherwise).
            greeting: Reply::new(ferry_proto::ReplyCode::SERVICE_READY, ""),
        };
        client.greeting = client.read_reply();
        client
    }

    pub fn read_reply(&mut self) -> Reply {
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(reply) = self.decoder.next_reply().unwrap() {
                return reply;
            }
            let n = self.stream.read(&mut buffer).expect("reply timed out");
            assert!(n > 0, "server closed the control connection");
            self.decoder.extend(&buffer[..n]);
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a command line (bytes, CRLF added) and returns the reply.
    pub fn cmd_bytes(&mut self, line: &[u8]) -> Reply {
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.send_raw(&bytes);
        self.read_reply()
    }

    pub fn cmd(&mut self, line: &str) -> Reply {
        self.cmd_bytes(line.as_bytes())
    }

    /// Sends a command and asserts its code.
    pub fn expect(&mut self, line: &str, code: u16) -> Reply {
        let reply = self.cmd(line);
        assert_eq!(reply.code.0, code, "{line} -> {reply}");
        reply
    }

    pub fn login(&mut self, user: &str, pass: &str) {
        self.expect(&format!("USER {user}"), 331);
        self.expect(&format!("PASS {pass}"), 230);
    }

    /// EPSV, then connects to the advertised port on the server's IP.
    pub fn passive(&mut self) -> TcpStream {
        let reply = self.expect("EPSV", 229);
        let port = addr::parse_epsv_reply(&reply.text()).unwrap();
        let server = self.stream.peer_addr().unwrap();
        connect_from(SocketAddr::new(server.ip(), port), None)
    }

    /// Runs a download command (RETR, LIST...) over a passive connection; returns the bytes.
    pub fn download(&mut self, line: &str) -> Vec<u8> {
        let mut data = self.passive();
        let reply = self.cmd(line);
        assert_eq!(reply.code.0, 150, "{line} -> {reply}");
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes).unwrap();
        let done = self.read_reply();
        assert_eq!(done.code.0, 226, "{line} -> {done}");
        bytes
    }

    /// Runs an upload command (STOR, APPE...) with `bytes`; returns the final reply.
    pub fn upload(&mut self, line: &str, bytes: &[u8]) -> Reply {
        let mut data = self.passive();
        let reply = self.cmd(line);
        assert_eq!(reply.code.0, 150, "{line} -> {reply}");
        data.write_all(bytes).unwrap();
        drop(data);
        self.read_reply()
    }

    /// Starts `STOR name`, sends `bytes` and aborts: 426 for the transfer, then 226 for ABOR.
    pub fn aborted_upload(&mut self, name: &str, bytes: &[u8]) {
        let mut data = self.passive();
        self.expect(&format!("STOR {name}"), 150);
        data.write_all(bytes).unwrap();
        data.flush().unwrap();
        self.send_raw(b"ABOR\r\n");
        assert_eq!(self.read_reply().code.0, 426);
        assert_eq!(self.read_reply().code.0, 226);
    }
}

pub fn connect_from(addr: SocketAddr, local: Option<IpAddr>) -> TcpStream {
    let stream = match local {
        None => TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap(),
        Some(ip) => {
            let domain = if ip.is_ipv4() {
                socket2::Domain::IPV4
            } else {
                socket2::Domain::IPV6
            };
            let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None).unwrap();
            socket.bind(&SocketAddr::new(ip, 0).into()).unwrap();
            socket.connect_timeout(&addr.into(), IO_TIMEOUT).unwrap();
            socket.into()
        }
    };
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// The ferryd binary these tests run.
pub const FERRYD: &str = env!("CARGO_BIN_EXE_ferryd");

/// Runs `ferryd ARGS` (a `user` command, or one that exits at start) with `stdin`; returns its
/// output whatever its exit code, failing the test if it runs past [`IO_TIMEOUT`].
pub fn ferryd(args: &[&str], stdin: &[u8]) -> std::process::Output {
    ferry_testkit::run_with_input(
        std::process::Command::new(FERRYD).args(args),
        stdin,
        IO_TIMEOUT,
    )
}
