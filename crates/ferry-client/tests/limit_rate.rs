//! `--limit-rate` holds each transfer to the rate, FTP and SFTP, up and down, one-shot and in
//! the shell (`set limit-rate`). A behaviour check with generous bounds, not a benchmark: a
//! 2 MiB file at 500K (4 s at the rate) must take at least 3.5 s, where loopback takes
//! milliseconds; the bytes must still be exact.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::time::{Duration, Instant};

use common::sshd::setup;
use common::{Client, Server, assert_file, assert_ok, run_script, stdout};

const SIZE: usize = 2 << 20;
const AT_LEAST: Duration = Duration::from_millis(3500);

#[test]
fn ftp_get_and_put_keep_to_the_rate() {
    let server = Server::start();
    let payload = ferry_testkit::test_bytes(SIZE, 7);
    std::fs::write(server.path("big.bin"), &payload).unwrap();
    let client = Client::new();

    let started = Instant::now();
    let output = client.run(&["get", &server.url("big.bin"), "--limit-rate", "500K"]);
    let took = started.elapsed();
    assert_ok(&output);
    assert_file(client.work().join("big.bin"), &payload);
    assert!(took >= AT_LEAST, "get took {took:?}");

    let started = Instant::now();
    let output = client.run(&[
        "--limit-rate",
        "500K",
        "put",
        "big.bin",
        &server.url("up.bin"),
    ]);
    let took = started.elapsed();
    assert_ok(&output);
    assert_file(server.path("up.bin"), &payload);
    assert!(took >= AT_LEAST, "put took {took:?}");

    let output = client.run(&["get", &server.url("big.bin"), "--limit-rate", "fast"]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
}

#[test]
fn sftp_get_keeps_to_the_rate() {
    let (sshd, home) = setup();
    let payload = ferry_testkit::test_bytes(SIZE, 8);
    std::fs::write(sshd.files().join("big.bin"), &payload).unwrap();
    let started = Instant::now();
    let output = home.run(&["get", &sshd.url("big.bin"), "--limit-rate", "500K"]);
    let took = started.elapsed();
    assert_ok(&output);
    assert_file(home.work().join("big.bin"), &payload);
    assert!(took >= AT_LEAST, "sftp get took {took:?}");
}

#[test]
fn the_shell_sets_the_rate() {
    let server = Server::start();
    let payload = ferry_testkit::test_bytes(1 << 20, 9);
    std::fs::write(server.path("one.bin"), &payload).unwrap();
    let client = Client::new();
    let script = format!(
        "set limit-rate 2x\nset limit-rate 256K\nset\nopen {}\nget one.bin\nquit\n",
        server.url("")
    );
    let started = Instant::now();
    let output = run_script(client.home(), client.work(), &[], &script);
    let took = started.elapsed();
    let text = stdout(&output);
    assert!(text.contains("Error: 2x: unknown unit X"), "{text}");
    assert!(text.contains("limit-rate 262144 bytes/s"), "{text}");
    assert_file(client.work().join("one.bin"), &payload);
    // 1 MiB at 256 KiB/s: 4 s.
    assert!(took >= AT_LEAST, "shell get took {took:?}");
}
