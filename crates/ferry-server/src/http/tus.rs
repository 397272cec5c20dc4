//! Resumable uploads with the tus 1.0 protocol (<https://tus.io/protocols/resumable-upload>)
//! under `/.tus/`: the core protocol (`HEAD` for the offset, `PATCH` with
//! `application/offset+octet-stream`, `OPTIONS`), and the creation, termination, checksum
//! (`sha1`, `sha256`) and expiration extensions.
//!
//! An upload is created (`POST /.tus/`) with its length and its target: the `Upload-Metadata`
//! key `path` (the target in the user's view, `/` being the user's home), else `filename` (a
//! plain name, put in the home). Creation opens an ordinary atomic upload through the file
//! service, so the `upload` right (or `overwrite` for an existing file), the quota (the whole
//! `Upload-Length` is claimed at creation: 507 at once when it does not fit) and the busy check
//! apply as for FTP; the bytes go to the storage's hidden partial and the file
//! appears under its name only when the last byte arrived. The open upload stays with the
//! upload's record between `PATCH` requests; a `PATCH` cut mid-way keeps every byte it wrote
//! and the next `HEAD` reports that offset.
//!
//! Upload IDs are 128 random bits, bound to the user that created them: for anyone else the
//! upload does not exist (404). Records of uploads untouched for [`EXPIRY`] are dropped with
//! their bytes. With a state folder (`--tus-state-dir`), each record is also a small JSON file
//! there, so that after a restart the upload goes on: on a folder from the partial the storage
//! kept (its size is the offset), on S3 (which keeps no partial) from offset 0.
//!
//! A `PATCH` with `Upload-Checksum` is held in memory (at most [`CHECKSUM_CHUNK_MAX`]) until
//! its digest is checked, so that a chunk that fails the check (460) leaves nothing behind.
//!
//! This module does NOT check passwords ([`super::login`]), or pick statuses for file errors
//! ([`super::errors`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::Request;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use base64::Engine;
use ferry_proto::VirtualPath;
use ferry_storage::{Upload, WriteMode};
use http_body_util::BodyExt;
use ring::rand::SecureRandom;
use tokio::io::AsyncWriteExt;

use super::errors::{Fault, plain};
use super::{Connection, login};
use crate::service::{Direction, FileError, FileService, Meter, Transferred};

/// The protocol version spoken.
const VERSION: &str = "1.0.0";
/// The extensions served.
const EXTENSIONS: &str = "creation,termination,checksum,expiration";
/// The checksum algorithms `Upload-Checksum` may name.
const ALGORITHMS: &str = "sha1,sha256";
/// The largest upload accepted (`Tus-Max-Size`): 1 TiB.
pub(crate) const MAX_SIZE: u64 = 1 << 40;
/// An upload untouched this long is dropped with its bytes.
pub(crate) const EXPIRY: Duration = Duration::from_secs(24 * 3600);
/// The largest `PATCH` body that carries `Upload-Checksum` (it is held in memory until
/// checked).
pub(crate) const CHECKSUM_CHUNK_MAX: usize = 64 << 20;
/// How long a request waits for another on the same upload to let go of it.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// The longest `Upload-Metadata` header accepted.
const METADATA_MAX: usize = 4096;
/// Status 460: the chunk's checksum does not match (tus checksum extension).
const CHECKSUM_MISMATCH: u16 = 460;
/// `Progress::offset` before it is known (a record loaded at start, not yet looked at).
const UNKNOWN: u64 = u64::MAX;

/// The uploads in progress, shared by every connection.
#[derive(Debug)]
pub(crate) struct Store {
    uploads: Mutex<HashMap<String, Arc<Record>>>,
    /// Where records are kept across restarts; `None`: in memory only.
    dir: Option<PathBuf>,
    random: ring::rand::SystemRandom,
}

/// One upload.
#[derive(Debug)]
struct Record {
    id: String,
    /// The user who created it; nobody else sees it.
    owner: String,
    /// The target, in the owner's view.
    target: VirtualPath,
    length: u64,
    /// `Upload-Metadata` as it was sent, given back on `HEAD`.
    metadata: String,
    /// The bytes received, for `HEAD` while a `PATCH` holds `progress` ([`UNKNOWN`] until
    /// looked at after a restart).
    offset: AtomicU64,
    /// When a request last used it, in seconds since the epoch.
    touched: AtomicU64,
    progress: tokio::sync::Mutex<Progress>,
}

/// What a `PATCH` changes.
#[derive(Debug, Default)]
struct Progress {
    /// The storage upload and its limits, open since creation (or since the first `PATCH`
    /// after a restart).
    open: Option<(Upload, Meter)>,
    /// Set once the upload committed or was terminated: the record is gone.
    ended: bool,
}

/// A record as its state file holds it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Saved {
    owner: String,
    target: String,
    length: u64,
    metadata: String,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

impl Store {
    /// The store, with the records kept in `dir` (made when missing) when there is one.
    pub(crate) fn open(dir: Option<PathBuf>) -> std::io::Result<Store> {
        let store = Store {
            uploads: Mutex::new(HashMap::new()),
            dir,
            random: ring::rand::SystemRandom::new(),
        };
        if let Some(dir) = &store.dir {
            std::fs::create_dir_all(dir)?;
            store.load(dir)?;
        }
        Ok(store)
    }

    /// Reads the records in `dir`; unreadable ones are logged and removed.
    fn load(&self, dir: &std::path::Path) -> std::io::Result<()> {
        let mut uploads = self.lock();
        for item in std::fs::read_dir(dir)? {
            let path = item?.path();
            let Some(id) = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_suffix(".json"))
                .filter(|id| valid_id(id))
                .map(str::to_string)
            else {
                continue;
            };
            let saved = std::fs::read(&path)
                .map_err(|error| error.to_string())
                .and_then(|bytes| {
                    serde_json::from_slice::<Saved>(&bytes).map_err(|error| error.to_string())
                });
            let parsed = saved.and_then(|saved| {
                let target = VirtualPath::root()
                    .resolve(saved.target.as_bytes())
                    .map_err(|error| error.to_string())?;
                Ok((saved, target))
            });
            match parsed {
                Ok((saved, target)) => {
                    uploads.insert(
                        id.clone(),
                        Arc::new(Record {
                            id,
                            owner: saved.owner,
                            target,
                            length: saved.length,
                            metadata: saved.metadata,
                            offset: AtomicU64::new(UNKNOWN),
                            // A restart gives every kept upload a full expiry period.
                            touched: AtomicU64::new(now_secs()),
                            progress: tokio::sync::Mutex::new(Progress::default()),
                        }),
                    );
                }
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "unreadable tus upload record; removed");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        if !uploads.is_empty() {
            tracing::info!(
                uploads = uploads.len(),
                "tus uploads kept from the last run"
            );
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Record>>> {
        // A panic while holding this lock leaves the map whole (inserts and removes only).
        self.uploads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new unguessable ID: 128 random bits in hex.
    fn new_id(&self) -> Option<String> {
        let mut bytes = [0u8; 16];
        self.random.fill(&mut bytes).ok()?;
        Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The record `id` if `owner` created it.
    fn find(&self, id: &str, owner: &str) -> Option<Arc<Record>> {
        self.lock()
            .get(id)
            .filter(|record| record.owner == owner)
            .cloned()
    }

    fn state_file(&self, id: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|dir| dir.join(format!("{id}.json")))
    }

    /// Writes `record`'s state file (when there is a state folder).
    fn save(&self, record: &Record) -> std::io::Result<()> {
        let Some(path) = self.state_file(&record.id) else {
            return Ok(());
        };
        let saved = Saved {
            owner: record.owner.clone(),
            target: record.target.to_string(),
            length: record.length,
            metadata: record.metadata.clone(),
        };
        let bytes = serde_json::to_vec(&saved).map_err(std::io::Error::other)?;
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, bytes)?;
        std::fs::rename(&temporary, &path)
    }

    /// Forgets `id` and its state file.
    fn remove(&self, id: &str) {
        self.lock().remove(id);
        if let Some(path) = self.state_file(id)
            && let Err(error) = std::fs::remove_file(&path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %path.display(), %error, "could not remove a tus upload record");
        }
    }

    /// Drops the uploads untouched for [`EXPIRY`], with their bytes.
    fn sweep(&self) {
        let limit = now_secs().saturating_sub(EXPIRY.as_secs());
        let expired: Vec<Arc<Record>> = self
            .lock()
            .values()
            .filter(|record| record.touched.load(Ordering::Relaxed) < limit)
            .cloned()
            .collect();
        for record in expired {
            let Ok(mut progress) = record.progress.try_lock() else {
                continue;
            };
            progress.ended = true;
            let open = progress.open.take();
            drop(progress);
            self.remove(&record.id);
            tracing::info!(id = record.id, user = record.owner, path = %record.target, "tus upload expired");
            if let Some((upload, _)) = open
                && let Ok(runtime) = tokio::runtime::Handle::try_current()
            {
                runtime.spawn(async move {
                    let _ = upload.discard().await;
                });
            }
        }
    }
}

/// True for a string that can be an upload ID (32 lowercase hex digits).
fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every request under `/.tus/`.
pub(crate) async fn handle(
    State(connection): State<Arc<Connection>>,
    request: Request,
) -> Response {
    let method = request.method().clone();
    let raw_path = request.uri().path().to_owned();
    let (mut response, user) = serve(&connection, request).await;
    let headers = response.headers_mut();
    headers.insert("tus-resumable", HeaderValue::from_static(VERSION));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    tracing::info!(
        peer = %connection.peer,
        user = user.as_deref().unwrap_or("-"),
        protocol = "http",
        method = method.as_str(),
        path = raw_path,
        status = response.status().as_u16(),
        "request"
    );
    response
}

async fn serve(connection: &Connection, request: Request) -> (Response, Option<String>) {
    let store = &connection.shared.tus;
    store.sweep();
    if request.method() == Method::OPTIONS {
        return (options(), None);
    }
    // Every other request names the version it speaks (tus core: 412 otherwise).
    if request
        .headers()
        .get("tus-resumable")
        .is_none_or(|value| value.as_bytes() != VERSION.as_bytes())
    {
        let mut response = empty(StatusCode::PRECONDITION_FAILED);
        response
            .headers_mut()
            .insert("tus-version", HeaderValue::from_static(VERSION));
        return (response, None);
    }
    let path = request.uri().path();
    let id = path
        .strip_prefix("/.tus")
        .unwrap_or_default()
        .trim_matches('/')
        .to_string();
    if !id.is_empty() && !valid_id(&id) {
        return (Fault::NotFound.response(), None);
    }
    let (parts, body) = request.into_parts();
    let files = match login::files(connection, &parts.method, &parts.headers).await {
        Ok(files) => files,
        Err(fault) => return (fault.response(), None),
    };
    let user = Some(files.name().to_string());
    let response = match (parts.method.as_str(), id.is_empty()) {
        ("POST", true) => create(store, &files, &parts.headers).await,
        ("HEAD", false) => match store.find(&id, files.name()) {
            Some(record) => head(&files, &record).await,
            None => Fault::NotFound.response(),
        },
        ("PATCH", false) => match store.find(&id, files.name()) {
            Some(record) => patch(connection, store, &files, &record, &parts.headers, body).await,
            None => Fault::NotFound.response(),
        },
        ("DELETE", false) => match store.find(&id, files.name()) {
            Some(record) => terminate(store, &record).await,
            None => Fault::NotFound.response(),
        },
        _ => {
            let mut response = Fault::MethodNotAllowed.response();
            let allow = if id.is_empty() {
                "OPTIONS, POST"
            } else {
                "OPTIONS, HEAD, PATCH, DELETE"
            };
            response
                .headers_mut()
                .insert(axum::http::header::ALLOW, HeaderValue::from_static(allow));
            response
        }
    };
    (response, user)
}

fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// `OPTIONS`: what this server speaks (answered before any login).
fn options() -> Response {
    let mut response = empty(StatusCode::NO_CONTENT);
    let headers = response.headers_mut();
    headers.insert("tus-version", HeaderValue::from_static(VERSION));
    headers.insert("tus-extension", HeaderValue::from_static(EXTENSIONS));
    headers.insert("tus-max-size", HeaderValue::from(MAX_SIZE));
    headers.insert(
        "tus-checksum-algorithm",
        HeaderValue::from_static(ALGORITHMS),
    );
    response
}

/// A number header; `Err` when present but not a number.
fn number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, ()> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or(()),
    }
}

fn bad(text: &str) -> Response {
    plain(StatusCode::BAD_REQUEST, text.into())
}

/// Parses `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
fn metadata(text: &str) -> Result<HashMap<String, Vec<u8>>, ()> {
    let mut pairs = HashMap::new();
    for pair in text.split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let mut words = pair.split(' ');
        let key = words.next().ok_or(())?;
        let value = match words.next() {
            None => Vec::new(),
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(drop)?,
        };
        if key.is_empty() || words.next().is_some() {
            return Err(());
        }
        pairs.insert(key.to_string(), value);
    }
    Ok(pairs)
}

/// The target in the user's view named by the metadata: `path` (absolute in the user's view,
/// or relative to the home), else `filename` (one name, in the home).
fn target_of(pairs: &HashMap<String, Vec<u8>>) -> Result<VirtualPath, &'static str> {
    let (text, whole_path) = match (pairs.get("path"), pairs.get("filename")) {
        (Some(path), _) => (path, true),
        (None, Some(name)) => (name, false),
        (None, None) => return Err("Upload-Metadata needs a path or a filename"),
    };
    let text = std::str::from_utf8(text).map_err(|_| "names must be UTF-8")?;
    let mut view = VirtualPath::root();
    let mut names = 0;
    for name in text.split('/') {
        if name.is_empty() {
            continue;
        }
        if name == "." || name == ".." || name.contains(['\\', '\0']) {
            return Err("path not allowed");
        }
        view = view.join(name.as_bytes()).map_err(|_| "path not allowed")?;
        names += 1;
    }
    if names == 0 || (!whole_path && names != 1) {
        return Err("path not allowed");
    }
    Ok(view)
}

/// `POST /.tus/` (creation extension): a new upload of `Upload-Length` bytes.
async fn create(store: &Store, files: &Arc<FileService>, headers: &HeaderMap) -> Response {
    let Ok(length) = number(headers, "upload-length") else {
        return bad("Upload-Length is not a number");
    };
    let Some(length) = length else {
        return bad("Upload-Length is needed (Upload-Defer-Length is not supported)");
    };
    if length > MAX_SIZE {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("uploads are limited to {MAX_SIZE} bytes"),
        );
    }
    let raw_metadata = match headers.get("upload-metadata").map(HeaderValue::to_str) {
        None => "",
        Some(Ok(text)) if text.len() <= METADATA_MAX => text,
        Some(_) => return bad("Upload-Metadata is not valid"),
    };
    let Ok(pairs) = metadata(raw_metadata) else {
        return bad("Upload-Metadata is not valid");
    };
    let target = match target_of(&pairs) {
        Ok(target) => target,
        Err(text) => return bad(text),
    };
    let (upload, mut meter) = match files.write(&target, WriteMode::Create).await {
        Ok(opened) => opened,
        Err(error) => return Fault::File(&error).response(),
    };
    // The whole length is claimed on the quota now: refused at once when it cannot fit, and
    // no other upload takes the room meanwhile.
    if let Err(response) = reserve(&mut meter, length) {
        let _ = upload.discard().await;
        return *response;
    }
    let Some(id) = store.new_id() else {
        tracing::warn!("no random bytes for a tus upload ID");
        let _ = upload.discard().await;
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server failure; try again".into(),
        );
    };
    if length == 0 {
        return match finish(files, &target, upload, meter, 0, Instant::now()).await {
            Ok(()) => created(&id, 0),
            Err(response) => *response,
        };
    }
    let record = Arc::new(Record {
        id: id.clone(),
        owner: files.name().to_string(),
        target,
        length,
        metadata: raw_metadata.to_string(),
        offset: AtomicU64::new(0),
        touched: AtomicU64::new(now_secs()),
        progress: tokio::sync::Mutex::new(Progress {
            open: Some((upload, meter)),
            ended: false,
        }),
    });
    if let Err(error) = store.save(&record) {
        // The upload still works; it will not survive a restart.
        tracing::warn!(%error, id, "could not save a tus upload record");
    }
    tracing::info!(id, user = files.name(), path = %record.target, length, "tus upload created");
    store.lock().insert(id.clone(), record);
    created(&id, length)
}

fn created(id: &str, length: u64) -> Response {
    let mut response = empty(StatusCode::CREATED);
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/.tus/{id}")) {
        headers.insert(LOCATION, location);
    }
    if length > 0 {
        expires(headers);
    }
    response
}

/// `Upload-Expires` (expiration extension): the upload's bytes are kept until then, unless
/// another request comes first.
fn expires(headers: &mut HeaderMap) {
    let when = SystemTime::now() + EXPIRY;
    if let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(when)) {
        headers.insert("upload-expires", value);
    }
}

/// The record's offset, looked up in the storage when unknown (after a restart): what the
/// partial holds, or 0.
async fn known_offset(files: &FileService, record: &Record) -> u64 {
    let offset = record.offset.load(Ordering::Acquire);
    if offset != UNKNOWN {
        return offset;
    }
    let kept = match files.partial_size(&record.target).await {
        Ok(kept) => kept.unwrap_or(0).min(record.length),
        Err(_) => 0,
    };
    // Whatever a `PATCH` did meanwhile wins.
    let _ = record
        .offset
        .compare_exchange(UNKNOWN, kept, Ordering::AcqRel, Ordering::Acquire);
    record.offset.load(Ordering::Acquire)
}

/// `HEAD /.tus/ID`: how many bytes arrived.
async fn head(files: &FileService, record: &Record) -> Response {
    record.touched.store(now_secs(), Ordering::Relaxed);
    let offset = known_offset(files, record).await;
    let mut response = empty(StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert("upload-offset", HeaderValue::from(offset));
    headers.insert("upload-length", HeaderValue::from(record.length));
    if !record.metadata.is_empty()
        && let Ok(value) = HeaderValue::from_str(&record.metadata)
    {
        headers.insert("upload-metadata", value);
    }
    expires(headers);
    response
}

/// A checksum named by `Upload-Checksum`: its algorithm and the digest expected.
struct Checksum {
    algorithm: &'static ring::digest::Algorithm,
    expected: Vec<u8>,
}

/// `Upload-Checksum`, if sent; `Err` says what is wrong with it.
fn checksum(headers: &HeaderMap) -> Result<Option<Checksum>, &'static str> {
    let Some(value) = headers.get("upload-checksum") else {
        return Ok(None);
    };
    let invalid = "Upload-Checksum is not valid";
    let text = value.to_str().map_err(|_| invalid)?;
    let (name, encoded) = text.trim().split_once(' ').ok_or(invalid)?;
    let algorithm = match name {
        "sha1" => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        "sha256" => &ring::digest::SHA256,
        _ => return Err("checksum algorithm not supported"),
    };
    let expected = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| invalid)?;
    Ok(Some(Checksum {
        algorithm,
        expected,
    }))
}

/// `PATCH /.tus/ID`: bytes at `Upload-Offset`.
async fn patch(
    connection: &Connection,
    store: &Store,
    files: &Arc<FileService>,
    record: &Record,
    headers: &HeaderMap,
    mut body: Body,
) -> Response {
    let content_type = headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
    if content_type != Some(b"application/offset+octet-stream") {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "PATCH needs Content-Type: application/offset+octet-stream".into(),
        );
    }
    let Ok(Some(claimed)) = number(headers, "upload-offset") else {
        return bad("Upload-Offset is needed");
    };
    let check = match checksum(headers) {
        Ok(check) => check,
        Err(text) => return bad(text),
    };
    let Ok(declared) = number(headers, CONTENT_LENGTH.as_str()) else {
        return bad("Content-Length is not a number");
    };
    record.touched.store(now_secs(), Ordering::Relaxed);
    let Ok(mut progress) = tokio::time::timeout(LOCK_WAIT, record.progress.lock()).await else {
        return plain(
            StatusCode::LOCKED,
            "another request is writing to this upload".into(),
        );
    };
    if progress.ended {
        return Fault::NotFound.response();
    }
    let offset = known_offset(files, record).await;
    if claimed != offset {
        let mut response = plain(
            StatusCode::CONFLICT,
            format!("the upload is at offset {offset}"),
        );
        response
            .headers_mut()
            .insert("upload-offset", HeaderValue::from(offset));
        return response;
    }
    let room = record.length - offset;
    if declared.is_some_and(|declared| declared > room) {
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the upload has {room} bytes to go"),
        );
    }
    if progress.open.is_none() {
        // After a restart: the partial's bytes are kept, or it starts anew.
        let mode = if offset == 0 {
            WriteMode::Create
        } else {
            WriteMode::Resume(offset)
        };
        match files.write(&record.target, mode).await {
            Ok((upload, mut meter)) if upload.start_offset() == offset => {
                if let Err(response) = reserve(&mut meter, record.length - offset) {
                    let _ = upload.abort().await;
                    return *response;
                }
                progress.open = Some((upload, meter));
            }
            Ok((upload, _)) => {
                let _ = upload.abort().await;
                tracing::warn!(
                    id = record.id,
                    offset,
                    "a tus upload's partial changed size"
                );
                record.offset.store(UNKNOWN, Ordering::Release);
                return plain(
                    StatusCode::CONFLICT,
                    "the upload's bytes changed; ask for its offset again".into(),
                );
            }
            Err(error) => return Fault::File(&error).response(),
        }
    }
    let started = Instant::now();
    let timeout = connection.shared.config.data_timeout;
    let mut held = Vec::new();
    loop {
        let frame = match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => {
                return plain(
                    StatusCode::REQUEST_TIMEOUT,
                    "the body stopped coming".into(),
                );
            }
            Ok(None) => break,
            Ok(Some(Err(error))) => {
                tracing::info!(peer = %connection.peer, %error, id = record.id, offset = record.offset.load(Ordering::Relaxed), "tus PATCH broke off; its bytes are kept");
                return Fault::BodyFailed.response();
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let at = record.offset.load(Ordering::Acquire) + held.len() as u64;
        if data.len() as u64 > record.length - at {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body goes past Upload-Length".into(),
            );
        }
        if check.is_some() {
            if held.len() + data.len() > CHECKSUM_CHUNK_MAX {
                return plain(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("a chunk with Upload-Checksum may be {CHECKSUM_CHUNK_MAX} bytes"),
                );
            }
            held.extend_from_slice(&data);
            continue;
        }
        if let Err(response) = write(&mut progress, record, &data).await {
            return *response;
        }
    }
    if let Some(check) = check {
        let digest = ring::digest::digest(check.algorithm, &held);
        if digest.as_ref() != check.expected.as_slice() {
            return plain(
                StatusCode::from_u16(CHECKSUM_MISMATCH).unwrap_or(StatusCode::BAD_REQUEST),
                "checksum mismatch; the chunk was discarded".into(),
            );
        }
        if let Err(response) = write(&mut progress, record, &held).await {
            return *response;
        }
    }
    let offset = record.offset.load(Ordering::Acquire);
    if offset == record.length {
        let Some((upload, meter)) = progress.open.take() else {
            return Fault::BodyFailed.response();
        };
        progress.ended = true;
        store.remove(&record.id);
        if let Err(response) =
            finish(files, &record.target, upload, meter, record.length, started).await
        {
            return *response;
        }
        tracing::info!(id = record.id, user = files.name(), path = %record.target, "tus upload complete");
    }
    let mut response = empty(StatusCode::NO_CONTENT);
    response
        .headers_mut()
        .insert("upload-offset", HeaderValue::from(offset));
    if offset < record.length {
        expires(response.headers_mut());
    }
    response
}

/// Claims `bytes` more on the user's quota (when one applies); 507 when they do not fit.
fn reserve(meter: &mut Meter, bytes: u64) -> Result<(), Box<Response>> {
    let mut left = bytes;
    while left > 0 {
        let step = usize::try_from(left).unwrap_or(usize::MAX);
        let granted = meter.grant(step);
        if granted < step {
            let error = FileError::Quota(format!("{} bytes", meter.byte_limit()));
            return Err(Box::new(Fault::File(&error).response()));
        }
        left -= granted as u64;
    }
    Ok(())
}

/// Writes `data` at the record's offset (its room on the quota was claimed when the upload
/// was opened); on failure the response.
async fn write(progress: &mut Progress, record: &Record, data: &[u8]) -> Result<(), Box<Response>> {
    let Some((upload, meter)) = progress.open.as_mut() else {
        return Err(Box::new(Fault::BodyFailed.response()));
    };
    if let Err(error) = upload.write_all(data).await {
        tracing::warn!(id = record.id, %error, "tus upload write failed");
        // What the storage kept is looked up again on the next request.
        if let Some((upload, _)) = progress.open.take() {
            let _ = upload.abort().await;
        }
        record.offset.store(UNKNOWN, Ordering::Release);
        let error = FileError::Storage(error.into());
        return Err(Box::new(Fault::File(&error).response()));
    }
    record.offset.fetch_add(data.len() as u64, Ordering::AcqRel);
    meter.pace(data.len()).await;
    Ok(())
}

/// Commits a complete upload and reports it.
async fn finish(
    files: &FileService,
    target: &VirtualPath,
    upload: Upload,
    meter: Meter,
    length: u64,
    started: Instant,
) -> Result<(), Box<Response>> {
    let path = target.to_string();
    let mut report = Transferred {
        direction: Direction::Up,
        path: &path,
        bytes: length,
        seconds: 0.0,
        failure: None,
    };
    if let Err(error) = upload.commit().await {
        report.failure = Some("commit failed");
        report.seconds = started.elapsed().as_secs_f64();
        files.transferred(&report);
        return Err(Box::new(Fault::File(&FileError::Storage(error)).response()));
    }
    meter.commit();
    report.seconds = started.elapsed().as_secs_f64();
    files.transferred(&report);
    Ok(())
}

/// `DELETE /.tus/ID` (termination extension): the upload and its bytes are dropped.
async fn terminate(store: &Store, record: &Record) -> Response {
    let Ok(mut progress) = tokio::time::timeout(LOCK_WAIT, record.progress.lock()).await else {
        return plain(
            StatusCode::LOCKED,
            "another request is writing to this upload".into(),
        );
    };
    if progress.ended {
        return Fault::NotFound.response();
    }
    progress.ended = true;
    let open = progress.open.take();
    drop(progress);
    store.remove(&record.id);
    if let Some((upload, _)) = open {
        let _ = upload.discard().await;
    }
    tracing::info!(id = record.id, path = %record.target, "tus upload terminated");
    empty(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> HashMap<String, Vec<u8>> {
        metadata(text).unwrap_or_default()
    }

    #[test]
    fn metadata_and_targets() {
        // "path" = "/up/a b.bin", "filename" = "x.bin"
        let both = pairs("filename eC5iaW4=,path L3VwL2EgYi5iaW4=, empty");
        assert_eq!(
            target_of(&both).map(|p| p.to_string()),
            Ok("/up/a b.bin".into())
        );
        let name = pairs("filename eC5iaW4=");
        assert_eq!(target_of(&name).map(|p| p.to_string()), Ok("/x.bin".into()));
        // "filename" = "a/b" is not one name; "path" = "/../x" climbs.
        assert!(target_of(&pairs("filename YS9i")).is_err());
        assert!(target_of(&pairs("path Ly4uL3g=")).is_err());
        assert!(target_of(&pairs("")).is_err());
        assert!(metadata("key not-base64!").is_err());
    }

    #[test]
    fn untouched_uploads_expire_with_their_records() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let store = Store::open(Some(dir.path().to_path_buf())).unwrap_or_else(|_| unreachable!());
        let record = |id: &str, touched: u64| {
            Arc::new(Record {
                id: id.into(),
                owner: "alice".into(),
                target: VirtualPath::root(),
                length: 10,
                metadata: String::new(),
                offset: AtomicU64::new(0),
                touched: AtomicU64::new(touched),
                progress: tokio::sync::Mutex::new(Progress::default()),
            })
        };
        let old = record(&"a".repeat(32), now_secs() - EXPIRY.as_secs() - 10);
        let fresh = record(&"b".repeat(32), now_secs() - 60);
        for kept in [&old, &fresh] {
            assert!(store.save(kept).is_ok());
            store.lock().insert(kept.id.clone(), Arc::clone(kept));
        }
        store.sweep();
        assert!(store.find(&old.id, "alice").is_none());
        assert!(store.find(&fresh.id, "alice").is_some());
        assert!(store.find(&fresh.id, "bob").is_none());
        assert!(!dir.path().join(format!("{}.json", old.id)).exists());
        // The record left is read back at the next start.
        drop(store);
        let store = Store::open(Some(dir.path().to_path_buf())).unwrap_or_else(|_| unreachable!());
        assert!(store.find(&fresh.id, "alice").is_some());
    }

    #[test]
    fn ids() {
        let store = Store::open(None).unwrap_or_else(|_| unreachable!());
        let id = store.new_id().unwrap_or_default();
        assert!(valid_id(&id), "{id}");
        assert_ne!(store.new_id(), Some(id));
        assert!(!valid_id("../x"));
    }
}
