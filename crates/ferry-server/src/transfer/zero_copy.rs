//! The zero-copy paths of plain transfers from and to the local disk: sendfile(2) for
//! downloads, splice(2) through a pipe for uploads, both driven by socket readiness.
//!
//! This module does NOT decide when they apply (plain TCP, binary mode, a local file: the
//! transfer does) nor handle TLS or ASCII conversion.

use super::*;

/// The pipe an upload is spliced through: the most an unprivileged process may ask for
/// (`/proc/sys/fs/pipe-max-size`, 1 MiB by default); a pipe holds page references, not copies.
const PIPE_SIZE: usize = 1024 * 1024;
/// SO_RCVLOWAT of a spliced upload: one wake-up moves at least this much. With marks of 64 KiB,
/// 128 KiB and 256 KiB, 1 GiB curl uploads on loopback ran at 1.93, 2.18-2.21 and 2.06-2.20
/// GB/s, against 1.89-2.03 without a mark (6 alternating runs each).
const UPLOAD_LOW_WATER: i32 = 128 * 1024;
/// Most bytes one sendfile(2) call may move.
const SENDFILE_CHUNK: usize = 4 * 1024 * 1024;

/// Sends what the socket takes now of a local file, from `offset` up to `end`, with
/// sendfile(2) on a non-blocking connection; true when the file is sent. A small file goes out
/// in one call on a new connection, so the session finishes it without a transfer task.
pub(crate) fn send_now(
    file: &std::fs::File,
    offset: &mut u64,
    end: u64,
    tcp: impl AsFd,
) -> io::Result<bool> {
    while *offset < end {
        let left = usize::try_from(end - *offset).unwrap_or(SENDFILE_CHUNK);
        match rustix::fs::sendfile(
            tcp.as_fd(),
            file.as_fd(),
            Some(offset),
            left.min(SENDFILE_CHUNK),
        ) {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(rustix::io::Errno::AGAIN) => return Ok(false),
            Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(true)
}

/// Sends a local file with sendfile(2): the kernel moves pages from the page cache to the
/// socket without copying them through user space. Driven by socket readiness, so a slow client
/// parks the task instead of a thread. (A read from a cold disk does block a worker thread for
/// that read, as it does in vsftpd's process.)
///
/// Each round tries sendfile first and waits for readiness only after it would block: a new
/// connection has room for a small file, and waiting first would cost a trip through the event
/// loop. It stops at `end`, the size the file had when it was opened (the size the 150 named),
/// or earlier if the file shrank.
pub(super) async fn send_zero_copy(
    file: &std::fs::File,
    mut offset: u64,
    end: u64,
    tcp: &TcpStream,
    bytes: &AtomicU64,
) -> Result<(), Failure> {
    let mut sent = send_now(file, &mut offset, end, tcp);
    let mut counted = offset;
    loop {
        bytes.fetch_add(offset - counted, Ordering::Relaxed);
        counted = offset;
        match sent {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(error) => return Err(Failure::Network(error)),
        }
        tcp.writable().await.map_err(Failure::Network)?;
        // Through try_io, so that a send that would block clears the readiness.
        sent = match tcp.try_io(tokio::io::Interest::WRITABLE, || {
            match send_now(file, &mut offset, end, tcp) {
                Ok(false) => Err(io::ErrorKind::WouldBlock.into()),
                done => done,
            }
        }) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(false),
            other => other,
        };
    }
}

/// A pipe for splice(2), as large as the kernel lets us make it (up to [`PIPE_SIZE`]).
pub(super) struct SplicePipe {
    reader: std::os::fd::OwnedFd,
    writer: std::os::fd::OwnedFd,
    size: usize,
}

impl SplicePipe {
    pub(super) fn new() -> io::Result<SplicePipe> {
        use rustix::pipe::{PipeFlags, fcntl_setpipe_size, pipe_with};
        let (reader, writer) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        // Unprivileged processes may grow a pipe to /proc/sys/fs/pipe-max-size (1 MiB).
        let size = fcntl_setpipe_size(&writer, PIPE_SIZE).unwrap_or(64 * 1024);
        Ok(SplicePipe {
            reader,
            writer,
            size,
        })
    }
}

/// Receives the rest of an upload with splice(2): socket to pipe, pipe to file, so the bytes do
/// not pass through user space. Driven by socket readiness like [`send_zero_copy`]; the pipe to
/// file step moves exactly what the pipe holds, so it does not wait on the pipe. Returns at the
/// end of the stream.
pub(super) async fn receive_spliced(
    pipe: &SplicePipe,
    tcp: &TcpStream,
    file: &std::fs::File,
    bytes: &AtomicU64,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    use rustix::pipe::{SpliceFlags, splice};
    let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
    // One wake-up per mark's worth instead of per TCP burst (about 60 KB on loopback). Plain
    // TCP ends with the client's FIN, so the mark cannot strand the last bytes; never for TLS,
    // whose client may send its last record and close_notify, then wait for ours, with fewer
    // bytes queued than the mark.
    ferry_net::set_receive_low_water(tcp, UPLOAD_LOW_WATER);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Err(Failure::Cancelled),
            ready = tcp.readable() => ready.map_err(Failure::Network)?,
        }
        let moved = tcp.try_io(tokio::io::Interest::READABLE, || {
            splice(tcp.as_fd(), None, &pipe.writer, None, pipe.size, flags).map_err(io::Error::from)
        });
        let mut left = match moved {
            Ok(0) => return Ok(()),
            Ok(moved) => moved,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
            Err(error) => return Err(Failure::Network(error)),
        };
        bytes.fetch_add(left as u64, Ordering::Relaxed);
        while left > 0 {
            match splice(
                &pipe.reader,
                None,
                file.as_fd(),
                None,
                left,
                SpliceFlags::MOVE,
            ) {
                Ok(0) => {
                    return Err(Failure::Storage(StorageError::from(io::Error::from(
                        io::ErrorKind::WriteZero,
                    ))));
                }
                Ok(written) => left -= written,
                Err(rustix::io::Errno::INTR) => {}
                Err(error) => return Err(Failure::Storage(io::Error::from(error).into())),
            }
        }
    }
}
