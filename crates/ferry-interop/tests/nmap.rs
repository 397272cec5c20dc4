//! nmap's FTP scripts against ferryd: what an attacker's scanner reports.
//!
//! Needs `nmap` (`apt-get install nmap`); fails, never skips, when it is missing. The scripts are
//! forced onto the test port with `+` (nmap only runs them on port 21 by itself), and
//! ftp-bounce is pointed at 127.0.0.2 so that even a vulnerable server would only ever connect
//! to loopback.

mod common;

use std::time::Duration;

use common::{TestServer, command, run, tool};
use ferry_server::{Anonymous, User};

async fn nmap(server: &TestServer, scripts: &str, args: &str) -> String {
    let mut nmap = command(tool("nmap", "nmap"));
    nmap.args(["-Pn", "-n", "--host-timeout", "60s", "-p"])
        .arg(server.addr.port().to_string())
        .args(["--script", scripts]);
    if !args.is_empty() {
        nmap.args(["--script-args", args]);
    }
    nmap.arg(server.host());
    let output = run(&mut nmap, Duration::from_secs(120)).await;
    assert!(output.status.success(), "nmap failed: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anon_syst_and_bounce_scripts() {
    let server = TestServer::start().await;
    std::fs::write(server.root().join("visible.txt"), b"x").unwrap();
    let report = nmap(
        &server,
        "+ftp-anon,+ftp-syst,+ftp-bounce",
        "ftp-bounce.checkhost=127.0.0.2",
    )
    .await;
    assert!(
        report.contains("Anonymous FTP login allowed (FTP code 230)"),
        "{report}"
    );
    assert!(report.contains("visible.txt"), "{report}");
    assert!(
        report.contains("Ferry FTP server status"),
        "ftp-syst saw no STAT: {report}"
    );
    assert!(
        !report.contains("bounce working"),
        "FTP bounce reported: {report}"
    );

    let closed = TestServer::start_with("127.0.0.1:0", |c| c.anonymous = Anonymous::Off).await;
    let report = nmap(&closed, "+ftp-anon", "").await;
    assert!(!report.contains("Anonymous FTP login allowed"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brute_force_is_stopped_by_the_ban() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.txt");
    let passwords = dir.path().join("passwords.txt");
    std::fs::write(&users, "admin\n").unwrap();
    // The right password comes after more wrong ones than the ban allows.
    std::fs::write(&passwords, "123456\npassword\nqwerty\nletmein\nhunter2\n").unwrap();
    let args = format!(
        "userdb={},passdb={},brute.firstonly=true,brute.retries=1,ftp-brute.timeout=60s,\
         unpwdb.timelimit=0",
        users.display(),
        passwords.display()
    );
    let with_user = |config: &mut ferry_server::Config| {
        config.anonymous = Anonymous::Off;
        config.login_failure_delay = Duration::from_millis(10);
        config.users.users.insert(
            "admin".into(),
            User::new(b"hunter2", String::new(), false).unwrap(),
        );
    };
    // With bans off, the scanner finds the password: the script really works against us.
    let open = TestServer::start_with("127.0.0.1:0", |config| {
        with_user(config);
        config.max_login_failures = 0;
    })
    .await;
    let report = nmap(&open, "+ftp-brute", &args).await;
    assert!(
        report.contains("admin:hunter2 - Valid credentials"),
        "{report}"
    );
    // With the default ban after 3 failures, it never gets there.
    let guarded = TestServer::start_with("127.0.0.1:0", |config| {
        with_user(config);
        config.max_login_failures = 3;
    })
    .await;
    let report = nmap(&guarded, "+ftp-brute", &args).await;
    assert!(!report.contains("Valid credentials"), "{report}");
}
