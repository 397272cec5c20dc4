//! The S3 backend against real S3 servers on loopback (s3s-fs and SeaweedFS), each started by
//! its test: the same checks run on both.
#![cfg(feature = "s3")]
#![allow(clippy::unwrap_used)]

mod s3_servers;

use std::time::{Duration, Instant};

use ferry_storage::{
    EntryKind, ErrorKind, S3Config, S3Storage, Storage, Upload, VirtualPath, WriteMode,
};
use s3_servers::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1 << 20;

fn path(text: &str) -> VirtualPath {
    VirtualPath::root().resolve(text.as_bytes()).unwrap()
}

fn config(server: &S3Server, prefix: &str) -> S3Config {
    S3Config {
        bucket: BUCKET.into(),
        prefix: prefix.into(),
        endpoint: Some(server.endpoint.clone()),
        region: Some("us-east-1".into()),
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
        session_token: None,
    }
}

/// Opens the bucket, waiting (bounded) for a server that is still creating it.
async fn open(server: &S3Server, prefix: &str) -> Storage {
    let started = Instant::now();
    loop {
        let storage = Storage::S3(S3Storage::open(&config(server, prefix)).unwrap());
        match storage.check().await {
            Ok(()) => return storage,
            Err(e) if started.elapsed() < Duration::from_secs(30) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!(
                "{}: cannot open the bucket: {e}\n{}",
                server.name,
                server.log()
            ),
        }
    }
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u64)
                .wrapping_mul(2654435761)
                .wrapping_add(u64::from(seed)) as u8
                ^ (i >> 13) as u8
        })
        .collect()
}

async fn put(storage: &Storage, name: &str, mode: WriteMode, data: &[u8]) -> Upload {
    let mut upload = storage.write(&path(name), mode).await.unwrap();
    // Write in the server's 256 KiB pieces.
    for piece in data.chunks(256 * 1024) {
        upload.write_all(piece).await.unwrap();
    }
    upload
}

async fn store(storage: &Storage, name: &str, data: &[u8]) {
    put(storage, name, WriteMode::Create, data)
        .await
        .commit()
        .await
        .unwrap();
}

async fn fetch(storage: &Storage, name: &str, offset: u64) -> Vec<u8> {
    let mut download = storage.read(&path(name), offset).await.unwrap();
    assert!(download.local_file().is_none());
    let mut out = Vec::new();
    download.read_to_end(&mut out).await.unwrap();
    out
}

async fn names(storage: &Storage, dir: &str) -> Vec<(String, EntryKind)> {
    let mut stream = storage.list(&path(dir)).await.unwrap();
    let mut out = Vec::new();
    while let Some(entry) = stream.next().await {
        let entry = entry.unwrap();
        out.push((String::from_utf8(entry.name).unwrap(), entry.kind));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn kind<T: std::fmt::Debug>(result: ferry_storage::Result<T>) -> ErrorKind {
    result.unwrap_err().kind()
}

#[track_caller]
fn assert_bytes(actual: &[u8], expected: &[u8]) {
    if actual != expected {
        let first = actual.iter().zip(expected).position(|(a, b)| a != b);
        panic!(
            "bytes differ: got {} bytes, expected {}; first difference at {first:?}",
            actual.len(),
            expected.len()
        );
    }
}

/// Every check, against one server, below a prefix of the bucket.
async fn conformance(server: &S3Server) {
    let storage = open(server, "tenant/a").await;

    // A small file: one PUT, visible only on commit.
    let small = bytes(1000, 1);
    let upload = put(&storage, "small.txt", WriteMode::Create, &small).await;
    assert_eq!(
        kind(storage.stat(&path("small.txt")).await),
        ErrorKind::NotFound
    );
    upload.commit().await.unwrap();
    let entry = storage.stat(&path("small.txt")).await.unwrap();
    assert_eq!((entry.kind, entry.size), (EntryKind::File, 1000));
    assert!(entry.modified.is_some() && entry.unique.is_some());
    assert_bytes(&fetch(&storage, "small.txt", 0).await, &small);
    assert_bytes(&fetch(&storage, "small.txt", 600).await, &small[600..]);
    assert!(fetch(&storage, "small.txt", 1000).await.is_empty());
    assert_eq!(
        kind(storage.read(&path("small.txt"), 1001).await),
        ErrorKind::Unsupported
    );

    // The prefix is the root: the key is tenant/a/small.txt.
    let whole = open(server, "").await;
    assert_eq!(
        whole.stat(&path("tenant/a/small.txt")).await.unwrap().size,
        1000
    );
    assert_eq!(
        names(&whole, "tenant").await,
        vec![("a".into(), EntryKind::Dir)]
    );

    // A multipart file (several 8 MiB parts), not visible until commit; ranged reads.
    let big = bytes(21 * MIB + 123, 2);
    let upload = put(&storage, "big.bin", WriteMode::Create, &big).await;
    assert_eq!(
        kind(storage.stat(&path("big.bin")).await),
        ErrorKind::NotFound
    );
    upload.commit().await.unwrap();
    assert_eq!(
        storage.stat(&path("big.bin")).await.unwrap().size,
        big.len() as u64
    );
    assert_bytes(&fetch(&storage, "big.bin", 0).await, &big);
    let rest = 9 * MIB as u64 + 7;
    assert_bytes(
        &fetch(&storage, "big.bin", rest).await,
        &big[rest as usize..],
    );

    // Aborted and dropped uploads publish nothing and leave the old object alone.
    let upload = put(&storage, "big.bin", WriteMode::Create, &bytes(17 * MIB, 3)).await;
    upload.abort().await.unwrap();
    drop(put(&storage, "big.bin", WriteMode::Create, &bytes(9 * MIB, 4)).await);
    drop(put(&storage, "gone.bin", WriteMode::Create, &bytes(9 * MIB, 4)).await);
    assert_bytes(&fetch(&storage, "big.bin", 0).await, &big);
    assert_eq!(
        kind(storage.stat(&path("gone.bin")).await),
        ErrorKind::NotFound
    );
    assert_eq!(storage.partial_size(&path("gone.bin")).await.unwrap(), None);

    // Two uploads to one file on this node: the second is refused while the first runs.
    let first = put(&storage, "busy.txt", WriteMode::Create, b"one").await;
    assert_eq!(
        kind(storage.write(&path("busy.txt"), WriteMode::Create).await),
        ErrorKind::Busy
    );
    // DELE leaves it alone too.
    assert_eq!(
        kind(storage.remove_file(&path("busy.txt")).await),
        ErrorKind::Busy
    );
    first.commit().await.unwrap();

    // APPE: the old bytes (a server-side copied part plus a streamed tail), then the new ones.
    let tail = bytes(3 * MIB + 5, 5);
    let upload = put(&storage, "big.bin", WriteMode::Append, &tail).await;
    assert_eq!(upload.start_offset(), big.len() as u64);
    // Until the upload completes, readers see the old object whole.
    assert_bytes(&fetch(&storage, "big.bin", 0).await, &big);
    upload.commit().await.unwrap();
    let mut expected = big.clone();
    expected.extend_from_slice(&tail);
    assert_bytes(&fetch(&storage, "big.bin", 0).await, &expected);
    // APPE to a small file, and to no file.
    put(&storage, "small.txt", WriteMode::Append, b"+more")
        .await
        .commit()
        .await
        .unwrap();
    assert_bytes(
        &fetch(&storage, "small.txt", 0).await,
        &[&small[..], b"+more"].concat(),
    );
    put(&storage, "new.txt", WriteMode::Append, b"fresh")
        .await
        .commit()
        .await
        .unwrap();
    assert_eq!(fetch(&storage, "new.txt", 0).await, b"fresh");

    // REST n + STOR keeps the first n bytes of the stored object.
    let cut = 8 * MIB as u64 + 3;
    let upload = put(&storage, "big.bin", WriteMode::Resume(cut), b"resumed").await;
    assert_eq!(upload.start_offset(), cut);
    upload.commit().await.unwrap();
    assert_bytes(
        &fetch(&storage, "big.bin", 0).await,
        &[&big[..cut as usize], b"resumed"].concat(),
    );
    // Beyond the object, or with no object: unsupported, and nothing changes.
    let size = storage.stat(&path("big.bin")).await.unwrap().size;
    assert_eq!(
        kind(
            storage
                .write(&path("big.bin"), WriteMode::Resume(size + 1))
                .await
        ),
        ErrorKind::Unsupported
    );
    assert_eq!(
        kind(
            storage
                .write(&path("none.bin"), WriteMode::Resume(10))
                .await
        ),
        ErrorKind::Unsupported
    );
    assert_eq!(storage.stat(&path("big.bin")).await.unwrap().size, size);
    assert_eq!(
        kind(storage.stat(&path("none.bin")).await),
        ErrorKind::NotFound
    );
    storage.remove_file(&path("big.bin")).await.unwrap();

    // STOU picks a free name.
    let upload = put(&storage, "u.txt", WriteMode::Unique, b"1").await;
    assert_eq!(upload.path(), &path("u.txt"));
    upload.commit().await.unwrap();
    let upload = put(&storage, "u.txt", WriteMode::Unique, b"2").await;
    assert_eq!(upload.path(), &path("u.txt.1"));
    upload.commit().await.unwrap();
    // A name another STOU is writing is skipped, not answered busy.
    let first = put(&storage, "v.txt", WriteMode::Unique, b"1").await;
    let second = put(&storage, "v.txt", WriteMode::Unique, b"2").await;
    assert_eq!(
        (first.path(), second.path()),
        (&path("v.txt"), &path("v.txt.1"))
    );
    second.commit().await.unwrap();
    first.commit().await.unwrap();
    assert_eq!(fetch(&storage, "v.txt", 0).await, b"1");
    assert_eq!(fetch(&storage, "v.txt.1", 0).await, b"2");
    storage.remove_file(&path("v.txt")).await.unwrap();
    storage.remove_file(&path("v.txt.1")).await.unwrap();

    // Folders: markers, implicit prefixes, RMD only when empty.
    storage.create_dir(&path("d")).await.unwrap();
    assert_eq!(
        kind(storage.create_dir(&path("small.txt")).await),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind(storage.create_dir(&path("no/such")).await),
        ErrorKind::NotFound
    );
    if server.keeps_markers {
        assert_eq!(storage.stat(&path("d")).await.unwrap().kind, EntryKind::Dir);
        assert_eq!(
            kind(storage.create_dir(&path("d")).await),
            ErrorKind::AlreadyExists
        );
        assert!(names(&storage, "d").await.is_empty());
        storage.create_dir(&path("d/e")).await.unwrap();
        assert_eq!(
            kind(storage.remove_dir(&path("d")).await),
            ErrorKind::NotEmpty
        );
        storage.remove_dir(&path("d/e")).await.unwrap();
    }
    store(&storage, "d/in.txt", b"inside").await;
    assert_eq!(storage.stat(&path("d")).await.unwrap().kind, EntryKind::Dir);
    assert_eq!(
        names(&storage, "d").await,
        vec![("in.txt".into(), EntryKind::File)]
    );
    assert_eq!(
        kind(storage.remove_dir(&path("d")).await),
        ErrorKind::NotEmpty
    );
    assert_eq!(
        kind(storage.remove_file(&path("d")).await),
        ErrorKind::WrongKind
    );
    assert_eq!(
        kind(storage.read(&path("d"), 0).await),
        ErrorKind::WrongKind
    );
    assert_eq!(
        kind(storage.remove_dir(&path("small.txt")).await),
        ErrorKind::WrongKind
    );
    assert_eq!(
        kind(storage.remove_dir(&VirtualPath::root()).await),
        ErrorKind::PermissionDenied
    );
    assert_eq!(
        names(&storage, "/").await,
        vec![
            ("busy.txt".into(), EntryKind::File),
            ("d".into(), EntryKind::Dir),
            ("new.txt".into(), EntryKind::File),
            ("small.txt".into(), EntryKind::File),
            ("u.txt".into(), EntryKind::File),
            ("u.txt.1".into(), EntryKind::File),
        ]
    );

    // Rename: a file (copy + delete), onto itself, and a folder with what is in it.
    storage
        .rename(&path("new.txt"), &path("d/moved.txt"))
        .await
        .unwrap();
    assert_eq!(
        kind(storage.stat(&path("new.txt")).await),
        ErrorKind::NotFound
    );
    assert_eq!(fetch(&storage, "d/moved.txt", 0).await, b"fresh");
    storage
        .rename(&path("u.txt"), &path("u.txt"))
        .await
        .unwrap();
    assert_eq!(fetch(&storage, "u.txt", 0).await, b"1");
    assert_eq!(
        kind(storage.rename(&path("nothing"), &path("x")).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(storage.rename(&path("d"), &path("d/inner")).await),
        ErrorKind::PermissionDenied
    );
    storage.rename(&path("d"), &path("d2")).await.unwrap();
    if server.keeps_markers {
        assert_eq!(kind(storage.stat(&path("d")).await), ErrorKind::NotFound);
    } else {
        // s3s-fs leaves the emptied folder on its disk and answers a HEAD of it with 500.
        assert!(storage.stat(&path("d")).await.is_err());
    }
    assert_eq!(
        names(&storage, "d2").await,
        vec![
            ("in.txt".into(), EntryKind::File),
            ("moved.txt".into(), EntryKind::File)
        ]
    );
    assert_eq!(fetch(&storage, "d2/in.txt", 0).await, b"inside");

    // DELE, then RMD of the emptied folder.
    storage.remove_file(&path("d2/in.txt")).await.unwrap();
    storage.remove_file(&path("d2/moved.txt")).await.unwrap();
    assert_eq!(
        kind(storage.remove_file(&path("d2/in.txt")).await),
        ErrorKind::NotFound
    );
    if server.keeps_markers {
        storage.remove_dir(&path("d2")).await.unwrap();
    }
    if server.keeps_markers {
        assert_eq!(kind(storage.stat(&path("d2")).await), ErrorKind::NotFound);
    }

    // A listing longer than one S3 page (1000 keys) streams whole.
    let names_wanted: Vec<String> = (0..1003).map(|i| format!("f{i:04}")).collect();
    for batch in names_wanted.chunks(32) {
        futures::future::join_all(batch.iter().map(|name| {
            let storage = storage.clone();
            async move { store(&storage, &format!("many/{name}"), b"x").await }
        }))
        .await;
    }
    let listed = names(&storage, "many").await;
    assert_eq!(listed.len(), names_wanted.len());
    assert!(listed.iter().map(|(n, _)| n).eq(names_wanted.iter()));
    // Renaming it moves every key, past the first page too.
    storage.rename(&path("many"), &path("many2")).await.unwrap();
    assert_eq!(names(&storage, "many2").await.len(), names_wanted.len());
    if server.keeps_markers {
        assert_eq!(kind(storage.stat(&path("many")).await), ErrorKind::NotFound);
    }

    // STOR into a folder that does not exist makes it (a key makes its prefixes).
    store(&storage, "implicit/f.txt", b"f").await;
    assert_eq!(
        storage.stat(&path("implicit")).await.unwrap().kind,
        EntryKind::Dir
    );
    storage.remove_file(&path("implicit/f.txt")).await.unwrap();

    // What S3 does not do, and the names nobody may use.
    assert_eq!(
        kind(storage.set_modified(&path("u.txt"), 0).await),
        ErrorKind::Unsupported
    );
    let not_utf8 = VirtualPath::root().resolve(b"bad\xff.txt").unwrap();
    assert_eq!(
        kind(storage.write(&not_utf8, WriteMode::Create).await),
        ErrorKind::BadName
    );
    for name in [".ferry-partial.x", "d/.ferry-partial.y"] {
        assert_eq!(
            kind(storage.write(&path(name), WriteMode::Create).await),
            ErrorKind::BadName
        );
        assert_eq!(kind(storage.stat(&path(name)).await), ErrorKind::BadName);
    }
    // Control characters in new names, as on a folder.
    for name in ["tab\there", "d/esc\x1b", "del\x7f", "cr\r/x"] {
        assert_eq!(
            kind(storage.write(&path(name), WriteMode::Create).await),
            ErrorKind::BadName,
            "{name:?}"
        );
        assert_eq!(
            kind(storage.create_dir(&path(name)).await),
            ErrorKind::BadName
        );
        assert_eq!(
            kind(storage.rename(&path("u.txt"), &path(name)).await),
            ErrorKind::BadName
        );
    }

    // OpenDAL trims whitespace off both ends of a key, so `w ` would read and write the object
    // `w`: names it would change are refused (found by lftp mirroring "trailing space "), and
    // whitespace it keeps, inside the key, works.
    store(&storage, "w", b"plain").await;
    for name in ["w ", " w", "d/w ", "\u{a0}w", "w\u{3000}"] {
        assert_eq!(
            kind(storage.write(&path(name), WriteMode::Create).await),
            ErrorKind::BadName,
            "{name:?}"
        );
        assert_eq!(kind(storage.stat(&path(name)).await), ErrorKind::BadName);
        assert_eq!(
            kind(storage.remove_file(&path(name)).await),
            ErrorKind::BadName
        );
    }
    assert_eq!(fetch(&storage, "w", 0).await, b"plain");
    store(&storage, "sp/ in  side /x", b"kept").await;
    assert_eq!(fetch(&storage, "sp/ in  side /x", 0).await, b"kept");
    assert_eq!(
        names(&storage, "sp").await,
        [(" in  side ".to_string(), EntryKind::Dir)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3s_fs() {
    let server = S3Server::s3s_fs();
    conformance(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seaweedfs() {
    let server = S3Server::seaweedfs();
    conformance(&server).await;
}
