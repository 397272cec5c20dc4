//! `ferry get|put|ls|rm|mkdir` on `sftp://` URLs, as [`crate::oneshot`] does them on `ftp://`:
//! the same usage errors, progress, hidden partial file for downloads (renamed onto the target
//! only when the whole file arrived), `-c` resume (a READ from the partial's size; a WRITE from
//! the remote size, opened without TRUNC) and listing lines.
//!
//! A host key added by `--accept-new-host-key` is reported on stderr, as OpenSSH does; nothing
//! else is printed here.

use std::path::{Path, PathBuf};

use ferry_proto::listing::{Entry, EntryKind};
use ferry_proto::sftp::{Attrs, NameEntry, OpenFlags, StatusCode};
use tokio::io::AsyncSeekExt;

use super::transfer::{read_file, write_file};
use super::{HostKeyNote, SftpConnector, SftpSession, SshOptions};
use crate::ClientError;
use crate::oneshot::{Globals, note_retry};
use crate::progress::Progress;
use crate::retry::{Retry, retrying};
use crate::transfer::{TransferStats, partial_path};
use crate::url::SftpUrl;
use crate::verify;

/// The connector a one-shot command uses for `url`.
pub(super) fn connector(globals: &Globals, url: &SftpUrl) -> SftpConnector {
    SftpConnector {
        url: url.clone(),
        user: globals.user.clone(),
        netrc: globals.netrc.clone(),
        options: SshOptions {
            timeout: globals.connect.timeout,
            limit_rate: globals.connect.limit_rate,
            ..globals.ssh.clone()
        },
    }
}

/// Connects for a one-shot command: passwords asked on a terminal only, a host key added by
/// `--accept-new-host-key` reported on stderr.
pub(super) async fn open(globals: &Globals, url: &SftpUrl) -> Result<SftpSession, ClientError> {
    let ask = globals.prompt_password;
    let prompt = |question: &str| {
        if ask {
            rpassword::prompt_password(question).ok()
        } else {
            None
        }
    };
    let (session, note) = connector(globals, url).open(prompt).await?;
    if let HostKeyNote::Added(line) = note {
        eprintln!("ferry: {line}");
    }
    Ok(session)
}

/// A new session from `connector`, its host-key note dropped (the first session showed it):
/// how a one-shot command reconnects after a drop.
async fn reopen(connector: &SftpConnector) -> Result<SftpSession, ClientError> {
    connector
        .open(|_: &str| None)
        .await
        .map(|(session, _)| session)
}

/// `ferry get sftp://... [-o PATH] [-c]`: downloads one file; returns where it went.
pub async fn get(
    globals: &Globals,
    url: &str,
    output: Option<&Path>,
    resume: bool,
) -> Result<PathBuf, ClientError> {
    let url = SftpUrl::parse(url)?;
    if let Some((folder, pattern)) = crate::oneshot::wildcard(&url.path) {
        return get_matching(globals, &url, folder, pattern, output, resume).await;
    }
    let to_stdout = crate::oneshot::single_file_output(&url.path, url.is_folder(), output, resume)?;
    let target = if to_stdout {
        PathBuf::from("-")
    } else {
        crate::oneshot::download_target(&url.path, output)
    };
    let mut session = Some(open(globals, &url).await?);
    let connector = connector(globals, &url);
    let mut progress = globals.progress.reporter();
    // Standard output cannot be continued: no retry there.
    let retry = if to_stdout {
        Retry::default()
    } else {
        globals.retry
    };
    let result = retrying(
        retry,
        &mut session,
        async || reopen(&connector).await,
        async |session: &mut SftpSession, again| {
            download(
                session,
                &url.path,
                &target,
                to_stdout,
                resume || again,
                progress.as_mut(),
            )
            .await
        },
        note_retry,
    )
    .await;
    let result = match (result, session.as_mut()) {
        (Ok(_), Some(session)) if globals.verify && !to_stdout => {
            let check = verify::check_sftp(session, &url.path, &target).await;
            crate::oneshot::settle_one_download(check, &target, &url.path).await
        }
        (result, _) => result.map(|_| ()),
    };
    if let Some(session) = session {
        session.quit().await;
    }
    result.map(|()| target)
}

/// `ferry get 'sftp://host/logs/*.gz'`: every file of the folder whose name matches, into
/// `output` (a folder) or the current folder. Returns the folder.
async fn get_matching(
    globals: &Globals,
    url: &SftpUrl,
    folder: &str,
    pattern: &str,
    output: Option<&Path>,
    resume: bool,
) -> Result<PathBuf, ClientError> {
    let into = crate::oneshot::wildcard_target(output)?;
    let mut session = Some(open(globals, url).await?);
    let connector = connector(globals, url);
    let listed = if folder.is_empty() { "." } else { folder };
    let result = crate::oneshot::download_matching(
        globals,
        &mut session,
        async || reopen(&connector).await,
        async |session: &mut SftpSession| {
            Ok(session.list(listed).await?.into_iter().map(entry).collect())
        },
        async |session: &mut SftpSession, remote: &str, target: &Path, resume, progress| {
            download(session, remote, target, false, resume, progress).await
        },
        (folder, pattern, &into),
        resume,
    )
    .await;
    if let Some(session) = session {
        session.quit().await;
    }
    result.map(|()| into)
}

/// Downloads `remote` to `target` (standard output with `to_stdout`) through the hidden
/// partial file, renamed onto `target` once the whole file arrived; with `resume`, a partial
/// left by an earlier try is continued.
pub async fn download(
    session: &mut SftpSession,
    remote: &str,
    target: &Path,
    to_stdout: bool,
    resume: bool,
    progress: &mut dyn Progress,
) -> Result<TransferStats, ClientError> {
    let started = std::time::Instant::now();
    let attrs = session.stat(remote).await?;
    if attrs.kind() == Some(EntryKind::Dir) {
        return Err(ClientError::Usage(format!(
            "{remote} names a folder, not a file (use ferry mirror for folders)"
        )));
    }
    let size = attrs.size;
    let device = !to_stdout
        && tokio::fs::metadata(target)
            .await
            .is_ok_and(|meta| !meta.is_file() && !meta.is_dir());
    let partial = if to_stdout || device {
        target.to_path_buf()
    } else {
        partial_path(target)
    };
    let mut offset = if resume && !device {
        tokio::fs::metadata(&partial)
            .await
            .map_or(0, |meta| meta.len())
    } else {
        0
    };
    if size.is_some_and(|size| offset > size) {
        offset = 0;
    }
    let name = target
        .file_name()
        .map_or_else(|| remote.to_string(), |n| n.to_string_lossy().into_owned());
    let stats = |bytes: u64| TransferStats {
        bytes,
        size: offset + bytes,
        resumed_from: offset,
        elapsed: started.elapsed(),
    };
    if offset > 0 && size == Some(offset) {
        return rename(&partial, target).await.map(|()| stats(0));
    }
    let handle = session
        .open(remote, OpenFlags::READ, Attrs::default())
        .await?;
    progress.start(&name, size, offset);
    let received = if to_stdout {
        let mut stdout = tokio::io::stdout();
        read_file(session, &handle, 0, size, &mut stdout, "-", &mut *progress).await
    } else {
        match open_local(&partial, offset > 0).await {
            Ok(file) => {
                let mut file = InlineFile(file.into_std().await);
                let shown = partial.display().to_string();
                let result = read_file(
                    session,
                    &handle,
                    offset,
                    size,
                    &mut file,
                    &shown,
                    &mut *progress,
                )
                .await;
                // A device (`-o /dev/null`) has nothing to sync, and says EINVAL if asked.
                let synced = if device { Ok(()) } else { file.0.sync_data() };
                match (result, synced) {
                    (Ok(_), Err(source)) => Err(ClientError::local(&partial, source)),
                    (result, _) => result,
                }
            }
            Err(error) => Err(error),
        }
    };
    let closed = session.close(&handle).await;
    let result = received.and_then(|received| {
        closed?;
        match size {
            Some(size) if offset + received < size => Err(ClientError::Protocol(format!(
                "transfer incomplete: {} of {size} bytes arrived",
                offset + received
            ))),
            _ => Ok(stats(received)),
        }
    });
    progress.finish(result.is_ok());
    if to_stdout || device {
        return result;
    }
    let stats = match result {
        Ok(stats) => stats,
        Err(error) => {
            if tokio::fs::metadata(&partial)
                .await
                .is_ok_and(|meta| meta.len() == 0)
            {
                let _ = tokio::fs::remove_file(&partial).await;
            }
            return Err(error);
        }
    };
    rename(&partial, target).await.map(|()| stats)
}

async fn open_local(path: &Path, append: bool) -> Result<tokio::fs::File, ClientError> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true);
    if append {
        options.append(true);
    } else {
        options.truncate(true);
    }
    options
        .open(path)
        .await
        .map_err(|source| ClientError::local(path, source))
}

/// A local file written on the task's own thread. A write lands in the page cache; handing
/// each chunk to tokio's blocking pool (as `tokio::fs::File` does, with a copy into its
/// buffer and a thread hop) costs more than the write itself.
struct InlineFile(std::fs::File);

impl tokio::io::AsyncWrite for InlineFile {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(std::io::Write::write(&mut self.get_mut().0, buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

async fn rename(partial: &Path, target: &Path) -> Result<(), ClientError> {
    tokio::fs::rename(partial, target)
        .await
        .map_err(|source| ClientError::local(target, source))
}

/// `ferry put FILE... sftp://...[/] [-c]`: uploads files; a URL ending in `/` (or several
/// files) names a folder, created if missing. With `resume`, shorter remote files are
/// continued. Stops at the first failure.
pub async fn put(
    globals: &Globals,
    files: &[PathBuf],
    url: &str,
    resume: bool,
) -> Result<(), ClientError> {
    let url = SftpUrl::parse(url)?;
    crate::oneshot::local_files(files)?;
    let mut session = Some(open(globals, &url).await?);
    let connector = connector(globals, &url);
    let result = crate::oneshot::upload_files(
        globals,
        &mut session,
        async || reopen(&connector).await,
        crate::oneshot::UploadCalls {
            make_folders: async |session: &mut SftpSession, folder: &str| {
                mkdir_all(session, folder).await
            },
            // After a drop, the remote file's size says where to go on.
            upload: async |session: &mut SftpSession,
                           file: &Path,
                           remote: &str,
                           resume: bool,
                           progress: &mut dyn Progress| {
                upload(session, file, remote, resume, progress).await
            },
            check: async |session: &mut SftpSession, remote: &str, file: &Path| {
                verify::check_sftp(session, remote, file).await
            },
            resend: async |session: &mut SftpSession,
                           file: &Path,
                           remote: &str,
                           progress: &mut dyn Progress| {
                upload(session, file, remote, false, progress).await
            },
        },
        (files, &url.path, url.is_folder()),
        |name| {
            if url.path.is_empty() || url.path.ends_with('/') {
                format!("{}{name}", url.path)
            } else {
                format!("{}/{name}", url.path)
            }
        },
        resume,
    )
    .await;
    if let Some(session) = session {
        session.quit().await;
    }
    result
}

/// Uploads `source` as `remote`; with `resume`, a shorter remote file is continued from its
/// size (opened without TRUNC) rather than sent again.
pub async fn upload(
    session: &mut SftpSession,
    source: &Path,
    remote: &str,
    resume: bool,
    progress: &mut dyn Progress,
) -> Result<TransferStats, ClientError> {
    let started = std::time::Instant::now();
    let mut file = tokio::fs::File::open(source)
        .await
        .map_err(|error| ClientError::local(source, error))?;
    let length = file
        .metadata()
        .await
        .map_err(|error| ClientError::local(source, error))?
        .len();
    let offset = if resume {
        match session.stat(remote).await {
            Ok(Attrs {
                size: Some(size), ..
            }) if size <= length => size,
            Ok(_) => 0,
            Err(error) if error.sftp_code() == Some(StatusCode::NO_SUCH_FILE) => 0,
            Err(error) => return Err(error),
        }
    } else {
        0
    };
    let stats = |bytes: u64| TransferStats {
        bytes,
        size: length,
        resumed_from: offset,
        elapsed: started.elapsed(),
    };
    if resume && offset == length && offset > 0 {
        return Ok(stats(0));
    }
    if offset > 0 {
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|error| ClientError::local(source, error))?;
    }
    let flags = if offset > 0 {
        OpenFlags::WRITE | OpenFlags::CREAT
    } else {
        OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC
    };
    let handle = session.open(remote, flags, Attrs::default()).await?;
    let name = source
        .file_name()
        .map_or_else(|| remote.to_string(), |n| n.to_string_lossy().into_owned());
    progress.start(&name, Some(length), offset);
    let written = write_file(session, &handle, offset, &mut file, source, &mut *progress).await;
    let closed = session.close(&handle).await;
    let result = written.and_then(|written| closed.map(|()| stats(written)));
    progress.finish(result.is_ok());
    result
}

/// Creates `path` and its missing parents; existing folders are fine.
pub async fn mkdir_all(session: &mut SftpSession, path: &str) -> Result<(), ClientError> {
    let mut prefix = String::new();
    if path.starts_with('/') {
        prefix.push('/');
    }
    for part in path.split('/').filter(|part| !part.is_empty()) {
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        prefix.push_str(part);
        match session.stat(&prefix).await {
            Ok(attrs) if attrs.kind() == Some(EntryKind::Dir) => continue,
            Ok(_) => {
                return Err(ClientError::Usage(format!(
                    "{prefix} exists and is not a folder"
                )));
            }
            Err(error) if error.sftp_code() == Some(StatusCode::NO_SUCH_FILE) => {
                session.mkdir(&prefix).await?;
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// `ferry ls sftp://...`: the lines of `ferry ls ftp://...`.
pub async fn ls(globals: &Globals, url: &str) -> Result<Vec<String>, ClientError> {
    let url = SftpUrl::parse(url)?;
    let mut session = open(globals, &url).await?;
    let result = session.list(&url.path).await;
    session.quit().await;
    let entries = result?.into_iter().map(entry).collect();
    Ok(crate::oneshot::listing_lines(entries))
}

/// A READDIR name as the listing entry FTP listings give.
pub fn entry(name: NameEntry) -> Entry {
    Entry {
        kind: name.attrs.kind().unwrap_or(EntryKind::File),
        size: name.attrs.size.unwrap_or(0),
        modified: name.attrs.times.map(|(_, mtime)| i64::from(mtime)),
        mode: name.attrs.permissions.map(|mode| mode & 0o7777),
        unique: None,
        name: name.filename,
    }
}

/// `ferry rm sftp://...`: deletes a file.
pub async fn rm(globals: &Globals, url: &str) -> Result<(), ClientError> {
    let url = SftpUrl::parse(url)?;
    let mut session = open(globals, &url).await?;
    let result = session.remove(&url.path).await;
    session.quit().await;
    result
}

/// `ferry mkdir [-p] sftp://...`: creates a folder (with `parents`, the missing ones above it
/// too, and an existing folder is fine).
pub async fn mkdir(globals: &Globals, url: &str, parents: bool) -> Result<(), ClientError> {
    let url = SftpUrl::parse(url)?;
    let path = url.path.trim_end_matches('/').to_string();
    if path.is_empty() {
        return Err(ClientError::Usage(
            "the URL names no folder to create".into(),
        ));
    }
    let mut session = open(globals, &url).await?;
    let result = if parents {
        mkdir_all(&mut session, &path).await
    } else {
        session.mkdir(&path).await
    };
    session.quit().await;
    result
}
