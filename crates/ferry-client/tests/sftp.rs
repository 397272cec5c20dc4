//! `ferry get|put|ls|rm|mkdir sftp://...` against OpenSSH's own sshd, started here on a free
//! loopback port with its own configuration, host key and `internal-sftp`, and a client key
//! made at test time; the client runs with a temporary HOME, so the real `~/.ssh` is never
//! touched. Also the host-key cases: unknown (refused with the fingerprint and the flag),
//! accepted with `--accept-new-host-key`, and changed (always refused).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{assert_file, assert_ok, assert_one_line_error, stdout};
use ferry_testkit::{on_ci, test_bytes};

/// Where Debian's openssh-server puts sshd; it must be started by its absolute path.
const SSHD: &str = "/usr/sbin/sshd";

/// An sshd on 127.0.0.1 with its own configuration, serving SFTP to the current user with the
/// client key of [`Home`]; killed on drop.
struct Sshd {
    child: Child,
    port: u16,
    /// Its configuration, host key and a folder for the files: `dir/files`.
    dir: tempfile::TempDir,
}

impl Sshd {
    fn start(home: &Home) -> Sshd {
        if !Path::new(SSHD).is_file() {
            if on_ci() {
                panic!(
                    "{SSHD} is not installed and CI=true: .ci/run must install it \
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
    fn files(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    /// `sftp://127.0.0.1:PORT/<files>/path`.
    fn url(&self, path: &str) -> String {
        format!(
            "sftp://127.0.0.1:{}{}/{path}",
            self.port,
            self.files().display()
        )
    }

    /// The host key's public half, as `algorithm base64`.
    fn host_key(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `SHA256:...` as `ssh-keygen -l` prints it for the host key.
    fn fingerprint(&self) -> String {
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
    fn trust(&self, home: &Home) {
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
struct Home {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
    authorized_keys: PathBuf,
}

impl Home {
    fn new() -> Home {
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

    fn known_hosts(&self) -> PathBuf {
        self.home.path().join(".ssh/known_hosts")
    }

    fn work(&self) -> &Path {
        self.work.path()
    }

    /// Runs `ferry ARGS` with this HOME and no ssh-agent.
    fn run(&self, args: &[&str]) -> Output {
        self.run_with_agent(None, args)
    }

    /// Runs `ferry ARGS` with this HOME and the ssh-agent listening on `agent`, if any.
    fn run_with_agent(&self, agent: Option<&Path>, args: &[&str]) -> Output {
        let mut command = common::ferry(self.home.path(), self.work.path());
        command.env_remove("SSH_AUTH_SOCK").args(args);
        if let Some(socket) = agent {
            command.env("SSH_AUTH_SOCK", socket);
        }
        common::wait_bounded(command.spawn().unwrap())
    }

    /// Moves the default key away (to `home/<name>`), so that only what a test offers logs in.
    fn hide_default_key(&self, name: &str) -> PathBuf {
        let moved = self.home.path().join(name);
        std::fs::rename(self.home.path().join(".ssh/id_ed25519"), &moved).unwrap();
        moved
    }
}

/// An ssh-agent in the foreground on a socket of its own; killed on drop.
struct Agent {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// An agent holding the private key `key`.
    fn holding(key: &Path) -> Agent {
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
fn keygen(path: &Path) {
    keygen_typed(path, "ed25519");
}

/// A key pair of `kind` (`ed25519`, `ecdsa`, `rsa`) without a passphrase.
fn keygen_typed(path: &Path, kind: &str) {
    let status = Command::new(ferry_testkit::tool("ssh-keygen", "openssh-client"))
        .args(["-q", "-t", kind, "-N", "", "-C", "ferry-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn whoami() -> String {
    let output = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// A trusted server and a client with its key.
fn setup() -> (Sshd, Home) {
    let home = Home::new();
    let sshd = Sshd::start(&home);
    sshd.trust(&home);
    (sshd, home)
}

#[test]
fn get_and_put_move_exact_bytes() {
    let (sshd, home) = setup();
    let payload = test_bytes(3 * 1024 * 1024 + 12_345, 17);
    std::fs::write(sshd.files().join("big.bin"), &payload).unwrap();

    let output = home.run(&["get", &sshd.url("big.bin")]);
    assert_ok(&output);
    assert_file(home.work().join("big.bin"), &payload);
    assert!(!home.work().join(".big.bin.ferry-part").exists());

    let output = home.run(&["get", &sshd.url("big.bin"), "-o", "-"]);
    assert_ok(&output);
    assert!(output.stdout == payload, "stdout differs");

    let upload = test_bytes(2 * 1024 * 1024 + 7, 18);
    std::fs::write(home.work().join("up.bin"), &upload).unwrap();
    std::fs::write(home.work().join("empty"), b"").unwrap();
    let output = home.run(&["put", "up.bin", "empty", &sshd.url("new/deeper/")]);
    assert_ok(&output);
    assert_file(sshd.files().join("new/deeper/up.bin"), &upload);
    assert_file(sshd.files().join("new/deeper/empty"), b"");

    // A named target replaces a longer file whole.
    std::fs::write(sshd.files().join("renamed.bin"), vec![1; 3 * 1024 * 1024]).unwrap();
    let output = home.run(&["put", "up.bin", &sshd.url("renamed.bin")]);
    assert_ok(&output);
    assert_file(sshd.files().join("renamed.bin"), &upload);

    let output = home.run(&["get", &sshd.url("missing.bin")]);
    assert_one_line_error(&output, "No such file");
    assert!(!home.work().join("missing.bin").exists());
}

#[test]
fn ls_rm_and_mkdir() {
    let (sshd, home) = setup();
    std::fs::write(sshd.files().join("a.txt"), b"abc").unwrap();
    std::fs::create_dir(sshd.files().join("dir")).unwrap();

    let output = home.run(&["ls", &sshd.url("")]);
    assert_ok(&output);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("           3  ") && lines[0].ends_with("  a.txt"),
        "{text}"
    );
    assert!(lines[1].ends_with("  dir/"), "{text}");

    let output = home.run(&["rm", &sshd.url("a.txt")]);
    assert_ok(&output);
    assert!(!sshd.files().join("a.txt").exists());
    let output = home.run(&["rm", &sshd.url("a.txt")]);
    assert_one_line_error(&output, "No such file");

    let output = home.run(&["mkdir", &sshd.url("made")]);
    assert_ok(&output);
    assert!(sshd.files().join("made").is_dir());
    let output = home.run(&["mkdir", &sshd.url("made")]);
    assert_one_line_error(&output, "MKDIR");
    let output = home.run(&["mkdir", "-p", &sshd.url("made/x/y")]);
    assert_ok(&output);
    assert!(sshd.files().join("made/x/y").is_dir());
}

#[test]
fn resume_continues_partial_files_byte_exact() {
    let (sshd, home) = setup();
    let payload = test_bytes(1024 * 1024 + 99, 19);
    std::fs::write(sshd.files().join("r.bin"), &payload).unwrap();
    // An earlier try left the first 300,001 bytes (with a wrong byte at the end of what is
    // still to come, so a restart from 0 would be caught by the comparison).
    std::fs::write(home.work().join(".r.bin.ferry-part"), &payload[..300_001]).unwrap();
    let output = home.run(&["get", "-c", &sshd.url("r.bin")]);
    assert_ok(&output);
    assert_file(home.work().join("r.bin"), &payload);

    // Upload: the server holds the first part; -c writes only the rest.
    let upload = test_bytes(1024 * 1024 + 5, 20);
    std::fs::write(home.work().join("u.bin"), &upload).unwrap();
    let mut head = upload[..400_000].to_vec();
    std::fs::write(sshd.files().join("u.bin"), &head).unwrap();
    let output = home.run(&["put", "-c", "u.bin", &sshd.url("u.bin")]);
    assert_ok(&output);
    assert_file(sshd.files().join("u.bin"), &upload);

    // Proof that -c did not send the head again: a changed head survives a resume.
    head[0] ^= 0xff;
    std::fs::write(sshd.files().join("u.bin"), &head).unwrap();
    let output = home.run(&["put", "-c", "u.bin", &sshd.url("u.bin")]);
    assert_ok(&output);
    let stored = std::fs::read(sshd.files().join("u.bin")).unwrap();
    assert_eq!(stored.len(), upload.len());
    assert_eq!(stored[0], upload[0] ^ 0xff);
    assert!(stored[1..] == upload[1..]);
}

#[test]
fn unknown_host_key_is_refused_then_accepted_with_the_flag() {
    let home = Home::new();
    let sshd = Sshd::start(&home);
    std::fs::write(sshd.files().join("a.txt"), b"abc").unwrap();

    let output = home.run(&["ls", &sshd.url("")]);
    assert_one_line_error(&output, &sshd.fingerprint());
    assert_one_line_error(&output, "--accept-new-host-key");
    assert!(!home.known_hosts().exists());

    let output = home.run(&["--accept-new-host-key", "ls", &sshd.url("")]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(stdout(&output).contains("a.txt"));
    let known = std::fs::read_to_string(home.known_hosts()).unwrap();
    assert_eq!(known.lines().count(), 1, "{known}");
    assert_eq!(
        known.trim_end(),
        format!("[127.0.0.1]:{} {}", sshd.port, sshd.host_key())
    );

    // Now known: no flag needed, and nothing more is added.
    let output = home.run(&["ls", &sshd.url("")]);
    assert_ok(&output);
    assert_eq!(std::fs::read_to_string(home.known_hosts()).unwrap(), known);
}

#[test]
fn changed_host_key_is_always_refused() {
    let home = Home::new();
    let sshd = Sshd::start(&home);
    // known_hosts holds another ed25519 key for this host and port, hashed as `ssh-keygen -H`
    // writes it.
    let other = tempfile::tempdir().unwrap();
    keygen(&other.path().join("k"));
    let other_key = std::fs::read_to_string(other.path().join("k.pub")).unwrap();
    let line = format!("[127.0.0.1]:{} {}", sshd.port, other_key.trim());
    std::fs::write(home.known_hosts(), format!("{line}\n")).unwrap();
    let hashed = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(home.known_hosts())
        .output()
        .unwrap();
    assert!(hashed.status.success());
    assert!(
        std::fs::read_to_string(home.known_hosts())
            .unwrap()
            .starts_with("|1|")
    );

    for flags in [&[][..], &["--accept-new-host-key"][..]] {
        let mut args = flags.to_vec();
        let url = sshd.url("");
        args.extend(["ls", url.as_str()]);
        let output = home.run(&args);
        assert_one_line_error(&output, "CHANGED");
        assert_one_line_error(&output, &sshd.fingerprint());
    }
}

#[test]
fn logs_in_with_an_identity_file_an_rsa_key_or_the_agent() {
    let (sshd, home) = setup();
    std::fs::write(sshd.files().join("a.txt"), b"abc").unwrap();
    let key = home.hide_default_key("elsewhere");
    let key_arg = key.to_str().unwrap();

    // No key where ferry looks and no agent: refused, in one line that says what was tried.
    let output = home.run(&["ls", &sshd.url("")]);
    assert_one_line_error(&output, "refused: no password and no key to try");

    let output = home.run(&["-i", key_arg, "ls", &sshd.url("")]);
    assert_ok(&output);
    assert!(stdout(&output).contains("a.txt"));

    // The agent holds the key: no file needed.
    let agent = Agent::holding(&key);
    let output = home.run_with_agent(Some(&agent.socket), &["ls", &sshd.url("")]);
    assert_ok(&output);
    assert!(stdout(&output).contains("a.txt"));
    drop(agent);

    // An RSA key (signed with rsa-sha2-*, as OpenSSH 8.8 and later require) from the default
    // place.
    let rsa = home.home.path().join(".ssh/id_rsa");
    keygen_typed(&rsa, "rsa");
    std::fs::copy(rsa.with_extension("pub"), &home.authorized_keys).unwrap();
    let output = home.run(&["ls", &sshd.url("")]);
    assert_ok(&output);

    // A key the server does not know: refused, naming the file tried.
    let output = home.run(&["-i", key_arg, "ls", &sshd.url("")]);
    assert_one_line_error(&output, "elsewhere");
    let output = home.run(&["-i", "/nonexistent/key", "ls", &sshd.url("")]);
    assert_one_line_error(&output, "/nonexistent/key");
}

/// ferry against ferryd's own SFTP: a password in the URL, the host key accepted once, then
/// put, ls, get and rm with the bytes checked where ferryd stores them (the user's home).
#[test]
fn ferry_and_ferryd_speak_sftp_to_each_other() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("alice")).unwrap();
    let mut config = ferry_server::Config::for_folder(root.path());
    let alice = ferry_server::User::new(b"wonderland", "alice".into(), false).unwrap();
    config.users.users.insert("alice".into(), alice);
    config.anonymous = ferry_server::Anonymous::Off;
    let server = ferry_testkit::Ferryd::builder(config)
        .listen_sftp("127.0.0.1:0")
        .start();
    let port = server.sftp.unwrap().port();
    let url = |path: &str| format!("sftp://alice:wonderland@127.0.0.1:{port}/{path}");
    let home = Home::new();
    let bytes = test_bytes(3 << 20, 21);
    std::fs::write(home.work().join("up.bin"), &bytes).unwrap();

    // Unknown host: refused with its fingerprint, then accepted with the flag.
    let refused = home.run(&["ls", &url("")]);
    assert_one_line_error(&refused, "--accept-new-host-key");
    assert_ok(&home.run(&["put", "--accept-new-host-key", "up.bin", &url("up.bin")]));
    assert_file(root.path().join("alice/up.bin"), &bytes);
    let listed = home.run(&["ls", &url("")]);
    assert_ok(&listed);
    assert!(stdout(&listed).contains("up.bin"), "{}", stdout(&listed));
    assert_ok(&home.run(&["get", &url("up.bin"), "-o", "down.bin"]));
    assert_file(home.work().join("down.bin"), &bytes);
    assert_ok(&home.run(&["rm", &url("up.bin")]));
    assert!(!root.path().join("alice/up.bin").exists());
}
