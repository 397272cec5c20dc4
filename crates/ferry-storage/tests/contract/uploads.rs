//! The contract for uploads: atomic visibility, commit and abort in each write mode, resume,
//! the busy rule, and STOU.

use ferry_storage::{EntryKind, ErrorKind, WriteMode};
use tokio::io::AsyncWriteExt;

use crate::kit::{
    Backend, MIB, assert_bytes, bytes, disk_names, fetch, kind, names, path, put, store, upload,
};

pub(crate) async fn upload_is_invisible_until_commit(b: &Backend) {
    let mut pending = b.write(&path("a.txt"), WriteMode::Create).await.unwrap();
    // A folder hands out the file the bytes go to, for zero-copy receives; S3 does not.
    assert_eq!(pending.local_file().is_some(), b.facts.local_files);
    pending.write_all(b"hello").await.unwrap();
    pending.flush().await.unwrap();
    assert_eq!(kind(b.stat(&path("a.txt")).await), ErrorKind::NotFound);
    assert!(names(b, "/").await.is_empty());
    if let Some(disk) = &b.disk {
        assert!(!disk.join("a.txt").exists());
    }
    pending.commit().await.unwrap();
    assert_eq!(fetch(b, "a.txt", 0).await, b"hello");
    assert_eq!(b.partial_size(&path("a.txt")).await.unwrap(), None);
}

/// Several of S3's 8 MiB parts: invisible until commit, then whole, and read from an offset.
pub(crate) async fn multipart_sized_files_round_trip(b: &Backend) {
    let big = bytes(21 * MIB + 123, 2);
    let upload = put(b, "big.bin", WriteMode::Create, &big).await;
    assert_eq!(kind(b.stat(&path("big.bin")).await), ErrorKind::NotFound);
    upload.commit().await.unwrap();
    assert_eq!(
        b.stat(&path("big.bin")).await.unwrap().size,
        big.len() as u64
    );
    assert_bytes(&fetch(b, "big.bin", 0).await, &big);
    let rest = 9 * MIB as u64 + 7;
    assert_bytes(&fetch(b, "big.bin", rest).await, &big[rest as usize..]);
}

/// Neither an aborted nor a dropped upload publishes anything, and the old file stays whole. A
/// folder keeps what arrived for a resume; S3 keeps nothing (README: no resume after an aborted
/// S3 upload).
pub(crate) async fn aborted_or_dropped_upload_publishes_nothing(b: &Backend) {
    let old = bytes(MIB + 1, 1);
    store(b, "old.bin", &old).await;
    let upload = put(b, "old.bin", WriteMode::Create, &bytes(17 * MIB, 3)).await;
    upload.abort().await.unwrap();
    drop(put(b, "old.bin", WriteMode::Create, &bytes(9 * MIB, 4)).await);
    drop(put(b, "gone.bin", WriteMode::Create, &bytes(9 * MIB, 4)).await);
    assert_bytes(&fetch(b, "old.bin", 0).await, &old);
    assert_eq!(kind(b.stat(&path("gone.bin")).await), ErrorKind::NotFound);
    let kept = b.facts.keeps_partials.then_some(9 * MIB as u64);
    assert_eq!(b.partial_size(&path("gone.bin")).await.unwrap(), kept);
}

/// REST n + STOR after an interrupted upload: a folder resumes from the kept partial; on S3
/// there is nothing to resume, so REST beyond the (absent) object is refused.
pub(crate) async fn resume_after_an_interrupted_upload(b: &Backend) {
    upload(b, "b.bin", WriteMode::Create, b"0123456789", false).await;
    if b.facts.keeps_partials {
        assert_eq!(b.partial_size(&path("b.bin")).await.unwrap(), Some(10));
        assert_eq!(
            upload(b, "b.bin", WriteMode::Resume(4), b"abcdef", true).await,
            4
        );
        assert_eq!(fetch(b, "b.bin", 0).await, b"0123abcdef");
        // Resuming beyond what exists is refused.
        assert_eq!(
            kind(b.write(&path("b.bin"), WriteMode::Resume(11)).await),
            ErrorKind::Unsupported
        );
        // The refused attempt changed nothing.
        assert_eq!(fetch(b, "b.bin", 0).await, b"0123abcdef");
    } else {
        assert_eq!(b.partial_size(&path("b.bin")).await.unwrap(), None);
        assert_eq!(
            kind(b.write(&path("b.bin"), WriteMode::Resume(4)).await),
            ErrorKind::Unsupported
        );
        assert_eq!(kind(b.stat(&path("b.bin")).await), ErrorKind::NotFound);
    }
}

/// REST n + STOR over a stored file keeps its first n bytes; beyond it, or with no file and no
/// interrupted upload, it is refused and nothing changes.
pub(crate) async fn resume_keeps_the_first_bytes_of_the_file(b: &Backend) {
    let big = bytes(12 * MIB + 5, 2);
    store(b, "big.bin", &big).await;
    let cut = 8 * MIB as u64 + 3;
    let upload = put(b, "big.bin", WriteMode::Resume(cut), b"resumed").await;
    assert_eq!(upload.start_offset(), cut);
    upload.commit().await.unwrap();
    assert_bytes(
        &fetch(b, "big.bin", 0).await,
        &[&big[..cut as usize], b"resumed"].concat(),
    );
    let size = b.stat(&path("big.bin")).await.unwrap().size;
    assert_eq!(
        kind(b.write(&path("big.bin"), WriteMode::Resume(size + 1)).await),
        ErrorKind::Unsupported
    );
    assert_eq!(
        kind(b.write(&path("none.bin"), WriteMode::Resume(10)).await),
        ErrorKind::Unsupported
    );
    assert_eq!(b.stat(&path("big.bin")).await.unwrap().size, size);
    assert_eq!(kind(b.stat(&path("none.bin")).await), ErrorKind::NotFound);
    b.remove_file(&path("big.bin")).await.unwrap();
}

/// APPE: the old bytes, then the new ones; readers see the old file whole until the commit.
pub(crate) async fn append_extends_the_file(b: &Backend) {
    store(b, "c.txt", b"one ").await;
    assert_eq!(upload(b, "c.txt", WriteMode::Append, b"two", true).await, 4);
    assert_eq!(fetch(b, "c.txt", 0).await, b"one two");
    assert_eq!(
        upload(b, "new.txt", WriteMode::Append, b"fresh", true).await,
        0
    );
    assert_eq!(fetch(b, "new.txt", 0).await, b"fresh");
    // On S3: a server-side copied part plus a streamed tail, then the new bytes.
    let big = bytes(9 * MIB + 7, 2);
    store(b, "big.bin", &big).await;
    let tail = bytes(3 * MIB + 5, 5);
    let upload = put(b, "big.bin", WriteMode::Append, &tail).await;
    assert_eq!(upload.start_offset(), big.len() as u64);
    assert_bytes(&fetch(b, "big.bin", 0).await, &big);
    upload.commit().await.unwrap();
    assert_bytes(&fetch(b, "big.bin", 0).await, &[big, tail].concat());
}

/// Two uploads to one file: the second is refused while the first runs, and DELE leaves the
/// running one alone; once it ends, the file is free again.
pub(crate) async fn one_upload_per_file_at_a_time(b: &Backend) {
    let first = put(b, "busy.txt", WriteMode::Create, b"one").await;
    for mode in [WriteMode::Create, WriteMode::Append, WriteMode::Resume(0)] {
        assert_eq!(
            kind(b.write(&path("busy.txt"), mode).await),
            ErrorKind::Busy,
            "{mode:?}"
        );
    }
    assert_eq!(
        kind(b.remove_file(&path("busy.txt")).await),
        ErrorKind::Busy
    );
    first.commit().await.unwrap();
    assert_eq!(fetch(b, "busy.txt", 0).await, b"one");

    let first = b.write(&path("d.bin"), WriteMode::Create).await.unwrap();
    let second = b
        .write(&path("d.bin"), WriteMode::Create)
        .await
        .unwrap_err();
    assert_eq!(second.kind(), ErrorKind::Busy);
    drop(first);
    assert!(b.write(&path("d.bin"), WriteMode::Create).await.is_ok());
}

/// STOU takes the name when it is free, else the first free `NAME.N`, and never replaces.
pub(crate) async fn unique_never_replaces(b: &Backend) {
    let upload = put(b, "free.txt", WriteMode::Unique, b"free").await;
    assert_eq!(upload.path(), &path("free.txt"));
    upload.commit().await.unwrap();
    store(b, "u", b"original").await;
    let mut one = b.write(&path("u"), WriteMode::Unique).await.unwrap();
    assert_eq!(one.path().to_string(), "/u.1");
    one.write_all(b"first").await.unwrap();
    one.commit().await.unwrap();
    let two = b.write(&path("u"), WriteMode::Unique).await.unwrap();
    assert_eq!(two.path().to_string(), "/u.2");
    two.abort().await.unwrap();
    assert_eq!(fetch(b, "u", 0).await, b"original");
    assert_eq!(fetch(b, "u.1", 0).await, b"first");
    assert_eq!(fetch(b, "free.txt", 0).await, b"free");
    let files = |names: &[&str]| -> Vec<(String, EntryKind)> {
        names
            .iter()
            .map(|n| (n.to_string(), EntryKind::File))
            .collect()
    };
    assert_eq!(names(b, "/").await, files(&["free.txt", "u", "u.1"]));
    if let Some(disk) = &b.disk {
        assert_eq!(disk_names(disk), vec!["free.txt", "u", "u.1"]);
    }
}

/// STOU skips a name another upload is writing (rather than answering busy), and on a folder
/// also a name whose interrupted upload waits to be resumed.
pub(crate) async fn unique_skips_names_being_uploaded(b: &Backend) {
    let first = put(b, "v.txt", WriteMode::Unique, b"1").await;
    let second = put(b, "v.txt", WriteMode::Unique, b"2").await;
    assert_eq!(
        (first.path(), second.path()),
        (&path("v.txt"), &path("v.txt.1"))
    );
    second.commit().await.unwrap();
    first.commit().await.unwrap();
    assert_eq!(fetch(b, "v.txt", 0).await, b"1");
    assert_eq!(fetch(b, "v.txt.1", 0).await, b"2");

    // A running STOR claims its name; a kept partial (a folder's) claims its name too.
    let running = b.write(&path("n"), WriteMode::Create).await.unwrap();
    upload(b, "n.1", WriteMode::Create, b"kept", false).await;
    let mut uploads = Vec::new();
    for _ in 0..20 {
        uploads.push(b.write(&path("n"), WriteMode::Unique).await.unwrap());
    }
    let first = if b.facts.keeps_partials { 2 } else { 1 };
    let names: Vec<String> = uploads.iter().map(|u| u.path().to_string()).collect();
    let expected: Vec<String> = (first..first + 20).map(|n| format!("/n.{n}")).collect();
    assert_eq!(names, expected);
    for (i, mut upload) in uploads.into_iter().enumerate() {
        upload.write_all(format!("{i}").as_bytes()).await.unwrap();
        upload.commit().await.unwrap();
    }
    drop(running);
    assert_eq!(fetch(b, &format!("n.{}", first + 19), 0).await, b"19");
    if let Some(disk) = &b.disk {
        // v.txt and v.txt.1, 20 files, the kept partial, and the running upload's partial.
        assert_eq!(std::fs::read_dir(disk).unwrap().count(), 24);
    }
}

/// STOR into a folder that does not exist: S3 creates it (a key makes its prefixes); a folder
/// on disk answers `NotFound`.
pub(crate) async fn stor_into_a_missing_folder(b: &Backend) {
    let written = b.write(&path("implicit/f.txt"), WriteMode::Create).await;
    if b.facts.stor_makes_folders {
        written.unwrap().commit().await.unwrap();
        assert_eq!(
            b.stat(&path("implicit")).await.unwrap().kind,
            EntryKind::Dir
        );
        b.remove_file(&path("implicit/f.txt")).await.unwrap();
    } else {
        assert_eq!(kind(written), ErrorKind::NotFound);
        assert_eq!(kind(b.stat(&path("implicit")).await), ErrorKind::NotFound);
    }
}
