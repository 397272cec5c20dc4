//! The browser page: a folder's listing as HTML (breadcrumbs, sorting by query string, download
//! links) that works without JavaScript, the form login (`GET`/`POST /.login`), logout
//! (`POST /.logout`) and the page's own CSS and JavaScript under `/.assets/`, embedded in the
//! binary. The JavaScript adds uploads (tus, to `/.tus/`), new folder, rename, delete and share.
//! `upload.js`, served here too, is the script of an upload link's page ([`super::share`]).
//!
//! Every name is escaped before it enters the HTML; the page's JavaScript sets names with
//! `textContent` only. The page is served with a strict Content-Security-Policy (no inline
//! script or style; nothing from elsewhere) and `frame-ancestors 'none'`.
//!
//! This module does NOT check passwords ([`super::login`]) or keep sessions ([`super::session`]).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::extract::State;
use axum::http::header::{
    ACCEPT, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use ferry_proto::listing::{self, Entry, EntryKind};
use http_body_util::BodyExt;

use super::errors::Fault;
use super::path::Target;
use super::session::{self, Found};
use super::{Connection, login};
use crate::service::FileService;

/// The page's policy: its own script and style only, no frames, forms only to itself.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const PAGE_CSS: &str = include_str!("page/page.css");
const PAGE_JS: &str = concat!(include_str!("page/rows.js"), include_str!("page/page.js"));
/// The upload page of an upload-only share link ([`super::share`]).
const UPLOAD_JS: &str = concat!(include_str!("page/rows.js"), include_str!("page/upload.js"));
/// Entries a page shows at most (the JSON listing and WebDAV have no such limit).
const MAX_ENTRIES: usize = 20_000;
/// Largest login form body.
const MAX_FORM: usize = 8 * 1024;

/// Whether the request is a browser's asking for a page.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// The page's security headers on `response`.
fn protect(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    protect(&mut response);
    response
}

fn see_other(location: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// A browser without a login, sent to the form, which brings it back to `path` afterwards.
pub(crate) fn to_login(path_and_query: &str) -> Response {
    see_other(&format!(
        "/.login?next={}",
        encode(path_and_query.as_bytes())
    ))
}

/// `text` with `&`, `<`, `>`, `"` and `'` as entities: safe in element text and in quoted
/// attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `bytes` percent-encoded but for the unreserved characters (RFC 3986): one path segment.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `text` percent-decoded (lossy), for labels.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of `key` in a query or form body (`a=b&c=d`), decoded (`+` is a space).
fn field(text: &str, key: &str) -> Option<String> {
    text.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == key).then(|| decode(&value.replace('+', " ")))
    })
}

/// Which column sorts the listing, and which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Name,
    Size,
    Modified,
}

/// `GET /dir/` from a browser: the folder as a page.
pub(crate) async fn folder(
    files: &FileService,
    target: &Target,
    raw_path: &str,
    query: Option<&str>,
    session: Option<&Found>,
    head: bool,
) -> Response {
    let mut listing = match files.list(&target.view).await {
        Ok(listing) => listing,
        Err(error) => return Fault::File(&error).response(),
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut truncated = false;
    while let Some(entry) = listing.next().await {
        match entry {
            Ok(entry) if entries.len() < MAX_ENTRIES => entries.push(entry),
            Ok(_) => {
                truncated = true;
                break;
            }
            Err(error) => {
                tracing::warn!(%error, protocol = "http", "listing failed");
                return super::errors::plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "listing failed; try again".into(),
                );
            }
        }
    }
    let query = query.unwrap_or_default();
    let sort = match field(query, "sort").as_deref() {
        Some("size") => Sort::Size,
        Some("modified") => Sort::Modified,
        _ => Sort::Name,
    };
    let descending = field(query, "order").as_deref() == Some("desc");
    entries.sort_by(|a, b| {
        let dirs_first = (b.kind == EntryKind::Dir).cmp(&(a.kind == EntryKind::Dir));
        let by = match sort {
            Sort::Name => a.name.cmp(&b.name),
            Sort::Size => a.size.cmp(&b.size).then_with(|| a.name.cmp(&b.name)),
            Sort::Modified => a
                .modified
                .cmp(&b.modified)
                .then_with(|| a.name.cmp(&b.name)),
        };
        dirs_first.then(if descending { by.reverse() } else { by })
    });
    let body = render(
        files, target, raw_path, &entries, sort, descending, session, truncated,
    );
    let mut response = html(StatusCode::OK, if head { String::new() } else { body });
    if head {
        *response.body_mut() = Body::empty();
    }
    response
}

#[allow(clippy::too_many_arguments)]
fn render(
    files: &FileService,
    target: &Target,
    raw_path: &str,
    entries: &[Entry],
    sort: Sort,
    descending: bool,
    session: Option<&Found>,
    truncated: bool,
) -> String {
    let shown_path = target.view.to_string();
    let folder_path = if shown_path.ends_with('/') {
        shown_path.clone()
    } else {
        format!("{shown_path}/")
    };
    let csrf = session.map(|found| found.csrf.as_str()).unwrap_or_default();
    let mut out = String::with_capacity(4096 + entries.len() * 400);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} - Ferry</title>\
         <link rel=\"stylesheet\" href=\"/.assets/page.css\">\
         <script src=\"/.assets/page.js\" defer></script></head>\n\
         <body data-csrf=\"{csrf}\" data-path=\"{path}\" data-href=\"{href}\">\n<header>",
        title = escape(&folder_path),
        csrf = escape(csrf),
        path = escape(&folder_path),
        href = escape(raw_path),
    );
    // Breadcrumbs from the request's own (encoded) path, so that each link is exactly a prefix.
    out.push_str("<nav class=\"crumbs\" aria-label=\"folders\"><a href=\"/\">Home</a>");
    let mut prefix = String::from("/");
    for segment in raw_path.split('/').filter(|s| !s.is_empty()) {
        prefix.push_str(segment);
        prefix.push('/');
        let _ = write!(
            out,
            "<span class=\"sep\">/</span><a href=\"{}\">{}</a>",
            escape(&prefix),
            escape(&decode(segment))
        );
    }
    out.push_str("</nav><div class=\"who\">");
    if session.is_some() {
        let _ = write!(
            out,
            "<span class=\"user\">{}</span>\
             <form method=\"post\" action=\"/.logout\" class=\"logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">Log out</button></form>",
            escape(files.name()),
            escape(csrf)
        );
    } else {
        let _ = write!(
            out,
            "<span class=\"user\">{}</span> <a href=\"/.login?next={}\">Log in</a>",
            escape(files.name()),
            escape(&encode(raw_path.as_bytes()))
        );
    }
    out.push_str("</div></header>\n<main>\n");
    out.push_str(
        "<section id=\"tools\" class=\"js-only\" hidden>\
         <label class=\"button\">Upload files<input type=\"file\" id=\"picker\" multiple></label>\
         <button type=\"button\" id=\"mkdir\">New folder</button>\
         <span class=\"hint\">or drop files anywhere on the page</span>\
         <p id=\"status\" role=\"status\"></p><ul id=\"uploads\"></ul></section>\n",
    );
    out.push_str("<table id=\"listing\"><thead><tr>");
    for (column, label, class) in [
        (Sort::Name, "Name", "name"),
        (Sort::Size, "Size", "size"),
        (Sort::Modified, "Modified", "modified"),
    ] {
        let current = column == sort;
        let order = if current && !descending {
            "desc"
        } else {
            "asc"
        };
        let mark = match (current, descending) {
            (true, false) => " \u{25b2}",
            (true, true) => " \u{25bc}",
            _ => "",
        };
        let _ = write!(
            out,
            "<th class=\"{class}\"{aria}><a href=\"?sort={class}&amp;order={order}\">{label}{mark}</a></th>",
            aria = if current {
                if descending {
                    " aria-sort=\"descending\""
                } else {
                    " aria-sort=\"ascending\""
                }
            } else {
                ""
            },
        );
    }
    out.push_str("<th class=\"actions\">Actions</th></tr></thead>\n<tbody>\n");
    if target.view.to_string() != "/" {
        out.push_str(
            "<tr class=\"up\"><td class=\"name\"><a href=\"../\">..</a></td><td></td><td></td><td></td></tr>\n",
        );
    }
    for entry in entries {
        let name = String::from_utf8_lossy(&listing::shown_name(&entry.name)).into_owned();
        let dir = entry.kind == EntryKind::Dir;
        let href = if dir {
            format!("{}/", encode(&entry.name))
        } else {
            encode(&entry.name)
        };
        let size = if dir {
            String::new()
        } else {
            human_size(entry.size)
        };
        let modified = entry.modified.map(date).unwrap_or_default();
        let _ = write!(
            out,
            "<tr class=\"{kind}\" data-name=\"{name_attr}\" data-href=\"{href_attr}\">\
             <td class=\"name\"><a href=\"{href_attr}\">{name_text}</a></td>\
             <td class=\"size\">{size}</td><td class=\"modified\">{modified}</td>\
             <td class=\"actions\">",
            kind = if dir { "dir" } else { "file" },
            name_attr = escape(&name),
            href_attr = escape(&href),
            name_text = escape(&name),
        );
        if !dir {
            let _ = write!(
                out,
                "<a class=\"download\" href=\"{}\" download>Download</a> ",
                escape(&href)
            );
        } else {
            let _ = write!(
                out,
                "<a class=\"download\" href=\"{}?zip\">Zip</a> ",
                escape(&href)
            );
        }
        out.push_str(
            "<span class=\"js-only\" hidden><button type=\"button\" class=\"rename\">Rename</button> \
             <button type=\"button\" class=\"delete\">Delete</button> \
             <button type=\"button\" class=\"share\">Share</button></span></td></tr>\n",
        );
    }
    out.push_str("</tbody></table>\n");
    if entries.is_empty() {
        out.push_str("<p class=\"empty\">This folder is empty.</p>\n");
    }
    if truncated {
        let _ = writeln!(
            out,
            "<p class=\"note\">Only the first {MAX_ENTRIES} entries are shown; \
             the <a href=\"?format=json\">JSON listing</a> has them all.</p>"
        );
    }
    out.push_str("</main></body></html>\n");
    out
}

/// `bytes` for people: `512 B`, `1.5 KiB`, `3.0 MiB`...
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Unix seconds as `YYYY-MM-DD HH:MM` UTC.
fn date(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// The login form, with `message` above it when there is one.
fn login_page(status: StatusCode, next: &str, message: &str, anonymous: bool) -> Response {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Log in - Ferry</title><link rel=\"stylesheet\" href=\"/.assets/page.css\"></head>\n\
         <body class=\"login\"><main><h1>Ferry</h1>",
    );
    if !message.is_empty() {
        let _ = write!(
            out,
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(message)
        );
    }
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/.login\">\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label>User <input name=\"user\" id=\"user\" autocomplete=\"username\" required autofocus></label>\
         <label>Password <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\
         <button type=\"submit\" id=\"login\">Log in</button></form>",
        escape(next)
    );
    if anonymous {
        out.push_str("<p><a href=\"/\">Continue without logging in</a></p>");
    }
    out.push_str("</main></body></html>\n");
    html(status, out)
}

/// Where to go after logging in: a path on this server only (never `//host` or a scheme).
fn safe_next(next: Option<String>) -> String {
    match next {
        Some(next) if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') => {
            next
        }
        _ => "/".into(),
    }
}

/// Reads a small form body; `None` when it is too large or breaks off.
async fn form_body(body: Body) -> Option<String> {
    let limited = http_body_util::Limited::new(body, MAX_FORM);
    let bytes = limited.collect().await.ok()?.to_bytes();
    String::from_utf8(bytes.to_vec()).ok()
}

/// `/.login`: the form (`GET`), or a login with it (`POST`): the same shared login as Basic
/// (delays, bans, the insecure-login rule), then a session cookie.
pub(crate) async fn login(State(connection): State<Arc<Connection>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let anonymous = connection.shared.accounts.anonymous() != crate::auth::Anonymous::Off;
    let response = match parts.method {
        Method::GET | Method::HEAD => {
            let next = safe_next(parts.uri.query().and_then(|q| field(q, "next")));
            let message = if connection.passwords_allowed {
                ""
            } else {
                "Password logins need HTTPS on this address."
            };
            login_page(StatusCode::OK, &next, message, anonymous)
        }
        Method::POST => {
            if session::foreign(&parts.headers, connection.tls) {
                Fault::CrossOrigin.response()
            } else if !connection.passwords_allowed {
                login_page(
                    StatusCode::FORBIDDEN,
                    "/",
                    "Password logins need HTTPS on this address.",
                    anonymous,
                )
            } else {
                match form_body(body).await {
                    None => super::errors::plain(
                        StatusCode::BAD_REQUEST,
                        "the login form did not arrive whole".into(),
                    ),
                    Some(form) => form_login(&connection, &form, anonymous).await,
                }
            }
        }
        _ => Fault::MethodNotAllowed.response(),
    };
    log(&connection, &parts.method, "/.login", &response);
    response
}

async fn form_login(connection: &Connection, form: &str, anonymous: bool) -> Response {
    let next = safe_next(field(form, "next"));
    let user = field(form, "user").unwrap_or_default();
    let password = field(form, "password").unwrap_or_default();
    match login::password(connection, user.as_bytes(), password.as_bytes()).await {
        Ok(files) => match connection.shared.sessions.create(files) {
            Some(found) => {
                let mut response = see_other(&next);
                response.headers_mut().insert(
                    SET_COOKIE,
                    session::set_cookie(Some(&found.id), connection.tls),
                );
                response
            }
            None => super::errors::plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not start a session; try again".into(),
            ),
        },
        Err(Fault::LoginNeeded) => login_page(
            StatusCode::UNAUTHORIZED,
            &next,
            "Wrong user name or password.",
            anonymous,
        ),
        Err(Fault::Banned(_)) => login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            "Too many failed logins from your address; try again later.",
            anonymous,
        ),
        Err(fault) => fault.response(),
    }
}

/// `POST /.logout`: ends the session (the CSRF token in `X-CSRF-Token` or the form's `csrf`
/// field) and clears the cookie.
pub(crate) async fn logout(
    State(connection): State<Arc<Connection>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let response = if parts.method != Method::POST {
        Fault::MethodNotAllowed.response()
    } else if session::foreign(&parts.headers, connection.tls) {
        Fault::CrossOrigin.response()
    } else {
        match connection.shared.sessions.find(&parts.headers) {
            None => see_other("/.login"),
            Some(found) => {
                let header = parts
                    .headers
                    .get("x-csrf-token")
                    .map(|value| value.as_bytes().to_vec());
                let given = match header {
                    Some(given) => given,
                    None => form_body(body)
                        .await
                        .and_then(|form| field(&form, "csrf"))
                        .unwrap_or_default()
                        .into_bytes(),
                };
                if session::token_matches(&given, &found.csrf) {
                    connection.shared.sessions.remove(&found.id);
                    tracing::info!(peer = %connection.peer, user = found.files.name(), protocol = "http", "logged out");
                    let mut response = see_other("/.login");
                    response
                        .headers_mut()
                        .insert(SET_COOKIE, session::set_cookie(None, connection.tls));
                    response
                } else {
                    Fault::CsrfToken.response()
                }
            }
        }
    };
    log(&connection, &parts.method, "/.logout", &response);
    response
}

/// `GET /.assets/NAME`: the page's CSS and JavaScript, and the upload link page's script.
pub(crate) async fn asset(request: Request) -> Response {
    let (body, content_type) = match request.uri().path() {
        "/.assets/page.css" => (PAGE_CSS, "text/css; charset=utf-8"),
        "/.assets/page.js" => (PAGE_JS, "text/javascript; charset=utf-8"),
        "/.assets/upload.js" => (UPLOAD_JS, "text/javascript; charset=utf-8"),
        _ => return Fault::NotFound.response(),
    };
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Fault::MethodNotAllowed.response();
    }
    let mut response = Response::new(if request.method() == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    });
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    response
}

fn log(connection: &Connection, method: &Method, path: &str, response: &Response) {
    tracing::info!(
        peer = %connection.peer,
        protocol = "http",
        method = method.as_str(),
        path,
        status = response.status().as_u16(),
        "request"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_encoding_and_dates() {
        assert_eq!(
            escape("<img src=x onerror=alert(1)>.txt"),
            "&lt;img src=x onerror=alert(1)&gt;.txt"
        );
        assert_eq!(escape("a\"b'c&"), "a&quot;b&#39;c&amp;");
        assert_eq!(encode(b"a b/<c>.txt"), "a%20b%2F%3Cc%3E.txt");
        assert_eq!(decode("a%20b%2F"), "a b/");
        assert_eq!(
            field("user=al+ice&password=p%26w", "password").as_deref(),
            Some("p&w")
        );
        assert_eq!(field("user=al+ice", "user").as_deref(), Some("al ice"));
        assert_eq!(safe_next(Some("//evil.example/".into())), "/");
        assert_eq!(safe_next(Some("https://evil/".into())), "/");
        assert_eq!(safe_next(Some("/a/b/".into())), "/a/b/");
        assert_eq!(date(0), "1970-01-01 00:00");
        assert_eq!(date(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(10), "10 B");
    }
}
