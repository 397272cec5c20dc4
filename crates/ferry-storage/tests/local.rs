//! The local backend: atomic uploads, resume rules, the busy lock, the jail and listings.
#![allow(clippy::unwrap_used)]

use ferry_storage::{ErrorKind, LocalStorage, Storage, VirtualPath, WriteMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn path(text: &str) -> VirtualPath {
    VirtualPath::root().resolve(text.as_bytes()).unwrap()
}

fn storage() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::Local(LocalStorage::open(dir.path()).unwrap());
    (dir, storage)
}

async fn upload(storage: &Storage, name: &str, mode: WriteMode, bytes: &[u8], commit: bool) -> u64 {
    let mut upload = storage.write(&path(name), mode).await.unwrap();
    let start = upload.start_offset();
    upload.write_all(bytes).await.unwrap();
    if commit {
        upload.commit().await.unwrap();
    } else {
        upload.abort().await.unwrap();
    }
    start
}

async fn read_all(storage: &Storage, name: &str) -> Vec<u8> {
    let mut download = storage.read(&path(name), 0).await.unwrap();
    let mut bytes = Vec::new();
    download.read_to_end(&mut bytes).await.unwrap();
    bytes
}

#[tokio::test]
async fn upload_is_invisible_until_commit() {
    let (dir, storage) = storage();
    let mut pending = storage
        .write(&path("a.txt"), WriteMode::Create)
        .await
        .unwrap();
    pending.write_all(b"hello").await.unwrap();
    pending.flush().await.unwrap();
    assert_eq!(
        storage.stat(&path("a.txt")).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(!dir.path().join("a.txt").exists());
    pending.commit().await.unwrap();
    assert_eq!(read_all(&storage, "a.txt").await, b"hello");
    assert_eq!(storage.partial_size(&path("a.txt")).await.unwrap(), None);
}

#[tokio::test]
async fn aborted_upload_resumes_from_its_partial() {
    let (_dir, storage) = storage();
    upload(&storage, "b.bin", WriteMode::Create, b"0123456789", false).await;
    assert_eq!(
        storage.partial_size(&path("b.bin")).await.unwrap(),
        Some(10)
    );
    assert_eq!(
        upload(&storage, "b.bin", WriteMode::Resume(4), b"abcdef", true).await,
        4
    );
    assert_eq!(read_all(&storage, "b.bin").await, b"0123abcdef");
    // Resuming beyond what exists is refused.
    let error = storage
        .write(&path("b.bin"), WriteMode::Resume(11))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unsupported);
    // The refused attempt changed nothing.
    assert_eq!(read_all(&storage, "b.bin").await, b"0123abcdef");
}

#[tokio::test]
async fn append_extends_the_visible_file() {
    let (_dir, storage) = storage();
    upload(&storage, "c.txt", WriteMode::Create, b"one ", true).await;
    assert_eq!(
        upload(&storage, "c.txt", WriteMode::Append, b"two", true).await,
        4
    );
    assert_eq!(read_all(&storage, "c.txt").await, b"one two");
    assert_eq!(
        upload(&storage, "new.txt", WriteMode::Append, b"fresh", true).await,
        0
    );
    assert_eq!(read_all(&storage, "new.txt").await, b"fresh");
}

#[tokio::test]
async fn one_upload_per_file_at_a_time() {
    let (_dir, storage) = storage();
    let first = storage
        .write(&path("d.bin"), WriteMode::Create)
        .await
        .unwrap();
    let second = storage
        .write(&path("d.bin"), WriteMode::Create)
        .await
        .unwrap_err();
    assert_eq!(second.kind(), ErrorKind::Busy);
    drop(first);
    assert!(
        storage
            .write(&path("d.bin"), WriteMode::Create)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn unique_never_replaces() {
    let (dir, storage) = storage();
    upload(&storage, "u", WriteMode::Create, b"original", true).await;
    let mut one = storage.write(&path("u"), WriteMode::Unique).await.unwrap();
    assert_eq!(one.path().to_string(), "/u.1");
    one.write_all(b"first").await.unwrap();
    one.commit().await.unwrap();
    let two = storage.write(&path("u"), WriteMode::Unique).await.unwrap();
    assert_eq!(two.path().to_string(), "/u.2");
    two.abort().await.unwrap();
    assert_eq!(read_all(&storage, "u").await, b"original");
    assert_eq!(read_all(&storage, "u.1").await, b"first");
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, vec!["u", "u.1"]);
}

#[tokio::test]
async fn symlinks_cannot_leave_the_root() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(outer.path().join("secret"), b"s").unwrap();
    std::os::unix::fs::symlink(outer.path().join("secret"), root.join("out")).unwrap();
    std::os::unix::fs::symlink(outer.path(), root.join("outdir")).unwrap();
    let storage = Storage::Local(LocalStorage::open(&root).unwrap());
    assert!(storage.read(&path("out"), 0).await.is_err());
    assert!(storage.stat(&path("outdir/secret")).await.is_err());
    assert!(
        storage
            .write(&path("outdir/planted"), WriteMode::Create)
            .await
            .is_err()
    );
    assert!(storage.create_dir(&path("outdir/newdir")).await.is_err());
    assert!(
        storage
            .rename(&path("out"), &path("outdir/moved"))
            .await
            .is_err()
    );
    assert!(!outer.path().join("planted").exists() && !outer.path().join("newdir").exists());
    assert!(outer.path().join("secret").exists());
    // A listing shows the escaping links as links, with no facts from outside.
    let mut list = storage.list(&VirtualPath::root()).await.unwrap();
    let mut seen = Vec::new();
    while let Some(entry) = list.next().await {
        let entry = entry.unwrap();
        assert_eq!(entry.kind, ferry_storage::EntryKind::Link);
        seen.push(entry.name);
    }
    seen.sort();
    assert_eq!(seen, vec![b"out".to_vec(), b"outdir".to_vec()]);
}

#[tokio::test]
async fn listing_hides_partials_and_streams_many_entries() {
    let (dir, storage) = storage();
    for i in 0..500 {
        std::fs::write(dir.path().join(format!("f{i:03}")), b"x").unwrap();
    }
    upload(&storage, "half", WriteMode::Create, b"xx", false).await;
    let mut list = storage.list(&VirtualPath::root()).await.unwrap();
    let mut count = 0;
    while let Some(entry) = list.next().await {
        let entry = entry.unwrap();
        assert!(!entry.name.starts_with(b".ferry"));
        count += 1;
    }
    assert_eq!(count, 500);
    // DELE of a name that only has a partial discards the partial.
    storage.remove_file(&path("half")).await.unwrap();
    assert_eq!(storage.partial_size(&path("half")).await.unwrap(), None);
}

#[tokio::test]
async fn control_characters_are_refused_in_new_names() {
    let (dir, storage) = storage();
    upload(&storage, "plain", WriteMode::Create, b"x", true).await;
    for name in [
        "tab\there",
        "cr\rhere",
        "esc\x1b",
        "del\x7f",
        "bell\x07",
        "sub\x01/f",
    ] {
        for mode in [WriteMode::Create, WriteMode::Append, WriteMode::Unique] {
            let error = storage.write(&path(name), mode).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::BadName, "{name:?} {mode:?}");
        }
        let error = storage.create_dir(&path(name)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BadName, "MKD {name:?}");
        let error = storage
            .rename(&path("plain"), &path(name))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BadName, "RNTO {name:?}");
    }
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, vec!["plain"]);
    // A file that got such a name outside ferryd can still be fetched and deleted.
    std::fs::write(dir.path().join("old\tname"), b"old").unwrap();
    assert_eq!(read_all(&storage, "old\tname").await, b"old");
    storage.remove_file(&path("old\tname")).await.unwrap();
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &std::path::Path) {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
}

#[tokio::test]
async fn special_files_are_refused_without_blocking() {
    let (dir, storage) = storage();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    // If an open waits for a writer (the bug), a watchdog plays the writer after 5 s so that the
    // test fails instead of hanging.
    let (finished, done) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        use rustix::fs::{Mode, OFlags};
        let mut released = false;
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            done.recv_timeout(std::time::Duration::from_secs(if released { 0 } else { 5 }))
        {
            released = true;
            let _ = rustix::fs::open(&fifo, OFlags::WRONLY | OFlags::NONBLOCK, Mode::empty());
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        released
    });
    let kinds = [
        storage.read(&path("pipe"), 0).await.map(drop),
        storage.set_modified(&path("pipe"), 0).await,
        storage
            .write(&path("pipe"), WriteMode::Append)
            .await
            .map(drop),
        storage
            .write(&path("pipe"), WriteMode::Resume(1))
            .await
            .map(drop),
    ]
    .map(|result| result.unwrap_err().kind());
    finished.send(()).unwrap();
    assert!(!watchdog.join().unwrap(), "an open waited for a writer");
    assert_eq!(kinds, [ErrorKind::WrongKind; 4]);
    // Plain files still read as before.
    std::fs::write(dir.path().join("plain"), b"plain").unwrap();
    assert_eq!(read_all(&storage, "plain").await, b"plain");
}

#[tokio::test]
async fn set_modified_refuses_hard_linked_files() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let outside = outer.path().join("outside");
    std::fs::write(&outside, b"o").unwrap();
    std::fs::hard_link(&outside, root.join("link")).unwrap();
    std::fs::write(root.join("own"), b"own").unwrap();
    std::fs::create_dir(root.join("folder")).unwrap();
    let before = std::fs::metadata(&outside).unwrap().modified().unwrap();
    let storage = Storage::Local(LocalStorage::open(&root).unwrap());
    let error = storage.set_modified(&path("link"), 0).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PermissionDenied);
    assert!(error.to_string().contains("hard links"), "{error}");
    assert_eq!(
        std::fs::metadata(&outside).unwrap().modified().unwrap(),
        before
    );
    // A file with one name, and a folder, are set as before.
    for name in ["own", "folder"] {
        storage.set_modified(&path(name), 86_400).await.unwrap();
        assert_eq!(
            storage.stat(&path(name)).await.unwrap().modified,
            Some(86_400)
        );
    }
}

#[tokio::test]
async fn names_up_to_255_bytes_upload_resume_and_delete() {
    let (dir, storage) = storage();
    for len in [239, 240, 241, 254, 255] {
        let name = "L".repeat(len);
        upload(&storage, &name, WriteMode::Create, b"0123456789", false).await;
        assert_eq!(storage.partial_size(&path(&name)).await.unwrap(), Some(10));
        assert_eq!(
            upload(&storage, &name, WriteMode::Resume(4), b"abc", false).await,
            4
        );
        assert_eq!(
            upload(&storage, &name, WriteMode::Append, b"def", true).await,
            7
        );
        assert_eq!(read_all(&storage, &name).await, b"0123abcdef");
        assert_eq!(storage.partial_size(&path(&name)).await.unwrap(), None);
        upload(&storage, &name, WriteMode::Create, b"again", false).await;
        storage.remove_file(&path(&name)).await.unwrap();
        assert_eq!(storage.partial_size(&path(&name)).await.unwrap(), Some(5));
        storage.remove_file(&path(&name)).await.unwrap();
        assert_eq!(storage.partial_size(&path(&name)).await.unwrap(), None);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
    // An old partial of a long name is recognised by the stale-partial cleanup.
    let name = "S".repeat(255);
    upload(&storage, &name, WriteMode::Create, b"stale", false).await;
    let partial = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(partial.path())
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let removed = storage
        .remove_stale_partials(std::time::Duration::from_secs(1800))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert_eq!(storage.partial_size(&path(&name)).await.unwrap(), None);
}

#[tokio::test]
async fn one_upload_per_file_whatever_the_alias() {
    let (dir, storage) = storage();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::os::unix::fs::symlink("real", dir.path().join("alias")).unwrap();
    std::os::unix::fs::symlink(".", dir.path().join("real/self")).unwrap();
    let mut first = storage
        .write(&path("real/x.bin"), WriteMode::Create)
        .await
        .unwrap();
    first.write_all(b"first").await.unwrap();
    for other in ["alias/x.bin", "real/self/x.bin", "alias/self/self/x.bin"] {
        for mode in [WriteMode::Create, WriteMode::Append, WriteMode::Resume(2)] {
            let error = storage.write(&path(other), mode).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Busy, "{other} {mode:?}");
        }
    }
    first.commit().await.unwrap();
    assert_eq!(read_all(&storage, "alias/x.bin").await, b"first");
    // Other names in the same folder are not affected, and the alias works once it is done.
    upload(&storage, "alias/y.bin", WriteMode::Create, b"y", true).await;
    upload(&storage, "alias/x.bin", WriteMode::Append, b"!", true).await;
    assert_eq!(read_all(&storage, "real/x.bin").await, b"first!");
}

#[tokio::test]
async fn two_storages_on_one_folder_never_share_a_partial() {
    // As two ferryd processes: separate busy sets; the partial's lock keeps them apart.
    let (dir, one) = storage();
    let two = Storage::Local(LocalStorage::open(dir.path()).unwrap());
    let mut first = one.write(&path("f"), WriteMode::Create).await.unwrap();
    first.write_all(b"one").await.unwrap();
    for mode in [WriteMode::Create, WriteMode::Append, WriteMode::Resume(1)] {
        let error = two.write(&path("f"), mode).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Busy, "{mode:?}");
    }
    // An old partial is not cleaned away from under a running upload either.
    let partial = dir.path().join(".ferry-partial.f");
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    std::fs::File::options()
        .write(true)
        .open(&partial)
        .unwrap()
        .set_modified(day_ago)
        .unwrap();
    let removed = two
        .remove_stale_partials(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(removed, 0);
    first.write_all(b" two").await.unwrap();
    first.commit().await.unwrap();
    assert_eq!(read_all(&two, "f").await, b"one two");
    upload(&two, "f", WriteMode::Create, b"second", true).await;
    assert_eq!(read_all(&one, "f").await, b"second");
}

#[tokio::test]
async fn planted_partials_are_replaced_never_followed() {
    let (dir, storage) = storage();
    let root = dir.path();
    std::fs::write(root.join("keep"), b"precious").unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/linked"), b"linked").unwrap();
    std::os::unix::fs::symlink("keep", root.join(".ferry-partial.a")).unwrap();
    std::os::unix::fs::symlink("keep", root.join(".ferry-partial.b")).unwrap();
    std::os::unix::fs::symlink("keep", root.join(".ferry-partial.c")).unwrap();
    std::fs::hard_link(root.join("sub/linked"), root.join(".ferry-partial.d")).unwrap();
    mkfifo(&root.join(".ferry-partial.e"));
    // A link is no interrupted upload: nothing to report or resume.
    assert_eq!(storage.partial_size(&path("a")).await.unwrap(), None);
    let error = storage
        .write(&path("b"), WriteMode::Resume(3))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unsupported);
    upload(&storage, "a", WriteMode::Create, b"new a", true).await;
    assert_eq!(
        upload(&storage, "c", WriteMode::Append, b"new c", true).await,
        0
    );
    assert_eq!(
        upload(&storage, "d", WriteMode::Append, b"new d", true).await,
        0
    );
    assert_eq!(
        upload(&storage, "e", WriteMode::Append, b"new e", true).await,
        0
    );
    assert_eq!(std::fs::read(root.join("keep")).unwrap(), b"precious");
    assert_eq!(std::fs::read(root.join("sub/linked")).unwrap(), b"linked");
    for name in ["a", "c", "d", "e"] {
        let meta = std::fs::symlink_metadata(root.join(name)).unwrap();
        assert!(meta.is_file(), "{name}");
        assert_eq!(
            read_all(&storage, name).await,
            format!("new {name}").as_bytes()
        );
    }
}

#[tokio::test]
async fn remove_file_leaves_a_running_upload_alone() {
    let (dir, storage) = storage();
    let other = Storage::Local(LocalStorage::open(dir.path()).unwrap());
    std::os::unix::fs::symlink(".", dir.path().join("here")).unwrap();
    std::fs::write(dir.path().join("old"), b"old").unwrap();
    let mut fresh = storage
        .write(&path("fresh"), WriteMode::Create)
        .await
        .unwrap();
    fresh.write_all(b"fresh").await.unwrap();
    let replacing = storage
        .write(&path("old"), WriteMode::Create)
        .await
        .unwrap();
    // Here, by any path, and from another process's storage (only the partial's lock tells).
    for (who, name) in [
        (&storage, "fresh"),
        (&storage, "here/fresh"),
        (&other, "fresh"),
        (&storage, "old"),
        (&storage, "here/old"),
        (&other, "old"),
    ] {
        let error = who.remove_file(&path(name)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Busy, "{name}");
    }
    assert_eq!(std::fs::read(dir.path().join("old")).unwrap(), b"old");
    fresh.commit().await.unwrap();
    replacing.abort().await.unwrap();
    assert_eq!(read_all(&storage, "fresh").await, b"fresh");
    // Done: DELE works again, on the file and then on the kept partial.
    other.remove_file(&path("fresh")).await.unwrap();
    other.remove_file(&path("old")).await.unwrap();
    assert_eq!(storage.partial_size(&path("old")).await.unwrap(), Some(0));
    other.remove_file(&path("old")).await.unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the link is left"
    );
}

#[tokio::test]
async fn unique_skips_names_being_uploaded() {
    let (dir, storage) = storage();
    // A running STOR, and a kept partial, claim their names as a file does.
    let running = storage.write(&path("n"), WriteMode::Create).await.unwrap();
    upload(&storage, "n.1", WriteMode::Create, b"kept", false).await;
    let mut uploads = Vec::new();
    for _ in 0..20 {
        uploads.push(storage.write(&path("n"), WriteMode::Unique).await.unwrap());
    }
    let names: Vec<String> = uploads.iter().map(|u| u.path().to_string()).collect();
    let expected: Vec<String> = (2..22).map(|n| format!("/n.{n}")).collect();
    assert_eq!(names, expected);
    for (i, mut upload) in uploads.into_iter().enumerate() {
        upload.write_all(format!("{i}").as_bytes()).await.unwrap();
        upload.commit().await.unwrap();
    }
    drop(running);
    assert_eq!(read_all(&storage, "n.21").await, b"19");
    // 20 files, the kept partial, and the running upload's partial.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 22);
}
