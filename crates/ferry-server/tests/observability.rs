//! What an operator reads: storage failures logged at WARN with their cause (the real ferryd,
//! its log in a file), client mistakes kept out of WARN.
#![allow(clippy::unwrap_used)]

mod common;
#[cfg(feature = "s3")]
#[path = "../../ferry-storage/tests/s3_servers/mod.rs"]
mod s3_servers;

use common::Client;
use common::daemon::Daemon;

/// The issue's other case: a folder ferryd may not write to. Refusing MKD and STOR there is the
/// server's failure, logged at WARN with the operation, the path and the errno; the session
/// goes on. As root, ferryd runs as `nobody` (`setpriv`), for whom a 0555 folder is read-only.
#[test]
fn an_unwritable_folder_is_logged_with_its_cause() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ferryd.log");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("ro")).unwrap();
    let mode = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    mode(dir.path(), 0o755);
    mode(&root, 0o777);
    mode(&root.join("ro"), 0o555);
    let root_user = rustix::process::geteuid().is_root();
    let setpriv = ferry_testkit::tool("setpriv", "util-linux")
        .display()
        .to_string();
    let wrapper: Vec<&str> = if root_user {
        vec![
            &setpriv,
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ]
    } else {
        Vec::new()
    };
    let daemon = Daemon::start_under(
        &wrapper,
        &[
            "--bind",
            "127.0.0.1:0",
            "--anonymous",
            "write",
            root.to_str().unwrap(),
        ],
        &[],
        &log,
    );
    let mut client = Client::connect(daemon.ftp.unwrap());
    client.login("anonymous", "x");
    let refused = client.cmd("MKD ro/sub");
    assert!(refused.code.0 >= 450, "{refused}");
    let line = daemon.wait_for_log(&["WARN", "storage failed", "mkdir", "/ro/sub"]);
    assert!(line.contains("cause="), "{line}");
    assert!(
        line.contains("ermission denied") || line.contains("os error 13"),
        "no errno in {line}"
    );
    let _data = client.passive();
    let stored = client.cmd("STOR ro/x.txt");
    assert!(stored.code.0 >= 450, "{stored}");
    daemon.wait_for_log(&["WARN", "storage failed", "/ro/x.txt"]);
    assert!(!root.join("ro/x.txt").exists());
    // The session goes on, and writing elsewhere works.
    assert_eq!(client.upload("STOR ok.txt", b"fine").code.0, 226);
    assert_eq!(std::fs::read(root.join("ok.txt")).unwrap(), b"fine");
}

/// A missing file (550) and a wrong password (530) are the client's mistakes: no WARN line
/// names them as storage failures.
#[test]
fn client_mistakes_are_not_storage_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ferryd.log");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let daemon = Daemon::start(
        &[
            "--bind",
            "127.0.0.1:0",
            "--log-level",
            "debug",
            root.to_str().unwrap(),
        ],
        &[],
        &log,
    );
    let mut client = Client::connect(daemon.ftp.unwrap());
    client.login("anonymous", "x");
    client.expect("DELE missing.txt", 550);
    client.expect("RMD no-such-folder", 550);
    client.expect("QUIT", 221);
    daemon.wait_for_log(&["DEBUG", "refused", "delete", "/missing.txt"]);
    let text = daemon.log_text();
    assert!(
        !text
            .lines()
            .any(|l| l.contains("WARN") && l.contains("storage failed")),
        "{text}"
    );
}

/// GET `path` from the metrics endpoint with curl: (status, body).
fn get(daemon: &Daemon, path: &str) -> (u16, String) {
    let curl = ferry_testkit::tool("curl", "curl");
    let url = format!("http://{}{path}", daemon.metrics.unwrap());
    let out = ferry_testkit::run_bounded(
        std::process::Command::new(curl).args(["-s", "-w", "\\n%{http_code}", &url]),
        std::time::Duration::from_secs(30),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

/// The value of `series` (name and labels as written) in a scrape; 0 when absent.
fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

/// FTPS with curl: each transfer is a control and a data handshake, and curl resumes the
/// control connection's TLS session on the data connection; the metrics count both.
#[test]
fn tls_handshakes_and_resumptions_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let daemon = Daemon::start(
        &[
            "--bind",
            "127.0.0.1:0",
            "--metrics-bind",
            "127.0.0.1:0",
            "--tls-self-signed",
            root.to_str().unwrap(),
        ],
        &[],
        &dir.path().join("ferryd.log"),
    );
    let curl = ferry_testkit::tool("curl", "curl");
    let local = dir.path().join("up.txt");
    std::fs::write(&local, b"over TLS").unwrap();
    let url = format!("ftp://{}/up.txt", daemon.ftp.unwrap());
    for args in [vec!["-T", local.to_str().unwrap()], vec!["-o", "/dev/null"]] {
        let ran = ferry_testkit::run_bounded(
            std::process::Command::new(&curl)
                .args(["-s", "-S", "--ssl-reqd", "-k"])
                .args(&args)
                .arg(&url),
            std::time::Duration::from_secs(30),
        );
        assert!(ran.status.success(), "{ran:?}");
    }
    let (_, scrape) = get(&daemon, "/metrics");
    assert_eq!(
        sample(
            &scrape,
            "ferry_tls_handshakes_total{protocol=\"ftp\",result=\"ok\"}"
        ),
        4.0,
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "ferry_tls_resumptions_total{protocol=\"ftp\"}"),
        2.0,
        "{scrape}"
    );
}

#[cfg(feature = "s3")]
mod s3 {
    use super::*;
    use crate::s3_servers::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};

    /// The issue's case: the store fails under a logged-in session (here: s3s-fs stopped).
    /// Each server-side reply (451 for MKD and RMD, 451 for STOR's open) has one WARN line with
    /// the user, the operation, the path and the S3 client's error; the session goes on.
    #[test]
    fn storage_failures_are_logged_with_their_cause() {
        let s3 = S3Server::s3s_fs();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("ferryd.log");
        let storage = format!("s3://{BUCKET}/errors");
        let daemon = Daemon::start(
            &[
                "--bind",
                "127.0.0.1:0",
                "--anonymous",
                "write",
                "--storage",
                &storage,
                "--s3-endpoint",
                &s3.endpoint,
            ],
            &[
                ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
                ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ],
            &log,
        );
        let mut client = Client::connect(daemon.ftp.unwrap());
        client.login("anonymous", "x");
        client.expect("MKD kept", 257);
        let endpoint = s3.endpoint.clone();
        drop(s3);

        client.expect("MKD gone", 451);
        let line = daemon.wait_for_log(&["WARN", "storage failed", "mkdir", "/gone"]);
        assert!(line.contains("anonymous"), "{line}");
        assert!(
            line.contains("protocol=ftp") || line.contains("protocol=\"ftp\""),
            "{line}"
        );
        eprintln!("{line}");
        // The cause: what the HTTP client said about the endpoint that stopped answering.
        assert!(line.contains("cause="), "{line}");
        let port = endpoint.rsplit(':').next().unwrap();
        assert!(
            line.contains(port) || line.to_lowercase().contains("connect"),
            "no cause in {line}"
        );

        client.expect("RMD kept", 451);
        daemon.wait_for_log(&["WARN", "storage failed", "rmdir", "/kept"]);
        // Logged once: one line for the one failed MKD.
        let text = daemon.log_text();
        let count = text
            .lines()
            .filter(|l| l.contains("storage failed") && l.contains("/gone"))
            .count();
        assert_eq!(count, 1, "{text}");
        // The session goes on.
        client.expect("NOOP", 200);
    }

    /// s3s-fs on a port of our choosing, so that it can be stopped and started again on
    /// the same port with the same files (the shared harness picks a new port each time).
    struct Restartable {
        child: Option<std::process::Child>,
        port: u16,
        data: std::path::PathBuf,
    }

    impl Restartable {
        fn start(data: &std::path::Path) -> Restartable {
            std::fs::create_dir_all(data.join(BUCKET)).unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut server = Restartable {
                child: None,
                port,
                data: data.to_path_buf(),
            };
            server.run();
            server
        }

        fn run(&mut self) {
            let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
            let installed = std::path::Path::new(&home).join(".cargo/bin/s3s-fs");
            let binary = if installed.is_file() {
                installed
            } else {
                ferry_testkit::tool("s3s-fs", "cargo install s3s-fs@0.14.1 --features binary")
            };
            let child = std::process::Command::new(binary)
                .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(&self.data)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            self.child = Some(child);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                assert!(std::time::Instant::now() < deadline, "s3s-fs did not start");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }

        fn stop(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }

        fn endpoint(&self) -> String {
            format!("http://127.0.0.1:{}", self.port)
        }
    }

    impl Drop for Restartable {
        fn drop(&mut self) {
            self.stop();
        }
    }

    /// `/metrics` before and after a known workload: the counters moved by exactly what was
    /// done, and promtool finds the text clean; `/readyz` says 503 while the S3 server is
    /// stopped and 200 again once it is back; `/healthz` answers throughout.
    #[test]
    fn metrics_count_a_workload_and_readyz_follows_the_storage() {
        let dir = tempfile::tempdir().unwrap();
        let mut s3 = Restartable::start(&dir.path().join("s3"));
        let storage = format!("s3://{BUCKET}/metrics");
        let endpoint = s3.endpoint();
        let daemon = Daemon::start(
            &[
                "--bind",
                "127.0.0.1:0",
                "--metrics-bind",
                "127.0.0.1:0",
                "--anonymous",
                "write",
                "--login-failure-delay-ms",
                "1",
                "--storage",
                &storage,
                "--s3-endpoint",
                &endpoint,
            ],
            &[
                ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
                ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ],
            &dir.path().join("ferryd.log"),
        );
        let (status, before) = get(&daemon, "/metrics");
        assert_eq!(status, 200);

        let mut client = Client::connect(daemon.ftp.unwrap());
        client.expect("USER nobody", 331);
        client.expect("PASS wrong", 530);
        client.login("anonymous", "x");
        for n in 0..3 {
            let bytes = common::random_bytes(1000, n);
            assert_eq!(client.upload(&format!("STOR f{n}"), &bytes).code.0, 226);
        }
        for n in 0..2 {
            assert_eq!(client.download(&format!("RETR f{n}")).len(), 1000);
        }
        client.expect("QUIT", 221);
        drop(client);
        // The session's end is counted once its task has ended.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let after = loop {
            let (_, after) = get(&daemon, "/metrics");
            if sample(&after, "ferry_sessions_open{protocol=\"ftp\"}") == 0.0
                || std::time::Instant::now() > deadline
            {
                break after;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let moved = |series: &str| sample(&after, series) - sample(&before, series);
        assert_eq!(moved("ferry_sessions_total{protocol=\"ftp\"}"), 1.0);
        assert_eq!(sample(&after, "ferry_sessions_open{protocol=\"ftp\"}"), 0.0);
        assert_eq!(
            moved("ferry_logins_total{protocol=\"ftp\",result=\"ok\"}"),
            1.0
        );
        assert_eq!(
            moved("ferry_logins_total{protocol=\"ftp\",result=\"failed\"}"),
            1.0
        );
        let transfers = |direction: &str| {
            moved(&format!(
                "ferry_transfers_total{{protocol=\"ftp\",direction=\"{direction}\",result=\"ok\"}}"
            ))
        };
        assert_eq!((transfers("up"), transfers("down")), (3.0, 2.0));
        let bytes = |direction: &str| {
            moved(&format!(
                "ferry_transfer_bytes_total{{protocol=\"ftp\",direction=\"{direction}\"}}"
            ))
        };
        assert_eq!((bytes("up"), bytes("down")), (3000.0, 2000.0));
        assert_eq!(
            moved("ferry_storage_operation_seconds_count{operation=\"write\"}"),
            3.0
        );
        assert!(moved("ferry_ftp_replies_total{class=\"2xx\"}") >= 10.0);
        assert_eq!(moved("ferry_ftp_replies_total{class=\"5xx\"}"), 1.0);

        // promtool (Debian's prometheus package) finds nothing to say.
        let promtool = ferry_testkit::tool("promtool", "prometheus");
        let checked = ferry_testkit::run_with_input(
            std::process::Command::new(promtool).args(["check", "metrics"]),
            after.as_bytes(),
            std::time::Duration::from_secs(30),
        );
        assert!(checked.status.success(), "{checked:?}\n{after}");

        assert_eq!(get(&daemon, "/readyz").0, 200);
        s3.stop();
        assert_eq!(get(&daemon, "/readyz").0, 503);
        assert_eq!(get(&daemon, "/healthz"), (200, "ok\n".into()));
        s3.run();
        assert_eq!(get(&daemon, "/readyz").0, 200);
    }
}

/// Adds `alice` (password `wonderland`) to a users file in `dir`; its path.
fn users_file(dir: &std::path::Path) -> String {
    let users = dir.join("users.toml");
    let path = users.to_str().unwrap().to_string();
    let added = common::ferryd(
        &["user", "add", "alice", "--users", &path, "--password-stdin"],
        b"wonderland\n",
    );
    assert!(added.status.success(), "{added:?}");
    path
}

/// paramiko (Debian's python3-paramiko) puts `b.txt` and gets it back over SFTP.
const PARAMIKO_PUT_GET: &str = r#"
import sys, paramiko
host, port, local, back = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
transport = paramiko.Transport((host, port))
transport.connect(username="alice", password="wonderland")
sftp = paramiko.SFTPClient.from_transport(transport)
sftp.put(local, "b.txt")
sftp.get("b.txt", back)
sftp.close()
transport.close()
"#;

/// Debian's python3 with paramiko (`scripts/test` installs python3-paramiko).
fn debian_paramiko() -> std::path::PathBuf {
    let python = std::path::PathBuf::from("/usr/bin/python3");
    let found = std::process::Command::new(&python)
        .args(["-c", "import paramiko"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "/usr/bin/python3 cannot import paramiko: `apt-get install python3-paramiko`"
    );
    python
}

/// wu-ftpd's xferlog line: current-time transfer-time remote-host file-size filename
/// transfer-type special-action-flag direction access-mode username service-name
/// authentication-method authenticated-user-id completion-status.
const XFERLOG_LINE: &str = r"^(?P<date>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}) (?P<seconds>\d+) (?P<host>\S+) (?P<size>\d+) (?P<file>\S+) (?P<type>[ab]) (?P<action>[CUT_]+) (?P<direction>[oid]) (?P<access>[agr]) (?P<user>\S+) (?P<service>\S+) (?P<auth>[01]) (?P<authuser>\S+) (?P<status>[ci])$";

/// The parsed lines of the transfer log at `path`, once it has `count` (bounded wait).
fn xferlog_lines(path: &std::path::Path, count: usize) -> Vec<[String; 7]> {
    let pattern = regex::Regex::new(XFERLOG_LINE).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= count {
            return text
                .lines()
                .map(|line| {
                    let fields = pattern
                        .captures(line)
                        .unwrap_or_else(|| panic!("not an xferlog line: {line}"));
                    [
                        "host",
                        "size",
                        "file",
                        "direction",
                        "user",
                        "service",
                        "status",
                    ]
                    .map(|name| fields[name].to_string())
                })
                .collect();
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `--xferlog`: a line per completed or failed transfer, FTP and SFTP (the service field says
/// which), that the format's regular expression parses; SIGHUP reopens the file after a
/// logrotate-style rename.
#[test]
fn xferlog_lines_for_ftp_sftp_and_http_reopened_on_sighup() {
    let python = debian_paramiko();
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let xferlog = dir.path().join("xferlog");
    let key = dir.path().join("host_key");
    let daemon = Daemon::start(
        &[
            "--bind",
            "127.0.0.1:0",
            "--sftp-bind",
            "127.0.0.1:0",
            "--users",
            &users,
            "--ssh-host-key",
            key.to_str().unwrap(),
            "--xferlog",
            xferlog.to_str().unwrap(),
            "--http-bind",
            "127.0.0.1:0",
            root.to_str().unwrap(),
        ],
        &[],
        &dir.path().join("ferryd.log"),
    );
    let mut client = Client::connect(daemon.ftp.unwrap());
    client.login("alice", "wonderland");
    let bytes = common::random_bytes(5000, 1);
    assert_eq!(client.upload("STOR a file.txt", &bytes).code.0, 226);
    assert_eq!(client.download("RETR a file.txt").len(), 5000);
    // A failed upload: aborted.
    client.aborted_upload("aborted.bin", &bytes);

    let local = dir.path().join("b.txt");
    std::fs::write(&local, common::random_bytes(3000, 2)).unwrap();
    let back = dir.path().join("b.back");
    let sftp = daemon.sftp.unwrap();
    let script = dir.path().join("put_get.py");
    std::fs::write(&script, PARAMIKO_PUT_GET).unwrap();
    let ran = ferry_testkit::run_bounded(
        std::process::Command::new(&python)
            .arg(&script)
            .arg(sftp.ip().to_string())
            .arg(sftp.port().to_string())
            .arg(&local)
            .arg(&back),
        std::time::Duration::from_secs(60),
    );
    assert!(ran.status.success(), "{ran:?}");
    assert_eq!(std::fs::read(&back).unwrap().len(), 3000);

    // An HTTP PUT (curl), logged like the others with `http` as the service.
    let curl = ferry_testkit::tool("curl", "curl");
    let http = daemon.http.unwrap();
    let put = ferry_testkit::run_bounded(
        std::process::Command::new(curl)
            .args(["--silent", "--fail", "--user", "alice:wonderland", "-T"])
            .arg(&local)
            .arg(format!("http://{http}/c.txt")),
        std::time::Duration::from_secs(60),
    );
    assert!(put.status.success(), "{put:?}");
    let got = ferry_testkit::run_bounded(
        std::process::Command::new(ferry_testkit::tool("curl", "curl"))
            .args(["--silent", "--fail", "--user", "alice:wonderland", "-o"])
            .arg(dir.path().join("c.back"))
            .arg(format!("http://{http}/c.txt")),
        std::time::Duration::from_secs(60),
    );
    assert!(got.status.success(), "{got:?}");
    assert_eq!(
        std::fs::read(dir.path().join("c.back")).unwrap().len(),
        3000
    );

    let lines = xferlog_lines(&xferlog, 7);
    let expect = |size: &str, file: &str, direction: &str, service: &str, status: &str| {
        ["127.0.0.1", size, file, direction, "alice", service, status].map(String::from)
    };
    assert_eq!(lines[0], expect("5000", "/a_file.txt", "i", "ftp", "c"));
    assert_eq!(lines[1], expect("5000", "/a_file.txt", "o", "ftp", "c"));
    assert_eq!(
        lines[2][2..],
        expect("0", "/aborted.bin", "i", "ftp", "i")[2..]
    );
    assert_eq!(lines[3], expect("3000", "/b.txt", "i", "sftp", "c"));
    assert_eq!(lines[4], expect("3000", "/b.txt", "o", "sftp", "c"));
    assert_eq!(lines[5], expect("3000", "/c.txt", "i", "http", "c"));
    assert_eq!(lines[6], expect("3000", "/c.txt", "o", "http", "c"));
    assert_eq!(lines.len(), 7);

    // A client that goes away mid-upload: the transfer ends with its session, incomplete.
    let mut cut = Client::connect(daemon.ftp.unwrap());
    cut.login("alice", "wonderland");
    let mut cut_data = cut.passive();
    cut.expect("STOR cut.bin", 150);
    std::io::Write::write_all(&mut cut_data, &bytes).unwrap();
    drop(cut);
    let lines = xferlog_lines(&xferlog, 8);
    drop(cut_data);
    assert_eq!(lines[7][2..], expect("0", "/cut.bin", "i", "ftp", "i")[2..]);

    // An HTTP download (sendfile) whose client takes a mebibyte and hangs up: incomplete,
    // with fewer bytes than the file.
    let big = 64usize << 20;
    std::fs::write(root.join("big.bin"), vec![7u8; big]).unwrap();
    let mut cut = std::net::TcpStream::connect(http).unwrap();
    cut.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let ask = format!(
        "GET /big.bin HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {}\r\n\r\n",
        "YWxpY2U6d29uZGVybGFuZA=="
    );
    std::io::Write::write_all(&mut cut, ask.as_bytes()).unwrap();
    let mut taken = vec![0u8; 1 << 20];
    std::io::Read::read_exact(&mut cut, &mut taken).unwrap();
    drop(cut);
    let lines = xferlog_lines(&xferlog, 9);
    assert_eq!(lines[8][2..], expect("", "/big.bin", "o", "http", "i")[2..]);
    let bytes_sent: usize = lines[8][1].parse().unwrap();
    assert!(
        bytes_sent < big,
        "{bytes_sent} bytes counted of a cut download"
    );

    // An empty file over HTTP is a whole download (hyper never asks an empty body for bytes).
    std::fs::write(root.join("empty.bin"), b"").unwrap();
    let empty = ferry_testkit::run_bounded(
        std::process::Command::new(ferry_testkit::tool("curl", "curl"))
            .args([
                "--silent",
                "--fail",
                "--user",
                "alice:wonderland",
                "-o",
                "/dev/null",
            ])
            .arg(format!("http://{http}/empty.bin")),
        std::time::Duration::from_secs(60),
    );
    assert!(empty.status.success(), "{empty:?}");
    let lines = xferlog_lines(&xferlog, 10);
    assert_eq!(lines[9], expect("0", "/empty.bin", "o", "http", "c"));

    // logrotate: rename, SIGHUP, and the next line goes to a new file.
    let rotated = dir.path().join("xferlog.1");
    std::fs::rename(&xferlog, &rotated).unwrap();
    daemon.hangup();
    daemon.wait_for_log(&["settings reloaded"]);
    assert_eq!(client.upload("STOR c.txt", b"abc").code.0, 226);
    let fresh = xferlog_lines(&xferlog, 1);
    assert_eq!(fresh, [expect("3", "/c.txt", "i", "ftp", "c")]);
    assert_eq!(
        std::fs::read_to_string(&rotated).unwrap().lines().count(),
        10
    );
}
