//! `ferry`'s engine (the `ferry-client` library) against other FTP servers: pyftpdlib, vsftpd
//! and Pure-FTPd, each started on a free loopback port with a configuration written here into a
//! temporary folder. The same scenario runs against each: folders, uploads, listings (MLSD, or
//! LIST parsed when the server has no MLSD, as vsftpd), downloads, resume with REST, SIZE,
//! rename, delete, active mode, and mirrors both ways whose second run transfers nothing.
//!
//! A missing server fails the test with what to install. vsftpd and Pure-FTPd must run as root
//! (they chroot and drop privileges to the system users `daemon` and `nobody`).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry_client::connection::{ConnectOptions, Connection, Connector};
use ferry_client::credentials::Credentials;
use ferry_client::progress::{ProgressMode, Silent};
use ferry_client::transfer::{self, Direction};
use ferry_proto::listing::EntryKind;

/// A peer server process; killed (by its own pid) when dropped.
struct Peer {
    child: Child,
    port: u16,
    credentials: Credentials,
    /// Where the scenario may write, relative to the login folder.
    writable: &'static str,
    _dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn missing(what: &str, install: &str) -> ! {
    panic!("{what} is not installed: the interop suite needs it ({install}); .ci/run installs it")
}

fn find_program(name: &str, env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut folders: Vec<PathBuf> = std::env::split_paths(&path).collect();
    // /opt/vsftpd: where .ci/run unpacks vsftpd, whose package conflicts with pure-ftpd's.
    folders.extend(
        [
            "/usr/sbin",
            "/usr/local/sbin",
            "/sbin",
            "/opt/vsftpd/usr/sbin",
        ]
        .map(PathBuf::from),
    );
    folders
        .into_iter()
        .map(|folder| folder.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| missing(name, &format!("apt-get install {name}, or set {env}")))
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits (bounded) until something accepts on the port and sends its greeting.
fn wait_ready(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the server exited before it was ready: {status}");
        }
        if let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
            use std::io::Read;
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut greeting = [0u8; 3];
            if stream.read_exact(&mut greeting).is_ok() && &greeting == b"220" {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the server on {port} never became ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pyftpdlib() -> Peer {
    let check = Command::new("python3")
        .args(["-c", "import pyftpdlib"])
        .stderr(Stdio::null())
        .status();
    if !check.is_ok_and(|status| status.success()) {
        missing("pyftpdlib", "pip install pyftpdlib");
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new("python3")
        .args([
            "-m",
            "pyftpdlib",
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-w",
            "-d",
        ])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&mut child, port);
    Peer {
        child,
        port,
        credentials: Credentials::anonymous(),
        writable: "",
        _dir: dir,
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// uid and gid of a system user the servers drop to.
fn system_user(name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let prefix = format!("{name}:");
    let line = passwd
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} user in /etc/passwd"));
    let fields: Vec<&str> = line.split(':').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

fn vsftpd() -> Peer {
    let program = find_program("vsftpd", "FERRY_VSFTPD");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let upload = root.join("up");
    let empty = dir.path().join("empty");
    for folder in [&root, &upload, &empty] {
        std::fs::create_dir(folder).unwrap();
    }
    // vsftpd refuses a writable chroot; the anonymous user writes below it.
    set_mode(dir.path(), 0o755);
    set_mode(&root, 0o755);
    set_mode(&empty, 0o755);
    // vsftpd enters the anonymous user's home before its anon_root: `daemon` has one that
    // exists (/usr/sbin), `nobody` does not.
    let (uid, gid) = system_user("daemon");
    std::os::unix::fs::chown(&upload, Some(uid), Some(gid)).unwrap();
    let port = free_port();
    let config = dir.path().join("vsftpd.conf");
    std::fs::write(
        &config,
        format!(
            "listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
             anonymous_enable=YES\nlocal_enable=NO\nanon_root={root}\nwrite_enable=YES\n\
             anon_upload_enable=YES\nanon_mkdir_write_enable=YES\nanon_other_write_enable=YES\n\
             anon_umask=022\nftp_username=daemon\nnopriv_user=daemon\n\
             secure_chroot_dir={empty}\nseccomp_sandbox=NO\nxferlog_enable=NO\n\
             port_enable=YES\nconnect_from_port_20=NO\n",
            root = root.display(),
            empty = empty.display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(program)
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&mut child, port);
    Peer {
        child,
        port,
        credentials: Credentials::anonymous(),
        writable: "up/",
        _dir: dir,
    }
}

fn pure_ftpd() -> Peer {
    let program = find_program("pure-ftpd", "FERRY_PURE_FTPD");
    let pure_pw = find_program("pure-pw", "FERRY_PURE_PW");
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let (uid, gid) = system_user("nobody");
    std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
    let passwd = dir.path().join("pureftpd.passwd");
    let database = dir.path().join("pureftpd.pdb");
    let mut add = Command::new(&pure_pw)
        .args([
            "useradd",
            "ferry",
            "-u",
            &uid.to_string(),
            "-g",
            &gid.to_string(),
            "-d",
        ])
        .arg(&home)
        .arg("-f")
        .arg(&passwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = add.stdin.take().unwrap();
        stdin.write_all(b"interop-pw\ninterop-pw\n").unwrap();
    }
    assert!(add.wait().unwrap().success(), "pure-pw useradd failed");
    let status = Command::new(&pure_pw)
        .arg("mkdb")
        .arg(&database)
        .arg("-f")
        .arg(&passwd)
        .status()
        .unwrap();
    assert!(status.success(), "pure-pw mkdb failed");
    let port = free_port();
    let mut child = Command::new(program)
        .arg("-S")
        .arg(format!("127.0.0.1,{port}"))
        .arg("-l")
        .arg(format!("puredb:{}", database.display()))
        .args(["-E", "-A", "-H"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&mut child, port);
    Peer {
        child,
        port,
        credentials: Credentials {
            user: "ferry".into(),
            password: Some("interop-pw".into()),
        },
        writable: "",
        _dir: dir,
    }
}

fn connector(peer: &Peer, active: bool) -> Connector {
    Connector {
        host: "127.0.0.1".into(),
        port: peer.port,
        credentials: peer.credentials.clone(),
        options: ConnectOptions {
            active,
            timeout: Duration::from_secs(20),
            ..ConnectOptions::default()
        },
    }
}

async fn open(peer: &Peer, active: bool) -> Connection {
    connector(peer, active).open(|_: &str| None).await.unwrap()
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 % 251) as u8).collect()
}

/// Everything the client does, against one server. `expect_mlsd` says whether the server
/// offers MLSD (otherwise LIST is parsed).
async fn scenario(peer: &Peer, expect_mlsd: bool) {
    let local = tempfile::tempdir().unwrap();
    let base = format!("{}tree", peer.writable);
    let mut connection = open(peer, false).await;
    assert_eq!(connection.features().has("MLST"), expect_mlsd);

    // Folders and uploads, names with spaces included.
    connection.mkdir_all(&format!("{base}/sub")).await.unwrap();
    let big = payload(600 * 1024);
    std::fs::write(local.path().join("big.bin"), &big).unwrap();
    std::fs::write(local.path().join("a b.txt"), b"spaced name").unwrap();
    let stats = transfer::upload(
        &mut connection,
        &local.path().join("big.bin"),
        &format!("{base}/sub/big.bin"),
        &mut Silent,
    )
    .await
    .unwrap();
    assert_eq!(stats.size, big.len() as u64);
    transfer::upload(
        &mut connection,
        &local.path().join("a b.txt"),
        &format!("{base}/a b.txt"),
        &mut Silent,
    )
    .await
    .unwrap();

    // Listings, whichever way the server lists.
    let mut entries = connection.list(Some(&base)).await.unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let shown: Vec<(String, EntryKind)> = entries
        .iter()
        .map(|e| (String::from_utf8_lossy(&e.name).into_owned(), e.kind))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("a b.txt".into(), EntryKind::File),
            ("sub".into(), EntryKind::Dir)
        ]
    );
    assert_eq!(entries[0].size, 11);
    let sub = connection.list(Some(&format!("{base}/sub"))).await.unwrap();
    assert_eq!(sub.len(), 1);
    assert_eq!(sub[0].size, big.len() as u64);
    assert_eq!(
        connection
            .size(&format!("{base}/sub/big.bin"))
            .await
            .unwrap(),
        big.len() as u64
    );

    // Download, then resume from a partial whose bytes differ: REST must have been used.
    let target = local.path().join("down.bin");
    transfer::download(
        &mut connection,
        &format!("{base}/sub/big.bin"),
        &target,
        false,
        &mut Silent,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), big);
    let partial = transfer::partial_path(&target);
    std::fs::write(&partial, vec![b'Z'; 1000]).unwrap();
    let stats = transfer::download(
        &mut connection,
        &format!("{base}/sub/big.bin"),
        &target,
        true,
        &mut Silent,
    )
    .await
    .unwrap();
    assert_eq!(stats.resumed_from, 1000);
    let mut expected = vec![b'Z'; 1000];
    expected.extend_from_slice(&big[1000..]);
    assert_eq!(std::fs::read(&target).unwrap(), expected);

    // Rename and delete.
    connection
        .rename(&format!("{base}/a b.txt"), &format!("{base}/renamed.txt"))
        .await
        .unwrap();
    connection
        .delete(&format!("{base}/renamed.txt"))
        .await
        .unwrap();
    let error = connection
        .delete(&format!("{base}/renamed.txt"))
        .await
        .unwrap_err();
    assert_eq!(error.code().map(|c| c.0 / 100), Some(5), "{error}");

    // Active mode: the server connects back.
    let mut active = open(peer, true).await;
    let listed = active.list(Some(&format!("{base}/sub"))).await.unwrap();
    assert_eq!(listed.len(), 1);
    let active_copy = local.path().join("active.bin");
    transfer::download(
        &mut active,
        &format!("{base}/sub/big.bin"),
        &active_copy,
        false,
        &mut Silent,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&active_copy).unwrap(), big);
    active.quit().await;

    // Mirror down twice: the second run finds everything identical.
    let mirror_to = local.path().join("mirror");
    let connect = connector(peer, false);
    let report = transfer::mirror(
        &mut connection,
        &connect,
        Direction::Download,
        &base,
        &mirror_to,
        2,
        &ProgressMode::Silent,
    )
    .await
    .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.transferred, 1);
    assert_eq!(std::fs::read(mirror_to.join("sub/big.bin")).unwrap(), big);
    let report = transfer::mirror(
        &mut connection,
        &connect,
        Direction::Download,
        &base,
        &mirror_to,
        1,
        &ProgressMode::Silent,
    )
    .await
    .unwrap();
    assert_eq!((report.transferred, report.skipped), (0, 1));

    // Mirror the local tree up twice: the second run transfers nothing.
    let back = format!("{}back", peer.writable);
    for (round, expected_transferred) in [(1, 1), (2, 0)] {
        let report = transfer::mirror(
            &mut connection,
            &connect,
            Direction::Upload,
            &back,
            &mirror_to,
            2,
            &ProgressMode::Silent,
        )
        .await
        .unwrap();
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert_eq!(report.transferred, expected_transferred, "round {round}");
    }
    let round_trip = local.path().join("round.bin");
    transfer::download(
        &mut connection,
        &format!("{back}/sub/big.bin"),
        &round_trip,
        false,
        &mut Silent,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&round_trip).unwrap(), big);
    connection.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_pyftpdlib() {
    let peer = pyftpdlib();
    scenario(&peer, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_vsftpd() {
    let peer = vsftpd();
    scenario(&peer, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_pure_ftpd() {
    let peer = pure_ftpd();
    scenario(&peer, true).await;
}
