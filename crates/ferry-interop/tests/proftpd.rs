//! HASH's reply format proven with a server no one here wrote: Debian's ProFTPD 1.3.8 with
//! mod_digest (`peers/install.sh` unpacks it) and ferryd serve the same folder, and every
//! algorithm's HASH line and every X* command's answer must be the same, byte for byte (ProFTPD
//! sends a `213-Computing ...` line first; the final lines are compared).
//!
//! Needs the unpacked ProFTPD (run `peers/install.sh`, as scripts/test does); fails, never
//! skips, without.

mod common;

use std::net::SocketAddr;

use common::TestServer;
use common::peers;
use ferry_proto::{Reply, ReplyDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Duration, timeout};

const REPLY_LIMIT: Duration = Duration::from_secs(60);

/// A control connection spoken by hand.
struct Control {
    stream: TcpStream,
    decoder: ReplyDecoder,
}

impl Control {
    async fn login(addr: SocketAddr, user: &str, password: &str) -> Control {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut control = Control {
            stream,
            decoder: ReplyDecoder::default(),
        };
        assert_eq!(control.read().await.code.0, 220);
        assert_eq!(control.cmd(&format!("USER {user}")).await.code.0, 331);
        assert_eq!(control.cmd(&format!("PASS {password}")).await.code.0, 230);
        assert_eq!(control.cmd("TYPE I").await.code.0, 200);
        control
    }

    async fn read(&mut self) -> Reply {
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(reply) = self.decoder.next_reply().expect("a well-formed reply") {
                return reply;
            }
            let read = timeout(REPLY_LIMIT, self.stream.read(&mut buffer))
                .await
                .expect("a reply in time")
                .expect("read a reply");
            assert!(read > 0, "the server closed the connection");
            self.decoder.extend(&buffer[..read]);
        }
    }

    async fn cmd(&mut self, line: &str) -> Reply {
        self.stream
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("send a command");
        self.read().await
    }
}

/// The reply's code and its last line's text (after the code).
fn last(reply: &Reply) -> (u16, String) {
    let line = reply.lines.last().cloned().unwrap_or_default();
    (reply.code.0, line.trim().to_string())
}

/// The algorithms of a FEAT reply's HASH line, stars and order aside.
fn hash_feature(reply: &Reply) -> Vec<String> {
    let line = reply
        .lines
        .iter()
        .map(|line| line.trim())
        .find(|line| line.starts_with("HASH "))
        .unwrap_or_else(|| panic!("no HASH line in {reply}"));
    let mut names: Vec<String> = line["HASH ".len()..]
        .split(';')
        .map(|name| name.trim_end_matches('*').to_string())
        .filter(|name| !name.is_empty())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_lines_match_proftpd_mod_digest() {
    let peer = tokio::task::spawn_blocking(peers::proftpd)
        .await
        .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
    let files: [(&str, Vec<u8>); 4] = [
        ("empty.bin", Vec::new()),
        ("one.bin", vec![0x5a]),
        ("medium.bin", common::pattern(3 * 1024 * 1024 + 5, 30)),
        ("a name with spaces.txt", b"spaced out\n".to_vec()),
    ];
    for (name, bytes) in &files {
        peer.write(name, bytes);
    }
    let folder = peer.folder().to_path_buf();
    let ours = TestServer::start_with("127.0.0.1:0", |config| config.root = folder).await;
    let mut theirs = Control::login(peer.addr, &peer.user, &peer.password).await;
    let mut mine = Control::login(ours.addr, "anonymous", "ferry@").await;

    let (their_feat, my_feat) = (theirs.cmd("FEAT").await, mine.cmd("FEAT").await);
    assert_eq!(hash_feature(&their_feat), hash_feature(&my_feat));
    for (feature, reply) in [("RANG STREAM", &their_feat), ("RANG STREAM", &my_feat)] {
        assert!(
            reply.lines.iter().any(|line| line.trim() == feature),
            "{reply}"
        );
    }

    for algorithm in ["SHA-256", "SHA-512", "SHA-1", "MD5", "CRC32"] {
        let line = format!("OPTS HASH {algorithm}");
        let (their, my) = (theirs.cmd(&line).await, mine.cmd(&line).await);
        assert_eq!(last(&their), last(&my), "{line}");
        for (name, _) in &files {
            let line = format!("HASH {name}");
            let (their, my) = (theirs.cmd(&line).await, mine.cmd(&line).await);
            assert_eq!(their.code.0, 213, "ProFTPD: {line} -> {their}");
            assert_eq!(last(&their), last(&my), "{line} with {algorithm}");
        }
    }
    for verb in ["XCRC", "XMD5", "XSHA", "XSHA1", "XSHA256", "XSHA512"] {
        for name in ["one.bin", "medium.bin"] {
            let line = format!("{verb} {name}");
            let (their, my) = (theirs.cmd(&line).await, mine.cmd(&line).await);
            assert_eq!(last(&their), last(&my), "{line}");
        }
    }
    // The same refusals.
    for line in ["OPTS HASH SHA-3", "HASH missing.bin"] {
        let (their, my) = (theirs.cmd(line).await, mine.cmd(line).await);
        assert_eq!(their.code, my.code, "{line}: {their} / {my}");
    }
}
