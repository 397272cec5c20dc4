//! WebDAV class 2 (RFC 4918) on the HTTP front end's URL space: `PROPFIND`, `PROPPATCH`,
//! `MOVE`, `COPY`, `LOCK`, `UNLOCK`, `MKCOL` and `DELETE` are answered by the `dav-server`
//! crate, over [`ServiceFs`]: its file-system trait implemented on the user's
//! [`FileService`], so the jail, the rights, the quotas, the rates and the events stay ours.
//! `GET`, `HEAD` and `PUT` stay with [`super::files`] (ranges, validators, sendfile, atomic
//! uploads, the transfer log), except a `PUT` that names a lock (`If`) or meets one: that one
//! goes to `dav-server` too, which checks the lock, and its bytes still become the file only
//! once they all arrived.
//!
//! What is ours before `dav-server` sees a request: `PROPFIND` with `Depth: infinity` is
//! refused (403 with the `DAV:propfind-finite-depth` precondition), and a `Destination` must
//! name this server (else 502) and a path that [`super::path::decode`] accepts (a dot segment
//! 403, another bad name 400).
//!
//! State kept in memory, per server ([`DavState`]): the lock table ([`Locks`]: `dav-server`'s
//! `MemLs` with expiry and a bound, one per account, as lock paths are in the account's view) and the dead properties
//! ([`DeadProps`], keyed by storage path, so that every account sharing a folder sees the same
//! ones); both are lost at restart, and neither is shared between nodes
//! (docs/design-decisions.md says why).
//!
//! This module does NOT choose statuses for the file service's errors: [`super::errors`]
//! turns them into `dav-server`'s [`FsError`] ([`super::errors::dav_error`]).

use std::collections::HashMap;
use std::io::SeekFrom;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::Response;
use bytes::{Buf, Bytes};
use dav_server::DavHandler;
use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, DavProp, FsError, FsFuture, FsStream,
    OpenOptions, ReadDirMeta,
};
use dav_server::ls::DavLockSystem;
use ferry_proto::PathError;
use ferry_proto::VirtualPath;
use ferry_proto::listing::{Entry, EntryKind};
use ferry_storage::{ErrorKind, StorageError, WriteMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::dav_locks::Locks;
use super::errors::{Fault, dav_error, plain};
use super::files::PendingUpload;
use super::path::{self, BadPath};
use crate::service::{Direction, FileError, FileService, Meter, Transferred};

/// Entries (files and folders) that may carry dead properties, over all accounts; a
/// `PROPPATCH` that would add one more is answered 507 for each property.
const MAX_PROPERTY_ENTRIES: usize = 100_000;
/// Dead properties of one entry.
const MAX_PROPERTIES_PER_ENTRY: usize = 256;
/// Bytes read from the source at a time by `COPY`.
const COPY_CHUNK: usize = 256 * 1024;

/// The WebDAV state of one server: locks and dead properties, in memory.
#[derive(Debug, Default)]
pub(crate) struct DavState {
    /// One lock table per account.
    locks: Mutex<HashMap<String, Locks>>,
    props: Arc<DeadProps>,
}

impl DavState {
    /// The lock table of `user`.
    fn locks(&self, user: &str) -> Box<dyn DavLockSystem> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Box::new(
            locks
                .entry(user.to_string())
                .or_insert_with(Locks::new)
                .clone(),
        )
    }
}

/// True when `dav-server` answers this request rather than [`super::files`]: the WebDAV
/// methods, and a `PUT` that names a lock or meets one.
pub(crate) async fn takes(state: &DavState, files: &FileService, parts: &Parts) -> bool {
    match parts.method.as_str() {
        "PROPFIND" | "PROPPATCH" | "MOVE" | "COPY" | "LOCK" | "UNLOCK" | "MKCOL" | "DELETE" => true,
        "PUT" => {
            if parts.headers.contains_key("if") {
                return true;
            }
            let Ok(path) = DavPath::from_uri(&parts.uri) else {
                return false;
            };
            let locks = state.locks(files.name());
            locks.check(&path, None, true, false, &[]).await.is_err()
        }
        _ => false,
    }
}

/// Answers a request that [`takes`] said is WebDAV's.
pub(crate) async fn serve(
    state: &DavState,
    files: &Arc<FileService>,
    parts: Parts,
    body: Body,
) -> Response {
    if parts.method.as_str() == "PROPFIND" && infinite_depth(&parts) {
        return finite_depth_only();
    }
    if (parts.method.as_str() == "MOVE" || parts.method.as_str() == "COPY")
        && let Err(response) = check_destination(&parts)
    {
        return *response;
    }
    let filesystem = ServiceFs {
        files: Arc::clone(files),
        props: Arc::clone(&state.props),
    };
    let handler = DavHandler::builder()
        .filesystem(Box::new(filesystem))
        .locksystem(state.locks(files.name()))
        .principal(files.name())
        .build_handler();
    let request = axum::http::Request::from_parts(parts, body);
    let seen = Arc::new(Mutex::new(None));
    let response = SEEN
        .scope(Arc::clone(&seen), handler.handle(request))
        .await
        .map(Body::new);
    // `FsError` has no 400 and no 503: a refused name or a busy file that dav-server answered
    // 403 or 500 gets the status every other method gives it (the one error table).
    let seen = seen.lock().ok().and_then(|mut seen| seen.take());
    match seen {
        Some(kind @ ErrorKind::BadName) if response.status() == StatusCode::FORBIDDEN => {
            Fault::File(&FileError::Storage(StorageError::new(kind, "name refused"))).response()
        }
        Some(kind @ ErrorKind::Busy) if response.status() == StatusCode::INTERNAL_SERVER_ERROR => {
            Fault::File(&FileError::Storage(StorageError::new(kind, "busy"))).response()
        }
        _ => response,
    }
}

tokio::task_local! {
    /// The first refused-name or busy error of the WebDAV request running in this task.
    static SEEN: Arc<Mutex<Option<ErrorKind>>>;
}

/// [`dav_error`], noting a refused name or a busy file for [`serve`] to answer as the other
/// methods do.
fn fs_error(error: &FileError) -> FsError {
    let kind = match error {
        FileError::Path(PathError::TooLong) => None,
        FileError::Path(_) => Some(ErrorKind::BadName),
        FileError::Storage(storage) => match storage.kind() {
            kind @ (ErrorKind::BadName | ErrorKind::Busy) => Some(kind),
            _ => None,
        },
        _ => None,
    };
    if let Some(kind) = kind {
        let _ = SEEN.try_with(|seen| {
            if let Ok(mut seen) = seen.lock() {
                seen.get_or_insert(kind);
            }
        });
    }
    dav_error(error)
}

/// Whether a `PROPFIND` asks for a whole tree.
fn infinite_depth(parts: &Parts) -> bool {
    parts
        .headers
        .get("depth")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("infinity"))
}

/// 403 with the `DAV:propfind-finite-depth` precondition (RFC 4918 sections 9.1 and 16).
fn finite_depth_only() -> Response {
    let mut response = Response::new(Body::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <D:error xmlns:D=\"DAV:\"><D:propfind-finite-depth/></D:error>\n",
    ));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    response
}

/// A `Destination` (RFC 4918 section 10.3) must be on this server (another host: 502, as
/// section 9.9.4 says) and a path we accept (dot segments 403, other bad names 400).
fn check_destination(parts: &Parts) -> Result<(), Box<Response>> {
    let Some(value) = parts.headers.get("destination") else {
        return Ok(()); // dav-server answers 400.
    };
    let refused = |status, text: &str| Box::new(plain(status, text.into()));
    let uri: Uri = value
        .to_str()
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| refused(StatusCode::BAD_REQUEST, "bad Destination"))?;
    if let Some(authority) = uri.authority() {
        let ours = parts
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| {
                parts
                    .headers
                    .get(HOST)
                    .and_then(|host| host.to_str().ok())
                    .map(str::to_string)
            });
        if ours.is_none_or(|ours| !ours.eq_ignore_ascii_case(authority.as_str())) {
            return Err(refused(
                StatusCode::BAD_GATEWAY,
                "the Destination is on another server",
            ));
        }
    }
    match path::decode(uri.path()) {
        Ok(_) => Ok(()),
        Err(BadPath::DotSegment) => Err(refused(
            StatusCode::FORBIDDEN,
            "the Destination leaves the folder",
        )),
        Err(bad) => Err(Box::new(Fault::Path(bad).response())),
    }
}

/// A `dav-server` path as a path in the user's view; `None` when a name is not one we accept.
fn view_of(path: &DavPath) -> Result<VirtualPath, FsError> {
    let mut view = VirtualPath::root();
    for name in path.as_bytes().split(|&b| b == b'/') {
        if name.is_empty() {
            continue;
        }
        if name == b"." || name == b".." || name.contains(&b'\\') {
            return Err(FsError::Forbidden);
        }
        view = view.join(name).map_err(|_| FsError::Forbidden)?;
    }
    Ok(view)
}

/// `dav-server`'s file system over one user's [`FileService`].
#[derive(Debug, Clone)]
struct ServiceFs {
    files: Arc<FileService>,
    props: Arc<DeadProps>,
}

impl ServiceFs {
    async fn entry(&self, view: &VirtualPath) -> Result<Entry, FsError> {
        self.files.stat(view).await.map_err(|e| fs_error(&e))
    }

    fn key(&self, view: &VirtualPath) -> Result<Vec<u8>, FsError> {
        self.files.storage_key(view).map_err(|e| fs_error(&e))
    }

    /// Copies the file `from` to `to` through the service: `download` at the source, `upload`
    /// (or `overwrite`) at the target, the quota and the rates; the target appears whole or
    /// not at all.
    async fn copy_file(&self, from: &VirtualPath, to: &VirtualPath) -> Result<u64, FileError> {
        let (mut source, read_meter) = self.files.read(from, 0).await?;
        let (upload, mut meter) = self.files.write(to, WriteMode::Create).await?;
        let mut pending = PendingUpload(Some(upload));
        let mut buffer = Vec::with_capacity(COPY_CHUNK);
        let mut copied = 0u64;
        loop {
            buffer.clear();
            let read = (&mut source)
                .take(COPY_CHUNK as u64)
                .read_to_end(&mut buffer)
                .await
                .map_err(|e| FileError::Storage(e.into()))?;
            if read == 0 {
                break;
            }
            read_meter.pace(read).await;
            if meter.grant(read) < read {
                pending.discard().await;
                return Err(FileError::Quota(format!("{} bytes", meter.byte_limit())));
            }
            let upload = pending.0.as_mut().ok_or(FileError::Quota(String::new()))?;
            upload
                .write_all(&buffer)
                .await
                .map_err(|e| FileError::Storage(e.into()))?;
            meter.pace(read).await;
            copied += read as u64;
        }
        if let Some(upload) = pending.0.take() {
            upload.commit().await?;
        }
        meter.commit();
        Ok(copied)
    }
}

impl DavFileSystem for ServiceFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        Box::pin(async move {
            // GET and HEAD are served by files.rs: a file is opened here only to be written.
            if !options.write || options.append {
                return Err(FsError::NotImplemented);
            }
            let view = view_of(path)?;
            let existing = match self.files.stat(&view).await {
                Ok(entry) if entry.kind == EntryKind::Dir => return Err(FsError::Forbidden),
                Ok(entry) => Some(entry),
                Err(FileError::Storage(e)) if e.kind() == ferry_storage::ErrorKind::NotFound => {
                    None
                }
                Err(error) => return Err(fs_error(&error)),
            };
            if existing.is_some() && options.create_new {
                return Err(FsError::Exists);
            }
            if existing.is_none() && !options.create {
                return Err(FsError::NotFound);
            }
            if !options.truncate {
                // LOCK of an unmapped URL (RFC 4918 section 7.3): an empty file, at once.
                if existing.is_none() {
                    let (upload, meter) = self
                        .files
                        .write(&view, WriteMode::Create)
                        .await
                        .map_err(|e| fs_error(&e))?;
                    upload
                        .commit()
                        .await
                        .map_err(|e| fs_error(&FileError::Storage(e)))?;
                    meter.commit();
                }
                return Ok(
                    Box::new(Written::done(Arc::clone(&self.files), view)) as Box<dyn DavFile>
                );
            }
            let (upload, meter) = self
                .files
                .write(&view, WriteMode::Create)
                .await
                .map_err(|e| fs_error(&e))?;
            Ok(Box::new(Written {
                files: Arc::clone(&self.files),
                view,
                expected: options.size,
                state: tokio::sync::Mutex::new(Writing {
                    upload: PendingUpload(Some(upload)),
                    meter: Some(meter),
                }),
                written: 0,
                started: Instant::now(),
            }) as Box<dyn DavFile>)
        })
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        _meta: ReadDirMeta,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        Box::pin(async move {
            let view = view_of(path)?;
            let listing = self.files.list(&view).await.map_err(|e| fs_error(&e))?;
            let stream = futures_util::stream::unfold(listing, |mut listing| async move {
                let next = listing.next().await?;
                let item = match next {
                    Ok(entry) => Ok(Box::new(DirEntry(entry)) as Box<dyn DavDirEntry>),
                    Err(error) => {
                        tracing::warn!(%error, protocol = "http", "listing failed");
                        Err(FsError::GeneralFailure)
                    }
                };
                Some((item, listing))
            });
            Ok(Box::pin(stream) as FsStream<Box<dyn DavDirEntry>>)
        })
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        Box::pin(async move {
            let view = view_of(path)?;
            let entry = self.entry(&view).await?;
            Ok(Box::new(Meta::of(&entry)) as Box<dyn DavMetaData>)
        })
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        Box::pin(async move {
            let view = view_of(path)?;
            self.files.create_dir(&view).await.map_err(|e| fs_error(&e))
        })
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        Box::pin(async move {
            let view = view_of(path)?;
            self.files
                .remove_dir(&view)
                .await
                .map_err(|e| fs_error(&e))?;
            if let Ok(key) = self.key(&view) {
                self.props.remove(&key);
            }
            Ok(())
        })
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        Box::pin(async move {
            let view = view_of(path)?;
            self.files
                .remove_file(&view)
                .await
                .map_err(|e| fs_error(&e))?;
            if let Ok(key) = self.key(&view) {
                self.props.remove(&key);
            }
            Ok(())
        })
    }

    fn rename<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        Box::pin(async move {
            let (from, to) = (view_of(from)?, view_of(to)?);
            self.files
                .rename(&from, &to)
                .await
                .map_err(|e| fs_error(&e))?;
            if let (Ok(from), Ok(to)) = (self.key(&from), self.key(&to)) {
                self.props.rename(&from, &to);
            }
            Ok(())
        })
    }

    fn copy<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        Box::pin(async move {
            let (from, to) = (view_of(from)?, view_of(to)?);
            let started = Instant::now();
            let result = self.copy_file(&from, &to).await;
            let target = to.to_string();
            let (bytes, failure) = match &result {
                Ok(bytes) => (*bytes, None),
                Err(_) => (0, Some("copy failed")),
            };
            self.files.transferred(&Transferred {
                direction: Direction::Up,
                path: &target,
                bytes,
                seconds: started.elapsed().as_secs_f64(),
                failure,
            });
            result.map_err(|e| fs_error(&e))?;
            if let (Ok(from), Ok(to)) = (self.key(&from), self.key(&to)) {
                self.props.copy(&from, &to);
            }
            Ok(())
        })
    }

    fn have_props<'a>(
        &'a self,
        _path: &'a DavPath,
    ) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(std::future::ready(true))
    }

    fn patch_props<'a>(
        &'a self,
        path: &'a DavPath,
        patch: Vec<(bool, DavProp)>,
    ) -> FsFuture<'a, Vec<(StatusCode, DavProp)>> {
        Box::pin(async move {
            let view = view_of(path)?;
            self.entry(&view).await?;
            self.files.may_annotate(&view).map_err(|e| fs_error(&e))?;
            let key = self.key(&view)?;
            Ok(self.props.patch(key, patch))
        })
    }

    fn get_props<'a>(&'a self, path: &'a DavPath, do_content: bool) -> FsFuture<'a, Vec<DavProp>> {
        Box::pin(async move {
            let view = view_of(path)?;
            let key = self.key(&view)?;
            Ok(self.props.all(&key, do_content))
        })
    }

    fn get_prop<'a>(&'a self, path: &'a DavPath, prop: DavProp) -> FsFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let view = view_of(path)?;
            let key = self.key(&view)?;
            self.props.one(&key, &prop).ok_or(FsError::NotFound)
        })
    }
}

/// The upload's parts that are not `Sync` on their own.
#[derive(Debug)]
struct Writing {
    upload: PendingUpload,
    meter: Option<Meter>,
}

/// A file being written by `dav-server`'s `PUT`: an atomic upload through the service,
/// committed by `flush` when every announced byte arrived.
#[derive(Debug)]
struct Written {
    files: Arc<FileService>,
    view: VirtualPath,
    /// The `Content-Length`, when the client gave one.
    expected: Option<u64>,
    state: tokio::sync::Mutex<Writing>,
    written: u64,
    started: Instant,
}

impl Written {
    /// A file that is there already and takes no bytes (`LOCK` of an unmapped URL).
    fn done(files: Arc<FileService>, view: VirtualPath) -> Written {
        Written {
            files,
            view,
            expected: None,
            state: tokio::sync::Mutex::new(Writing {
                upload: PendingUpload(None),
                meter: None,
            }),
            written: 0,
            started: Instant::now(),
        }
    }

    fn report(&self, failure: Option<&str>) {
        report(&self.files, &self.view, self.written, self.started, failure);
    }

    async fn write(&mut self, data: Bytes) -> Result<(), FsError> {
        let state = self.state.get_mut();
        let (Some(upload), Some(meter)) = (state.upload.0.as_mut(), state.meter.as_mut()) else {
            return Err(FsError::GeneralFailure);
        };
        let failure = if meter.grant(data.len()) < data.len() {
            let limit = meter.byte_limit();
            Some(("quota exceeded", FileError::Quota(format!("{limit} bytes"))))
        } else if let Err(error) = upload.write_all(&data).await {
            Some(("storage write failed", FileError::Storage(error.into())))
        } else {
            meter.pace(data.len()).await;
            None
        };
        if let Some((why, error)) = failure {
            state.upload.discard().await;
            report(
                &self.files,
                &self.view,
                self.written,
                self.started,
                Some(why),
            );
            return Err(fs_error(&error));
        }
        self.written += data.len() as u64;
        Ok(())
    }
}

impl Drop for Written {
    /// A write that never reached `flush` (the body broke off): the upload is discarded (by
    /// [`PendingUpload`]) and its end reported.
    fn drop(&mut self) {
        if self.state.get_mut().upload.0.is_some() {
            self.report(Some("the body broke off"));
        }
    }
}

/// Tells the transfer log, events and metrics of an upload's end.
fn report(
    files: &FileService,
    view: &VirtualPath,
    bytes: u64,
    started: Instant,
    failure: Option<&str>,
) {
    let path = view.to_string();
    files.transferred(&Transferred {
        direction: Direction::Up,
        path: &path,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        failure,
    });
}

impl DavFile for Written {
    fn metadata(&'_ mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        Box::pin(async move {
            let entry = self
                .files
                .stat(&self.view)
                .await
                .map_err(|e| fs_error(&e))?;
            Ok(Box::new(Meta::of(&entry)) as Box<dyn DavMetaData>)
        })
    }

    fn write_buf(&'_ mut self, mut buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        let data = buf.copy_to_bytes(buf.remaining());
        Box::pin(self.write(data))
    }

    fn write_bytes(&'_ mut self, buf: Bytes) -> FsFuture<'_, ()> {
        Box::pin(self.write(buf))
    }

    fn read_bytes(&'_ mut self, _count: usize) -> FsFuture<'_, Bytes> {
        Box::pin(std::future::ready(Err(FsError::NotImplemented)))
    }

    fn seek(&'_ mut self, position: SeekFrom) -> FsFuture<'_, u64> {
        // A PUT with Content-Range (a partial write) is not taken: uploads replace files.
        let at_start = self.written == 0 && matches!(position, SeekFrom::Start(0));
        Box::pin(std::future::ready(if at_start {
            Ok(0)
        } else {
            Err(FsError::NotImplemented)
        }))
    }

    fn flush(&'_ mut self) -> FsFuture<'_, ()> {
        Box::pin(async move {
            let state = self.state.get_mut();
            let Some(upload) = state.upload.0.take() else {
                return Ok(());
            };
            let meter = state.meter.take();
            if self
                .expected
                .is_some_and(|expected| expected != self.written)
            {
                let _ = upload.discard().await;
                self.report(Some("the body did not arrive whole"));
                return Err(FsError::GeneralFailure);
            }
            if let Err(error) = upload.commit().await {
                self.report(Some("commit failed"));
                return Err(fs_error(&FileError::Storage(error)));
            }
            if let Some(meter) = meter {
                meter.commit();
            }
            self.report(None);
            Ok(())
        })
    }
}

/// An entry of a folder being listed.
#[derive(Debug)]
struct DirEntry(Entry);

impl DavDirEntry for DirEntry {
    fn name(&self) -> Vec<u8> {
        self.0.name.clone()
    }

    fn metadata(&'_ self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta = Meta::of(&self.0);
        Box::pin(std::future::ready(Ok(
            Box::new(meta) as Box<dyn DavMetaData>
        )))
    }
}

/// What `PROPFIND` reports of an entry.
#[derive(Debug, Clone)]
struct Meta {
    dir: bool,
    size: u64,
    modified: Option<i64>,
}

impl Meta {
    fn of(entry: &Entry) -> Meta {
        Meta {
            dir: entry.kind == EntryKind::Dir,
            size: if entry.kind == EntryKind::Dir {
                0
            } else {
                entry.size
            },
            modified: entry.modified,
        }
    }
}

impl DavMetaData for Meta {
    fn len(&self) -> u64 {
        self.size
    }

    fn modified(&self) -> Result<SystemTime, FsError> {
        // S3 prefixes have no time: the epoch, rather than an error that drops the property.
        let secs = self.modified.unwrap_or(0);
        let since = Duration::from_secs(secs.unsigned_abs());
        Ok(if secs >= 0 {
            UNIX_EPOCH + since
        } else {
            UNIX_EPOCH.checked_sub(since).unwrap_or(UNIX_EPOCH)
        })
    }

    fn is_dir(&self) -> bool {
        self.dir
    }

    /// The same entity tag as `GET` sends, without its quotes.
    fn etag(&self) -> Option<String> {
        let validators = super::conditional::Validators::new(self.size, self.modified);
        Some(validators.etag.trim_matches('"').to_string())
    }
}

/// Dead properties (RFC 4918 section 4.2), per entry: kept in memory for the server's life,
/// keyed by storage path; they follow `MOVE` and `COPY` made over WebDAV and go with
/// `DELETE`. A change made over FTP or SFTP does not carry them along.
#[derive(Debug, Default)]
struct DeadProps {
    entries: Mutex<HashMap<Vec<u8>, Vec<DavProp>>>,
}

/// Whether two properties have the same name (namespace and local name).
fn same(a: &DavProp, b: &DavProp) -> bool {
    a.name == b.name && a.namespace == b.namespace
}

/// A property's name without its value.
fn name_only(prop: &DavProp) -> DavProp {
    DavProp {
        name: prop.name.clone(),
        prefix: prop.prefix.clone(),
        namespace: prop.namespace.clone(),
        xml: None,
    }
}

impl DeadProps {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Vec<DavProp>>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets (`true`) or removes each property, in order; all or none (RFC 4918 section 9.2):
    /// when one would go past the limits, none is applied.
    fn patch(&self, key: Vec<u8>, patch: Vec<(bool, DavProp)>) -> Vec<(StatusCode, DavProp)> {
        let mut entries = self.entries();
        let full = entries.len() >= MAX_PROPERTY_ENTRIES && !entries.contains_key(&key);
        let mut props = entries.get(&key).cloned().unwrap_or_default();
        for (set, prop) in &patch {
            props.retain(|kept| !same(kept, prop));
            if *set {
                props.push(prop.clone());
            }
        }
        if (full && !props.is_empty()) || props.len() > MAX_PROPERTIES_PER_ENTRY {
            return patch
                .iter()
                .map(|(_, prop)| (StatusCode::INSUFFICIENT_STORAGE, name_only(prop)))
                .collect();
        }
        let statuses = patch
            .iter()
            .map(|(_, prop)| (StatusCode::OK, name_only(prop)))
            .collect();
        if props.is_empty() {
            entries.remove(&key);
        } else {
            entries.insert(key, props);
        }
        statuses
    }

    fn all(&self, key: &[u8], values: bool) -> Vec<DavProp> {
        let entries = self.entries();
        let Some(props) = entries.get(key) else {
            return Vec::new();
        };
        if values {
            props.clone()
        } else {
            props.iter().map(name_only).collect()
        }
    }

    fn one(&self, key: &[u8], wanted: &DavProp) -> Option<Vec<u8>> {
        let entries = self.entries();
        entries
            .get(key)?
            .iter()
            .find(|prop| same(prop, wanted))
            .and_then(|prop| prop.xml.clone())
    }

    /// Whether `key` is `folder` or beneath it.
    fn within(key: &[u8], folder: &[u8]) -> bool {
        key == folder
            || (key.starts_with(folder)
                && (folder.ends_with(b"/") || key.get(folder.len()) == Some(&b'/')))
    }

    /// Forgets the properties of `key` and of everything beneath it.
    fn remove(&self, key: &[u8]) {
        self.entries()
            .retain(|kept, _| !DeadProps::within(kept, key));
    }

    /// `from` (and what is beneath it) is now `to`.
    fn rename(&self, from: &[u8], to: &[u8]) {
        let mut entries = self.entries();
        entries.retain(|kept, _| !DeadProps::within(kept, to));
        let moved: Vec<Vec<u8>> = entries
            .keys()
            .filter(|kept| DeadProps::within(kept, from))
            .cloned()
            .collect();
        for old in moved {
            if let Some(props) = entries.remove(&old) {
                let mut new = to.to_vec();
                new.extend_from_slice(&old[from.len()..]);
                entries.insert(new, props);
            }
        }
    }

    /// `to` is a copy of the file `from`.
    fn copy(&self, from: &[u8], to: &[u8]) {
        let mut entries = self.entries();
        match entries.get(from).cloned() {
            Some(props) => {
                entries.insert(to.to_vec(), props);
            }
            None => {
                entries.remove(to);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::Method;

    fn prop(name: &str, value: &str) -> DavProp {
        DavProp::new(name.into(), "x".into(), "urn:x".into(), value.into())
    }

    #[test]
    fn properties_follow_renames_and_go_with_deletes() {
        let props = DeadProps::default();
        props.patch(b"/a/f".to_vec(), vec![(true, prop("p", "1"))]);
        props.patch(b"/ab".to_vec(), vec![(true, prop("p", "2"))]);
        props.rename(b"/a", b"/b");
        assert_eq!(props.all(b"/b/f", false).len(), 1);
        assert!(props.all(b"/a/f", false).is_empty());
        assert_eq!(
            props.all(b"/ab", false).len(),
            1,
            "a sibling with a longer name stays"
        );
        props.copy(b"/b/f", b"/c");
        assert!(props.one(b"/c", &prop("p", "")).is_some());
        props.remove(b"/b");
        assert!(props.all(b"/b/f", false).is_empty());
        props.patch(b"/c".to_vec(), vec![(false, prop("p", ""))]);
        assert_eq!(props.entries().len(), 1, "only /ab keeps a property");
    }

    #[test]
    fn too_many_properties_are_refused_whole() {
        let props = DeadProps::default();
        let patch = (0..=MAX_PROPERTIES_PER_ENTRY)
            .map(|n| (true, prop(&format!("p{n}"), "v")))
            .collect();
        let statuses = props.patch(b"/f".to_vec(), patch);
        assert!(
            statuses
                .iter()
                .all(|(status, _)| *status == StatusCode::INSUFFICIENT_STORAGE)
        );
        assert!(props.all(b"/f", false).is_empty());
    }

    #[test]
    fn dav_paths_become_views() {
        let path = DavPath::new("/a/b%20c/").unwrap();
        assert_eq!(view_of(&path).unwrap().to_string(), "/a/b c");
    }

    #[test]
    fn destinations_elsewhere_are_refused() {
        let parts = |dest: &str| {
            let request = axum::http::Request::builder()
                .method(Method::from_bytes(b"MOVE").unwrap())
                .uri("/a")
                .header(HOST, "127.0.0.1:8080")
                .header("destination", dest)
                .body(())
                .unwrap();
            request.into_parts().0
        };
        let status = |dest: &str| match check_destination(&parts(dest)) {
            Ok(()) => StatusCode::OK,
            Err(response) => response.status(),
        };
        assert_eq!(status("http://127.0.0.1:8080/b"), StatusCode::OK);
        assert_eq!(status("/b"), StatusCode::OK);
        assert_eq!(status("http://elsewhere:8080/b"), StatusCode::BAD_GATEWAY);
        assert_eq!(
            status("http://127.0.0.1:8080/../etc"),
            StatusCode::FORBIDDEN
        );
        assert_eq!(status("/a/%2e%2e/%2e%2e/x"), StatusCode::FORBIDDEN);
        assert_eq!(status("/a%5cb"), StatusCode::BAD_REQUEST);
    }
}
