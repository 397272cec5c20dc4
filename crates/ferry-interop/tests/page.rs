//! The browser page in a real browser (`tests/py/page_suite.py`): headless Chromium, driven by
//! selenium through chromedriver, logs in through the form, walks folders, uploads two files
//! through the file input (tus, the page's own client), downloads one (bytes compared),
//! renames and deletes (prompt and confirm accepted), makes a folder, uploads a dropped file,
//! asks for a share link and downloads through it in a fresh profile (no session cookie; bytes
//! compared), finds a file named with markup shown as text, and sees a refused upload say why.
//! A second run opens an upload-only share link in a fresh profile
//! (`tests/py/upload_page_suite.py`): the upload page, two files through its file input (bytes
//! compared on disk), and a name already there refused with the reason. The screenshots are
//! kept in target/ferry-screenshots/.
//!
//! Needs Debian's `chromium` and `chromium-driver` and selenium in the virtual environment
//! scripts/test makes (`~/.local/share/ferry-selenium`); fails, never skips, without them.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{TestServer, command, pattern, run_ok};
use ferry_server::User;
use ferry_server::auth::Right;

const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/page_suite.py");
const UPLOAD_SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/upload_page_suite.py");
const MARKUP: &str = "<img src=x onerror=alert(1)>.txt";

/// The python of the virtual environment where scripts/test installs selenium.
fn selenium_python() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_default();
    let python = Path::new(&home).join(".local/share/ferry-selenium/bin/python");
    let found = std::process::Command::new(&python)
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        found,
        "selenium is not installed in {}{}: run scripts/test, which installs it \
         (python3 -m venv ~/.local/share/ferry-selenium; its pip install selenium==4.27.1)",
        python.display(),
        if ferry_testkit::on_ci() {
            " and CI=true"
        } else {
            ""
        }
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_logs_in_browses_uploads_downloads_renames_and_deletes() {
    ferry_testkit::tool("chromium", "chromium");
    ferry_testkit::tool("chromedriver", "chromium-driver");
    let python = selenium_python();
    let mut alice = User::new(b"wonderland", String::new(), false).unwrap();
    alice.permissions = [
        ("/".to_string(), vec![Right::All]),
        (
            "/docs/locked".to_string(),
            vec![Right::List, Right::Download],
        ),
    ]
    .into_iter()
    .collect::<BTreeMap<_, _>>();
    let key_dir = tempfile::tempdir().unwrap();
    let (share_keys, _) =
        ferry_server::share::ShareKeys::load_or_create(&key_dir.path().join("share.key")).unwrap();
    let server = TestServer::start_with("127.0.0.1:0", |config| {
        config.anonymous = ferry_server::Anonymous::Off;
        config.share_keys = Some(share_keys.clone());
        config.users.users.insert("alice".into(), alice);
    })
    .await;
    server.create_dir("docs").await;
    server.create_dir("docs/nested").await;
    server.create_dir("docs/locked").await;
    server.write("docs/nested/deep.txt", b"deep").await;
    server.write(&format!("docs/{MARKUP}"), b"markup").await;

    let work = tempfile::tempdir().unwrap();
    let one = b"first upload\n".to_vec();
    let two = pattern(3 << 20, 7);
    std::fs::write(work.path().join("up1.txt"), &one).unwrap();
    std::fs::write(work.path().join("up2.bin"), &two).unwrap();

    let base = format!("http://{}", server.http.unwrap());
    let output = run_ok(command(python).arg(SUITE).arg(&base).arg(work.path())).await;
    let text = String::from_utf8_lossy(&output.stdout);
    eprintln!("page suite: {text}");

    // The uploads arrived whole; the download is the same bytes.
    assert_eq!(server.read("docs/up2.bin").await, two);
    assert!(!server.exists("docs/up1.txt").await);
    assert!(!server.exists("docs/renamed.txt").await);
    assert_eq!(
        std::fs::read(work.path().join("downloads/up2.bin")).unwrap(),
        two
    );
    // The share link gave the same bytes to a browser that never logged in.
    assert_eq!(
        std::fs::read(work.path().join("shared/up2.bin")).unwrap(),
        two
    );
    // New folder, drag and drop; nothing arrived where alice may not upload.
    assert!(server.is_dir("docs/made").await);
    assert_eq!(server.read("docs/dropped.txt").await, b"dropped bytes");
    assert_eq!(server.names("docs/locked").await, Vec::<String>::new());
    // The markup-named file is untouched.
    assert_eq!(server.read(&format!("docs/{MARKUP}")).await, b"markup");

    keep_screenshot(work.path(), "page.png");
}

/// The screenshot `name` in `work`, kept where people can look at it.
fn keep_screenshot(work: &Path, name: &str) {
    let shot = work.join(name);
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
    let kept = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ferry-screenshots");
    std::fs::create_dir_all(&kept).unwrap();
    std::fs::copy(&shot, kept.join(name)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_uploads_through_an_upload_link() {
    ferry_testkit::tool("chromium", "chromium");
    ferry_testkit::tool("chromedriver", "chromium-driver");
    let python = selenium_python();
    let key_dir = tempfile::tempdir().unwrap();
    let (share_keys, _) =
        ferry_server::share::ShareKeys::load_or_create(&key_dir.path().join("share.key")).unwrap();
    let server = TestServer::start_with("127.0.0.1:0", |config| {
        config.anonymous = ferry_server::Anonymous::Off;
        config.share_keys = Some(share_keys.clone());
        config.users.users.insert(
            "alice".into(),
            User::new(b"wonderland", String::new(), false).unwrap(),
        );
    })
    .await;
    let folder = "in<b>box";
    server.create_dir(folder).await;
    server
        .write(&format!("{folder}/already.txt"), b"the owner's")
        .await;
    let claims = ferry_server::share::Claims::new(
        "alice",
        ferry_proto::VirtualPath::root()
            .resolve(format!("/{folder}").as_bytes())
            .unwrap(),
        ferry_server::share::Kind::Upload,
        None,
    )
    .unwrap();
    let link = server.http_url(&format!("s/{}", share_keys.sign(&claims).unwrap()));

    let work = tempfile::tempdir().unwrap();
    let one = b"first upload\n".to_vec();
    let two = pattern(3 << 20, 11);
    std::fs::write(work.path().join("up1.txt"), &one).unwrap();
    std::fs::write(work.path().join("up2.bin"), &two).unwrap();
    std::fs::write(work.path().join("already.txt"), b"a stranger's").unwrap();

    let output = run_ok(
        command(python)
            .arg(UPLOAD_SUITE)
            .arg(&link)
            .arg(folder)
            .arg(work.path()),
    )
    .await;
    let text = String::from_utf8_lossy(&output.stdout);
    eprintln!("upload page suite: {text}");

    // Both arrived whole under the shared folder; the owner's file is untouched.
    assert_eq!(server.read(&format!("{folder}/up1.txt")).await, one);
    assert_eq!(server.read(&format!("{folder}/up2.bin")).await, two);
    assert_eq!(
        server.read(&format!("{folder}/already.txt")).await,
        b"the owner's"
    );
    let mut names = server.names(folder).await;
    names.sort();
    assert_eq!(names, ["already.txt", "up1.txt", "up2.bin"]);
    keep_screenshot(work.path(), "upload-page.png");
}
