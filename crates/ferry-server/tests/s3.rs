//! ferryd serving an S3 bucket: a real S3 server on loopback (s3s-fs, SeaweedFS), ferryd in
//! process on 127.0.0.1:0, FTP clients checking bytes and reply codes.
#![cfg(feature = "s3")]
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../ferry-storage/tests/s3_servers/mod.rs"]
mod s3_servers;

use std::io::{Cursor, Write};

use common::{TestServer, assert_bytes, random_bytes};
use ferry_server::auth::User;
use ferry_server::config::{Config, S3Config};
use s3_servers::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};

fn s3_config(server: &S3Server, prefix: &str) -> S3Config {
    S3Config {
        bucket: BUCKET.into(),
        prefix: prefix.into(),
        endpoint: Some(server.endpoint.clone()),
        region: None,
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
        session_token: None,
    }
}

/// ferryd on `s3` with anonymous read-write and a user `alice` whose home is `alice`.
fn ferryd(s3: &S3Server, prefix: &str) -> TestServer {
    let mut config = Config::for_s3(s3_config(s3, prefix));
    let alice = User::new(b"secret", "alice".into(), false).unwrap();
    config.users.users.insert("alice".into(), alice);
    TestServer::with_storage_ready(config)
}

fn every_command(s3: &S3Server) {
    let server = ferryd(s3, "ftp");
    let mut client = server.anonymous();

    // STOR (multipart: several 8 MiB parts) and RETR, SIZE, MDTM.
    let bytes = random_bytes(19 * 1024 * 1024 + 17, 1);
    assert_eq!(client.upload("STOR a.bin", &bytes).code.0, 226);
    assert_bytes(&client.download("RETR a.bin"), &bytes);
    let size = client.expect("SIZE a.bin", 213);
    assert_eq!(size.text(), bytes.len().to_string());
    client.expect("MDTM a.bin", 213);
    // REST + RETR: a ranged read.
    client.expect("REST 10000000", 350);
    assert_bytes(&client.download("RETR a.bin"), &bytes[10_000_000..]);
    client.expect("REST 99999999", 350);
    client.passive();
    client.expect("RETR a.bin", 554);

    // LIST, NLST, MLSD, MLST from object metadata.
    let listing = String::from_utf8(client.download("LIST")).unwrap();
    assert!(
        listing.lines().any(|l| l.starts_with('-')
            && l.contains(&bytes.len().to_string())
            && l.ends_with(" a.bin")),
        "{listing}"
    );
    assert_eq!(client.download("NLST"), b"a.bin\r\n");
    let mlsd = String::from_utf8(client.download("MLSD")).unwrap();
    assert!(
        mlsd.starts_with(&format!("type=file;size={};modify=", bytes.len())),
        "{mlsd}"
    );
    client.expect("MLST a.bin", 250);

    // MKD writes a marker; folders holding objects exist without one.
    client.expect("MKD d", 257);
    if s3.keeps_markers {
        client.expect("MKD d", 550);
    }
    assert_eq!(client.upload("STOR d/x.txt", b"hello").code.0, 226);
    client.expect("CWD d", 250);
    assert_eq!(client.download("NLST"), b"x.txt\r\n");
    client.expect("CWD /", 250);
    client.expect("RMD d", 550);

    // APPE: the old object's bytes, then the new ones.
    assert_eq!(client.upload("APPE d/x.txt", b", world").code.0, 226);
    assert_eq!(client.download("RETR d/x.txt"), b"hello, world");

    // RNFR/RNTO: copy then delete.
    client.expect("RNFR a.bin", 350);
    client.expect("RNTO d/b.bin", 250);
    client.expect("SIZE a.bin", 550);
    assert_bytes(&client.download("RETR d/b.bin"), &bytes);

    // REST n + STOR keeps the first n bytes of the stored object (here across a part).
    client.expect("REST 9000000", 350);
    assert_eq!(client.upload("STOR d/b.bin", b"tail").code.0, 226);
    assert_bytes(
        &client.download("RETR d/b.bin"),
        &[&bytes[..9_000_000], b"tail"].concat(),
    );
    // Beyond the object: refused before any data, the object unchanged.
    client.expect("REST 9000005", 350);
    client.passive();
    client.expect("STOR d/b.bin", 554);
    assert_eq!(client.expect("SIZE d/b.bin", 213).text(), "9000004");

    // MFMT: objects keep the time they were written.
    client.expect("MFMT 20200101000000 d/x.txt", 554);

    // An aborted upload leaves nothing behind and the old object whole.
    let mut data = client.passive();
    client.expect("STOR d/x.txt", 150);
    data.write_all(&random_bytes(9 * 1024 * 1024, 2)).unwrap();
    data.flush().unwrap();
    client.send_raw(b"ABOR\r\n");
    assert_eq!(client.read_reply().code.0, 426);
    assert_eq!(client.read_reply().code.0, 226);
    drop(data);
    assert_eq!(client.download("RETR d/x.txt"), b"hello, world");

    // DELE and RMD.
    client.expect("DELE d/x.txt", 250);
    client.expect("DELE d/b.bin", 250);
    client.expect("DELE d/b.bin", 550);
    if s3.keeps_markers {
        client.expect("RMD d", 250);
        assert_eq!(client.download("NLST"), b"");
    }

    // A user's home is a prefix: alice's files are /alice/... for anonymous.
    let mut alice = common::Client::connect(server.addr);
    alice.login("alice", "secret");
    assert_eq!(alice.upload("STOR mine.txt", b"alice's").code.0, 226);
    alice.expect("CWD /", 250);
    assert_eq!(alice.download("NLST"), b"mine.txt\r\n");
    assert_eq!(client.download("RETR alice/mine.txt"), b"alice's");
    client.expect("DELE alice/mine.txt", 250);
    // SeaweedFS keeps the emptied folder; s3s-fs keeps it on its disk.
    client.cmd("RMD alice");
    client.cmd("RMD d");

    // The same with suppaftp.
    let mut ftp = server.suppaftp();
    let small = random_bytes(100_000, 3);
    ftp.put_file("s.bin", &mut Cursor::new(&small)).unwrap();
    assert_eq!(ftp.size("s.bin").unwrap(), small.len());
    assert_bytes(&ftp.retr_as_buffer("s.bin").unwrap().into_inner(), &small);
    ftp.append_file("s.bin", &mut Cursor::new(b"++")).unwrap();
    assert_eq!(ftp.size("s.bin").unwrap(), small.len() + 2);
    ftp.rename("s.bin", "t.bin").unwrap();
    assert!(ftp.nlst(None).unwrap().contains(&"t.bin".to_string()));
    ftp.rm("t.bin").unwrap();
    ftp.quit().unwrap();
}

#[test]
fn every_command_on_s3s_fs() {
    every_command(&S3Server::s3s_fs());
}

#[test]
fn every_command_on_seaweedfs() {
    every_command(&S3Server::seaweedfs());
}

#[test]
fn a_bucket_that_does_not_answer_fails_at_start() {
    let mut config = Config::for_s3(S3Config {
        bucket: "nobucket".into(),
        // A port nothing listens on: bind one, note it, close it.
        endpoint: Some(format!(
            "http://{}",
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
        )),
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
        ..S3Config::default()
    });
    config.data_timeout = std::time::Duration::from_secs(5);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = runtime
        .block_on(ferry_server::check_storage(&config))
        .unwrap_err();
    assert!(error.to_string().contains("s3://nobucket"), "{error}");
}

#[test]
fn ferryd_binary_serves_a_bucket_named_by_flags_and_config() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let s3 = S3Server::s3s_fs();
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("ferryd.toml");
    std::fs::write(
        &settings,
        format!("storage = \"s3://{BUCKET}/from-toml\"\nbind = [\"127.0.0.1:0\"]\n"),
    )
    .unwrap();
    let config = settings.to_str().unwrap();
    for args in [
        vec!["--bind", "127.0.0.1:0", "--storage", "s3://ferry/cli/"],
        vec!["--config", config],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferryd"))
            .args(&args)
            .args(["--s3-endpoint", &s3.endpoint, "--s3-region", "us-east-1"])
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env_remove("AWS_SESSION_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "ferryd ended: {lines:?}"
            );
            let done = line.starts_with("Who may log in");
            lines.push(line.trim_end().to_string());
            if done {
                break;
            }
        }
        let prefix = if args[0] == "--config" {
            "from-toml"
        } else {
            "cli"
        };
        let serving = format!("Serving s3://{BUCKET}/{prefix} at {}", s3.endpoint);
        assert!(lines.contains(&serving), "{lines:?}");
        let port: u16 = lines
            .iter()
            .find_map(|l| l.strip_prefix("Listening on ftp://"))
            .and_then(|addr| addr.rsplit(':').next())
            .unwrap()
            .parse()
            .unwrap();
        let mut client = common::Client::connect(([127, 0, 0, 1], port).into());
        client.login("anonymous", "guest@");
        assert_eq!(client.upload("STOR f.txt", b"via the binary").code.0, 226);
        assert_eq!(client.download("RETR f.txt"), b"via the binary");
        client.expect("QUIT", 221);
        let _ = child.kill();
        let _ = child.wait();
    }
}
