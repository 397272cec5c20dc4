//! The real `ferryd` binary and its accounts: SIGHUP reloads the users file, the `--config` file
//! and the certificate; `max_sessions` caps a user's sessions; unknown keys are refused.
//!
//! Every wait is bounded: ferryd's log (stderr, written to a file) is polled for the line a
//! reload writes, with a deadline, and each read from a connection has a timeout. A [`Ferryd`]
//! kills its process when dropped, so a failing test leaves nothing running.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Client, FERRYD, ferryd};

/// How long ferryd may take to start, to log a reload or to exit.
const DEADLINE: Duration = Duration::from_secs(20);

/// A running `ferryd`, its banner and its log file; killed when dropped.
struct Ferryd {
    child: Child,
    port: u16,
    banner: Vec<String>,
    log: PathBuf,
    /// Holds the log file's folder.
    _logs: tempfile::TempDir,
}

impl Ferryd {
    /// Starts ferryd on 127.0.0.1:0 serving `root` with `args` added, stderr to a file; returns
    /// once the banner is out.
    fn start(root: &Path, args: &[&str]) -> Ferryd {
        let mut all = vec!["--bind", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Ferryd::start_exactly(root, &all)
    }

    /// Like [`Ferryd::start`], without `--bind`: `args` must say where to listen.
    fn start_exactly(root: &Path, args: &[&str]) -> Ferryd {
        let (mut server, stdout) = Ferryd::spawn(root, args);
        loop {
            let line = server.next_line(&stdout);
            let done = line.starts_with("Who may log in");
            server.banner.push(line);
            if done {
                break;
            }
        }
        let listening = server
            .banner
            .iter()
            .find_map(|l| l.strip_prefix("Listening on ftp://"))
            .unwrap();
        server.port = listening.rsplit(':').next().unwrap().parse().unwrap();
        server
    }

    /// Starts ferryd as [`Ferryd::start_exactly`] does, but returns at once, with its stdout
    /// lines to come (read on a thread, so that a ferryd that hangs fails the test: see
    /// [`Ferryd::next_line`]).
    fn spawn(root: &Path, args: &[&str]) -> (Ferryd, mpsc::Receiver<String>) {
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("ferryd.log");
        let mut child = Command::new(FERRYD)
            .arg(root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let server = Ferryd {
            child,
            port: 0,
            banner: Vec::new(),
            log,
            _logs: logs,
        };
        (server, receiver)
    }

    /// The next line ferryd prints, within [`DEADLINE`].
    fn next_line(&self, stdout: &mpsc::Receiver<String>) -> String {
        stdout.recv_timeout(DEADLINE).unwrap_or_else(|error| {
            panic!(
                "no line from ferryd ({error}): {:?}\nlog:\n{}",
                self.banner,
                self.log()
            )
        })
    }

    fn connect(&self) -> Client {
        Client::connect(format!("127.0.0.1:{}", self.port).parse().unwrap())
    }

    /// A session logged in as `user`.
    fn login(&self, user: &str, password: &str) -> Client {
        let mut client = self.connect();
        client.login(user, password);
        client
    }

    /// What ferryd has logged so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Sends SIGHUP and waits (bounded) until ferryd has logged the outcome of this reload:
    /// returns that log line ("settings reloaded" or "reload failed").
    fn hup(&self) -> String {
        let outcome = |log: &str| {
            log.lines()
                .filter(|l| l.contains("settings reloaded") || l.contains("reload failed"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let before = outcome(&self.log()).len();
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let log = self.log();
            if let Some(line) = outcome(&log).get(before) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no reload logged after SIGHUP:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded) until ferryd has logged a line that contains `needle`; returns it.
    fn logged(&self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn assert_running(&mut self) {
        let status = self.child.try_wait().unwrap();
        assert!(
            status.is_none(),
            "ferryd exited: {status:?}\n{}",
            self.log()
        );
    }
}

impl Drop for Ferryd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) for `child`, whose stdout and stderr are piped and short, and returns its
/// output; kills it and fails the test after [`DEADLINE`].
fn wait_output(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + DEADLINE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `ferryd user add NAME --users USERS --password-stdin`; returns what it printed.
fn user_add(users: &Path, name: &str, password: &str) -> String {
    let output = ferryd(
        &[
            "user",
            "add",
            name,
            "--users",
            users.to_str().unwrap(),
            "--password-stdin",
        ],
        format!("{password}\n").as_bytes(),
    );
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// `ferryd user remove NAME --users USERS`; returns what it printed.
fn user_remove(users: &Path, name: &str) -> String {
    let output = ferryd(
        &["user", "remove", name, "--users", users.to_str().unwrap()],
        b"",
    );
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The served folder and, beside it, a users file with alice (password "wonderland").
fn folder_with_alice() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("served");
    std::fs::create_dir(&root).unwrap();
    let users = dir.path().join("users.toml");
    user_add(&users, "alice", "wonderland");
    (dir, root, users)
}

/// Starts ferryd on `root` with `users`; failed logins are answered after 1 ms.
fn serve_users(root: &Path, users: &Path) -> Ferryd {
    Ferryd::start(
        root,
        &[
            "--users",
            users.to_str().unwrap(),
            "--login-failure-delay-ms",
            "1",
        ],
    )
}

/// USER and PASS; returns the reply to PASS.
fn try_login(client: &mut Client, user: &str, password: &str) -> ferry_proto::Reply {
    client.expect(&format!("USER {user}"), 331);
    client.cmd(&format!("PASS {password}"))
}

/// Asserts that the server closes `client`'s connection within `limit` (after its last
/// reply, which was read already).
#[track_caller]
fn assert_closed(client: &mut Client, limit: Duration) {
    client.stream.set_read_timeout(Some(limit)).unwrap();
    let mut byte = [0u8; 1];
    match client.stream.read(&mut byte) {
        Ok(0) => {}
        other => panic!("the connection is still open: {other:?}"),
    }
}

/// Adds `line` at the end of `[users.NAME]` in the users file (its last table: `user add`
/// writes each user as one table, permissions excepted); returns the number of that line.
fn add_to_last_table(users: &Path, line: &str) -> usize {
    let mut text = std::fs::read_to_string(users).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
    std::fs::write(users, &text).unwrap();
    text.lines().count()
}

#[test]
fn a_user_added_then_hup_logs_in() {
    let (_dir, root, users) = folder_with_alice();
    let mut server = serve_users(&root, &users);
    assert!(
        server.banner.last().unwrap().contains("1 user(s)"),
        "{:?}",
        server.banner
    );
    let said = user_add(&users, "bob", "builder");
    assert!(said.contains("kill -HUP"), "{said}");
    // Not before the reload.
    let mut client = server.connect();
    assert_eq!(try_login(&mut client, "bob", "builder").code.0, 530);
    let reloaded = server.hup();
    assert!(reloaded.contains("settings reloaded"), "{reloaded}");
    assert!(reloaded.contains("users=2"), "{reloaded}");
    // The same connection may try again.
    assert_eq!(try_login(&mut client, "bob", "builder").code.0, 230);
    client.expect("PWD", 257);
    client.expect("QUIT", 221);
    // alice is still there.
    server.login("alice", "wonderland").expect("QUIT", 221);
    server.assert_running();
}

#[test]
fn a_removed_user_open_session_gets_421() {
    let (_dir, root, users) = folder_with_alice();
    user_add(&users, "bob", "builder");
    let mut server = serve_users(&root, &users);
    let mut alice = server.login("alice", "wonderland");
    let mut bob = server.login("bob", "builder");
    let said = user_remove(&users, "alice");
    assert!(said.contains("kill -HUP"), "{said}");
    let reloaded = server.hup();
    let reloaded_at = Instant::now();
    assert!(reloaded.contains("removed=\"alice\""), "{reloaded}");
    // Unasked and at once (the idle timeout is minutes away): alice's idle session is told,
    // then closed.
    alice
        .stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let told = alice.read_reply();
    assert_eq!(told.code.0, 421, "{told}");
    assert!(told.text().contains("account was removed"), "{told}");
    assert!(
        reloaded_at.elapsed() < Duration::from_secs(1),
        "421 came {:?} after the reload",
        reloaded_at.elapsed()
    );
    assert_closed(&mut alice, Duration::from_secs(2));
    // Another user's session goes on.
    bob.expect("NOOP", 200);
    // alice can no longer log in.
    let mut again = server.connect();
    assert_eq!(try_login(&mut again, "alice", "wonderland").code.0, 530);
    let log = server.log();
    assert!(log.contains("account removed"), "{log}");
    server.assert_running();
}

#[test]
fn a_broken_users_file_keeps_the_old_settings() {
    let (_dir, root, users) = folder_with_alice();
    let config = root.parent().unwrap().join("ferryd.toml");
    std::fs::write(&config, "idle_timeout = 300\n").unwrap();
    let mut server = Ferryd::start(
        &root,
        &[
            "--users",
            users.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
    );
    // alice's session stays open through every failed reload below.
    let mut open = server.login("alice", "wonderland");

    // A misspelt key: refused with its name and line.
    let good = std::fs::read_to_string(&users).unwrap();
    let line = add_to_last_table(&users, "quota_byts = 1");
    let failed = server.hup();
    assert!(failed.contains("ERROR"), "{failed}");
    assert!(failed.contains("reload failed"), "{failed}");
    assert!(failed.contains("quota_byts"), "{failed}");
    assert!(failed.contains(&format!("line {line}")), "{failed}");
    assert!(failed.contains(users.to_str().unwrap()), "{failed}");
    server.login("alice", "wonderland").expect("QUIT", 221);

    // Not TOML at all: nothing of it is taken, so alice stays.
    std::fs::write(&users, "[users.alice\npassword = \n").unwrap();
    let failed = server.hup();
    assert!(failed.contains("ERROR"), "{failed}");
    assert!(failed.contains("reload failed"), "{failed}");
    assert!(failed.contains("line 1"), "{failed}");
    server.login("alice", "wonderland").expect("QUIT", 221);

    // A broken --config file also leaves everything as it was.
    std::fs::write(&users, &good).unwrap();
    std::fs::write(&config, "idle_timeout = 300\nmax_rate_upp = 1\n").unwrap();
    let failed = server.hup();
    assert!(failed.contains("ERROR"), "{failed}");
    assert!(failed.contains("max_rate_upp"), "{failed}");
    assert!(failed.contains("line 2"), "{failed}");
    assert!(failed.contains(config.to_str().unwrap()), "{failed}");
    server.login("alice", "wonderland").expect("QUIT", 221);

    // Mended, the next reload goes through.
    std::fs::write(&config, "idle_timeout = 300\n").unwrap();
    let reloaded = server.hup();
    assert!(reloaded.contains("settings reloaded"), "{reloaded}");
    open.expect("NOOP", 200);
    server.assert_running();
}

#[test]
fn max_sessions_caps_a_users_sessions() {
    let (_dir, root, users) = folder_with_alice();
    user_add(&users, "bob", "builder");
    let text = std::fs::read_to_string(&users).unwrap();
    let capped = text.replace("[users.alice]\n", "[users.alice]\nmax_sessions = 2\n");
    assert_ne!(capped, text, "no [users.alice] table in:\n{text}");
    std::fs::write(&users, capped).unwrap();
    let mut server = serve_users(&root, &users);
    let mut first = server.login("alice", "wonderland");
    let _second = server.login("alice", "wonderland");
    // The third is refused at PASS and closed.
    let mut third = server.connect();
    let refused = try_login(&mut third, "alice", "wonderland");
    assert_eq!(refused.code.0, 421, "{refused}");
    assert!(refused.text().contains("at most 2"), "{refused}");
    assert_closed(&mut third, Duration::from_secs(5));
    // bob has no cap of his own, and alice's does not touch him.
    let bobs: Vec<Client> = (0..3).map(|_| server.login("bob", "builder")).collect();
    // One of alice's sessions ends: its seat is free for the next login.
    first.expect("QUIT", 221);
    assert_closed(&mut first, Duration::from_secs(5));
    let mut again = server.login("alice", "wonderland");
    again.expect("PWD", 257);
    let mut fourth = server.connect();
    assert_eq!(try_login(&mut fourth, "alice", "wonderland").code.0, 421);
    drop(bobs);
    server.assert_running();
}

#[test]
fn unknown_keys_are_refused_at_start() {
    let (_dir, root, users) = folder_with_alice();
    let line = add_to_last_table(&users, "quota_byte = 5");
    let refused = start_refused(&root, &["--users", users.to_str().unwrap()]);
    assert!(refused.contains("quota_byte"), "{refused}");
    assert!(refused.contains(&format!("line {line}")), "{refused}");
    assert!(refused.contains(users.to_str().unwrap()), "{refused}");

    let config = root.parent().unwrap().join("ferryd.toml");
    std::fs::write(&config, "idle_timeout = 300\nmax_rate_upp = 1\n").unwrap();
    let refused = start_refused(&root, &["--config", config.to_str().unwrap()]);
    assert!(refused.contains("max_rate_upp"), "{refused}");
    assert!(refused.contains("line 2"), "{refused}");
    assert!(refused.contains(config.to_str().unwrap()), "{refused}");
}

/// Starts ferryd with `args`, expecting it to refuse to start: returns its stderr.
fn start_refused(root: &Path, args: &[&str]) -> String {
    let child = Command::new(FERRYD)
        .arg(root)
        .args(["--bind", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_output(child, "ferryd");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "ferryd started: {stdout}");
    assert!(!stdout.contains("Listening"), "{stdout}");
    String::from_utf8(output.stderr).unwrap()
}

/// Path to the `openssl` command, or a failure saying to install it (under `CI=true`, scripts/test
/// should have).
fn openssl() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for folder in std::env::split_paths(&path) {
        let candidate = folder.join("openssl");
        if candidate.is_file() {
            return candidate;
        }
    }
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!(
            "`openssl` is not installed and CI=true: scripts/test must install openssl \
             (`apt-get install openssl`)"
        );
    }
    panic!("`openssl` is not installed: install openssl (`apt-get install openssl`)");
}

/// A throwaway self-signed certificate and key for localhost, as PEM.
fn throwaway_certificate() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    (made.cert.pem(), made.signing_key.serialize_pem())
}

/// `openssl x509 -fingerprint -sha256` of the first certificate in `pem`: `AB:CD:...`.
fn fingerprint(pem: &str) -> String {
    let mut child = Command::new(openssl())
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pem.as_bytes())
        .unwrap();
    let output = wait_output(child, "openssl x509");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    // "sha256 Fingerprint=AB:CD:..." (OpenSSL 3), "SHA256 Fingerprint=..." before.
    let (_, hex) = text.trim().split_once('=').unwrap();
    hex.to_ascii_uppercase()
}

/// The certificate a client is shown after AUTH TLS on `port`, through `openssl s_client
/// -starttls ftp`, as PEM.
fn served_certificate(port: u16) -> String {
    let child = Command::new(openssl())
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-starttls", "ftp"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_output(child, "openssl s_client");
    let text = String::from_utf8_lossy(&output.stdout);
    let begin = "-----BEGIN CERTIFICATE-----";
    let end = "-----END CERTIFICATE-----";
    let (Some(from), Some(to)) = (text.find(begin), text.find(end)) else {
        panic!(
            "no certificate from s_client: {text}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    format!("{}\n", &text[from..to + end.len()])
}

#[test]
fn a_new_certificate_is_served_after_hup() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (old_cert, old_key) = throwaway_certificate();
    std::fs::write(&cert, &old_cert).unwrap();
    std::fs::write(&key, &old_key).unwrap();
    let old = fingerprint(&old_cert);
    let root = dir.path().join("served");
    std::fs::create_dir(&root).unwrap();
    let mut server = Ferryd::start(
        &root,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains(&format!("certificate SHA-256 {old}"))),
        "{:?}",
        server.banner
    );
    assert_eq!(fingerprint(&served_certificate(server.port)), old);

    let (new_cert, new_key) = throwaway_certificate();
    let new = fingerprint(&new_cert);
    assert_ne!(new, old);
    std::fs::write(&cert, &new_cert).unwrap();
    std::fs::write(&key, &new_key).unwrap();
    let reloaded = server.hup();
    assert!(reloaded.contains("settings reloaded"), "{reloaded}");
    assert!(
        reloaded.contains(&format!("certificate=\"{new}\"")),
        "{reloaded}"
    );
    assert_eq!(fingerprint(&served_certificate(server.port)), new);

    // A key that does not go with the certificate is refused; the new one stays.
    let (_, stray_key) = throwaway_certificate();
    std::fs::write(&key, stray_key).unwrap();
    let failed = server.hup();
    assert!(failed.contains("reload failed"), "{failed}");
    assert_eq!(fingerprint(&served_certificate(server.port)), new);
    server.assert_running();
}

#[test]
fn a_hup_right_after_the_banner_reloads_and_does_not_kill() {
    // A supervisor may send SIGHUP as soon as ferryd prints anything (a reload right after a
    // deploy). The signal goes with kill(2) the moment the first line is read, while ferryd is
    // still starting: it must be a reload, not the default action (death by the signal).
    let (_dir, root, users) = folder_with_alice();
    for _ in 0..10 {
        let users = users.to_str().unwrap();
        let (mut server, stdout) =
            Ferryd::spawn(&root, &["--bind", "127.0.0.1:0", "--users", users]);
        assert_eq!(server.next_line(&stdout), "Welcome to the FTP server.");
        let pid = rustix::process::Pid::from_child(&server.child);
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
        let deadline = Instant::now() + DEADLINE;
        while !server.log().contains("settings reloaded") {
            server.assert_running();
            assert!(
                Instant::now() < deadline,
                "no reload logged:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        server.assert_running();
    }
}

#[test]
fn a_reload_names_the_settings_that_need_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("served");
    std::fs::create_dir(&root).unwrap();
    let config = dir.path().join("ferryd.toml");
    std::fs::write(&config, "bind = [\"127.0.0.1:0\"]\nidle_timeout = 300\n").unwrap();
    let mut server = Ferryd::start_exactly(&root, &["--config", config.to_str().unwrap()]);
    // Nothing changed: nothing is named.
    let reloaded = server.hup();
    assert!(reloaded.contains("settings reloaded"), "{reloaded}");
    // Listeners, log and a timeout changed: each is named, and none is applied.
    std::fs::write(
        &config,
        "bind = [\"127.0.0.1:0\", \"127.0.0.2:0\"]\nidle_timeout = 301\n\
         log_format = \"json\"\nlog_level = \"debug\"\n",
    )
    .unwrap();
    let reloaded = server.hup();
    assert!(reloaded.contains("settings reloaded"), "{reloaded}");
    let warned = server.logged("take effect only at the next start");
    assert!(warned.contains("WARN"), "{warned}");
    for name in ["bind", "idle_timeout", "log_format", "log_level"] {
        assert!(warned.contains(name), "{name} not named: {warned}");
    }
    // The warning came once, for the second reload only.
    let log = server.log();
    assert_eq!(log.matches("next start").count(), 1, "{log}");
    // Still the old listener, and text lines at info (no command logged).
    let mut client = server.connect();
    client.login("anonymous", "x");
    client.expect("PWD", 257);
    client.expect("QUIT", 221);
    let log = server.log();
    assert!(!log.contains("{\""), "JSON after the reload:\n{log}");
    assert!(!log.contains("PWD"), "debug lines after the reload:\n{log}");
    server.assert_running();
}
