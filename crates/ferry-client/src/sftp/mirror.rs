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
use crate::transfer::{
    Direction, Job, MirrorOptions, MirrorQueue, MirrorReport, MirrorSession, TimeRule, run_mirror,
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
    run_mirror(
        session, connector, direction, remote, local, options, progress,
    )
    .await
}

impl MirrorSession for SftpSession {
    type Connector = SftpConnector;
    type Checks = ();

    async fn list_folder(&mut self, path: &str) -> Result<Vec<Entry>, ClientError> {
        Ok(self.list(path).await?.into_iter().map(entry).collect())
    }

    async fn make_folders(&mut self, path: &str) -> Result<(), ClientError> {
        mkdir_all(self, path).await
    }

    async fn make_folder(&mut self, path: &str) -> Result<(), ClientError> {
        self.mkdir(path).await
    }

    async fn remove_file(&mut self, path: &str) -> Result<(), ClientError> {
        self.remove(path).await
    }

    async fn remove_folder(&mut self, path: &str) -> Result<(), ClientError> {
        self.rmdir(path).await
    }

    /// SFTP gives times to the second, and SETSTAT sets them both ways.
    fn time_rule(&self, _: Direction) -> TimeRule {
        TimeRule {
            precise: true,
            target_keeps_times: true,
        }
    }

    async fn open(connector: &mut SftpConnector) -> Option<SftpSession> {
        connector
            .open(|_: &str| None)
            .await
            .ok()
            .map(|(session, _)| session)
    }

    async fn quit(self) {
        SftpSession::quit(self).await;
    }

    async fn move_one(
        &mut self,
        direction: Direction,
        job: &Job,
        resume: bool,
        reporter: &mut dyn crate::progress::Progress,
    ) -> Result<crate::transfer::TransferStats, ClientError> {
        move_one(self, direction, job, resume, reporter).await
    }

    async fn check(
        &mut self,
        (): &mut (),
        direction: Direction,
        job: &Job,
        _: u64,
        _: &MirrorQueue<Job>,
        _: &ProgressMode,
        reporter: &mut dyn crate::progress::Progress,
    ) -> Option<Result<bool, ClientError>> {
        Some(check_one(self, direction, job, reporter).await)
    }

    /// SFTP checks each file as it is moved: none waits.
    async fn check_rest(
        &mut self,
        (): &mut (),
        _: Direction,
        _: &MirrorQueue<Job>,
        _: &ProgressMode,
    ) {
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
