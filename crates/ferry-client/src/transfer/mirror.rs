//! Mirroring a tree either way: plan the files from a listing (skipping those identical in size
//! and time), then move them over one or more connections.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ferry_proto::listing::EntryKind;

use super::{DownloadOptions, download_with, upload};
use crate::ClientError;
use crate::connection::{Connection, Connector};
use crate::progress::ProgressMode;

/// Which way a mirror goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Remote tree to local folder.
    Download,
    /// Local tree to remote folder (`-R`).
    Upload,
}

/// What a mirror did.
#[derive(Debug, Default)]
pub struct MirrorReport {
    /// Files transferred.
    pub transferred: usize,
    /// Files skipped because they were identical in size and time.
    pub skipped: usize,
    /// Bytes transferred.
    pub bytes: u64,
    /// Files that failed, with why.
    pub failed: Vec<(String, ClientError)>,
}

/// The files a mirror still has to move, shared by its sessions, and what became of those
/// moved. Both the FTP and the SFTP mirror run their workers on it.
#[derive(Debug)]
pub(crate) struct MirrorQueue<J> {
    jobs: Mutex<VecDeque<J>>,
    report: Mutex<MirrorReport>,
}

impl<J> MirrorQueue<J> {
    /// `jobs` to move, with what planning counted already in `report`.
    pub(crate) fn new(jobs: Vec<J>, report: MirrorReport) -> Arc<MirrorQueue<J>> {
        Arc::new(MirrorQueue {
            jobs: Mutex::new(jobs.into_iter().collect()),
            report: Mutex::new(report),
        })
    }

    /// How many sessions to add to the first for `parallel` (at most 16 in all, and never
    /// more than there are files for).
    pub(crate) fn extra_sessions(&self, parallel: usize) -> usize {
        let waiting = self.jobs.lock().map_or(0, |jobs| jobs.len());
        (parallel.clamp(1, 16) - 1).min(waiting.saturating_sub(1))
    }

    /// The next file to move, if any is left.
    pub(crate) fn next(&self) -> Option<J> {
        self.jobs.lock().ok().and_then(|mut jobs| jobs.pop_front())
    }

    /// Counts one file: its bytes, or why it failed.
    pub(crate) fn record(&self, remote: &str, result: Result<u64, ClientError>) {
        if let Ok(mut report) = self.report.lock() {
            match result {
                Ok(bytes) => {
                    report.transferred += 1;
                    report.bytes += bytes;
                }
                Err(error) => report.failed.push((remote.to_string(), error)),
            }
        }
    }

    /// The report once every worker is done; a file no session took (a worker that could not
    /// connect leaves its share to the others) counts as failed: nothing is left behind unsaid.
    pub(crate) fn finish(&self, remote: impl Fn(J) -> String) -> MirrorReport {
        let mut report = self
            .report
            .lock()
            .map(|mut report| std::mem::take(&mut *report))
            .unwrap_or_default();
        if let Ok(mut jobs) = self.jobs.lock() {
            for job in jobs.drain(..) {
                report
                    .failed
                    .push((remote(job), ClientError::Usage("not transferred".into())));
            }
        }
        report
    }
}

/// One file to move.
#[derive(Debug, Clone)]
struct Job {
    remote: String,
    local: PathBuf,
    /// Downloads: the size the listing showed, for files (not links, whose listed size is the
    /// link's own). Uploads leave it out.
    size: Option<u64>,
    modified: Option<i64>,
}

/// Mirrors a tree. `remote` is a remote folder path (relative or absolute; empty is the current
/// folder), `local` a local folder. Files identical in size and modification time are skipped;
/// downloaded files get the remote time, uploaded ones get the local time through MFMT when the
/// server offers it. With `parallel > 1`, `connector` opens the extra connections.
pub async fn mirror(
    connection: &mut Connection,
    connector: &Connector,
    direction: Direction,
    remote: &str,
    local: &Path,
    parallel: usize,
    progress: &ProgressMode,
) -> Result<MirrorReport, ClientError> {
    let mut report = MirrorReport::default();
    let jobs = match direction {
        Direction::Download => plan_download(connection, remote, local, &mut report).await?,
        Direction::Upload => plan_upload(connection, remote, local, &mut report).await?,
    };
    let queue = MirrorQueue::new(jobs, report);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..queue.extra_sessions(parallel) {
        let mut connector = connector.clone();
        let (queue, progress) = (queue.clone(), progress.clone());
        workers.spawn(async move {
            // A worker that cannot connect leaves its share to the others.
            if let Ok(mut connection) = connector.open(|_: &str| None).await {
                work(&mut connection, direction, &queue, &progress).await;
                connection.quit().await;
            }
        });
    }
    work(connection, direction, &queue, progress).await;
    while workers.join_next().await.is_some() {}
    Ok(queue.finish(|job| job.remote))
}

async fn work(
    connection: &mut Connection,
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
                let options = DownloadOptions {
                    resume: false,
                    listed_size: job.size,
                    modified: job.modified,
                };
                download_with(
                    connection,
                    &job.remote,
                    &job.local,
                    options,
                    reporter.as_mut(),
                )
                .await
            }
            Direction::Upload => {
                let result = upload(connection, &job.local, &job.remote, reporter.as_mut()).await;
                if let (Ok(_), Some(modified)) = (&result, job.modified) {
                    let _ = connection.set_modified(&job.remote, modified).await;
                }
                result
            }
        };
        queue.record(&job.remote, result.map(|stats| stats.bytes));
    }
}

pub(crate) fn join_remote(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_string()
    } else if folder.ends_with('/') {
        format!("{folder}{name}")
    } else {
        format!("{folder}/{name}")
    }
}

async fn plan_download(
    connection: &mut Connection,
    remote: &str,
    local: &Path,
    report: &mut MirrorReport,
) -> Result<Vec<Job>, ClientError> {
    let precise = connection.features().has("MLST");
    let mut jobs = Vec::new();
    let mut folders = vec![(remote.to_string(), local.to_path_buf())];
    while let Some((folder, target)) = folders.pop() {
        std::fs::create_dir_all(&target).map_err(|source| ClientError::local(&target, source))?;
        let listing = if folder.is_empty() {
            None
        } else {
            Some(folder.as_str())
        };
        for entry in connection.list(listing).await? {
            let name = String::from_utf8_lossy(&entry.name).into_owned();
            if name.contains(['/', '\\']) || name == "." || name == ".." {
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
                                (Some(remote), Some(local)) => same_time(remote, local, precise),
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
                            size: (entry.kind == EntryKind::File).then_some(entry.size),
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
    connection: &mut Connection,
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
        connection.mkdir_all(remote).await?;
    }
    let can_set_times = connection.features().has("MFMT");
    let precise = connection.features().has("MLST");
    let mut jobs = Vec::new();
    let mut folders = vec![(local.to_path_buf(), remote.to_string())];
    while let Some((source, folder)) = folders.pop() {
        let listing = if folder.is_empty() {
            None
        } else {
            Some(folder.as_str())
        };
        let existing = connection.list(listing).await?;
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
                    connection.mkdir(&remote_path).await?;
                }
                folders.push((path, remote_path));
            } else if meta.is_file() {
                let modified = unix_secs(meta.modified().ok());
                let same = there.is_some_and(|e| {
                    e.kind != EntryKind::Dir
                        && e.size == meta.len()
                        && match (e.modified, modified) {
                            (Some(remote), Some(local)) if can_set_times => {
                                same_time(remote, local, precise)
                            }
                            // The server keeps upload times: a copy made after the local
                            // file last changed is current.
                            (Some(remote), Some(local)) => {
                                remote >= local || same_time(remote, local, precise)
                            }
                            _ => true,
                        }
                });
                if same {
                    report.skipped += 1;
                } else {
                    jobs.push(Job {
                        remote: remote_path,
                        local: path,
                        size: None,
                        modified,
                    });
                }
            }
        }
    }
    Ok(jobs)
}

/// True when a remote time and a local time are the same moment, as far as the listing can
/// tell: to the second with MLSD; with LIST, to the minute, or to the day when the listing
/// shows only a date (files older than six months).
pub(crate) fn same_time(remote: i64, local: i64, precise: bool) -> bool {
    if precise || remote % 60 != 0 {
        return remote == local;
    }
    if remote % 86_400 == 0 && local.div_euclid(86_400) == remote.div_euclid(86_400) {
        return true;
    }
    local.div_euclid(60) == remote.div_euclid(60)
}

pub(crate) fn unix_secs(time: Option<SystemTime>) -> Option<i64> {
    let since = time?.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since.as_secs()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_listings_show_them() {
        assert!(same_time(1_000_000_007, 1_000_000_007, true));
        assert!(!same_time(1_000_000_020, 1_000_000_007, true));
        // LIST: minutes, or only the day for old files.
        assert!(same_time(1_000_000_020, 1_000_000_045, false));
        assert!(!same_time(1_000_000_020, 1_000_000_085, false));
        assert!(same_time(86_400 * 20_000, 86_400 * 20_000 + 3_600, false));
        assert!(!same_time(86_400 * 20_000, 86_400 * 20_001 + 3_600, false));
    }

    #[test]
    fn remote_paths() {
        assert_eq!(join_remote("", "x"), "x");
        assert_eq!(join_remote("/", "x"), "/x");
        assert_eq!(join_remote("a", "x"), "a/x");
    }
}
