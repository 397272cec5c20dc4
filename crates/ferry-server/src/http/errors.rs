//! The one mapping from what went wrong to the HTTP status that says so. Handlers never pick an
//! error status themselves: they return a [`Fault`] and [`Fault::response`] answers it.
//!
//! Bodies are one short line of plain text naming the problem in the user's terms (a path in
//! the user's view at most); a storage error's message, which may hold a host path, goes to
//! the log only.

use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use ferry_proto::PathError;
use ferry_storage::ErrorKind;

use super::path::BadPath;
use crate::service::FileError;

/// How long a client should wait before trying a busy file again.
const RETRY_BUSY: Duration = Duration::from_secs(5);

/// What went wrong, as the HTTP front end tells the client.
#[derive(Debug)]
pub(crate) enum Fault<'a> {
    /// The file service refused or failed.
    File(&'a FileError),
    /// The request path cannot name a file.
    Path(BadPath),
    /// No login, or a wrong one: 401 with a Basic challenge.
    LoginNeeded,
    /// A password login over plain HTTP on an address where only HTTPS may carry passwords.
    InsecureLogin,
    /// A state-changing request from another origin.
    CrossOrigin,
    /// A state-changing request authenticated by the session cookie without its CSRF token.
    CsrfToken,
    /// Too many failed logins from the client's address.
    Banned(Duration),
    /// The account has as many sessions open as it may.
    TooManySessions,
    /// A folder was asked for without the final `/`, or a file with one: not here.
    NotFound,
    /// The method is not served here.
    MethodNotAllowed,
    /// The request body broke off or was refused on the way.
    BodyFailed,
    /// An authentic share link past its expiry: 410.
    Expired,
    /// An upload-only share link asked to replace a file that is there: 409.
    Exists,
}

impl Fault<'_> {
    /// The response for this fault.
    pub(crate) fn response(&self) -> Response {
        let (status, text) = match self {
            Fault::File(error) => return file_error(error),
            Fault::Path(bad) => (StatusCode::BAD_REQUEST, bad.to_string()),
            Fault::LoginNeeded => {
                let mut response = plain(StatusCode::UNAUTHORIZED, "login needed".into());
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"ferryd\", charset=\"UTF-8\""),
                );
                return response;
            }
            Fault::InsecureLogin => (
                StatusCode::FORBIDDEN,
                "password logins need HTTPS on this address".into(),
            ),
            Fault::CrossOrigin => (
                StatusCode::FORBIDDEN,
                "refused: the request comes from another site".into(),
            ),
            Fault::CsrfToken => (
                StatusCode::FORBIDDEN,
                "refused: the request lacks the page's CSRF token".into(),
            ),
            Fault::Banned(ban) => {
                let mut response = plain(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many failed logins from your address; try again later".into(),
                );
                retry_after(&mut response, *ban);
                return response;
            }
            Fault::TooManySessions => {
                let mut response = plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many sessions for this user".into(),
                );
                retry_after(&mut response, RETRY_BUSY);
                return response;
            }
            Fault::NotFound => (StatusCode::NOT_FOUND, "not found".into()),
            Fault::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "method not allowed".into())
            }
            Fault::BodyFailed => (
                StatusCode::BAD_REQUEST,
                "the request body did not arrive whole".into(),
            ),
            Fault::Expired => (StatusCode::GONE, "this share link has expired".into()),
            Fault::Exists => (
                StatusCode::CONFLICT,
                "a file of that name is there already".into(),
            ),
        };
        plain(status, text)
    }
}

/// The file service's errors: no right 403, missing 404, quota or full disk 507, bad name 400,
/// busy 503 with Retry-After, the rest 409 or 500.
fn file_error(error: &FileError) -> Response {
    let (status, text) = match error {
        FileError::Path(PathError::TooLong) => (StatusCode::BAD_REQUEST, "path too long".into()),
        FileError::Path(_) => (StatusCode::BAD_REQUEST, "not a file name".into()),
        FileError::Denied { .. } => (StatusCode::FORBIDDEN, error.to_string()),
        FileError::Quota(limit) => (
            StatusCode::INSUFFICIENT_STORAGE,
            format!("quota exceeded: {limit}"),
        ),
        FileError::Storage(storage) => match storage.kind() {
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not found".into()),
            ErrorKind::PermissionDenied => (StatusCode::FORBIDDEN, "permission denied".into()),
            ErrorKind::AlreadyExists => (StatusCode::METHOD_NOT_ALLOWED, "already exists".into()),
            ErrorKind::WrongKind => (
                StatusCode::CONFLICT,
                "a folder where a file is needed, or the other way round".into(),
            ),
            ErrorKind::NotEmpty => (StatusCode::CONFLICT, "the folder is not empty".into()),
            ErrorKind::NoSpace => (StatusCode::INSUFFICIENT_STORAGE, "no space left".into()),
            ErrorKind::QuotaExceeded => (StatusCode::INSUFFICIENT_STORAGE, "quota exceeded".into()),
            ErrorKind::BadName => (StatusCode::BAD_REQUEST, "name not allowed".into()),
            ErrorKind::Busy => {
                let mut response = plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "another upload to this file is running".into(),
                );
                retry_after(&mut response, RETRY_BUSY);
                return response;
            }
            ErrorKind::Unsupported => (StatusCode::NOT_IMPLEMENTED, "not supported".into()),
            ErrorKind::Other => {
                tracing::warn!(%storage, protocol = "http", "storage failure");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage failure; try again".into(),
                )
            }
        },
    };
    plain(status, text)
}

/// The file service's errors as `dav-server` takes them, for the WebDAV methods it answers
/// (see [`super::dav`]): the same statuses as [`file_error`] where its error kinds have one (no
/// right 403, missing 404, quota or full disk 507, already there 405); a refused name is 403
/// there (`FsError` has no 400), a busy file 500, which [`super::dav::serve`] answers as 400 and
/// 503 like the other methods. Server-side failures are logged by the
/// file service.
pub(crate) fn dav_error(error: &FileError) -> dav_server::fs::FsError {
    use dav_server::fs::FsError;
    match error {
        FileError::Path(PathError::TooLong) => FsError::PathTooLong,
        FileError::Path(_) | FileError::Denied { .. } => FsError::Forbidden,
        FileError::Quota(_) => FsError::InsufficientStorage,
        FileError::Storage(storage) => match storage.kind() {
            ErrorKind::NotFound => FsError::NotFound,
            ErrorKind::PermissionDenied | ErrorKind::BadName | ErrorKind::WrongKind => {
                FsError::Forbidden
            }
            ErrorKind::AlreadyExists | ErrorKind::NotEmpty => FsError::Exists,
            ErrorKind::NoSpace | ErrorKind::QuotaExceeded => FsError::InsufficientStorage,
            ErrorKind::Unsupported => FsError::NotImplemented,
            ErrorKind::Busy | ErrorKind::Other => FsError::GeneralFailure,
        },
    }
}

/// A response of `status` whose body is `text` and a newline.
pub(crate) fn plain(status: StatusCode, mut text: String) -> Response {
    text.push('\n');
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn retry_after(response: &mut Response, wait: Duration) {
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
}
