//! What only the local backend does: the jail (symlinks), FIFOs, hard links, long names'
//! partials and their cleanup, one upload per file across aliases and processes (the partial's
//! lock), planted partials. The behaviours every backend shares are in the contract suite
//! (`tests/contract/`, run by `tests/storage_contract.rs`).
#![allow(clippy::unwrap_used)]

mod kit;

use ferry_storage::{ErrorKind, LocalStorage, Storage, VirtualPath, WriteMode};
use kit::{fetch, path, upload};
use tokio::io::AsyncWriteExt;

fn storage() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::Local(LocalStorage::open(dir.path()).unwrap());
    (dir, storage)
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

/// The contract refuses control characters in new names (`tests/contract/files.rs`); a file
/// that got such a name outside ferryd can still be fetched and deleted.
#[tokio::test]
async fn files_named_outside_ferryd_with_control_characters_stay_usable() {
    let (dir, storage) = storage();
    std::fs::write(dir.path().join("old\tname"), b"old").unwrap();
    assert_eq!(fetch(&storage, "old\tname", 0).await, b"old");
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
    assert_eq!(fetch(&storage, "plain", 0).await, b"plain");
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
        assert_eq!(fetch(&storage, &name, 0).await, b"0123abcdef");
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
    assert_eq!(fetch(&storage, "alias/x.bin", 0).await, b"first");
    // Other names in the same folder are not affected, and the alias works once it is done.
    upload(&storage, "alias/y.bin", WriteMode::Create, b"y", true).await;
    upload(&storage, "alias/x.bin", WriteMode::Append, b"!", true).await;
    assert_eq!(fetch(&storage, "real/x.bin", 0).await, b"first!");
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
    assert_eq!(fetch(&two, "f", 0).await, b"one two");
    upload(&two, "f", WriteMode::Create, b"second", true).await;
    assert_eq!(fetch(&one, "f", 0).await, b"second");
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
            fetch(&storage, name, 0).await,
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
    assert_eq!(fetch(&storage, "fresh", 0).await, b"fresh");
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
