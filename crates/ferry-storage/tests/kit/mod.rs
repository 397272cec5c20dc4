//! The kit every ferry-storage test shares: paths and bytes, uploads and reads through the
//! [`Storage`] API, and the backends the contract suite runs on ([`Backend`]: a storage, and the
//! [`Facts`] where that backend differs from a folder on purpose).
//!
//! It holds no test itself: the contract is in `tests/contract/`, what only one backend does in
//! `tests/local.rs` and `tests/s3.rs`.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

#[cfg(feature = "s3")]
#[path = "../s3_servers/mod.rs"]
pub mod s3_servers;

use std::any::Any;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use ferry_storage::{EntryKind, ErrorKind, LocalStorage, Storage, Upload, VirtualPath, WriteMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const MIB: usize = 1 << 20;

pub fn path(text: &str) -> VirtualPath {
    VirtualPath::root().resolve(text.as_bytes()).unwrap()
}

/// `len` bytes that differ with `seed` and do not repeat within a part.
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u64)
                .wrapping_mul(2654435761)
                .wrapping_add(u64::from(seed)) as u8
                ^ (i >> 13) as u8
        })
        .collect()
}

/// The kind of a failure that must happen.
pub fn kind<T: std::fmt::Debug>(result: ferry_storage::Result<T>) -> ErrorKind {
    result.unwrap_err().kind()
}

#[track_caller]
pub fn assert_bytes(actual: &[u8], expected: &[u8]) {
    if actual != expected {
        let first = actual.iter().zip(expected).position(|(a, b)| a != b);
        panic!(
            "bytes differ: got {} bytes, expected {}; first difference at {first:?}",
            actual.len(),
            expected.len()
        );
    }
}

/// Starts an upload and writes `data` in the server's 256 KiB pieces; the caller ends it.
pub async fn put(storage: &Storage, name: &str, mode: WriteMode, data: &[u8]) -> Upload {
    let mut upload = storage.write(&path(name), mode).await.unwrap();
    for piece in data.chunks(256 * 1024) {
        upload.write_all(piece).await.unwrap();
    }
    upload
}

/// Uploads `data` to `name` and commits it (STOR).
pub async fn store(storage: &Storage, name: &str, data: &[u8]) {
    upload(storage, name, WriteMode::Create, data, true).await;
}

/// Uploads `bytes` in `mode`, then commits or aborts; returns where the upload started.
pub async fn upload(
    storage: &Storage,
    name: &str,
    mode: WriteMode,
    bytes: &[u8],
    commit: bool,
) -> u64 {
    let upload = put(storage, name, mode, bytes).await;
    let start = upload.start_offset();
    if commit {
        upload.commit().await.unwrap();
    } else {
        upload.abort().await.unwrap();
    }
    start
}

/// The file's bytes from `offset` on.
pub async fn fetch(storage: &Storage, name: &str, offset: u64) -> Vec<u8> {
    let mut download = storage.read(&path(name), offset).await.unwrap();
    let mut out = Vec::new();
    download.read_to_end(&mut out).await.unwrap();
    out
}

/// A folder's entries, sorted by name.
pub async fn names(storage: &Storage, dir: &str) -> Vec<(String, EntryKind)> {
    let mut stream = storage.list(&path(dir)).await.unwrap();
    let mut out = Vec::new();
    while let Some(entry) = stream.next().await {
        let entry = entry.unwrap();
        out.push((String::from_utf8(entry.name).unwrap(), entry.kind));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// What is really in a folder on disk, hidden partials too, sorted.
pub fn disk_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Where a backend differs from a folder on purpose (README, "Storage on S3"). A contract test
/// asserts each backend's side of a difference; it never skips one.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    /// An aborted or dropped upload keeps its bytes, which REST+STOR and APPE resume (a folder);
    /// or nothing is kept and `partial_size` is always `None` (S3).
    pub keeps_partials: bool,
    /// `Download::local_file` and `Upload::local_file` hand out the file (a folder, for
    /// zero-copy), or `None` (S3).
    pub local_files: bool,
    /// What `set_modified` answers: `None` when it sets the time (a folder); S3 answers
    /// `Unsupported` (MFMT 554), an object's time being when it was written.
    pub set_modified_refused: Option<ErrorKind>,
    /// STOR into a folder that does not exist creates it (S3: a key makes its prefixes), or
    /// answers `NotFound` (a folder).
    pub stor_makes_folders: bool,
    /// Names that are not UTF-8 are refused with `BadName` (S3 keys are UTF-8).
    pub utf8_only: bool,
    /// A path whose first name starts, or whose last name ends, with whitespace is refused with
    /// `BadName` (S3: OpenDAL trims the ends of every key, `a ` would be `a`).
    pub whitespace_ends_refused: bool,
    /// An empty folder (MKD's zero-byte marker on S3) shows, and a folder emptied or moved away
    /// is gone. `false` for S3 on s3s-fs, which drops zero-byte markers and answers a HEAD of a
    /// folder it emptied with 500.
    pub empty_folders_show: bool,
}

/// A folder on disk.
pub const LOCAL: Facts = Facts {
    keeps_partials: true,
    local_files: true,
    set_modified_refused: None,
    stor_makes_folders: false,
    utf8_only: false,
    whitespace_ends_refused: false,
    empty_folders_show: true,
};

/// A bucket on an S3 server that keeps folder markers.
pub const S3: Facts = Facts {
    keeps_partials: false,
    local_files: false,
    set_modified_refused: Some(ErrorKind::Unsupported),
    stor_makes_folders: true,
    utf8_only: true,
    whitespace_ends_refused: true,
    empty_folders_show: true,
};

/// One backend, fresh for one test, with what it needs kept alive.
pub struct Backend {
    pub storage: Storage,
    pub facts: Facts,
    /// The folder behind a local backend, to check what is really on disk; `None` elsewhere.
    pub disk: Option<PathBuf>,
    _keep: Box<dyn Any>,
}

impl Deref for Backend {
    type Target = Storage;

    fn deref(&self) -> &Storage {
        &self.storage
    }
}

/// A temporary folder.
pub async fn local(_test: &str) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    Backend {
        storage: Storage::Local(LocalStorage::open(dir.path()).unwrap()),
        facts: LOCAL,
        disk: Some(dir.path().to_path_buf()),
        _keep: Box::new(dir),
    }
}

/// The test's own prefix of the bucket of one SeaweedFS shared by the test process.
#[cfg(feature = "s3")]
pub async fn seaweedfs(test: &str) -> Backend {
    let server = s3_servers::S3Server::shared_seaweedfs();
    Backend {
        storage: open_s3(server, &format!("contract/{test}")).await,
        facts: S3,
        disk: None,
        _keep: Box::new(()),
    }
}

/// A prefix of the bucket of an s3s-fs started for the test.
#[cfg(feature = "s3")]
pub async fn s3s_fs(test: &str) -> Backend {
    let server = s3_servers::S3Server::s3s_fs();
    Backend {
        storage: open_s3(&server, &format!("contract/{test}")).await,
        facts: Facts {
            empty_folders_show: false,
            ..S3
        },
        disk: None,
        _keep: Box::new(server),
    }
}

#[cfg(feature = "s3")]
pub fn s3_config(server: &s3_servers::S3Server, prefix: &str) -> ferry_storage::S3Config {
    ferry_storage::S3Config {
        bucket: s3_servers::BUCKET.into(),
        prefix: prefix.into(),
        endpoint: Some(server.endpoint.clone()),
        region: Some("us-east-1".into()),
        access_key_id: Some(s3_servers::ACCESS_KEY.into()),
        secret_access_key: Some(s3_servers::SECRET_KEY.into()),
        session_token: None,
    }
}

/// Opens the bucket below `prefix`, waiting (bounded) for a server that is still creating it.
#[cfg(feature = "s3")]
pub async fn open_s3(server: &s3_servers::S3Server, prefix: &str) -> Storage {
    use std::time::{Duration, Instant};
    let started = Instant::now();
    loop {
        let storage =
            Storage::S3(ferry_storage::S3Storage::open(&s3_config(server, prefix)).unwrap());
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
