//! One account's WebDAV lock table: `dav-server`'s `MemLs` (which evaluates conflicts, depth
//! and tokens), with what it lacks for a server that runs for months: locks expire (`MemLs`
//! keeps a lock past its timeout, and forever when the client named none, so a client that
//! crashed would leave a file locked until a restart), and their number is bounded.
//!
//! Every lock gets a timeout ([`DEFAULT_TIMEOUT`] when the client asked for none or for
//! `Infinite`); each call first unlocks the locks whose time has passed. Past [`MAX_LOCKS`]
//! live locks a new `LOCK` is refused as if it conflicted (423).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dav_server::davpath::DavPath;
use dav_server::ls::{DavLock, DavLockSystem, LsFuture};
use dav_server::memls::MemLs;
use xmltree::Element;

/// A lock's life when the client did not say.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Live locks of one account.
const MAX_LOCKS: usize = 10_000;

/// The lock table of one account (cheap to clone: clones share it).
#[derive(Debug, Clone)]
pub(super) struct Locks {
    inner: Box<MemLs>,
    /// Every live lock: its path, token and end.
    held: Arc<Mutex<Vec<Held>>>,
}

#[derive(Debug)]
struct Held {
    path: DavPath,
    token: String,
    until: Instant,
}

impl Locks {
    pub(super) fn new() -> Locks {
        Locks {
            inner: MemLs::new(),
            held: Arc::default(),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Vec<Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Unlocks the locks whose time has passed.
    async fn expire(&self) {
        let now = Instant::now();
        let expired: Vec<Held> = {
            let mut held = self.held();
            let (gone, live) = held.drain(..).partition(|lock| lock.until <= now);
            *held = live;
            gone
        };
        for lock in expired {
            let _ = self.inner.unlock(&lock.path, &lock.token).await;
        }
    }
}

/// Whether `path` is `folder` or beneath it.
fn within(path: &DavPath, folder: &DavPath) -> bool {
    let (path, folder) = (path.as_bytes(), folder.as_bytes());
    let folder = folder.strip_suffix(b"/").unwrap_or(folder);
    path.starts_with(folder) && matches!(path.get(folder.len()), None | Some(b'/'))
}

impl DavLockSystem for Locks {
    fn lock(
        &'_ self,
        path: &DavPath,
        principal: Option<&str>,
        owner: Option<&Element>,
        timeout: Option<Duration>,
        shared: bool,
        deep: bool,
    ) -> LsFuture<'_, Result<DavLock, DavLock>> {
        let path = path.clone();
        let principal = principal.map(str::to_string);
        let owner = owner.cloned();
        Box::pin(async move {
            self.expire().await;
            if self.held().len() >= MAX_LOCKS {
                tracing::warn!(
                    limit = MAX_LOCKS,
                    protocol = "http",
                    "lock refused: too many locks"
                );
                return Err(DavLock {
                    token: String::new(),
                    path: Box::new(path),
                    principal,
                    owner: None,
                    timeout_at: None,
                    timeout: None,
                    shared: false,
                    deep,
                });
            }
            let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
            let lock = self
                .inner
                .lock(
                    &path,
                    principal.as_deref(),
                    owner.as_ref(),
                    Some(timeout),
                    shared,
                    deep,
                )
                .await?;
            self.held().push(Held {
                path: (*lock.path).clone(),
                token: lock.token.clone(),
                until: Instant::now() + timeout,
            });
            Ok(lock)
        })
    }

    fn unlock(&'_ self, path: &DavPath, token: &str) -> LsFuture<'_, Result<(), ()>> {
        let path = path.clone();
        let token = token.to_string();
        Box::pin(async move {
            self.expire().await;
            let result = self.inner.unlock(&path, &token).await;
            if result.is_ok() {
                self.held().retain(|lock| lock.token != token);
            }
            result
        })
    }

    fn refresh(
        &'_ self,
        path: &DavPath,
        token: &str,
        timeout: Option<Duration>,
    ) -> LsFuture<'_, Result<DavLock, ()>> {
        let path = path.clone();
        let token = token.to_string();
        Box::pin(async move {
            self.expire().await;
            let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
            let lock = self.inner.refresh(&path, &token, Some(timeout)).await?;
            for held in self.held().iter_mut().filter(|held| held.token == token) {
                held.until = Instant::now() + timeout;
            }
            Ok(lock)
        })
    }

    fn check(
        &'_ self,
        path: &DavPath,
        principal: Option<&str>,
        ignore_principal: bool,
        deep: bool,
        submitted_tokens: &[String],
    ) -> LsFuture<'_, Result<(), DavLock>> {
        let path = path.clone();
        let principal = principal.map(str::to_string);
        let tokens = submitted_tokens.to_vec();
        Box::pin(async move {
            self.expire().await;
            self.inner
                .check(&path, principal.as_deref(), ignore_principal, deep, &tokens)
                .await
        })
    }

    fn discover(&'_ self, path: &DavPath) -> LsFuture<'_, Vec<DavLock>> {
        let path = path.clone();
        Box::pin(async move {
            self.expire().await;
            self.inner.discover(&path).await
        })
    }

    fn delete(&'_ self, path: &DavPath) -> LsFuture<'_, Result<(), ()>> {
        let path = path.clone();
        Box::pin(async move {
            let result = self.inner.delete(&path).await;
            self.held().retain(|lock| !within(&lock.path, &path));
            result
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn path(text: &str) -> DavPath {
        DavPath::new(text).unwrap()
    }

    #[tokio::test]
    async fn locks_expire_and_are_bounded() {
        let locks = Locks::new();
        let file = path("/a/file");
        locks
            .lock(&file, Some("u"), None, Some(Duration::ZERO), false, false)
            .await
            .unwrap();
        // Its time has passed: the next caller finds the file free.
        assert!(locks.check(&file, None, true, false, &[]).await.is_ok());
        assert!(locks.held().is_empty());

        let held = locks
            .lock(&file, Some("u"), None, None, false, false)
            .await
            .unwrap();
        assert_eq!(held.timeout, Some(DEFAULT_TIMEOUT));
        assert!(locks.check(&file, None, true, false, &[]).await.is_err());
        locks.delete(&path("/a/")).await.unwrap();
        assert!(locks.held().is_empty());

        for n in 0..MAX_LOCKS {
            let shared = path(&format!("/many/{n}"));
            locks
                .lock(&shared, Some("u"), None, None, true, false)
                .await
                .unwrap();
        }
        assert!(
            locks
                .lock(&path("/one/more"), Some("u"), None, None, false, false)
                .await
                .is_err()
        );
    }

    #[test]
    fn within_a_folder() {
        assert!(within(&path("/a/b"), &path("/a/")));
        assert!(within(&path("/a"), &path("/a")));
        assert!(!within(&path("/ab"), &path("/a")));
    }
}
