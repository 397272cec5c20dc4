//! What an operator reads: storage failures logged at WARN with their cause (the real ferryd,
//! its log in a file), client mistakes kept out of WARN.
#![allow(clippy::unwrap_used)]

mod common;
#[cfg(feature = "s3")]
#[path = "../../ferry-storage/tests/s3_servers/mod.rs"]
mod s3_servers;

use common::Client;
use common::daemon::Daemon;

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

#[cfg(feature = "s3")]
mod s3 {
    use super::*;
    use crate::s3_servers::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};

    /// The case: the store fails under a logged-in session (here: s3s-fs stopped).
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
}
