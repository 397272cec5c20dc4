//! OpenSSH's own sshd for the `sftp://` tests, started on a free loopback port with its own
//! configuration, host key and `internal-sftp`, and the client's side: a temporary HOME with a
//! key made at test time (so the real `~/.ssh` is never touched), and an ssh-agent.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferry_testkit::on_ci;

/// Where Debian's openssh-server puts sshd; it must be started by its absolute path.
pub const SSHD: &str = "/usr/sbin/sshd";

/// An sshd on 127.0.0.1 with its own configuration, serving SFTP to the current user with the
/// client key of [`Home`]; killed on drop.
pub struct Sshd {
    child: Child,
    pub port: u16,
    /// Its configuration, host key and a folder for the files: `dir/files`.
    pub dir: tempfile::TempDir,
}

impl Sshd {
    pub fn start(home: &Home) -> Sshd {
        if !Path::new(SSHD).is_file() {
            if on_ci() {
                panic!(
                    "{SSHD} is not installed and CI=true: scripts/test must install it \
                     (`apt-get install openssh-server`)"
                );
            }
            panic!("{SSHD} is not installed: the tests need it (`apt-get install openssh-server`)");
        }
        let dir = tempfile::tempdir().unwrap();
        keygen(&dir.path().join("host_key"));
        std::fs::create_dir(dir.path().join("files")).unwrap();
        let port = free_port();
        let config = dir.path().join("sshd_config");
        let user = whoami();
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\n\
                 PidFile {dir}/sshd.pid\nAuthorizedKeysFile {keys}\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin yes\nAllowUsers {user}\nSubsystem sftp internal-sftp\n\
                 LogLevel ERROR\n",
                dir = dir.path().display(),
                keys = home.authorized_keys.display(),
            ),
        )
        .unwrap();
        // sshd running as root wants its privilege-separation folder.
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let sshd = Sshd { child, port, dir };
        // sshd writes its pid file once it listens (a probing connection would make it log).
        let started = Instant::now();
        while !sshd.dir.path().join("sshd.pid").exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sshd did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sshd
    }

    /// The folder the tests put files in.
    pub fn files(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    /// `sftp://127.0.0.1:PORT/<files>/path`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "sftp://127.0.0.1:{}{}/{path}",
            self.port,
            self.files().display()
        )
    }

    /// The host key's public half, as `algorithm base64`.
    pub fn host_key(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `SHA256:...` as `ssh-keygen -l` prints it for the host key.
    pub fn fingerprint(&self) -> String {
        let output = Command::new("ssh-keygen")
            .arg("-l")
            .arg("-f")
            .arg(self.dir.path().join("host_key.pub"))
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        text.split_whitespace().nth(1).unwrap().to_string()
    }

    /// Trusts this server in `home`'s known_hosts, as `ssh` would have written it.
    pub fn trust(&self, home: &Home) {
        let line = format!("[127.0.0.1]:{} {}\n", self.port, self.host_key());
        std::fs::write(home.known_hosts(), line).unwrap();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The client's side: a temporary HOME with `.ssh/id_ed25519` and a working folder.
pub struct Home {
    pub home: tempfile::TempDir,
    pub work: tempfile::TempDir,
    pub authorized_keys: PathBuf,
}

impl Home {
    pub fn new() -> Home {
        let home = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        let key = home.path().join(".ssh/id_ed25519");
        keygen(&key);
        let authorized_keys = home.path().join("authorized_keys");
        std::fs::copy(key.with_extension("pub"), &authorized_keys).unwrap();
        Home {
            home,
            work,
            authorized_keys,
        }
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.home.path().join(".ssh/known_hosts")
    }

    pub fn work(&self) -> &Path {
        self.work.path()
    }

    /// Runs `ferry ARGS` with this HOME and no ssh-agent.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_agent(None, args)
    }

    /// Runs `ferry ARGS` with this HOME and the ssh-agent listening on `agent`, if any.
    pub fn run_with_agent(&self, agent: Option<&Path>, args: &[&str]) -> Output {
        let mut command = super::ferry(self.home.path(), self.work.path());
        command.env_remove("SSH_AUTH_SOCK").args(args);
        if let Some(socket) = agent {
            command.env("SSH_AUTH_SOCK", socket);
        }
        super::wait_bounded(command.spawn().unwrap())
    }

    /// Runs the shell, `ferry ARGS`, with `script` on stdin, this HOME and no ssh-agent.
    pub fn script(&self, args: &[&str], script: &str) -> Output {
        let mut command = super::ferry(self.home.path(), self.work.path());
        command
            .env_remove("SSH_AUTH_SOCK")
            .args(args)
            .stdin(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(script.as_bytes()).unwrap();
        drop(stdin);
        super::wait_bounded(child)
    }

    /// Moves the default key away (to `home/<name>`), so that only what a test offers logs in.
    pub fn hide_default_key(&self, name: &str) -> PathBuf {
        let moved = self.home.path().join(name);
        std::fs::rename(self.home.path().join(".ssh/id_ed25519"), &moved).unwrap();
        moved
    }
}

/// An ssh-agent in the foreground on a socket of its own; killed on drop.
pub struct Agent {
    child: Child,
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// An agent holding the private key `key`.
    pub fn holding(key: &Path) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let child = Command::new(ferry_testkit::tool("ssh-agent", "openssh-client"))
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let agent = Agent {
            child,
            socket,
            _dir: dir,
        };
        let started = Instant::now();
        while !agent.socket.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "ssh-agent did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let added = Command::new(ferry_testkit::tool("ssh-add", "openssh-client"))
            .arg("-q")
            .arg(key)
            .env("SSH_AUTH_SOCK", &agent.socket)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(added.status.success(), "{added:?}");
        agent
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A key pair without a passphrase at `path` and `path.pub`.
pub fn keygen(path: &Path) {
    keygen_typed(path, "ed25519");
}

/// A key pair of `kind` (`ed25519`, `ecdsa`, `rsa`) without a passphrase.
pub fn keygen_typed(path: &Path, kind: &str) {
    let status = Command::new(ferry_testkit::tool("ssh-keygen", "openssh-client"))
        .args(["-q", "-t", kind, "-N", "", "-C", "ferry-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn whoami() -> String {
    let output = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// A trusted server and a client with its key.
pub fn setup() -> (Sshd, Home) {
    let home = Home::new();
    let sshd = Sshd::start(&home);
    sshd.trust(&home);
    (sshd, home)
}

/// Every file under `root`, by its path from there, with its bytes; folders as `path/`.
pub fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                found.insert(format!("{name}/"), Vec::new());
                folders.push(path);
            } else {
                found.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

/// A nested tree with an empty file, an empty folder, a name with a space and a file bigger
/// than the requests one READ asks for.
pub fn make_tree(root: &Path) {
    for folder in ["a/b/c", "empty", "with space"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    std::fs::write(root.join("top.txt"), b"top").unwrap();
    std::fs::write(root.join("a/zero"), b"").unwrap();
    std::fs::write(
        root.join("a/b/mid.bin"),
        ferry_testkit::test_bytes(100_001, 3),
    )
    .unwrap();
    std::fs::write(
        root.join("a/b/c/deep.bin"),
        ferry_testkit::test_bytes(2 << 20, 4),
    )
    .unwrap();
    std::fs::write(root.join("with space/x y.txt"), b"spaced").unwrap();
}
