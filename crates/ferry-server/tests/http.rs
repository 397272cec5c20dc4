//! The HTTP front end, from raw sockets: paths that try to leave the root in every encoding,
//! Basic logins and the ban they share with FTP, uploads cut mid-way, ranges and conditions
//! at their edges, and the limits on request heads. Real clients (curl, wget) are in
//! ferry-interop's `http.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Client, IO_TIMEOUT};
use ferry_server::{Anonymous, Config, User};
use ferry_testkit::{Ferryd, test_bytes};

/// A response, as read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `raw` (a whole request, which should say `Connection: close`) and reads the answer
/// to the end of the connection.
fn exchange(addr: SocketAddr, raw: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(raw).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> Answer {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8(bytes[..end].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut answer = Answer {
        status,
        head,
        body: bytes[end + 4..].to_vec(),
    };
    if answer
        .header("transfer-encoding")
        .is_some_and(|te| te.contains("chunked"))
    {
        answer.body = unchunk(&answer.body);
    }
    answer
}

fn unchunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = bytes.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&bytes[..line_end]).unwrap(), 16).unwrap();
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&bytes[..size]);
        bytes = &bytes[size + 2..];
    }
}

/// `METHOD path` with `extra` header lines, no body.
fn request(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Answer {
    let raw = format!("{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{extra}\r\n");
    exchange(addr, raw.as_bytes())
}

fn basic(user: &str, password: &str) -> String {
    // A tiny base64 encoder, so that the test does not share the server's decoder.
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    format!("Authorization: Basic {out}\r\n")
}

/// A served folder `root` inside a temporary folder that also holds `secret.txt`, outside the
/// root.
fn root_beside_a_secret() -> (tempfile::TempDir, std::path::PathBuf) {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("secret.txt"), b"SECRET").unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/b/file.txt"), b"inside").unwrap();
    (outer, root)
}

fn http_server(config: Config) -> Ferryd {
    Ferryd::builder(config)
        .listen("127.0.0.1:0")
        .listen_http("127.0.0.1:0")
        .start()
}

fn names(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `..` in every encoding, with every method: 400, nothing outside the root read or touched,
/// no host path in any body.
#[test]
fn traversal_in_every_encoding_is_refused() {
    let (outer, root) = root_beside_a_secret();
    let server = http_server(Config::for_folder(&root));
    let http = server.http.unwrap();
    let attempts = [
        "/../secret.txt",
        "/a/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/a/b/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/.%2e/secret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%2fsecret.txt",
        "/a%2f..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/..%5c..%5csecret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/%c0%ae%c0%ae%c0%afsecret.txt",
        "/%e0%80%ae%e0%80%ae/secret.txt",
        "/..%c0%afsecret.txt",
        "/%252e%252e/secret.txt",
        "/a/b/file.txt%00.png",
    ];
    let root_text = root.display().to_string();
    for path in attempts {
        for method in ["GET", "HEAD", "DELETE", "MKCOL"] {
            let answer = request(http, method, path, "");
            // 409: MKCOL of a literal name (`%2e%2e` from `%252e%252e`) in a missing folder.
            assert!(
                matches!(answer.status, 400 | 404 | 409),
                "{method} {path}: {} {}",
                answer.status,
                answer.text()
            );
            assert!(!answer.text().contains("SECRET"), "{method} {path}");
            assert!(
                !answer.text().contains(&root_text),
                "{method} {path}: {}",
                answer.text()
            );
        }
        let put = format!(
            "PUT {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\nEVIL!"
        );
        let answer = exchange(http, put.as_bytes());
        assert!(
            matches!(answer.status, 400 | 404),
            "PUT {path}: {}",
            answer.status
        );
    }
    // Encoded once more (`%252e`) is a plain name that does not exist: 404, not the secret.
    assert_eq!(
        request(http, "GET", "/%252e%252e/secret.txt", "").status,
        404
    );
    assert_eq!(
        std::fs::read(outer.path().join("secret.txt")).unwrap(),
        b"SECRET"
    );
    assert_eq!(names(outer.path()), ["root", "secret.txt"]);
    assert_eq!(names(&root), ["a"]);
    // The server still serves.
    let answer = request(http, "GET", "/a/b/file.txt", "");
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (200, &b"inside"[..])
    );
}

/// A symlink inside the root that points outside it is not followed.
#[test]
fn symlinks_out_of_the_root_are_not_followed() {
    let (outer, root) = root_beside_a_secret();
    std::os::unix::fs::symlink(outer.path().join("secret.txt"), root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(outer.path(), root.join("out")).unwrap();
    let server = http_server(Config::for_folder(&root));
    let http = server.http.unwrap();
    for path in ["/link.txt", "/out/secret.txt", "/out/"] {
        let answer = request(http, "GET", path, "");
        assert!(answer.status >= 400, "{path}: {}", answer.status);
        assert!(!answer.text().contains("SECRET"), "{path}");
    }
}

fn config_with_alice(root: &Path) -> Config {
    let mut config = Config::for_folder(root);
    config.anonymous = Anonymous::Off;
    config.login_failure_delay = Duration::from_millis(10);
    config.max_login_failures = 3;
    config.users.users.insert(
        "alice".into(),
        User::new(b"wonder", String::new(), false).unwrap(),
    );
    config
}

/// Basic logins: none or a wrong one is 401 with a challenge; the right one serves; wrong
/// passwords over HTTP and over FTP count toward one ban, which then refuses both.
#[test]
fn basic_logins_and_the_ban_shared_with_ftp() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"for alice").unwrap();
    let server = http_server(config_with_alice(dir.path()));
    let http = server.http.unwrap();

    let none = request(http, "GET", "/f.txt", "");
    assert_eq!(none.status, 401);
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Basic realm="),
        "{}",
        none.head
    );
    let right = request(http, "GET", "/f.txt", &basic("alice", "wonder"));
    assert_eq!(
        (right.status, right.body.as_slice()),
        (200, &b"for alice"[..])
    );
    // Anonymous is off: the name does not help.
    assert_eq!(
        request(http, "GET", "/f.txt", &basic("anonymous", "x")).status,
        401
    );

    // Two failures over HTTP (the anonymous try above was one), the third over FTP: banned.
    let wrong = request(http, "GET", "/f.txt", &basic("alice", "guess"));
    assert_eq!(wrong.status, 401);
    let mut ftp = Client::connect(server.addr);
    ftp.expect("USER alice", 331);
    let reply = ftp.cmd("PASS guess3");
    assert_eq!(reply.code.0, 421, "{reply}");
    // Now even the right password is refused, at the door, on both protocols.
    let refused = request(http, "GET", "/f.txt", &basic("alice", "wonder"));
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert!(refused.header("retry-after").is_some());
    let ftp = Client::connect(server.addr);
    assert_eq!(ftp.greeting.code.0, 421);
}

/// On one kept-alive connection, a request with the same credential reuses the login; a
/// request with another credential logs in anew (and a wrong one is refused).
#[test]
fn a_connection_keeps_its_login_until_the_credential_changes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"x").unwrap();
    let mut config = config_with_alice(dir.path());
    config.users.users.insert(
        "bob".into(),
        User::new(b"builder", String::new(), true).unwrap(),
    );
    let server = http_server(config);
    let mut stream = TcpStream::connect(server.http.unwrap()).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut keep_alive = |extra: &str, method: &str| {
        let raw =
            format!("{method} /new.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n{extra}\r\nhi");
        stream.write_all(raw.as_bytes()).unwrap();
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 4096];
        while !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = stream.read(&mut buffer).unwrap();
            assert!(read > 0, "connection closed");
            bytes.extend_from_slice(&buffer[..read]);
        }
        let answer = parse(&bytes);
        let length: usize = answer
            .header("content-length")
            .map_or(0, |l| l.parse().unwrap());
        let mut body = answer.body.clone();
        while body.len() < length {
            let read = stream.read(&mut buffer).unwrap();
            body.extend_from_slice(&buffer[..read]);
        }
        answer.status
    };
    assert_eq!(keep_alive(&basic("alice", "wonder"), "PUT"), 201);
    assert_eq!(keep_alive(&basic("alice", "wonder"), "PUT"), 204);
    // bob is read-only: the same connection now acts as bob.
    assert_eq!(keep_alive(&basic("bob", "builder"), "PUT"), 403);
    assert_eq!(keep_alive(&basic("bob", "wrong"), "PUT"), 401);
    assert_eq!(keep_alive(&basic("alice", "wonder"), "PUT"), 204);
}

/// A PUT that breaks off leaves nothing under the name and no partial file; a whole one is
/// 201, a second 204, with the bytes exact.
#[test]
fn a_cut_put_leaves_nothing_and_a_whole_one_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let server = http_server(Config::for_folder(dir.path()));
    let http = server.http.unwrap();
    let data = test_bytes(3 << 20, 7);

    let mut stream = TcpStream::connect(http).unwrap();
    let head = format!(
        "PUT /big.bin HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&data[..data.len() / 2]).unwrap();
    drop(stream);
    // Nothing visible at any time; the partial goes once the server has seen the cut.
    let started = Instant::now();
    loop {
        let present = names(dir.path());
        assert!(!present.contains(&"big.bin".to_string()), "{present:?}");
        if present.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a partial stayed: {present:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(request(http, "GET", "/big.bin", "").status, 404);

    for expected in [201, 204] {
        let mut raw = format!(
            "PUT /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            data.len()
        )
        .into_bytes();
        raw.extend_from_slice(&data);
        // The cut upload's claim on the name goes a moment after its partial: meanwhile a
        // new upload is told 503 (busy), which a client retries.
        let started = Instant::now();
        let mut answer = exchange(http, &raw);
        while answer.status == 503 && started.elapsed() < Duration::from_secs(5) {
            assert!(answer.header("retry-after").is_some());
            std::thread::sleep(Duration::from_millis(20));
            answer = exchange(http, &raw);
        }
        assert_eq!(answer.status, expected);
        assert!(std::fs::read(dir.path().join("big.bin")).unwrap() == data);
    }
    assert_eq!(names(dir.path()), ["big.bin"]);
    let got = request(http, "GET", "/big.bin", "");
    assert!(got.body == data, "download differs");
}

/// Ranges at their edges, HEAD, conditions, and the folder redirect.
#[test]
fn ranges_heads_conditions_and_redirects() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join("docs/ten.txt"), b"0123456789").unwrap();
    let server = http_server(Config::for_folder(dir.path()));
    let http = server.http.unwrap();

    let whole = request(http, "GET", "/docs/ten.txt", "");
    assert_eq!(whole.status, 200);
    assert_eq!(
        whole.header("content-type").unwrap(),
        "text/plain; charset=utf-8"
    );
    assert_eq!(whole.header("accept-ranges").unwrap(), "bytes");
    let etag = whole.header("etag").unwrap();
    let modified = whole.header("last-modified").unwrap();

    let head = request(http, "HEAD", "/docs/ten.txt", "");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length").unwrap(), "10");
    assert!(head.body.is_empty());

    let part = request(http, "GET", "/docs/ten.txt", "Range: bytes=2-4\r\n");
    assert_eq!((part.status, part.body.as_slice()), (206, &b"234"[..]));
    assert_eq!(part.header("content-range").unwrap(), "bytes 2-4/10");
    let tail = request(http, "GET", "/docs/ten.txt", "Range: bytes=-3\r\n");
    assert_eq!((tail.status, tail.body.as_slice()), (206, &b"789"[..]));
    let past = request(http, "GET", "/docs/ten.txt", "Range: bytes=10-\r\n");
    assert_eq!(past.status, 416);
    assert_eq!(past.header("content-range").unwrap(), "bytes */10");
    let several = request(http, "GET", "/docs/ten.txt", "Range: bytes=0-1,4-5\r\n");
    assert_eq!((several.status, several.body.len()), (200, 10));
    let stale = "Range: bytes=5-\r\nIf-Range: \"old\"\r\n";
    assert_eq!(request(http, "GET", "/docs/ten.txt", stale).status, 200);
    let fresh = format!("Range: bytes=5-\r\nIf-Range: {etag}\r\n");
    assert_eq!(request(http, "GET", "/docs/ten.txt", &fresh).status, 206);

    let same = request(
        http,
        "GET",
        "/docs/ten.txt",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(same.status, 304);
    assert!(same.body.is_empty());
    let since = format!("If-Modified-Since: {modified}\r\n");
    assert_eq!(request(http, "GET", "/docs/ten.txt", &since).status, 304);
    let other = request(http, "GET", "/docs/ten.txt", "If-None-Match: \"other\"\r\n");
    assert_eq!(other.status, 200);

    let redirect = request(http, "GET", "/docs?format=json", "");
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("location").unwrap(), "/docs/?format=json");
    assert_eq!(request(http, "GET", "/docs/ten.txt/", "").status, 404);
    assert_eq!(request(http, "GET", "/missing.txt", "").status, 404);
    let listing = request(http, "GET", "/docs/?format=json", "");
    assert_eq!(listing.status, 200);
    assert!(
        listing.text().starts_with("{\"entries\":[{\"") && listing.text().contains("\"ten.txt\""),
        "{}",
        listing.text()
    );
    let options = request(http, "OPTIONS", "/", "");
    assert_eq!(options.status, 204);
    assert!(options.header("allow").unwrap().contains("MKCOL"));
    assert_eq!(request(http, "PATCH", "/docs/ten.txt", "").status, 405);
}

/// Anonymous read-only: downloads work, every change is 403 and changes nothing; DELETE and
/// MKCOL work for a writer.
#[test]
fn rights_come_from_the_file_service() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), b"keep").unwrap();
    let mut config = Config::for_folder(dir.path());
    config.anonymous = Anonymous::Read;
    let server = http_server(config);
    let http = server.http.unwrap();
    assert_eq!(request(http, "GET", "/keep.txt", "").status, 200);
    let put =
        b"PUT /new.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx";
    let refused = exchange(http, put);
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(
        refused.text().contains("no upload right in /"),
        "{}",
        refused.text()
    );
    assert_eq!(request(http, "DELETE", "/keep.txt", "").status, 403);
    assert_eq!(request(http, "MKCOL", "/made", "").status, 403);
    assert_eq!(names(dir.path()), ["keep.txt"]);
    drop(server);

    let server = http_server(Config::for_folder(dir.path()));
    let http = server.http.unwrap();
    assert_eq!(request(http, "MKCOL", "/made", "").status, 201);
    assert_eq!(request(http, "MKCOL", "/made", "").status, 405);
    assert!(dir.path().join("made").is_dir());
    // RFC 4918 section 9.3.1: a missing parent is a conflict.
    assert_eq!(request(http, "MKCOL", "/no/such/parent", "").status, 409);
    assert_eq!(request(http, "DELETE", "/keep.txt", "").status, 204);
    assert_eq!(request(http, "DELETE", "/made/", "").status, 204);
    assert_eq!(request(http, "DELETE", "/keep.txt", "").status, 404);
    assert!(names(dir.path()).is_empty());
}

/// Request heads over the limit get 431; a head that never ends is cut after the login
/// timeout, and so is a kept-alive connection that sends nothing; the server goes on.
#[test]
fn huge_and_slow_heads_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"f").unwrap();
    let mut config = Config::for_folder(dir.path());
    config.login_timeout = Duration::from_secs(1);
    let server = http_server(config);
    let http = server.http.unwrap();

    let huge = format!(
        "GET /f.txt HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(100_000)
    );
    let mut stream = TcpStream::connect(http).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(huge.as_bytes());
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    assert!(
        bytes.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(100)])
    );

    for start in ["GET /f.txt HTTP/1.1\r\nHost: t\r\n", ""] {
        let mut stream = TcpStream::connect(http).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.write_all(start.as_bytes()).unwrap();
        let began = Instant::now();
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        let waited = began.elapsed();
        assert!(
            waited < Duration::from_secs(10),
            "{start:?}: the connection stayed open {waited:?}"
        );
    }
    assert_eq!(request(http, "GET", "/f.txt", "").status, 200);
}

/// A client that asks for a big file and takes nothing is cut after the data timeout, and the
/// server goes on serving.
#[test]
fn a_download_nobody_reads_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let data = test_bytes(64 << 20, 3);
    std::fs::write(dir.path().join("big.bin"), &data).unwrap();
    let mut config = Config::for_folder(dir.path());
    config.data_timeout = Duration::from_secs(1);
    let server = http_server(config);
    let http = server.http.unwrap();
    let mut stream = TcpStream::connect(http).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Not reading, for longer than the data timeout (the server's clock runs on its own
    // runtime, so the test has to let real time pass).
    std::thread::sleep(Duration::from_secs(3));
    let began = Instant::now();
    let mut received = 0usize;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => received += read,
        }
    }
    assert!(
        received < data.len() / 2,
        "the server kept sending: {received} bytes"
    );
    assert!(began.elapsed() < Duration::from_secs(10));
    assert_eq!(
        request(http, "GET", "/big.bin", "Range: bytes=0-3\r\n").status,
        206
    );
}

/// Plain-HTTP downloads of local files go out with sendfile, hyper writing markers that the
/// socket swaps for the file's bytes: files of random bytes longer than one marker (4 MiB),
/// ranges across a marker's end, several answers on one kept-alive connection and pipelined
/// requests all arrive byte for byte; a client gone mid-file leaves the server serving.
#[test]
fn sendfile_downloads_are_exact_on_kept_alive_and_pipelined_connections() {
    let dir = tempfile::tempdir().unwrap();
    let big = test_bytes((9 << 20) + 123, 11);
    let small = test_bytes(4096, 12);
    std::fs::write(dir.path().join("big.bin"), &big).unwrap();
    std::fs::write(dir.path().join("small.bin"), &small).unwrap();
    let server = http_server(Config::for_folder(dir.path()));
    let http = server.http.unwrap();

    let mut stream = TcpStream::connect(http).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let across = (4 << 20) - 1000..(8 << 20) + 1000;
    let asks = [
        ("/small.bin", String::new(), &small[..]),
        ("/big.bin", String::new(), &big[..]),
        (
            "/big.bin",
            format!("Range: bytes={}-{}\r\n", across.start, across.end - 1),
            &big[across.clone()],
        ),
        (
            "/small.bin",
            "Range: bytes=100-\r\n".to_string(),
            &small[100..],
        ),
        (
            "/big.bin",
            "Range: bytes=-5\r\n".to_string(),
            &big[big.len() - 5..],
        ),
    ];
    for (path, extra, expected) in &asks {
        let ask = format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n");
        stream.write_all(ask.as_bytes()).unwrap();
        let answer = read_response(&mut stream);
        assert!(
            matches!(answer.status, 200 | 206),
            "{path} {extra}: {}",
            answer.head
        );
        assert!(answer.body == *expected, "{path} {extra}: the bytes differ");
    }

    // Pipelined: three requests in one write, answered in order on the same connection.
    let mut stream = TcpStream::connect(http).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
        .write_all(
            b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /small.bin HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=5000000-\r\n\r\n",
        )
        .unwrap();
    let answers = read_responses(&mut stream, 3);
    assert!(answers[0].body == big, "{}", answers[0].head);
    assert!(answers[1].body == small, "{}", answers[1].head);
    assert!(answers[2].body == big[5_000_000..], "{}", answers[2].head);

    // A client that takes a mebibyte and hangs up; the next download is whole.
    let mut stream = TcpStream::connect(http).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut taken = vec![0u8; 1 << 20];
    stream.read_exact(&mut taken).unwrap();
    drop(stream);
    assert!(request(http, "GET", "/big.bin", "").body == big);
}

/// Reads `count` responses (heads and `Content-Length` bodies) to pipelined requests, each
/// cut at its length, as they arrive back to back.
fn read_responses(stream: &mut TcpStream, count: usize) -> Vec<Answer> {
    let mut bytes = Vec::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut answers = Vec::new();
    while answers.len() < count {
        let complete = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .and_then(|end| {
                let answer = parse(&bytes[..end + 4]);
                let length: usize = answer
                    .header("content-length")
                    .map_or(0, |l| l.parse().unwrap());
                (bytes.len() >= end + 4 + length).then_some((answer, end + 4, length))
            });
        match complete {
            Some((mut answer, start, length)) => {
                answer.body = bytes[start..start + length].to_vec();
                bytes.drain(..start + length);
                answers.push(answer);
            }
            None => {
                let read = stream.read(&mut buffer).unwrap();
                assert!(read > 0, "closed after {} answers", answers.len());
                bytes.extend_from_slice(&buffer[..read]);
            }
        }
    }
    assert!(bytes.is_empty(), "{} bytes beyond the answers", bytes.len());
    answers
}

/// Reads one response (head and a `Content-Length` body) off a kept-alive connection.
fn read_response(stream: &mut TcpStream) -> Answer {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 8192];
    while !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).unwrap();
        assert!(read > 0, "closed before a response");
        bytes.extend_from_slice(&buffer[..read]);
    }
    let mut answer = parse(&bytes);
    let length: usize = answer
        .header("content-length")
        .map_or(0, |l| l.parse().unwrap());
    while answer.body.len() < length {
        let read = stream.read(&mut buffer).unwrap();
        assert!(read > 0, "closed mid-body");
        answer.body.extend_from_slice(&buffer[..read]);
    }
    answer
}

/// HTTP connections count as sessions at the door: over `max_sessions_per_ip` the next one is
/// told 503 with Retry-After and closed; once a connection ends there is room again.
#[test]
fn session_limits_apply_at_the_door() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"f").unwrap();
    let mut config = Config::for_folder(dir.path());
    config.max_sessions_per_ip = 1;
    let server = Ferryd::builder(config).listen_http("127.0.0.1:0").start();
    let http = server.http.unwrap();
    let mut first = TcpStream::connect(http).unwrap();
    first.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    first
        .write_all(b"GET /f.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut first).status, 200);
    let refused = request(http, "GET", "/f.txt", "");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.header("retry-after").is_some());
    drop(first);
    // The server sees the close a moment later.
    let started = Instant::now();
    loop {
        let answer = request(http, "GET", "/f.txt", "");
        if answer.status == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no room again");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// On shutdown an idle kept-alive connection is closed at once, and a download under way
/// finishes (within the grace period) before the server stops.
#[test]
fn shutdown_closes_idle_connections_and_lets_a_download_finish() {
    let dir = tempfile::tempdir().unwrap();
    let data = test_bytes(32 << 20, 5);
    std::fs::write(dir.path().join("big.bin"), &data).unwrap();
    std::fs::write(dir.path().join("small.txt"), b"s").unwrap();
    let mut config = Config::for_folder(dir.path());
    config.shutdown_grace = Duration::from_secs(15);
    let server = http_server(config);
    let http = server.http.unwrap();

    let mut idle = TcpStream::connect(http).unwrap();
    idle.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    idle.write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut idle).status, 200);
    let mut download = TcpStream::connect(http).unwrap();
    download.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    download
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 65536];
    let mut received = download.read(&mut first).unwrap();
    assert!(received > 0);

    let stopping = std::thread::spawn(move || {
        let began = Instant::now();
        drop(server);
        began.elapsed()
    });
    let mut rest = Vec::new();
    download.read_to_end(&mut rest).unwrap();
    received += rest.len();
    let head_end = first.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(received - head_end, data.len(), "the download was cut");
    let mut after = Vec::new();
    assert_eq!(
        idle.read_to_end(&mut after).unwrap(),
        0,
        "idle connection not closed"
    );
    let took = stopping.join().unwrap();
    assert!(took < Duration::from_secs(15), "shutdown took {took:?}");
}

/// HTTPS offers `h2` and `http/1.1` by ALPN and nothing else: a client that asks only for
/// `ftp` (an FTPS client sent to the wrong port, the ALPACA cross-protocol attacks) is refused
/// in the handshake; plain text to the HTTPS port gets no HTTP answer; a connection that never
/// starts its handshake is closed after the login timeout. The server goes on serving.
#[test]
fn https_alpn_and_handshake_limits() {
    use common::tls::{ClientOptions, pki, tcp, try_tls_connect};
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"over tls").unwrap();
    let mut config = Config::for_folder(dir.path());
    config.tls = Some(pki.settings.clone());
    config.login_timeout = Duration::from_secs(1);
    let server = Ferryd::builder(config).listen_https("127.0.0.1:0").start();
    let https = server.https.unwrap();

    let ftp_only = pki.client_config_with(ClientOptions {
        alpn: &[b"ftp"],
        ..ClientOptions::default()
    });
    let refused = try_tls_connect(&ftp_only, tcp(https));
    assert!(refused.is_err(), "an ftp-only ALPN was accepted");

    let mut plain = tcp(https);
    plain
        .write_all(b"GET /f.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut bytes = Vec::new();
    let _ = plain.read_to_end(&mut bytes);
    assert!(
        !bytes.starts_with(b"HTTP/"),
        "plain text was served over the HTTPS port"
    );

    let began = Instant::now();
    let mut silent = tcp(https);
    let _ = silent.read_to_end(&mut Vec::new());
    assert!(began.elapsed() < Duration::from_secs(10));

    let http11 = pki.client_config_with(ClientOptions {
        alpn: &[b"http/1.1"],
        ..ClientOptions::default()
    });
    let mut tls = try_tls_connect(&http11, tcp(https)).unwrap();
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    tls.write_all(b"GET /f.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut bytes = Vec::new();
    // The server may close without close_notify after Connection: close.
    let _ = tls.read_to_end(&mut bytes);
    let answer = parse(&bytes);
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (200, &b"over tls"[..])
    );
}

/// `POST` of a form body to `path` with `extra` header lines.
fn post_form(addr: SocketAddr, path: &str, form: &str, extra: &str) -> Answer {
    let raw = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{extra}\r\n{form}",
        form.len()
    );
    exchange(addr, raw.as_bytes())
}

/// The `ferry_session=...` pair of a `Set-Cookie` answer.
fn session_cookie(answer: &Answer) -> String {
    let set = answer.header("set-cookie").unwrap();
    format!("Cookie: {}\r\n", set.split(';').next().unwrap())
}

/// The page's CSRF token (`data-csrf` on its body).
fn csrf_of(page: &str) -> String {
    let start = page.find("data-csrf=\"").unwrap() + "data-csrf=\"".len();
    page[start..].split('"').next().unwrap().to_string()
}

const HTML: &str = "Accept: text/html,application/xhtml+xml\r\n";

/// The page's login: a browser without a login is sent to the form, a script gets the Basic
/// challenge; the form sets a session cookie (HttpOnly, SameSite=Strict, not Secure on plain
/// HTTP); state changes by cookie need the CSRF token and the same origin; logout ends the
/// session; wrong passwords over the form count toward the ban shared with FTP.
#[test]
fn page_login_cookie_csrf_logout_and_the_shared_ban() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"for alice").unwrap();
    std::fs::write(dir.path().join("g.txt"), b"for alice").unwrap();
    let server = http_server(config_with_alice(dir.path()));
    let http = server.http.unwrap();

    let browser = request(http, "GET", "/", HTML);
    assert_eq!(browser.status, 303, "{}", browser.head);
    assert_eq!(browser.header("location").unwrap(), "/.login?next=%2F");
    let script = request(http, "GET", "/", "");
    assert_eq!(script.status, 401);
    assert!(script.header("www-authenticate").is_some());
    let form = request(http, "GET", "/.login?next=%2F", HTML);
    assert_eq!(form.status, 200);
    assert!(form.text().contains("name=\"password\""));

    let login = post_form(http, "/.login", "user=alice&password=wonder&next=%2F", "");
    assert_eq!(login.status, 303, "{}", login.text());
    assert_eq!(login.header("location").unwrap(), "/");
    let set = login.header("set-cookie").unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "{set}");
    let cookie = session_cookie(&login);

    let page = request(http, "GET", "/", &format!("{cookie}{HTML}"));
    assert_eq!(page.status, 200, "{}", page.text());
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert_eq!(page.header("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(page.header("referrer-policy").unwrap(), "same-origin");
    let text = page.text();
    assert!(text.contains(">f.txt</a>"), "{text}");
    let csrf = csrf_of(&text);
    assert_eq!(csrf.len(), 64);
    // The cookie also serves the file methods: a download.
    let file = request(http, "GET", "/f.txt", &cookie);
    assert_eq!(file.body, b"for alice");

    // CSRF: no token, a wrong one, a foreign origin: 403 and the file stays.
    let no_token = request(http, "DELETE", "/f.txt", &cookie);
    assert_eq!(no_token.status, 403, "{}", no_token.text());
    let wrong = request(
        http,
        "DELETE",
        "/f.txt",
        &format!("{cookie}X-CSRF-Token: {}\r\n", "0".repeat(64)),
    );
    assert_eq!(wrong.status, 403);
    let token = format!("X-CSRF-Token: {csrf}\r\n");
    let foreign = request(
        http,
        "DELETE",
        "/f.txt",
        &format!("{cookie}{token}Origin: http://evil.example\r\n"),
    );
    assert_eq!(foreign.status, 403);
    let cross = request(
        http,
        "DELETE",
        "/f.txt",
        &format!("{cookie}{token}Sec-Fetch-Site: cross-site\r\n"),
    );
    assert_eq!(cross.status, 403);
    let put = format!(
        "PUT /new.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{cookie}Content-Length: 3\r\n\r\nabc"
    );
    assert_eq!(exchange(http, put.as_bytes()).status, 403);
    assert!(dir.path().join("f.txt").exists());
    assert!(!dir.path().join("new.txt").exists());
    // With the token, from the same origin: done.
    let same = request(
        http,
        "DELETE",
        "/f.txt",
        &format!("{cookie}{token}Origin: http://t\r\nSec-Fetch-Site: same-origin\r\n"),
    );
    assert!(
        matches!(same.status, 200 | 204),
        "{} {}",
        same.status,
        same.text()
    );
    assert!(!dir.path().join("f.txt").exists());
    let mkcol = request(http, "MKCOL", "/made/", &format!("{cookie}{token}"));
    assert_eq!(mkcol.status, 201);
    // Basic needs no token.
    assert_eq!(
        request(http, "MKCOL", "/by-basic/", &basic("alice", "wonder")).status,
        201
    );

    // Logout: a foreign origin or no token is refused; with the form's token the session ends.
    assert_eq!(post_form(http, "/.logout", "", &cookie).status, 403);
    let out = post_form(http, "/.logout", &format!("csrf={csrf}"), &cookie);
    assert_eq!(out.status, 303, "{}", out.text());
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        request(http, "GET", "/", &format!("{cookie}{HTML}")).status,
        303
    );
    assert_eq!(request(http, "GET", "/g.txt", &cookie).status, 401);
    assert_eq!(
        request(http, "DELETE", "/g.txt", &format!("{cookie}{token}")).status,
        401
    );

    // A foreign form cannot log a browser in.
    let forged = post_form(
        http,
        "/.login",
        "user=alice&password=wonder",
        "Origin: http://evil.example\r\n",
    );
    assert_eq!(forged.status, 403);
    assert!(forged.header("set-cookie").is_none());

    // Wrong passwords over the form (two) and FTP (the third): banned on both.
    let wrong = post_form(http, "/.login", "user=alice&password=guess", "");
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none());
    assert!(wrong.text().contains("Wrong user name or password"));
    assert_eq!(
        post_form(http, "/.login", "user=alice&password=guess2", "").status,
        401
    );
    let mut ftp = Client::connect(server.addr);
    ftp.expect("USER alice", 331);
    assert_eq!(ftp.cmd("PASS guess3").code.0, 421);
    let refused = post_form(http, "/.login", "user=alice&password=wonder", "");
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert!(refused.header("set-cookie").is_none());
}

/// The page without JavaScript: names are text (escaped), links are the server's own and
/// lead into folders and to the bytes, and sorting is by query string.
#[test]
fn page_escapes_names_and_browses_without_javascript() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "<img src=x onerror=alert(1)>.txt";
    std::fs::write(dir.path().join(evil), b"markup").unwrap();
    std::fs::write(dir.path().join("big.bin"), vec![7u8; 5000]).unwrap();
    std::fs::write(dir.path().join("a \"q\" & b.txt"), b"q").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/inner.txt"), b"inner").unwrap();
    let server = http_server(Config::for_folder(dir.path()));
    let http = server.http.unwrap();

    let page = request(http, "GET", "/", HTML);
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let text = page.text();
    assert!(!text.contains("<img"), "{text}");
    assert!(
        text.contains(">&lt;img src=x onerror=alert(1)&gt;.txt</a>"),
        "{text}"
    );
    assert!(
        text.contains("href=\"%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt\""),
        "{text}"
    );
    assert!(text.contains(">a &quot;q&quot; &amp; b.txt</a>"), "{text}");
    assert!(!text.contains("<script>") && text.contains("src=\"/.assets/page.js\""));
    // The escaped link fetches the file.
    let file = request(
        http,
        "GET",
        "/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt",
        "",
    );
    assert_eq!(file.body, b"markup");
    // Into a folder, with breadcrumbs back.
    assert!(text.contains("<a href=\"sub/\">sub</a>"), "{text}");
    let sub = request(http, "GET", "/sub/", HTML).text();
    assert!(sub.contains("<a href=\"/\">Home</a>") && sub.contains("<a href=\"/sub/\">sub</a>"));
    assert!(sub.contains("href=\"inner.txt\""), "{sub}");
    // Sorting: folders first, then by size, descending.
    let sorted = request(http, "GET", "/?sort=size&order=desc", HTML).text();
    let at = |name: &str| sorted.find(&format!("data-name=\"{name}\"")).unwrap();
    assert!(at("sub") < at("big.bin"));
    assert!(at("big.bin") < at("&lt;img src=x onerror=alert(1)&gt;.txt"));
    let by_name = request(http, "GET", "/?sort=name&order=asc", HTML).text();
    let at = |name: &str| by_name.find(&format!("data-name=\"{name}\"")).unwrap();
    assert!(at("a &quot;q&quot; &amp; b.txt") < at("big.bin"));
    // Scripts still get plain text and JSON.
    assert_eq!(request(http, "GET", "/sub/", "").text(), "inner.txt\n");
    assert!(
        request(http, "GET", "/?format=json", HTML)
            .text()
            .starts_with("{\"entries\"")
    );
    // The assets.
    let js = request(http, "GET", "/.assets/page.js", "");
    assert_eq!(js.status, 200);
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.text().contains("X-CSRF-Token"));
    assert_eq!(request(http, "GET", "/.assets/nope.js", "").status, 404);
    // Anonymous is allowed here: no redirect to the form, a way to log in offered.
    assert!(text.contains("/.login?next="));
}

/// Over HTTPS the session cookie is also `Secure`.
#[test]
fn page_cookie_is_secure_over_https() {
    use common::tls::{ClientOptions, pki, tcp, try_tls_connect};
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_with_alice(dir.path());
    config.tls = Some(pki.settings.clone());
    let server = Ferryd::builder(config).listen_https("127.0.0.1:0").start();
    let http11 = pki.client_config_with(ClientOptions {
        alpn: &[b"http/1.1"],
        ..ClientOptions::default()
    });
    let mut tls = try_tls_connect(&http11, tcp(server.https.unwrap())).unwrap();
    let form = "user=alice&password=wonder";
    let raw = format!(
        "POST /.login HTTP/1.1\r\nHost: t\r\nConnection: close\r\nOrigin: https://t\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    tls.write_all(raw.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    let _ = tls.read_to_end(&mut bytes);
    let answer = parse(&bytes);
    assert_eq!(answer.status, 303, "{}", answer.text());
    let set = answer.header("set-cookie").unwrap();
    assert!(
        set.contains("; Secure") && set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
}

/// A head of 1 MiB (one header line, and many lines) is refused with 431 or the connection is
/// closed before it is all read; the server goes on serving.
#[test]
fn a_mebibyte_head_is_refused_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"f").unwrap();
    let server = http_server(Config::for_folder(dir.path()));
    let http = server.http.unwrap();
    let one_line = format!("X-Big: {}\r\n", "a".repeat(1 << 20));
    let many_lines = "X-Small: aaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat((1 << 20) / 34);
    for headers in [one_line, many_lines] {
        let raw = format!("GET /f.txt HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n");
        let mut stream = TcpStream::connect(http).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        // The server may answer and close long before the head is all sent.
        let _ = stream.write_all(raw.as_bytes());
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        assert!(
            bytes.is_empty() || bytes.starts_with(b"HTTP/1.1 431"),
            "{:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(100)])
        );
        assert_eq!(request(http, "GET", "/f.txt", "").status, 200);
    }
}

/// Slowloris on the head: a client that sends its head one byte every 100 ms (never quite
/// silent) is cut once the head has taken longer than the head timeout, and other clients
/// are served all the while.
#[test]
fn a_trickled_head_is_cut_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"f").unwrap();
    let mut config = Config::for_folder(dir.path());
    config.login_timeout = Duration::from_secs(2);
    let server = http_server(config);
    let http = server.http.unwrap();
    let trickler = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(http).unwrap();
        let began = Instant::now();
        stream
            .write_all(b"GET /f.txt HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            .unwrap();
        // Bounded: 15 s of trickle at most. A write fails once the server has closed (the
        // first write after the close draws a reset, the next one fails).
        for _ in 0..150 {
            std::thread::sleep(Duration::from_millis(100));
            if stream.write_all(b"a").is_err() {
                return Some(began.elapsed());
            }
        }
        None
    });
    // Meanwhile, normal requests keep being answered.
    for _ in 0..10 {
        assert_eq!(request(http, "GET", "/f.txt", "").status, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    let cut_after = trickler.join().unwrap();
    let cut_after = cut_after.expect("the trickled head was never cut");
    assert!(
        cut_after >= Duration::from_secs(1) && cut_after < Duration::from_secs(8),
        "cut after {cut_after:?}"
    );
    assert_eq!(request(http, "GET", "/f.txt", "").status, 200);
}

/// Slowloris on a body: a PUT whose body trickles a few bytes and then stalls beyond the data
/// timeout is cut (408 or closed); no file, no partial beside it; the server goes on.
#[test]
fn a_stalled_put_body_is_cut_and_nothing_is_published() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"f").unwrap();
    let mut config = Config::for_folder(dir.path());
    config.anonymous = Anonymous::Write;
    config.data_timeout = Duration::from_secs(1);
    let server = http_server(config);
    let http = server.http.unwrap();
    let mut stream = TcpStream::connect(http).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
        .write_all(b"PUT /slow.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
        .unwrap();
    for _ in 0..5 {
        stream.write_all(b"x").unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let began = Instant::now();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    assert!(began.elapsed() < Duration::from_secs(8), "not cut");
    assert!(
        bytes.is_empty() || bytes.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );
    // The discard runs on the server a moment after the answer.
    let started = Instant::now();
    while names(dir.path()) != ["f.txt"] {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "left behind: {:?}",
            names(dir.path())
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(request(http, "GET", "/slow.bin", "").status, 404);
    assert_eq!(request(http, "GET", "/f.txt", "").status, 200);
}

/// Many connections at once, beyond the server's limit: those over it are told 503 with
/// Retry-After and closed at once (none hangs), those within it are served; once they close, a
/// normal request is served again.
#[test]
fn a_crowd_beyond_the_limit_is_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"f").unwrap();
    let mut config = Config::for_folder(dir.path());
    config.max_sessions = 20;
    config.max_sessions_per_ip = 1000;
    let server = http_server(config);
    let http = server.http.unwrap();
    // All connected before any request, so that the door sees 60 at once.
    let mut crowd: Vec<TcpStream> = (0..60).map(|_| TcpStream::connect(http).unwrap()).collect();
    let (mut served, mut refused) = (0, 0);
    for stream in &mut crowd {
        // A refused connection is answered without a request (and a request written into it
        // could draw a reset); an admitted one says nothing until asked.
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut first = [0u8; 1];
        match stream.read(&mut first) {
            Ok(1) => {
                stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                let mut rest = Vec::new();
                let _ = stream.read_to_end(&mut rest);
                let mut bytes = first.to_vec();
                bytes.extend_from_slice(&rest);
                let answer = parse(&bytes);
                assert_eq!(answer.status, 503, "{}", answer.text());
                assert!(answer.header("retry-after").is_some());
                refused += 1;
            }
            Ok(_) => panic!("closed without an answer"),
            Err(error) => {
                assert!(
                    matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "{error}"
                );
                // Admitted (or a refusal slower than the wait: then 503 here).
                stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                let _ = stream
                    .write_all(b"GET /f.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                let mut bytes = Vec::new();
                let _ = stream.read_to_end(&mut bytes);
                match parse(&bytes).status {
                    200 => served += 1,
                    503 => refused += 1,
                    other => panic!("unexpected {other}"),
                }
            }
        }
    }
    assert_eq!((served, refused), (20, 40));
    drop(crowd);
    let started = Instant::now();
    while request(http, "GET", "/f.txt", "").status != 200 {
        assert!(started.elapsed() < Duration::from_secs(10), "no room again");
        std::thread::sleep(Duration::from_millis(20));
    }
}
