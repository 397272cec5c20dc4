//! Test helpers: an in-process ferryd on 127.0.0.1:0 with a temporary root (the test kit's
//! `Ferryd`), a scripted fake FTP server for the cases ferryd never produces, and a runner for the
//! `ferry` binary.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file compiles this module on its own and uses only part of it"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use ferry_testkit::{Ferryd, TestCert};

pub mod pty;
pub mod sshd;

/// Lines typed into an in-process [`ferry_client::repl::Repl`], each after its pause (to let a
/// server's idle timeout pass between two commands, say).
pub struct Script {
    pub lines: std::collections::VecDeque<(Duration, String)>,
}

impl ferry_client::repl::Input for Script {
    fn read_line(&mut self, _prompt: &str) -> Option<String> {
        let (pause, line) = self.lines.pop_front()?;
        std::thread::sleep(pause);
        Some(line)
    }

    fn read_secret(&mut self, _prompt: &str) -> Option<String> {
        None
    }
}

/// How long one run of `ferry` may take before it is killed and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A one-worker tokio runtime, for the tests that drive the client library in process.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// The shell's list of the original six commands, a line each, as its greeting shows them.
pub const BANNER_LINES: [&str; 6] = [
    "CONN           : Connect to server",
    "UPLD file_path : Upload file",
    "LIST           : List files",
    "DWLD file_path : Download file",
    "DELF file_path : Delete file",
    "QUIT           : Exit",
];

/// The shell's greeting up to the end of [`BANNER_LINES`].
pub fn banner() -> String {
    let mut text =
        String::from("Welcome to the FTP client.\n\nCall one of the following functions:\n");
    for line in BANNER_LINES {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// A running ferryd; stops when dropped.
pub struct Server {
    /// First, so the server stops before its folder goes.
    _running: Ferryd,
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
}

impl Server {
    /// Anonymous, writable ferryd serving a fresh temporary folder.
    pub fn start() -> Server {
        let root = tempfile::tempdir().unwrap();
        let config = ferry_server::Config::for_folder(root.path());
        Server::with_config(root, config)
    }

    /// A ferryd serving a fresh temporary folder to `users` (name, password) only: no anonymous
    /// login.
    pub fn with_users(users: &[(&str, &str)]) -> Server {
        let root = tempfile::tempdir().unwrap();
        let mut config = ferry_server::Config::for_folder(root.path());
        config.anonymous = ferry_server::Anonymous::Off;
        for (name, password) in users {
            config.users.users.insert(
                (*name).into(),
                ferry_server::User::new(password.as_bytes(), String::new(), false).unwrap(),
            );
        }
        Server::with_config(root, config)
    }

    pub fn with_config(root: tempfile::TempDir, config: ferry_server::Config) -> Server {
        let running = Ferryd::start(config, "127.0.0.1:0");
        Server {
            addr: running.addr,
            root,
            _running: running,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ftp://{}/{path}", self.addr)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
}

/// A ferryd with FTPS: an explicit listener (AUTH TLS) and an implicit one (TLS from the first
/// byte), on 127.0.0.1:0 each, serving a fresh temporary folder; stops when dropped.
pub struct TlsServer {
    /// First, so the server stops before its folders go.
    _running: Ferryd,
    /// The explicit (AUTH TLS) listener.
    pub explicit: SocketAddr,
    /// The implicit-FTPS listener.
    pub implicit: SocketAddr,
    pub root: tempfile::TempDir,
    /// The server's certificate as PEM, for `--ca-file` (`None` when made by ferryd itself).
    pub ca_file: Option<PathBuf>,
    _cert: Option<TestCert>,
}

impl TlsServer {
    /// With the test kit's certificate for 127.0.0.1 (trusted through `ca_file`);
    /// `edit` adjusts the config after TLS is set.
    pub fn start(edit: impl FnOnce(&mut ferry_server::Config)) -> TlsServer {
        let cert = TestCert::new();
        let mut server = TlsServer::with_settings(cert.settings(), edit);
        server.ca_file = Some(cert.cert.clone());
        server._cert = Some(cert);
        server
    }

    /// With the certificate `ferryd --tls-self-signed` makes (nothing trusts it).
    pub fn self_signed() -> TlsServer {
        let settings = ferry_server::tls::TlsSettings::self_signed().unwrap();
        TlsServer::with_settings(settings, |_| {})
    }

    fn with_settings(
        settings: ferry_server::tls::TlsSettings,
        edit: impl FnOnce(&mut ferry_server::Config),
    ) -> TlsServer {
        let root = tempfile::tempdir().unwrap();
        let mut config = ferry_server::Config::for_folder(root.path());
        config.tls = Some(settings);
        edit(&mut config);
        let running = Ferryd::builder(config)
            .listen("127.0.0.1:0")
            .listen_implicit("127.0.0.1:0")
            .start();
        TlsServer {
            explicit: running.addr,
            implicit: running.implicit.unwrap(),
            root,
            ca_file: None,
            _cert: None,
            _running: running,
        }
    }

    /// `ftpes://127.0.0.1:PORT/path` (explicit).
    pub fn ftpes(&self, path: &str) -> String {
        format!("ftpes://{}/{path}", self.explicit)
    }

    /// `ftps://127.0.0.1:PORT/path` (implicit).
    pub fn ftps(&self, path: &str) -> String {
        format!("ftps://{}/{path}", self.implicit)
    }

    /// `ftp://127.0.0.1:PORT/path` on the explicit listener (for `--tls`).
    pub fn ftp(&self, path: &str) -> String {
        format!("ftp://{}/{path}", self.explicit)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
}

/// The `ferry` binary with a clean environment: HOME is `home` (no netrc, no history).
pub fn ferry(home: &Path, cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .current_dir(cwd)
        .env("HOME", home)
        .env_remove("TERM")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `ferry` with no arguments and `script` on stdin; bounded by a watchdog.
pub fn run_script(home: &Path, cwd: &Path, args: &[&str], script: &str) -> Output {
    let mut command = ferry(home, cwd);
    command.args(args).stdin(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(script.as_bytes()).unwrap();
    drop(stdin);
    wait_bounded(child)
}

/// Runs `ferry ARGS`, bounded by a watchdog.
pub fn run(home: &Path, cwd: &Path, args: &[&str]) -> Output {
    let child = ferry(home, cwd).args(args).spawn().unwrap();
    wait_bounded(child)
}

/// A person running `ferry` one command at a time: a temporary HOME (no netrc, no history) and
/// a working folder, both removed on drop.
pub struct Client {
    home: tempfile::TempDir,
    /// `None`: working in the home folder itself.
    work: Option<tempfile::TempDir>,
}

impl Client {
    /// A home and a separate, empty working folder.
    pub fn new() -> Client {
        Client {
            home: tempfile::tempdir().unwrap(),
            work: Some(tempfile::tempdir().unwrap()),
        }
    }

    /// A home that is also the working folder.
    pub fn at_home() -> Client {
        Client {
            home: tempfile::tempdir().unwrap(),
            work: None,
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn work(&self) -> &Path {
        self.work.as_ref().unwrap_or(&self.home).path()
    }

    /// Runs `ferry ARGS` here, as [`run`].
    pub fn run(&self, args: &[&str]) -> Output {
        run(self.home(), self.work(), args)
    }
}

/// Waits for a run of `ferry`; kills it and fails the test after a minute.
pub fn wait_bounded(child: std::process::Child) -> Output {
    ferry_testkit::wait_bounded(child, RUN_LIMIT)
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The run succeeded (exit code 0); its stderr is shown if not.
pub fn assert_ok(output: &Output) {
    assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
}

/// The run failed with exit code 1 and one line on stderr, which is returned.
pub fn assert_one_line_failure(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    let text = stderr(output);
    assert_eq!(text.lines().count(), 1, "{text}");
    text
}

/// As [`assert_one_line_failure`], the line being `ferry: ` and an error containing `needle`.
pub fn assert_one_line_error(output: &Output, needle: &str) {
    let text = assert_one_line_failure(output);
    assert!(
        text.starts_with("ferry: ") && text.contains(needle),
        "{text}"
    );
}

/// The file at `path` holds exactly `expected`.
#[track_caller]
pub fn assert_file(path: impl AsRef<Path>, expected: impl AsRef<[u8]>) {
    ferry_testkit::assert_bytes(&std::fs::read(path).unwrap(), expected.as_ref());
}

/// A download of `name` into `dir` was cut: nothing under its name, and its hidden partial holds
/// exactly `expected`.
pub fn assert_partial(dir: &Path, name: &str, expected: &[u8]) {
    assert!(!dir.join(name).exists());
    assert_file(dir.join(format!(".{name}.ferry-part")), expected);
}

/// A one-connection fake FTP server on 127.0.0.1:0 driven by `script`, which gets each
/// command line and the control stream, and returns false to stop.
pub struct Fake {
    pub addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

/// A fake server's answer to EPSV: a new listener on loopback, kept in `data` for the transfer
/// command that follows.
pub fn answer_epsv(control: &mut TcpStream, data: &mut Option<TcpListener>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    *data = Some(listener);
    write!(
        control,
        "229 Entering Extended Passive Mode (|||{port}|)\r\n"
    )
    .unwrap();
}

/// A fake server's answer to a download command (RETR, LIST): 150, then `bytes` over the data
/// connection set up by [`answer_epsv`] (or a PASV answer), closed, then 226.
pub fn send_on_data(control: &mut TcpStream, data: &mut Option<TcpListener>, bytes: &[u8]) {
    control.write_all(b"150 here it comes\r\n").unwrap();
    let (mut stream, _) = data.take().unwrap().accept().unwrap();
    stream.write_all(bytes).unwrap();
    drop(stream);
    control.write_all(b"226 done\r\n").unwrap();
}

impl Fake {
    pub fn start<F>(mut script: F) -> Fake
    where
        F: FnMut(&str, &mut TcpStream) -> bool + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let (mut control, _) = listener.accept().unwrap();
            // One connection only: later ones are refused at once.
            drop(listener);
            control
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            control.write_all(b"220 fake ready\r\n").unwrap();
            let mut reader = BufReader::new(control.try_clone().unwrap());
            let mut seen = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end().to_string();
                seen.push(line.clone());
                if !script(&line, &mut control) {
                    break;
                }
            }
            seen
        });
        Fake {
            addr,
            thread: Some(thread),
        }
    }

    /// A fake server with EPSV and SIZE: it answers login, FEAT, QUIT, `SIZE` (with `size`) and
    /// `EPSV` itself, and hands every other command to `transfer` with the passive listener
    /// [`answer_epsv`] left for it. `transfer` returns whether to go on reading commands.
    pub fn with_epsv<F>(size: u64, transfer: F) -> Fake
    where
        F: FnMut(&str, &mut TcpStream, &mut Option<TcpListener>) -> bool + Send + 'static,
    {
        Fake::with_features(&["EPSV", "SIZE"], size, transfer)
    }

    /// As [`Fake::with_epsv`], announcing `features` in its FEAT reply.
    pub fn with_features<F>(features: &'static [&'static str], size: u64, mut transfer: F) -> Fake
    where
        F: FnMut(&str, &mut TcpStream, &mut Option<TcpListener>) -> bool + Send + 'static,
    {
        let mut data: Option<TcpListener> = None;
        Fake::start(move |line, control| {
            if let Some(go_on) = answer_basic(line, control, features) {
                return go_on;
            }
            match line.split(' ').next().unwrap_or("") {
                "SIZE" => write!(control, "213 {size}\r\n").unwrap(),
                "EPSV" => answer_epsv(control, &mut data),
                _ => return transfer(line, control, &mut data),
            }
            true
        })
    }

    /// The command lines the client sent.
    pub fn commands(mut self) -> Vec<String> {
        self.thread.take().unwrap().join().unwrap()
    }
}

/// Answers `line` with [`basic_reply`] when it has one: then returns whether to go on reading
/// commands (not after QUIT).
pub fn answer_basic(line: &str, control: &mut TcpStream, features: &[&str]) -> Option<bool> {
    let reply = basic_reply(line, features)?;
    control.write_all(reply.as_bytes()).unwrap();
    Some(!line.starts_with("QUIT"))
}

/// Replies the usual way to login, TYPE, FEAT (with `features`), and QUIT; returns None for
/// other commands.
pub fn basic_reply(line: &str, features: &[&str]) -> Option<String> {
    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
    Some(match verb.as_str() {
        "USER" => "331 password please\r\n".into(),
        "PASS" => "230 in\r\n".into(),
        "TYPE" | "OPTS" | "NOOP" => "200 ok\r\n".into(),
        "FEAT" => {
            let mut text = String::from("211-Features:\r\n");
            for feature in features {
                text.push_str(&format!(" {feature}\r\n"));
            }
            text.push_str("211 End\r\n");
            text
        }
        "QUIT" => "221 bye\r\n".into(),
        "PWD" => "257 \"/\" is current\r\n".into(),
        _ => return None,
    })
}

/// A fake server that cuts a download after `sent` of `size` bytes with a 426.
pub fn cutting_server(size: usize, sent: Vec<u8>) -> Fake {
    cutting_server_with(size, sent, Cut::Abort)
}

/// How [`cutting_server_with`] ends a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Closes the data connection and replies 426.
    Abort,
    /// Closes both connections without a reply, as a crashed server.
    Crash,
    /// Sends nothing more and keeps both connections open until the client leaves.
    Stall,
}

/// As [`cutting_server`], ending the download the way `cut` says.
pub fn cutting_server_with(size: usize, sent: Vec<u8>, cut: Cut) -> Fake {
    let mut stalled: Vec<TcpStream> = Vec::new();
    let features = &["EPSV", "SIZE", "REST STREAM"];
    Fake::with_features(features, size as u64, move |line, control, data| {
        match line.split(' ').next().unwrap_or("") {
            "RETR" => {
                control.write_all(b"150 here it comes\r\n").unwrap();
                let (mut stream, _) = data.take().unwrap().accept().unwrap();
                stream.write_all(&sent).unwrap();
                match cut {
                    Cut::Abort => drop(stream),
                    Cut::Crash => return false,
                    Cut::Stall => {
                        stalled.push(stream);
                        return true;
                    }
                }
                control
                    .write_all(b"426 Connection closed; transfer aborted.\r\n")
                    .unwrap();
            }
            _ => control.write_all(b"502 not here\r\n").unwrap(),
        }
        true
    })
}
