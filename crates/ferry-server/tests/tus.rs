//! tus uploads from raw sockets: an upload survives a ferryd restart (its record in the state
//! folder, its bytes in the storage's partial), and a `PATCH` cut mid-body keeps what arrived.
//! tuspy against ferryd is in ferry-interop's `tus_zip.rs`.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use ferry_server::Config;
use ferry_testkit::{Ferryd, test_bytes};

const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// Sends `head` (without its blank line) and `body`, and reads the answer's status and head.
fn send(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let head = format!(
        "{head}\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

fn start(root: &Path, state: &Path) -> Ferryd {
    let mut config = Config::for_folder(root);
    config.tus_state_dir = Some(state.to_path_buf());
    Ferryd::builder(config).listen_http("127.0.0.1:0").start()
}

fn offset(addr: SocketAddr, upload: &str) -> u64 {
    let (status, head) = send(addr, &format!("HEAD {upload} HTTP/1.1"), b"");
    assert_eq!(status, 200, "{head}");
    header(&head, "upload-offset").unwrap().parse().unwrap()
}

fn patch(addr: SocketAddr, upload: &str, at: u64, bytes: &[u8]) -> (u16, String) {
    send(
        addr,
        &format!(
            "PATCH {upload} HTTP/1.1\r\nContent-Type: application/offset+octet-stream\r\n\
             Upload-Offset: {at}"
        ),
        bytes,
    )
}

/// Half an upload, a restart, then the rest: the offset after the restart is the half, and the
/// file is whole. Before its last byte the file is not there.
#[test]
fn an_upload_survives_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let data = test_bytes(3 << 20, 5);
    let server = start(root.path(), state.path());
    let addr = server.http.unwrap();
    // "path" = "/kept.bin"
    let (status, head) = send(
        addr,
        &format!(
            "POST /.tus/ HTTP/1.1\r\nUpload-Length: {}\r\nUpload-Metadata: path L2tlcHQuYmlu",
            data.len()
        ),
        b"",
    );
    assert_eq!(status, 201, "{head}");
    let upload = header(&head, "location").unwrap();
    let half = data.len() / 2;
    let (status, head) = patch(addr, &upload, 0, &data[..half]);
    assert_eq!(status, 204, "{head}");
    assert_eq!(std::fs::read_dir(state.path()).unwrap().count(), 1);
    drop(server);

    let server = start(root.path(), state.path());
    let addr = server.http.unwrap();
    assert_eq!(offset(addr, &upload), half as u64);
    assert!(!root.path().join("kept.bin").exists());
    // A wrong offset is refused and says where the upload is.
    let (status, head) = patch(addr, &upload, 0, &data[..10]);
    assert_eq!(status, 409, "{head}");
    let (status, head) = patch(addr, &upload, half as u64, &data[half..]);
    assert_eq!(status, 204, "{head}");
    assert_eq!(
        header(&head, "upload-offset").unwrap(),
        data.len().to_string()
    );
    assert!(std::fs::read(root.path().join("kept.bin")).unwrap() == data);
    // The record is gone with the upload.
    assert_eq!(std::fs::read_dir(state.path()).unwrap().count(), 0);
    let (status, _) = send(addr, &format!("HEAD {upload} HTTP/1.1"), b"");
    assert_eq!(status, 404);
}

/// A `PATCH` whose connection drops after part of its body: the next `HEAD` reports the bytes
/// that arrived, and nothing is visible under the name.
#[test]
fn a_cut_patch_keeps_what_arrived() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let data = test_bytes(4 << 20, 9);
    let server = start(root.path(), state.path());
    let addr = server.http.unwrap();
    // "filename" = "cut.bin"
    let (status, head) = send(
        addr,
        &format!(
            "POST /.tus/ HTTP/1.1\r\nUpload-Length: {}\r\nUpload-Metadata: filename Y3V0LmJpbg==",
            data.len()
        ),
        b"",
    );
    assert_eq!(status, 201, "{head}");
    let upload = header(&head, "location").unwrap();
    {
        let mut stream = TcpStream::connect(addr).unwrap();
        let head = format!(
            "PATCH {upload} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n\
             Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n\
             Content-Length: {}\r\n\r\n",
            data.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&data[..1 << 20]).unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    // Bounded wait for the server to see the connection go.
    let mut kept = 0;
    for _ in 0..50 {
        kept = offset(addr, &upload);
        if kept == 1 << 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(kept, 1 << 20);
    assert!(!root.path().join("cut.bin").exists());
    let (status, head) = patch(addr, &upload, kept, &data[kept as usize..]);
    assert_eq!(status, 204, "{head}");
    assert!(std::fs::read(root.path().join("cut.bin")).unwrap() == data);
}

/// The quota: an upload's whole length is claimed at creation (507 when it cannot fit, and
/// while one upload holds the room another is refused); termination gives the room back.
#[test]
fn the_quota_is_claimed_at_creation() {
    use base64::Engine;
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("dana")).unwrap();
    let mut config = Config::for_folder(root.path());
    config.tus_state_dir = Some(state.path().to_path_buf());
    config.anonymous = ferry_server::Anonymous::Off;
    let mut dana = ferry_server::User::new(b"secret", "dana".into(), false).unwrap();
    dana.quota_bytes = 1 << 20;
    config.users.users.insert("dana".into(), dana);
    let server = Ferryd::builder(config).listen_http("127.0.0.1:0").start();
    let addr = server.http.unwrap();
    let login = format!(
        "Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode("dana:secret")
    );
    // "filename" = "q.bin"
    let create = |length: u64| {
        send(
            addr,
            &format!(
                "POST /.tus/ HTTP/1.1\r\n{login}\r\nUpload-Length: {length}\r\n\
                 Upload-Metadata: filename cS5iaW4="
            ),
            b"",
        )
    };
    let (status, head) = create(2 << 20);
    assert_eq!(status, 507, "{head}");
    let (status, head) = create(600 << 10);
    assert_eq!(status, 201, "{head}");
    let first = header(&head, "location").unwrap();
    // "filename" = "r.bin"
    let (status, head) = send(
        addr,
        &format!(
            "POST /.tus/ HTTP/1.1\r\n{login}\r\nUpload-Length: {}\r\n\
             Upload-Metadata: filename ci5iaW4=",
            600 << 10
        ),
        b"",
    );
    assert_eq!(status, 507, "{head}");
    let (status, head) = send(addr, &format!("DELETE {first} HTTP/1.1\r\n{login}"), b"");
    assert_eq!(status, 204, "{head}");
    let (status, head) = create(600 << 10);
    assert_eq!(status, 201, "{head}");
    assert!(!root.path().join("dana/q.bin").exists());
    assert!(!root.path().join("dana/r.bin").exists());
}
