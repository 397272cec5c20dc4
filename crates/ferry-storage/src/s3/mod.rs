//! The S3 backend: a bucket, or a prefix of one, on an S3-compatible object store, reached
//! through Apache OpenDAL's S3 service. We do not speak S3 ourselves.
//!
//! How the FTP view maps onto objects, and where it differs from a folder on disk:
//! - A file is an object whose key is the path below the configured prefix. SIZE, MDTM and the
//!   listing facts come from the object's metadata; `unique` is its ETag.
//! - Folders are key prefixes. MKD writes a zero-byte `NAME/` marker so that an empty folder
//!   shows; a folder holding objects exists without one. RMD removes the marker, and only when
//!   nothing else is below it. (Some servers, such as s3s-fs, drop zero-byte markers: there an
//!   empty folder vanishes.)
//! - RNFR/RNTO is a server-side copy, then a delete: not atomic. A folder is moved key by key;
//!   a failure half-way leaves some keys under each name. Objects over 5 GiB cannot be copied in
//!   one request on AWS, so renaming one fails there.
//! - RETR reads ranges, so REST n + RETR starts at byte n without reading what comes before.
//! - STOR streams into a multipart upload of 8 MiB parts, one part uploading while the next
//!   fills (`PART_SIZE`, `PARTS_IN_FLIGHT`), so memory stays bounded whatever the file size
//!   (small files go up in one PUT). The object appears only when the upload completes
//!   ([`Upload::commit`]); an aborted or dropped upload aborts the multipart upload, so nothing
//!   is kept to resume: [`S3Storage::partial_size`] is always `None`.
//! - APPE and REST n + STOR build a new object whose first bytes are the old object's (all of
//!   it, or its first n): whole parts are copied server-side (UploadPartCopy), the rest is
//!   streamed through us, then the client's bytes follow. The old object stays visible, whole,
//!   until the new one completes; a failed upload leaves it untouched. REST beyond the old
//!   object's size, or with no object, is [`ErrorKind::Unsupported`]; so is an old object over
//!   5 GiB (one copy call's limit). The copy takes one request per part, before the upload is
//!   handed back. OpenDAL's S3 "append" is never used: ordinary S3 servers ignore its
//!   write-offset header and replace the object.
//! - MFMT is [`ErrorKind::Unsupported`]: an object's time is when it was written.
//! - STOU picks a name nobody has at that moment; two nodes racing for the same name can both
//!   pick it (no conditional write is relied on, since not every server enforces one).
//! - STOR into a folder that does not exist creates it (a key makes its prefixes), where a
//!   local folder answers 550; MKD and RNTO still want the parent folder to exist.
//! - Names starting with [`crate::PARTIAL_PREFIX`] stay refused, as on a folder, and so are new
//!   names with control characters; names that are not UTF-8 are refused (S3 keys are UTF-8);
//!   so is a path whose first name starts, or whose last name ends, with whitespace (OpenDAL
//!   trims the ends of every key: `a ` would be `a`).
//!
//! This module holds the backend, its key mapping and its short operations (stat, list,
//! delete, folders, rename, times); `download.rs` reads ranges, `upload.rs` writes multipart
//! uploads. It does NOT speak S3 itself (OpenDAL does) and keeps nothing on disk.

mod download;
mod upload;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use opendal::options::ListOptions;
use opendal::{HttpTransporter, Metadata, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;
use tokio::sync::mpsc;

use crate::busy::{BusySet, is_busy};
use crate::names::{check_name, check_new_name, is_reserved};
use crate::{Entry, EntryKind, ErrorKind, ListStream, Result, S3Config, StorageError, VirtualPath};

pub(crate) use download::S3Download;
pub(crate) use upload::S3Upload;

/// Size of a multipart upload's parts (S3 wants at least 5 MiB but for the last, and at most
/// 10,000 parts).
pub(crate) const PART_SIZE: usize = 8 << 20;
/// Parts uploaded at once. One upload holds about `(PARTS_IN_FLIGHT + 1) * PART_SIZE` bytes:
/// measured through ferryd, +17 MiB with 1 and 8 MiB parts, +55 MiB with 2 (more buffers
/// alive across threads). With S3's limit of 10,000 parts the largest upload is about 78 GiB.
pub(crate) const PARTS_IN_FLIGHT: usize = 1;
/// Size of the ranges a download fetches.
const READ_CHUNK: usize = 4 << 20;
/// Ranges a download fetches ahead of the client.
const READS_IN_FLIGHT: usize = 2;
/// How long connecting to the S3 endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the S3 endpoint may stay silent during a request.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// How many entries a listing reads ahead of the client.
const LIST_AHEAD: usize = 64;

/// A bucket (or a prefix of one) on an S3-compatible store. See the module documentation for
/// how it differs from a folder.
#[derive(Debug, Clone)]
pub struct S3Storage {
    operator: Operator,
    /// Targets with an upload running on this node, so that two of ours never race. Keyed on
    /// the path: a key has no aliases on S3 (no symlinks).
    busy: BusySet<VirtualPath>,
}

/// The one mapping from OpenDAL's errors to ours.
fn kind_of(error: &opendal::Error) -> ErrorKind {
    use opendal::ErrorKind as K;
    match error.kind() {
        K::NotFound => ErrorKind::NotFound,
        K::PermissionDenied => ErrorKind::PermissionDenied,
        K::AlreadyExists => ErrorKind::AlreadyExists,
        K::IsADirectory | K::NotADirectory => ErrorKind::WrongKind,
        K::Unsupported | K::RangeNotSatisfied => ErrorKind::Unsupported,
        K::ConfigInvalid => ErrorKind::PermissionDenied,
        _ => ErrorKind::Other,
    }
}

fn storage_error(error: opendal::Error) -> StorageError {
    StorageError::new(kind_of(&error), error.to_string())
}

/// The io form of an OpenDAL error, whose kind converts back to the same [`ErrorKind`].
fn io_error(error: opendal::Error) -> io::Error {
    let kind = match kind_of(&error) {
        ErrorKind::NotFound => io::ErrorKind::NotFound,
        ErrorKind::PermissionDenied => io::ErrorKind::PermissionDenied,
        ErrorKind::AlreadyExists => io::ErrorKind::AlreadyExists,
        ErrorKind::WrongKind => io::ErrorKind::IsADirectory,
        ErrorKind::Unsupported => io::ErrorKind::Unsupported,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, error)
}

/// The object key of a file (no leading slash; `""` for the root). A key that starts or ends
/// with whitespace is refused: OpenDAL trims it off every path it is given (0.59's
/// `normalize_path`), so `a ` would read, write and delete the object `a`.
fn key(path: &VirtualPath) -> Result<String> {
    let key = String::from_utf8(path.relative_bytes())
        .map(|key| key.trim_start_matches('/').to_string())
        .map_err(|_| StorageError::new(ErrorKind::BadName, "S3 keys must be UTF-8"))?;
    if key.trim() != key {
        return Err(StorageError::new(
            ErrorKind::BadName,
            "on S3 a path may not start or end with whitespace (OpenDAL trims it off the key)",
        ));
    }
    Ok(key)
}

/// The prefix of a folder's keys (`"/"`, OpenDAL's root, for the root).
fn dir_key(path: &VirtualPath) -> Result<String> {
    let key = key(path)?;
    Ok(if key.is_empty() {
        "/".into()
    } else {
        key + "/"
    })
}

fn dir_entry(name: Vec<u8>) -> Entry {
    Entry {
        name,
        kind: EntryKind::Dir,
        size: 0,
        modified: None,
        mode: None,
        unique: None,
    }
}

fn file_entry(name: Vec<u8>, meta: &Metadata) -> Entry {
    Entry {
        name,
        kind: EntryKind::File,
        size: meta.content_length(),
        modified: meta.last_modified().map(|t| t.into_inner().as_second()),
        mode: None,
        unique: meta.etag().map(|etag| etag.trim_matches('"').to_string()),
    }
}

/// The HTTP client: rustls with ring, and timeouts so that a silent server fails a request
/// rather than hanging a session.
fn http_client() -> Result<reqwest::Client> {
    // The process-wide provider reqwest needs; ignore "already installed".
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|e| StorageError::new(ErrorKind::Other, format!("HTTP client: {e}")))
}

fn name_of(path: &VirtualPath) -> Vec<u8> {
    path.file_name().unwrap_or(b"/").to_vec()
}

fn not_found() -> StorageError {
    StorageError::new(ErrorKind::NotFound, "no such file or folder")
}

impl S3Storage {
    /// Sets up the client for the bucket (no request yet: see [`S3Storage::check`]).
    pub fn open(config: &S3Config) -> Result<S3Storage> {
        let mut builder = opendal::services::S3::default()
            .bucket(&config.bucket)
            .root(&format!("/{}", config.prefix))
            .region(config.region.as_deref().unwrap_or("us-east-1"));
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint(endpoint);
        }
        if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            // Explicit keys: use them and nothing else (no ~/.aws, no EC2 metadata calls).
            builder = builder
                .access_key_id(id)
                .secret_access_key(secret)
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(token) = &config.session_token {
                builder = builder.session_token(token);
            }
        }
        let operator = Operator::new(builder).map_err(storage_error)?;
        let context = operator
            .context()
            .with_http_transport(HttpTransporter::new(ReqwestTransport::new(http_client()?)));
        let operator = operator.with_context(context);
        Ok(S3Storage {
            operator,
            busy: Arc::default(),
        })
    }

    /// Asks the bucket for a listing, to fail at start rather than at the first client.
    pub async fn check(&self) -> Result<()> {
        self.operator.check().await.map_err(storage_error)
    }

    /// The metadata of the file at `path` (whose key is `key`), `None` if nothing is there, and
    /// [`ErrorKind::WrongKind`] for a folder (its marker, or any key below it). An error of the
    /// first look stands unless the path turns out to be a folder (s3s-fs answers a HEAD of a
    /// folder with 500): never "nothing there" for a file that failed to answer.
    async fn file_metadata(&self, path: &VirtualPath, key: &str) -> Result<Option<Metadata>> {
        let file_error = match self.operator.stat(key).await {
            Ok(meta) if meta.is_file() => return Ok(Some(meta)),
            Ok(_) => return Err(StorageError::new(ErrorKind::WrongKind, "a folder")),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => None,
            Err(e) => Some(e),
        };
        match self.operator.stat(&dir_key(path)?).await {
            Ok(_) => Err(StorageError::new(ErrorKind::WrongKind, "a folder")),
            Err(e) => match file_error {
                Some(file_error) => Err(storage_error(file_error)),
                None if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
                None => Err(storage_error(e)),
            },
        }
    }

    /// Facts about a key that may be a file, a folder or nothing.
    async fn lookup(&self, path: &VirtualPath) -> Result<Option<Entry>> {
        if path.is_root() {
            return Ok(Some(dir_entry(b"/".to_vec())));
        }
        match self.file_metadata(path, &key(path)?).await {
            Ok(meta) => Ok(meta.map(|meta| file_entry(name_of(path), &meta))),
            Err(e) if e.kind() == ErrorKind::WrongKind => Ok(Some(dir_entry(name_of(path)))),
            Err(e) => Err(e),
        }
    }

    /// Fails unless `path` is an existing folder.
    async fn require_dir(&self, path: &VirtualPath) -> Result<()> {
        match self.lookup(path).await? {
            Some(entry) if entry.kind == EntryKind::Dir => Ok(()),
            Some(_) => Err(StorageError::new(ErrorKind::WrongKind, "not a folder")),
            None => Err(not_found()),
        }
    }

    pub(crate) async fn stat(&self, path: &VirtualPath) -> Result<Entry> {
        check_name(path)?;
        self.lookup(path).await?.ok_or_else(not_found)
    }

    pub(crate) async fn list(&self, path: &VirtualPath) -> Result<ListStream> {
        check_name(path)?;
        let prefix = dir_key(path)?;
        let mut lister = self.operator.lister(&prefix).await.map_err(storage_error)?;
        let (sender, receiver) = mpsc::channel(LIST_AHEAD);
        tokio::spawn(async move {
            while let Some(item) = lister.next().await {
                let entry = match item {
                    Ok(entry) => entry,
                    Err(e) => {
                        let _ = sender.send(Err(storage_error(e))).await;
                        return;
                    }
                };
                let (key, meta) = entry.into_parts();
                let Some(name) = key.strip_prefix(prefix.trim_start_matches('/')) else {
                    continue;
                };
                let name = name.trim_end_matches('/');
                // The folder's own marker, and reserved names, are not entries.
                if name.is_empty() || name.contains('/') || is_reserved(name.as_bytes()) {
                    continue;
                }
                let item = if meta.is_dir() {
                    dir_entry(name.as_bytes().to_vec())
                } else {
                    file_entry(name.as_bytes().to_vec(), &meta)
                };
                if sender.send(Ok(item)).await.is_err() {
                    return; // The reader went away.
                }
            }
        });
        Ok(ListStream { receiver })
    }

    pub(crate) async fn partial_size(&self, path: &VirtualPath) -> Result<Option<u64>> {
        check_name(path)?;
        Ok(None)
    }

    /// Whether an upload to `path` runs on this node.
    pub(crate) fn uploading(&self, path: &VirtualPath) -> Result<bool> {
        check_name(path)?;
        Ok(is_busy(&self.busy, path))
    }

    pub(crate) async fn remove_file(&self, path: &VirtualPath) -> Result<()> {
        check_name(path)?;
        // As on a folder: a name with an upload running (on this node) is left alone.
        if is_busy(&self.busy, path) {
            return Err(StorageError::new(
                ErrorKind::Busy,
                "an upload to this file is running",
            ));
        }
        match self.lookup(path).await? {
            Some(entry) if entry.kind == EntryKind::File => self
                .operator
                .delete(&key(path)?)
                .await
                .map_err(storage_error),
            Some(_) => Err(StorageError::new(ErrorKind::WrongKind, "a folder")),
            None => Err(not_found()),
        }
    }

    pub(crate) async fn create_dir(&self, path: &VirtualPath) -> Result<()> {
        check_new_name(path)?;
        if self.lookup(path).await?.is_some() {
            return Err(StorageError::new(ErrorKind::AlreadyExists, "exists"));
        }
        self.require_dir(&path.parent()).await?;
        self.operator
            .create_dir(&dir_key(path)?)
            .await
            .map_err(storage_error)
    }

    /// Whether anything but the folder's own marker lies below `prefix`.
    async fn has_children(&self, prefix: &str) -> Result<bool> {
        let options = ListOptions {
            limit: Some(2),
            ..ListOptions::default()
        };
        let mut lister = self
            .operator
            .lister_options(prefix, options)
            .await
            .map_err(storage_error)?;
        while let Some(entry) = lister.next().await {
            let entry = entry.map_err(storage_error)?;
            if entry.path().trim_start_matches('/') != prefix.trim_start_matches('/') {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub(crate) async fn remove_dir(&self, path: &VirtualPath) -> Result<()> {
        check_name(path)?;
        self.require_dir(path).await?;
        let prefix = dir_key(path)?;
        if self.has_children(&prefix).await? {
            return Err(StorageError::new(ErrorKind::NotEmpty, "folder not empty"));
        }
        self.operator.delete(&prefix).await.map_err(storage_error)
    }

    pub(crate) async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<()> {
        check_name(from)?;
        check_new_name(to)?;
        let source = self.lookup(from).await?.ok_or_else(not_found)?;
        if from == to {
            return Ok(());
        }
        self.require_dir(&to.parent()).await?;
        let existing = self.lookup(to).await?;
        if source.kind == EntryKind::File {
            if existing.is_some_and(|e| e.kind == EntryKind::Dir) {
                return Err(StorageError::new(
                    ErrorKind::WrongKind,
                    "target is a folder",
                ));
            }
            let (from, to) = (key(from)?, key(to)?);
            self.operator
                .copy(&from, &to)
                .await
                .map_err(storage_error)?;
            return self.operator.delete(&from).await.map_err(storage_error);
        }
        if existing.is_some() {
            return Err(StorageError::new(ErrorKind::AlreadyExists, "target exists"));
        }
        // A folder: move the keys below it one by one (copy, then delete that key), so that a
        // file uploaded into it meanwhile is never deleted without having been copied.
        let (from, to) = (dir_key(from)?, dir_key(to)?);
        let options = ListOptions {
            recursive: true,
            ..ListOptions::default()
        };
        let mut lister = self
            .operator
            .lister_options(&from, options)
            .await
            .map_err(storage_error)?;
        while let Some(entry) = lister.next().await {
            let entry = entry.map_err(storage_error)?;
            let Some(rest) = entry.path().strip_prefix(from.as_str()) else {
                continue;
            };
            let target = format!("{to}{rest}");
            if entry.path().ends_with('/') {
                self.operator.create_dir(&target).await
            } else {
                self.operator.copy(entry.path(), &target).await.map(drop)
            }
            .map_err(storage_error)?;
            self.operator
                .delete(entry.path())
                .await
                .map_err(storage_error)?;
        }
        // The folder's own marker, which a recursive listing may not name: without this,
        // SeaweedFS keeps listing the emptied folder that a lookup no longer finds.
        self.operator.delete(&from).await.map_err(storage_error)
    }

    pub(crate) async fn set_modified(&self, path: &VirtualPath, _secs: i64) -> Result<()> {
        check_name(path)?;
        Err(StorageError::new(
            ErrorKind::Unsupported,
            "S3 objects keep the time they were written",
        ))
    }
}
