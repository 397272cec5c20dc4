//! One-shot commands for scripts: `ferry get|put|ls|rm|mkdir|mirror`.
//!
//! `sftp://` URLs go to [`crate::sftp`], which does the same jobs over SFTP.
//!
//! Each connects (credentials from the URL, `--user`, `~/.netrc`, a prompt on a terminal, or
//! anonymous), does one job, says QUIT, and returns `Ok` only when everything worked. The binary
//! turns an `Err` into one line on stderr and a non-zero exit code. This module does not parse
//! flags (see `main.rs`).

use std::path::{Path, PathBuf};

use ferry_proto::listing::EntryKind;
use ferry_proto::time::UtcTime;

use crate::ClientError;
use crate::connection::{ConnectDefaults, ConnectOptions, Connection, Connector};
use crate::progress::{Progress, ProgressMode};
use crate::retry::{Retry, retrying};
use crate::sftp::{self, SshOptions};
use crate::transfer::{self, Direction};
use crate::url::{FtpUrl, is_sftp_url};
use crate::verify::{self, Check, FtpDigests};

/// Settings shared by every one-shot command.
#[derive(Debug, Clone)]
pub struct Globals {
    /// `--user USER[:PASS]`.
    pub user: Option<String>,
    /// The text of `~/.netrc`, if any.
    pub netrc: Option<String>,
    /// Passive or active, timeouts.
    pub connect: ConnectOptions,
    /// How transfers show progress.
    pub progress: ProgressMode,
    /// Ask for a missing password on the terminal.
    pub prompt_password: bool,
    /// Key files and host keys for `sftp://` URLs.
    pub ssh: SshOptions,
    /// `--retry N`: reconnect and resume after a dropped connection.
    pub retry: Retry,
    /// `--verify`: compare each file with the server's digest.
    pub verify: bool,
}

/// Tells the user about a retry, on stderr.
pub(crate) fn note_retry(line: &str) {
    eprintln!("ferry: {line}");
}

async fn open(globals: &Globals, url: &FtpUrl) -> Result<(Connection, Connector), ClientError> {
    let defaults = ConnectDefaults {
        user: globals.user.as_deref(),
        netrc: globals.netrc.as_deref(),
        options: &globals.connect,
    };
    let mut connector = Connector::for_url(url, defaults);
    let ask = globals.prompt_password;
    let prompt = |user: &str| {
        if ask {
            rpassword::prompt_password(format!("Password for {user}: ")).ok()
        } else {
            None
        }
    };
    let connection = connector.open(prompt).await?;
    Ok((connection, connector))
}

/// `ferry get URL [-o PATH] [-c]`: downloads one file; returns where it went. `-o -` writes
/// the bytes to standard output.
pub async fn get(
    globals: &Globals,
    url: &str,
    output: Option<&Path>,
    resume: bool,
) -> Result<PathBuf, ClientError> {
    get_with(globals, url, output, resume, 1).await
}

/// `ferry get URL [-o PATH] [-c] [--segments N]`: as [`get`]; with `segments > 1` (FTP, not
/// with `-c` nor `-o -`) the file comes over that many connections at once (REST ranges).
pub async fn get_with(
    globals: &Globals,
    url: &str,
    output: Option<&Path>,
    resume: bool,
    segments: usize,
) -> Result<PathBuf, ClientError> {
    if is_sftp_url(url) {
        return sftp::get(globals, url, output, resume).await;
    }
    let url = FtpUrl::parse(url)?;
    if let Some((folder, pattern)) = wildcard(&url.path) {
        return get_matching(globals, &url, folder, pattern, output, resume).await;
    }
    if single_file_output(&url.path, url.is_folder(), output, resume)? {
        let (mut connection, _) = open(globals, &url).await?;
        let mut progress = globals.progress.reporter();
        let mut stdout = tokio::io::stdout();
        let result = transfer::download_to_writer(
            &mut connection,
            &url.path,
            &mut stdout,
            progress.as_mut(),
        )
        .await;
        connection.quit().await;
        return result.map(|_| PathBuf::from("-"));
    }
    let target = download_target(&url.path, output);
    let (connection, mut connector) = open(globals, &url).await?;
    if segments > 1 && !resume {
        let mut connection = connection;
        let mut progress = globals.progress.reporter();
        let result = transfer::download_segmented(
            &mut connection,
            &connector,
            &url.path,
            &target,
            segments,
            progress.as_mut(),
        )
        .await;
        connection.quit().await;
        return result.map(|_| target);
    }
    let mut connection = Some(connection);
    let mut progress = globals.progress.reporter();
    // After a drop, the partial is continued (REST), never started again.
    let result = retrying(
        globals.retry,
        &mut connection,
        async || connector.open(|_: &str| None).await,
        async |connection: &mut Connection, again| {
            transfer::download(
                connection,
                &url.path,
                &target,
                resume || again,
                progress.as_mut(),
            )
            .await
        },
        note_retry,
    )
    .await;
    let result = match (result, connection.as_mut()) {
        (Ok(_), Some(connection)) if globals.verify => {
            let check = FtpDigests::default()
                .check(connection, &url.path, &target)
                .await;
            settle_one_download(check, &target, &url.path).await
        }
        (result, _) => result.map(|_| ()),
    };
    if let Some(connection) = connection {
        connection.quit().await;
    }
    result.map(|()| target)
}

/// The usage errors of a one-file `ferry get` (FTP or SFTP), found before it connects: a
/// `path` that names a folder (`is_folder`), and `--continue` to standard output. Returns
/// whether `output` is standard output (`-`).
pub(crate) fn single_file_output(
    path: &str,
    is_folder: bool,
    output: Option<&Path>,
    resume: bool,
) -> Result<bool, ClientError> {
    if is_folder {
        return Err(ClientError::Usage(format!(
            "{path} names a folder, not a file (use ferry mirror for folders)"
        )));
    }
    let to_stdout = output == Some(Path::new("-"));
    if to_stdout && resume {
        return Err(ClientError::Usage(
            "--continue needs a file, not standard output".into(),
        ));
    }
    Ok(to_stdout)
}

/// Where a one-file `ferry get` of `remote` writes: into `output` when it is a folder, as
/// `output` when it is any other path, else under the remote name in the current folder.
pub(crate) fn download_target(remote: &str, output: Option<&Path>) -> PathBuf {
    let name = transfer::remote_base_name(remote);
    match output {
        Some(path) if path.is_dir() => path.join(name),
        Some(path) => path.to_path_buf(),
        None => PathBuf::from(name),
    }
}

/// `--verify` of a one-file download: a file that differs is removed (an error); one the
/// server cannot check is kept, with the one-line warning.
pub(crate) async fn settle_one_download(
    check: Result<Check, ClientError>,
    target: &Path,
    remote: &str,
) -> Result<(), ClientError> {
    verify::settle_download(check, target, remote)
        .await
        .map(|verified| {
            if !verified {
                eprintln!("ferry: {}", verify::unverified_warning(1));
            }
        })
}

/// The folder and the pattern of a path whose last name holds a wildcard (`*`, `?`, `[`):
/// `logs/*.gz` gives (`logs`, `*.gz`). Wildcards in folder names are not expanded.
pub(crate) fn wildcard(path: &str) -> Option<(&str, &str)> {
    let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
    name.contains(['*', '?', '[']).then_some((
        if folder.is_empty() && path.starts_with('/') {
            "/"
        } else {
            folder
        },
        name,
    ))
}

/// Where the files of a wildcard download go: `output` must be a folder (made if missing);
/// without it, the current folder.
pub(crate) fn wildcard_target(output: Option<&Path>) -> Result<PathBuf, ClientError> {
    match output {
        None => Ok(PathBuf::from(".")),
        Some(path) if path == Path::new("-") => Err(ClientError::Usage(
            "a wildcard download needs a folder, not standard output".into(),
        )),
        Some(path) if path.is_dir() => Ok(path.to_path_buf()),
        Some(path) if !path.exists() => std::fs::create_dir_all(path)
            .map(|()| path.to_path_buf())
            .map_err(|source| ClientError::local(path, source)),
        Some(path) => Err(ClientError::Usage(format!(
            "{}: a wildcard download needs a folder",
            path.display()
        ))),
    }
}

/// The names in `entries` that are files matching `pattern` (as the shell's `mget` matches:
/// `*`, `?`, `[a-z]`), sorted; an error naming the pattern when none does.
pub(crate) fn matching_files(
    entries: &[ferry_proto::listing::Entry],
    folder: &str,
    pattern: &str,
) -> Result<Vec<String>, ClientError> {
    use ferry_proto::glob::{GlobRules, glob_match_str};
    let mut names: Vec<String> = entries
        .iter()
        .filter(|entry| entry.kind != EntryKind::Dir)
        .map(|entry| String::from_utf8_lossy(&entry.name).into_owned())
        .filter(|name| !name.contains('/') && glob_match_str(pattern, name, GlobRules::SHELL))
        .collect();
    names.sort();
    if names.is_empty() {
        let folder = if folder.is_empty() { "." } else { folder };
        return Err(ClientError::Usage(format!(
            "no file in {folder} matches {pattern}"
        )));
    }
    Ok(names)
}

/// `ferry get 'ftp://host/logs/*.gz'`: every file of the folder whose name matches, into
/// `output` (a folder) or the current folder. Returns the folder.
async fn get_matching(
    globals: &Globals,
    url: &FtpUrl,
    folder: &str,
    pattern: &str,
    output: Option<&Path>,
    resume: bool,
) -> Result<PathBuf, ClientError> {
    let into = wildcard_target(output)?;
    let (connection, mut connector) = open(globals, url).await?;
    let mut connection = Some(connection);
    let result = download_matching(
        globals,
        &mut connection,
        async || connector.open(|_: &str| None).await,
        async |connection: &mut Connection| {
            connection
                .list((!folder.is_empty()).then_some(folder))
                .await
        },
        async |connection: &mut Connection, remote: &str, target: &Path, resume, progress| {
            transfer::download(connection, remote, target, resume, progress).await
        },
        (folder, pattern, &into),
        resume,
    )
    .await;
    if let Some(connection) = connection {
        connection.quit().await;
    }
    result.map(|()| into)
}

/// The steps of a wildcard `ferry get` that FTP and SFTP share: list `folder` (with
/// `--retry`), then download each file matching `pattern` into the folder `into`, each with
/// `--retry` (a try after the first resumes), stopping at the first failure. `open` opens a
/// new session when the last one dropped; `list` and `download` are the protocol's calls
/// (`download` gets the remote path, the local target, whether to resume, and the progress).
pub(crate) async fn download_matching<C>(
    globals: &Globals,
    connection: &mut Option<C>,
    mut open: impl AsyncFnMut() -> Result<C, ClientError>,
    mut list: impl AsyncFnMut(&mut C) -> Result<Vec<ferry_proto::listing::Entry>, ClientError>,
    mut download: impl AsyncFnMut(
        &mut C,
        &str,
        &Path,
        bool,
        &mut dyn Progress,
    ) -> Result<transfer::TransferStats, ClientError>,
    (folder, pattern, into): (&str, &str, &Path),
    resume: bool,
) -> Result<(), ClientError> {
    let entries = retrying(
        globals.retry,
        connection,
        &mut open,
        async |connection: &mut C, _| list(connection).await,
        note_retry,
    )
    .await?;
    for name in matching_files(&entries, folder, pattern)? {
        let remote = transfer::join_remote(folder, &name);
        let target = into.join(&name);
        let mut progress = globals.progress.reporter();
        retrying(
            globals.retry,
            connection,
            &mut open,
            async |connection: &mut C, again| {
                download(
                    connection,
                    &remote,
                    &target,
                    resume || again,
                    progress.as_mut(),
                )
                .await
            },
            note_retry,
        )
        .await?;
    }
    Ok(())
}

/// `ferry put FILE... URL [-c]`: uploads files; a URL ending in `/` (or several files) names a
/// folder, created if missing. With `resume`, shorter remote files are continued. Stops at the
/// first failure.
pub async fn put(
    globals: &Globals,
    files: &[PathBuf],
    url: &str,
    resume: bool,
) -> Result<(), ClientError> {
    if is_sftp_url(url) {
        return sftp::put(globals, files, url, resume).await;
    }
    let url = FtpUrl::parse(url)?;
    local_files(files)?;
    let (connection, mut connector) = open(globals, &url).await?;
    let mut connection = Some(connection);
    let mut digests = FtpDigests::default();
    let folder = url.path.trim_end_matches('/');
    let result = upload_files(
        globals,
        &mut connection,
        async || connector.open(|_: &str| None).await,
        UploadCalls {
            make_folders: async |connection: &mut Connection, folder: &str| {
                connection.mkdir_all(folder).await
            },
            // After a drop, the remote file's size says where to go on (REST + STOR, or APPE).
            upload: async |connection: &mut Connection,
                           file: &Path,
                           remote: &str,
                           resume: bool,
                           progress: &mut dyn Progress| {
                transfer::upload_resumable(connection, file, remote, resume, progress).await
            },
            check: async |connection: &mut Connection, remote: &str, file: &Path| {
                digests.check(connection, remote, file).await
            },
            resend: async |connection: &mut Connection,
                           file: &Path,
                           remote: &str,
                           _: &mut dyn Progress| {
                let mut progress = globals.progress.reporter();
                transfer::upload(connection, file, remote, progress.as_mut()).await
            },
        },
        (files, &url.path, url.is_folder()),
        |name| {
            if folder.is_empty() {
                name.to_string()
            } else {
                format!("{folder}/{name}")
            }
        },
        resume,
    )
    .await;
    if let Some(connection) = connection {
        connection.quit().await;
    }
    result
}

/// Fails, naming the first, unless every one of `files` is a file: `ferry put` checks them
/// all before it connects.
pub(crate) fn local_files(files: &[PathBuf]) -> Result<(), ClientError> {
    for file in files {
        if !file.is_file() {
            let why = if file.exists() {
                std::io::Error::other("is not a file")
            } else {
                std::io::Error::from(std::io::ErrorKind::NotFound)
            };
            return Err(ClientError::local(file, why));
        }
    }
    Ok(())
}

/// The protocol's calls that [`upload_files`] makes over a session `C`.
pub(crate) struct UploadCalls<M, U, K, R> {
    /// Makes a remote folder with its missing parents.
    pub make_folders: M,
    /// Sends a file (local, remote, whether to continue a shorter remote file, progress).
    pub upload: U,
    /// `--verify`: the server's digest of a remote file against the local one.
    pub check: K,
    /// Sends again, from the start, a file whose digest differed (local, remote, progress).
    pub resend: R,
}

/// The steps of `ferry put` that FTP and SFTP share: with several files, or a `url_path`
/// naming a folder (`is_folder`), the folder is made (with `--retry`) and each file goes
/// into it as `remote_in_folder(name)`; else the one file goes to `url_path`. Each upload has
/// `--retry` (a try after the first resumes), and with `--verify` a file that differs is sent
/// again, once; the first failure stops. Files the server cannot check make one warning.
pub(crate) async fn upload_files<C, M, U, K, R>(
    globals: &Globals,
    connection: &mut Option<C>,
    mut open: impl AsyncFnMut() -> Result<C, ClientError>,
    mut calls: UploadCalls<M, U, K, R>,
    (files, url_path, is_folder): (&[PathBuf], &str, bool),
    remote_in_folder: impl Fn(&str) -> String,
    resume: bool,
) -> Result<(), ClientError>
where
    M: AsyncFnMut(&mut C, &str) -> Result<(), ClientError>,
    U: AsyncFnMut(
        &mut C,
        &Path,
        &str,
        bool,
        &mut dyn Progress,
    ) -> Result<transfer::TransferStats, ClientError>,
    K: AsyncFnMut(&mut C, &str, &Path) -> Result<Check, ClientError>,
    R: AsyncFnMut(
        &mut C,
        &Path,
        &str,
        &mut dyn Progress,
    ) -> Result<transfer::TransferStats, ClientError>,
{
    let mut unverified = 0;
    let result = async {
        let into_folder = is_folder || files.len() > 1;
        let folder = url_path.trim_end_matches('/');
        if into_folder && !folder.is_empty() {
            retrying(
                globals.retry,
                connection,
                &mut open,
                async |connection: &mut C, _| (calls.make_folders)(connection, folder).await,
                note_retry,
            )
            .await?;
        }
        for file in files {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let remote = if into_folder {
                remote_in_folder(&name)
            } else {
                url_path.to_string()
            };
            let mut progress = globals.progress.reporter();
            retrying(
                globals.retry,
                connection,
                &mut open,
                async |connection: &mut C, again| {
                    (calls.upload)(
                        connection,
                        file,
                        &remote,
                        resume || again,
                        progress.as_mut(),
                    )
                    .await
                },
                note_retry,
            )
            .await?;
            if globals.verify
                && let Some(connection) = connection.as_mut()
            {
                // A mismatch sends the file again, once.
                let mut sent_again = false;
                loop {
                    match (calls.check)(connection, &remote, file).await? {
                        Check::Verified(_) => break,
                        Check::Unverified => {
                            unverified += 1;
                            break;
                        }
                        Check::Mismatch(ours, theirs) if sent_again => {
                            return Err(Check::mismatch_error(&remote, &ours, &theirs));
                        }
                        Check::Mismatch(..) => {
                            sent_again = true;
                            (calls.resend)(connection, file, &remote, progress.as_mut()).await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    if unverified > 0 {
        eprintln!("ferry: {}", verify::unverified_warning(unverified));
    }
    result
}

/// `ferry ls URL`: one line an entry, `SIZE  YYYY-MM-DD HH:MM  NAME` (folders end in `/`).
pub async fn ls(globals: &Globals, url: &str) -> Result<Vec<String>, ClientError> {
    if is_sftp_url(url) {
        return sftp::ls(globals, url).await;
    }
    let url = FtpUrl::parse(url)?;
    let (mut connection, _) = open(globals, &url).await?;
    let path = url.path.trim_end_matches('/');
    let result = connection.list((!path.is_empty()).then_some(path)).await;
    connection.quit().await;
    Ok(listing_lines(result?))
}

/// The lines of `ferry ls`, sorted by name: `SIZE  YYYY-MM-DD HH:MM  NAME` (folders end in
/// `/`).
pub(crate) fn listing_lines(mut entries: Vec<ferry_proto::listing::Entry>) -> Vec<String> {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
        .iter()
        .map(|entry| {
            let when = entry.modified.map_or_else(
                || "                ".to_string(),
                |secs| {
                    let t = UtcTime::from_unix(secs);
                    format!(
                        "{:04}-{:02}-{:02} {:02}:{:02}",
                        t.year, t.month, t.day, t.hour, t.minute
                    )
                },
            );
            let slash = if entry.kind == EntryKind::Dir {
                "/"
            } else {
                ""
            };
            format!(
                "{:>12}  {when}  {}{slash}",
                entry.size,
                String::from_utf8_lossy(&entry.name)
            )
        })
        .collect()
}

/// `ferry rm URL`: deletes a file.
pub async fn rm(globals: &Globals, url: &str) -> Result<(), ClientError> {
    if is_sftp_url(url) {
        return sftp::rm(globals, url).await;
    }
    let url = FtpUrl::parse(url)?;
    let (mut connection, _) = open(globals, &url).await?;
    let result = connection.delete(&url.path).await.map(|_| ());
    connection.quit().await;
    result
}

/// `ferry mkdir [-p] URL`: creates a folder (with `parents`, also the missing ones above it,
/// and an existing folder is fine).
pub async fn mkdir(globals: &Globals, url: &str, parents: bool) -> Result<(), ClientError> {
    if is_sftp_url(url) {
        return sftp::mkdir(globals, url, parents).await;
    }
    let url = FtpUrl::parse(url)?;
    let path = url.path.trim_end_matches('/').to_string();
    if path.is_empty() {
        return Err(ClientError::Usage(
            "the URL names no folder to create".into(),
        ));
    }
    let (mut connection, _) = open(globals, &url).await?;
    let result = if parents {
        connection.mkdir_all(&path).await
    } else {
        connection.mkdir(&path).await.map(|_| ())
    };
    connection.quit().await;
    result
}

/// `ferry mirror [-R] SRC DST [--parallel N] [--delete] [--only-newer] [--exclude G]
/// [--include G] [--dry-run]`: without `upload`, SRC is a URL and DST a local folder; with it,
/// the other way round. Returns what to print: the dry run's actions, one a line, then the
/// summary line. Fails if any file failed, naming the first (or the one a full server refused:
/// the mirror stops there).
pub async fn mirror(
    globals: &Globals,
    upload: bool,
    source: &str,
    target: &str,
    options: &transfer::MirrorOptions,
) -> Result<String, ClientError> {
    let (remote_url, local, direction) = if upload {
        (target, PathBuf::from(source), Direction::Upload)
    } else {
        (source, PathBuf::from(target), Direction::Download)
    };
    let report = if is_sftp_url(remote_url) {
        sftp::mirror_url(globals, direction, remote_url, &local, options).await?
    } else {
        let url = FtpUrl::parse(remote_url)?;
        let (mut connection, connector) = open(globals, &url).await?;
        let remote = url.path.trim_end_matches('/').to_string();
        let result = transfer::mirror(
            &mut connection,
            &connector,
            direction,
            &remote,
            &local,
            options,
            &globals.progress,
        )
        .await;
        connection.quit().await;
        result?
    };
    if report.unverified > 0 {
        eprintln!("ferry: {}", verify::unverified_warning(report.unverified));
    }
    let summary = report.summary();
    let mut text = String::new();
    for line in report.dry_run.iter().flatten() {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&summary);
    if let Some(name) = &report.stopped
        && let Some((_, error)) = report.failed.iter().find(|(failed, _)| failed == name)
    {
        return Err(ClientError::Usage(format!(
            "{summary}; stopped at {name}: {error}"
        )));
    }
    match report.failed.into_iter().next() {
        None => Ok(text),
        Some((name, error)) => Err(ClientError::Usage(format!(
            "{summary}; first failure: {name}: {error}"
        ))),
    }
}
