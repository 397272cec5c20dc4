//! Paths and file management (RFC 959 section 4.1.3, RFC 3659): CWD, DELE, MKD, RMD, RNFR,
//! RNTO, MFMT.

use ferry_proto::listing::EntryKind;
use ferry_proto::{Reply, ReplyCode, VirtualPath, quote_pathname, time};

use crate::service::FileService;

use super::replies::{Fault, file_reply, path_reply, refuse};
use super::{Session, reply};

#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
    Delete,
    RemoveDir,
    MakeDir,
}

/// A path as 257 and 250 replies quote it (RFC 959 appendix II).
pub(super) fn quote_path(path: &VirtualPath) -> String {
    quote_pathname(&path.to_string())
}

impl Session {
    /// A client path in the user's view (relative ones from the current folder).
    pub(super) fn view(&self, input: &[u8]) -> Result<VirtualPath, Reply> {
        self.cwd.resolve(input).map_err(path_reply)
    }

    pub(super) async fn cwd(&mut self, files: &FileService, input: &[u8]) -> Reply {
        let view = match self.view(input) {
            Ok(view) => view,
            Err(answer) => return answer,
        };
        match files.stat(&view).await {
            Ok(entry) if entry.kind == EntryKind::Dir => {
                self.cwd = view;
                reply(
                    ReplyCode::FILE_ACTION_OK,
                    format!("Folder changed to \"{}\".", quote_path(&self.cwd)),
                )
            }
            Ok(_) => refuse(Fault::NotAFolder),
            Err(error) => file_reply(&error),
        }
    }

    pub(super) async fn simple(&self, files: &FileService, input: &[u8], op: Op) -> Reply {
        let view = match self.view(input) {
            Ok(view) => view,
            Err(answer) => return answer,
        };
        let result = match op {
            Op::Delete => files.remove_file(&view).await,
            Op::RemoveDir => files.remove_dir(&view).await,
            Op::MakeDir => files.create_dir(&view).await,
        };
        match (result, op) {
            (Ok(()), Op::MakeDir) => reply(
                ReplyCode::PATH_CREATED,
                format!("\"{}\" created.", quote_path(&view)),
            ),
            (Ok(()), Op::Delete) => reply(ReplyCode::FILE_ACTION_OK, "File deleted."),
            (Ok(()), Op::RemoveDir) => reply(ReplyCode::FILE_ACTION_OK, "Folder removed."),
            (Err(error), _) => file_reply(&error),
        }
    }

    pub(super) async fn rnfr(&mut self, files: &FileService, input: &[u8]) -> Reply {
        let view = match self.view(input) {
            Ok(view) => view,
            Err(answer) => return answer,
        };
        if let Err(error) = files.may_rename(&view) {
            return file_reply(&error);
        }
        match files.stat(&view).await {
            Ok(_) => {
                self.rename_from = Some(view);
                reply(ReplyCode::FILE_ACTION_PENDING, "Ready for RNTO.")
            }
            Err(error) => file_reply(&error),
        }
    }

    pub(super) async fn rnto(&mut self, files: &FileService, input: &[u8]) -> Reply {
        let Some(from) = self.rename_from.take() else {
            return reply(ReplyCode::BAD_SEQUENCE, "RNFR required first.");
        };
        let to = match self.view(input) {
            Ok(view) => view,
            Err(answer) => return answer,
        };
        match files.rename(&from, &to).await {
            Ok(()) => reply(ReplyCode::FILE_ACTION_OK, "Rename successful."),
            Err(error) => file_reply(&error),
        }
    }

    pub(super) async fn mfmt(&self, files: &FileService, secs: i64, input: &[u8]) -> Reply {
        let view = match self.view(input) {
            Ok(view) => view,
            Err(answer) => return answer,
        };
        match files.set_modified(&view, secs).await {
            Ok(()) => reply(
                ReplyCode::FILE_STATUS,
                format!(
                    "Modify={}; {}",
                    time::format_timeval(secs),
                    String::from_utf8_lossy(input)
                ),
            ),
            Err(error) => file_reply(&error),
        }
    }
}
