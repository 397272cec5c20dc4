//! Mirroring a tree either way over FTP: plan the files from the listings (`plan.rs` decides
//! what to copy, skip and delete), then move them over one or more connections.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ferry_proto::listing::Entry;

use super::plan::{self, LocalTree, MirrorOptions, TimeRule, Tree};
use super::{DownloadOptions, download_with, upload_resumable};
use crate::ClientError;
use crate::connection::{Connection, Connector};
use crate::progress::ProgressMode;
use crate::retry::{Retry, wait_to_retry};
use crate::verify::{self, Check, FtpDigests};

/// Which way a mirror goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Remote tree to local folder.
    Download,
    /// Local tree to remote folder (`-R`).
    Upload,
}

/// What a mirror did (or, with `--dry-run`, would do).
#[derive(Debug, Default)]
pub struct MirrorReport {
    /// Files transferred.
    pub transferred: usize,
    /// Files skipped because they were identical in size and time.
    pub skipped: usize,
    /// Files skipped by `--only-newer` (the target's copy is as new or newer).
    pub not_newer: usize,
    /// Names left out by `--include` / `--exclude`.
    pub excluded: usize,
    /// Paths removed from the target by `--delete` (a folder counts once).
    pub deleted: usize,
    /// Files whose digest the server confirmed (`--verify`).
    pub verified: usize,
    /// Files `--verify` could not check: the server has no digest command.
    pub unverified: usize,
    /// Bytes transferred.
    pub bytes: u64,
    /// Files that failed, with why.
    pub failed: Vec<(String, ClientError)>,
    /// The mirror stopped at the first file refused for want of space (452/552, a full disk):
    /// that file's name.
    pub stopped: Option<String>,
    /// `--dry-run`: the actions, one a line, and nothing was done.
    pub dry_run: Option<Vec<String>>,
}

impl MirrorReport {
    /// The report as planning leaves it, before any file moved.
    pub(crate) fn planned(plan: &super::plan::Plan) -> MirrorReport {
        MirrorReport {
            skipped: plan.unchanged,
            not_newer: plan.not_newer,
            excluded: plan.excluded,
            ..MirrorReport::default()
        }
    }

    /// The summary line: `Mirrored 3 files (1200b), 2 unchanged, 0 failed` (then, when not
    /// zero, `, N deleted`, `, N not newer`, `, N excluded`); a dry run says what it would do.
    pub fn summary(&self) -> String {
        let mut line = match &self.dry_run {
            Some(actions) => {
                let copies = actions.iter().filter(|a| a.starts_with("copy ")).count();
                let deletes = actions.iter().filter(|a| a.starts_with("delete ")).count();
                format!(
                    "Dry run: would copy {copies} files ({}b) and delete {deletes}, {} unchanged",
                    self.bytes, self.skipped
                )
            }
            None => format!(
                "Mirrored {} files ({}b), {} unchanged, {} failed",
                self.transferred,
                self.bytes,
                self.skipped,
                self.failed.len()
            ),
        };
        for (count, what) in [
            (self.verified, "verified"),
            (self.unverified, "unverified"),
            (self.deleted, "deleted"),
            (self.not_newer, "not newer"),
            (self.excluded, "excluded"),
        ] {
            if count > 0 {
                line.push_str(&format!(", {count} {what}"));
            }
        }
        line
    }
}

/// The files a mirror still has to move, shared by its sessions, and what became of those
/// moved. Both the FTP and the SFTP mirror run their workers on it.
#[derive(Debug)]
pub(crate) struct MirrorQueue<J> {
    jobs: Mutex<VecDeque<J>>,
    report: Mutex<MirrorReport>,
}

/// One file to move: its remote and local paths, and what the source's listing said.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub remote: String,
    pub local: PathBuf,
    /// Downloads: the size the listing showed, for files (not links, whose listed size is the
    /// link's own). Uploads leave it out.
    pub size: Option<u64>,
    pub modified: Option<i64>,
}

impl Job {
    /// The jobs of a plan's copies, between `remote` and `local` roots.
    pub(crate) fn from_plan(
        plan: &super::plan::Plan,
        direction: Direction,
        remote: &str,
        local: &Path,
    ) -> Vec<Job> {
        plan.copies
            .iter()
            .map(|copy| Job {
                remote: super::plan::remote_path(remote, &copy.rel),
                local: local.join(&copy.rel),
                size: (direction == Direction::Download && copy.is_file).then_some(copy.size),
                modified: copy.modified,
            })
            .collect()
    }
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

    /// Counts a `--verify` outcome: verified (`true`) or not checkable.
    pub(crate) fn record_check(&self, verified: bool) {
        if let Ok(mut report) = self.report.lock() {
            if verified {
                report.verified += 1;
            } else {
                report.unverified += 1;
            }
        }
    }

    /// Counts one file: its bytes, or why it failed. A file refused for want of space stops
    /// the mirror: the files not started yet are dropped (lftp#737: a full server fails every
    /// file after it, slowly).
    pub(crate) fn record(&self, remote: &str, result: Result<u64, ClientError>) {
        if let Ok(mut report) = self.report.lock() {
            match result {
                Ok(bytes) => {
                    report.transferred += 1;
                    report.bytes += bytes;
                }
                Err(error) => {
                    if super::plan::is_out_of_space(&error) && report.stopped.is_none() {
                        report.stopped = Some(remote.to_string());
                        if let Ok(mut jobs) = self.jobs.lock() {
                            jobs.clear();
                        }
                    }
                    report.failed.push((remote.to_string(), error));
                }
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

/// One session of a mirror's remote end, FTP or SFTP: the remote tree over it, how to open
/// another (extra workers, and a session that dropped), and how one worker moves the queue's
/// files. The steps around these are the same for both protocols and live once, in
/// [`run_mirror`] and [`move_retrying`].
pub(crate) trait MirrorSession: Sized + Send + 'static {
    /// What opens more sessions like this one.
    type Connector: Clone + Send + Sync + 'static;

    /// The entries of the remote folder `path` (`""`: the login or current folder).
    fn list_folder(
        &mut self,
        path: &str,
    ) -> impl Future<Output = Result<Vec<Entry>, ClientError>> + Send;

    /// Makes the remote folder `path` with its missing parents.
    fn make_folders(&mut self, path: &str) -> impl Future<Output = Result<(), ClientError>> + Send;

    /// Makes the remote folder `path`, whose parent exists.
    fn make_folder(&mut self, path: &str) -> impl Future<Output = Result<(), ClientError>> + Send;

    /// Removes the remote file `path`.
    fn remove_file(&mut self, path: &str) -> impl Future<Output = Result<(), ClientError>> + Send;

    /// Removes the empty remote folder `path`.
    fn remove_folder(&mut self, path: &str)
    -> impl Future<Output = Result<(), ClientError>> + Send;

    /// How the planning of a mirror going `direction` compares times over this session.
    fn time_rule(&self, direction: Direction) -> TimeRule;

    /// A new session, or `None` when it cannot be opened (now).
    fn open(connector: &mut Self::Connector) -> impl Future<Output = Option<Self>> + Send;

    /// Ends the session politely.
    fn quit(self) -> impl Future<Output = ()> + Send;

    /// Moves one file; `resume` continues what an earlier try left.
    fn move_one(
        &mut self,
        direction: Direction,
        job: &Job,
        resume: bool,
        reporter: &mut dyn crate::progress::Progress,
    ) -> impl Future<Output = Result<super::TransferStats, ClientError>> + Send;

    /// What `--verify` keeps from file to file on one session (FTP: the digest command found,
    /// and the files waiting for a batched check).
    type Checks: Default + Send;

    /// `--verify` of `job`, moved a moment ago with `bytes`: `Some` with the outcome (`Ok(true)`
    /// verified, `Ok(false)` unverified; a download that differs is removed, an upload that
    /// differs is sent again, once), or `None` when the check waits in `checks`, to be settled
    /// and recorded in `queue` with others.
    #[allow(clippy::too_many_arguments)]
    fn check(
        &mut self,
        checks: &mut Self::Checks,
        direction: Direction,
        job: &Job,
        bytes: u64,
        queue: &MirrorQueue<Job>,
        progress: &ProgressMode,
        reporter: &mut dyn crate::progress::Progress,
    ) -> impl Future<Output = Option<Result<bool, ClientError>>> + Send;

    /// Settles and records in `queue` the checks still waiting in `checks` (the queue is
    /// empty).
    fn check_rest(
        &mut self,
        checks: &mut Self::Checks,
        direction: Direction,
        queue: &MirrorQueue<Job>,
        progress: &ProgressMode,
    ) -> impl Future<Output = ()> + Send;
}

/// The mirror both protocols run: plan from the listings, then (unless `--dry-run`) make the
/// folders, move the files over `session` and, with `parallel > 1` and a `connector`, over
/// extra sessions (one that cannot be opened leaves its share to the others), and last
/// `--delete` what the source lacks when nothing failed.
pub(crate) async fn run_mirror<S: MirrorSession>(
    session: &mut S,
    connector: Option<&S::Connector>,
    direction: Direction,
    remote: &str,
    local: &Path,
    options: &MirrorOptions,
    progress: &ProgressMode,
) -> Result<MirrorReport, ClientError> {
    let rule = session.time_rule(direction);
    let mut local_tree = LocalTree {
        root: local.to_path_buf(),
    };
    let plan = match direction {
        Direction::Download => {
            plan::plan(
                &mut RemoteTree::new(session, remote),
                &mut local_tree,
                options,
                rule,
            )
            .await?
        }
        Direction::Upload => {
            plan::plan(
                &mut local_tree,
                &mut RemoteTree::new(session, remote),
                options,
                rule,
            )
            .await?
        }
    };
    let mut report = MirrorReport::planned(&plan);
    if options.dry_run {
        let remote_tree = RemoteTree::new(session, remote);
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
            plan::make_folders(&mut RemoteTree::new(session, remote), &plan).await?
        }
    }
    let jobs = Job::from_plan(&plan, direction, remote, local);
    let queue = MirrorQueue::new(jobs, report);
    let mut workers = tokio::task::JoinSet::new();
    if let Some(connector) = connector {
        for _ in 0..queue.extra_sessions(options.parallel) {
            let mut connector = connector.clone();
            let (queue, progress) = (queue.clone(), progress.clone());
            let settings = (options.retry, options.verify);
            workers.spawn(async move {
                // A worker that cannot connect leaves its share to the others.
                if let Some(mut session) = S::open(&mut connector).await {
                    work(
                        &mut session,
                        Some(&connector),
                        settings,
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
                plan::delete_extra(&mut RemoteTree::new(session, remote), &plan).await
            }
        };
        report.deleted = deleted;
        report.failed.extend(failed);
    }
    Ok(report)
}

/// One worker of a mirror: moves the queue's files over `session` until none is left. With
/// `retry` and a `connector`, a file whose session dropped is resumed over a new one from
/// where it stopped; with `verify`, each file moved is checked ([`MirrorSession::check`]).
async fn work<S: MirrorSession>(
    session: &mut S,
    connector: Option<&S::Connector>,
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
    let mut connector = connector.cloned();
    let mut checks = S::Checks::default();
    loop {
        let Some(job) = queue.next() else {
            session
                .check_rest(&mut checks, direction, queue, progress)
                .await;
            return;
        };
        let mut reporter = progress.reporter();
        let result = move_retrying(
            session,
            connector.as_mut(),
            retry,
            direction,
            &job,
            reporter.as_mut(),
        )
        .await;
        let result = match result {
            Ok(stats) if verify => {
                let check = session.check(
                    &mut checks,
                    direction,
                    &job,
                    stats.bytes,
                    queue,
                    progress,
                    reporter.as_mut(),
                );
                match check.await {
                    None => continue,
                    Some(Ok(verified)) => {
                        queue.record_check(verified);
                        Ok(stats)
                    }
                    Some(Err(error)) => Err(error),
                }
            }
            result => result,
        };
        queue.record(&job.remote, result.map(|stats| stats.bytes));
    }
}

/// Moves `job` over `session`, trying again as `retry` says; after a failure, `connector`
/// (when given) replaces the session, and a session that cannot be opened yet fails the next
/// try at once, which waits longer. Each try after the first resumes where the last stopped.
async fn move_retrying<S: MirrorSession>(
    session: &mut S,
    mut connector: Option<&mut S::Connector>,
    retry: Retry,
    direction: Direction,
    job: &Job,
    reporter: &mut dyn crate::progress::Progress,
) -> Result<super::TransferStats, ClientError> {
    let mut failures = 0;
    loop {
        let again = failures > 0;
        let result = session.move_one(direction, job, again, reporter).await;
        let Err(error) = &result else {
            return result;
        };
        failures += 1;
        if !wait_to_retry(retry, failures, error, crate::oneshot::note_retry).await {
            return result;
        }
        if let Some(connector) = connector.as_deref_mut()
            && let Some(opened) = S::open(connector).await
        {
            *session = opened;
        }
    }
}

/// Mirrors a tree. `remote` is a remote folder path (relative or absolute; empty is the current
/// folder), `local` a local folder. Files identical in size and modification time are skipped;
/// downloaded files get the remote time, uploaded ones get the local time through MFMT when the
/// server offers it. With `parallel > 1`, `connector` opens the extra connections. What to
/// copy, skip and delete is decided in `super::plan`, shared with the SFTP mirror, and the
/// steps around it in `run_mirror`, shared too.
pub async fn mirror(
    connection: &mut Connection,
    connector: &Connector,
    direction: Direction,
    remote: &str,
    local: &Path,
    options: &MirrorOptions,
    progress: &ProgressMode,
) -> Result<MirrorReport, ClientError> {
    run_mirror(
        connection,
        Some(connector),
        direction,
        remote,
        local,
        options,
        progress,
    )
    .await
}

impl MirrorSession for Connection {
    type Connector = Connector;
    type Checks = FtpChecks;

    async fn list_folder(&mut self, path: &str) -> Result<Vec<Entry>, ClientError> {
        self.list((!path.is_empty()).then_some(path)).await
    }

    async fn make_folders(&mut self, path: &str) -> Result<(), ClientError> {
        self.mkdir_all(path).await
    }

    async fn make_folder(&mut self, path: &str) -> Result<(), ClientError> {
        self.mkdir(path).await.map(|_| ())
    }

    async fn remove_file(&mut self, path: &str) -> Result<(), ClientError> {
        self.delete(path).await.map(|_| ())
    }

    async fn remove_folder(&mut self, path: &str) -> Result<(), ClientError> {
        self.rmdir(path).await.map(|_| ())
    }

    fn time_rule(&self, direction: Direction) -> TimeRule {
        TimeRule {
            precise: self.features().has("MLST"),
            target_keeps_times: direction == Direction::Download || self.features().has("MFMT"),
        }
    }

    async fn open(connector: &mut Connector) -> Option<Connection> {
        connector.open(|_: &str| None).await.ok()
    }

    async fn quit(self) {
        Connection::quit(self).await;
    }

    async fn move_one(
        &mut self,
        direction: Direction,
        job: &Job,
        resume: bool,
        reporter: &mut dyn crate::progress::Progress,
    ) -> Result<super::TransferStats, ClientError> {
        move_one(self, direction, job, resume, reporter).await
    }

    async fn check(
        &mut self,
        checks: &mut FtpChecks,
        direction: Direction,
        job: &Job,
        bytes: u64,
        queue: &MirrorQueue<Job>,
        progress: &ProgressMode,
        reporter: &mut dyn crate::progress::Progress,
    ) -> Option<Result<bool, ClientError>> {
        if checks.digests.batches() {
            checks.pending.push((job.clone(), bytes));
            if checks.pending.len() >= VERIFY_BATCH {
                check_batch(self, checks, direction, queue, progress).await;
            }
            return None;
        }
        Some(check_one(self, &mut checks.digests, direction, job, reporter).await)
    }

    async fn check_rest(
        &mut self,
        checks: &mut FtpChecks,
        direction: Direction,
        queue: &MirrorQueue<Job>,
        progress: &ProgressMode,
    ) {
        check_batch(self, checks, direction, queue, progress).await;
    }
}

/// What `--verify` keeps on one FTP connection: the digest command found (learnt at the first
/// check), and, against a server announcing HASH, the files moved but not checked yet, checked
/// [`VERIFY_BATCH`] at a time (and at the end) with their HASH commands pipelined.
#[derive(Default)]
pub(crate) struct FtpChecks {
    digests: FtpDigests,
    pending: Vec<(Job, u64)>,
}

/// How many files `--verify` checks with one pipelined write of HASH commands.
const VERIFY_BATCH: usize = 32;

/// `--verify` of the files waiting in `checks` (moved, not checked yet), emptying it: their HASH
/// commands in one write, then each file settled on its own as [`check_one`] does (a download
/// that differs is removed, an upload that differs is sent again once) and recorded.
async fn check_batch(
    connection: &mut Connection,
    checks: &mut FtpChecks,
    direction: Direction,
    queue: &MirrorQueue<Job>,
    progress: &ProgressMode,
) {
    let FtpChecks { digests, pending } = checks;
    if pending.is_empty() {
        return;
    }
    let files: Vec<(String, PathBuf)> = pending
        .iter()
        .map(|(job, _)| (job.remote.clone(), job.local.clone()))
        .collect();
    let results = digests.check_batch(connection, &files).await;
    for ((job, bytes), check) in pending.drain(..).zip(results) {
        let settled = match direction {
            Direction::Download => verify::settle_download(check, &job.local, &job.remote).await,
            Direction::Upload => match check {
                Ok(Check::Verified(_)) => Ok(true),
                Ok(Check::Unverified) => Ok(false),
                Ok(Check::Mismatch(..)) => {
                    let mut reporter = progress.reporter();
                    resend_and_check(
                        connection,
                        &mut FtpDigests::clone(digests),
                        &job,
                        reporter.as_mut(),
                    )
                    .await
                }
                Err(error) => Err(error),
            },
        };
        let result = settled.map(|verified| {
            queue.record_check(verified);
            bytes
        });
        queue.record(&job.remote, result);
    }
}

/// `--verify` of a file just moved: `Ok(true)` verified, `Ok(false)` unverified. A download
/// that differs is removed; an upload that differs is sent again, once.
async fn check_one(
    connection: &mut Connection,
    digests: &mut FtpDigests,
    direction: Direction,
    job: &Job,
    reporter: &mut dyn crate::progress::Progress,
) -> Result<bool, ClientError> {
    let check = digests.check(connection, &job.remote, &job.local).await;
    match direction {
        Direction::Download => verify::settle_download(check, &job.local, &job.remote).await,
        Direction::Upload => match check? {
            Check::Verified(_) => Ok(true),
            Check::Unverified => Ok(false),
            Check::Mismatch(..) => resend_and_check(connection, digests, job, reporter).await,
        },
    }
}

/// An upload whose digest differed: sent again, once, and checked again.
async fn resend_and_check(
    connection: &mut Connection,
    digests: &mut FtpDigests,
    job: &Job,
    reporter: &mut dyn crate::progress::Progress,
) -> Result<bool, ClientError> {
    move_one(connection, Direction::Upload, job, false, reporter).await?;
    match digests.check(connection, &job.remote, &job.local).await? {
        Check::Verified(_) => Ok(true),
        Check::Unverified => Ok(false),
        Check::Mismatch(ours, theirs) => Err(Check::mismatch_error(&job.remote, &ours, &theirs)),
    }
}

/// Moves one file; `resume` continues what an earlier try left.
async fn move_one(
    connection: &mut Connection,
    direction: Direction,
    job: &Job,
    resume: bool,
    reporter: &mut dyn crate::progress::Progress,
) -> Result<super::TransferStats, ClientError> {
    match direction {
        Direction::Download => {
            let options = DownloadOptions {
                resume,
                listed_size: job.size,
                modified: job.modified,
            };
            download_with(connection, &job.remote, &job.local, options, reporter).await
        }
        Direction::Upload => {
            let result =
                upload_resumable(connection, &job.local, &job.remote, resume, reporter).await;
            if let (Ok(_), Some(modified)) = (&result, job.modified) {
                let _ = connection.set_modified(&job.remote, modified).await;
            }
            result
        }
    }
}

/// `name` inside the remote `folder` (`""`: the current folder).
pub fn join_remote(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_string()
    } else if folder.ends_with('/') {
        format!("{folder}{name}")
    } else {
        format!("{folder}/{name}")
    }
}

/// A mirror's remote side: a session (FTP or SFTP) rooted at the folder `root`.
struct RemoteTree<'a, S> {
    session: &'a mut S,
    root: &'a str,
}

impl<'a, S> RemoteTree<'a, S> {
    fn new(session: &'a mut S, root: &'a str) -> RemoteTree<'a, S> {
        RemoteTree { session, root }
    }

    fn path(&self, rel: &str) -> String {
        plan::remote_path(self.root, rel)
    }
}

impl<S: MirrorSession> Tree for RemoteTree<'_, S> {
    async fn list(&mut self, rel: &str) -> Result<Vec<Entry>, ClientError> {
        let path = self.path(rel);
        self.session.list_folder(&path).await
    }

    async fn make_folder(&mut self, rel: &str) -> Result<(), ClientError> {
        let path = self.path(rel);
        if path.is_empty() {
            Ok(())
        } else if rel.is_empty() {
            self.session.make_folders(&path).await
        } else {
            self.session.make_folder(&path).await
        }
    }

    async fn remove_file(&mut self, rel: &str) -> Result<(), ClientError> {
        let path = self.path(rel);
        self.session.remove_file(&path).await
    }

    async fn remove_folder(&mut self, rel: &str) -> Result<(), ClientError> {
        let path = self.path(rel);
        self.session.remove_folder(&path).await
    }

    fn show(&self, rel: &str) -> String {
        self.path(rel)
    }
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
