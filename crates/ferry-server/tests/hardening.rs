//! Issue 14's session-level defences: stalled data connections are cut, user text in logs is
//! escaped, unknown names cost a password check like known ones, one address's failed logins
//! never hold up another's, and STAT of a big folder streams.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{TestServer, random_bytes};
use ferry_server::Config;

fn server_with(configure: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_folder(dir.keep());
    configure(&mut config);
    TestServer::with_config(config, "127.0.0.1:0")
}

#[test]
fn a_download_nobody_reads_is_cut_after_the_data_timeout() {
    let server = server_with(|config| config.data_timeout = Duration::from_secs(1));
    // More than the loopback socket buffers of both ends can hold.
    std::fs::write(server.path("big.bin"), random_bytes(64 << 20, 1)).unwrap();
    let mut client = server.anonymous();
    client.expect("TYPE I", 200);
    let data = client.passive();
    client.expect("RETR big.bin", 150);
    let started = Instant::now();
    // The client reads nothing; the server must give up on its own.
    let reply = client.read_reply();
    assert_eq!(reply.code.0, 426, "{reply}");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(data);
    // The session goes on.
    client.expect("NOOP", 200);
    assert_eq!(client.download("RETR big.bin").len(), 64 << 20);
}

#[test]
fn an_upload_that_stops_sending_is_cut_and_publishes_nothing() {
    let server = server_with(|config| config.data_timeout = Duration::from_secs(1));
    let mut client = server.anonymous();
    client.expect("TYPE I", 200);
    let mut data = client.passive();
    client.expect("STOR stuck.bin", 150);
    data.write_all(b"x").unwrap();
    // One byte, then silence with the connection left open.
    let reply = client.read_reply();
    assert_eq!(reply.code.0, 426, "{reply}");
    assert!(!server.path("stuck.bin").exists());
    // What arrived is kept for a resume, as for any broken upload.
    client.expect("SIZE stuck.bin", 213);
    drop(data);
    let reply = client.upload("STOR stuck.bin", b"whole");
    assert_eq!(reply.code.0, 226, "{reply}");
    assert_eq!(std::fs::read(server.path("stuck.bin")).unwrap(), b"whole");
}

#[test]
fn a_slow_transfer_that_keeps_moving_is_not_cut() {
    let server = server_with(|config| config.data_timeout = Duration::from_secs(1));
    let mut client = server.anonymous();
    client.expect("TYPE I", 200);
    let mut data = client.passive();
    client.expect("STOR slow.bin", 150);
    // 2.4 s in all, longer than the timeout, but never 1 s without a byte.
    for _ in 0..8 {
        data.write_all(b"0123456789").unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(data);
    let reply = client.read_reply();
    assert_eq!(reply.code.0, 226, "{reply}");
    assert_eq!(std::fs::read(server.path("slow.bin")).unwrap().len(), 80);
}
