//! Shared by the interop tests: a `ferryd` on a temporary folder, finding the external tools, and
//! running them with a time limit.
//!
//! A missing tool never lets a test pass: it fails with the package to install (under `CI=true`
//! `.ci/run` should have installed it, so the message says so).

#![allow(
    dead_code,
    reason = "each test file compiles this module on its own and uses only part of it"
)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use ferry_server::Config;
use ferry_server::tls::TlsSettings;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// How long one run of an external tool may take before the test fails.
pub(crate) const TOOL_LIMIT: Duration = Duration::from_secs(120);

pub(crate) mod peers;

/// A `ferryd` serving a fresh temporary folder; stopped when dropped.
pub(crate) struct TestServer {
    /// Where the listener is bound.
    pub(crate) addr: SocketAddr,
    /// The implicit-FTPS listener, when started with [`TestServer::start_tls`] and asked for one.
    pub(crate) implicit: Option<SocketAddr>,
    root: TempDir,
    shutdown: CancellationToken,
}

impl TestServer {
    /// Serves a new temporary folder on `127.0.0.1:0` to anonymous users with write access.
    pub(crate) async fn start() -> TestServer {
        TestServer::start_with("127.0.0.1:0", |_| {}).await
    }

    /// Serves a new temporary folder on `bind` (port 0), with `edit` applied to the default config.
    pub(crate) async fn start_with(bind: &str, edit: impl FnOnce(&mut Config)) -> TestServer {
        let root = tempfile::tempdir().expect("a temporary folder for the served root");
        let listener = match TcpListener::bind(bind).await {
            Ok(listener) => listener,
            Err(error) => panic!(
                "cannot bind {bind}: {error}. {}",
                if bind.starts_with('[') {
                    "This machine has no IPv6 loopback (::1); the IPv6 interop test needs one \
                     (enable IPv6 on lo, e.g. `sysctl -w net.ipv6.conf.lo.disable_ipv6=0`)."
                } else {
                    "Loopback must be available for the interop tests."
                }
            ),
        };
        let addr = listener.local_addr().expect("the bound listener's address");
        let mut config = Config::for_folder(root.path());
        edit(&mut config);
        let shutdown = CancellationToken::new();
        tokio::spawn(ferry_server::run(listener, config, shutdown.clone()));
        TestServer {
            addr,
            implicit: None,
            root,
            shutdown,
        }
    }

    /// Serves a new temporary folder over FTPS with `cert` on `127.0.0.1:0` (explicit, AUTH TLS),
    /// plus an implicit-FTPS listener when `implicit`; `edit` applies to the config after TLS is
    /// set.
    pub(crate) async fn start_tls(
        cert: &TestCert,
        implicit: bool,
        edit: impl FnOnce(&mut Config),
    ) -> TestServer {
        let root = tempfile::tempdir().expect("a temporary folder for the served root");
        let mut config = Config::for_folder(root.path());
        config.tls = Some(
            TlsSettings::from_pem_files(&cert.cert, &cert.key)
                .expect("ferryd accepts the test certificate"),
        );
        edit(&mut config);
        let server = ferry_server::Server::new(config).expect("a valid TLS configuration");
        let shutdown = CancellationToken::new();
        let explicit = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = explicit.local_addr().expect("the bound listener's address");
        let serving = server.clone();
        let token = shutdown.clone();
        tokio::spawn(async move { serving.serve(explicit, token).await });
        let implicit = if implicit {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind loopback");
            let implicit_addr = listener.local_addr().expect("the bound listener's address");
            let token = shutdown.clone();
            tokio::spawn(async move { server.serve_implicit(listener, token).await });
            Some(implicit_addr)
        } else {
            None
        };
        TestServer {
            addr,
            implicit,
            root,
            shutdown,
        }
    }

    /// The served folder on disk.
    pub(crate) fn root(&self) -> &Path {
        self.root.path()
    }

    /// `ftp://host:port/` followed by `path` (no leading slash), IPv6 hosts in brackets.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("ftp://{}/{path}", self.addr)
    }

    /// The host as a client should be given it: `127.0.0.1` or `::1`, without brackets.
    pub(crate) fn host(&self) -> String {
        self.addr.ip().to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A self-signed certificate for `127.0.0.1`, `localhost` and `::1` (made with rcgen at test
/// time), written as PEM files to a temporary folder; clients trust it as their CA file.
pub(crate) struct TestCert {
    /// The certificate, PEM; also the CA file clients are given.
    pub(crate) cert: PathBuf,
    /// Its private key, PEM (PKCS#8).
    pub(crate) key: PathBuf,
    _folder: TempDir,
}

impl TestCert {
    /// Makes a new certificate and key.
    pub(crate) fn new() -> TestCert {
        let names = vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
            "::1".to_string(),
        ];
        let made = rcgen::generate_simple_self_signed(names).expect("rcgen makes a certificate");
        let folder = tempfile::tempdir().expect("a folder for the certificate");
        let cert = folder.path().join("cert.pem");
        let key = folder.path().join("key.pem");
        write(&cert, made.cert.pem().as_bytes());
        write(&key, made.signing_key.serialize_pem().as_bytes());
        TestCert {
            cert,
            key,
            _folder: folder,
        }
    }
}

/// The names directly in `folder`, sorted.
pub(crate) fn names(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .expect("list a folder")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Finds `name` on PATH, or fails the test saying what to install.
pub(crate) fn tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for folder in std::env::split_paths(&path) {
        let candidate = folder.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    let ci = std::env::var("CI").is_ok_and(|value| value == "true");
    if ci {
        panic!(
            "`{name}` is not installed and CI=true: .ci/run must install it \
             (`apt-get install {package}`)"
        );
    }
    panic!(
        "`{name}` is not installed: the interop suite needs it (`apt-get install {package}`), \
         or run .ci/run, which installs it"
    );
}

/// Runs `command` with stdin closed, killing it and failing the test after `limit`; returns its
/// output whatever its exit code.
pub(crate) async fn run(command: &mut Command, limit: Duration) -> Output {
    let shown = format!("{command:?}");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = match command.spawn() {
        Ok(child) => child,
        Err(error) => panic!("cannot start {shown}: {error}"),
    };
    let started = Instant::now();
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => panic!("waiting for {shown} failed: {error}"),
        Err(_) => panic!(
            "{shown} did not finish within {:?} (killed after {:?})",
            limit,
            started.elapsed()
        ),
    }
}

/// Runs `command` like [`run`] and fails the test, showing its output, unless it exits with 0.
pub(crate) async fn run_ok(command: &mut Command) -> Output {
    let shown = format!("{command:?}");
    let output = run(command, TOOL_LIMIT).await;
    assert!(
        output.status.success(),
        "{shown} failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A `Command` for `program` with a UTF-8 locale, so tools keep non-ASCII names as they are.
pub(crate) fn command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    command.env("LC_ALL", "C.UTF-8").env("LANG", "C.UTF-8");
    command
}

/// The Python ftplib suite, run by `python3`.
const FTPLIB_SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/ftplib_suite.py");

/// Runs one section of the Python ftplib suite against `server`; fails the test unless it exits
/// with 0.
pub(crate) async fn ftplib(server: &TestServer, section: &str) {
    run_ok(
        command(tool("python3", "python3"))
            .arg(FTPLIB_SUITE)
            .arg(section)
            .arg(server.host())
            .arg(server.addr.port().to_string()),
    )
    .await;
}

/// Bytes that are different at every offset for a long stretch, so a transfer that skips or
/// repeats a block shows up.
pub(crate) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Reads a file that must exist.
pub(crate) fn read(path: &Path) -> Vec<u8> {
    match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => panic!("cannot read {}: {error}", path.display()),
    }
}

/// Writes a file, creating its parent folders.
pub(crate) fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create the parent folders");
    }
    if let Err(error) = std::fs::write(path, bytes) {
        panic!("cannot write {}: {error}", path.display());
    }
}

/// One entry of a tree: a folder, or a file with its bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Folder,
    File(Vec<u8>),
}

/// Everything below `root` by relative path, skipping names for which `skip` is true.
pub(crate) fn tree(root: &Path, skip: &dyn Fn(&str) -> bool) -> BTreeMap<PathBuf, Entry> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let listing = match std::fs::read_dir(&folder) {
            Ok(listing) => listing,
            Err(error) => panic!("cannot list {}: {error}", folder.display()),
        };
        for item in listing {
            let item = item.expect("a directory entry");
            let name = item.file_name();
            if skip(&name.to_string_lossy()) {
                continue;
            }
            let path = item.path();
            let relative = path
                .strip_prefix(root)
                .expect("entries are below the root")
                .to_path_buf();
            let kind = item.file_type().expect("an entry's type");
            if kind.is_dir() {
                entries.insert(relative, Entry::Folder);
                pending.push(path);
            } else {
                entries.insert(relative, Entry::File(read(&path)));
            }
        }
    }
    entries
}

/// Fails unless the two trees have the same folders and the same files with the same bytes,
/// naming the first differences.
pub(crate) fn assert_same_tree(expected: &Path, actual: &Path, skip: &dyn Fn(&str) -> bool) {
    let left = tree(expected, skip);
    let right = tree(actual, skip);
    let mut problems = Vec::new();
    for (path, entry) in &left {
        match right.get(path) {
            None => problems.push(format!("missing: {}", path.display())),
            Some(other) if other != entry => {
                problems.push(format!("different: {}", describe(path, entry, other)));
            }
            Some(_) => {}
        }
    }
    for path in right.keys() {
        if !left.contains_key(path) {
            problems.push(format!("unexpected: {}", path.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "{} differs from {} ({} of {} entries):\n{}",
        actual.display(),
        expected.display(),
        problems.len(),
        left.len(),
        problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn describe(path: &Path, expected: &Entry, actual: &Entry) -> String {
    let size = |entry: &Entry| match entry {
        Entry::Folder => "a folder".to_string(),
        Entry::File(bytes) => format!("{} bytes", bytes.len()),
    };
    format!(
        "{} (expected {}, got {})",
        path.display(),
        size(expected),
        size(actual)
    )
}
