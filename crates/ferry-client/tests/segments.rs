//! `ferry get --segments N`: the same bytes as a plain get, fetched over N connections (the
//! server's transfer log shows N RETRs, each a range); a small file, or a server without REST,
//! takes one connection.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::io::Write;

use common::{Client, Fake, Server, answer_epsv, assert_file, assert_ok, send_on_data};

#[test]
fn segments_give_the_same_bytes_over_several_connections() {
    let root = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("xferlog");
    let mut config = ferry_server::Config::for_folder(root.path());
    config.xferlog = Some(log.clone());
    let server = Server::with_config(root, config);
    // Not a multiple of 4, so the last range is longer.
    let payload = ferry_testkit::test_bytes((5 << 20) + 7, 31);
    std::fs::write(server.path("big.bin"), &payload).unwrap();
    std::fs::write(server.path("small.bin"), b"small").unwrap();
    let client = Client::new();

    let output = client.run(&["get", &server.url("big.bin"), "--segments", "4"]);
    assert_ok(&output);
    assert_file(client.work().join("big.bin"), &payload);
    let output = client.run(&["get", &server.url("big.bin"), "-o", "plain.bin"]);
    assert_ok(&output);
    assert_file(client.work().join("plain.bin"), &payload);
    assert!(!client.work().join(".big.bin.ferry-part").exists());

    let output = client.run(&["get", &server.url("small.bin"), "--segments", "4"]);
    assert_ok(&output);
    assert_file(client.work().join("small.bin"), b"small");

    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    let big: Vec<&str> = text.lines().filter(|l| l.contains("big.bin")).collect();
    // Four ranges, then the plain get.
    assert_eq!(big.len(), 5, "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("small.bin")).count(), 1);
}

/// A server without REST in FEAT gets one plain RETR.
#[test]
fn a_server_without_rest_gets_one_connection() {
    let size = 2 << 20;
    let payload = ferry_testkit::test_bytes(size, 32);
    let sent = payload.clone();
    let fake = Fake::with_features(
        &["EPSV", "SIZE"],
        size as u64,
        move |line, control, data| {
            if line.starts_with("RETR") {
                send_on_data(control, data, &sent);
            } else if line.starts_with("EPSV") {
                answer_epsv(control, data);
            } else {
                control.write_all(b"502 no\r\n").unwrap();
            }
            true
        },
    );
    let client = Client::new();
    let output = client.run(&[
        "get",
        &format!("ftp://{}/f.bin", fake.addr),
        "--segments",
        "4",
    ]);
    assert_ok(&output);
    assert_file(client.work().join("f.bin"), &payload);
    let commands = fake.commands();
    assert_eq!(commands.iter().filter(|c| c.starts_with("RETR")).count(), 1);
    assert!(!commands.iter().any(|c| c.starts_with("REST")));
}
