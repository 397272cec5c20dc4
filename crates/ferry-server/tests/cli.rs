//! The `ferryd` binary: start-up text, serving, SIGTERM, JSON logs and `ferryd user`.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, FERRYD};

/// Starts ferryd with `args` and returns it with its stdout lines up to "Who may log in".
fn start(args: &[&str], dir: &std::path::Path) -> (std::process::Child, Vec<String>) {
    let mut child = Command::new(FERRYD)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "ferryd ended early: {lines:?}"
        );
        let done = line.starts_with("Who may log in");
        lines.push(line.trim_end().to_string());
        if done {
            break;
        }
    }
    (child, lines)
}

fn listening_port(lines: &[String]) -> u16 {
    let line = lines
        .iter()
        .find(|l| l.starts_with("Listening on ftp://"))
        .unwrap();
    line.rsplit(':').next().unwrap().parse().unwrap()
}

fn sigterm(child: &std::process::Child) {
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
}

/// SIGTERM, then the exit status (bounded wait).
fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    sigterm(child);
    wait_exit(child)
}

#[test]
fn serves_the_current_folder_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("here.txt"), b"served").unwrap();
    let (mut child, lines) = start(
        &["--bind", "127.0.0.1:0", "--log-level", "debug"],
        dir.path(),
    );
    assert_eq!(lines[0], "Welcome to the FTP server.");
    assert_eq!(lines[1], "To get started, connect a client.");
    let root = dir.path().canonicalize().unwrap();
    assert!(
        lines.contains(&format!("Serving {}", root.display())),
        "{lines:?}"
    );
    assert!(
        lines.last().unwrap().contains("anonymous (read and write)"),
        "{lines:?}"
    );
    let port = listening_port(&lines);
    let mut client = connect(port);
    client.login("anonymous", "x");
    assert_eq!(client.download("RETR here.txt"), b"served");
    client.expect("PASS secret-word", 503);
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("connected"), "{log}");
    assert!(log.contains("RETR here.txt"), "{log}");
    assert!(log.contains("transfer complete"), "{log}");
    assert!(log.contains("PASS ****"), "{log}");
    assert!(!log.contains("secret-word"), "password logged: {log}");
}

#[test]
fn json_logs_and_anonymous_default_off_with_users() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let mut add = Command::new(FERRYD)
        .args([
            "user",
            "add",
            "bob",
            "--users",
            users.to_str().unwrap(),
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"hunter2\n").unwrap();
    assert!(add.wait().unwrap().success());
    let (mut child, lines) = start(
        &[
            "--bind",
            "127.0.0.1:0",
            "--users",
            users.to_str().unwrap(),
            "--log-format",
            "json",
        ],
        dir.path(),
    );
    assert!(lines.last().unwrap().contains("1 user(s)"), "{lines:?}");
    assert!(!lines.last().unwrap().contains("anonymous"), "{lines:?}");
    let port = listening_port(&lines);
    let mut client = connect(port);
    client.expect("USER anonymous", 331);
    client.expect("PASS x", 530);
    client.login("bob", "hunter2");
    client.expect("QUIT", 221);
    assert!(terminate(&mut child).success());
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    let json_lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!json_lines.is_empty());
    for line in json_lines {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not JSON: {line}"
        );
    }
    assert!(!log.contains("hunter2"));
    // At the default level logins are logged, commands are not (`--log-level debug` adds them).
    assert!(log.contains("bob"), "the login is logged: {log}");
    assert!(
        !log.contains("\"command\""),
        "commands logged at info: {log}"
    );
}

#[test]
fn user_commands() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let users = users.to_str().unwrap();
    let run = common::ferryd;
    let added = run(
        &[
            "user",
            "add",
            "carol",
            "--users",
            users,
            "--home",
            "carol",
            "--read-only",
            "--password-stdin",
        ],
        b"pw\n",
    );
    assert!(added.status.success(), "{added:?}");
    let text = std::fs::read_to_string(users).unwrap();
    assert!(
        text.contains("$argon2id$") && !text.contains("\"pw\""),
        "{text}"
    );
    let listed = run(&["user", "list", "--users", users], b"");
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains("carol\thome=carol\tread-only"), "{listed}");
    // A new password for an existing user keeps the rules written by hand.
    let rules = "quota_bytes = 1000\n\n[users.carol.permissions]\n\"/\" = [\"list\"]\n";
    std::fs::write(users, format!("{text}{rules}")).unwrap();
    let updated = run(
        &["user", "add", "carol", "--users", users, "--password-stdin"],
        b"new\n",
    );
    assert!(updated.status.success(), "{updated:?}");
    assert!(
        String::from_utf8_lossy(&updated.stdout).contains("other settings kept"),
        "{updated:?}"
    );
    let file = ferry_server::UsersFile::load(std::path::Path::new(users)).unwrap();
    let carol = &file.users["carol"];
    assert!(carol.verify(b"new") && !carol.verify(b"pw"));
    assert_eq!((carol.quota_bytes, carol.home.as_str()), (1000, "carol"));
    assert!(carol.read_only && carol.permissions.contains_key("/"));
    assert!(
        run(&["user", "remove", "carol", "--users", users], b"")
            .status
            .success()
    );
    let again = run(&["user", "remove", "carol", "--users", users], b"");
    assert!(!again.status.success());
    let empty = run(
        &["user", "add", "dave", "--users", users, "--password-stdin"],
        b"\n",
    );
    assert!(!empty.status.success());
}

#[test]
fn bad_root_is_a_clear_error() {
    let output = Command::new(FERRYD)
        .args(["/nonexistent/folder", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/folder"), "{stderr}");
}

fn connect(port: u16) -> Client {
    Client::connect(format!("127.0.0.1:{port}").parse().unwrap())
}

/// Waits (bounded) for the process to exit.
fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "ferryd did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_lets_a_running_transfer_finish_then_says_421() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let bytes = common::random_bytes(8 * 1024 * 1024, 11);
    std::fs::write(dir.path().join("big.bin"), &bytes).unwrap();
    let (mut child, lines) = start(
        &["--bind", "127.0.0.1:0", "--shutdown-grace", "20"],
        dir.path(),
    );
    let port = listening_port(&lines);
    let mut idle = connect(port);
    idle.login("anonymous", "x");
    let mut busy = connect(port);
    busy.login("anonymous", "x");
    let mut data = busy.passive();
    busy.expect("RETR big.bin", 150);
    let mut first = vec![0u8; 64 * 1024];
    data.read_exact(&mut first).unwrap();
    sigterm(&child);
    // The idle session is told at once.
    assert_eq!(idle.read_reply().code.0, 421);
    // The running download completes, then 226, then 421.
    let mut rest = Vec::new();
    data.read_to_end(&mut rest).unwrap();
    first.extend_from_slice(&rest);
    common::assert_bytes(&first, &bytes);
    assert_eq!(busy.read_reply().code.0, 226);
    assert_eq!(busy.read_reply().code.0, 421);
    assert!(wait_exit(&mut child).success());
}

#[test]
fn sigterm_cuts_a_stalled_transfer_after_the_grace_period() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("big.bin"),
        common::random_bytes(64 * 1024 * 1024, 12),
    )
    .unwrap();
    let (mut child, lines) = start(
        &["--bind", "127.0.0.1:0", "--shutdown-grace", "1"],
        dir.path(),
    );
    let port = listening_port(&lines);
    let mut busy = connect(port);
    busy.login("anonymous", "x");
    let mut data = busy.passive();
    busy.expect("RETR big.bin", 150);
    let mut first = vec![0u8; 64 * 1024];
    data.read_exact(&mut first).unwrap();
    sigterm(&child);
    // We stop reading; after the grace period the transfer is cut.
    assert_eq!(busy.read_reply().code.0, 426);
    assert_eq!(busy.read_reply().code.0, 421);
    assert!(wait_exit(&mut child).success());
    drop(data);
}

#[test]
fn kill_9_mid_upload_leaves_nothing_visible_and_the_upload_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = common::random_bytes(3_000_000, 13);
    let (mut child, lines) = start(&["--bind", "127.0.0.1:0"], dir.path());
    let port = listening_port(&lines);
    let mut client = connect(port);
    client.login("anonymous", "x");
    let mut data = client.passive();
    client.expect("STOR precious.bin", 150);
    data.write_all(&bytes[..1_000_000]).unwrap();
    // Wait until the server has written what it received.
    let partial = dir.path().join(".ferry-partial.precious.bin");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) < 1_000_000 {
        assert!(Instant::now() < deadline, "partial never grew");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop((client, data));
    assert!(!dir.path().join("precious.bin").exists());
    // Restart on the same folder: nothing corrupt is visible, and the client resumes.
    let (mut child, lines) = start(&["--bind", "127.0.0.1:0"], dir.path());
    let mut client = connect(listening_port(&lines));
    client.login("anonymous", "x");
    assert_eq!(client.download("NLST"), b"");
    let kept: usize = client
        .expect("SIZE precious.bin", 213)
        .text()
        .parse()
        .unwrap();
    assert_eq!(kept, 1_000_000);
    client.expect(&format!("REST {kept}"), 350);
    assert_eq!(
        client.upload("STOR precious.bin", &bytes[kept..]).code.0,
        226
    );
    common::assert_bytes(
        &std::fs::read(dir.path().join("precious.bin")).unwrap(),
        &bytes,
    );
    assert!(terminate(&mut child).success());
}

#[test]
fn stale_partials_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let old = dir.path().join("sub/.ferry-partial.old.bin");
    let fresh = dir.path().join(".ferry-partial.fresh.bin");
    std::fs::write(&old, b"old").unwrap();
    std::fs::write(&fresh, b"fresh").unwrap();
    let a_day_ago = std::time::SystemTime::now() - Duration::from_secs(86_400);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_modified(a_day_ago))
        .unwrap();
    let (mut child, _) = start(
        &["--bind", "127.0.0.1:0", "--partial-max-age", "3600"],
        dir.path(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while old.exists() {
        assert!(Instant::now() < deadline, "stale partial not removed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(fresh.exists());
    assert!(terminate(&mut child).success());
}

#[test]
fn sigterm_right_after_the_banner_is_a_clean_stop() {
    // The handler is in place before the first line of the banner: a supervisor that stops the
    // server as soon as it has started gets exit 0, not death by the signal. The signal goes
    // with kill(2) the moment the first line is read, while ferryd is still starting.
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..10 {
        let mut child = Command::new(FERRYD)
            .args(["--bind", "127.0.0.1:0"])
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert_eq!(first.trim_end(), "Welcome to the FTP server.");
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = wait_exit(&mut child);
        assert!(status.success(), "{status:?}");
    }
}

#[test]
fn a_closed_stdout_does_not_stop_the_server() {
    // `ferryd | head -0`: stdout is a pipe nobody reads, so every banner line meets EPIPE.
    // ferryd serves on and stops cleanly (println! would have panicked: exit 101).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("here.txt"), b"served").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    drop(reader);
    let mut child = Command::new(FERRYD)
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The banner cannot say when it listens: try to connect, bounded.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "ferryd exited");
        assert!(Instant::now() < deadline, "ferryd did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut client = connect(port);
    client.login("anonymous", "x");
    assert_eq!(client.download("RETR here.txt"), b"served");
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
}

/// A user name with CR, LF-free line breaks, ANSI escapes, DEL and a C1 CSI, sent as USER.
const HOSTILE_NAME: &[u8] =
    "eve\r2026-12-05T00:00:00Z  INFO logged in user=root\u{1b}[2J\u{7f}\u{9b}31m".as_bytes();

/// The log ferryd writes in `format` for one failed login as [`HOSTILE_NAME`].
fn log_of_hostile_login(format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, lines) = start(
        &[
            "--bind",
            "127.0.0.1:0",
            "--log-format",
            format,
            "--login-failure-delay-ms",
            "1",
        ],
        dir.path(),
    );
    let mut client = connect(listening_port(&lines));
    let mut user = b"USER ".to_vec();
    user.extend_from_slice(HOSTILE_NAME);
    assert_eq!(client.cmd_bytes(&user).code.0, 331);
    client.expect("PASS x", 530);
    client.expect("QUIT", 221);
    assert!(terminate(&mut child).success());
    let mut log = Vec::new();
    std::io::Read::read_to_end(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    String::from_utf8(log).unwrap()
}

/// The one "login failed" line of a hostile login's log in `format`, after checking that no line
/// holds a raw control character and that the forged text stayed inside that line, with its
/// carriage return and escape sequences written as `escaped`.
fn failed_login_line(format: &str, escaped: &str) -> String {
    let log = log_of_hostile_login(format);
    for line in log.lines() {
        let raw: Vec<char> = line.chars().filter(|c| c.is_control()).collect();
        assert!(raw.is_empty(), "raw control characters {raw:?} in {line:?}");
    }
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("login failed")).collect();
    assert_eq!(failed.len(), 1, "{log}");
    assert!(failed[0].contains("eve\\r2026-12-05"), "{}", failed[0]);
    assert!(failed[0].contains(escaped), "{}", failed[0]);
    failed[0].to_string()
}

#[test]
fn user_text_is_escaped_in_text_logs() {
    failed_login_line("text", "\\x1b[2J\\x7f\\u{9b}31m");
}

#[test]
fn user_text_is_escaped_in_json_logs() {
    failed_login_line("json", "\\u001b[2J\\u007f\\u009b31m");
}

/// Run with no bind flag of any kind, ferryd serves FTP on 127.0.0.1:2121 and SFTP on
/// 127.0.0.1:2222, and says so with the SSH host key's fingerprint; the key is made once (mode
/// 0600, in $XDG_STATE_HOME/ferry/) and kept, so a restart keeps the server's identity. With
/// `--bind` only, no SFTP.
#[test]
fn no_bind_flags_serve_ftp_and_sftp_with_a_kept_host_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let run = || {
        let mut child = Command::new(FERRYD)
            .current_dir(dir.path())
            .env("XDG_STATE_HOME", state.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        while !lines
            .last()
            .is_some_and(|l: &String| l.starts_with("Who may log in"))
        {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "ferryd ended: {lines:?}"
            );
            lines.push(line.trim_end().to_string());
        }
        assert!(terminate(&mut child).success());
        lines
    };
    let first = run();
    assert!(
        first.contains(&"Listening on ftp://127.0.0.1:2121".to_string()),
        "{first:?}"
    );
    assert!(
        first.contains(&"Listening on sftp://127.0.0.1:2222".to_string()),
        "{first:?}"
    );
    assert!(
        first.contains(&"Listening on http://127.0.0.1:8080/".to_string()),
        "{first:?}"
    );
    assert!(
        first
            .iter()
            .any(|l| l.starts_with("Open http://127.0.0.1:8080/ in a browser")),
        "{first:?}"
    );
    let key_line = |lines: &[String]| {
        lines
            .iter()
            .find(|l| l.starts_with("SSH host key SHA256:"))
            .unwrap_or_else(|| panic!("no host key line: {lines:?}"))
            .split_whitespace()
            .nth(3)
            .unwrap()
            .to_string()
    };
    let key = state.path().join("ferry/ssh_host_ed25519_key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the host key is private");
    let second = run();
    assert_eq!(
        key_line(&first),
        key_line(&second),
        "a restart changed the host key"
    );

    let (mut child, lines) = start(&["--bind", "127.0.0.1:0"], dir.path());
    assert!(!lines.iter().any(|l| l.contains("sftp://")), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("http://")), "{lines:?}");
    assert!(terminate(&mut child).success());
}

/// `--http-bind` alone serves HTTP only (no FTP), and the start-up text gives its URL; a
/// plain listener on a non-loopback address says that passwords are refused there, or, with
/// `--http-allow-insecure-login`, warns that they cross in clear. `--https-bind` needs a
/// certificate.
#[test]
fn http_binds_and_the_insecure_login_notice() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), b"over http").unwrap();
    let (mut child, lines) = start(&["--http-bind", "127.0.0.1:0"], dir.path());
    assert!(!lines.iter().any(|l| l.contains("ftp://")), "{lines:?}");
    let url = lines
        .iter()
        .find_map(|l| l.strip_prefix("Listening on http://"))
        .unwrap_or_else(|| panic!("no HTTP listener: {lines:?}"));
    let addr: std::net::SocketAddr = url.trim_end_matches('/').parse().unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("over http"), "{answer}");
    assert!(terminate(&mut child).success());

    let users = dir.path().join("users.toml");
    let (mut child, lines) = start(
        &[
            "--http-bind",
            "0.0.0.0:0",
            "--users",
            users.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        lines.iter().any(
            |l| l.starts_with("Password logins over plain HTTP on 0.0.0.0:")
                && l.contains("refused")
        ),
        "{lines:?}"
    );
    assert!(terminate(&mut child).success());
    let (mut child, lines) = start(
        &[
            "--http-bind",
            "0.0.0.0:0",
            "--users",
            users.to_str().unwrap(),
            "--http-allow-insecure-login",
        ],
        dir.path(),
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Warning: passwords are accepted over plain HTTP")),
        "{lines:?}"
    );
    assert!(terminate(&mut child).success());

    let output = Command::new(FERRYD)
        .args(["--https-bind", "127.0.0.1:0"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--https-bind needs a certificate"),
        "{stderr}"
    );
}

/// `ferryd user add NAME --key-file FILE.pub` adds an SSH key without asking for a password
/// (and keeps the password of an existing user); a file that is not a key is refused.
#[test]
fn user_add_takes_a_public_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let users = users.to_str().unwrap();
    let key = dir.path().join("id.pub");
    // A key made now, written as ssh-keygen writes a .pub file.
    let made = ferry_server::sftp::host_key::generate().unwrap();
    let line = made.public_key().to_openssh().unwrap();
    std::fs::write(&key, format!("{line}\n")).unwrap();
    let key = key.to_str().unwrap();
    let added = common::ferryd(
        &["user", "add", "kim", "--users", users, "--key-file", key],
        b"",
    );
    assert!(added.status.success(), "{added:?}");
    let file = ferry_server::UsersFile::load(std::path::Path::new(users)).unwrap();
    assert_eq!(file.users["kim"].keys, std::slice::from_ref(&line));
    assert!(file.users["kim"].password.is_empty());
    let listed = common::ferryd(&["user", "list", "--users", users], b"");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.contains("kim\thome=/\tread-write\tkeys=1\tno-password"),
        "{listed}"
    );
    let with_password = common::ferryd(
        &["user", "add", "kim", "--users", users, "--password-stdin"],
        b"pw\n",
    );
    assert!(with_password.status.success(), "{with_password:?}");
    let file = ferry_server::UsersFile::load(std::path::Path::new(users)).unwrap();
    assert!(file.users["kim"].verify(b"pw"));
    assert_eq!(file.users["kim"].keys, [line], "the key stays");
    std::fs::write(dir.path().join("bad.pub"), "not a key\n").unwrap();
    let bad = dir.path().join("bad.pub");
    let refused = common::ferryd(
        &[
            "user",
            "add",
            "lee",
            "--users",
            users,
            "--key-file",
            bad.to_str().unwrap(),
        ],
        b"",
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not an SSH public key"));
}
