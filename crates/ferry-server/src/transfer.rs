//! One data transfer, run as its own task so that the session can answer ABOR, STAT and NOOP
//! meanwhile. It reports back over a channel: first [`Event::Connected`], then [`Event::Done`].
//!
//! Downloads stream a file (or a listing) to the data connection; uploads stream the data
//! connection into an [`Upload`] and commit it only at a clean end of stream. In ASCII mode
//! line endings are converted (LF to CRLF going out, CRLF to LF coming in). A cancelled transfer
//! drops its upload uncommitted, so nothing partial appears under the target's name.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferry_proto::listing::{self, Entry};
use ferry_storage::{Download, ListStream, StorageError, Upload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::data::{self, DataSetup};

/// Size of the buffers that move file data.
const BUFFER_SIZE: usize = 256 * 1024;
/// Listing bytes gathered before a write to the data connection.
const LISTING_FLUSH: usize = 64 * 1024;

/// What a transfer moves.
#[derive(Debug)]
pub(crate) enum Work {
    /// RETR: a file to the client.
    Send { download: Download, ascii: bool },
    /// STOR/APPE/STOU: the client's bytes into an upload.
    Receive { upload: Upload, ascii: bool },
    /// LIST/NLST/MLSD: a listing to the client.
    List {
        source: ListSource,
        format: ListFormat,
        now: i64,
    },
}

/// Where a listing's entries come from.
#[derive(Debug)]
pub(crate) enum ListSource {
    /// A folder's entries as they are read.
    Stream(ListStream),
    /// Entries already known (LIST of a single file).
    Entries(Vec<Entry>),
}

/// How a listing is written.
#[derive(Debug, Clone)]
pub(crate) enum ListFormat {
    /// `ls -l` lines.
    Long,
    /// Names only.
    Names,
    /// MLSD facts; the permission strings for files and for folders.
    Machine {
        file_perm: &'static str,
        dir_perm: &'static str,
    },
}

/// What the transfer task tells the session.
#[derive(Debug)]
pub(crate) enum Event {
    /// The data connection is open.
    Connected,
    /// The transfer ended.
    Done(Result<(), Failure>),
}

/// Why a transfer failed; each maps to one reply in the session.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// The data connection could not be made: 425.
    #[error("data connection failed: {0}")]
    Connect(io::Error),
    /// The data connection broke: 426.
    #[error("data connection broke: {0}")]
    Network(io::Error),
    /// The storage failed: its kind's reply.
    #[error("storage: {0}")]
    Storage(StorageError),
    /// ABOR or shutdown.
    #[error("cancelled")]
    Cancelled,
}

/// A transfer in progress, as the session sees it.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) events: mpsc::Receiver<Event>,
    pub(crate) cancel: CancellationToken,
    pub(crate) bytes: Arc<AtomicU64>,
    pub(crate) started: std::time::Instant,
    pub(crate) name: String,
    pub(crate) verb: &'static str,
}

/// Starts a transfer task.
pub(crate) fn start(
    setup: DataSetup,
    peer_ip: IpAddr,
    timeout: Duration,
    work: Work,
    verb: &'static str,
    name: String,
) -> Running {
    let (sender, events) = mpsc::channel(2);
    let cancel = CancellationToken::new();
    let bytes = Arc::new(AtomicU64::new(0));
    let task_cancel = cancel.clone();
    let task_bytes = Arc::clone(&bytes);
    tokio::spawn(async move {
        let result = transfer(
            setup,
            peer_ip,
            timeout,
            work,
            &sender,
            &task_bytes,
            &task_cancel,
        )
        .await;
        let _ = sender.send(Event::Done(result)).await;
    });
    Running {
        events,
        cancel,
        bytes,
        started: std::time::Instant::now(),
        name,
        verb,
    }
}

async fn transfer(
    setup: DataSetup,
    peer_ip: IpAddr,
    timeout: Duration,
    work: Work,
    events: &mpsc::Sender<Event>,
    bytes: &AtomicU64,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    let mut stream = tokio::select! {
        () = cancel.cancelled() => return Err(Failure::Cancelled),
        stream = data::connect(setup, peer_ip, timeout) => stream.map_err(Failure::Connect)?,
    };
    let _ = events.send(Event::Connected).await;
    let sent = match work {
        // An upload stops by itself on cancel, so that its partial is flushed before we answer.
        Work::Receive { upload, ascii } => {
            return receive_file(upload, ascii, stream, bytes, cancel).await;
        }
        Work::Send { download, ascii } => {
            tokio::select! {
                () = cancel.cancelled() => return Err(Failure::Cancelled),
                sent = send_file(download, ascii, &mut stream, bytes) => sent,
            }
        }
        Work::List {
            source,
            format,
            now,
        } => {
            tokio::select! {
                () = cancel.cancelled() => return Err(Failure::Cancelled),
                sent = send_listing(source, &format, now, &mut stream, bytes) => sent,
            }
        }
    };
    sent?;
    stream.shutdown().await.map_err(Failure::Network)
}

async fn send_file(
    mut download: Download,
    ascii: bool,
    stream: &mut TcpStream,
    bytes: &AtomicU64,
) -> Result<(), Failure> {
    let mut buffer = vec![0u8; BUFFER_SIZE];
    let mut converted = Vec::new();
    let mut last = 0u8;
    loop {
        let read = download
            .read(&mut buffer)
            .await
            .map_err(|e| Failure::Storage(e.into()))?;
        if read == 0 {
            return Ok(());
        }
        let chunk = if ascii {
            converted.clear();
            last = lf_to_crlf(&buffer[..read], last, &mut converted);
            &converted[..]
        } else {
            &buffer[..read]
        };
        stream.write_all(chunk).await.map_err(Failure::Network)?;
        bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}

async fn receive_file(
    mut upload: Upload,
    ascii: bool,
    mut stream: TcpStream,
    bytes: &AtomicU64,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    let mut buffer = vec![0u8; BUFFER_SIZE];
    let mut converted = Vec::new();
    let mut pending_cr = false;
    let outcome = loop {
        let read = tokio::select! {
            () = cancel.cancelled() => break Err(Failure::Cancelled),
            read = stream.read(&mut buffer) => read,
        };
        let read = match read {
            Ok(0) => break Ok(()),
            Ok(read) => read,
            Err(error) => break Err(Failure::Network(error)),
        };
        bytes.fetch_add(read as u64, Ordering::Relaxed);
        let chunk = if ascii {
            converted.clear();
            pending_cr = crlf_to_lf(&buffer[..read], pending_cr, &mut converted);
            &converted[..]
        } else {
            &buffer[..read]
        };
        if let Err(error) = upload.write_all(chunk).await {
            break Err(Failure::Storage(error.into()));
        }
    };
    if let Err(failure) = outcome {
        // Keep what arrived (flushed) for a resume; never publish it.
        let _ = upload.abort().await;
        return Err(failure);
    }
    if pending_cr {
        upload
            .write_all(b"\r")
            .await
            .map_err(|e| Failure::Storage(e.into()))?;
    }
    upload.commit().await.map_err(Failure::Storage)
}

async fn send_listing(
    source: ListSource,
    format: &ListFormat,
    now: i64,
    stream: &mut TcpStream,
    bytes: &AtomicU64,
) -> Result<(), Failure> {
    let mut out = Vec::with_capacity(LISTING_FLUSH + 1024);
    let write_entry = |entry: &Entry, out: &mut Vec<u8>| match format {
        ListFormat::Long => listing::format_list_line(entry, now, out),
        ListFormat::Names => listing::format_nlst_line(&entry.name, out),
        ListFormat::Machine {
            file_perm,
            dir_perm,
        } => {
            let perm = if entry.kind == listing::EntryKind::Dir {
                dir_perm
            } else {
                file_perm
            };
            listing::format_mlsx(entry, None, perm, out);
            out.extend_from_slice(b"\r\n");
        }
    };
    match source {
        ListSource::Entries(entries) => entries.iter().for_each(|e| write_entry(e, &mut out)),
        ListSource::Stream(mut entries) => {
            while let Some(entry) = entries.next().await {
                // An entry that vanished while listing is skipped, not fatal.
                let Ok(entry) = entry else { continue };
                write_entry(&entry, &mut out);
                if out.len() >= LISTING_FLUSH {
                    stream.write_all(&out).await.map_err(Failure::Network)?;
                    bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
                    out.clear();
                }
            }
        }
    }
    stream.write_all(&out).await.map_err(Failure::Network)?;
    bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// Appends `input` to `out` with each LF not preceded by CR turned into CRLF; `last` is the byte
/// before `input`. Returns the last byte of `input` (or `last` if it is empty).
pub(crate) fn lf_to_crlf(input: &[u8], mut last: u8, out: &mut Vec<u8>) -> u8 {
    out.reserve(input.len() + input.len() / 16);
    for &byte in input {
        if byte == b'\n' && last != b'\r' {
            out.push(b'\r');
        }
        out.push(byte);
        last = byte;
    }
    last
}

/// Appends `input` to `out` with each CRLF turned into LF; a CR at the very end is held back
/// (returned as true) until the next chunk shows what follows it.
pub(crate) fn crlf_to_lf(input: &[u8], mut pending_cr: bool, out: &mut Vec<u8>) -> bool {
    out.reserve(input.len());
    for &byte in input {
        if pending_cr && byte != b'\n' {
            out.push(b'\r');
        }
        pending_cr = byte == b'\r';
        if !pending_cr {
            out.push(byte);
        }
    }
    pending_cr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_crlf(chunks: &[&[u8]]) -> Vec<u8> {
        let (mut out, mut last) = (Vec::new(), 0);
        for chunk in chunks {
            last = lf_to_crlf(chunk, last, &mut out);
        }
        out
    }

    fn to_lf(chunks: &[&[u8]]) -> Vec<u8> {
        let (mut out, mut pending) = (Vec::new(), false);
        for chunk in chunks {
            pending = crlf_to_lf(chunk, pending, &mut out);
        }
        if pending {
            out.push(b'\r');
        }
        out
    }

    #[test]
    fn ascii_out() {
        assert_eq!(to_crlf(&[b"a\nb\n"]), b"a\r\nb\r\n");
        assert_eq!(to_crlf(&[b"a\r", b"\nb"]), b"a\r\nb");
        assert_eq!(to_crlf(&[b"\n\n"]), b"\r\n\r\n");
    }

    #[test]
    fn ascii_in() {
        assert_eq!(to_lf(&[b"a\r\nb\r\n"]), b"a\nb\n");
        assert_eq!(to_lf(&[b"a\r", b"\nb"]), b"a\nb");
        assert_eq!(to_lf(&[b"a\rb", b"\r"]), b"a\rb\r");
        assert_eq!(to_lf(&[b"\r\r\n"]), b"\r\n");
    }
}
