//! The file methods: `GET`/`HEAD` of a file (ranges, validators, conditional requests) or of
//! a folder (`?format=json`: its listing; `?zip`: [`zip`]), `PUT` (an atomic upload), `OPTIONS`;
//! the WebDAV methods (`DELETE` and `MKCOL` among them) go to [`super::dav`]. Every file
//! operation goes through the user's [`FileService`], with the path in
//! the user's view: the jail, the rights, the quotas and the rates are the service's.
//!
//! This module does NOT decode paths ([`super::path`]), check passwords ([`super::login`]) or
//! choose error statuses ([`super::errors`]).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::extract::State;
use axum::http::header::{
    ACCEPT_RANGES, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, LAST_MODIFIED, LOCATION, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use ferry_proto::listing::{self, Entry, EntryKind};
use ferry_storage::{Download, ListStream, Upload, WriteMode};
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;

use super::body::{self, PullBody};
use super::conditional::{self, Part, Validators};
use super::errors::{Fault, plain};
use super::path::{self, Target};
use super::session::Found;
use super::{Connection, dav, digest, login, mime, page, zip};
use crate::service::{Direction, FileError, FileService, Meter, Span, Transferred};

/// The methods served, for `Allow` and `OPTIONS`.
const ALLOWED: &str =
    "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, PROPFIND, PROPPATCH, MOVE, COPY, LOCK, UNLOCK";

/// Entries of a JSON listing sent in one piece.
const LISTING_BATCH: usize = 256;

/// Every request: the router's one handler.
pub(crate) async fn handle(
    State(connection): State<Arc<Connection>>,
    request: Request,
) -> Response {
    // Kept for the log line without a copy: the method and the target (whose clone shares
    // its bytes) rather than the path and the user's name as new strings per request.
    let method = request.method().clone();
    let uri = request.uri().clone();
    let (mut response, user) = serve(&connection, request).await;
    response
        .headers_mut()
        .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    tracing::info!(
        peer = %connection.peer,
        user = user.as_deref().map_or("-", FileService::name),
        protocol = "http",
        method = method.as_str(),
        path = uri.path(),
        status = response.status().as_u16(),
        "request"
    );
    response
}

/// The response to `request`, and whose files it used (once logged in).
async fn serve(connection: &Connection, request: Request) -> (Response, Option<Arc<FileService>>) {
    if request.method() == Method::OPTIONS {
        return (options(), None);
    }
    let target = match path::decode(request.uri().path()) {
        Ok(target) => target,
        Err(bad) => return (Fault::Path(bad).response(), None),
    };
    let (parts, body) = request.into_parts();
    let who = match login::who(connection, &parts.method, &parts.headers).await {
        Ok(who) => who,
        // A browser without a login goes to the form; scripts get the Basic challenge.
        Err(Fault::LoginNeeded)
            if matches!(parts.method, Method::GET | Method::HEAD)
                && !parts.headers.contains_key(AUTHORIZATION)
                && page::wants_html(&parts.headers) =>
        {
            let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
            return (page::to_login(path_and_query), None);
        }
        Err(fault) => return (fault.response(), None),
    };
    let files = who.files;
    let session = who.session;
    let user = Some(Arc::clone(&files));
    let dav = &connection.shared.dav;
    // The WebDAV methods and PUT are awaited boxed: their futures are large, and unboxed they
    // would make every request's future as large (moved, and copied into axum's box, per GET).
    if dav::takes(dav, &files, &parts).await {
        return (Box::pin(dav::serve(dav, &files, parts, body)).await, user);
    }
    let response = match parts.method.as_str() {
        "GET" => get(connection, &files, &target, &parts, session.as_ref(), false).await,
        "HEAD" => get(connection, &files, &target, &parts, session.as_ref(), true).await,
        "PUT" => Box::pin(put(connection, &files, &target, body)).await,
        _ => {
            let mut response = Fault::MethodNotAllowed.response();
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(ALLOWED));
            response
        }
    };
    (response, user)
}

/// `OPTIONS`, answered before any login: file managers ask it without credentials
/// (sftpgo#614). `DAV: 1, 2` says WebDAV with locks (RFC 4918 section 10.1);
/// `MS-Author-Via: DAV` makes Windows pick WebDAV over FrontPage.
fn options() -> Response {
    let mut response = empty(StatusCode::NO_CONTENT);
    let headers = response.headers_mut();
    headers.insert(ALLOW, HeaderValue::from_static(ALLOWED));
    headers.insert("dav", HeaderValue::from_static("1, 2"));
    headers.insert("ms-author-via", HeaderValue::from_static("DAV"));
    response
}

fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// `GET` or `HEAD` (`head`: headers only).
pub(super) async fn get(
    connection: &Connection,
    files: &Arc<FileService>,
    target: &Target,
    request: &Parts,
    session: Option<&Found>,
    head: bool,
) -> Response {
    // A file named without a final slash, for its bytes: opened once, and its size and time
    // (for ETag, Last-Modified, Content-Length and Range) are those of the opened file, with
    // no look-up of the path before. Should the open fail (a folder, a FIFO, no right to
    // download, nothing there) the look-up below answers, as it always did.
    if !target.slash
        && !head
        && let Ok(opened) = files.read(&target.view, 0).await
    {
        let headers = &request.headers;
        return file(
            connection,
            files,
            target,
            Source::Opened(opened),
            headers,
            head,
        )
        .await;
    }
    let entry = match files.stat(&target.view).await {
        Ok(entry) => entry,
        Err(error) => return Fault::File(&error).response(),
    };
    match (entry.kind, target.slash) {
        (EntryKind::Dir, false) => {
            // `/dir` to `/dir/`, so that relative links in the folder resolve inside it.
            let uri = &request.uri;
            let location = match uri.query() {
                Some(query) => format!("{}/?{query}", uri.path()),
                None => format!("{}/", uri.path()),
            };
            let mut response = empty(StatusCode::MOVED_PERMANENTLY);
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(LOCATION, value);
            }
            response
        }
        (EntryKind::Dir, true) => match request.uri.query() {
            // Boxed, as in `serve`: a folder's answers stay out of a file download's future.
            Some(query) if zip::wanted(Some(query)) => {
                Box::pin(zip::folder(files, target, query, head)).await
            }
            query
                if page::wants_html(&request.headers)
                    && !query.is_some_and(|q| q.split('&').any(|pair| pair == "format=json")) =>
            {
                Box::pin(page::folder(
                    files,
                    target,
                    request.uri.path(),
                    query,
                    session,
                    head,
                ))
                .await
            }
            query => Box::pin(folder(files, target, query, head)).await,
        },
        (_, true) => Fault::NotFound.response(),
        (_, false) => {
            let source = Source::Looked(&entry);
            file(connection, files, target, source, &request.headers, head).await
        }
    }
}

/// What [`file`] knows of the file: its entry from a look-up, or the file itself, opened
/// (from offset 0) with its size and time.
enum Source<'a> {
    Looked(&'a Entry),
    Opened((Download, Meter)),
}

/// A file's bytes, whole or a range, or 304 when the client's copy is current.
async fn file(
    connection: &Connection,
    files: &Arc<FileService>,
    target: &Target,
    source: Source<'_>,
    headers: &HeaderMap,
    head: bool,
) -> Response {
    let (size, modified, mut opened) = match source {
        Source::Looked(entry) => {
            if let Err(error) = files.may_read(&target.view) {
                return Fault::File(&error).response();
            }
            (entry.size, entry.modified, None)
        }
        // `FileService::read` checked the right to download.
        Source::Opened(opened) => (opened.0.size, opened.0.modified, Some(opened)),
    };
    let validators = Validators::new(size, modified);
    let mut response = empty(StatusCode::OK);
    let out = response.headers_mut();
    // Room for the seven headers of a download (with `X-Content-Type-Options` from
    // `handle`) at once, rather than growing the map on the way.
    out.reserve(7);
    if let Ok(etag) = HeaderValue::from_str(&validators.etag) {
        out.insert(ETAG, etag);
    }
    // The date's string becomes the header value without a copy.
    if let Some(date) = validators
        .last_modified()
        .and_then(|date| HeaderValue::try_from(date).ok())
    {
        out.insert(LAST_MODIFIED, date);
    }
    if validators.not_modified(headers) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return response;
    }
    out.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let name = target.view.file_name().unwrap_or_default();
    out.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(mime::content_type(name)),
    );
    // A user's HTML or SVG must not run script with the server's origin.
    out.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    let (first, length) = match conditional::part(headers, size, &validators) {
        Part::Whole => (0, size),
        Part::Range { first, last } => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let range = format!("bytes {first}-{last}/{size}");
            if let Ok(value) = HeaderValue::from_str(&range) {
                response.headers_mut().insert(CONTENT_RANGE, value);
            }
            (first, last - first + 1)
        }
        Part::Unsatisfiable => {
            let mut refused = plain(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range not satisfiable".into(),
            );
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                refused.headers_mut().insert(CONTENT_RANGE, value);
            }
            return refused;
        }
    };
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(length));
    // RFC 9530: the digest of the whole file, whatever part is sent; a pass over the file
    // before the first byte goes out (a client that hangs up drops it).
    if let Some(algorithm) = digest::wanted(headers) {
        // Closed never: the semaphore lives as long as the connection.
        let Ok(_turn) = connection.digesting.acquire().await else {
            return Fault::File(&FileError::Storage(ferry_storage::StorageError::new(
                ferry_storage::ErrorKind::Other,
                "digest turn closed",
            )))
            .response();
        };
        let never = tokio_util::sync::CancellationToken::new();
        match files
            .digest(&target.view, algorithm, Span::WHOLE, &never)
            .await
        {
            Ok(Some(computed)) => {
                if let Some(value) = digest::header_value(algorithm, &computed.bytes) {
                    response.headers_mut().insert(digest::REPR_DIGEST, value);
                }
            }
            Ok(None) => {}
            Err(error) => return Fault::File(&error).response(),
        }
    }
    if head {
        return response;
    }
    // The file opened already is moved to the range's start; else (a look-up, or a backend
    // that cannot move) it is opened at the start.
    if let Some((download, _)) = &mut opened {
        match download.start_at(first) {
            Ok(true) => {}
            Ok(false) => opened = None,
            Err(error) => {
                let error = FileError::Storage(ferry_storage::StorageError::from(error));
                return Fault::File(&error).response();
            }
        }
    }
    let (download, meter) = match opened {
        Some(opened) => opened,
        None => match files.read(&target.view, first).await {
            Ok(opened) => opened,
            Err(error) => return Fault::File(&error).response(),
        },
    };
    let sent = body::Sent::new(Arc::clone(files), target.view.to_string());
    *response.body_mut() = body::file(download, meter, length, sent, connection.outbox.as_ref());
    response
}

/// A folder for a script: its listing as JSON with `?format=json`, else as plain text, one
/// name a line, folders with a final `/` (browsers, asking for HTML, get [`page::folder`]).
async fn folder(files: &FileService, target: &Target, query: Option<&str>, head: bool) -> Response {
    let listing = match files.list(&target.view).await {
        Ok(listing) => listing,
        Err(error) => return Fault::File(&error).response(),
    };
    let json = query.is_some_and(|query| query.split('&').any(|pair| pair == "format=json"));
    let mut response = empty(StatusCode::OK);
    let content_type = if json {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let state = Listing {
        entries: listing,
        json,
        started: false,
        any: false,
        done: false,
    };
    let body = PullBody::new(state, |state| Box::pin(listing_step(state)), None);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if !head {
        *response.body_mut() = Body::new(body);
    }
    response
}

/// A listing being sent.
struct Listing {
    entries: ListStream,
    json: bool,
    /// The opening has been sent.
    started: bool,
    /// An entry has been sent.
    any: bool,
    /// The closing has been sent.
    done: bool,
}

/// The next batch of a listing: in JSON, `{"entries":[` first and `]}` last.
async fn listing_step(mut listing: Listing) -> (Listing, Option<std::io::Result<Bytes>>) {
    if listing.done {
        return (listing, None);
    }
    let mut out = Vec::new();
    if !listing.started && listing.json {
        out.extend_from_slice(b"{\"entries\":[");
    }
    listing.started = true;
    for _ in 0..LISTING_BATCH {
        let Some(entry) = listing.entries.next().await else {
            listing.done = true;
            break;
        };
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                tracing::warn!(%error, protocol = "http", "listing failed");
                return (listing, Some(Err(std::io::Error::other("listing failed"))));
            }
        };
        if listing.json {
            if listing.any {
                out.push(b',');
            }
            write_json_entry(&entry, &mut out);
        } else {
            out.extend_from_slice(&listing::shown_name(&entry.name));
            if entry.kind == EntryKind::Dir {
                out.push(b'/');
            }
            out.push(b'\n');
        }
        listing.any = true;
    }
    if listing.done && listing.json {
        out.extend_from_slice(b"]}\n");
    }
    (listing, Some(Ok(Bytes::from(out))))
}

/// `{"name":..,"type":"file"|"dir"|"link","size":..,"modified":..}`: the name as listings show
/// it (U+FFFD for bytes that are not UTF-8), the size in bytes (0 for a folder, whatever the
/// backend says, so that it reads the same on a disk and on S3), the time in Unix seconds
/// (`null` when unknown, as for S3 prefixes).
fn write_json_entry(entry: &Entry, out: &mut Vec<u8>) {
    let kind = match entry.kind {
        EntryKind::File => "file",
        EntryKind::Dir => "dir",
        EntryKind::Link => "link",
    };
    let value = serde_json::json!({
        "name": String::from_utf8_lossy(&listing::shown_name(&entry.name)),
        "type": kind,
        "size": if entry.kind == EntryKind::Dir { 0 } else { entry.size },
        "modified": entry.modified,
    });
    // Writing a JSON value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &value);
}

/// `PUT`: the body becomes the file, visible only once it arrived whole (201 new, 204
/// replaced). A body that breaks off leaves nothing, not even a partial.
pub(super) async fn put(
    connection: &Connection,
    files: &FileService,
    target: &Target,
    mut body: Body,
) -> Response {
    if target.slash || target.view.is_root() {
        return Fault::MethodNotAllowed.response();
    }
    let existed = matches!(
        files.stat(&target.view).await,
        Ok(entry) if entry.kind == EntryKind::File
    );
    let (upload, mut meter) = match files.write(&target.view, WriteMode::Create).await {
        Ok(opened) => opened,
        Err(error) => return Fault::File(&error).response(),
    };
    let mut pending = PendingUpload(Some(upload));
    let timeout = connection.shared.config.data_timeout;
    let started = std::time::Instant::now();
    let mut received = 0u64;
    // The transfer log, events and metrics hear of every PUT's end, as of FTP's and SFTP's.
    let report = |bytes: u64, failure: Option<&str>| {
        let path = target.view.to_string();
        files.transferred(&Transferred {
            direction: Direction::Up,
            path: &path,
            bytes,
            seconds: started.elapsed().as_secs_f64(),
            failure,
        });
    };
    loop {
        let frame = match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => {
                pending.discard().await;
                report(received, Some("the body stopped coming"));
                return plain(
                    StatusCode::REQUEST_TIMEOUT,
                    "the body stopped coming".into(),
                );
            }
            Ok(None) => break,
            Ok(Some(Err(error))) => {
                tracing::info!(peer = %connection.peer, %error, protocol = "http", "upload broke off");
                pending.discard().await;
                report(received, Some("the body broke off"));
                return Fault::BodyFailed.response();
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if meter.grant(data.len()) < data.len() {
            pending.discard().await;
            report(received, Some("quota exceeded"));
            let error = FileError::Quota(format!("{} bytes", meter.byte_limit()));
            return Fault::File(&error).response();
        }
        let Some(upload) = pending.0.as_mut() else {
            return Fault::BodyFailed.response();
        };
        if let Err(error) = upload.write_all(&data).await {
            pending.discard().await;
            report(received, Some("storage write failed"));
            let error = FileError::Storage(error.into());
            return Fault::File(&error).response();
        }
        received += data.len() as u64;
        meter.pace(data.len()).await;
    }
    let Some(upload) = pending.0.take() else {
        return Fault::BodyFailed.response();
    };
    if let Err(error) = upload.commit().await {
        report(received, Some("commit failed"));
        return Fault::File(&FileError::Storage(error)).response();
    }
    meter.commit();
    report(received, None);
    tracing::info!(peer = %connection.peer, user = files.name(), protocol = "http", path = %target.view, "upload complete");
    empty(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

/// An upload that has not committed: dropped (the connection went away mid-body), it is
/// discarded, as an HTTP upload cannot be resumed. WebDAV's writes use it too.
#[derive(Debug)]
pub(super) struct PendingUpload(pub(super) Option<Upload>);

impl PendingUpload {
    pub(super) async fn discard(&mut self) {
        if let Some(upload) = self.0.take() {
            let _ = upload.discard().await;
        }
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        if let Some(upload) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = upload.discard().await;
            });
        }
    }
}
