//! The file service on a temporary folder, without sockets.
#![allow(clippy::unwrap_used)]

use tokio::io::AsyncWriteExt;

use super::*;
use ferry_storage::{ErrorKind, LocalStorage};

/// A service for a user whose home is `home` (created) in a fresh folder.
fn service(home: &str, read_only: bool) -> (tempfile::TempDir, Arc<FileService>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(home)).unwrap();
    let storage = Storage::Local(LocalStorage::open(dir.path()).unwrap());
    let account = Account {
        name: "alice".into(),
        home: VirtualPath::root().resolve(home.as_bytes()).unwrap(),
        read_only,
    };
    (dir, FileService::new(account, storage))
}

fn view(path: &str) -> VirtualPath {
    VirtualPath::root().resolve(path.as_bytes()).unwrap()
}

#[tokio::test]
async fn paths_are_the_users_view_of_their_home() {
    let (dir, files) = service("homes/alice", false);
    std::fs::write(dir.path().join("secret.txt"), b"not alice's").unwrap();
    std::fs::write(dir.path().join("homes/alice/a.txt"), b"alice's").unwrap();
    assert_eq!(files.stat(&view("/a.txt")).await.unwrap().size, 7);
    // `/` is the home: the served root's files are not in the user's view, and `..` cannot
    // climb above it.
    let outside = files.stat(&view("/secret.txt")).await.unwrap_err();
    assert!(matches!(outside, FileError::Storage(e) if e.kind() == ErrorKind::NotFound));
    assert!(files.stat(&view("/../../secret.txt")).await.is_err());
    let mut names = Vec::new();
    let mut entries = files.list(&view("/")).await.unwrap();
    while let Some(entry) = entries.next().await {
        names.push(String::from_utf8(entry.unwrap().name).unwrap());
    }
    assert_eq!(names, ["a.txt"]);
}

#[tokio::test]
async fn an_upload_lands_under_the_home_only_when_committed() {
    let (dir, files) = service("alice", false);
    let mut upload = files
        .write(&view("/new.bin"), WriteMode::Create)
        .await
        .unwrap();
    upload.write_all(b"bytes").await.unwrap();
    assert!(!dir.path().join("alice/new.bin").exists());
    assert_eq!(files.view_name(upload.path()), "new.bin");
    upload.commit().await.unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("alice/new.bin")).unwrap(),
        b"bytes"
    );
    assert!(!dir.path().join("new.bin").exists());
    // STOU's name, in the user's view.
    let unique = files
        .write(&view("/new.bin"), WriteMode::Unique)
        .await
        .unwrap();
    assert_eq!(files.view_name(unique.path()), "new.bin.1");
}

#[tokio::test]
async fn file_operations_change_what_they_name() {
    let (dir, files) = service("alice", false);
    let home = dir.path().join("alice");
    files.create_dir(&view("/d")).await.unwrap();
    assert!(home.join("d").is_dir());
    std::fs::write(home.join("d/f"), b"x").unwrap();
    files.rename(&view("/d/f"), &view("/g")).await.unwrap();
    assert!(home.join("g").is_file());
    files
        .set_modified(&view("/g"), 1_000_000_000)
        .await
        .unwrap();
    assert_eq!(
        files.stat(&view("/g")).await.unwrap().modified,
        Some(1_000_000_000)
    );
    assert_eq!(files.read(&view("/g"), 0).await.unwrap().size, 1);
    files.remove_file(&view("/g")).await.unwrap();
    files.remove_dir(&view("/d")).await.unwrap();
    assert!(!home.join("g").exists() && !home.join("d").exists());
}

#[tokio::test]
async fn a_read_only_account_changes_nothing() {
    let (dir, files) = service("alice", true);
    let home = dir.path().join("alice");
    std::fs::write(home.join("f"), b"kept").unwrap();
    std::fs::create_dir(home.join("d")).unwrap();
    assert!(!files.may_write());
    let refused = [
        files.write(&view("/new"), WriteMode::Create).await.err(),
        files.remove_file(&view("/f")).await.err(),
        files.create_dir(&view("/e")).await.err(),
        files.remove_dir(&view("/d")).await.err(),
        files.rename(&view("/f"), &view("/g")).await.err(),
        files.set_modified(&view("/f"), 0).await.err(),
    ];
    for error in refused {
        assert!(matches!(error, Some(FileError::ReadOnly)), "{error:?}");
    }
    assert_eq!(std::fs::read(home.join("f")).unwrap(), b"kept");
    assert!(home.join("d").is_dir() && !home.join("new").exists() && !home.join("e").exists());
    // Reading is allowed.
    assert_eq!(files.read(&view("/f"), 1).await.unwrap().offset, 1);
}
