//! Moving files: download (with resume), upload, and mirroring a tree either way.
//!
//! Downloads go to a hidden partial file beside the target (`.NAME.ferry-part`) and are renamed
//! onto the final name only when the server confirmed the end of the transfer and the byte count
//! matches SIZE. A failed download leaves nothing under the final name and keeps the partial, so
//! `--continue` resumes it with REST. Data moves through
//! [`BUFFER_SIZE`](crate::connection::BUFFER_SIZE) buffers; a plain (not TLS) download is received
//! and written on one blocking thread per file, so a chunk costs a `read(2)` and a `write(2)` and
//! no hand-off between threads. A mirror takes file sizes from its listing instead of asking SIZE
//! per file, and a file of at most 64 KiB is read into memory and written, stamped and renamed in
//! one step once the server confirmed it (its partial exists only when the transfer failed with
//! bytes to keep).
//!
//! This module reports progress events to a [`Progress`](crate::progress::Progress) and prints
//! nothing itself.
//!
//! `download.rs` fetches one file (partial, resume, rename), `receive.rs` moves a data
//! connection's bytes into the file (the blocking-thread and zero-copy paths), `upload.rs` sends
//! one file, and `mirror.rs` plans and runs a tree.

mod download;
mod mirror;
pub(crate) mod plan;
mod receive;
mod segments;
mod upload;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use download::{DownloadOptions, download, download_to_writer, download_with};
pub use mirror::join_remote;
pub use mirror::{Direction, MirrorReport, mirror};
pub(crate) use mirror::{Job, MirrorQueue, MirrorSession, run_mirror};
pub(crate) use plan::TimeRule;
pub use plan::{MirrorOptions, NameFilter};
pub use segments::{MIN_SEGMENT, download_segmented, ranges};
pub use upload::{upload, upload_resumable};

use crate::ClientError;

/// What one transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferStats {
    /// Bytes moved over the data connection this time.
    pub bytes: u64,
    /// Size of the complete file.
    pub size: u64,
    /// Where a resumed transfer started.
    pub resumed_from: u64,
    /// Wall time of the transfer.
    pub elapsed: Duration,
}

/// The hidden partial file a download of `target` writes to.
pub fn partial_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    target.with_file_name(format!(".{name}.ferry-part"))
}

/// The last name of a remote path (`a/b/c.txt` gives `c.txt`).
pub fn remote_base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// Sets a local file's modification time to `secs` since the epoch.
pub fn set_local_modified(path: &Path, secs: i64) -> Result<(), ClientError> {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(system_time(secs)))
        .map_err(|source| ClientError::local(path, source))
}

/// `secs` since the Unix epoch (negative: before it).
pub(crate) fn system_time(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            partial_path(Path::new("dir/a b.txt")),
            Path::new("dir/.a b.txt.ferry-part")
        );
        assert_eq!(remote_base_name("a/b/c.txt"), "c.txt");
        assert_eq!(remote_base_name("c.txt"), "c.txt");
        assert_eq!(remote_base_name("a/dir/"), "dir");
    }
}
