//! Share links (`/s/TOKEN`) with real clients: curl and wget through a file link and a folder
//! link (bytes compared, `curl -C -` resume), expiry, revocation without a restart, a forged
//! token, a restart and a second node with the same key, upload-only links and their upload
//! page for browsers, `..` under a folder link, `POST /.share`, and `ferryd share
//! create|revoke` from the command line.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferry_proto::VirtualPath;
use ferry_server::share::{Claims, Kind, ShareKeys};
use ferry_server::{Anonymous, Config, User};
use ferry_testkit::{Ferryd, assert_bytes, run_bounded, test_bytes, tool};

/// Longest a curl or wget run may take.
const CLIENT_LIMIT: Duration = Duration::from_secs(30);

fn path(text: &str) -> VirtualPath {
    VirtualPath::root().resolve(text.as_bytes()).unwrap()
}

/// A root with `docs/big.bin` (1 MiB + 7), `docs/sub/x.txt`, `docs/<b>.txt` and
/// `secret.txt` beside `docs`; alice (password "wonder") sees the whole root.
fn root(dir: &Path) -> Vec<u8> {
    let big = test_bytes((1 << 20) + 7, 18);
    std::fs::create_dir_all(dir.join("docs/sub")).unwrap();
    std::fs::create_dir_all(dir.join("inbox")).unwrap();
    std::fs::write(dir.join("docs/big.bin"), &big).unwrap();
    std::fs::write(dir.join("docs/sub/x.txt"), b"x in sub").unwrap();
    std::fs::write(dir.join("docs/<b>.txt"), b"markup").unwrap();
    std::fs::write(dir.join("secret.txt"), b"SECRET").unwrap();
    big
}

fn config(dir: &Path, keys: &ShareKeys) -> Config {
    let mut config = Config::for_folder(dir);
    config.anonymous = Anonymous::Off;
    config.login_failure_delay = Duration::from_millis(10);
    config.users.users.insert(
        "alice".into(),
        User::new(b"wonder", String::new(), false).unwrap(),
    );
    config.share_keys = Some(keys.clone());
    config
}

fn start(config: Config) -> (Ferryd, SocketAddr) {
    let server = Ferryd::builder(config).listen_http("127.0.0.1:0").start();
    let http = server.http.unwrap();
    (server, http)
}

fn link(keys: &ShareKeys, user: &str, at: &str, kind: Kind, valid: Option<Duration>) -> String {
    let claims = Claims::new(user, path(at), kind, valid).unwrap();
    format!("/s/{}", keys.sign(&claims).unwrap())
}

/// curl's status code for `url` (any method, extra arguments), and its body.
fn curl(args: &[&str], url: &str) -> (u16, Vec<u8>) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let output = run_bounded(
        Command::new(tool("curl", "curl"))
            .args(["-sS", "--path-as-is", "-o"])
            .arg(out.path())
            .args(["-w", "%{http_code}"])
            .args(args)
            .arg(url),
        CLIENT_LIMIT,
    );
    let status = String::from_utf8_lossy(&output.stdout).parse().unwrap_or(0);
    (status, std::fs::read(out.path()).unwrap_or_default())
}

fn status(url: &str) -> u16 {
    curl(&[], url).0
}

#[test]
fn file_and_folder_links_with_curl_and_wget() {
    let dir = tempfile::tempdir().unwrap();
    let big = root(dir.path());
    let state = tempfile::tempdir().unwrap();
    let (keys, _) = ShareKeys::load_or_create(&state.path().join("share.key")).unwrap();
    let (_server, http) = start(config(dir.path(), &keys));
    let base = format!("http://{http}");
    let file = format!(
        "{base}{}",
        link(&keys, "alice", "/docs/big.bin", Kind::Read, None)
    );
    let folder = format!("{base}{}", link(&keys, "alice", "/docs", Kind::Read, None));

    // A file link: curl, curl -C - from a partial copy, HEAD, wget.
    let (code, body) = curl(&[], &file);
    assert_eq!(code, 200);
    assert_bytes(&body, &big);
    let partial = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    std::fs::write(&partial, &big[..300_000]).unwrap();
    let output = run_bounded(
        Command::new(tool("curl", "curl"))
            .args(["-sS", "-f", "-C", "-", "-o"])
            .arg(&partial)
            .arg(&file),
        CLIENT_LIMIT,
    );
    assert!(output.status.success(), "{output:?}");
    assert_bytes(&std::fs::read(&partial).unwrap(), &big);
    let output = run_bounded(
        Command::new(tool("curl", "curl")).args(["-sS", "-I", &file]),
        CLIENT_LIMIT,
    );
    let head = String::from_utf8_lossy(&output.stdout).to_lowercase();
    assert!(
        head.contains("accept-ranges: bytes") && head.contains("etag:"),
        "{head}"
    );
    let fetched = tempfile::NamedTempFile::new().unwrap();
    let output = run_bounded(
        Command::new(tool("wget", "wget"))
            .args(["-q", "-O"])
            .arg(fetched.path())
            .arg(&file),
        CLIENT_LIMIT,
    );
    assert!(output.status.success(), "{output:?}");
    assert_bytes(&std::fs::read(fetched.path()).unwrap(), &big);
    assert!(
        head.contains("content-disposition: attachment; filename=\"big.bin\""),
        "{head}"
    );
    // Saved by its name, not by the token that ends the URL.
    let saved = tempfile::tempdir().unwrap();
    let output = run_bounded(
        Command::new(tool("wget", "wget"))
            .args(["-q", "--content-disposition", "-P"])
            .arg(saved.path())
            .arg(&file),
        CLIENT_LIMIT,
    );
    assert!(output.status.success(), "{output:?}");
    assert_bytes(&std::fs::read(saved.path().join("big.bin")).unwrap(), &big);
    // Below a file link there is nothing; a read link takes no upload.
    let below = status(&format!("{file}/x"));
    assert!(below == 404 || below == 409, "{below}");
    assert_eq!(
        curl(&["-T", "/dev/null"], &format!("{folder}/new.txt")).0,
        405
    );

    // A folder link: the page (names as text), JSON, a file below, a zip, wget.
    assert_eq!(status(&folder), 301);
    let (code, page) = curl(&[], &format!("{folder}/"));
    let page = String::from_utf8(page).unwrap();
    assert_eq!(code, 200);
    assert!(page.contains("href=\"./big.bin\""), "{page}");
    assert!(page.contains("href=\"./sub/\""), "{page}");
    assert!(
        page.contains("&lt;b&gt;.txt") && !page.contains("<b>"),
        "{page}"
    );
    assert!(!page.contains("secret"), "{page}");
    let (code, json) = curl(&[], &format!("{folder}/?format=json"));
    assert_eq!(code, 200);
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["entries"].as_array().unwrap().len(), 3, "{json}");
    let (code, body) = curl(&[], &format!("{folder}/sub/x.txt"));
    assert_eq!((code, body.as_slice()), (200, &b"x in sub"[..]));
    let (code, zip) = curl(&[], &format!("{folder}/?zip"));
    assert_eq!(code, 200);
    assert!(zip.starts_with(b"PK"));
    let output = run_bounded(
        Command::new(tool("wget", "wget"))
            .args(["-q", "-O"])
            .arg(fetched.path())
            .arg(format!("{folder}/big.bin")),
        CLIENT_LIMIT,
    );
    assert!(output.status.success(), "{output:?}");
    assert_bytes(&std::fs::read(fetched.path()).unwrap(), &big);

    // Nothing outside the folder, in any encoding.
    for attempt in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/..%5csecret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/sub/../../secret.txt",
        "/./../secret.txt",
    ] {
        let (code, body) = curl(&[], &format!("{folder}{attempt}"));
        assert!(code == 400 || code == 404, "{attempt}: {code}");
        assert!(
            !String::from_utf8_lossy(&body).contains("SECRET"),
            "{attempt}"
        );
    }
    assert_eq!(status(&format!("{base}/s/")), 404);
    // The server still serves.
    assert_eq!(status(&format!("{folder}/sub/x.txt")), 200);
}

#[test]
fn forged_expired_revoked_and_a_gone_user() {
    let dir = tempfile::tempdir().unwrap();
    root(dir.path());
    let state = tempfile::tempdir().unwrap();
    let (keys, _) = ShareKeys::load_or_create(&state.path().join("share.key")).unwrap();
    let mut config = config(dir.path(), &keys);
    config.max_login_failures = 4;
    let (_server, http) = start(config);
    let base = format!("http://{http}");

    let good = link(&keys, "alice", "/docs/sub/x.txt", Kind::Read, None);
    assert_eq!(status(&format!("{base}{good}")), 200);
    // One character changed: 404, and the body says nothing more.
    let mut forged = good.clone().into_bytes();
    let at = forged.len() / 2;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let (code, body) = curl(&[], &format!("{base}{forged}"));
    assert_eq!((code, body.as_slice()), (404, &b"not found\n"[..]));
    // Another key's link, and a user who is not (or no longer) in the users file.
    let other = tempfile::tempdir().unwrap();
    let (other, _) = ShareKeys::load_or_create(&other.path().join("k")).unwrap();
    let foreign = link(&other, "alice", "/docs/sub/x.txt", Kind::Read, None);
    assert_eq!(status(&format!("{base}{foreign}")), 404);
    let gone = link(&keys, "bob", "/docs/sub/x.txt", Kind::Read, None);
    assert_eq!(status(&format!("{base}{gone}")), 404);

    // Expiry: works before, 410 after.
    let short = link(
        &keys,
        "alice",
        "/docs/sub/x.txt",
        Kind::Read,
        Some(Duration::from_secs(2)),
    );
    assert_eq!(status(&format!("{base}{short}")), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut expired = 0;
    while std::time::Instant::now() < deadline {
        expired = status(&format!("{base}{short}"));
        if expired != 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(expired, 410);

    // Revocation, by the list beside the key, with no restart.
    let claims = keys.authentic(good.trim_start_matches("/s/")).unwrap();
    assert!(keys.revoke(&claims.id, "test").unwrap());
    assert_eq!(status(&format!("{base}{good}")), 404);

    // Four bad tokens (forged, foreign, revoked twice): the address is banned, even for a
    // good link.
    assert_eq!(status(&format!("{base}{good}")), 404);
    let fresh = link(&keys, "alice", "/docs/sub/x.txt", Kind::Read, None);
    assert_eq!(status(&format!("{base}{fresh}")), 429);
}

/// A server for `root` with alice and a read-only `reader`, its share key kept in `state`.
fn start_with_a_reader(root: &Path, state: &Path) -> (ShareKeys, Ferryd, SocketAddr) {
    let (keys, _) = ShareKeys::load_or_create(&state.join("share.key")).unwrap();
    let mut config = config(root, &keys);
    config.users.users.insert(
        "reader".into(),
        User::new(b"pw", String::new(), true).unwrap(),
    );
    let (server, http) = start(config);
    (keys, server, http)
}

#[test]
fn upload_only_links() {
    let dir = tempfile::tempdir().unwrap();
    root(dir.path());
    let state = tempfile::tempdir().unwrap();
    let (keys, _server, http) = start_with_a_reader(dir.path(), state.path());
    let base = format!("http://{http}");
    let inbox = format!(
        "{base}{}",
        link(&keys, "alice", "/inbox", Kind::Upload, None)
    );
    let data = test_bytes(200_000, 3);
    let upload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(upload.path(), &data).unwrap();
    let file = upload.path().to_str().unwrap();

    assert_eq!(curl(&["-T", file], &format!("{inbox}/up.bin")).0, 201);
    assert_bytes(
        &std::fs::read(dir.path().join("inbox/up.bin")).unwrap(),
        &data,
    );
    // Never listed, never downloaded, never replaced, never outside. (The link itself is the
    // upload page, which names no file: see `upload_link_page_for_browsers`.)
    for page in [format!("{inbox}/"), format!("{inbox}/?format=json")] {
        let (code, body) = curl(&[], &page);
        assert_eq!(code, 200, "{page}");
        assert!(!String::from_utf8_lossy(&body).contains("up.bin"), "{page}");
    }
    assert_eq!(status(&format!("{inbox}/up.bin")), 405);
    assert_eq!(curl(&["-I"], &format!("{inbox}/up.bin")).0, 405);
    assert_eq!(curl(&["-T", file], &format!("{inbox}/up.bin")).0, 409);
    assert_eq!(curl(&["-T", file], &inbox).0, 405);
    for attempt in ["/../escape.bin", "/%2e%2e/escape.bin", "/..%2fescape.bin"] {
        let code = curl(&["-T", file], &format!("{inbox}{attempt}")).0;
        assert_eq!(code, 400, "{attempt}");
    }
    assert!(!dir.path().join("escape.bin").exists());
    // A user without the upload right: the link is refused by the file service.
    let readers = format!(
        "{base}{}",
        link(&keys, "reader", "/inbox", Kind::Upload, None)
    );
    assert_eq!(curl(&["-T", file], &format!("{readers}/r.bin")).0, 403);
    assert!(!dir.path().join("inbox/r.bin").exists());
}

/// curl's status code for `url`, the response's header lines (lower case) and its body.
fn curl_with_headers(args: &[&str], url: &str) -> (u16, String, Vec<u8>) {
    let headers = tempfile::NamedTempFile::new().unwrap();
    let mut all = vec!["-D", headers.path().to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, body) = curl(&all, url);
    let text = String::from_utf8_lossy(&std::fs::read(headers.path()).unwrap()).to_lowercase();
    (code, text, body)
}

/// The value of header `name` (lower case) in curl's header dump.
fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim())
    })
}

#[test]
fn upload_link_page_for_browsers() {
    let dir = tempfile::tempdir().unwrap();
    root(dir.path());
    std::fs::create_dir_all(dir.path().join("in<b>box")).unwrap();
    std::fs::write(dir.path().join("in<b>box/already-here.txt"), b"old").unwrap();
    let state = tempfile::tempdir().unwrap();
    let (keys, _server, http) = start_with_a_reader(dir.path(), state.path());
    let base = format!("http://{http}");
    let token_path = link(&keys, "alice", "/in<b>box", Kind::Upload, None);
    let inbox = format!("{base}{token_path}");

    // The link itself, with and without the slash: the page, as strict as the read listing.
    for url in [inbox.clone(), format!("{inbox}/")] {
        let (code, headers, body) = curl_with_headers(&[], &url);
        let page = String::from_utf8(body).unwrap();
        assert_eq!(code, 200, "{url}: {page}");
        assert_eq!(
            header(&headers, "content-type"),
            Some("text/html; charset=utf-8")
        );
        let csp = header(&headers, "content-security-policy").unwrap_or_default();
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{part} in {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
        assert!(header(&headers, "access-control-allow-origin").is_none());
        // The folder's name as text; nothing it holds; no inline script; the curl line.
        assert!(page.contains("in&lt;b&gt;box"), "{page}");
        assert!(!page.contains("<b>"), "{page}");
        assert!(!page.contains("already-here"), "{page}");
        assert!(
            page.contains("<script src=\"/.assets/upload.js\" defer></script>"),
            "{page}"
        );
        assert_eq!(page.matches("<script").count(), 1, "{page}");
        assert!(
            page.contains("type=\"file\" id=\"picker\" multiple"),
            "{page}"
        );
        assert!(page.contains("needs JavaScript"), "{page}");
        assert!(
            page.contains(&format!("curl -T FILE {inbox}/</code>")),
            "{page}"
        );
    }
    // HEAD, over a plain socket so that any byte after the head would be seen.
    let mut socket = std::net::TcpStream::connect(http).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        socket,
        "HEAD {token_path}/ HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, rest) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let head = head.to_lowercase();
    assert!(head.contains("content-security-policy: "), "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert_eq!(rest, "", "{head}");

    // The page's script is served like the main page's, without a login.
    let (code, headers, script) = curl_with_headers(&[], &format!("{base}/.assets/upload.js"));
    assert_eq!(code, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let script = String::from_utf8(script).unwrap();
    assert!(script.contains("XMLHttpRequest") && script.contains("encodeURIComponent"));
    assert!(!script.contains("innerHTML"));

    // The curl line on the page works as it stands (curl adds the file's name).
    let data = test_bytes(70_000, 9);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("from-curl.bin");
    std::fs::write(&file, &data).unwrap();
    let file = file.to_str().unwrap();
    assert_eq!(curl(&["-T", file], &format!("{inbox}/")).0, 201);
    assert_bytes(
        &std::fs::read(dir.path().join("in<b>box/from-curl.bin")).unwrap(),
        &data,
    );
    assert_eq!(curl(&["-T", file], &format!("{inbox}/")).0, 409);

    // Other methods: 405 with Allow saying what each address takes.
    let (code, headers, _) = curl_with_headers(&["-X", "POST", "-d", "x"], &inbox);
    assert_eq!(code, 405);
    assert_eq!(header(&headers, "allow"), Some("get, head"));
    let (code, headers, _) = curl_with_headers(&["-T", file], &inbox);
    assert_eq!(code, 405);
    assert_eq!(header(&headers, "allow"), Some("get, head"));
    let (code, headers, _) =
        curl_with_headers(&["-X", "POST", "-d", "x"], &format!("{inbox}/new.txt"));
    assert_eq!(code, 405);
    assert_eq!(header(&headers, "allow"), Some("put"));
    // Below the link, nothing is shown or told.
    for below in ["already-here.txt", "nothing.txt", "sub/"] {
        let (code, body) = curl(&[], &format!("{inbox}/{below}"));
        assert_eq!(code, 405, "{below}");
        assert!(!String::from_utf8_lossy(&body).contains("old"), "{below}");
    }
    assert_eq!(
        std::fs::read(dir.path().join("in<b>box/already-here.txt")).unwrap(),
        b"old"
    );

    // A user without the upload right there: no page, the file service's 403.
    let readers = format!(
        "{base}{}",
        link(&keys, "reader", "/in<b>box", Kind::Upload, None)
    );
    let (code, page) = curl(&[], &readers);
    assert_eq!(code, 403);
    assert!(!String::from_utf8_lossy(&page).contains("already-here"));
    // A forged token is still 404, page or not.
    assert_eq!(status(&format!("{base}/s/AAAA")), 404);
}

#[test]
fn post_share_makes_a_link_for_the_logged_in_user() {
    let dir = tempfile::tempdir().unwrap();
    root(dir.path());
    let state = tempfile::tempdir().unwrap();
    let (keys, _) = ShareKeys::load_or_create(&state.path().join("share.key")).unwrap();
    let (_server, http) = start(config(dir.path(), &keys));
    let base = format!("http://{http}");
    let endpoint = format!("{base}/.share");

    let (code, body) = curl(
        &[
            "-u",
            "alice:wonder",
            "-d",
            "path=%2Fdocs%2Fsub%2Fx.txt&expires=1h",
        ],
        &endpoint,
    );
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let made: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let url = made["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{base}/s/")), "{made}");
    assert!(made["expires"].as_u64().is_some(), "{made}");
    let (code, body) = curl(&[], url);
    assert_eq!((code, body.as_slice()), (200, &b"x in sub"[..]));

    let (code, body) = curl(
        &[
            "-u",
            "alice:wonder",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"path":"/inbox","expires":"never","upload_only":true}"#,
        ],
        &endpoint,
    );
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let made: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(made["expires"].is_null(), "{made}");
    // No login, a missing path, a file as an upload folder, a bad expiry.
    assert_eq!(curl(&["-d", "path=/docs"], &endpoint).0, 401);
    let alice = ["-u", "alice:wonder", "-d"];
    let ask = |body: &str| curl(&[alice[0], alice[1], alice[2], body], &endpoint).0;
    assert_eq!(ask("path=/nothing"), 404);
    assert_eq!(ask("path=/docs/big.bin&upload_only=1"), 403);
    assert_eq!(ask("path=/docs&expires=soon"), 400);
    assert_eq!(ask("expires=1d"), 400);
}

/// ferryd as a program, serving HTTP with `args`; its address.
fn ferryd(state: &Path, args: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferryd"))
        .env("XDG_STATE_HOME", state)
        .args(args)
        .args(["--http-bind", "127.0.0.1:0", "--bind", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..40 {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(addr) = line.strip_prefix("Listening on http://") {
            let addr = addr.trim_end_matches('/').parse().unwrap();
            // Keep reading (and dropping) its output so the server never blocks on a pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, addr);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("ferryd did not say where it listens");
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn share_cli(args: &[&str]) -> std::process::Output {
    run_bounded(
        Command::new(env!("CARGO_BIN_EXE_ferryd"))
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .arg("share")
            .args(args),
        CLIENT_LIMIT,
    )
}

/// `ferryd share create|revoke|list`, and `--share-key`: a link survives a restart and works
/// on a second node with the same key file.
#[test]
fn command_line_restart_and_two_nodes() {
    let dir = tempfile::tempdir().unwrap();
    root(dir.path());
    let state = tempfile::tempdir().unwrap();
    let key = state.path().join("node-key");
    let key = key.to_str().unwrap();
    let users = state.path().join("users.toml");
    let mut file = ferry_server::UsersFile::default();
    file.users.insert(
        "alice".into(),
        User::new(b"wonder", String::new(), false).unwrap(),
    );
    file.users.insert(
        "reader".into(),
        User::new(b"pw", String::new(), true).unwrap(),
    );
    file.save(&users).unwrap();
    let users = users.to_str().unwrap();

    // Errors: one line, non-zero exit.
    let common = ["--users", users, "--share-key", key];
    for (args, says) in [
        (vec!["/docs", "--user", "nobody"], "no user \"nobody\""),
        (
            vec!["/docs", "--user", "alice", "--expires", "soon"],
            "soon",
        ),
        (
            vec!["/inbox", "--user", "reader", "--upload-only"],
            "no upload right",
        ),
    ] {
        let output = share_cli(&[&["create"][..], &args, &common].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(output.stdout.is_empty());
    }

    let output = share_cli(
        &[
            &["create", "/docs/sub/x.txt", "--user", "alice"][..],
            &common,
        ]
        .concat(),
    );
    assert!(output.status.success(), "{output:?}");
    let link = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert!(link.starts_with("/s/") && !link.contains(' '), "{link}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("expires:") && stderr.contains("ferryd share revoke"),
        "{stderr}"
    );
    let output = share_cli(
        &[
            &[
                "create",
                "/docs",
                "--user",
                "alice",
                "--base-url",
                "https://files.example/",
            ][..],
            &common,
        ]
        .concat(),
    );
    let full = String::from_utf8(output.stdout).unwrap();
    assert!(full.starts_with("https://files.example/s/"), "{full}");

    let root_arg = dir.path().to_str().unwrap();
    let serve = ["--users", users, "--share-key", key, root_arg];
    let (first, addr) = ferryd(state.path(), &serve);
    let (second, other) = ferryd(state.path(), &serve);
    let (code, body) = curl(&[], &format!("http://{addr}{link}"));
    assert_eq!((code, body.as_slice()), (200, &b"x in sub"[..]));
    assert_eq!(status(&format!("http://{other}{link}")), 200);
    stop(first);
    let (again, addr) = ferryd(state.path(), &serve);
    assert_eq!(status(&format!("http://{addr}{link}")), 200);

    // The key named by the server's --config file signs the same links.
    let config = dir.path().join("ferryd.toml");
    std::fs::write(&config, format!("share_key = {key:?}\n")).unwrap();
    let output = share_cli(&[
        "create",
        "/docs/sub/x.txt",
        "--user",
        "alice",
        "--users",
        users,
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let by_config = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert_eq!(status(&format!("http://{other}{by_config}")), 200);

    // Revoked from the command line: refused at once by both running nodes.
    let output = share_cli(&[
        "revoke",
        &format!("http://{addr}{link}"),
        "--share-key",
        key,
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(status(&format!("http://{addr}{link}")), 404);
    assert_eq!(status(&format!("http://{other}{link}")), 404);
    let output = share_cli(&["list", "--share-key", key]);
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(listed.contains("alice /docs/sub/x.txt"), "{listed}");
    let output = share_cli(&["revoke", "not-a-link", "--share-key", key]);
    assert!(!output.status.success());
    stop(again);
    stop(second);
}

#[cfg(feature = "s3")]
#[path = "../../ferry-storage/tests/s3_servers/mod.rs"]
mod s3_servers;

/// The same links on an S3 bucket (s3s-fs): an upload link fills it with curl, a file link
/// and a folder link read it back with curl (resumed) and wget.
#[cfg(feature = "s3")]
#[test]
fn links_on_s3() {
    use ferry_server::config::S3Config;
    use s3_servers::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};

    let s3 = S3Server::s3s_fs();
    let state = tempfile::tempdir().unwrap();
    let (keys, _) = ShareKeys::load_or_create(&state.path().join("share.key")).unwrap();
    let mut config = Config::for_s3(S3Config {
        bucket: BUCKET.into(),
        prefix: "shares".into(),
        endpoint: Some(s3.endpoint.clone()),
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
        ..S3Config::default()
    });
    config.anonymous = Anonymous::Off;
    config.users.users.insert(
        "alice".into(),
        User::new(b"wonder", String::new(), false).unwrap(),
    );
    config.share_keys = Some(keys.clone());
    let server = Ferryd::builder(config)
        .storage_ready_within(Duration::from_secs(30))
        .listen_http("127.0.0.1:0")
        .start();
    let base = format!("http://{}", server.http.unwrap());

    let data = test_bytes((1 << 20) + 7, 33);
    let upload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(upload.path(), &data).unwrap();
    let drop_box = format!("{base}{}", link(&keys, "alice", "/", Kind::Upload, None));
    let file = upload.path().to_str().unwrap();
    assert_eq!(curl(&["-T", file], &format!("{drop_box}/big.bin")).0, 201);
    assert_eq!(curl(&["-T", file], &format!("{drop_box}/big.bin")).0, 409);
    assert_eq!(status(&format!("{drop_box}/big.bin")), 405);

    let one = format!(
        "{base}{}",
        link(&keys, "alice", "/big.bin", Kind::Read, None)
    );
    let (code, body) = curl(&[], &one);
    assert_eq!(code, 200);
    assert_bytes(&body, &data);
    let partial = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    std::fs::write(&partial, &data[..123_456]).unwrap();
    let output = run_bounded(
        Command::new(tool("curl", "curl"))
            .args(["-sS", "-f", "-C", "-", "-o"])
            .arg(&partial)
            .arg(&one),
        CLIENT_LIMIT,
    );
    assert!(output.status.success(), "{output:?}");
    assert_bytes(&std::fs::read(&partial).unwrap(), &data);

    let all = format!("{base}{}", link(&keys, "alice", "/", Kind::Read, None));
    let (code, json) = curl(&[], &format!("{all}/?format=json"));
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&json).contains("\"big.bin\""));
    let (code, page) = curl(&[], &format!("{all}/"));
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&page).contains("href=\"./big.bin\""));
    let fetched = tempfile::NamedTempFile::new().unwrap();
    let output = run_bounded(
        Command::new(tool("wget", "wget"))
            .args(["-q", "-O"])
            .arg(fetched.path())
            .arg(format!("{all}/big.bin")),
        CLIENT_LIMIT,
    );
    assert!(output.status.success(), "{output:?}");
    assert_bytes(&std::fs::read(fetched.path()).unwrap(), &data);
    for attempt in ["/../x", "/%2e%2e/x", "/..%2fx"] {
        assert_eq!(status(&format!("{all}{attempt}")), 400, "{attempt}");
    }
}
