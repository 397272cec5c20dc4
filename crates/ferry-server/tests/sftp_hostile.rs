//! A hostile SFTP client, spoken by hand over a russh connection: thousands of handles, a 4 GiB
//! length field, NUL and `..` in paths, and wrong passwords that count toward FTP's ban. Each
//! gets a clean error and the server goes on serving.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferry_proto::sftp::{OpenFlags, Packet, PacketDecoder, StatusCode};
use ferry_server::{Config, User};
use ferry_testkit::Ferryd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Trusts any server key (the test's own ferryd).
struct Trusting;

impl russh::client::Handler for Trusting {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, russh::Error> {
        Ok(true)
    }
}

/// ferryd serving SFTP on a temporary folder with alice (password `wonderland`, home `/`).
fn server(edit: impl FnOnce(&mut Config)) -> (tempfile::TempDir, Ferryd) {
    let root = tempfile::tempdir().unwrap();
    let mut config = Config::for_folder(root.path());
    let alice = User::new(b"wonderland", String::new(), false).unwrap();
    config.users.users.insert("alice".into(), alice);
    edit(&mut config);
    let running = Ferryd::builder(config)
        .listen("127.0.0.1:0")
        .listen_sftp("127.0.0.1:0")
        .start();
    (root, running)
}

/// An SSH connection that logs in with `password` (or fails to).
async fn ssh(addr: SocketAddr, password: &str) -> (russh::client::Handle<Trusting>, bool) {
    let config = Arc::new(russh::client::Config::default());
    let mut handle = russh::client::connect(config, addr, Trusting)
        .await
        .unwrap();
    let result = handle
        .authenticate_password("alice", password)
        .await
        .unwrap();
    (handle, result.success())
}

/// An SFTP channel, raw: bytes out, packets in.
struct Raw {
    stream: russh::ChannelStream<russh::client::Msg>,
    decoder: PacketDecoder,
}

impl Raw {
    async fn open(addr: SocketAddr) -> Raw {
        let (handle, ok) = ssh(addr, "wonderland").await;
        assert!(ok, "alice's password was refused");
        let channel = handle.channel_open_session().await.unwrap();
        channel.request_subsystem(true, "sftp").await.unwrap();
        // The handle must live as long as the channel: keep it in a task of its own.
        tokio::spawn(async move {
            let _keep = handle;
            tokio::time::sleep(Duration::from_secs(120)).await;
        });
        let mut raw = Raw {
            stream: channel.into_stream(),
            decoder: PacketDecoder::default(),
        };
        raw.send(&Packet::Init {
            version: 3,
            extensions: Vec::new(),
        })
        .await;
        assert!(matches!(raw.next().await, Some(Packet::Version { .. })));
        raw
    }

    async fn send(&mut self, packet: &Packet) {
        self.send_bytes(&packet.to_bytes()).await;
    }

    async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// The next reply; `None` when the server closed the channel.
    async fn next(&mut self) -> Option<Packet> {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            if let Some(packet) = self.decoder.next_packet().unwrap() {
                return Some(packet);
            }
            let read = tokio::time::timeout(Duration::from_secs(20), self.stream.read(&mut buffer))
                .await
                .expect("a reply within 20 s")
                .ok()?;
            if read == 0 {
                return None;
            }
            self.decoder.extend(&buffer[..read]);
        }
    }

    async fn open_file(&mut self, id: u32, path: &[u8]) -> Packet {
        let open = Packet::Open {
            id,
            filename: path.to_vec(),
            flags: OpenFlags::READ,
            attrs: Default::default(),
        };
        self.send(&open).await;
        self.next().await.expect("a reply to OPEN")
    }
}

fn status_code(packet: &Packet) -> Option<StatusCode> {
    match packet {
        Packet::Status { code, .. } => Some(*code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_handles_meet_a_limit_and_the_server_goes_on() {
    let (root, running) = server(|_| {});
    std::fs::write(root.path().join("f.txt"), b"data").unwrap();
    let addr = running.sftp.unwrap();
    let mut raw = Raw::open(addr).await;
    let mut handles = 0;
    let mut refused = 0;
    for id in 0..10_000u32 {
        match raw.open_file(id, b"f.txt").await {
            Packet::Handle { .. } => handles += 1,
            reply => {
                assert_eq!(status_code(&reply), Some(StatusCode::FAILURE), "{reply:?}");
                refused += 1;
            }
        }
    }
    assert_eq!((handles, refused), (256, 10_000 - 256));
    // The session still answers, and so does a new one.
    assert!(matches!(
        raw.open_file(20_000, b"f.txt").await,
        Packet::Status { .. }
    ));
    let mut other = Raw::open(addr).await;
    assert!(matches!(
        other.open_file(1, b"f.txt").await,
        Packet::Handle { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4_gib_length_ends_that_session_only() {
    let (_root, running) = server(|_| {});
    let addr = running.sftp.unwrap();
    let mut raw = Raw::open(addr).await;
    raw.send_bytes(&[0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0, 1])
        .await;
    assert!(
        raw.next().await.is_none(),
        "the session went on after a 4 GiB length"
    );
    let mut other = Raw::open(addr).await;
    other
        .send(&Packet::Realpath {
            id: 7,
            path: b".".to_vec(),
        })
        .await;
    assert!(matches!(
        other.next().await,
        Some(Packet::Name { id: 7, .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_dotdot_and_links_out_of_the_root_are_refused() {
    let (root, running) = server(|_| {});
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"outside").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("link")).unwrap();
    let mut raw = Raw::open(running.sftp.unwrap()).await;
    // `..` cannot climb above the root: this names /etc/passwd under the root, which is not
    // there.
    let climbed = raw.open_file(1, b"../../../../etc/passwd").await;
    assert_eq!(
        status_code(&climbed),
        Some(StatusCode::NO_SUCH_FILE),
        "{climbed:?}"
    );
    // A NUL inside a path is a bad message for that request; the session goes on.
    let nul = raw.open_file(2, b"f\0.txt").await;
    assert_eq!(status_code(&nul), Some(StatusCode::BAD_MESSAGE), "{nul:?}");
    // A symlink that leads out of the root is not followed.
    let linked = raw.open_file(3, b"link").await;
    assert!(
        status_code(&linked).is_some(),
        "a link out of the root opened: {linked:?}"
    );
    raw.send(&Packet::Realpath {
        id: 4,
        path: b"/../..".to_vec(),
    })
    .await;
    let Some(Packet::Name { entries, .. }) = raw.next().await else {
        panic!("no NAME for REALPATH");
    };
    assert_eq!(entries[0].filename, b"/");
}

/// Wrong SSH passwords and wrong FTP passwords from one address count toward one ban.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ssh_and_ftp_passwords_share_one_ban() {
    let (_root, running) = server(|config| {
        config.max_login_failures = 3;
        config.login_failure_delay = Duration::from_millis(10);
    });
    let sftp = running.sftp.unwrap();
    for _ in 0..2 {
        let (_handle, ok) = ssh(sftp, "wrong").await;
        assert!(!ok);
    }
    let ftp = running.addr;
    let reply = tokio::task::spawn_blocking(move || {
        let mut client = common::Client::connect(ftp);
        client.expect("USER alice", 331);
        client.cmd("PASS wrong")
    })
    .await
    .unwrap();
    assert_eq!(
        reply.code.0, 421,
        "the third failure (over FTP) bans: {reply}"
    );
    // Banned: even the right password no longer logs in over SSH.
    let banned = tokio::time::timeout(Duration::from_secs(10), async {
        let config = Arc::new(russh::client::Config::default());
        match russh::client::connect(config, sftp, Trusting).await {
            Ok(mut handle) => handle
                .authenticate_password("alice", "wonderland")
                .await
                .map(|r| r.success())
                .unwrap_or(false),
            Err(_) => false,
        }
    })
    .await
    .unwrap();
    assert!(!banned, "a banned address logged in over SSH");
}

impl Raw {
    /// OPEN for writing (`CREAT|TRUNC`); the handle.
    async fn create(&mut self, id: u32, path: &[u8]) -> Vec<u8> {
        let open = Packet::Open {
            id,
            filename: path.to_vec(),
            flags: OpenFlags(OpenFlags::WRITE.0 | OpenFlags::CREAT.0 | OpenFlags::TRUNC.0),
            attrs: Default::default(),
        };
        self.send(&open).await;
        match self.next().await {
            Some(Packet::Handle { handle, .. }) => handle,
            reply => panic!("OPEN for writing: {reply:?}"),
        }
    }

    async fn write(&mut self, id: u32, handle: &[u8], offset: u64, data: &[u8]) -> Packet {
        let write = Packet::Write {
            id,
            handle: handle.to_vec(),
            offset,
            data: data.to_vec(),
        };
        self.send(&write).await;
        self.next().await.expect("a reply to WRITE")
    }
}

/// Writes out of order fail with a message and publish nothing (the old file stays whole);
/// in order, the file appears only at CLOSE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_writes_fail_and_publish_nothing() {
    let (root, running) = server(|_| {});
    std::fs::write(root.path().join("f.bin"), b"old contents").unwrap();
    let mut raw = Raw::open(running.sftp.unwrap()).await;
    let handle = raw.create(1, b"f.bin").await;
    assert_eq!(
        status_code(&raw.write(2, &handle, 0, b"0123").await),
        Some(StatusCode::OK)
    );
    let skipped = raw.write(3, &handle, 100, b"gap").await;
    let Packet::Status { code, message, .. } = &skipped else {
        panic!("{skipped:?}");
    };
    assert_eq!(*code, StatusCode::FAILURE);
    assert!(
        String::from_utf8_lossy(message).contains("in order"),
        "{skipped:?}"
    );
    raw.send(&Packet::Close { id: 4, handle }).await;
    let closed = raw.next().await.unwrap();
    assert_eq!(
        status_code(&closed),
        Some(StatusCode::FAILURE),
        "{closed:?}"
    );
    assert_eq!(
        std::fs::read(root.path().join("f.bin")).unwrap(),
        b"old contents"
    );

    let handle = raw.create(5, b"g.bin").await;
    assert_eq!(
        status_code(&raw.write(6, &handle, 0, b"new ").await),
        Some(StatusCode::OK)
    );
    assert_eq!(
        status_code(&raw.write(7, &handle, 4, b"file").await),
        Some(StatusCode::OK)
    );
    assert!(!root.path().join("g.bin").exists(), "visible before CLOSE");
    raw.send(&Packet::Close { id: 8, handle }).await;
    assert_eq!(
        status_code(&raw.next().await.unwrap()),
        Some(StatusCode::OK)
    );
    assert_eq!(
        std::fs::read(root.path().join("g.bin")).unwrap(),
        b"new file"
    );
}

/// Creating a file over a folder is refused at OPEN (no handle, no partial), and the folder
/// stays; a fresh create over an interrupted upload's partial starts from zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_over_a_folder_is_refused_at_open() {
    let (root, running) = server(|_| {});
    std::fs::create_dir(root.path().join("box")).unwrap();
    std::fs::write(root.path().join("box/kept.txt"), b"kept").unwrap();
    std::fs::write(root.path().join(".ferry-partial.f.bin"), b"stale bytes").unwrap();
    let mut raw = Raw::open(running.sftp.unwrap()).await;
    let open = Packet::Open {
        id: 1,
        filename: b"box".to_vec(),
        flags: OpenFlags(OpenFlags::WRITE.0 | OpenFlags::CREAT.0 | OpenFlags::TRUNC.0),
        attrs: Default::default(),
    };
    raw.send(&open).await;
    let refused = raw.next().await.unwrap();
    assert_eq!(
        status_code(&refused),
        Some(StatusCode::FAILURE),
        "{refused:?}"
    );
    assert!(root.path().join("box").is_dir());
    assert_eq!(
        std::fs::read(root.path().join("box/kept.txt")).unwrap(),
        b"kept"
    );

    let handle = raw.create(2, b"f.bin").await;
    assert_eq!(
        status_code(&raw.write(3, &handle, 0, b"new").await),
        Some(StatusCode::OK)
    );
    raw.send(&Packet::Close { id: 4, handle }).await;
    assert_eq!(
        status_code(&raw.next().await.unwrap()),
        Some(StatusCode::OK)
    );
    assert_eq!(std::fs::read(root.path().join("f.bin")).unwrap(), b"new");
    assert!(!root.path().join(".ferry-partial.f.bin").exists());
}

/// A connection lost in the middle of an upload leaves the old file whole; what arrived waits
/// in a partial (for `reput`), not under the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_upload_leaves_the_old_file_whole() {
    let (root, running) = server(|_| {});
    std::fs::write(root.path().join("f.bin"), b"old contents").unwrap();
    let mut raw = Raw::open(running.sftp.unwrap()).await;
    let handle = raw.create(1, b"f.bin").await;
    let chunk = vec![7u8; 32 * 1024];
    for (id, offset) in (2..10).zip((0..).step_by(chunk.len())) {
        assert_eq!(
            status_code(&raw.write(id, &handle, offset, &chunk).await),
            Some(StatusCode::OK)
        );
    }
    drop(raw);
    let partial = root
        .path()
        .join(format!("{}f.bin", ferry_storage::PARTIAL_PREFIX));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < 8 * 32 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "no partial of 256 KiB"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        std::fs::read(root.path().join("f.bin")).unwrap(),
        b"old contents"
    );
}

/// The real ferryd: a user removed from the users file and a SIGHUP end that user's open SFTP
/// session (as they end FTP's with 421).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_users_sftp_session_ends_on_reload() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let users_arg = users.to_str().unwrap().to_string();
    let added = common::ferryd(
        &[
            "user",
            "add",
            "alice",
            "--users",
            &users_arg,
            "--password-stdin",
        ],
        b"wonderland\n",
    );
    assert!(added.status.success(), "{added:?}");
    let key = dir.path().join("host_key");
    let mut child = std::process::Command::new(common::FERRYD)
        .arg(dir.path())
        .args(["--bind", "127.0.0.1:0", "--sftp-bind", "127.0.0.1:0"])
        .args([
            "--users",
            &users_arg,
            "--ssh-host-key",
            key.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut sftp = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(addr) = line.strip_prefix("Listening on sftp://") {
            sftp = Some(addr.parse::<SocketAddr>().unwrap());
        }
        if line.starts_with("Who may log in") {
            break;
        }
    }
    let mut raw = Raw::open(sftp.expect("an sftp:// line")).await;
    let removed = common::ferryd(&["user", "remove", "alice", "--users", &users_arg], b"");
    assert!(removed.status.success(), "{removed:?}");
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let ended = tokio::time::timeout(Duration::from_secs(5), raw.next()).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        matches!(ended, Ok(None)),
        "the removed user's session went on: {ended:?}"
    );
}
