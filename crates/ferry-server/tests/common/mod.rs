//! Shared test support: a real ferryd on 127.0.0.1:0 (or [::1]:0) with a temporary root, and a
//! raw control-connection client that asserts reply codes.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_proto::{Reply, ReplyDecoder, addr};
use ferry_server::Config;
use tokio_util::sync::CancellationToken;

pub mod tls;

/// How long any single read from the server may take before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A running server; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub root: PathBuf,
    _dir: Option<tempfile::TempDir>,
    shutdown: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Anonymous read-write on a fresh temporary folder.
    pub fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::for_folder(dir.path());
        let mut server = TestServer::with_config(config, "127.0.0.1:0");
        server._dir = Some(dir);
        server
    }

    /// `config` as given, listening on `bind`.
    pub fn with_config(config: Config, bind: &str) -> TestServer {
        TestServer::spawn(config, bind.parse().unwrap(), false)
    }

    fn spawn(config: Config, bind: SocketAddr, implicit: bool) -> TestServer {
        let root = config.root.clone();
        let shutdown = CancellationToken::new();
        let (sender, receiver) = std::sync::mpsc::channel();
        let token = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
                sender.send(listener.local_addr().unwrap()).unwrap();
                let server = ferry_server::Server::new(config).unwrap();
                if implicit {
                    server.serve_implicit(listener, token).await;
                } else {
                    server.serve(listener, token).await;
                }
                server.wait().await;
            });
        });
        let addr = receiver
            .recv_timeout(IO_TIMEOUT)
            .expect("server did not start");
        TestServer {
            addr,
            root,
            _dir: None,
            shutdown,
            thread: Some(thread),
        }
    }

    /// `config` on an implicit-FTPS listener at 127.0.0.1:0.
    pub fn with_implicit(config: Config) -> TestServer {
        TestServer::spawn(config, "127.0.0.1:0".parse().unwrap(), true)
    }

    /// A raw client that has only read the greeting.
    pub fn anonymous_refused(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Serves `config`'s S3 bucket once it answers (a fresh SeaweedFS creates its bucket a moment
    /// after its port opens), listening on 127.0.0.1:0.
    pub fn with_storage_ready(config: Config) -> TestServer {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        loop {
            match runtime.block_on(ferry_server::check_storage(&config)) {
                Ok(()) => break,
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("storage not ready: {e}"),
            }
        }
        TestServer::with_config(config, "127.0.0.1:0")
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

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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

/// Deterministic pseudo-random bytes.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes[..]);
    bytes
}

/// Files in `dir` (names), sorted, including hidden ones.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts two byte strings are equal without printing megabytes when they are not.
#[track_caller]
pub fn assert_bytes(actual: &[u8], expected: &[u8]) {
    if actual != expected {
        let first = actual.iter().zip(expected).position(|(a, b)| a != b);
        panic!(
            "bytes differ: got {} bytes, expected {}; first difference at {:?}",
            actual.len(),
            expected.len(),
            first
        );
    }
}
