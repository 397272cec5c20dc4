//! Share links over HTTP: `/s/TOKEN[/sub/path]` served without a login, as the sharing user,
//! and `POST /.share` that makes one for the user it logs in ([`create`] is what the page
//! calls).
//!
//! A read link of a file answers `GET`/`HEAD` with [`files::get`] (ranges, validators); of a
//! folder, an HTML listing of links (`?format=json`: the JSON listing, `?zip`: the folder as a
//! zip), and the files below it; nothing else. An upload link takes `PUT /s/TOKEN/name` of a
//! file that is not there yet ([`files::put`]: atomic, quotas and rights); `GET`/`HEAD` of the
//! link itself (`/s/TOKEN`, `/s/TOKEN/`) is the upload page for browsers: the shared folder's
//! name, a file picker and drop zone whose script (`/.assets/upload.js`) sends each file as
//! that `PUT` with a progress bar and a result line, and the `curl -T` command that does the
//! same from a terminal. Every other request to an upload link is 405. The path after the
//! token is decoded by [`path::decode`] (no `..` in any encoding) and joined under the shared
//! path, so nothing outside it is reached; every file operation goes through the user's
//! [`FileService`] (jail, rights, rates, events, transfer log).
//!
//! The upload page never lists the folder, nor says whether a name is there other than by
//! refusing it (409): an upload link must not reveal what the folder holds. It has no CSRF
//! token and needs none: the link is the credential, and another site's page cannot send the
//! `PUT` without a CORS preflight, which this module never answers with CORS headers (keep it
//! so). Its HTML is as strict as the read listing's: a Content-Security-Policy of its own
//! script, style and connections only, `no-cache`, `nosniff`.
//!
//! A token that is not authentic, or revoked, is 404 with no more said, and counts as a failed
//! login for the client's address (so a guesser meets the same ban as a password guesser); an
//! authentic expired one is 410. A link whose user is gone is 404; one whose right was
//! withdrawn meets the file service's 403.
//!
//! This module does NOT sign or parse tokens (`crate::share` does).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::extract::State;
use axum::http::header::{
    ALLOW, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use ferry_proto::VirtualPath;
use ferry_proto::listing::{self, EntryKind};
use http_body_util::BodyExt;

use super::errors::{Fault, plain};
use super::page::{encode, escape};
use super::path::{self, Target};
use super::{Connection, files, login, mime, zip};
use crate::Shared;
use crate::login::Refused;
use crate::service::accounts::ANONYMOUS;
use crate::service::rules::Right;
use crate::service::{Client, FileError, FileService, Protocol};
use crate::share::{self, Claims, Kind, Refusal};

/// Entries an HTML listing shows at most (JSON and zip have no such bound).
const MAX_HTML_ENTRIES: usize = 10_000;
/// Largest `POST /.share` body.
const MAX_CREATE_BODY: usize = 16 * 1024;
/// A link's life when the request names none.
const DEFAULT_EXPIRY: Duration = Duration::from_secs(7 * 86_400);
/// The upload page's policy: its own script, style and connections (the `PUT`s) only; no
/// frames, no forms, nothing from elsewhere.
const UPLOAD_PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                               connect-src 'self'; img-src 'self'; form-action 'none'; \
                               frame-ancestors 'none'; base-uri 'none'";

/// `/s/...`: a share link.
pub(crate) async fn handle(
    State(connection): State<Arc<Connection>>,
    request: Request,
) -> Response {
    let method = request.method().clone();
    let (mut response, user) = serve(&connection, request).await;
    response
        .headers_mut()
        .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The token is a credential: the log names the user, not the link.
    tracing::info!(
        peer = %connection.peer,
        user = user.as_deref().unwrap_or("-"),
        protocol = "http",
        method = method.as_str(),
        path = "/s/…",
        status = response.status().as_u16(),
        "share link request"
    );
    response
}

async fn serve(connection: &Connection, request: Request) -> (Response, Option<String>) {
    let shared = &connection.shared;
    let ip = connection.peer.ip().to_canonical();
    if shared.logins.is_banned(ip, Instant::now()) {
        return (Fault::Banned(shared.config.ban_time).response(), None);
    }
    let Some(keys) = shared.config.share_keys.as_ref() else {
        return (Fault::NotFound.response(), None);
    };
    let raw = request.uri().path();
    let rest = raw.strip_prefix("/s/").unwrap_or_default();
    let (token, sub) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let claims = match keys.verify(token, share::now()) {
        Ok(claims) => claims,
        Err(Refusal::Expired) => return (Fault::Expired.response(), None),
        Err(refusal) => {
            bad_token(shared, connection, refusal);
            return (Fault::NotFound.response(), None);
        }
    };
    let sub = if sub.is_empty() {
        Target {
            view: VirtualPath::root(),
            slash: false,
        }
    } else {
        match path::decode(sub) {
            Ok(target) => target,
            Err(bad) => return (Fault::Path(bad).response(), Some(claims.user)),
        }
    };
    let target = match claims.path.resolve(&sub.view.relative_bytes()) {
        Ok(view) => Target {
            view,
            slash: sub.slash,
        },
        Err(error) => {
            let error = FileError::Path(error);
            return (Fault::File(&error).response(), Some(claims.user));
        }
    };
    let client = Client {
        protocol: Protocol::Http,
        peer: connection.peer,
    };
    let files = match crate::login::share_link(shared, client, &claims.user).await {
        Ok(files) => files,
        Err(Refused::Banned | Refused::BannedNow) => {
            return (Fault::Banned(shared.config.ban_time).response(), None);
        }
        Err(Refused::TooManySessions(_)) => {
            return (Fault::TooManySessions.response(), Some(claims.user));
        }
        Err(Refused::Incorrect) => {
            tracing::info!(peer = %connection.peer, user = claims.user, protocol = "http", "share link of a user who is gone");
            return (Fault::NotFound.response(), None);
        }
    };
    let link = format!("/s/{token}/");
    let (parts, body) = request.into_parts();
    let response = match claims.kind {
        Kind::Read => read(connection, &files, &claims, &target, &parts).await,
        Kind::Upload => {
            let asked = Asked {
                target: &target,
                parts: &parts,
                link: &link,
            };
            upload(connection, &files, &claims, asked, body).await
        }
    };
    (response, Some(claims.user))
}

/// Counts a token that is not honoured as a failed login of the client's address.
fn bad_token(shared: &Shared, connection: &Connection, refusal: Refusal) {
    let ip = connection.peer.ip().to_canonical();
    tracing::info!(peer = %connection.peer, protocol = "http", reason = %refusal, "share link refused");
    if let crate::limits::Verdict::Banned = shared.logins.failed(ip, Instant::now()) {
        tracing::warn!(peer = %connection.peer, protocol = "http", "too many bad share links; address banned");
    }
}

/// A read link: the file, or the folder's listing and files.
async fn read(
    connection: &Connection,
    files: &Arc<FileService>,
    claims: &Claims,
    target: &Target,
    parts: &Parts,
) -> Response {
    let head = match parts.method {
        Method::GET => false,
        Method::HEAD => true,
        _ => return not_allowed("GET, HEAD"),
    };
    let query = parts.uri.query();
    let json = query.is_some_and(|q| q.split('&').any(|pair| pair == "format=json"));
    if target.slash && !json && !zip::wanted(query) {
        match files.stat(&target.view).await {
            Ok(entry) if entry.kind == EntryKind::Dir => {
                return html_listing(files, claims, target, head).await;
            }
            Ok(_) => return Fault::NotFound.response(),
            Err(error) => return Fault::File(&error).response(),
        }
    }
    let mut response = files::get(connection, files, target, parts, None, head).await;
    // A file link's URL ends in the token: name the download after the file, or browsers,
    // `curl -OJ` and `wget --content-disposition` would save it under the token.
    if target.view == claims.path
        && matches!(
            response.status(),
            StatusCode::OK | StatusCode::PARTIAL_CONTENT
        )
        && let Some(name) = claims.path.file_name()
        && let Ok(value) = HeaderValue::from_str(&mime::attachment(&String::from_utf8_lossy(name)))
    {
        response.headers_mut().insert(CONTENT_DISPOSITION, value);
    }
    response
}

/// A folder of a read link as an HTML page of links, names as text.
async fn html_listing(
    files: &FileService,
    claims: &Claims,
    target: &Target,
    head: bool,
) -> Response {
    let mut listing = match files.list(&target.view).await {
        Ok(listing) => listing,
        Err(error) => return Fault::File(&error).response(),
    };
    let mut entries = Vec::new();
    let mut cut = false;
    while let Some(entry) = listing.next().await {
        match entry {
            Ok(entry) if entries.len() < MAX_HTML_ENTRIES => entries.push(entry),
            Ok(_) => {
                cut = true;
                break;
            }
            Err(error) => {
                let error = FileError::Storage(error);
                return Fault::File(&error).response();
            }
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let shared_name = claims.path.file_name().unwrap_or(b"/");
    let mut title = String::from_utf8_lossy(&listing::shown_name(shared_name)).into_owned();
    let below = target.view.relative_bytes();
    let top = claims.path.relative_bytes();
    if let Some(sub) = below.get(top.len()..).filter(|sub| !sub.is_empty()) {
        title.push_str(&String::from_utf8_lossy(sub));
    }
    let mut html = String::with_capacity(512 + entries.len() * 96);
    html.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width\"><title>");
    html.push_str(&escape(&title));
    html.push_str("</title></head>\n<body>\n<h1>");
    html.push_str(&escape(&title));
    html.push_str("</h1>\n<ul>\n");
    if target.view != claims.path {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for entry in &entries {
        let name = listing::shown_name(&entry.name);
        let mut href = encode(&name);
        let mut text = String::from_utf8_lossy(&name).into_owned();
        let size = if entry.kind == EntryKind::Dir {
            href.push('/');
            text.push('/');
            String::new()
        } else {
            format!(" ({} bytes)", entry.size)
        };
        html.push_str(&format!(
            "<li><a href=\"./{}\">{}</a>{size}</li>\n",
            escape(&href),
            escape(&text)
        ));
    }
    html.push_str("</ul>\n");
    if cut {
        html.push_str(&format!(
            "<p>Only the first {MAX_HTML_ENTRIES} names are shown.</p>\n"
        ));
    }
    html.push_str("<p><a href=\"?zip\">Download this folder as a zip</a></p>\n</body></html>\n");
    html_page(html, head, "default-src 'none'; frame-ancestors 'none'")
}

/// A page of a share link: `html` (nothing for `HEAD`) under `csp`, never cached.
fn html_page(html: String, head: bool, csp: &'static str) -> Response {
    let mut response = Response::new(if head {
        Body::empty()
    } else {
        Body::from(html)
    });
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// What an upload link was asked: the path below it, the request, and the link itself
/// (`/s/TOKEN/`, as the client spelled the token).
struct Asked<'a> {
    target: &'a Target,
    parts: &'a Parts,
    link: &'a str,
}

/// An upload link: the upload page at the link itself, `PUT` of a new file below it, nothing
/// else.
async fn upload(
    connection: &Connection,
    files: &FileService,
    claims: &Claims,
    asked: Asked<'_>,
    body: Body,
) -> Response {
    let Asked {
        target,
        parts,
        link,
    } = asked;
    if target.view == claims.path {
        return match parts.method {
            Method::GET => upload_page(connection, files, claims, parts, link, false),
            Method::HEAD => upload_page(connection, files, claims, parts, link, true),
            _ => not_allowed("GET, HEAD"),
        };
    }
    if parts.method != Method::PUT {
        return not_allowed("PUT");
    }
    if target.slash {
        return Fault::MethodNotAllowed.response();
    }
    // A stranger with the link adds files; replacing the owner's is not what it was made for.
    match files.stat(&target.view).await {
        Ok(_) => return Fault::Exists.response(),
        Err(error) if error.storage_kind() == Some(ferry_storage::ErrorKind::NotFound) => {}
        Err(error) => return Fault::File(&error).response(),
    }
    files::put(connection, files, target, body).await
}

/// The upload page of an upload link (`link` is `/s/TOKEN/`): the shared folder's name as
/// text, a picker and drop zone for `/.assets/upload.js`, and the `curl -T` line. It lists
/// nothing. A user who has lost the upload right there gets the file service's 403 instead,
/// as each upload would.
fn upload_page(
    connection: &Connection,
    files: &FileService,
    claims: &Claims,
    parts: &Parts,
    link: &str,
    head: bool,
) -> Response {
    if !files.rights_in(&claims.path).allows(Right::Upload) {
        let error = FileError::Denied {
            right: Right::Upload,
            folder: claims.path.to_string(),
        };
        return Fault::File(&error).response();
    }
    let shared_name = claims.path.file_name().unwrap_or(b"/");
    let name = String::from_utf8_lossy(&listing::shown_name(shared_name)).into_owned();
    let url = match authority(parts) {
        Some(host) => {
            let scheme = if connection.tls { "https" } else { "http" };
            format!("{scheme}://{host}{link}")
        }
        None => link.to_string(),
    };
    let mut html = String::with_capacity(2048);
    html.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>Upload to \u{201c}",
    );
    html.push_str(&escape(&name));
    html.push_str(
        "\u{201d} - Ferry</title>\
         <link rel=\"stylesheet\" href=\"/.assets/page.css\">\
         <script src=\"/.assets/upload.js\" defer></script></head>\n<body class=\"drop\" data-link=\"",
    );
    html.push_str(&escape(link));
    html.push_str("\">\n<main>\n<h1>Drop files into \u{201c}<span id=\"folder\">");
    html.push_str(&escape(&name));
    html.push_str(
        "</span>\u{201d}</h1>\n\
         <p class=\"note\">Files you send here go into this shared folder. What the folder \
         holds is not shown, and a file whose name is taken there is refused, not \
         replaced.</p>\n\
         <section id=\"tools\" class=\"js-only\" hidden>\
         <label class=\"button\">Choose files<input type=\"file\" id=\"picker\" multiple></label>\
         <span class=\"hint\">or drop files anywhere on this page</span>\
         <p id=\"status\" role=\"status\"></p><ul id=\"uploads\"></ul></section>\n\
         <p id=\"nojs\" class=\"error no-js\">Uploading from this page needs JavaScript.</p>\n\
         <p class=\"note\">From a terminal, one file at a time: <code id=\"curl\">curl -T FILE ",
    );
    html.push_str(&escape(&url));
    html.push_str("</code></p>\n</main></body></html>\n");
    let mut response = html_page(html, head, UPLOAD_PAGE_CSP);
    response
        .headers_mut()
        .insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

fn not_allowed(methods: &'static str) -> Response {
    let mut response = Fault::MethodNotAllowed.response();
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(methods));
    response
}

/// A share link made: the token and what it says.
#[derive(Debug)]
pub(crate) struct Created {
    pub(crate) token: String,
    pub(crate) claims: Claims,
}

/// Why a share link was not made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CreateError {
    /// The server has no share key.
    #[error("share links are not enabled on this server")]
    Off,
    /// Anonymous users share nothing.
    #[error("anonymous users cannot share")]
    Anonymous,
    /// The path is not there, or not a folder for an upload link, or a right is missing.
    #[error("{0}")]
    File(FileError),
    /// An upload link needs a folder.
    #[error("an upload link needs a folder")]
    NotAFolder,
    /// The link could not be signed.
    #[error("{0}")]
    Sign(#[from] share::ShareError),
}

/// Makes a share link of `path` (in the user's view) for the user of `files`, valid for
/// `valid` (`None`: never expires): a read link of a file or folder (the user needs the
/// `download` right there), or with `upload_only` an upload link of a folder (`upload`).
/// The page calls this for its share button.
pub(crate) async fn create(
    shared: &Shared,
    files: &FileService,
    path: &VirtualPath,
    valid: Option<Duration>,
    upload_only: bool,
) -> Result<Created, CreateError> {
    let keys = shared.config.share_keys.as_ref().ok_or(CreateError::Off)?;
    if files.name() == ANONYMOUS {
        return Err(CreateError::Anonymous);
    }
    let entry = files.stat(path).await.map_err(CreateError::File)?;
    let is_dir = entry.kind == EntryKind::Dir;
    let (right, folder) = match (upload_only, is_dir) {
        (true, false) => return Err(CreateError::NotAFolder),
        (true, true) => (Right::Upload, path.clone()),
        (false, true) => (Right::Download, path.clone()),
        (false, false) => (Right::Download, path.parent()),
    };
    if !files.rights_in(&folder).allows(right) {
        return Err(CreateError::File(FileError::Denied {
            right,
            folder: folder.to_string(),
        }));
    }
    let kind = if upload_only {
        Kind::Upload
    } else {
        Kind::Read
    };
    let claims = Claims::new(files.name(), path.clone(), kind, valid).map_err(|source| {
        share::ShareError::Io {
            path: "random".into(),
            source,
        }
    })?;
    let token = keys.sign(&claims)?;
    tracing::info!(user = files.name(), path = %path, id = claims.id_hex(), upload_only, "share link made");
    Ok(Created { token, claims })
}

/// Who asks `POST /.share`: the one place that authenticates it (Basic today).
async fn requester(
    connection: &Connection,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Arc<FileService>, Fault<'static>> {
    login::files(connection, method, headers).await
}

/// `POST /.share`, body `path=..&expires=7d&upload_only=1` (a form) or the same as JSON: the
/// link as JSON, `{"url", "token", "id", "expires"}` (Unix seconds, `null` for never).
pub(crate) async fn endpoint(
    State(connection): State<Arc<Connection>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method != Method::POST {
        return not_allowed("POST");
    }
    let files = match requester(&connection, &parts.method, &parts.headers).await {
        Ok(files) => files,
        Err(fault) => return fault.response(),
    };
    let bytes = match http_body_util::Limited::new(body, MAX_CREATE_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large".into()),
    };
    let is_json = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("application/json"));
    let request = match if is_json {
        from_json(&bytes)
    } else {
        from_form(&bytes)
    } {
        Ok(request) => request,
        Err(text) => return plain(StatusCode::BAD_REQUEST, text),
    };
    let Ok(path) = VirtualPath::root().resolve(request.path.as_bytes()) else {
        return plain(StatusCode::BAD_REQUEST, "not a path".into());
    };
    let valid = match request.expires.as_deref() {
        None => Some(DEFAULT_EXPIRY),
        Some(text) => match share::parse_expiry(text) {
            Ok(valid) => valid,
            Err(text) => return plain(StatusCode::BAD_REQUEST, text),
        },
    };
    let created = match create(
        &connection.shared,
        &files,
        &path,
        valid,
        request.upload_only,
    )
    .await
    {
        Ok(created) => created,
        Err(CreateError::File(error)) => return Fault::File(&error).response(),
        Err(CreateError::Off) => return Fault::NotFound.response(),
        Err(error @ (CreateError::Anonymous | CreateError::NotAFolder)) => {
            return plain(StatusCode::FORBIDDEN, error.to_string());
        }
        Err(CreateError::Sign(error)) => {
            tracing::warn!(%error, protocol = "http", "share link not made");
            return plain(StatusCode::BAD_REQUEST, error.to_string());
        }
    };
    let link = format!("/s/{}", created.token);
    let url = match authority(&parts) {
        Some(host) => {
            let scheme = if connection.tls { "https" } else { "http" };
            format!("{scheme}://{host}{link}")
        }
        None => link,
    };
    let value = serde_json::json!({
        "url": url,
        "token": created.token,
        "id": created.claims.id_hex(),
        "expires": created.claims.expires,
    });
    let mut response = Response::new(Body::from(format!("{value}\n")));
    *response.status_mut() = StatusCode::CREATED;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The host the client asked for (HTTP/2's `:authority`, else `Host`), when it is plain.
fn authority(parts: &Parts) -> Option<String> {
    let host = match parts.uri.authority() {
        Some(authority) => authority.as_str().to_string(),
        None => parts.headers.get(HOST)?.to_str().ok()?.to_string(),
    };
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        .then_some(host)
}

/// What `POST /.share` asks for.
#[derive(Debug, Default)]
struct CreateRequest {
    path: String,
    expires: Option<String>,
    upload_only: bool,
}

fn from_json(bytes: &[u8]) -> Result<CreateRequest, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| "the body is not JSON".to_string())?;
    let path = value
        .get("path")
        .and_then(|path| path.as_str())
        .ok_or("\"path\" is missing")?
        .to_string();
    let expires = match value.get("expires") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(text)) => Some(text.clone()),
        Some(_) => return Err("\"expires\" must be text like \"7d\" or \"never\"".into()),
    };
    let upload_only = match value.get("upload_only") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(flag)) => *flag,
        Some(_) => return Err("\"upload_only\" must be true or false".into()),
    };
    Ok(CreateRequest {
        path,
        expires,
        upload_only,
    })
}

fn from_form(bytes: &[u8]) -> Result<CreateRequest, String> {
    let mut request = CreateRequest::default();
    let mut has_path = false;
    for pair in bytes.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &b""[..]),
        };
        let value = form_decode(value).ok_or("malformed form body")?;
        match key {
            b"path" => {
                request.path = value;
                has_path = true;
            }
            b"expires" => request.expires = Some(value),
            b"upload_only" => {
                request.upload_only = matches!(value.as_str(), "1" | "true" | "on" | "yes");
            }
            _ => {}
        }
    }
    if !has_path {
        return Err("\"path\" is missing".into());
    }
    Ok(request)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; UTF-8 only.
fn form_decode(value: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(value.len());
    let mut at = 0;
    while let Some(&byte) = value.get(at) {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(value.get(at + 1..at + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                at += 2;
            }
            other => out.push(other),
        }
        at += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_text_and_links_are_one_segment() {
        assert_eq!(
            escape("<img src=x onerror=alert(1)>.txt"),
            "&lt;img src=x onerror=alert(1)&gt;.txt"
        );
        assert_eq!(encode(b"a b/..%"), "a%20b%2F..%25");
        assert_eq!(form_decode(b"a+b%2Fc"), Some("a b/c".into()));
        assert_eq!(form_decode(b"%zz"), None);
        let form = from_form(b"path=%2Fdocs&expires=2s&upload_only=1").unwrap();
        assert_eq!(form.path, "/docs");
        assert_eq!(form.expires.as_deref(), Some("2s"));
        assert!(form.upload_only);
        assert!(from_form(b"expires=1d").is_err());
        let json = from_json(br#"{"path":"/a","upload_only":false}"#).unwrap();
        assert_eq!(json.path, "/a");
        assert!(from_json(br#"{"path":"/a","upload_only":"x"}"#).is_err());
    }
}
