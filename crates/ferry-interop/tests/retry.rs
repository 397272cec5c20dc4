//! `--retry` across a server killed and restarted mid-file. pyftpdlib (one process, so SIGKILL
//! drops every connection at once, as a crash does) serves a 24 MiB file; `ferry get` paced to
//! 4 MiB/s with `--retry 5` is a third of the way in when the server is killed, and a new one
//! starts on the same port half a second later. The file must arrive byte-exact and the new
//! server's log must show fewer bytes sent than the file: resumed with REST, not from zero.
//! The same for `put` (the remote size, then REST + STOR) and for a file in flight in `mirror`.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry_client::connection::ConnectOptions;
use ferry_client::oneshot::{self, Globals};
use ferry_client::progress::ProgressMode;
use ferry_client::retry::Retry;
use ferry_client::sftp::SshOptions;

/// Larger than loopback's socket buffers (several MiB each way), so a server killed mid-file
/// has not handed the whole file to the kernel yet.
const SIZE: usize = 24 << 20;

/// pyftpdlib on `port`, user `u` / `p` with every right on `folder`, its log in `log`.
fn pyftpdlib(port: u16, folder: &Path, log: &Path) -> Child {
    let script = format!(
        "import logging\n\
         from pyftpdlib.authorizers import DummyAuthorizer\n\
         from pyftpdlib.handlers import FTPHandler\n\
         from pyftpdlib.servers import FTPServer\n\
         logging.basicConfig(level=logging.INFO)\n\
         authorizer = DummyAuthorizer()\n\
         authorizer.add_user('u', 'p', {folder:?}, perm='elradfmwMT')\n\
         FTPHandler.authorizer = authorizer\n\
         FTPServer(('127.0.0.1', {port}), FTPHandler).serve_forever()\n",
        folder = folder.display().to_string(),
    );
    let child = Command::new(common::tool("python3", "python3"))
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "pyftpdlib did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `bytes=` of every transfer pyftpdlib logged.
fn logged_bytes(log: &Path) -> Vec<u64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .split("bytes=")
        .skip(1)
        .map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().unwrap()
        })
        .collect()
}

fn globals() -> Globals {
    Globals {
        user: None,
        netrc: None,
        connect: ConnectOptions {
            timeout: Duration::from_secs(10),
            limit_rate: Some(4 << 20),
            ..ConnectOptions::default()
        },
        progress: ProgressMode::Silent,
        prompt_password: false,
        ssh: SshOptions::for_home(None),
        retry: Retry::times(5),
        verify: false,
    }
}

/// Kills `server` after `after`, waits half a second, and starts another on `port` logging to
/// `log`.
fn crash_and_restart(
    mut server: Child,
    after: Duration,
    port: u16,
    folder: PathBuf,
    log: PathBuf,
) -> std::thread::JoinHandle<Child> {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        server.kill().unwrap();
        server.wait().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        pyftpdlib(port, &folder, &log)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_put_and_mirror_resume_across_a_killed_server() {
    let served = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let payload = ferry_testkit::test_bytes(SIZE, 21);
    std::fs::write(served.path().join("big.bin"), &payload).unwrap();
    let port = free_port();
    let first = pyftpdlib(port, served.path(), &logs.path().join("1.log"));
    let restart = crash_and_restart(
        first,
        Duration::from_secs(2),
        port,
        served.path().to_path_buf(),
        logs.path().join("2.log"),
    );
    let target = local.path().join("big.bin");
    let url = format!("ftp://u:p@127.0.0.1:{port}/big.bin");
    oneshot::get(&globals(), &url, Some(&target), false)
        .await
        .unwrap();
    let second = restart.join().unwrap();
    assert!(std::fs::read(&target).unwrap() == payload, "bytes differ");
    let after = logged_bytes(&logs.path().join("2.log"));
    assert_eq!(
        after.len(),
        1,
        "{}\n---\n{}",
        std::fs::read_to_string(logs.path().join("1.log")).unwrap(),
        std::fs::read_to_string(logs.path().join("2.log")).unwrap()
    );
    assert!(
        after[0] > 0 && after[0] < SIZE as u64,
        "sent after the restart: {after:?} of {SIZE}"
    );
    eprintln!("get: {} of {SIZE} bytes sent after the restart", after[0]);

    // Upload: killed mid-way, the rest goes after the remote size.
    let restart = crash_and_restart(
        second,
        Duration::from_secs(2),
        port,
        served.path().to_path_buf(),
        logs.path().join("3.log"),
    );
    let url = format!("ftp://u:p@127.0.0.1:{port}/up.bin");
    oneshot::put(&globals(), std::slice::from_ref(&target), &url, false)
        .await
        .unwrap();
    let third = restart.join().unwrap();
    assert!(
        std::fs::read(served.path().join("up.bin")).unwrap() == payload,
        "uploaded bytes differ"
    );
    let after = logged_bytes(&logs.path().join("3.log"));
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(
        after[0] > 0 && after[0] < SIZE as u64,
        "received after the restart: {after:?} of {SIZE}"
    );
    eprintln!(
        "put: {} of {SIZE} bytes received after the restart",
        after[0]
    );

    // Mirror down: the file in flight is resumed as well.
    std::fs::create_dir_all(served.path().join("tree")).unwrap();
    std::fs::rename(
        served.path().join("up.bin"),
        served.path().join("tree/big.bin"),
    )
    .unwrap();
    let restart = crash_and_restart(
        third,
        Duration::from_secs(2),
        port,
        served.path().to_path_buf(),
        logs.path().join("4.log"),
    );
    let options = ferry_client::transfer::MirrorOptions {
        retry: Retry::times(5),
        ..ferry_client::transfer::MirrorOptions::default()
    };
    let copy = local.path().join("copy");
    let summary = oneshot::mirror(
        &globals(),
        false,
        &format!("ftp://u:p@127.0.0.1:{port}/tree/"),
        copy.to_str().unwrap(),
        &options,
    )
    .await
    .unwrap();
    let mut fourth = restart.join().unwrap();
    assert!(summary.starts_with("Mirrored 1 files"), "{summary}");
    assert!(
        std::fs::read(copy.join("big.bin")).unwrap() == payload,
        "mirrored bytes differ"
    );
    let after = logged_bytes(&logs.path().join("4.log"));
    assert!(
        after.len() == 1 && after[0] > 0 && after[0] < SIZE as u64,
        "mirror: sent after the restart {after:?} of {SIZE}"
    );
    eprintln!(
        "mirror: {} of {SIZE} bytes sent after the restart",
        after[0]
    );
    let _ = fourth.kill();
    let _ = fourth.wait();
}
