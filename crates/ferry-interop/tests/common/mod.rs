//! Shared by the interop tests: a `ferryd` on a temporary folder or on an S3 bucket, finding the
//! external tools, and running them with a time limit. Running ferryd, the certificate, the test
//! bytes, [`tool`] and [`run`] are ferry-testkit's; this module adds the S3 backend and the
//! tests' view of the served files, tree comparisons and the ftplib runner.
//!
//! A missing tool never lets a test pass: it fails with the package to install (under `CI=true`
//! `.ci/run` should have installed it, so the message says so). The same goes for SeaweedFS,
//! which the S3-backed servers use (see `s3_servers`).
//!
//! Tests that should hold on both backends take a [`Backend`] and are instantiated for each by
//! [`on_both_backends!`]; they seed and check the served files through [`TestServer::read`],
//! [`TestServer::write`] and friends, which go to the disk for a folder and to the bucket
//! (through OpenDAL, not through ferryd's own storage code) for S3.

#![allow(
    dead_code,
    reason = "each test file compiles this module on its own and uses only part of it"
)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use ferry_server::Config;
use ferry_server::config::S3Config;
use ferry_testkit::Ferryd;
#[allow(unused_imports, reason = "each test file uses only some")]
pub(crate) use ferry_testkit::{TestCert, names_in as names, run, tool};
use opendal::{HttpTransporter, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;
use tempfile::TempDir;
use tokio::process::Command;

/// How long one run of an external tool may take before the test fails.
pub(crate) const TOOL_LIMIT: Duration = Duration::from_secs(120);

pub(crate) mod peers;

#[path = "../../../ferry-storage/tests/s3_servers/mod.rs"]
pub(crate) mod s3_servers;

use s3_servers::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};

/// How long the S3 server may take to answer ferryd's start-up check (`weed mini` opens its port
/// before its bucket exists).
const S3_READY_LIMIT: Duration = Duration::from_secs(60);

/// What a [`TestServer`] serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// A fresh temporary folder.
    Local,
    /// A fresh prefix of the bucket on this test process's SeaweedFS (which keeps the `dir/`
    /// markers of empty folders; s3s-fs drops them).
    S3,
}

/// Instantiates each `async fn NAME(backend: Backend)` of the calling test file twice, as the
/// tests `local::NAME` (a folder-backed ferryd) and `s3::NAME` (an S3-backed one).
#[allow(
    unused_macros,
    reason = "each test file compiles this module; not all use the macro"
)]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Local).await;
                }
            )+
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::S3).await;
                }
            )+
        }
    };
}
#[allow(
    unused_imports,
    reason = "each test file compiles this module; not all use the macro"
)]
pub(crate) use on_both_backends;

/// Where a [`TestServer`]'s files are, as the test sees them.
enum Served {
    Folder(TempDir),
    /// The test's own OpenDAL view of ferryd's prefix, and that prefix.
    Bucket(Operator, String),
}

/// A `ferryd` serving a fresh temporary folder or bucket prefix; stopped when dropped.
///
/// It runs on a thread and runtime of its own (the kit's [`Ferryd`]), not the test's: starting
/// waits until it listens, and dropping until its sessions have ended.
pub(crate) struct TestServer {
    /// Where the listener is bound.
    pub(crate) addr: SocketAddr,
    /// The SFTP listener (servers started with [`TestServer::start_on_with`] and friends).
    pub(crate) sftp: Option<SocketAddr>,
    /// The implicit-FTPS listener, when started with [`TestServer::start_tls`] and asked for one.
    pub(crate) implicit: Option<SocketAddr>,
    /// The plain HTTP listener (servers started with [`TestServer::start_on_with`] and friends).
    pub(crate) http: Option<SocketAddr>,
    /// Before `served`, so the server stops before its folder goes.
    _running: Ferryd,
    served: Served,
}

impl TestServer {
    /// Serves a new temporary folder on `127.0.0.1:0` to anonymous users with write access.
    pub(crate) async fn start() -> TestServer {
        TestServer::start_with("127.0.0.1:0", |_| {}).await
    }

    /// Serves a new temporary folder on `bind` (port 0), with `edit` applied to the default config.
    pub(crate) async fn start_with(bind: &str, edit: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_on_with(Backend::Local, bind, edit).await
    }

    /// Serves a new folder or bucket prefix on `127.0.0.1:0` to anonymous users with write
    /// access.
    pub(crate) async fn start_on(backend: Backend) -> TestServer {
        TestServer::start_on_with(backend, "127.0.0.1:0", |_| {}).await
    }

    /// Serves a new folder or bucket prefix on `bind` (port 0), with `edit` applied to the
    /// default config.
    pub(crate) async fn start_on_with(
        backend: Backend,
        bind: &str,
        edit: impl FnOnce(&mut Config),
    ) -> TestServer {
        let (served, mut config) = match backend {
            Backend::Local => {
                let root = tempfile::tempdir().expect("a temporary folder for the served root");
                let config = Config::for_folder(root.path());
                (Served::Folder(root), config)
            }
            Backend::S3 => {
                // Started once per test process (blocking, so not on this runtime's workers).
                let s3 = match tokio::task::spawn_blocking(S3Server::shared_seaweedfs).await {
                    Ok(s3) => s3,
                    // Its message says what to install.
                    Err(error) => std::panic::resume_unwind(error.into_panic()),
                };
                static PREFIXES: AtomicUsize = AtomicUsize::new(0);
                let prefix = format!("test-{}", PREFIXES.fetch_add(1, Ordering::Relaxed));
                let config = Config::for_s3(S3Config {
                    bucket: BUCKET.into(),
                    prefix: prefix.clone(),
                    endpoint: Some(s3.endpoint.clone()),
                    region: None,
                    access_key_id: Some(ACCESS_KEY.into()),
                    secret_access_key: Some(SECRET_KEY.into()),
                    session_token: None,
                });
                if let Err(error) = ferry_testkit::storage_ready(&config, S3_READY_LIMIT).await {
                    panic!(
                        "{} at {} did not answer within {S3_READY_LIMIT:?}: {error}\n{}",
                        s3.name,
                        s3.endpoint,
                        s3.log()
                    );
                }
                (Served::Bucket(bucket_view(s3, &prefix), prefix), config)
            }
        };
        edit(&mut config);
        // Every such server speaks SFTP and HTTP too (same users, same files), on ports of
        // their own.
        let running = Ferryd::builder(config)
            .listen(bind)
            .listen_sftp("127.0.0.1:0")
            .listen_http("127.0.0.1:0")
            .start();
        TestServer {
            addr: running.addr,
            implicit: None,
            sftp: running.sftp,
            http: running.http,
            _running: running,
            served,
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
        config.tls = Some(cert.settings());
        edit(&mut config);
        let mut running = Ferryd::builder(config).listen("127.0.0.1:0");
        if implicit {
            running = running.listen_implicit("127.0.0.1:0");
        }
        let running = running.start();
        TestServer {
            addr: running.addr,
            implicit: running.implicit,
            sftp: None,
            http: None,
            _running: running,
            served: Served::Folder(root),
        }
    }

    /// Which backend this server serves.
    pub(crate) fn backend(&self) -> Backend {
        match self.served {
            Served::Folder(_) => Backend::Local,
            Served::Bucket(..) => Backend::S3,
        }
    }

    /// The served folder on disk (a folder-backed server only: use [`TestServer::read`] and
    /// the other accessors in tests that run on both backends).
    pub(crate) fn root(&self) -> &Path {
        match &self.served {
            Served::Folder(root) => root.path(),
            Served::Bucket(_, prefix) => {
                panic!("an S3-backed server (prefix {prefix}) has no folder on disk")
            }
        }
    }

    /// The bytes of the served file `path` (relative, `/`-separated), which must exist.
    pub(crate) async fn read(&self, path: &str) -> Vec<u8> {
        match &self.served {
            Served::Folder(root) => read(&root.path().join(path)),
            Served::Bucket(bucket, _) => match bucket.read(path).await {
                Ok(bytes) => bytes.to_vec(),
                Err(error) => panic!("cannot read {path} from the bucket: {error}"),
            },
        }
    }

    /// Stores `bytes` as the served file `path`, creating its folders (on S3, one object).
    pub(crate) async fn write(&self, path: &str, bytes: &[u8]) {
        match &self.served {
            Served::Folder(root) => write(&root.path().join(path), bytes),
            Served::Bucket(bucket, _) => {
                if let Err(error) = bucket.write(path, bytes.to_vec()).await {
                    panic!("cannot write {path} to the bucket: {error}");
                }
            }
        }
    }

    /// Creates the served folder `path` and its parents (on S3, a `path/` marker object).
    pub(crate) async fn create_dir(&self, path: &str) {
        match &self.served {
            Served::Folder(root) => {
                std::fs::create_dir_all(root.path().join(path)).expect("create a folder");
            }
            Served::Bucket(bucket, _) => {
                if let Err(error) = bucket.create_dir(&format!("{path}/")).await {
                    panic!("cannot create the folder {path} in the bucket: {error}");
                }
            }
        }
    }

    /// Whether `path` is a served folder (on S3, a marker or any key below it).
    pub(crate) async fn is_dir(&self, path: &str) -> bool {
        match &self.served {
            Served::Folder(root) => root.path().join(path).is_dir(),
            Served::Bucket(bucket, _) => match bucket.stat(&format!("{path}/")).await {
                Ok(meta) => meta.is_dir(),
                Err(error) if error.kind() == opendal::ErrorKind::NotFound => false,
                Err(error) => panic!("cannot look up {path}/ in the bucket: {error}"),
            },
        }
    }

    /// Whether anything, file or folder, is served at `path`.
    pub(crate) async fn exists(&self, path: &str) -> bool {
        match &self.served {
            Served::Folder(root) => root.path().join(path).symlink_metadata().is_ok(),
            Served::Bucket(bucket, _) => match bucket.stat(path).await {
                Ok(_) => true,
                Err(error) if error.kind() == opendal::ErrorKind::NotFound => {
                    self.is_dir(path).await
                }
                Err(error) => panic!("cannot look up {path} in the bucket: {error}"),
            },
        }
    }

    /// The modification time of the served file `path`.
    pub(crate) async fn modified(&self, path: &str) -> SystemTime {
        match &self.served {
            Served::Folder(root) => std::fs::metadata(root.path().join(path))
                .and_then(|metadata| metadata.modified())
                .expect("a modification time"),
            Served::Bucket(bucket, _) => {
                let meta = match bucket.stat(path).await {
                    Ok(meta) => meta,
                    Err(error) => panic!("cannot look up {path} in the bucket: {error}"),
                };
                let seconds = meta
                    .last_modified()
                    .expect("S3 objects have a last-modified time")
                    .into_inner()
                    .as_second();
                SystemTime::UNIX_EPOCH
                    + Duration::from_secs(u64::try_from(seconds).expect("a time after 1970"))
            }
        }
    }

    /// The names directly in the served folder `path` (`""` for the top), sorted; on S3 every
    /// key and sub-prefix, hidden or not.
    pub(crate) async fn names(&self, path: &str) -> Vec<String> {
        match &self.served {
            Served::Folder(root) => names(&root.path().join(path)),
            Served::Bucket(bucket, _) => {
                let folder = bucket_folder(path);
                let listing = match bucket.list(&folder).await {
                    Ok(listing) => listing,
                    Err(error) => panic!("cannot list {folder} in the bucket: {error}"),
                };
                let mut names: Vec<String> = listing
                    .iter()
                    .filter_map(|entry| {
                        let name = entry.path().strip_prefix(folder.trim_start_matches('/'))?;
                        let name = name.trim_end_matches('/');
                        (!name.is_empty()).then(|| name.to_string())
                    })
                    .collect();
                names.sort();
                names
            }
        }
    }

    /// Everything below the served folder `path` by relative path, like [`tree`]; on S3 every
    /// key below the prefix, its folders being the `dir/` markers and every key's prefixes.
    pub(crate) async fn tree(&self, path: &str) -> BTreeMap<PathBuf, Entry> {
        let bucket = match &self.served {
            Served::Folder(root) => return tree(&root.path().join(path), &|_| false),
            Served::Bucket(bucket, _) => bucket,
        };
        let folder = bucket_folder(path);
        let listing = match bucket.list_with(&folder).recursive(true).await {
            Ok(listing) => listing,
            Err(error) => panic!("cannot list {folder} in the bucket: {error}"),
        };
        let mut entries = BTreeMap::new();
        for item in listing {
            let Some(relative) = item.path().strip_prefix(folder.trim_start_matches('/')) else {
                continue;
            };
            let name = relative.trim_end_matches('/');
            if name.is_empty() {
                continue;
            }
            let mut parent = Path::new(name).parent();
            while let Some(ancestor) = parent.filter(|p| !p.as_os_str().is_empty()) {
                entries.insert(ancestor.to_path_buf(), Entry::Folder);
                parent = ancestor.parent();
            }
            let entry = if relative.ends_with('/') {
                Entry::Folder
            } else {
                Entry::File(self.read(item.path()).await)
            };
            entries.insert(PathBuf::from(name), entry);
        }
        entries
    }

    /// `ftp://host:port/` followed by `path` (no leading slash), IPv6 hosts in brackets.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("ftp://{}/{path}", self.addr)
    }

    /// `http://127.0.0.1:port/` followed by `path` (no leading slash; percent-encoded as the
    /// caller wants it sent).
    pub(crate) fn http_url(&self, path: &str) -> String {
        let http = self.http.expect("a server started with an HTTP listener");
        format!("http://{http}/{path}")
    }

    /// The host as a client should be given it: `127.0.0.1` or `::1`, without brackets.
    pub(crate) fn host(&self) -> String {
        self.addr.ip().to_string()
    }
}

/// The OpenDAL key prefix of a served folder: `/` for the top, else `path/`.
fn bucket_folder(path: &str) -> String {
    let path = path.trim_matches('/');
    if path.is_empty() {
        "/".into()
    } else {
        format!("{path}/")
    }
}

/// The test's own client for ferryd's `prefix` of the bucket on `s3`.
fn bucket_view(s3: &S3Server, prefix: &str) -> Operator {
    // The process-wide rustls provider reqwest needs; "already installed" is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = opendal::services::S3::default()
        .endpoint(&s3.endpoint)
        .region("us-east-1")
        .bucket(BUCKET)
        .root(&format!("/{prefix}/"))
        .access_key_id(ACCESS_KEY)
        .secret_access_key(SECRET_KEY)
        .disable_config_load()
        .disable_ec2_metadata();
    let operator = Operator::new(builder).expect("an OpenDAL S3 operator");
    // A client of its own: pooled connections belong to the runtime that opened them, and every
    // test has its own runtime (OpenDAL's default transport is one client for the process).
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client");
    let context = operator
        .context()
        .with_http_transport(HttpTransporter::new(ReqwestTransport::new(client)));
    operator.with_context(context)
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

/// Runs one section of the Python ftplib suite against `server` (telling it the backend, for
/// the few replies that differ on S3); fails the test unless it exits with 0.
pub(crate) async fn ftplib(server: &TestServer, section: &str) {
    let backend = match server.backend() {
        Backend::Local => "local",
        Backend::S3 => "s3",
    };
    run_ok(
        command(tool("python3", "python3"))
            .arg(FTPLIB_SUITE)
            .arg(section)
            .arg(server.host())
            .arg(server.addr.port().to_string())
            .arg(backend),
    )
    .await;
}

/// The test kit's bytes for `seed`: different at every offset for a long stretch, so a transfer
/// that skips or repeats a block shows up.
pub(crate) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    ferry_testkit::test_bytes(len, seed.into())
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
    assert_same_entries(
        &tree(expected, skip),
        &tree(actual, skip),
        &format!("{} (expected: {})", actual.display(), expected.display()),
    );
}

/// Fails unless `right` has the same folders and files with the same bytes as `left`, naming
/// the first differences and `what` was compared.
pub(crate) fn assert_same_entries(
    left: &BTreeMap<PathBuf, Entry>,
    right: &BTreeMap<PathBuf, Entry>,
    what: &str,
) {
    let mut problems = Vec::new();
    for (path, entry) in left {
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
        "{what} differs ({} of {} entries):\n{}",
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

/// Debian's python3 when it can import `module` (installed by `package`); fails the test
/// saying what to install otherwise.
pub(crate) async fn debian_python_with(module: &str, package: &str) -> PathBuf {
    let python = PathBuf::from("/usr/bin/python3");
    let found = python.exists()
        && run(
            command(&python).args(["-c", &format!("import {module}")]),
            TOOL_LIMIT,
        )
        .await
        .status
        .success();
    assert!(
        found,
        "/usr/bin/python3 cannot import {module}: `apt-get install {package}`{}",
        if ferry_testkit::on_ci() {
            " (CI=true: scripts/test must install it)"
        } else {
            ""
        }
    );
    python
}
