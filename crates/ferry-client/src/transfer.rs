//! Moving files: download (with resume), upload, and mirroring a tree either way.
//!
//! Downloads go to a hidden partial file beside the target (`.NAME.ferry-part`) and are renamed
//! onto the final name only when the server confirmed the end of the transfer and the byte count
//! matches SIZE. A failed download leaves nothing under the final name and keeps the partial, so
//! `--continue` resumes it with REST. Data moves through [`BUFFER_SIZE`] buffers; a plain
//! (not TLS) download is received and written on one blocking thread per file, so a chunk costs a
//! `read(2)` and a `write(2)` and no hand-off between threads. A mirror takes file sizes from its
//! listing instead of asking SIZE per file, and a file of at most 64 KiB is read into memory and
//! written, stamped and renamed in one step once the server confirmed it (its partial exists
//! only when the transfer failed with bytes to keep).
//!
//! This module reports progress events to a [`Progress`] and prints nothing itself.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferry_proto::listing::EntryKind;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::ClientError;
use crate::connection::{BUFFER_SIZE, Connection, Connector, DataStream, StoreMode};
use crate::progress::{Progress, ProgressMode};

/// How often a transfer on a blocking thread reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

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

/// Downloads `remote` to `target`. With `resume`, continues a partial left by an earlier try.
pub async fn download(
    connection: &mut Connection,
    remote: &str,
    target: &Path,
    resume: bool,
    progress: &mut dyn Progress,
) -> Result<TransferStats, ClientError> {
    let options = DownloadOptions {
        resume,
        ..DownloadOptions::default()
    };
    download_with(connection, remote, target, options, progress).await
}

/// How [`download_with`] fetches one file.
#[derive(Debug, Clone, Copy, Default)]
pub struct DownloadOptions {
    /// Continue a partial left by an earlier try (REST).
    pub resume: bool,
    /// The size a listing showed. SIZE is then not asked (a round trip less per file); a
    /// transfer that ends at another size is checked against SIZE before it counts as short,
    /// since the file may have changed after the listing.
    pub listed_size: Option<u64>,
    /// Give the file this modification time (Unix seconds) before it takes its name.
    pub modified: Option<i64>,
}

/// Downloads `remote` to `target` through the hidden partial file, renamed onto `target` once
/// the server confirmed the end and the byte count is right. A device or a pipe (`-o
/// /dev/null`, a FIFO) is written as it is: a partial renamed over it would replace it.
///
/// Over plain FTP the data connection is read on one blocking thread that also writes the file
/// (a `read(2)` and a `write(2)` per [`BUFFER_SIZE`] chunk, no hand-off between threads);
/// over TLS the async stream is read and the file written through `tokio::fs`.
pub async fn download_with(
    connection: &mut Connection,
    remote: &str,
    target: &Path,
    options: DownloadOptions,
    progress: &mut dyn Progress,
) -> Result<TransferStats, ClientError> {
    let started = Instant::now();
    let partial = partial_path(target);
    let offset = if options.resume && !is_device(target).await {
        tokio::fs::metadata(&partial)
            .await
            .map_or(0, |meta| meta.len())
    } else {
        0
    };
    // SIZE is optional (RFC 3659); without it we trust the server's 226.
    let total = match options.listed_size {
        Some(size) => Some(size),
        None => match connection.size(remote).await {
            Ok(size) => Some(size),
            Err(error) if error.is_server_refusal() => None,
            Err(error) => return Err(error),
        },
    };
    let name = target
        .file_name()
        .map_or_else(|| remote.to_string(), |n| n.to_string_lossy().into_owned());
    if offset > 0 && total == Some(offset) {
        finish_download(&partial, target).await?;
        return Ok(TransferStats {
            bytes: 0,
            size: offset,
            resumed_from: offset,
            elapsed: started.elapsed(),
        });
    }
    let offset = if total.is_some_and(|total| offset > total) {
        0
    } else {
        offset
    };
    // A server without REST sends the whole file: the offset comes back as 0.
    let (mut data, offset) = connection.retrieve(remote, offset).await?;
    let sink = Sink {
        target: target.to_path_buf(),
        partial: partial.clone(),
        append: offset > 0,
        modified: options.modified,
    };
    progress.start(&name, total, offset);
    // A small file the listing announced is read into memory and written in one step after the
    // server confirmed it, without a thread hand-off.
    let small = options
        .listed_size
        .filter(|&size| offset == 0 && size <= SMALL_FILE);
    let (outcome, received, landed) = receive(connection, &mut data, sink, small, progress).await;
    let result = match outcome {
        Ok(()) => connection.finish_data(data).await.map(|_| ()),
        Err(error) => Err(connection.abandon_after(data, error).await),
    };
    let size = offset + received;
    let result = match (result, total) {
        (Ok(()), Some(total)) if total != size => {
            // A listing's size may be out of date: SIZE has the last word.
            let now = match options.listed_size {
                Some(_) => connection.size(remote).await.unwrap_or(total),
                None => total,
            };
            if now == size {
                Ok(())
            } else {
                Err(ClientError::Protocol(format!(
                    "transfer incomplete: {size} of {now} bytes arrived"
                )))
            }
        }
        (result, _) => result,
    };
    // Whether the partial is still to be renamed onto the target (not for a device, nor for a
    // small file, which Sink::store wrote and renamed in one step).
    let rename = match landed {
        Landed::File { device } => !device,
        Landed::Memory(bytes, sink) => {
            let commit = result.is_ok();
            // On this task, not the blocking pool: at most SMALL_FILE bytes into the page cache,
            // an open, a write, a futimens and a rename, cost less than the two thread
            // hand-offs of spawn_blocking (measured: 6 futex calls a file, about 20 % of a
            // mirror of 4 KiB files).
            let stored = sink.store(&bytes, commit);
            // After a failed transfer, the transfer's own error is the one to report.
            if let (Err(error), true) = (stored, commit) {
                progress.finish(false);
                return Err(error);
            }
            false
        }
    };
    progress.finish(result.is_ok());
    if let Err(error) = result {
        if size == 0 && rename {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        return Err(error);
    }
    if rename {
        finish_download(&partial, target).await?;
    }
    Ok(TransferStats {
        bytes: received,
        size,
        resumed_from: offset,
        elapsed: started.elapsed(),
    })
}

/// Files up to this size that a listing announced are received into memory and written on the
/// async task (see [`download_with`]); below glibc's mmap threshold, so the buffer is cheap.
const SMALL_FILE: u64 = 64 * 1024;

/// Where the bytes of a download ended up.
enum Landed {
    /// Written while they came, to the partial or to the device.
    File {
        /// The target was a device or a pipe, written directly.
        device: bool,
    },
    /// Held in memory, for [`Sink::store`] to write in one step (it also renames, when the
    /// transfer was good).
    Memory(Vec<u8>, Sink),
}

/// Receives the data connection into `sink`: with `small` (the listed size of a small file),
/// into memory first, going on to the file if more than that arrives.
async fn receive(
    connection: &Connection,
    data: &mut DataStream,
    sink: Sink,
    small: Option<u64>,
    progress: &mut dyn Progress,
) -> (Result<(), ClientError>, u64, Landed) {
    let mut prefix = Vec::new();
    if let Some(size) = small {
        // One byte more than announced: room to notice a file that grew.
        let room = usize::try_from(size).map_or(0, |size| size + 1);
        prefix.resize(room, 0);
        let mut filled = 0;
        while filled < room {
            match connection.read_data(data, &mut prefix[filled..]).await {
                Ok(0) => {
                    prefix.truncate(filled);
                    progress.advance(filled as u64);
                    return (Ok(()), filled as u64, Landed::Memory(prefix, sink));
                }
                Ok(read) => filled += read,
                Err(error) => {
                    prefix.truncate(filled);
                    return (Err(error), filled as u64, Landed::Memory(prefix, sink));
                }
            }
        }
        progress.advance(filled as u64);
    }
    let (outcome, received, device) = match connection.take_blocking_data(data) {
        Ok(Some(socket)) => receive_on_thread(socket, sink, prefix, progress).await,
        Ok(None) => receive_async(connection, data, sink, prefix, progress).await,
        Err(error) => {
            let received = prefix.len() as u64;
            return (Err(error), received, Landed::Memory(prefix, sink));
        }
    };
    (outcome, received, Landed::File { device })
}

/// True when `path` is something other than a file or a folder: a device, a pipe, a socket.
async fn is_device(path: &Path) -> bool {
    tokio::fs::metadata(path)
        .await
        .is_ok_and(|meta| !meta.is_file() && !meta.is_dir())
}

/// Where the bytes of one download go.
#[derive(Debug)]
struct Sink {
    target: PathBuf,
    partial: PathBuf,
    /// Continue the partial (after REST) instead of starting it afresh.
    append: bool,
    modified: Option<i64>,
}

impl Sink {
    /// Opens the file to write (blocking): the target itself when it is a device or a pipe,
    /// else the partial. Returns the file, the path it was opened by, and whether it is a
    /// device.
    fn open(&self) -> Result<(std::fs::File, &Path, bool), ClientError> {
        let device =
            std::fs::metadata(&self.target).is_ok_and(|meta| !meta.is_file() && !meta.is_dir());
        let path = if device { &self.target } else { &self.partial };
        let opened = if device {
            std::fs::OpenOptions::new().write(true).open(path)
        } else if self.append {
            std::fs::OpenOptions::new().append(true).open(path)
        } else {
            std::fs::File::create(path)
        };
        opened
            .map(|file| (file, path.as_path(), device))
            .map_err(|source| ClientError::local(path, source))
    }

    /// Writes a download held in memory (blocking): with `commit`, to the partial, stamped and
    /// renamed onto the target (or straight to a device); without, the bytes that came are kept
    /// in the partial for a later `--continue`, and nothing is written when none came.
    fn store(&self, bytes: &[u8], commit: bool) -> Result<(), ClientError> {
        if !commit && bytes.is_empty() {
            return Ok(());
        }
        let (mut file, path, device) = self.open()?;
        file.write_all(bytes)
            .map_err(|source| ClientError::local(path, source))?;
        if !commit {
            return Ok(());
        }
        self.stamp(&file, device);
        drop(file);
        if !device {
            std::fs::rename(&self.partial, &self.target)
                .map_err(|source| ClientError::local(&self.target, source))?;
        }
        Ok(())
    }

    /// Gives a finished partial the remote time (a failure to do so is not an error: the
    /// mirror then only transfers the file again next time).
    fn stamp(&self, file: &std::fs::File, device: bool) {
        if let (Some(secs), false) = (self.modified, device) {
            let _ = file.set_modified(system_time(secs));
        }
    }
}

/// Ends the data connection when dropped: a receive thread whose download was abandoned (the
/// future dropped, Ctrl-C) stops at once instead of reading on, and the server learns at once.
///
/// shutdown(2) alone is not enough. It sends a FIN, and the server only hears of it by a reset
/// when its next bytes arrive; if the receive thread is stuck on its own output (a pipe nobody
/// reads, a disk under writeback) with the receive window full, no bytes can arrive, and the
/// server waits, its transfer open, for as long as the thread is stuck. So on Linux the
/// connection is first reset with connect(AF_UNSPEC), which aborts it whatever the thread is
/// doing; the thread's next read fails.
struct AbortOnDrop(Option<std::net::TcpStream>);

impl AbortOnDrop {
    /// Lets the connection close normally: a FIN once the receive thread's socket is closed.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(socket) = self.0.take() {
            #[cfg(target_os = "linux")]
            let _ = rustix::net::connect_unspec(&socket);
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Receives a plain data connection into `sink` on a blocking thread, forwarding progress every
/// [`PROGRESS_EVERY`]. Returns the outcome, the bytes received and whether the sink was a
/// device.
async fn receive_on_thread(
    socket: std::net::TcpStream,
    sink: Sink,
    prefix: Vec<u8>,
    progress: &mut dyn Progress,
) -> (Result<(), ClientError>, u64, bool) {
    let mut guard = AbortOnDrop(socket.try_clone().ok());
    let shown_before = prefix.len() as u64;
    let moved = Arc::new(AtomicU64::new(shown_before));
    let counter = moved.clone();
    let mut job =
        tokio::task::spawn_blocking(move || receive_blocking(socket, &sink, &prefix, &counter));
    let mut shown = shown_before;
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    let joined = loop {
        tokio::select! {
            joined = &mut job => break joined,
            _ = tick.tick() => {
                let now = moved.load(Ordering::Relaxed);
                progress.advance(now - shown);
                shown = now;
            }
        }
    };
    // A receive that reached the end of the data closes it the usual way. One that failed (a
    // full disk, a time-out) resets it now, so a server still sending sees it and answers.
    if matches!(joined, Ok((Ok(()), _))) {
        guard.disarm();
    }
    drop(guard);
    let received = moved.load(Ordering::Relaxed);
    progress.advance(received - shown);
    match joined {
        Ok((outcome, device)) => (outcome, received, device),
        Err(error) => (
            Err(ClientError::network(
                "receiving data",
                std::io::Error::other(error.to_string()),
            )),
            received,
            false,
        ),
    }
}

/// The blocking receive loop: the way curl and lftp receive, one thread, no hand-offs.
fn receive_blocking(
    mut socket: std::net::TcpStream,
    sink: &Sink,
    prefix: &[u8],
    moved: &AtomicU64,
) -> (Result<(), ClientError>, bool) {
    let (mut file, path, device) = match sink.open() {
        Ok(opened) => opened,
        Err(error) => return (Err(error), false),
    };
    if let Err(source) = file.write_all(prefix) {
        return (Err(ClientError::local(path, source)), device);
    }
    // Zero copy pays off into a file's pages; a device or a pipe takes the bytes as cheaply
    // from a buffer, and read in large steps drains the socket in fewer calls.
    #[cfg(target_os = "linux")]
    if !device && let Some(outcome) = zero_copy::receive(&socket, &mut file, path, moved) {
        if outcome.is_ok() {
            sink.stamp(&file, device);
        }
        return (outcome, device);
    }
    let mut buf = vec![0; BUFFER_SIZE];
    let mut mark = WakeMark::new();
    let outcome = loop {
        let asked = Instant::now();
        let read = match socket.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            // The read timeout (SO_RCVTIMEO) ran out.
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break Err(ClientError::Timeout("waiting for data".into()));
            }
            Err(error) => break Err(ClientError::network("reading data", error)),
        };
        mark.after_read(&socket, read, asked, Instant::now());
        if let Err(source) = file.write_all(&buf[..read]) {
            break Err(ClientError::local(path, source));
        }
        moved.fetch_add(read as u64, Ordering::Relaxed);
    };
    if outcome.is_ok() {
        sink.stamp(&file, device);
    }
    (outcome, device)
}

/// A receive low-water mark (SO_RCVLOWAT) on a blocking data socket, on only while the data
/// comes fast. With the mark, a read returns once [`WakeMark::BYTES`] are queued (or at the end
/// of the stream, or at the read timeout) instead of at every burst: fewer wake-ups on both
/// sides. A 1 GiB `ferry get` to /dev/null from ferryd on loopback went from 1.03-1.09x curl's
/// rate to 1.14-1.22x (9 alternating runs). On a slow link the mark would hold reads (and the progress bar) back, so
/// it goes on only after a window of [`WakeMark::WINDOW`] bytes came within [`WakeMark::FAST`],
/// and off again after any read that waited longer than [`WakeMark::SLOW_READ`].
struct WakeMark {
    on: bool,
    window_start: Instant,
    window_bytes: u64,
}

impl WakeMark {
    const BYTES: i32 = 256 * 1024;
    const WINDOW: u64 = 1024 * 1024;
    /// 1 MiB within 32 ms is 32 MB/s or more: 256 KiB then take at most 8 ms to arrive.
    const FAST: Duration = Duration::from_millis(32);
    const SLOW_READ: Duration = Duration::from_millis(100);

    fn new() -> WakeMark {
        WakeMark {
            on: false,
            window_start: Instant::now(),
            window_bytes: 0,
        }
    }

    /// Called after a read, asked for at `asked` and done at `now`, that moved `read` bytes.
    fn after_read(
        &mut self,
        socket: &std::net::TcpStream,
        read: usize,
        asked: Instant,
        now: Instant,
    ) {
        if self.on && now.saturating_duration_since(asked) > Self::SLOW_READ {
            self.switch(socket, false, now);
            return;
        }
        self.window_bytes += read as u64;
        if self.window_bytes >= Self::WINDOW {
            let fast = now.saturating_duration_since(self.window_start) <= Self::FAST;
            if fast != self.on {
                self.switch(socket, fast, now);
            }
            self.window_start = now;
            self.window_bytes = 0;
        }
    }

    fn switch(&mut self, socket: &std::net::TcpStream, on: bool, now: Instant) {
        self.on = on;
        self.window_start = now;
        self.window_bytes = 0;
        // 1 is the kernel's default: ready at the first byte.
        set_receive_low_water(socket, if on { Self::BYTES } else { 1 });
    }
}

/// Sets SO_RCVLOWAT; a failure leaves the mark where it was, which only costs wake-ups.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_receive_low_water(socket: &std::net::TcpStream, bytes: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt reads size_of::<c_int>() bytes from a pointer to a live c_int, on a
    // descriptor borrowed from a live socket.
    let _ = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&raw const bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

#[cfg(not(target_os = "linux"))]
fn set_receive_low_water(_socket: &std::net::TcpStream, _bytes: i32) {}

/// Linux: the data connection moved to the file with splice(2) through a pipe, so the bytes
/// are not copied into this process and back (half the CPU of read + write per byte; the copy
/// into a file's page cache remains).
#[cfg(target_os = "linux")]
mod zero_copy {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};

    use rustix::io::Errno;
    use rustix::pipe::{PipeFlags, SpliceFlags, fcntl_setpipe_size, pipe_with, splice};

    use crate::ClientError;

    /// Bytes asked of the socket at a time, and the pipe's size when the system allows it.
    const CHUNK: usize = 1024 * 1024;

    /// Receives `socket` until its end into `file`. `None` when splice cannot be used here
    /// (no pipe, a file opened for appending, a device without splice support): then nothing
    /// is lost, the caller goes on with read and write from where this stopped.
    pub(super) fn receive(
        socket: &TcpStream,
        file: &mut std::fs::File,
        path: &Path,
        moved: &AtomicU64,
    ) -> Option<Result<(), ClientError>> {
        let (pipe_out, pipe_in) = pipe_with(PipeFlags::CLOEXEC).ok()?;
        // The default 64 KiB pipe works too, in smaller steps.
        let _ = fcntl_setpipe_size(&pipe_in, CHUNK);
        let mut mark = super::WakeMark::new();
        loop {
            let asked = std::time::Instant::now();
            let pulled = match splice(socket, None, &pipe_in, None, CHUNK, SpliceFlags::MOVE) {
                Ok(0) => return Some(Ok(())),
                Ok(pulled) => {
                    mark.after_read(socket, pulled, asked, std::time::Instant::now());
                    pulled
                }
                Err(Errno::INTR) => continue,
                // The read timeout (SO_RCVTIMEO) ran out.
                Err(Errno::AGAIN) => {
                    return Some(Err(ClientError::Timeout("waiting for data".into())));
                }
                // The pipe is empty here, so the caller can take over.
                Err(Errno::INVAL) => return None,
                Err(error) => return Some(Err(ClientError::network("reading data", error.into()))),
            };
            let mut left = pulled;
            while left > 0 {
                match splice(&pipe_out, None, &*file, None, left, SpliceFlags::MOVE) {
                    Ok(0) => {
                        let error = std::io::Error::from(std::io::ErrorKind::WriteZero);
                        return Some(Err(ClientError::local(path, error)));
                    }
                    Ok(written) => {
                        left -= written;
                        moved.fetch_add(written as u64, Ordering::Relaxed);
                    }
                    Err(Errno::INTR) => {}
                    // This file does not take splice (O_APPEND, some devices): copy what the
                    // pipe holds, then let the caller go on.
                    Err(Errno::INVAL) => {
                        return match copy_out(std::fs::File::from(pipe_out), file, left, moved) {
                            Ok(()) => None,
                            Err(error) => Some(Err(ClientError::local(path, error))),
                        };
                    }
                    Err(error) => return Some(Err(ClientError::local(path, error.into()))),
                }
            }
        }
    }

    /// Copies the `left` bytes a pipe holds into `file` with read and write.
    fn copy_out(
        mut pipe: std::fs::File,
        file: &mut std::fs::File,
        mut left: usize,
        moved: &AtomicU64,
    ) -> std::io::Result<()> {
        let mut buf = vec![0; left.min(CHUNK)];
        while left > 0 {
            let want = left.min(buf.len());
            pipe.read_exact(&mut buf[..want])?;
            file.write_all(&buf[..want])?;
            left -= want;
            moved.fetch_add(want as u64, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Receives a TLS data connection into `sink` through `tokio::fs`.
async fn receive_async(
    connection: &Connection,
    data: &mut DataStream,
    sink: Sink,
    prefix: Vec<u8>,
    progress: &mut dyn Progress,
) -> (Result<(), ClientError>, u64, bool) {
    let opened = tokio::task::spawn_blocking(move || {
        sink.open()
            .map(|(file, path, device)| (file, path.to_path_buf(), device))
            .map(|opened| (opened, sink))
    })
    .await;
    let ((file, path, device), sink) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(error)) => return (Err(error), 0, false),
        Err(error) => {
            let error = std::io::Error::other(error.to_string());
            return (
                Err(ClientError::network("opening the file", error)),
                0,
                false,
            );
        }
    };
    let mut file = tokio::fs::File::from_std(file);
    let mut buf = vec![0; BUFFER_SIZE];
    let mut received = prefix.len() as u64;
    let outcome: Result<(), ClientError> = async {
        file.write_all(&prefix)
            .await
            .map_err(|source| ClientError::local(&path, source))?;
        loop {
            let read = connection.read_data(data, &mut buf).await?;
            if read == 0 {
                return Ok(());
            }
            file.write_all(&buf[..read])
                .await
                .map_err(|source| ClientError::local(&path, source))?;
            received += read as u64;
            progress.advance(read as u64);
        }
    }
    .await;
    let flushed = file
        .flush()
        .await
        .map_err(|source| ClientError::local(&path, source));
    let outcome = outcome.and(flushed);
    if outcome.is_ok() {
        let file = file.into_std().await;
        sink.stamp(&file, device);
    }
    (outcome, received, device)
}

/// Downloads `remote` into `writer` (standard output, a pipe...) rather than a file: no partial,
/// no resume. Fails if fewer bytes arrive than SIZE announced.
pub async fn download_to_writer<W>(
    connection: &mut Connection,
    remote: &str,
    writer: &mut W,
    progress: &mut dyn Progress,
) -> Result<TransferStats, ClientError>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let started = Instant::now();
    let total = match connection.size(remote).await {
        Ok(size) => Some(size),
        Err(error) if error.is_server_refusal() => None,
        Err(error) => return Err(error),
    };
    let (mut data, _) = connection.retrieve(remote, 0).await?;
    progress.start(remote_base_name(remote), total, 0);
    let mut buf = vec![0; BUFFER_SIZE];
    let mut received = 0u64;
    let outcome: Result<(), ClientError> = async {
        loop {
            let read = connection.read_data(&mut data, &mut buf).await?;
            if read == 0 {
                break;
            }
            writer
                .write_all(&buf[..read])
                .await
                .map_err(|source| ClientError::local("-", source))?;
            received += read as u64;
            progress.advance(read as u64);
        }
        writer
            .flush()
            .await
            .map_err(|source| ClientError::local("-", source))
    }
    .await;
    let result = match outcome {
        Ok(()) => connection.finish_data(data).await.map(|_| ()),
        Err(error) => Err(connection.abandon_after(data, error).await),
    };
    let result = result.and_then(|()| match total {
        Some(total) if total != received => Err(ClientError::Protocol(format!(
            "transfer incomplete: {received} of {total} bytes arrived"
        ))),
        _ => Ok(()),
    });
    progress.finish(result.is_ok());
    result?;
    Ok(TransferStats {
        bytes: received,
        size: received,
        resumed_from: 0,
        elapsed: started.elapsed(),
    })
}

async fn finish_download(partial: &Path, target: &Path) -> Result<(), ClientError> {
    tokio::fs::rename(partial, target)
        .await
        .map_err(|source| ClientError::local(target, source))
}

/// Uploads the local file `source` as `remote` (STOR).
pub async fn upload(
    connection: &mut Connection,
    source: &Path,
    remote: &str,
    progress: &mut dyn Progress,
) -> Result<TransferStats, ClientError> {
    upload_resumable(connection, source, remote, false, progress).await
}

/// Uploads `source` as `remote`; with `resume`, a shorter remote file is continued from its size
/// (REST + STOR, or APPE when the server refuses REST) rather than sent again.
pub async fn upload_resumable(
    connection: &mut Connection,
    source: &Path,
    remote: &str,
    resume: bool,
    progress: &mut dyn Progress,
) -> Result<TransferStats, ClientError> {
    let started = Instant::now();
    let mut file = tokio::fs::File::open(source)
        .await
        .map_err(|error| ClientError::local(source, error))?;
    let meta = file
        .metadata()
        .await
        .map_err(|error| ClientError::local(source, error))?;
    if meta.is_dir() {
        return Err(ClientError::local(
            source,
            std::io::Error::other("is a folder, not a file"),
        ));
    }
    let name = source
        .file_name()
        .map_or_else(|| remote.to_string(), |n| n.to_string_lossy().into_owned());
    let offset = if resume {
        match connection.size(remote).await {
            Ok(size) if size <= meta.len() => size,
            Ok(_) => 0,
            Err(error) if error.is_server_refusal() => 0,
            Err(error) => return Err(error),
        }
    } else {
        0
    };
    if resume && offset == meta.len() && offset > 0 {
        return Ok(TransferStats {
            bytes: 0,
            size: offset,
            resumed_from: offset,
            elapsed: started.elapsed(),
        });
    }
    if offset > 0 {
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|error| ClientError::local(source, error))?;
    }
    let mode = if offset > 0 {
        StoreMode::Resume(offset)
    } else {
        StoreMode::Replace
    };
    // A server without REST gets APPE of the rest instead.
    let mut data = connection.store(remote, mode).await?;
    progress.start(&name, Some(meta.len()), offset);
    let mut buf = vec![0; BUFFER_SIZE];
    let mut sent = 0u64;
    let outcome: Result<(), ClientError> = async {
        loop {
            let read = file
                .read(&mut buf)
                .await
                .map_err(|error| ClientError::local(source, error))?;
            if read == 0 {
                return Ok(());
            }
            connection.write_data(&mut data, &buf[..read]).await?;
            sent += read as u64;
            progress.advance(read as u64);
        }
    }
    .await;
    let result = match outcome {
        Ok(()) => connection.finish_data(data).await.map(|_| ()),
        Err(error) => Err(connection.abandon_after(data, error).await),
    };
    progress.finish(result.is_ok());
    result?;
    Ok(TransferStats {
        bytes: sent,
        size: offset + sent,
        resumed_from: offset,
        elapsed: started.elapsed(),
    })
}

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
    let queue = Arc::new(Mutex::new(jobs.into_iter().collect::<VecDeque<_>>()));
    let report = Arc::new(Mutex::new(report));
    let extra = parallel.clamp(1, 16) - 1;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..extra.min(queue.lock().map_or(0, |q| q.len().saturating_sub(1))) {
        let mut connector = connector.clone();
        let (queue, report, progress) = (queue.clone(), report.clone(), progress.clone());
        workers.spawn(async move {
            // A worker that cannot connect leaves its share to the others.
            if let Ok(mut connection) = connector.open(|_: &str| None).await {
                work(&mut connection, direction, &queue, &report, &progress).await;
                connection.quit().await;
            }
        });
    }
    work(connection, direction, &queue, &report, &progress.clone()).await;
    while workers.join_next().await.is_some() {}
    let mut report = report
        .lock()
        .map(|mut report| std::mem::take(&mut *report))
        .unwrap_or_default();
    // A worker that could not connect leaves its share to the others; nothing is left behind.
    if let Ok(mut queue) = queue.lock() {
        for job in queue.drain(..) {
            report
                .failed
                .push((job.remote, ClientError::Usage("not transferred".into())));
        }
    }
    Ok(report)
}

async fn work(
    connection: &mut Connection,
    direction: Direction,
    queue: &Mutex<VecDeque<Job>>,
    report: &Mutex<MirrorReport>,
    progress: &ProgressMode,
) {
    loop {
        let Some(job) = queue.lock().ok().and_then(|mut queue| queue.pop_front()) else {
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
        if let Ok(mut report) = report.lock() {
            match result {
                Ok(stats) => {
                    report.transferred += 1;
                    report.bytes += stats.bytes;
                }
                Err(error) => report.failed.push((job.remote.clone(), error)),
            }
        }
    }
}

fn join_remote(folder: &str, name: &str) -> String {
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
fn same_time(remote: i64, local: i64, precise: bool) -> bool {
    if precise || remote % 60 != 0 {
        return remote == local;
    }
    if remote % 86_400 == 0 && local.div_euclid(86_400) == remote.div_euclid(86_400) {
        return true;
    }
    local.div_euclid(60) == remote.div_euclid(60)
}

fn unix_secs(time: Option<SystemTime>) -> Option<i64> {
    let since = time?.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since.as_secs()).ok()
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
fn system_time(secs: i64) -> SystemTime {
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
        assert_eq!(join_remote("", "x"), "x");
        assert_eq!(join_remote("/", "x"), "/x");
        assert_eq!(join_remote("a", "x"), "a/x");
    }

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

    /// The socket's SO_RCVLOWAT as the kernel holds it.
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    fn low_water(socket: &std::net::TcpStream) -> i32 {
        use std::os::fd::AsRawFd;
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `value`, a live c_int.
        let got = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&raw mut value).cast(),
                &raw mut len,
            )
        };
        assert_eq!(got, 0, "getsockopt(SO_RCVLOWAT)");
        value
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_wake_mark_is_on_only_while_data_comes_fast() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, _) = listener.accept().unwrap();
        assert_eq!(low_water(&socket), 1, "the kernel's default");

        let mut mark = WakeMark::new();
        let mut now = mark.window_start;
        let ms = Duration::from_millis;
        // Less than a window: no decision yet.
        mark.after_read(&socket, 512 * 1024, now, now + ms(1));
        now += ms(1);
        assert_eq!(low_water(&socket), 1);
        // A full window within FAST is fast.
        mark.after_read(&socket, 512 * 1024, now, now + ms(1));
        now += ms(1);
        assert_eq!(low_water(&socket), WakeMark::BYTES);
        // One read that waited long turns it off, so a slow link reads at every burst.
        mark.after_read(&socket, 100, now, now + WakeMark::SLOW_READ + ms(1));
        now += WakeMark::SLOW_READ + ms(1);
        assert_eq!(low_water(&socket), 1);
        // A window that took longer than FAST leaves it off.
        mark.after_read(&socket, 512 * 1024, now, now + ms(20));
        now += ms(20);
        mark.after_read(&socket, 512 * 1024, now, now + ms(20));
        now += ms(20);
        assert_eq!(low_water(&socket), 1);
        // And fast again turns it back on.
        mark.after_read(&socket, 1024 * 1024, now, now + ms(2));
        assert_eq!(low_water(&socket), WakeMark::BYTES);
    }
}
