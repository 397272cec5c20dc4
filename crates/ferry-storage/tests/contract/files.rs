//! The contract for files: stat, read at an offset, delete, times, and the names refused.

use ferry_storage::{EntryKind, ErrorKind, VirtualPath, WriteMode};
use tokio::io::AsyncReadExt;

use crate::kit::{Backend, assert_bytes, bytes, disk_names, fetch, kind, names, path, store};

pub(crate) async fn stat_tells_kind_size_and_time(b: &Backend) {
    store(b, "f.txt", &bytes(1000, 1)).await;
    let entry = b.stat(&path("f.txt")).await.unwrap();
    assert_eq!((entry.kind, entry.size), (EntryKind::File, 1000));
    assert_eq!(entry.name, b"f.txt");
    assert!(entry.modified.is_some() && entry.unique.is_some());
    assert_eq!(
        b.stat(&VirtualPath::root()).await.unwrap().kind,
        EntryKind::Dir
    );
    b.create_dir(&path("d")).await.unwrap();
    store(b, "d/in.txt", b"inside").await;
    assert_eq!(b.stat(&path("d")).await.unwrap().kind, EntryKind::Dir);
    assert_eq!(kind(b.stat(&path("none")).await), ErrorKind::NotFound);
}

pub(crate) async fn read_starts_at_the_offset(b: &Backend) {
    let small = bytes(1000, 1);
    store(b, "small.txt", &small).await;
    assert_bytes(&fetch(b, "small.txt", 0).await, &small);
    assert_bytes(&fetch(b, "small.txt", 600).await, &small[600..]);
    assert!(fetch(b, "small.txt", 1000).await.is_empty());
    assert_eq!(
        kind(b.read(&path("small.txt"), 1001).await),
        ErrorKind::Unsupported
    );
    let mut download = b.read(&path("small.txt"), 600).await.unwrap();
    assert_eq!((download.size, download.offset), (1000, 600));
    // A folder hands out its file for zero-copy sends; S3 does not.
    assert_eq!(download.local_file().is_some(), b.facts.local_files);
    let mut rest = Vec::new();
    download.read_to_end(&mut rest).await.unwrap();
    assert_bytes(&rest, &small[600..]);
    assert_eq!(kind(b.read(&path("none"), 0).await), ErrorKind::NotFound);
}

pub(crate) async fn wrong_kind_is_refused(b: &Backend) {
    b.create_dir(&path("d")).await.unwrap();
    store(b, "d/in.txt", b"inside").await;
    store(b, "f.txt", b"file").await;
    assert_eq!(kind(b.read(&path("d"), 0).await), ErrorKind::WrongKind);
    assert_eq!(kind(b.remove_file(&path("d")).await), ErrorKind::WrongKind);
    assert_eq!(
        kind(b.remove_dir(&path("f.txt")).await),
        ErrorKind::WrongKind
    );
    // An upload never replaces a folder.
    for mode in [WriteMode::Create, WriteMode::Append, WriteMode::Resume(1)] {
        assert_eq!(
            kind(b.write(&path("d"), mode).await),
            ErrorKind::WrongKind,
            "{mode:?}"
        );
    }
    assert_eq!(fetch(b, "d/in.txt", 0).await, b"inside");
}

pub(crate) async fn remove_file_deletes(b: &Backend) {
    store(b, "x", b"x").await;
    b.remove_file(&path("x")).await.unwrap();
    assert_eq!(kind(b.stat(&path("x")).await), ErrorKind::NotFound);
    assert_eq!(kind(b.remove_file(&path("x")).await), ErrorKind::NotFound);
    assert!(names(b, "/").await.is_empty());
}

/// MFMT: a folder sets the time of a file and of a folder; S3 refuses (README: MFMT is 554).
pub(crate) async fn set_modified_sets_the_time_where_supported(b: &Backend) {
    store(b, "own", b"own").await;
    b.create_dir(&path("folder")).await.unwrap();
    store(b, "folder/in", b"in").await;
    for name in ["own", "folder"] {
        let result = b.set_modified(&path(name), 86_400).await;
        match b.facts.set_modified_refused {
            None => {
                result.unwrap();
                assert_eq!(b.stat(&path(name)).await.unwrap().modified, Some(86_400));
            }
            Some(refused) => assert_eq!(kind(result), refused, "{name}"),
        }
    }
}

pub(crate) async fn reserved_names_are_refused(b: &Backend) {
    b.create_dir(&path("d")).await.unwrap();
    for name in [".ferry-partial.x", "d/.ferry-partial.y"] {
        let p = path(name);
        assert_eq!(
            kind(b.write(&p, WriteMode::Create).await),
            ErrorKind::BadName
        );
        assert_eq!(kind(b.stat(&p).await), ErrorKind::BadName);
        assert_eq!(kind(b.read(&p, 0).await), ErrorKind::BadName);
        assert_eq!(kind(b.remove_file(&p).await), ErrorKind::BadName);
        assert_eq!(kind(b.create_dir(&p).await), ErrorKind::BadName);
    }
}

/// Listings show control characters as `?` and no client can type them back: new names with
/// them are refused, whatever the operation that would create them.
pub(crate) async fn control_characters_are_refused_in_new_names(b: &Backend) {
    store(b, "plain", b"x").await;
    b.create_dir(&path("d")).await.unwrap();
    store(b, "d/in", b"in").await;
    for name in [
        "tab\there",
        "cr\rhere",
        "esc\x1b",
        "del\x7f",
        "bell\x07",
        "sub\x01/f",
        "d/esc\x1b",
        "cr\r/x",
    ] {
        for mode in [WriteMode::Create, WriteMode::Append, WriteMode::Unique] {
            let error = b.write(&path(name), mode).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::BadName, "{name:?} {mode:?}");
        }
        let error = b.create_dir(&path(name)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BadName, "MKD {name:?}");
        let error = b.rename(&path("plain"), &path(name)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BadName, "RNTO {name:?}");
    }
    assert_eq!(
        names(b, "/").await,
        vec![
            ("d".into(), EntryKind::Dir),
            ("plain".into(), EntryKind::File)
        ]
    );
    if let Some(disk) = &b.disk {
        assert_eq!(disk_names(disk), vec!["d", "plain"]);
    }
}

/// Names that are not UTF-8, and whitespace at the ends of a path: a folder stores them; S3
/// refuses them (its keys are UTF-8, and OpenDAL trims the ends of every key, so `w ` would
/// read and write the object `w`; found by lftp mirroring "trailing space "). Whitespace inside
/// a key works everywhere.
pub(crate) async fn names_each_backend_can_store(b: &Backend) {
    let not_utf8 = VirtualPath::root().resolve(b"bad\xff.txt").unwrap();
    let written = b.write(&not_utf8, WriteMode::Create).await;
    if b.facts.utf8_only {
        assert_eq!(kind(written), ErrorKind::BadName);
    } else {
        written.unwrap().commit().await.unwrap();
        assert_eq!(b.stat(&not_utf8).await.unwrap().size, 0);
    }
    store(b, "w", b"plain").await;
    b.create_dir(&path("d")).await.unwrap();
    for name in ["w ", " w", "d/w ", "\u{a0}w", "w\u{3000}"] {
        if b.facts.whitespace_ends_refused {
            assert_eq!(
                kind(b.write(&path(name), WriteMode::Create).await),
                ErrorKind::BadName,
                "{name:?}"
            );
            assert_eq!(kind(b.stat(&path(name)).await), ErrorKind::BadName);
            assert_eq!(kind(b.remove_file(&path(name)).await), ErrorKind::BadName);
        } else {
            store(b, name, name.as_bytes()).await;
            assert_eq!(fetch(b, name, 0).await, name.as_bytes(), "{name:?}");
            b.remove_file(&path(name)).await.unwrap();
        }
    }
    assert_eq!(fetch(b, "w", 0).await, b"plain");
    if !b.facts.stor_makes_folders {
        b.create_dir(&path("sp")).await.unwrap();
        b.create_dir(&path("sp/ in  side ")).await.unwrap();
    }
    store(b, "sp/ in  side /x", b"kept").await;
    assert_eq!(fetch(b, "sp/ in  side /x", 0).await, b"kept");
    assert_eq!(
        names(b, "sp").await,
        [(" in  side ".to_string(), EntryKind::Dir)]
    );
}
