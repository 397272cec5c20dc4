//! Resources after abuse: descriptors come back to the idle level. Alone in its test binary so
//! that no other test's sockets blur the count.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{IO_TIMEOUT, TestServer};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits (bounded) until the process has at most `limit` descriptors open.
fn wait_for_fds_at_most(limit: usize) -> usize {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let now = open_fds();
        if now <= limit || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn floods_cost_no_unbounded_resources() {
    let server = TestServer::start();
    std::fs::write(server.path("f.txt"), b"data").unwrap();
    let mut client = server.anonymous();
    let baseline = open_fds();
    // A thousand PASV: each replaces the last listener.
    for _ in 0..1000 {
        client.expect("PASV", 227);
    }
    assert!(
        open_fds() <= baseline + 2,
        "PASV listeners leak: {} -> {}",
        baseline,
        open_fds()
    );
    // An endless line: one 500, memory bounded by the line limit, the session goes on.
    let chunk = vec![b'A'; 64 * 1024];
    client.send_raw(b"NOOP ");
    for _ in 0..160 {
        client.send_raw(&chunk);
    }
    client.send_raw(b"\r\n");
    assert_eq!(client.read_reply().code.0, 500);
    assert_eq!(client.download("RETR f.txt"), b"data");
    // Many clients that connect and vanish mid-command.
    for _ in 0..200 {
        let mut rude = std::net::TcpStream::connect(server.addr).unwrap();
        let _ = rude.write_all(b"USER anonymous\r\nPASS x\r\nPASV\r\nRETR f.");
    }
    let after = wait_for_fds_at_most(baseline + 4);
    assert!(
        after <= baseline + 4,
        "descriptors not given back: {baseline} -> {after}"
    );
    client.expect("NOOP", 200);
}
