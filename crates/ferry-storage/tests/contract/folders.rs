//! The contract for folders: MKD, RMD, listings, and rename.

use ferry_storage::{EntryKind, ErrorKind, VirtualPath, WriteMode};

use crate::kit::{Backend, fetch, kind, names, path, store, upload};

/// Asserts that the folder `name` is gone (on s3s-fs, that it does not answer as one).
async fn assert_folder_gone(b: &Backend, name: &str) {
    let stat = b.stat(&path(name)).await;
    if b.facts.empty_folders_show {
        assert_eq!(kind(stat), ErrorKind::NotFound, "{name}");
        // Nor does its parent's listing show it.
        let (parent, last) = name.rsplit_once('/').unwrap_or(("", name));
        let listed = names(b, parent).await;
        assert!(
            listed.iter().all(|(entry, _)| entry != last),
            "{name} still listed: {listed:?}"
        );
    } else {
        // s3s-fs leaves the emptied folder on its disk and answers a HEAD of it with 500.
        assert!(stat.is_err(), "{name}");
    }
}

pub(crate) async fn folders_are_made_listed_and_removed(b: &Backend) {
    store(b, "small.txt", b"small").await;
    b.create_dir(&path("d")).await.unwrap();
    assert_eq!(
        kind(b.create_dir(&path("small.txt")).await),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind(b.create_dir(&path("no/such")).await),
        ErrorKind::NotFound
    );
    // An empty folder shows, but where the S3 server drops MKD's zero-byte marker (s3s-fs).
    if b.facts.empty_folders_show {
        assert_eq!(b.stat(&path("d")).await.unwrap().kind, EntryKind::Dir);
        assert_eq!(
            kind(b.create_dir(&path("d")).await),
            ErrorKind::AlreadyExists
        );
        assert!(names(b, "d").await.is_empty());
        b.create_dir(&path("d/e")).await.unwrap();
        assert_eq!(kind(b.remove_dir(&path("d")).await), ErrorKind::NotEmpty);
        b.remove_dir(&path("d/e")).await.unwrap();
    }
    store(b, "d/in.txt", b"inside").await;
    assert_eq!(b.stat(&path("d")).await.unwrap().kind, EntryKind::Dir);
    assert_eq!(
        names(b, "d").await,
        vec![("in.txt".into(), EntryKind::File)]
    );
    assert_eq!(kind(b.remove_dir(&path("d")).await), ErrorKind::NotEmpty);
    assert_eq!(
        kind(b.remove_dir(&VirtualPath::root()).await),
        ErrorKind::PermissionDenied
    );
    assert_eq!(
        names(b, "/").await,
        vec![
            ("d".into(), EntryKind::Dir),
            ("small.txt".into(), EntryKind::File),
        ]
    );
    b.remove_file(&path("d/in.txt")).await.unwrap();
    if b.facts.empty_folders_show {
        b.remove_dir(&path("d")).await.unwrap();
    }
    assert_folder_gone(b, "d").await;
}

/// A listing streams every entry, past a folder's read-ahead and past one S3 page (1000 keys),
/// and never shows an upload in progress or an interrupted one. Renaming the folder moves
/// every entry.
pub(crate) async fn listing_hides_uploads_and_streams_past_a_page(b: &Backend) {
    b.create_dir(&path("many")).await.unwrap();
    let wanted: Vec<String> = (0..1003).map(|i| format!("f{i:04}")).collect();
    for batch in wanted.chunks(32) {
        let mut set = tokio::task::JoinSet::new();
        for name in batch {
            let (storage, name) = (b.storage.clone(), format!("many/{name}"));
            set.spawn(async move { store(&storage, &name, b"x").await });
        }
        while let Some(done) = set.join_next().await {
            done.unwrap();
        }
    }
    upload(b, "many/half", WriteMode::Create, b"xx", false).await;
    let running = b
        .write(&path("many/running"), WriteMode::Create)
        .await
        .unwrap();
    let listed = names(b, "many").await;
    assert_eq!(listed.len(), wanted.len());
    assert!(listed.iter().map(|(n, _)| n).eq(wanted.iter()));
    drop(running);
    // DELE of a name that only has an interrupted upload discards it (a folder); on S3 there
    // is nothing there.
    let removed = b.remove_file(&path("many/half")).await;
    if b.facts.keeps_partials {
        removed.unwrap();
        assert_eq!(b.partial_size(&path("many/half")).await.unwrap(), None);
    } else {
        assert_eq!(kind(removed), ErrorKind::NotFound);
    }
    b.rename(&path("many"), &path("many2")).await.unwrap();
    assert_eq!(names(b, "many2").await.len(), wanted.len());
    assert_folder_gone(b, "many").await;
}

/// RNFR/RNTO. On S3 a rename is copy then delete, not atomic (README): this test sees the end
/// state, which is the same on every backend.
pub(crate) async fn rename_moves_files_and_folders(b: &Backend) {
    store(b, "new.txt", b"fresh").await;
    b.create_dir(&path("d")).await.unwrap();
    store(b, "d/in.txt", b"inside").await;
    b.rename(&path("new.txt"), &path("d/moved.txt"))
        .await
        .unwrap();
    assert_eq!(kind(b.stat(&path("new.txt")).await), ErrorKind::NotFound);
    assert_eq!(fetch(b, "d/moved.txt", 0).await, b"fresh");
    store(b, "u.txt", b"1").await;
    b.rename(&path("u.txt"), &path("u.txt")).await.unwrap();
    assert_eq!(fetch(b, "u.txt", 0).await, b"1");
    assert_eq!(
        kind(b.rename(&path("nothing"), &path("x")).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(b.rename(&path("d"), &path("d/inner")).await),
        ErrorKind::PermissionDenied
    );
    // A file at the target is replaced.
    store(b, "a", b"A").await;
    store(b, "b", b"B").await;
    b.rename(&path("a"), &path("b")).await.unwrap();
    assert_eq!(fetch(b, "b", 0).await, b"A");
    assert_eq!(kind(b.stat(&path("a")).await), ErrorKind::NotFound);
    // A folder, with what is in it.
    b.rename(&path("d"), &path("d2")).await.unwrap();
    assert_folder_gone(b, "d").await;
    assert_eq!(
        names(b, "d2").await,
        vec![
            ("in.txt".into(), EntryKind::File),
            ("moved.txt".into(), EntryKind::File)
        ]
    );
    assert_eq!(fetch(b, "d2/in.txt", 0).await, b"inside");
    // DELE, then RMD of the emptied folder.
    b.remove_file(&path("d2/in.txt")).await.unwrap();
    b.remove_file(&path("d2/moved.txt")).await.unwrap();
    assert_eq!(
        kind(b.remove_file(&path("d2/in.txt")).await),
        ErrorKind::NotFound
    );
    if b.facts.empty_folders_show {
        b.remove_dir(&path("d2")).await.unwrap();
    }
    assert_folder_gone(b, "d2").await;
}
