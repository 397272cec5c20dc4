//! WebDAV from raw sockets: `OPTIONS` before login, `PROPFIND` depth limits, `MOVE` and `COPY`
//! under the account's rights and quota and inside its folder, locks that refuse other writers
//! (423). Real WebDAV clients (litmus, rclone, cadaver, Python's http.client) are in
//! ferry-interop's `webdav.rs`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ferry_server::auth::Right;
use ferry_server::{Anonymous, Config, User};
use ferry_testkit::Ferryd;

/// A response's status and everything after its head (chunked bodies left as sent, which is
/// enough to look for words in a short one).
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Sends one request (with `Connection: close`) and reads the answer to the end.
fn send(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(raw.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    Answer {
        status: head.split(' ').nth(1).unwrap().parse().unwrap(),
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// `Authorization: Basic` for bob:secret.
const BOB: &str = "Authorization: Basic Ym9iOnNlY3JldA==\r\n";

fn server(root: &std::path::Path, edit: impl FnOnce(&mut User)) -> Ferryd {
    let mut config = Config::for_folder(root);
    config.anonymous = Anonymous::Off;
    let mut bob = User::new(b"secret", String::new(), false).unwrap();
    edit(&mut bob);
    config.users.users.insert("bob".into(), bob);
    Ferryd::builder(config)
        .listen("127.0.0.1:0")
        .listen_http("127.0.0.1:0")
        .start()
}

#[test]
fn options_before_login_and_finite_depths_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join("docs/a.txt"), b"a").unwrap();
    let running = server(dir.path(), |_| {});
    let http = running.http.unwrap();

    // sftpgo#614: a file manager probes OPTIONS without credentials.
    let options = send(http, "OPTIONS", "/docs/", "", "");
    assert!(options.status < 300, "{}", options.head);
    let dav = options.head.to_ascii_lowercase();
    assert!(dav.contains("\r\ndav: 1, 2"), "{}", options.head);
    assert!(dav.contains("propfind"), "{}", options.head);

    assert_eq!(
        send(http, "PROPFIND", "/docs/", "Depth: 1\r\n", "").status,
        401
    );
    let listing = send(
        http,
        "PROPFIND",
        "/docs/",
        &format!("{BOB}Depth: 1\r\n"),
        "",
    );
    assert_eq!(listing.status, 207, "{}", listing.body);
    assert!(listing.body.contains("a.txt"), "{}", listing.body);
    let one = send(
        http,
        "PROPFIND",
        "/docs/a.txt",
        &format!("{BOB}Depth: 0\r\n"),
        "",
    );
    assert_eq!(one.status, 207);
    assert!(one.body.contains("getcontentlength"), "{}", one.body);

    let infinite = send(
        http,
        "PROPFIND",
        "/",
        &format!("{BOB}Depth: infinity\r\n"),
        "",
    );
    assert_eq!(infinite.status, 403);
    assert!(
        infinite.body.contains("propfind-finite-depth"),
        "{}",
        infinite.body
    );
}

#[test]
fn move_and_copy_stay_inside_and_follow_the_rights() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir_all(root.join("ro")).unwrap();
    std::fs::create_dir_all(root.join("drop")).unwrap();
    std::fs::write(root.join("a.txt"), b"alpha").unwrap();
    std::fs::write(root.join("ro/kept.txt"), b"kept").unwrap();
    let running = server(&root, |bob| {
        bob.permissions = BTreeMap::from([
            ("/".to_string(), vec![Right::All]),
            ("/ro".to_string(), vec![Right::List, Right::Download]),
            ("/drop".to_string(), vec![Right::List, Right::Upload]),
        ]);
    });
    let http = running.http.unwrap();
    let dest = |path: &str| format!("{BOB}Destination: http://{http}{path}\r\n");

    // Out of the folder: a dot segment 403, another host 502, nothing written outside.
    for (destination, status) in [
        (
            format!("{BOB}Destination: http://{http}/../escaped.txt\r\n"),
            403,
        ),
        (format!("{BOB}Destination: /%2e%2e/escaped.txt\r\n"), 403),
        (
            format!("{BOB}Destination: http://elsewhere.example/a.txt\r\n"),
            502,
        ),
    ] {
        for method in ["MOVE", "COPY"] {
            assert_eq!(
                send(http, method, "/a.txt", &destination, "").status,
                status,
                "{method} {destination}"
            );
        }
    }
    assert!(!outer.path().join("escaped.txt").exists());

    // COPY: a new file, bytes exact; MOVE: renamed.
    assert_eq!(
        send(http, "COPY", "/a.txt", &dest("/b.txt"), "").status,
        201
    );
    assert_eq!(std::fs::read(root.join("b.txt")).unwrap(), b"alpha");
    assert_eq!(
        send(http, "MOVE", "/b.txt", &dest("/c.txt"), "").status,
        201
    );
    assert!(!root.join("b.txt").exists());
    assert_eq!(std::fs::read(root.join("c.txt")).unwrap(), b"alpha");
    // Overwrite: F refuses an existing target (412).
    let no_overwrite = format!("{}Overwrite: F\r\n", dest("/a.txt"));
    assert_eq!(send(http, "COPY", "/c.txt", &no_overwrite, "").status, 412);

    // No rename right in /ro: nothing moves out of it or into it; COPY into it needs upload.
    assert_eq!(
        send(http, "MOVE", "/ro/kept.txt", &dest("/k.txt"), "").status,
        403
    );
    assert_eq!(
        send(http, "MOVE", "/c.txt", &dest("/ro/c.txt"), "").status,
        403
    );
    assert_eq!(
        send(http, "COPY", "/c.txt", &dest("/ro/c.txt"), "").status,
        403
    );
    assert_eq!(send(http, "DELETE", "/ro/kept.txt", BOB, "").status, 403);
    let patched = send(http, "PROPPATCH", "/ro/kept.txt", BOB, PROPPATCH);
    assert!(refused(&patched), "{} {}", patched.status, patched.body);
    assert_eq!(
        ferry_testkit::names_in(&root.join("ro")),
        ["kept.txt".to_string()]
    );
    // Upload without overwrite in /drop: a new copy yes, replacing it no.
    assert_eq!(
        send(http, "COPY", "/c.txt", &dest("/drop/c.txt"), "").status,
        201
    );
    let replace = send(http, "COPY", "/a.txt", &dest("/drop/c.txt"), "");
    assert!(refused(&replace), "{} {}", replace.status, replace.body);
    assert_eq!(std::fs::read(root.join("drop/c.txt")).unwrap(), b"alpha");
}

/// 403, or a multistatus (207) whose only status is 403 (RFC 4918 sections 9.2 and 9.8.8).
fn refused(answer: &Answer) -> bool {
    answer.status == 403
        || (answer.status == 207
            && answer.body.contains("403 Forbidden")
            && !answer.body.contains(" 200 OK")
            && !answer.body.contains(" 201 ")
            && !answer.body.contains(" 204 "))
}

const PROPPATCH: &str = "<?xml version=\"1.0\"?><D:propertyupdate xmlns:D=\"DAV:\" \
    xmlns:Z=\"urn:ferry\"><D:set><D:prop><Z:colour>blue</Z:colour></D:prop></D:set>\
    </D:propertyupdate>";

#[test]
fn dead_properties_and_quota_over_copy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.bin"), vec![7u8; 600]).unwrap();
    let running = server(dir.path(), |bob| bob.quota_bytes = 1000);
    let http = running.http.unwrap();
    let dest = |path: &str| format!("{BOB}Destination: http://{http}{path}\r\n");

    let patched = send(http, "PROPPATCH", "/big.bin", BOB, PROPPATCH);
    assert_eq!(patched.status, 207, "{}", patched.body);
    let found = send(
        http,
        "PROPFIND",
        "/big.bin",
        &format!("{BOB}Depth: 0\r\n"),
        "",
    );
    assert!(found.body.contains("blue"), "{}", found.body);

    // 600 + 600 > 1000: the copy is refused whole (507), nothing left.
    assert_eq!(
        send(http, "COPY", "/big.bin", &dest("/again.bin"), "").status,
        507
    );
    assert!(!dir.path().join("again.bin").exists());
    // A move carries the property along.
    assert_eq!(
        send(http, "MOVE", "/big.bin", &dest("/moved.bin"), "").status,
        201
    );
    let moved = send(
        http,
        "PROPFIND",
        "/moved.bin",
        &format!("{BOB}Depth: 0\r\n"),
        "",
    );
    assert!(moved.body.contains("blue"), "{}", moved.body);
}

const LOCKINFO: &str = "<?xml version=\"1.0\"?><D:lockinfo xmlns:D=\"DAV:\"><D:lockscope>\
    <D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>ferry</D:owner>\
    </D:lockinfo>";

#[test]
fn a_lock_refuses_other_writers_until_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("doc.txt"), b"v1").unwrap();
    let running = server(dir.path(), |_| {});
    let http = running.http.unwrap();

    let locked = send(
        http,
        "LOCK",
        "/doc.txt",
        &format!("{BOB}Timeout: Second-60\r\n"),
        LOCKINFO,
    );
    assert_eq!(locked.status, 200, "{}", locked.body);
    let token = locked
        .head
        .lines()
        .find_map(|line| {
            line.strip_prefix("lock-token: ")
                .or(line.strip_prefix("Lock-Token: "))
        })
        .unwrap()
        .trim()
        .to_string();

    // Without the token: 423 for PUT (through Ferry's own PUT routing), DELETE and MOVE.
    assert_eq!(send(http, "PUT", "/doc.txt", BOB, "v2").status, 423);
    assert_eq!(send(http, "DELETE", "/doc.txt", BOB, "").status, 423);
    let elsewhere = format!("{BOB}Destination: http://{http}/other.txt\r\n");
    assert_eq!(send(http, "MOVE", "/doc.txt", &elsewhere, "").status, 423);
    assert_eq!(std::fs::read(dir.path().join("doc.txt")).unwrap(), b"v1");

    // With it, a PUT cut mid-body (through dav-server's PUT) leaves the file as it was and no
    // partial beside it.
    let with_token = format!("{BOB}If: ({token})\r\n");
    let mut cut = TcpStream::connect(http).unwrap();
    cut.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "PUT /doc.txt HTTP/1.1\r\nHost: {http}\r\n{with_token}Content-Length: 100\r\n\r\nabc"
    );
    cut.write_all(head.as_bytes()).unwrap();
    cut.shutdown(std::net::Shutdown::Write).unwrap();
    let _ = cut.read_to_end(&mut Vec::new());
    let settled = std::time::Instant::now();
    while ferry_testkit::names_in(dir.path()) != ["doc.txt".to_string()] {
        assert!(
            settled.elapsed() < Duration::from_secs(5),
            "{:?}",
            ferry_testkit::names_in(dir.path())
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read(dir.path().join("doc.txt")).unwrap(), b"v1");

    // A whole one replaces the file.
    assert_eq!(send(http, "PUT", "/doc.txt", &with_token, "v2").status, 204);
    assert_eq!(std::fs::read(dir.path().join("doc.txt")).unwrap(), b"v2");

    let unlock = format!("{BOB}Lock-Token: {token}\r\n");
    assert_eq!(send(http, "UNLOCK", "/doc.txt", &unlock, "").status, 204);
    assert_eq!(send(http, "PUT", "/doc.txt", BOB, "v3").status, 204);
    assert_eq!(std::fs::read(dir.path().join("doc.txt")).unwrap(), b"v3");

    // LOCK of an unmapped URL makes an empty file (RFC 4918 section 7.3).
    let new = send(http, "LOCK", "/new.txt", BOB, LOCKINFO);
    assert_eq!(new.status, 201, "{}", new.body);
    assert_eq!(std::fs::read(dir.path().join("new.txt")).unwrap(), b"");
}

/// The WebDAV methods answer from the same error table as the others: a refused name is 400
/// (not dav-server's 403) and a file another upload is writing is 503 with Retry-After (not
/// 500).
#[test]
fn refused_names_and_busy_files_answer_as_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("src.txt"), b"source").unwrap();
    let running = server(dir.path(), |_| {});
    let http = running.http.unwrap();

    let refused = send(http, "MKCOL", "/.ferry-partial.x/", BOB, "");
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(!dir.path().join(".ferry-partial.x").exists());

    // An upload to busy.txt that has sent 3 of 100 bytes holds the name.
    let mut upload = TcpStream::connect(http).unwrap();
    upload
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head =
        format!("PUT /busy.txt HTTP/1.1\r\nHost: {http}\r\n{BOB}Content-Length: 100\r\n\r\nabc");
    upload.write_all(head.as_bytes()).unwrap();
    let onto = format!("{BOB}Destination: http://{http}/busy.txt\r\nOverwrite: T\r\n");
    // Once its partial is on disk, the PUT holds the name.
    let partial = dir.path().join(".ferry-partial.busy.txt");
    for _ in 0..200 {
        if partial.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(partial.exists(), "the PUT never started its upload");
    let busy = send(http, "COPY", "/src.txt", &onto, "");
    assert_eq!(busy.status, 503, "{}", busy.head);
    assert!(
        busy.head.to_ascii_lowercase().contains("retry-after:"),
        "{}",
        busy.head
    );
    assert!(!dir.path().join("busy.txt").exists());
    drop(upload);
    // The server goes on: the copy works once the upload is gone.
    let mut answer = send(http, "COPY", "/src.txt", &onto, "");
    for _ in 0..100 {
        if answer.status != 503 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        answer = send(http, "COPY", "/src.txt", &onto, "");
    }
    assert!(
        answer.status == 201 || answer.status == 204,
        "{}",
        answer.head
    );
    assert_eq!(
        std::fs::read(dir.path().join("busy.txt")).unwrap(),
        b"source"
    );
}
