//! Moving files from the shell: UPLD/put, DWLD/get, LIST/ls, mget, mput, mirror.

use std::path::{Path, PathBuf};

use ferry_proto::glob::{GlobRules, glob_match_str};
use ferry_proto::listing::EntryKind;

use super::words::{expand_home, local_glob};
use super::{Flow, Input, Repl, interruptible, say};
use crate::ClientError;
use crate::progress::Progress;
use crate::transfer::{self, Direction, MirrorOptions, TransferStats};
use crate::verify::{self, Check};

/// One file to move, for [`Repl::move_one`].
enum Move<'a> {
    Up { local: &'a Path, remote: &'a str },
    Down { remote: &'a str, target: &'a Path },
}

/// The lines after a finished UPLD or DWLD: time taken and size.
fn say_stats(stats: &TransferStats) {
    say(&format!(
        "Time elapsed: {:.3}s",
        stats.elapsed.as_secs_f64()
    ));
    say(&format!("File size: {}b", stats.size));
}

impl Repl {
    /// Moves one file, interruptibly, reporting to `progress`; `None` when not connected. With
    /// `set verify on`, the file is then checked against the server's digest: a download that
    /// differs is removed, an upload that differs is sent again once; a server without digests
    /// gets one warning a session.
    fn move_one(
        &mut self,
        what: Move<'_>,
        resume: bool,
        progress: &mut dyn Progress,
    ) -> Option<Result<TransferStats, ClientError>> {
        let verify = self.options.verify;
        let connection = self.connection.as_mut()?;
        let future = async move {
            let moved = match what {
                Move::Up { local, remote } => {
                    connection
                        .upload(local, remote, resume, &mut *progress)
                        .await
                }
                Move::Down { remote, target } => {
                    connection
                        .download(remote, target, resume, &mut *progress)
                        .await
                }
            };
            let stats = match moved {
                Ok(stats) if verify => stats,
                other => return other.map(|stats| (stats, false)),
            };
            match what {
                Move::Down { remote, target } => {
                    let check = connection.check(remote, target).await;
                    match verify::settle_download(check, target, remote).await {
                        Ok(verified) => Ok((stats, !verified)),
                        Err(error) => Err(error),
                    }
                }
                Move::Up { local, remote } => {
                    let mut sent_again = false;
                    loop {
                        match connection.check(remote, local).await {
                            Ok(Check::Verified(_)) => return Ok((stats, false)),
                            Ok(Check::Unverified) => return Ok((stats, true)),
                            Ok(Check::Mismatch(ours, theirs)) if sent_again => {
                                return Err(Check::mismatch_error(remote, &ours, &theirs));
                            }
                            Ok(Check::Mismatch(..)) => {
                                sent_again = true;
                                connection
                                    .upload(local, remote, false, &mut *progress)
                                    .await?;
                            }
                            Err(error) => return Err(error),
                        }
                    }
                }
            }
        };
        let result = interruptible(&self.runtime, self.interactive, future);
        let unverified = matches!(result, Ok((_, true)));
        if unverified && !self.warned_unverified {
            self.warned_unverified = true;
            say(&format!("Warning: {}", verify::unverified_warning(1)));
        }
        Some(result.map(|(stats, _)| stats))
    }

    pub(super) fn upld(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let (resume, arguments) = match arguments {
            [flag, rest @ ..] if flag == "-c" => (true, rest),
            _ => (false, arguments),
        };
        let (local, remote) = match arguments {
            [local] => (expand_home(local), None),
            [local, remote] => (expand_home(local), Some(remote.clone())),
            _ => {
                say("Usage: UPLD file_path");
                return Flow::Continue;
            }
        };
        self.upload_one(&local, remote, resume);
        self.refresh_names();
        Flow::Continue
    }

    pub(super) fn upload_one(
        &mut self,
        local: &Path,
        remote: Option<String>,
        resume: bool,
    ) -> bool {
        let Some(name) = local.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            say(&format!("Error: {} does not name a file", local.display()));
            return false;
        };
        let remote = remote.unwrap_or_else(|| name.clone());
        let up = Move::Up {
            local,
            remote: &remote,
        };
        let mut progress = self.progress.reporter();
        let Some(result) = self.move_one(up, resume, progress.as_mut()) else {
            return false;
        };
        match result {
            Ok(stats) => {
                say(&format!("Sent file: {name}"));
                say_stats(&stats);
                true
            }
            Err(error) => {
                self.fail(&error);
                false
            }
        }
    }

    pub(super) fn list(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let Some(connection) = self.connection.as_mut() else {
            return Flow::Continue;
        };
        let path = arguments.first().map(String::as_str);
        match interruptible(&self.runtime, self.interactive, connection.list(path)) {
            Ok(mut entries) => {
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                let mut total = 0u64;
                for entry in &entries {
                    let name = String::from_utf8_lossy(&entry.name);
                    if entry.kind == EntryKind::Dir {
                        say(&format!("\t{name}/ - {}b", entry.size));
                    } else {
                        total += entry.size;
                        say(&format!("\t{name} - {}b", entry.size));
                    }
                }
                say(&format!("Total directory size: {total}b"));
                if path.is_none()
                    && self.interactive
                    && let Ok(mut names) = self.names.lock()
                {
                    *names = entries
                        .iter()
                        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
                        .collect();
                }
            }
            Err(error) => self.fail(&error),
        }
        Flow::Continue
    }

    pub(super) fn dwld(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        let (resume, arguments) = match arguments {
            [flag, rest @ ..] if flag == "-c" => (true, rest),
            _ => (false, arguments),
        };
        let (remote, local) = match arguments {
            [remote] => (remote.clone(), None),
            [remote, local] => (remote.clone(), Some(expand_home(local))),
            _ => {
                say("Usage: DWLD file_path");
                return Flow::Continue;
            }
        };
        self.download_one(&remote, local, resume);
        Flow::Continue
    }

    pub(super) fn download_one(
        &mut self,
        remote: &str,
        local: Option<PathBuf>,
        resume: bool,
    ) -> bool {
        let name = transfer::remote_base_name(remote).to_string();
        if name.is_empty() || name == "." || name == ".." {
            say(&format!("Error: {remote} does not name a file"));
            return false;
        }
        let target = local.unwrap_or_else(|| PathBuf::from(&name));
        let target = if target.is_dir() {
            target.join(&name)
        } else {
            target
        };
        let down = Move::Down {
            remote,
            target: &target,
        };
        let mut progress = self.progress.reporter();
        let Some(result) = self.move_one(down, resume, progress.as_mut()) else {
            return false;
        };
        match result {
            Ok(stats) => {
                let shown = target
                    .file_name()
                    .map_or(name, |n| n.to_string_lossy().into_owned());
                say(&format!("Successfully downloaded {shown}"));
                say_stats(&stats);
                true
            }
            Err(error) => {
                self.fail(&error);
                let partial = transfer::partial_path(&target);
                if partial.exists() {
                    say(&format!(
                        "The partial download is kept as {}; use get -c {remote} to continue.",
                        partial.display()
                    ));
                }
                false
            }
        }
    }

    pub(super) fn mget(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        if arguments.is_empty() {
            say("Usage: mget PATTERN...");
            return Flow::Continue;
        }
        let Some(connection) = self.connection.as_mut() else {
            return Flow::Continue;
        };
        let listing = match interruptible(&self.runtime, self.interactive, connection.list(None)) {
            Ok(listing) => listing,
            Err(error) => {
                self.fail(&error);
                return Flow::Continue;
            }
        };
        let mut wanted = Vec::new();
        for pattern in arguments {
            let before = wanted.len();
            for entry in &listing {
                let name = String::from_utf8_lossy(&entry.name).into_owned();
                if entry.kind != EntryKind::Dir
                    && glob_match_str(pattern, &name, GlobRules::SHELL)
                    && !wanted.contains(&name)
                {
                    wanted.push(name);
                }
            }
            if wanted.len() == before {
                say(&format!("No remote file matches {pattern}"));
            }
        }
        for name in wanted {
            self.download_one(&name, None, false);
            if self.connection.is_none() {
                break;
            }
        }
        Flow::Continue
    }

    pub(super) fn mput(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        if arguments.is_empty() {
            say("Usage: mput PATTERN...");
            return Flow::Continue;
        }
        let mut files = Vec::new();
        for pattern in arguments {
            let matched = local_glob(&expand_home(pattern));
            if matched.is_empty() {
                say(&format!("No local file matches {pattern}"));
            }
            files.extend(matched);
        }
        for file in files {
            self.upload_one(&file, None, false);
            if self.connection.is_none() {
                break;
            }
        }
        self.refresh_names();
        Flow::Continue
    }

    pub(super) fn mirror(&mut self, arguments: &[String], _: &mut dyn Input) -> Flow {
        const USAGE: &str = "Usage: mirror [-R] [--parallel N] [--delete] [--only-newer] \
                             [--exclude GLOB] [--include GLOB] [--dry-run] SRC [DST]";
        let mut upload = false;
        let mut options = MirrorOptions {
            verify: self.options.verify,
            ..MirrorOptions::default()
        };
        let mut paths = Vec::new();
        let mut words = arguments.iter();
        while let Some(word) = words.next() {
            match word.as_str() {
                "-R" | "--reverse" => upload = true,
                "--delete" => options.delete = true,
                "--only-newer" => options.only_newer = true,
                "--dry-run" => options.dry_run = true,
                "--verify" => options.verify = true,
                "--exclude" | "--include" => match words.next() {
                    Some(glob) if word == "--exclude" => options.filter.exclude.push(glob.clone()),
                    Some(glob) => options.filter.include.push(glob.clone()),
                    None => {
                        say(USAGE);
                        return Flow::Continue;
                    }
                },
                "--parallel" | "-P" => match words.next().and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) if n > 0 => options.parallel = n,
                    _ => {
                        say(USAGE);
                        return Flow::Continue;
                    }
                },
                _ => paths.push(word.clone()),
            }
        }
        let (source, target) = match paths.as_slice() {
            [source] => (source.clone(), None),
            [source, target] => (source.clone(), Some(target.clone())),
            _ => {
                say(USAGE);
                return Flow::Continue;
            }
        };
        let default_target = |source: &str| {
            let name = transfer::remote_base_name(source);
            if name.is_empty() || name == "." || name == ".." {
                ".".to_string()
            } else {
                name.to_string()
            }
        };
        let (direction, remote, local) = if upload {
            let remote = target.unwrap_or_else(|| default_target(&source));
            (Direction::Upload, remote, expand_home(&source))
        } else {
            let local = target.map_or_else(
                || PathBuf::from(default_target(&source)),
                |t| expand_home(&t),
            );
            (Direction::Download, source, local)
        };
        let Some(connection) = self.connection.as_mut() else {
            return Flow::Continue;
        };
        let result = interruptible(
            &self.runtime,
            self.interactive,
            connection.mirror(
                self.connector.as_ref(),
                direction,
                &remote,
                &local,
                &options,
                &self.progress,
            ),
        );
        match result {
            Ok(report) => {
                for line in report.dry_run.iter().flatten() {
                    say(line);
                }
                for (name, error) in &report.failed {
                    say(&format!("Failed: {name}: {error}"));
                }
                if let Some(name) = &report.stopped {
                    say(&format!("Stopped at {name}: the server has no room left"));
                }
                say(&report.summary());
            }
            Err(error) => self.fail(&error),
        }
        self.refresh_names();
        Flow::Continue
    }
}
