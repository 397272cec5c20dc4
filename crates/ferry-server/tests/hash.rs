//! HASH, OPTS HASH, RANG and the X* digest commands against a real ferryd on a folder, each
//! digest checked against the programs everyone trusts (sha256sum, sha512sum, sha1sum, md5sum,
//! Python's zlib.crc32), and the limits: the download right, a running upload (450), ABOR.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestServer, random_bytes};
use ferry_server::{Config, User};
use ferry_testkit::{run_with_input, tool};

const TOOL_LIMIT: Duration = Duration::from_secs(120);

/// The digest of `bytes` as `algorithm` (a HASH name), in lower-case hex, by a program that is
/// not ours.
fn reference(algorithm: &str, bytes: &[u8]) -> String {
    let (program, args): (&str, &[&str]) = match algorithm {
        "SHA-256" => ("sha256sum", &[]),
        "SHA-512" => ("sha512sum", &[]),
        "SHA-1" => ("sha1sum", &[]),
        "MD5" => ("md5sum", &[]),
        "CRC32" => (
            "python3",
            &[
                "-c",
                "import sys, zlib; print('%08x' % zlib.crc32(sys.stdin.buffer.read()))",
            ],
        ),
        other => panic!("no reference for {other}"),
    };
    let package = if program == "python3" {
        "python3"
    } else {
        "coreutils"
    };
    let output = run_with_input(
        Command::new(tool(program, package)).args(args),
        bytes,
        TOOL_LIMIT,
    );
    assert!(output.status.success(), "{program}: {output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The reference digest of a file on disk (read by the program itself: a 1 GiB file is not
/// piped through the test).
fn reference_file(program: &str, path: &Path) -> String {
    let output = ferry_testkit::run_bounded(
        Command::new(tool(program, "coreutils")).arg(path),
        TOOL_LIMIT,
    );
    assert!(output.status.success(), "{program}: {output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

const ALGORITHMS: [&str; 5] = ["SHA-256", "SHA-512", "SHA-1", "MD5", "CRC32"];

#[test]
fn hash_and_the_x_commands_match_coreutils_and_zlib() {
    let server = TestServer::start();
    let files: [(&str, Vec<u8>); 3] = [
        ("empty.bin", Vec::new()),
        ("one.bin", vec![0x5a]),
        // Three 1 MiB chunks and a few bytes: the digest goes on across reads.
        ("three chunks.bin", random_bytes(3 * 1024 * 1024 + 7, 20)),
    ];
    for (name, bytes) in &files {
        std::fs::write(server.path(name), bytes).unwrap();
    }
    let mut client = server.anonymous();
    for algorithm in ALGORITHMS {
        assert_eq!(
            client.expect(&format!("OPTS HASH {algorithm}"), 200).text(),
            algorithm
        );
        for (name, bytes) in &files {
            let expected = reference(algorithm, bytes);
            let answer = client.expect(&format!("HASH {name}"), 213).text();
            assert_eq!(
                answer,
                format!("{algorithm} 0-{} {expected} {name}", bytes.len()),
                "HASH {name} with {algorithm}"
            );
        }
    }
    // The X* commands: one algorithm each, `250 HEX` as ProFTPD 1.3.8's mod_digest answers.
    for (verb, algorithm) in [
        ("XCRC", "CRC32"),
        ("XMD5", "MD5"),
        ("XSHA1", "SHA-1"),
        ("XSHA", "SHA-1"),
        ("XSHA256", "SHA-256"),
        ("XSHA512", "SHA-512"),
    ] {
        let (name, bytes) = &files[2];
        let answer = client.expect(&format!("{verb} {name}"), 250).text();
        assert_eq!(answer, reference(algorithm, bytes).to_uppercase(), "{verb}");
    }
}

#[test]
fn feat_lists_the_algorithms_and_opts_hash_picks_one_per_session() {
    let server = TestServer::start();
    let mut client = server.anonymous();
    let feat = client.expect("FEAT", 211);
    let lines: Vec<String> = feat
        .lines
        .iter()
        .map(|line| line.trim().to_string())
        .collect();
    assert!(
        lines.contains(&"HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"RANG STREAM".to_string()), "{lines:?}");
    for verb in ["XCRC", "XMD5", "XSHA1", "XSHA256", "XSHA512"] {
        assert!(lines.contains(&verb.to_string()), "{verb} in {lines:?}");
    }
    assert_eq!(client.expect("OPTS HASH", 200).text(), "SHA-256");
    assert_eq!(client.expect("OPTS HASH md5", 200).text(), "MD5");
    assert_eq!(client.expect("OPTS HASH", 200).text(), "MD5");
    client.expect("OPTS HASH SHA-3", 501);
    assert_eq!(client.expect("OPTS HASH", 200).text(), "MD5");
    let feat = client.expect("FEAT", 211);
    assert!(
        feat.lines
            .iter()
            .any(|line| line.trim() == "HASH SHA-256;SHA-512;SHA-1;MD5*;CRC32"),
        "{feat}"
    );
    // Another session starts from SHA-256.
    let mut other = server.anonymous();
    assert_eq!(other.expect("OPTS HASH", 200).text(), "SHA-256");
    // HASH needs a login and a path.
    let mut stranger = server.anonymous_refused();
    stranger.expect("HASH x", 530);
    client.expect("HASH", 501);
    client.expect("HASH missing.bin", 550);
    std::fs::create_dir(server.path("folder")).unwrap();
    client.expect("HASH folder", 550);
}

#[test]
fn rang_scopes_the_next_hash() {
    let server = TestServer::start();
    let bytes = random_bytes(2 * 1024 * 1024 + 100, 21);
    std::fs::write(server.path("data.bin"), &bytes).unwrap();
    let mut client = server.anonymous();
    for (start, end) in [
        (0u64, 0u64),
        (1, 5),
        (1000, 1_500_000),
        (0, bytes.len() as u64 - 1),
    ] {
        client.expect(&format!("RANG {start} {end}"), 350);
        let part = &bytes[start as usize..=end as usize];
        let answer = client.expect("HASH data.bin", 213).text();
        assert_eq!(
            answer,
            format!(
                "SHA-256 {start}-{end} {} data.bin",
                reference("SHA-256", part)
            )
        );
        // Used once: the next HASH covers the whole file again.
        let whole = client.expect("HASH data.bin", 213).text();
        assert!(
            whole.starts_with(&format!("SHA-256 0-{} ", bytes.len())),
            "{whole}"
        );
    }
    // RANG 1 0 clears a range.
    client.expect("RANG 10 20", 350);
    client.expect("RANG 1 0", 350);
    let whole = client.expect("HASH data.bin", 213).text();
    assert!(whole.starts_with("SHA-256 0-"), "{whole}");
    // A range past the end, backwards, or malformed.
    client.expect(&format!("RANG 0 {}", bytes.len()), 350);
    client.expect("HASH data.bin", 501);
    client.expect("RANG 5 4", 501);
    client.expect("RANG x 4", 501);
    client.expect("RANG 4", 501);
    // RETR sends the range (sendfile, then the buffered path of TYPE A on a file without line
    // ends); one past the end stops at the end; the next RETR is whole again.
    client.expect("RANG 0 9", 350);
    assert_eq!(client.download("RETR data.bin"), &bytes[..10]);
    client.expect("RANG 1000 1500999", 350);
    assert_eq!(client.download("RETR data.bin"), &bytes[1000..1_501_000]);
    client.expect(&format!("RANG 5 {}", bytes.len() + 100), 350);
    assert_eq!(client.download("RETR data.bin"), &bytes[5..]);
    assert_eq!(client.download("RETR data.bin"), bytes);
    std::fs::write(server.path("text.txt"), b"0123456789abcdef").unwrap();
    client.expect("TYPE A", 200);
    client.expect("RANG 3 7", 350);
    assert_eq!(client.download("RETR text.txt"), b"34567");
    client.expect("TYPE I", 200);
    // Uploads take no range: refused, and the range dropped.
    client.expect("RANG 0 9", 350);
    client.expect("STOR other.bin", 504);
    client.expect("RANG 0 9", 350);
    client.expect("APPE data.bin", 504);
    assert_eq!(client.download("RETR data.bin"), bytes);
    // The data set-up commands keep the range, as they keep REST.
    client.expect("RANG 0 9", 350);
    client.expect("TYPE I", 200);
    let answer = client.expect("HASH data.bin", 213).text();
    assert!(answer.starts_with("SHA-256 0-9 "), "{answer}");
}

#[test]
fn hash_needs_the_download_right() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("alice/open")).unwrap();
    std::fs::write(root.join("alice/secret.bin"), b"secret").unwrap();
    std::fs::write(root.join("alice/open/public.bin"), b"public").unwrap();
    let mut alice = User::new(b"secret", "alice".into(), false).unwrap();
    // Listing only at the top; everything in `open`.
    alice
        .permissions
        .insert("/".into(), vec![ferry_server::auth::Right::List]);
    alice
        .permissions
        .insert("/open".into(), vec![ferry_server::auth::Right::All]);
    let mut config = Config::for_folder(&root);
    config.users.users.insert("alice".into(), alice);
    let server = TestServer::with_config(config, "127.0.0.1:0");
    let mut client = common::Client::connect(server.addr);
    client.login("alice", "secret");
    client.expect("SIZE secret.bin", 213);
    client.expect("HASH secret.bin", 550);
    client.expect("XSHA256 secret.bin", 550);
    client.expect("RETR secret.bin", 550);
    let answer = client.expect("HASH open/public.bin", 213).text();
    assert!(
        answer.contains(&reference("SHA-256", b"public")),
        "{answer}"
    );
}

#[test]
fn a_file_being_uploaded_is_busy() {
    let server = TestServer::start();
    std::fs::write(server.path("moving.bin"), b"old bytes").unwrap();
    let mut uploader = server.anonymous();
    let mut data = uploader.passive();
    uploader.expect("STOR moving.bin", 150);
    data.write_all(&random_bytes(64 * 1024, 22)).unwrap();
    data.flush().unwrap();
    // A new file's upload too: the name has only a partial so far.
    let mut second = server.anonymous();
    let mut second_data = second.passive();
    second.expect("STOR fresh.bin", 150);
    second_data.write_all(b"new").unwrap();
    second_data.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let mut client = server.anonymous();
    client.expect("HASH moving.bin", 450);
    client.expect("XMD5 moving.bin", 450);
    client.expect("HASH fresh.bin", 450);

    drop(data);
    assert_eq!(uploader.read_reply().code.0, 226);
    drop(second_data);
    assert_eq!(second.read_reply().code.0, 226);
    let answer = client.expect("HASH fresh.bin", 213).text();
    assert!(answer.contains(&reference("SHA-256", b"new")), "{answer}");
}

/// A sparse 1 GiB file with distinct bytes at its start, its end and around chunk boundaries,
/// made in a moment.
fn big_file(path: &Path) -> u64 {
    const SIZE: u64 = 1 << 30;
    let file = std::fs::File::create(path).unwrap();
    file.set_len(SIZE).unwrap();
    let mut file = std::io::BufWriter::new(file);
    for (offset, seed) in [(0, 1), ((1 << 20) - 3, 2), (512 << 20, 3), (SIZE - 1000, 4)] {
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(offset)).unwrap();
        file.write_all(&random_bytes(1000, seed)).unwrap();
    }
    file.flush().unwrap();
    SIZE
}

#[test]
fn a_gibibyte_hashes_right_and_abor_stops_it_at_once() {
    let server = TestServer::start();
    let path = server.path("big.bin");
    let size = big_file(&path);
    let mut client = server.anonymous();

    let started = Instant::now();
    let answer = client.expect("HASH big.bin", 213).text();
    let ours = started.elapsed();
    let expected = reference_file("sha256sum", &path);
    assert_eq!(answer, format!("SHA-256 0-{size} {expected} big.bin"));
    eprintln!("HASH of 1 GiB (SHA-256): {ours:?}");

    // ABOR during a digest: 426 for it, then 226, at once; the session goes on.
    client.expect("OPTS HASH SHA-512", 200);
    client.send_raw(b"HASH big.bin\r\n");
    std::thread::sleep(Duration::from_millis(300));
    // STAT is answered meanwhile, and says so.
    let status = client.expect("STAT", 211);
    assert!(status.text().contains("Computing a digest"), "{status}");
    let aborted = Instant::now();
    client.send_raw(b"ABOR\r\n");
    assert_eq!(client.read_reply().code.0, 426);
    assert_eq!(client.read_reply().code.0, 226);
    let took = aborted.elapsed();
    assert!(took < Duration::from_secs(2), "ABOR took {took:?}");
    client.expect("NOOP", 200);
    // ABOR with nothing running.
    client.expect("ABOR", 225);

    // One digest per session: a second HASH waits for the first, NOOP does not.
    client.expect("OPTS HASH CRC32", 200);
    std::fs::write(server.path("small.bin"), b"small").unwrap();
    client.send_raw(b"HASH big.bin\r\nHASH small.bin\r\nNOOP\r\n");
    let first = client.read_reply();
    assert_eq!(first.code.0, 200, "NOOP answers during the digest: {first}");
    let big = client.read_reply();
    assert!(big.text().contains("big.bin"), "{big}");
    let small = client.read_reply();
    assert_eq!(
        small.text(),
        format!("CRC32 0-5 {} small.bin", reference("CRC32", b"small"))
    );

    // QUIT during a digest ends the session at once.
    client.send_raw(b"HASH big.bin\r\n");
    std::thread::sleep(Duration::from_millis(100));
    let quitting = Instant::now();
    client.expect("QUIT", 221);
    assert!(quitting.elapsed() < Duration::from_secs(2));
}

#[test]
fn the_server_wide_limit_queues_digests_and_a_closed_session_frees_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_folder(dir.path());
    config.max_hashing = 1;
    let server = TestServer::with_config(config, "127.0.0.1:0");
    big_file(&server.path("big.bin"));
    std::fs::write(server.path("small.bin"), b"small").unwrap();
    let small = format!("SHA-256 0-5 {} small.bin", reference("SHA-256", b"small"));

    // A's digest holds the only place: B's waits, and goes on once A aborts.
    let mut a = server.anonymous();
    a.expect("OPTS HASH SHA-512", 200);
    a.send_raw(b"HASH big.bin\r\n");
    std::thread::sleep(Duration::from_millis(300));
    let mut b = server.anonymous();
    b.send_raw(b"HASH small.bin\r\n");
    b.stream
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut byte = [0u8; 1];
    let waited = std::io::Read::read(&mut b.stream, &mut byte);
    assert!(waited.is_err(), "B answered while A held the only place");
    b.stream.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    let aborted = Instant::now();
    a.send_raw(b"ABOR\r\n");
    assert_eq!(a.read_reply().code.0, 426);
    assert_eq!(a.read_reply().code.0, 226);
    assert_eq!(b.read_reply().text(), small);
    assert!(aborted.elapsed() < Duration::from_secs(2));

    // A session that ends (its connection dropped) stops its digest and frees the place.
    a.send_raw(b"HASH big.bin\r\n");
    std::thread::sleep(Duration::from_millis(300));
    drop(a);
    let dropped = Instant::now();
    assert_eq!(b.expect("HASH small.bin", 213).text(), small);
    let took = dropped.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the place came free after {took:?}"
    );
}
