//! Browser sessions: after a form login (`POST /.login`, see [`super::page`]), the browser
//! holds a cookie naming a server-side session, and each session has a CSRF token that every
//! state-changing request authenticated by the cookie must carry.
//!
//! A session id is 256 random bits (hex in the cookie); the table maps it to the user's files
//! (the login, with its seat), the CSRF token (another 256 random bits) and when it was last
//! used. A session unused for [`IDLE`] is gone; the table holds at most [`MAX_SESSIONS`], the
//! oldest dropped first. The table is in memory: a restart logs browsers out, which is fine
//! for a page (scripts use Basic).
//!
//! This module does NOT check passwords (the shared login does) or read requests beyond the
//! headers it is handed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::header::{COOKIE, HOST, ORIGIN};
use axum::http::{HeaderMap, HeaderValue, Method};
use ring::rand::SecureRandom;

use crate::service::FileService;

/// The cookie's name.
pub(crate) const COOKIE_NAME: &str = "ferry_session";
/// A session unused this long is gone.
pub(crate) const IDLE: Duration = Duration::from_secs(60 * 60);
/// Sessions held at once; a new one beyond this drops the least recently used.
const MAX_SESSIONS: usize = 10_000;

/// One browser's login.
#[derive(Debug)]
struct Entry {
    files: Arc<FileService>,
    csrf: String,
    last_used: Instant,
}

/// The session table.
#[derive(Debug)]
pub(crate) struct Sessions {
    table: Mutex<HashMap<String, Entry>>,
    random: ring::rand::SystemRandom,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            table: Mutex::new(HashMap::new()),
            random: ring::rand::SystemRandom::new(),
        }
    }
}

/// A session found from a request's cookie.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) id: String,
    pub(crate) files: Arc<FileService>,
    pub(crate) csrf: String,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves a table that is still consistent.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// 256 random bits as hex; `None` when the system has no randomness to give.
    fn token(&self) -> Option<String> {
        let mut bytes = [0u8; 32];
        if let Err(error) = self.random.fill(&mut bytes) {
            tracing::error!(?error, protocol = "http", "no randomness for a session id");
            return None;
        }
        Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A new session for `files`: its id and CSRF token.
    pub(crate) fn create(&self, files: Arc<FileService>) -> Option<Found> {
        let id = self.token()?;
        let csrf = self.token()?;
        let now = Instant::now();
        let mut table = self.lock();
        table.retain(|_, entry| now.duration_since(entry.last_used) < IDLE);
        if table.len() >= MAX_SESSIONS
            && let Some(oldest) = table
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(id, _)| id.clone())
        {
            table.remove(&oldest);
        }
        table.insert(
            id.clone(),
            Entry {
                files: Arc::clone(&files),
                csrf: csrf.clone(),
                last_used: now,
            },
        );
        Some(Found { id, files, csrf })
    }

    /// The live session named by the cookie in `headers`, its use noted.
    pub(crate) fn find(&self, headers: &HeaderMap) -> Option<Found> {
        let id = cookie(headers)?;
        let now = Instant::now();
        let mut table = self.lock();
        let entry = table.get_mut(id)?;
        if now.duration_since(entry.last_used) >= IDLE
            || entry.files.member().removed().is_cancelled()
        {
            table.remove(id);
            return None;
        }
        entry.last_used = now;
        Some(Found {
            id: id.to_string(),
            files: Arc::clone(&entry.files),
            csrf: entry.csrf.clone(),
        })
    }

    /// Ends the session `id` (logout).
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// The session id in the request's cookies, when there is one that looks like one.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| {
            *name == COOKIE_NAME
                && value.len() == 64
                && value.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value that gives the browser session `id` (`None`: one that ends it).
pub(crate) fn set_cookie(id: Option<&str>, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let text = match id {
        Some(id) => format!(
            "{COOKIE_NAME}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            IDLE.as_secs()
        ),
        None => format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    // Built from hex and fixed text only.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether `method` changes state (and so needs the CSRF token when a cookie authenticates).
pub(crate) fn changes_state(method: &Method) -> bool {
    !matches!(
        method.as_str(),
        "GET" | "HEAD" | "OPTIONS" | "PROPFIND" | "TRACE"
    )
}

/// Whether the request comes from another site: a `Sec-Fetch-Site` other than same-origin (or
/// none, a typed address), or an `Origin` that is not this server's (`null` included). A
/// request with neither header (an old browser, a script) is not judged foreign here.
pub(crate) fn foreign(headers: &HeaderMap, tls: bool) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return true;
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return false;
    };
    let host = headers
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or_default();
    let scheme = if tls { "https" } else { "http" };
    host.is_empty() || origin.as_bytes() != format!("{scheme}://{host}").as_bytes()
}

/// Whether `given` is the session's token, compared in constant time.
pub(crate) fn token_matches(given: &[u8], csrf: &str) -> bool {
    let expected = csrf.as_bytes();
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn cookies_and_origins() {
        let id = "ab".repeat(32);
        let text: &'static str =
            Box::leak(format!("a=b; {COOKIE_NAME}={id}; c=d").into_boxed_str());
        assert_eq!(cookie(&headers(&[("cookie", text)])), Some(id.as_str()));
        assert_eq!(cookie(&headers(&[("cookie", "ferry_session=short")])), None);
        assert!(!foreign(
            &headers(&[("host", "h:1"), ("origin", "http://h:1")]),
            false
        ));
        assert!(foreign(
            &headers(&[("host", "h:1"), ("origin", "http://h:1")]),
            true
        ));
        assert!(foreign(
            &headers(&[("host", "h:1"), ("origin", "http://evil")]),
            false
        ));
        assert!(foreign(
            &headers(&[("host", "h:1"), ("origin", "null")]),
            false
        ));
        assert!(foreign(
            &headers(&[("sec-fetch-site", "cross-site")]),
            false
        ));
        assert!(foreign(&headers(&[("sec-fetch-site", "same-site")]), false));
        assert!(!foreign(
            &headers(&[("sec-fetch-site", "same-origin")]),
            false
        ));
        assert!(!foreign(&headers(&[]), false));
        assert!(token_matches(b"abc", "abc"));
        assert!(!token_matches(b"abd", "abc"));
        assert!(!token_matches(b"", "abc"));
    }

    #[test]
    fn set_cookie_attributes() {
        let value = set_cookie(Some("00ff"), true);
        let text = value.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict"));
        assert!(text.contains("Path=/") && text.ends_with("; Secure"));
        assert!(
            !set_cookie(Some("00"), false)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }
}
