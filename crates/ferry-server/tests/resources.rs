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
    // Warm up the allocator and the runtime with one of each abuse, then take the idle level.
    client.expect("PASV", 227);
    drop(std::net::TcpStream::connect(server.addr).unwrap());
    let baseline = open_fds();
    let baseline_rss = rss_kib();
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
    // Memory comes back close to the idle level: the 10 MiB line and 200 sessions left no
    // more than a few MiB behind (allocator caches), not the megabytes they passed through.
    let grown = rss_kib().saturating_sub(baseline_rss);
    assert!(
        grown < 8 * 1024,
        "memory grew by {grown} KiB after the abuse"
    );
}

/// This process's resident memory (the server runs in it), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
