//! Peer FTP servers for the client's interop tests: vsftpd (plain, and FTPS with its default
//! `require_ssl_reuse=YES`), Pure-FTPd with a virtual user, pyftpdlib (plain, and FTPS with
//! `TLS_FTPHandler`), and ProFTPD with mod_digest (the HASH peer for the server's tests).
//!
//! Each starts in the foreground on a free loopback high port with a config written at test time,
//! serving a fresh temporary folder, and is killed when its [`Peer`] is dropped (also when the
//! test panics). vsftpd and Pure-FTPd come from `peers/install.sh` (unpacked under
//! `/opt/ferry-peers`, or `$FERRY_PEERS`), which `.ci/run` calls; a missing one fails the test
//! with that hint. This module does not test anything itself: `tests/peers.rs` proves it with curl.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::TestCert;

/// The system user vsftpd logs in and Pure-FTPd's virtual user runs as (made by install.sh).
pub(crate) const SYSTEM_USER: &str = "ferrypeer";
/// Its password: a throwaway test fixture, set by install.sh on test machines only.
pub(crate) const SYSTEM_PASSWORD: &str = "ferrypeer-pass";
/// The PAM service file install.sh writes to /etc/pam.d.
const PAM_SERVICE: &str = "ferry-vsftpd";
/// Pure-FTPd's and pyftpdlib's user and password (made at test time).
const VIRTUAL_USER: &str = "ferry";
const VIRTUAL_PASSWORD: &str = "ferry-pass";
/// [`VIRTUAL_PASSWORD`] as SHA-512 crypt, for Pure-FTPd's passwd file.
const VIRTUAL_PASSWORD_HASH: &str = "$6$ferrysalt$qLAEGJQ3gkgTU.w6lwS.95nfIe./k3VftTBg3tN93mlrYKssPCLpEnHdEE5glLVZh2CnJ5.vd358rwEs52EIi.";
/// How long a peer may take to greet its first client.
const START_LIMIT: Duration = Duration::from_secs(15);
/// Tries with a new port when a peer exits at once (another process took the port between our
/// probe and its bind).
const START_TRIES: usize = 3;
/// The launcher for pyftpdlib.
const PYFTPD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/pyftpd.py");
const INSTALL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/install.sh");

/// Which peer server this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerKind {
    Vsftpd,
    VsftpdTls,
    PureFtpd,
    Pyftpdlib,
    PyftpdlibTls,
    Proftpd,
}

/// A running peer server; killed (and its folder removed) on drop.
pub(crate) struct Peer {
    /// Which server.
    pub(crate) kind: PeerKind,
    /// Where it listens (127.0.0.1, a high port).
    pub(crate) addr: SocketAddr,
    /// A user that may read and write the served folder.
    pub(crate) user: String,
    /// That user's password.
    pub(crate) password: String,
    /// For FTPS peers, the self-signed certificate to trust (`--cacert`, `--ca-file`); `None`
    /// for plain ones. FTPS peers are explicit (AUTH TLS on the control port) and refuse clear
    /// logins and clear data.
    pub(crate) ca_file: Option<PathBuf>,
    child: Child,
    folder: TempDir,
    /// Config files, password database, certificate.
    _work: TempDir,
    _cert: Option<TestCert>,
    owner: Option<(u32, u32)>,
}

impl Peer {
    /// The folder the peer serves as `/` to [`Peer::user`].
    pub(crate) fn folder(&self) -> &Path {
        self.folder.path()
    }

    /// `ftp://user:password@127.0.0.1:port/` followed by `path` (no leading slash, already
    /// percent-encoded).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("ftp://{}:{}@{}/{path}", self.user, self.password, self.addr)
    }

    /// Writes a file below the served folder (creating folders), owned by the user the peer
    /// runs sessions as, so the client may also rename or delete it.
    pub(crate) fn write(&self, relative: &str, bytes: &[u8]) {
        let path = self.folder().join(relative);
        let mut created = Vec::new();
        let mut parent = path.parent();
        while let Some(folder) = parent {
            if folder == self.folder() || folder.exists() {
                break;
            }
            created.push(folder.to_path_buf());
            parent = folder.parent();
        }
        super::write(&path, bytes);
        created.push(path);
        for item in created {
            self.give(&item);
        }
    }

    /// Makes `path` belong to the peer's session user.
    fn give(&self, path: &Path) {
        if let Some((uid, gid)) = self.owner
            && let Err(error) = std::os::unix::fs::chown(path, Some(uid), Some(gid))
        {
            panic!("cannot give {} to {SYSTEM_USER}: {error}", path.display());
        }
    }
}

impl Drop for Peer {
    /// Kills the server and the session processes it forked (vsftpd and Pure-FTPd fork one per
    /// session): they share a process group of their own, whose id is the server's pid.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Peer")
            .field("kind", &self.kind)
            .field("addr", &self.addr)
            .field("folder", &self.folder())
            .finish_non_exhaustive()
    }
}

/// vsftpd, plain FTP, logging in [`SYSTEM_USER`].
pub(crate) fn vsftpd() -> Peer {
    start_vsftpd(None)
}

/// vsftpd with `ssl_enable=YES`: explicit FTPS only (clear logins and clear data refused), and
/// `require_ssl_reuse=YES` (its default): data connections must resume the control
/// connection's TLS session. Capped at TLS 1.2 (through an OpenSSL config file for its process):
/// vsftpd 3.0.3 over TLS 1.3 answers uploads `426 Failure reading network stream` about every
/// other time (curl, measured here: 3 of 6 over TLS 1.3, 0 of 8 over TLS 1.2).
pub(crate) fn vsftpd_tls() -> Peer {
    start_vsftpd(Some(TlsMax::Tls12))
}

/// [`vsftpd_tls`] with TLS 1.3 allowed, as vsftpd ships: for checking TLS 1.3 session reuse.
/// Its uploads are unreliable (see [`vsftpd_tls`]).
pub(crate) fn vsftpd_tls13() -> Peer {
    start_vsftpd(Some(TlsMax::Tls13))
}

/// The newest TLS version a TLS peer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMax {
    Tls12,
    Tls13,
}

/// Pure-FTPd with a virtual user from a puredb made by `pure-pw mkdb` at test time.
pub(crate) fn pure_ftpd() -> Peer {
    let root = peers_root();
    let binary = installed(&root, "usr/sbin/pure-ftpd");
    let pure_pw = installed(&root, "usr/bin/pure-pw");
    let owner = system_user();
    let work = tempfile::tempdir().expect("a folder for the peer's files");
    let folder = served_folder(owner);
    let passwd = work.path().join("pureftpd.passwd");
    let database = work.path().join("pureftpd.pdb");
    // The passwd line `pure-pw useradd` would write, but with a SHA-512-crypt hash made once
    // (`openssl passwd -6 -salt ferrysalt ferry-pass`): pure-pw's own argon2id (t=511) costs
    // seconds of CPU at every login. Pure-FTPd checks it with crypt(3).
    let line = format!(
        "{VIRTUAL_USER}:{VIRTUAL_PASSWORD_HASH}:{uid}:{gid}::{home}/./::::::::::::\n",
        uid = owner.0,
        gid = owner.1,
        home = folder.path().display()
    );
    super::write(&passwd, line.as_bytes());
    let mut mkdb = Command::new(&pure_pw);
    mkdb.arg("mkdb").arg(&database).arg("-f").arg(&passwd);
    run_setup(&mut mkdb);
    let (child, addr) = spawn_on_free_port(PeerKind::PureFtpd, &work.path().join("log"), |port| {
        let mut command = Command::new(&binary);
        // -E: no anonymous; -A: chroot everyone; -H: no DNS look-ups.
        command
            .arg("-S")
            .arg(format!("127.0.0.1,{port}"))
            .arg("-l")
            .arg(format!("puredb:{}", database.display()))
            .args(["-E", "-A", "-H"]);
        command
    });
    Peer {
        kind: PeerKind::PureFtpd,
        addr,
        user: VIRTUAL_USER.into(),
        password: VIRTUAL_PASSWORD.into(),
        ca_file: None,
        child,
        folder,
        _work: work,
        _cert: None,
        owner: Some(owner),
    }
}

/// ProFTPD (Debian's 1.3.8) with mod_digest loaded and every algorithm on (`DigestAlgorithms
/// all`), one virtual user ([`VIRTUAL_USER`]) chrooted to the served folder and running as
/// [`SYSTEM_USER`].
pub(crate) fn proftpd() -> Peer {
    let root = peers_root();
    let binary = installed(&root, "usr/sbin/proftpd");
    let modules = installed(&root, "usr/lib/proftpd/mod_digest.so")
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let owner = system_user();
    let work = tempfile::tempdir().expect("a folder for the peer's files");
    // ProFTPD reads its files as root, but refuses a world-writable folder for them.
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755))
        .expect("work folder mode");
    let folder = served_folder(owner);
    let passwd = work.path().join("passwd");
    let group = work.path().join("group");
    super::write(
        &passwd,
        format!(
            "{VIRTUAL_USER}:{VIRTUAL_PASSWORD_HASH}:{uid}:{gid}::{home}:/bin/sh\n",
            uid = owner.0,
            gid = owner.1,
            home = folder.path().display()
        )
        .as_bytes(),
    );
    super::write(&group, format!("{SYSTEM_USER}:x:{}:\n", owner.1).as_bytes());
    for file in [&passwd, &group] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
            .expect("ProFTPD wants its auth files private");
    }
    let (child, addr) = spawn_on_free_port(PeerKind::Proftpd, &work.path().join("log"), |port| {
        let dir = work.path().display();
        let config = format!(
            "ServerType standalone\nServerName \"peer\"\nDefaultServer on\n\
             DefaultAddress 127.0.0.1\nPort {port}\nUseIPv6 off\n\
             User {SYSTEM_USER}\nGroup {SYSTEM_USER}\n\
             PidFile {dir}/proftpd-{port}.pid\nScoreboardFile {dir}/scoreboard-{port}\n\
             DelayTable none\nWtmpLog off\nTransferLog none\nUseReverseDNS off\n\
             RequireValidShell off\nAuthOrder mod_auth_file.c\n\
             AuthUserFile {passwd}\nAuthGroupFile {group}\nDefaultRoot ~\n\
             ModulePath {modules}\nLoadModule mod_digest.c\n\
             DigestEngine on\nDigestAlgorithms all\n\
             <Directory />\n  AllowOverwrite on\n</Directory>\n",
            passwd = passwd.display(),
            group = group.display(),
            modules = modules.display(),
        );
        let file = work.path().join(format!("proftpd-{port}.conf"));
        super::write(&file, config.as_bytes());
        let mut command = Command::new(&binary);
        // -n: in the foreground; -q: quiet start.
        command.arg("-n").arg("-q").arg("-c").arg(file);
        command
    });
    Peer {
        kind: PeerKind::Proftpd,
        addr,
        user: VIRTUAL_USER.into(),
        password: VIRTUAL_PASSWORD.into(),
        ca_file: None,
        child,
        folder,
        _work: work,
        _cert: None,
        owner: Some(owner),
    }
}

/// pyftpdlib's `FTPHandler` with one `DummyAuthorizer` user (full rights).
pub(crate) fn pyftpdlib() -> Peer {
    start_pyftpdlib(false)
}

/// pyftpdlib's `TLS_FTPHandler` (pyOpenSSL): explicit FTPS, TLS required on control and data.
/// It does not require session reuse.
pub(crate) fn pyftpdlib_tls() -> Peer {
    start_pyftpdlib(true)
}

fn start_vsftpd(tls: Option<TlsMax>) -> Peer {
    let root = peers_root();
    let binary = installed(&root, "usr/sbin/vsftpd");
    let owner = system_user();
    let empty = root.join("empty");
    assert!(
        empty.is_dir() && Path::new(&format!("/etc/pam.d/{PAM_SERVICE}")).is_file(),
        "{} and /etc/pam.d/{PAM_SERVICE} are missing: {}",
        empty.display(),
        install_hint()
    );
    let work = tempfile::tempdir().expect("a folder for the peer's files");
    let folder = served_folder(owner);
    let cert = tls.map(|_| TestCert::new());
    let kind = if tls.is_some() {
        PeerKind::VsftpdTls
    } else {
        PeerKind::Vsftpd
    };
    let openssl_config = work.path().join("openssl.cnf");
    super::write(
        &openssl_config,
        b"openssl_conf = ferry_conf\n[ferry_conf]\nssl_conf = ferry_ssl\n\
          [ferry_ssl]\nsystem_default = ferry_tls\n[ferry_tls]\nMaxProtocol = TLSv1.2\n",
    );
    let (child, addr) = spawn_on_free_port(kind, &work.path().join("log"), |port| {
        let mut config = format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
             background=NO\nseccomp_sandbox=NO\nanonymous_enable=NO\nlocal_enable=YES\n\
             write_enable=YES\nlocal_umask=022\nlocal_root={folder}\ncheck_shell=NO\n\
             pam_service_name={PAM_SERVICE}\nsecure_chroot_dir={empty}\nxferlog_enable=NO\n\
             connect_from_port_20=NO\nuserlist_enable=NO\ntcp_wrappers=NO\n",
            folder = folder.path().display(),
            empty = empty.display(),
        );
        if let Some(cert) = &cert {
            config.push_str(&format!(
                "ssl_enable=YES\nrsa_cert_file={}\nrsa_private_key_file={}\nssl_ciphers=HIGH\n\
                 force_local_logins_ssl=YES\nforce_local_data_ssl=YES\n\
                 # The default, written out: data connections must resume the control session.\n\
                 require_ssl_reuse=YES\n",
                cert.cert.display(),
                cert.key.display()
            ));
        }
        let file = work.path().join(format!("vsftpd-{port}.conf"));
        super::write(&file, config.as_bytes());
        let mut command = Command::new(&binary);
        command.arg(file);
        if tls == Some(TlsMax::Tls12) {
            command.env("OPENSSL_CONF", &openssl_config);
        }
        command
    });
    Peer {
        kind,
        addr,
        user: SYSTEM_USER.into(),
        password: SYSTEM_PASSWORD.into(),
        ca_file: cert.as_ref().map(|cert| cert.cert.clone()),
        child,
        folder,
        _work: work,
        _cert: cert,
        owner: Some(owner),
    }
}

fn start_pyftpdlib(tls: bool) -> Peer {
    let python = super::tool("python3", "python3");
    let check = Command::new(&python)
        .args(["-c", "import pyftpdlib, OpenSSL"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        check.is_ok_and(|status| status.success()),
        "pyftpdlib or pyOpenSSL is not installed for {}: {}",
        python.display(),
        install_hint()
    );
    let work = tempfile::tempdir().expect("a folder for the peer's files");
    let folder = tempfile::tempdir().expect("the served folder");
    let cert = tls.then(TestCert::new);
    let kind = if tls {
        PeerKind::PyftpdlibTls
    } else {
        PeerKind::Pyftpdlib
    };
    let (child, addr) = spawn_on_free_port(kind, &work.path().join("log"), |port| {
        let mut command = Command::new(&python);
        command
            .arg(PYFTPD)
            .args(["--port", &port.to_string()])
            .args(["--user", VIRTUAL_USER, "--password", VIRTUAL_PASSWORD])
            .arg("--folder")
            .arg(folder.path());
        if let Some(cert) = &cert {
            command
                .arg("--cert")
                .arg(&cert.cert)
                .arg("--key")
                .arg(&cert.key);
        }
        command
    });
    Peer {
        kind,
        addr,
        user: VIRTUAL_USER.into(),
        password: VIRTUAL_PASSWORD.into(),
        ca_file: cert.as_ref().map(|cert| cert.cert.clone()),
        child,
        folder,
        _work: work,
        _cert: cert,
        owner: None,
    }
}

/// Where install.sh put the peers.
fn peers_root() -> PathBuf {
    std::env::var_os("FERRY_PEERS").map_or_else(|| PathBuf::from("/opt/ferry-peers"), PathBuf::from)
}

/// `relative` below the unpacked packages, or a failure saying how to install it.
fn installed(root: &Path, relative: &str) -> PathBuf {
    let path = root.join("root").join(relative);
    if !path.is_file() {
        panic!("{} is missing: {}", path.display(), install_hint());
    }
    path
}

fn install_hint() -> String {
    if ferry_testkit::on_ci() {
        format!("CI=true, so scripts/test must have installed the peers: it runs {INSTALL}")
    } else {
        format!("install the peer servers with `sudo bash {INSTALL}` (or run scripts/test)")
    }
}

/// The uid and gid of [`SYSTEM_USER`], from /etc/passwd.
fn system_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() > 3
            && fields[0] == SYSTEM_USER
            && let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse())
        {
            return (uid, gid);
        }
    }
    panic!("no user {SYSTEM_USER} on this machine: {}", install_hint());
}

/// A fresh temporary folder that `owner` may write and others may read.
fn served_folder(owner: (u32, u32)) -> TempDir {
    let folder = tempfile::tempdir().expect("the served folder");
    std::os::unix::fs::chown(folder.path(), Some(owner.0), Some(owner.1))
        .expect("give the served folder to the peer user");
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o755))
        .expect("make the served folder readable");
    folder
}

/// Runs a short setup command (bounded by [`START_LIMIT`]); fails the test unless it exits
/// with 0.
fn run_setup(command: &mut Command) {
    let shown = format!("{command:?}");
    let output = ferry_testkit::run_bounded(command, START_LIMIT);
    assert!(
        output.status.success(),
        "{shown} failed with {}: {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    probe.local_addr().expect("the probe's address").port()
}

/// Starts `make(port)` on a free port and waits until it greets a client with `220`; tries a
/// new port when the server exits at once.
/// Its output goes to `log` (a file, so a chatty server never blocks on a full pipe).
fn spawn_on_free_port(
    kind: PeerKind,
    log: &Path,
    mut make: impl FnMut(u16) -> Command,
) -> (Child, SocketAddr) {
    let mut failures = Vec::new();
    for _ in 0..START_TRIES {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut command = make(port);
        let shown = format!("{command:?}");
        let output = std::fs::File::create(log).expect("create the peer's log file");
        let errors = output.try_clone().expect("a second handle on the log file");
        let mut child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {shown}: {error}"));
        match wait_for_greeting(&mut child, addr) {
            Ok(()) => return (child, addr),
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                let said = std::fs::read_to_string(log).unwrap_or_default();
                failures.push(format!("{shown}: {why}; output: {}", said.trim()));
            }
        }
    }
    panic!(
        "{kind:?} did not start in {START_TRIES} tries:\n{}",
        failures.join("\n")
    );
}

/// Connects until the server answers `220` (bounded by [`START_LIMIT`]); gives up at once if the
/// process exits.
fn wait_for_greeting(child: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + START_LIMIT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}"));
        }
        if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("set a read timeout");
            let mut line = String::new();
            let read = BufReader::new(&stream).read_line(&mut line);
            if read.is_ok() && line.starts_with("220") {
                // Someone else's server on a port taken between the probe and our bind?
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "exited with {status}, and {addr} is another server"
                    ));
                }
                return Ok(());
            }
            return Err(format!("greeting was {line:?} ({read:?})"));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no connection accepted on {addr} in {START_LIMIT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
