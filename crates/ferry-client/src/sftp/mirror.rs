//! Mirroring a tree over SFTP either way, as [`crate::transfer::mirror`] does over FTP: plan the
//! files from READDIR listings (skipping those identical in size and time), then move them over
//! one or more sessions. SFTP gives times to the second and SETSTAT sets them, so a file counts
//! as unchanged only when its size and modification time are both equal; downloaded files get
//! the remote time, uploaded ones the local time.
//!
//! Each file moves with many requests in flight (see `transfer.rs`); `parallel` adds sessions
//! for trees of many small files. This module prints nothing but the host-key line of
//! [`mirror_url`], as the other one-shot commands do.

use std::path::{Path, PathBuf};

use ferry_proto::listing::EntryKind;
use ferry_proto::sftp::StatusCode;

use super::files::{self, download, entry, mkdir_all, upload};
use super::{SftpConnector, SftpSession};
use crate::ClientError;
use crate::oneshot::Globals;
use crate::progress::ProgressMode;
use crate::transfer::{
    Direction, MirrorQueue, MirrorReport, join_remote, same_time, set_local_modified, unix_secs,
};
use crate::url::SftpUrl;

/// One file to move.
#[derive(Debug, Clone)]
struct Job {
    remote: String,
    local: PathBuf,
    modified: Option<i64>,
}

/// `ferry mirror` with an `sftp://` URL: `remote_url` is the remote folder, `local` the local
/// one; `direction` says which is the source.
pub async fn mirror_url(
    globals: &Globals,
    direction: Direction,
    remote_url: &str,
    local: &Path,
    parallel: usize,
) -> Result<MirrorReport, ClientError> {
    let url = SftpUrl::parse(remote_url)?;
    let connector = files::connector(globals, &url);
    let mut session = files::open(globals, &url).await?;
    let remote = url.path.trim_end_matches('/');
    let remote = if remote.is_empty() && url.path.starts_with('/') {
        "/"
    } else {
        remote
    };
    let result = mirror(
        &mut session,
        Some(&connector),
        direction,
        remote,
        local,
        parallel,
        &globals.progress,
    )
    .await;
    session.quit().await;
    result
}

/// Mirrors a tree over `session`. `remote` is a remote folder (absolute, or relative to the
/// login folder; empty is the login folder), `local` a local folder. With `parallel > 1`,
/// `connector` opens the extra sessions (a session that cannot be opened leaves its share to
/// the others).
pub async fn mirror(
    session: &mut SftpSession,
    connector: Option<&SftpConnector>,
    direction: Direction,
    remote: &str,
    local: &Path,
    parallel: usize,
    progress: &ProgressMode,
) -> Result<MirrorReport, ClientError> {
    let mut report = MirrorReport::default();
    let jobs = match direction {
        Direction::Download => plan_download(session, remote, local, &mut report).await?,
        Direction::Upload => plan_upload(session, remote, local, &mut report).await?,
    };
    let queue = MirrorQueue::new(jobs, report);
    let mut workers = tokio::task::JoinSet::new();
    if let Some(connector) = connector {
        for _ in 0..queue.extra_sessions(parallel) {
            let connector = connector.clone();
            let (queue, progress) = (queue.clone(), progress.clone());
            workers.spawn(async move {
                if let Ok((mut session, _)) = connector.open(|_: &str| None).await {
                    work(&mut session, direction, &queue, &progress).await;
                    session.quit().await;
                }
            });
        }
    }
    work(session, direction, &queue, progress).await;
    while workers.join_next().await.is_some() {}
    Ok(queue.finish(|job| job.remote))
}

async fn work(
    session: &mut SftpSession,
    direction: Direction,
    queue: &MirrorQueue<Job>,
    progress: &ProgressMode,
) {
    loop {
        let Some(job) = queue.next() else {
            return;
        };
        let mut reporter = progress.reporter();
        let result = match direction {
            Direction::Download => {
                let result = download(
                    session,
                    &job.remote,
                    &job.local,
                    false,
                    false,
                    reporter.as_mut(),
                )
                .await;
                match (result, job.modified) {
                    (Ok(stats), Some(modified)) => {
                        set_local_modified(&job.local, modified).map(|()| stats)
                    }
                    (result, _) => result,
                }
            }
            Direction::Upload => {
                let result =
                    upload(session, &job.local, &job.remote, false, reporter.as_mut()).await;
                if let (Ok(_), Some(modified)) = (&result, job.modified) {
                    let _ = session.set_modified(&job.remote, modified).await;
                }
                result
            }
        };
        queue.record(&job.remote, result.map(|stats| stats.bytes));
    }
}

/// True for a name a listing may not make us write: a path, `.` or `..`.
fn unsafe_name(name: &str) -> bool {
    name.is_empty() || name.contains(['/', '\\', '\0']) || name == "." || name == ".."
}

async fn plan_download(
    session: &mut SftpSession,
    remote: &str,
    local: &Path,
    report: &mut MirrorReport,
) -> Result<Vec<Job>, ClientError> {
    let mut jobs = Vec::new();
    let mut folders = vec![(remote.to_string(), local.to_path_buf())];
    while let Some((folder, target)) = folders.pop() {
        std::fs::create_dir_all(&target).map_err(|source| ClientError::local(&target, source))?;
        for name in session.list(&folder).await? {
            let entry = entry(name);
            let name = String::from_utf8_lossy(&entry.name).into_owned();
            if unsafe_name(&name) {
                continue;
            }
            let remote_path = join_remote(&folder, &name);
            let local_path = target.join(&name);
            match entry.kind {
                EntryKind::Dir => folders.push((remote_path, local_path)),
                EntryKind::File | EntryKind::Link => {
                    let same = std::fs::metadata(&local_path).is_ok_and(|meta| {
                        meta.is_file()
                            && meta.len() == entry.size
                            && match (entry.modified, unix_secs(meta.modified().ok())) {
                                (Some(remote), Some(local)) => same_time(remote, local, true),
                                (Some(_), None) => false,
                                (None, _) => true,
                            }
                    });
                    if same {
                        report.skipped += 1;
                    } else {
                        jobs.push(Job {
                            remote: remote_path,
                            local: local_path,
                            modified: entry.modified,
                        });
                    }
                }
            }
        }
    }
    Ok(jobs)
}

async fn plan_upload(
    session: &mut SftpSession,
    remote: &str,
    local: &Path,
    report: &mut MirrorReport,
) -> Result<Vec<Job>, ClientError> {
    let meta = std::fs::metadata(local).map_err(|source| ClientError::local(local, source))?;
    if !meta.is_dir() {
        return Err(ClientError::local(
            local,
            std::io::Error::other("is not a folder"),
        ));
    }
    if !remote.is_empty() {
        mkdir_all(session, remote).await?;
    }
    let mut jobs = Vec::new();
    let mut folders = vec![(local.to_path_buf(), remote.to_string())];
    while let Some((source, folder)) = folders.pop() {
        let existing: Vec<_> = match session.list(&folder).await {
            Ok(names) => names.into_iter().map(entry).collect(),
            // Just made (or made by another session): nothing there yet.
            Err(error) if error.sftp_code() == Some(StatusCode::NO_SUCH_FILE) => Vec::new(),
            Err(error) => return Err(error),
        };
        let mut entries: Vec<_> = std::fs::read_dir(&source)
            .map_err(|error| ClientError::local(&source, error))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let remote_path = join_remote(&folder, &name);
            let there = existing.iter().find(|e| e.name == name.as_bytes());
            if meta.is_dir() {
                if !there.is_some_and(|e| e.kind == EntryKind::Dir) {
                    session.mkdir(&remote_path).await?;
                }
                folders.push((path, remote_path));
            } else if meta.is_file() {
                let modified = unix_secs(meta.modified().ok());
                let same = there.is_some_and(|e| {
                    e.kind != EntryKind::Dir
                        && e.size == meta.len()
                        && match (e.modified, modified) {
                            (Some(remote), Some(local)) => same_time(remote, local, true),
                            _ => true,
                        }
                });
                if same {
                    report.skipped += 1;
                } else {
                    jobs.push(Job {
                        remote: remote_path,
                        local: path,
                        modified,
                    });
                }
            }
        }
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_listing_may_not_use() {
        for name in ["", ".", "..", "a/b", "a\\b", "a\0b"] {
            assert!(unsafe_name(name), "{name:?}");
        }
        assert!(!unsafe_name("a b.txt") && !unsafe_name("..."));
    }
}
