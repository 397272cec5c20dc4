//! Issue 14's session-level defences: stalled data connections are cut, user text in logs is
//! escaped, unknown names cost a password check like known ones, one address's failed logins
//! never hold up another's, and STAT of a big folder streams.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{Client, TestServer, random_bytes};
use ferry_server::{Config, User};

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

/// Median time of `PASS wrong` after `USER name`, over `rounds` tries.
fn failed_pass_time(client: &mut Client, name: &str, rounds: usize) -> Duration {
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            client.expect(&format!("USER {name}"), 331);
            let started = Instant::now();
            client.expect("PASS wrong", 530);
            started.elapsed()
        })
        .collect();
    times.sort();
    times[rounds / 2]
}

#[test]
fn unknown_names_cost_a_password_check_like_known_ones() {
    let server = server_with(|config| {
        config.login_failure_delay = Duration::ZERO;
        config.max_login_failures = 0;
        config.users.users.insert(
            "alice".into(),
            User::new(b"right", String::new(), false).unwrap(),
        );
    });
    let mut client = Client::connect(server.addr);
    // The first unknown name also makes the stand-in hash; not measured.
    failed_pass_time(&mut client, "nobody", 1);
    let known = failed_pass_time(&mut client, "alice", 5);
    let unknown = failed_pass_time(&mut client, "nobody", 5);
    // Without the stand-in check an unknown name answered in well under a tenth of the time.
    assert!(
        unknown * 2 >= known,
        "unknown {unknown:?} against known {known:?}"
    );
}

#[test]
fn failed_logins_from_many_addresses_do_not_hold_up_another() {
    let server = server_with(|config| {
        // Each failure holds its address's turn for 3 s.
        config.login_failure_delay = Duration::from_secs(3);
        config.max_login_failures = 0;
        config.users.users.insert(
            "alice".into(),
            User::new(b"right", String::new(), false).unwrap(),
        );
        // The guessers' name, with a cheap hash so that 512 checks take no time.
        config.users.users.insert(
            "mallory".into(),
            User {
                password: cheap_hash(b"secret"),
                ..User::default()
            },
        );
    });
    // The first login pays the Argon2id check; the measured one below is served from the
    // credential cache, so it is fast unless something makes it wait.
    Client::connect(server.addr).login("alice", "right");
    // 512 addresses (127.0.2.0 - 127.0.3.255) each send a wrong password and wait out their
    // delay.
    let mut guessers: Vec<Client> = (0..512u32)
        .map(|n| {
            let ip = std::net::Ipv4Addr::new(127, 0, 2 + (n / 256) as u8, (n % 256) as u8);
            let mut guesser = Client::connect_from(server.addr, Some(ip.into()));
            // One write: the PASS is handled right after the 331 goes out.
            guesser.send_raw(b"USER mallory\r\nPASS guess\r\n");
            guesser
        })
        .collect();
    for guesser in &mut guessers {
        assert_eq!(guesser.read_reply().code.0, 331);
    }
    let started = Instant::now();
    let mut honest = Client::connect_from(server.addr, Some("127.0.0.9".parse().unwrap()));
    honest.login("alice", "right");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(2), "the login took {waited:?}");
    // The guessers were really held: each gets its 530 only after the delay.
    assert_eq!(guessers[0].read_reply().code.0, 530);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

/// An Argon2id hash with the smallest parameters (8 KiB, one pass).
fn cheap_hash(password: &[u8]) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"fixed test salt!").unwrap();
    argon2.hash_password(password, &salt).unwrap().to_string()
}

/// The peak resident memory of process `pid` (VmHWM), in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn stat_of_a_big_folder_streams_its_reply() {
    use std::io::BufRead;
    const FILES: usize = 40_000;
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    for n in 0..FILES {
        // Long names: the reply is about 10 MB.
        std::fs::File::create(big.join(format!("{n:0>200}"))).unwrap();
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferryd"))
        .args(["--bind", "127.0.0.1:0", "--log-level", "error"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let port: u16 = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "ferryd ended early"
        );
        if let Some(address) = line.trim().strip_prefix("Listening on ftp://") {
            break address.rsplit(':').next().unwrap().parse().unwrap();
        }
    };
    let mut client = Client::connect(([127, 0, 0, 1], port).into());
    client.login("anonymous", "guest@");
    // A first STAT warms up what any listing allocates (buffers, threads).
    client.expect("STAT .", 212);
    let before = peak_memory(child.id());
    client.send_raw(b"STAT big\r\n");
    let mut decoder = ferry_proto::ReplyDecoder::new(64 << 20);
    let mut buffer = vec![0u8; 64 * 1024];
    let reply = loop {
        if let Some(reply) = decoder.next_reply().unwrap() {
            break reply;
        }
        let n = client.stream.read(&mut buffer).unwrap();
        assert!(n > 0, "the server closed the connection");
        decoder.extend(&buffer[..n]);
    };
    let after = peak_memory(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(reply.code.0, 212);
    assert_eq!(reply.lines.len(), FILES + 2);
    let last_name = format!("{:0>200}", FILES - 1);
    assert!(reply.lines.iter().any(|l| l.ends_with(&last_name)));
    let grown = after.saturating_sub(before);
    assert!(
        grown < 4 << 20,
        "STAT of a 10 MB folder listing grew the server by {} KiB",
        grown >> 10
    );
}
