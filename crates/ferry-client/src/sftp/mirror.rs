//! Mirroring a tree over SFTP either way, as [`crate::transfer::mirror`] does over FTP: plan the
//! files from READDIR listings (the decisions are shared with FTP, in `transfer/plan.rs`), then
//! move them over one or more sessions. SFTP gives times to the second and SETSTAT sets them, so a file counts
//! as unchanged only when its size and modification time are both equal; downloaded files get
//! the remote time, uploaded ones the local time.
//!
//! Each file moves with many requests in flight (see `transfer.rs`); `parallel` adds sessions
//! for trees of many small files. This module prints nothing but the host-key line of
//! [`mirror_url`], as the other one-shot commands do.

use std::path::Path;

use ferry_proto::listing::Entry;

use super::files::{self, download, entry, mkdir_all, upload};
use super::{SftpConnector, SftpSession};
use crate::ClientError;
use crate::oneshot::Globals;
use crate::progress::ProgressMode;
use crate::retry::{Retry, wait_to_retry};
use crate::transfer::{
    Direction, Job, LocalTree, MirrorOptions, MirrorQueue, MirrorReport, TimeRule, Tree, plan,
    set_local_modified,
};
use crate::url::SftpUrl;
use crate::verify::{self, Check};

/// `ferry mirror` with an `sftp://` URL: `remote_url` is the remote folder, `local` the local
/// one; `direction` says which is the source.
pub async fn mirror_url(
    globals: &Globals,
    direction: Direction,
    remote_url: &str,
    local: &Path,
    options: &MirrorOptions,
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
        options,
        &globals.progress,
    )
    .await;
    session.quit().await;
    result
}

/// Mirrors a tree over `session`. `remote` is a remote folder (absolute, or relative to the
/// login folder; empty is the login folder), `local` a local folder. With `parallel > 1`,
/// `connector` opens the extra sessions (a session that cannot be opened leaves its share to
/// the others). The decisions are the FTP mirror's (`transfer/plan.rs`).
pub async fn mirror(
    session: &mut SftpSession,
    connector: Option<&SftpConnector>,
    direction: Direction,
    remote: &str,
    local: &Path,
    options: &MirrorOptions,
    progress: &ProgressMode,
) -> Result<MirrorReport, ClientError> {
    // SFTP gives times to the second, and SETSTAT sets them both ways.
    let rule = TimeRule {
        precise: true,
        target_keeps_times: true,
    };
    let mut local_tree = LocalTree {
        root: local.to_path_buf(),
    };
    let plan = match direction {
        Direction::Download => {
            let mut source = SftpTree {
                session,
                root: remote,
            };
            plan::plan(&mut source, &mut local_tree, options, rule).await?
        }
        Direction::Upload => {
            let mut target = SftpTree {
                session,
                root: remote,
            };
            plan::plan(&mut local_tree, &mut target, options, rule).await?
        }
    };
    let mut report = MirrorReport::planned(&plan);
    if options.dry_run {
        let remote_tree = SftpTree {
            session,
            root: remote,
        };
        let lines = match direction {
            Direction::Download => plan::describe(&remote_tree, &local_tree, &plan),
            Direction::Upload => plan::describe(&local_tree, &remote_tree, &plan),
        };
        report.bytes = plan.copies.iter().map(|copy| copy.size).sum();
        report.dry_run = Some(lines);
        return Ok(report);
    }
    match direction {
        Direction::Download => plan::make_folders(&mut local_tree, &plan).await?,
        Direction::Upload => {
            plan::make_folders(
                &mut SftpTree {
                    session,
                    root: remote,
                },
                &plan,
            )
            .await?;
        }
    }
    let jobs = Job::from_plan(&plan, direction, remote, local);
    let queue = MirrorQueue::new(jobs, report);
    let mut workers = tokio::task::JoinSet::new();
    if let Some(connector) = connector {
        for _ in 0..queue.extra_sessions(options.parallel) {
            let connector = connector.clone();
            let (queue, progress) = (queue.clone(), progress.clone());
            let (retry, verify) = (options.retry, options.verify);
            workers.spawn(async move {
                if let Ok((mut session, _)) = connector.open(|_: &str| None).await {
                    work(
                        &mut session,
                        Some(&connector),
                        (retry, verify),
                        direction,
                        &queue,
                        &progress,
                    )
                    .await;
                    session.quit().await;
                }
            });
        }
    }
    work(
        session,
        connector,
        (options.retry, options.verify),
        direction,
        &queue,
        progress,
    )
    .await;
    while workers.join_next().await.is_some() {}
    let mut report = queue.finish(|job| job.remote);
    if options.delete && report.failed.is_empty() {
        let (deleted, failed) = match direction {
            Direction::Download => plan::delete_extra(&mut local_tree, &plan).await,
            Direction::Upload => {
                plan::delete_extra(
                    &mut SftpTree {
                        session,
                        root: remote,
                    },
                    &plan,
                )
                .await
            }
        };
        report.deleted = deleted;
        report.failed.extend(failed);
    }
    Ok(report)
}

/// An SFTP session as one side of a mirror, rooted at `root`.
struct SftpTree<'a> {
    session: &'a mut SftpSession,
    root: &'a str,
}

impl SftpTree<'_> {
    fn path(&self, rel: &str) -> String {
        plan::remote_path(self.root, rel)
    }
}

impl Tree for SftpTree<'_> {
    async fn list(&mut self, rel: &str) -> Result<Vec<Entry>, ClientError> {
        let path = self.path(rel);
        Ok(self
            .session
            .list(&path)
            .await?
            .into_iter()
            .map(entry)
            .collect())
    }

    async fn make_folder(&mut self, rel: &str) -> Result<(), ClientError> {
        let path = self.path(rel);
        if path.is_empty() {
            Ok(())
        } else if rel.is_empty() {
            mkdir_all(self.session, &path).await
        } else {
            self.session.mkdir(&path).await
        }
    }

    async fn remove_file(&mut self, rel: &str) -> Result<(), ClientError> {
        let path = self.path(rel);
        self.session.remove(&path).await
    }

    async fn remove_folder(&mut self, rel: &str) -> Result<(), ClientError> {
        let path = self.path(rel);
        self.session.rmdir(&path).await
    }

    fn show(&self, rel: &str) -> String {
        self.path(rel)
    }
}

/// Moves the queue's files over `session` until none is left. With `retry` and a
/// `connector`, a file whose session dropped is resumed over a new one from where it stopped.
async fn work(
    session: &mut SftpSession,
    connector: Option<&SftpConnector>,
    (retry, verify): (Retry, bool),
    direction: Direction,
    queue: &MirrorQueue<Job>,
    progress: &ProgressMode,
) {
    let retry = if connector.is_some() {
        retry
    } else {
        Retry::default()
    };
    loop {
        let Some(job) = queue.next() else {
            return;
        };
        let mut reporter = progress.reporter();
        let mut failures = 0;
        let result = loop {
            let again = failures > 0;
            let result = move_one(session, direction, &job, again, reporter.as_mut()).await;
            let Err(error) = &result else {
                break result;
            };
            failures += 1;
            if !wait_to_retry(retry, failures, error, crate::oneshot::note_retry).await {
                break result;
            }
            // A session that cannot be opened yet fails the next try at once, which waits
            // longer.
            if let Some(connector) = connector
                && let Ok((opened, _)) = connector.open(|_: &str| None).await
            {
                *session = opened;
            }
        };
        let result = match result {
            Ok(stats) if verify => {
                match check_one(session, direction, &job, reporter.as_mut()).await {
                    Ok(verified) => {
                        queue.record_check(verified);
                        Ok(stats)
                    }
                    Err(error) => Err(error),
                }
            }
            result => result,
        };
        queue.record(&job.remote, result.map(|stats| stats.bytes));
    }
}

/// `--verify` of a file just moved: `Ok(true)` verified, `Ok(false)` unverified. A download
/// that differs is removed; an upload that differs is sent again, once.
async fn check_one(
    session: &mut SftpSession,
    direction: Direction,
    job: &Job,
    reporter: &mut dyn crate::progress::Progress,
) -> Result<bool, ClientError> {
    let check = verify::check_sftp(session, &job.remote, &job.local).await;
    match direction {
        Direction::Download => verify::settle_download(check, &job.local, &job.remote).await,
        Direction::Upload => match check? {
            Check::Verified(_) => Ok(true),
            Check::Unverified => Ok(false),
            Check::Mismatch(..) => {
                move_one(session, direction, job, false, reporter).await?;
                match verify::check_sftp(session, &job.remote, &job.local).await? {
                    Check::Verified(_) => Ok(true),
                    Check::Unverified => Ok(false),
                    Check::Mismatch(ours, theirs) => {
                        Err(Check::mismatch_error(&job.remote, &ours, &theirs))
                    }
                }
            }
        },
    }
}

/// Moves one file; `resume` continues what an earlier try left.
async fn move_one(
    session: &mut SftpSession,
    direction: Direction,
    job: &Job,
    resume: bool,
    reporter: &mut dyn crate::progress::Progress,
) -> Result<crate::transfer::TransferStats, ClientError> {
    match direction {
        Direction::Download => {
            let result = download(session, &job.remote, &job.local, false, resume, reporter).await;
            match (result, job.modified) {
                (Ok(stats), Some(modified)) => {
                    set_local_modified(&job.local, modified).map(|()| stats)
                }
                (result, _) => result,
            }
        }
        Direction::Upload => {
            let result = upload(session, &job.local, &job.remote, resume, reporter).await;
            if let (Ok(_), Some(modified)) = (&result, job.modified) {
                let _ = session.set_modified(&job.remote, modified).await;
            }
            result
        }
    }
}
