//! Receiving a download's data connection into its file: into memory for a small file, on one
//! blocking thread for plain FTP (with the SO_RCVLOWAT wake mark and, on Linux, splice), or on
//! the async task over TLS.
//!
//! This module decides nothing about names, resume or renaming (see [`super::download`]).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::system_time;
use crate::ClientError;
use crate::connection::{BUFFER_SIZE, Connection, DataStream};
use crate::progress::Progress;

/// How often a transfer on a blocking thread reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Where the bytes of a download ended up.
pub(super) enum Landed {
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
pub(super) async fn receive(
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

/// Where the bytes of one download go.
#[derive(Debug)]
pub(super) struct Sink {
    pub(super) target: PathBuf,
    pub(super) partial: PathBuf,
    /// Continue the partial (after REST) instead of starting it afresh.
    pub(super) append: bool,
    pub(super) modified: Option<i64>,
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
    pub(super) fn store(&self, bytes: &[u8], commit: bool) -> Result<(), ClientError> {
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
        ferry_net::set_receive_low_water(socket, if on { Self::BYTES } else { 1 });
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
