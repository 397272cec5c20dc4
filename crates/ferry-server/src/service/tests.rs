//! The file service on a temporary folder, without sockets.
#![allow(clippy::unwrap_used)]

use tokio::io::AsyncWriteExt;

use super::*;
use crate::auth::{Anonymous, User, UsersFile};
use ferry_storage::LocalStorage;

/// A service for a user whose home is `home` (created) in a fresh folder.
fn service(home: &str, read_only: bool) -> (tempfile::TempDir, Arc<FileService>) {
    service_for(User {
        home: home.into(),
        read_only,
        ..User::default()
    })
}

/// A service for `user` (as the users file would give it), home created, in a fresh folder.
fn service_for(user: User) -> (tempfile::TempDir, Arc<FileService>) {
    service_observed(
        user,
        crate::observe::Observer::new(&crate::Config::for_folder("/")).unwrap(),
    )
}

/// [`service_for`], reporting to `observer`.
fn service_observed(
    user: User,
    observer: crate::observe::Observer,
) -> (tempfile::TempDir, Arc<FileService>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(&user.home)).unwrap();
    let storage = Storage::Local(LocalStorage::open(dir.path()).unwrap());
    let mut users = UsersFile::default();
    users.users.insert("alice".into(), user);
    let accounts = Arc::new(Accounts::new(users, Anonymous::Off, 0, 0));
    let seat = accounts.seat("alice").unwrap();
    let client = Client {
        protocol: Protocol::Ftp,
        peer: ([127, 0, 0, 1], 40000).into(),
    };
    (
        dir,
        FileService::new(
            seat,
            accounts,
            storage,
            client,
            Arc::new(observer),
            DigestLimit::new(2),
        ),
    )
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
    let (mut upload, _) = files
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
    let (unique, _) = files
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
    assert_eq!(files.read(&view("/g"), 0).await.unwrap().0.size, 1);
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
    assert!(files.rules().read_only);
    let refused = [
        files
            .write(&view("/new"), WriteMode::Create)
            .await
            .map(drop)
            .err(),
        files.remove_file(&view("/f")).await.err(),
        files.create_dir(&view("/e")).await.err(),
        files.remove_dir(&view("/d")).await.err(),
        files.rename(&view("/f"), &view("/g")).await.err(),
        files.set_modified(&view("/f"), 0).await.err(),
    ];
    for error in refused {
        assert!(matches!(error, Some(FileError::Denied { .. })), "{error:?}");
    }
    assert_eq!(std::fs::read(home.join("f")).unwrap(), b"kept");
    assert!(home.join("d").is_dir() && !home.join("new").exists() && !home.join("e").exists());
    // Reading is allowed.
    assert_eq!(files.read(&view("/f"), 1).await.unwrap().0.offset, 1);
}

/// alice's rules: everything at home, read in /pub, upload-only in /pub/drop.
fn ruled() -> User {
    let mut permissions = std::collections::BTreeMap::new();
    permissions.insert("/".to_string(), vec![Right::All]);
    permissions.insert("/pub".to_string(), vec![Right::List, Right::Download]);
    permissions.insert("/pub/drop".to_string(), vec![Right::Upload]);
    User {
        home: "alice".into(),
        permissions,
        ..User::default()
    }
}

#[tokio::test]
async fn the_deepest_rule_decides_and_a_refusal_changes_nothing() {
    let (dir, files) = service_for(ruled());
    let home = dir.path().join("alice");
    std::fs::create_dir_all(home.join("pub/drop")).unwrap();
    std::fs::write(home.join("pub/f"), b"kept").unwrap();
    // /pub: list and download, nothing else.
    assert!(files.list(&view("/pub")).await.is_ok());
    assert_eq!(files.read(&view("/pub/f"), 0).await.unwrap().0.size, 4);
    let error = files.remove_file(&view("/pub/f")).await.unwrap_err();
    assert_eq!(error.to_string(), "no delete right in /pub");
    let error = files
        .write(&view("/pub/g"), WriteMode::Create)
        .await
        .map(drop)
        .unwrap_err();
    assert_eq!(error.to_string(), "no upload right in /pub");
    // /pub/drop: upload a new file, but not list, read or replace it.
    let (upload, _) = files
        .write(&view("/pub/drop/new"), WriteMode::Create)
        .await
        .unwrap();
    upload.commit().await.unwrap();
    assert!(files.list(&view("/pub/drop")).await.is_err());
    assert!(files.read(&view("/pub/drop/new"), 0).await.is_err());
    let error = files
        .write(&view("/pub/drop/new"), WriteMode::Create)
        .await
        .map(drop)
        .unwrap_err();
    assert_eq!(error.to_string(), "no overwrite right in /pub/drop");
    // A folder the user may not list still shows in its parent's listing.
    let mut names = Vec::new();
    let mut entries = files.list(&view("/pub")).await.unwrap();
    while let Some(entry) = entries.next().await {
        names.push(String::from_utf8(entry.unwrap().name).unwrap());
    }
    names.sort();
    assert_eq!(names, ["drop", "f"]);
    // Rename needs the right at both ends.
    let error = files
        .rename(&view("/pub/f"), &view("/f"))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "no rename right in /pub");
    assert_eq!(std::fs::read(home.join("pub/f")).unwrap(), b"kept");
    assert!(!home.join("f").exists());
}

#[tokio::test]
async fn a_rename_over_a_file_needs_overwrite_in_the_target_folder() {
    let mut user = ruled();
    user.permissions.insert(
        "/in".to_string(),
        vec![Right::List, Right::Upload, Right::Rename],
    );
    let (dir, files) = service_for(user);
    let home = dir.path().join("alice");
    std::fs::create_dir_all(home.join("in")).unwrap();
    std::fs::write(home.join("in/a"), b"a").unwrap();
    std::fs::write(home.join("in/b"), b"b").unwrap();
    let error = files
        .rename(&view("/in/a"), &view("/in/b"))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "no overwrite right in /in");
    assert_eq!(std::fs::read(home.join("in/b")).unwrap(), b"b");
    files.rename(&view("/in/a"), &view("/in/c")).await.unwrap();
    assert_eq!(std::fs::read(home.join("in/c")).unwrap(), b"a");
}

/// Writes `bytes` through the meter as a transfer does; false when the quota cut it.
async fn upload(files: &FileService, path: &str, mode: WriteMode, bytes: &[u8]) -> bool {
    let (mut upload, mut meter) = files.write(&view(path), mode).await.unwrap();
    if meter.grant(bytes.len()) < bytes.len() {
        upload.discard().await.unwrap();
        return false;
    }
    upload.write_all(bytes).await.unwrap();
    upload.commit().await.unwrap();
    meter.commit();
    true
}

#[tokio::test]
async fn quotas_count_commits_deletes_and_renames() {
    let (dir, files) = service_for(User {
        home: "alice".into(),
        quota_bytes: 100,
        quota_files: 3,
        ..User::default()
    });
    let home = dir.path().join("alice");
    std::fs::write(home.join("old"), [1u8; 40]).unwrap();
    files.prepare().await;
    let used = |files: &FileService| {
        let used = files.member().usage.used().unwrap();
        (used.bytes, used.files)
    };
    assert_eq!(used(&files), (40, 1));
    // 61 more bytes would make 101: cut, nothing kept, usage unchanged.
    assert!(!upload(&files, "/big", WriteMode::Create, &[2; 61]).await);
    assert!(!home.join("big").exists());
    assert_eq!(ferry_storage_partials(&home), 0);
    assert_eq!(used(&files), (40, 1));
    // 60 fit exactly.
    assert!(upload(&files, "/big", WriteMode::Create, &[2; 60]).await);
    assert_eq!(used(&files), (100, 2));
    // Replacing a file counts only the difference: 40 bytes replaced by 30.
    assert!(upload(&files, "/old", WriteMode::Create, &[3; 30]).await);
    assert_eq!(used(&files), (90, 2));
    // Appending past the limit is cut and the old file stays whole.
    assert!(!upload(&files, "/old", WriteMode::Append, &[4; 11]).await);
    assert_eq!(std::fs::read(home.join("old")).unwrap(), [3u8; 30]);
    assert!(upload(&files, "/small", WriteMode::Create, &[5; 10]).await);
    assert_eq!(used(&files), (100, 3));
    // A fourth file is refused before any byte.
    let error = files
        .write(&view("/fourth"), WriteMode::Create)
        .await
        .map(drop)
        .unwrap_err();
    assert!(matches!(error, FileError::Quota(_)), "{error:?}");
    assert_eq!(error.to_string(), "quota exceeded: 3 files allowed");
    // Deleting frees; a rename over a file frees the replaced one.
    files.remove_file(&view("/big")).await.unwrap();
    assert_eq!(used(&files), (40, 2));
    files.rename(&view("/small"), &view("/old")).await.unwrap();
    assert_eq!(used(&files), (10, 1));
    let (bytes, limits) = files.usage().await.unwrap();
    assert_eq!((bytes.bytes, limits.bytes, limits.files), (10, 100, 3));
}

/// Partial files (of interrupted uploads) left in `folder`.
fn ferry_storage_partials(folder: &std::path::Path) -> usize {
    std::fs::read_dir(folder)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(ferry_storage::PARTIAL_PREFIX)
        })
        .count()
}

#[tokio::test]
async fn file_operations_emit_one_event_each_and_failures_none() {
    use crate::observe::events::EventKind;
    let mut observer = crate::observe::Observer::new(&crate::Config::for_folder("/")).unwrap();
    let mut lanes = observer.events.subscribe("test", &EventKind::ALL, 64);
    let user = User {
        home: "alice".into(),
        ..User::default()
    };
    let (dir, files) = service_observed(user, observer);
    std::fs::write(dir.path().join("alice/a.txt"), b"12345").unwrap();
    files.create_dir(&view("/d")).await.unwrap();
    assert!(files.create_dir(&view("/d")).await.is_err());
    files
        .rename(&view("/a.txt"), &view("/d/b.txt"))
        .await
        .unwrap();
    files.remove_file(&view("/d/b.txt")).await.unwrap();
    assert!(files.remove_file(&view("/d/b.txt")).await.is_err());
    files.remove_dir(&view("/d")).await.unwrap();
    for (direction, failure) in [(Direction::Up, None), (Direction::Down, Some("cut"))] {
        files.transferred(&Transferred {
            direction,
            path: "up.bin",
            bytes: 9,
            seconds: 0.1,
            failure,
        });
    }
    let mut got = Vec::new();
    for lane in &mut lanes {
        while let Ok(event) = lane.try_recv() {
            got.push((
                event.event,
                event.path.clone().unwrap_or_default(),
                event.target.clone(),
                event.user.clone(),
            ));
        }
    }
    let alice = || "alice".to_string();
    assert_eq!(
        got,
        [
            (EventKind::Mkdir, "/d".into(), None, alice()),
            (
                EventKind::Rename,
                "/a.txt".into(),
                Some("/d/b.txt".into()),
                alice()
            ),
            (EventKind::Delete, "/d/b.txt".into(), None, alice()),
            (EventKind::Rmdir, "/d".into(), None, alice()),
            (EventKind::Upload, "/up.bin".into(), None, alice()),
        ]
    );
}
