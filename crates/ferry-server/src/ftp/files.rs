//! Paths and file management (RFC 959 section 4.1.3, RFC 3659): CWD, DELE, MKD, RMD, RNFR,
//! RNTO, MFMT.

use super::*;

#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
    Delete,
    RemoveDir,
    MakeDir,
}

/// Doubles `"` as RFC 959 appendix II asks for pathnames in 257 replies.
pub(super) fn quote_path(path: &VirtualPath) -> String {
    path.to_string().replace('"', "\"\"")
}

impl Session {
    /// Resolves a client path to (the user's view, the storage path).
    pub(super) fn resolve(
        &self,
        account: &Account,
        input: &[u8],
    ) -> Result<(VirtualPath, VirtualPath), Reply> {
        let view = self.cwd.resolve(input).map_err(path_reply)?;
        let full = account
            .home
            .resolve(&view.relative_bytes())
            .map_err(path_reply)?;
        Ok((view, full))
    }

    pub(super) async fn cwd(&mut self, account: &Account, input: &[u8]) -> Reply {
        let (view, full) = match self.resolve(account, input) {
            Ok(paths) => paths,
            Err(answer) => return answer,
        };
        match self.shared.storage.stat(&full).await {
            Ok(entry) if entry.kind == EntryKind::Dir => {
                self.cwd = view;
                reply(
                    ReplyCode::FILE_ACTION_OK,
                    format!("Folder changed to \"{}\".", quote_path(&self.cwd)),
                )
            }
            Ok(_) => refuse(Fault::NotAFolder),
            Err(error) => storage_reply(&error),
        }
    }

    pub(super) async fn simple(&self, account: &Account, input: &[u8], op: Op) -> Reply {
        let (view, full) = match self.resolve(account, input) {
            Ok(paths) => paths,
            Err(answer) => return answer,
        };
        let storage = &self.shared.storage;
        let result = match op {
            Op::Delete => storage.remove_file(&full).await,
            Op::RemoveDir => storage.remove_dir(&full).await,
            Op::MakeDir => storage.create_dir(&full).await,
        };
        match (result, op) {
            (Ok(()), Op::MakeDir) => reply(
                ReplyCode::PATH_CREATED,
                format!("\"{}\" created.", quote_path(&view)),
            ),
            (Ok(()), Op::Delete) => reply(ReplyCode::FILE_ACTION_OK, "File deleted."),
            (Ok(()), Op::RemoveDir) => reply(ReplyCode::FILE_ACTION_OK, "Folder removed."),
            (Err(error), _) => storage_reply(&error),
        }
    }

    pub(super) async fn rnfr(&mut self, account: &Account, input: &[u8]) -> Reply {
        let (_, full) = match self.resolve(account, input) {
            Ok(paths) => paths,
            Err(answer) => return answer,
        };
        match self.shared.storage.stat(&full).await {
            Ok(_) => {
                self.rename_from = Some(full);
                reply(ReplyCode::FILE_ACTION_PENDING, "Ready for RNTO.")
            }
            Err(error) => storage_reply(&error),
        }
    }

    pub(super) async fn rnto(&mut self, account: &Account, input: &[u8]) -> Reply {
        let Some(from) = self.rename_from.take() else {
            return reply(ReplyCode::BAD_SEQUENCE, "RNFR required first.");
        };
        let (_, to) = match self.resolve(account, input) {
            Ok(paths) => paths,
            Err(answer) => return answer,
        };
        match self.shared.storage.rename(&from, &to).await {
            Ok(()) => reply(ReplyCode::FILE_ACTION_OK, "Rename successful."),
            Err(error) => storage_reply(&error),
        }
    }

    pub(super) async fn mfmt(&self, account: &Account, secs: i64, input: &[u8]) -> Reply {
        let full = match self.resolve(account, input) {
            Ok((_, full)) => full,
            Err(answer) => return answer,
        };
        match self.shared.storage.set_modified(&full, secs).await {
            Ok(()) => reply(
                ReplyCode::FILE_STATUS,
                format!(
                    "Modify={}; {}",
                    time::format_timeval(secs),
                    String::from_utf8_lossy(input)
                ),
            ),
            Err(error) => storage_reply(&error),
        }
    }
}
