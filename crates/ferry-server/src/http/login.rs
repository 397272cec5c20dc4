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
use axum::http::header::AUTHORIZATION;
use base64::Engine;

use super::Connection;
use super::errors::Fault;
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

/// The files of whoever `headers` say is asking, logging in when the connection's current
/// login does not fit.
pub(crate) async fn files(
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
    let (name, password) = match credential {
        None if shared.accounts.anonymous() == Anonymous::Off => return Err(Fault::LoginNeeded),
        None => (b"anonymous".to_vec(), Vec::new()),
        Some(value) => basic(value).ok_or(Fault::LoginNeeded)?,
    };
    if !auth::is_anonymous_name(&name) && !connection.passwords_allowed {
        return Err(Fault::InsecureLogin);
    }
    // The old login's seat is given back before a new one is taken.
    *held = None;
    let peer = connection.peer;
    let user = String::from_utf8_lossy(&name).into_owned();
    let ban = shared.config.ban_time;
    let client = Client {
        protocol: Protocol::Http,
        peer,
    };
    match login::password(shared, client, &name, &password).await {
        Ok(files) => {
            tracing::info!(%peer, user = files.name(), protocol = "http", "logged in");
            *held = Some(Held {
                credential: credential.cloned(),
                files: Arc::clone(&files),
            });
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
