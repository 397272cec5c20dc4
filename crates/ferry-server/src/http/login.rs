//! HTTP Basic logins (RFC 7617) through the shared login (`crate::login`): the same users,
//! Argon2id hashes, delay and per-address bans as FTP and SFTP, failures counted together.
//!
//! A connection remembers the `Authorization` value that logged it in, with the user's files
//! (and so the user's session seat): the next request that carries the same value on the same
//! connection is served without another password check. Another value logs in anew. Across
//! connections the shared login's credential cache spares Argon2id for a password verified in
//! the last minutes. Without `Authorization`, a request is anonymous when the server allows
//! anonymous access, else answered 401 with a Basic challenge.
//!
//! Passwords never cross plain HTTP on a non-loopback address unless the server was started
//! with `--http-allow-insecure-login`: such a request is answered 403 before its password is
//! looked at, and is not counted as a failed login.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::http::Method;
use axum::http::header::AUTHORIZATION;
use base64::Engine;

use super::Connection;
use super::errors::Fault;
use super::session::{self, Found};
use crate::auth::{self, Anonymous};
use crate::login::{self, Refused};
use crate::service::{Client, FileService, Protocol};

/// The login a connection holds.
#[derive(Debug)]
pub(crate) struct Held {
    /// The `Authorization` value that proved it; `None` for an anonymous login without one.
    credential: Option<HeaderValue>,
    files: Arc<FileService>,
}

/// Who is asking: their files, and the browser session when a cookie proved it.
#[derive(Debug)]
pub(crate) struct Who {
    pub(crate) files: Arc<FileService>,
    pub(crate) session: Option<Found>,
}

/// The files of whoever the request says is asking (see [`who`]).
pub(crate) async fn files(
    connection: &Connection,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Arc<FileService>, Fault<'static>> {
    who(connection, method, headers).await.map(|who| who.files)
}

/// The one authentication of every request but the form login itself: a Basic credential,
/// else the session cookie, else anonymous when the server allows it.
///
/// A state-changing request from another origin (by `Origin` or `Sec-Fetch-Site`) is refused
/// whatever its credential; one authenticated by the cookie must also carry the session's
/// CSRF token in `X-CSRF-Token` (the no-JS logout form, the one form that changes state,
/// sends it as a field and is checked in [`super::page`]).
pub(crate) async fn who(
    connection: &Connection,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Who, Fault<'static>> {
    let changes = session::changes_state(method);
    if changes && session::foreign(headers, connection.tls) {
        return Err(Fault::CrossOrigin);
    }
    if headers.get(AUTHORIZATION).is_none()
        && let Some(found) = connection.shared.sessions.find(headers)
    {
        if changes {
            let given = headers
                .get("x-csrf-token")
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            if !session::token_matches(given, &found.csrf) {
                return Err(Fault::CsrfToken);
            }
        }
        return Ok(Who {
            files: Arc::clone(&found.files),
            session: Some(found),
        });
    }
    basic_or_anonymous(connection, headers)
        .await
        .map(|files| Who {
            files,
            session: None,
        })
}

/// The files of whoever `headers` say is asking by Basic (or anonymously), logging in when the
/// connection's current login does not fit.
async fn basic_or_anonymous(
    connection: &Connection,
    headers: &HeaderMap,
) -> Result<Arc<FileService>, Fault<'static>> {
    let credential = headers.get(AUTHORIZATION);
    // Held across the login, so that the streams of one HTTP/2 connection check a password
    // once rather than each on its own.
    let mut held = connection.login.lock().await;
    if let Some(current) = held.as_ref()
        && current.credential.as_ref() == credential
        && !current.files.member().removed().is_cancelled()
    {
        return Ok(Arc::clone(&current.files));
    }
    let shared = &connection.shared;
    let (name, secret) = match credential {
        None if shared.accounts.anonymous() == Anonymous::Off => return Err(Fault::LoginNeeded),
        None => (b"anonymous".to_vec(), Vec::new()),
        Some(value) => basic(value).ok_or(Fault::LoginNeeded)?,
    };
    if !auth::is_anonymous_name(&name) && !connection.passwords_allowed {
        return Err(Fault::InsecureLogin);
    }
    // The old login's seat is given back before a new one is taken.
    *held = None;
    let files = password(connection, &name, &secret).await?;
    *held = Some(Held {
        credential: credential.cloned(),
        files: Arc::clone(&files),
    });
    Ok(files)
}

/// A password login (Basic or the page's form) through the shared login: its delays, bans
/// and session limits. The caller has checked that a password may be sent here.
pub(crate) async fn password(
    connection: &Connection,
    name: &[u8],
    password: &[u8],
) -> Result<Arc<FileService>, Fault<'static>> {
    let shared = &connection.shared;
    let peer = connection.peer;
    let user = String::from_utf8_lossy(name).into_owned();
    let ban = shared.config.ban_time;
    let client = Client {
        protocol: Protocol::Http,
        peer,
    };
    match login::password(shared, client, name, password).await {
        Ok(files) => {
            tracing::info!(%peer, user = files.name(), protocol = "http", "logged in");
            Ok(files)
        }
        Err(Refused::Incorrect) => {
            tracing::warn!(%peer, user, protocol = "http", "login failed");
            Err(Fault::LoginNeeded)
        }
        Err(Refused::BannedNow) => {
            tracing::warn!(%peer, user, protocol = "http", "login failed");
            tracing::warn!(%peer, user, protocol = "http", "too many failed logins; address banned");
            Err(Fault::Banned(ban))
        }
        Err(Refused::Banned) => Err(Fault::Banned(ban)),
        Err(Refused::TooManySessions(limit)) => {
            tracing::info!(%peer, user, limit, protocol = "http", "login refused: too many sessions for this user");
            Err(Fault::TooManySessions)
        }
    }
}

/// The name and password of a `Basic` credential; `None` when it is not one.
fn basic(value: &HeaderValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let text = value.to_str().ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn basic_credentials() {
        let value = |text: &str| HeaderValue::from_str(text).unwrap();
        // "alice:pa:ss" (a password may hold colons).
        assert_eq!(
            basic(&value("Basic YWxpY2U6cGE6c3M=")),
            Some((b"alice".to_vec(), b"pa:ss".to_vec()))
        );
        assert_eq!(
            basic(&value("basic   YWxpY2U6")),
            Some((b"alice".to_vec(), Vec::new()))
        );
        assert_eq!(basic(&value("Bearer YWxpY2U6cGE6c3M=")), None);
        assert_eq!(basic(&value("Basic !!!")), None);
        // No colon.
        assert_eq!(basic(&value("Basic YWxpY2U=")), None);
    }
}
