//! One data transfer, run as its own task so that the session can answer ABOR, STAT and NOOP
//! meanwhile. It reports back over a channel: first [`Event::Connected`], then [`Event::Done`].
//!
//! Downloads stream a file (or a listing) to the data connection; uploads stream the data
//! connection into an [`Upload`] and commit it only at a clean end of stream. In ASCII mode
//! line endings are converted (LF to CRLF going out, CRLF to LF coming in). A cancelled transfer
//! drops its upload uncommitted, so nothing partial appears under the target's name.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferry_proto::ascii::{crlf_to_lf, lf_to_crlf};
use ferry_proto::glob::{GlobRules, glob_match};
use ferry_proto::listing::{self, Entry};
use ferry_storage::{Download, ListStream, StorageError, Upload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use rustls::HandshakeKind;

use crate::data::{self, DataSetup};
use crate::service::Meter;
use crate::stream::Stream;

mod zero_copy;

pub(crate) use zero_copy::send_now;
use zero_copy::{SplicePipe, receive_spliced, send_zero_copy};

/// Size of the buffers that move file data.
const BUFFER_SIZE: usize = 256 * 1024;
/// An upload's first buffer; it grows to [`BUFFER_SIZE`] once a read fills it, so that a small
/// file does not pay for zeroing 256 KiB.
const FIRST_UPLOAD_BUFFER: usize = 16 * 1024;
/// Listing bytes gathered before a write to the data connection.
const LISTING_FLUSH: usize = 64 * 1024;

/// What a transfer moves.
#[derive(Debug)]
pub(crate) enum Work {
    /// RETR: a file to the client.
    Send {
        download: Download,
        ascii: bool,
        meter: Meter,
    },
    /// STOR/APPE/STOU: the client's bytes into an upload.
    Receive {
        upload: Upload,
        ascii: bool,
        meter: Meter,
    },
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
    /// A folder's entries whose names match a glob pattern (`*` and `?`).
    Matching(ListStream, Vec<u8>),
}

/// How a listing is written.
#[derive(Debug, Clone)]
pub(crate) enum ListFormat {
    /// `ls -l` lines.
    Long,
    /// Names only.
    Names,
    /// MLSD facts; the permission strings for files and for folders.
    Machine { file_perm: String, dir_perm: String },
}

/// What the transfer task tells the session.
#[derive(Debug)]
pub(crate) enum Event {
    /// The data connection is open. The session answers once its 150 is sent, and the transfer
    /// waits for that: the 150 reaches the client before the data (RFC 959's order), and the
    /// client reads it while we send instead of after.
    Connected(oneshot::Sender<()>),
    /// An upload reached a clean end of stream; may it be committed? The session answers
    /// false when the control connection is gone too: a client that vanished mid-upload (its
    /// process killed closes both connections) must not leave a truncated file.
    UploadEnded(oneshot::Sender<bool>),
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
    /// TLS on the data connection failed or did not resume the session: 522.
    #[error("data connection TLS: {0}")]
    Tls(String),
    /// ABOR or shutdown.
    #[error("cancelled")]
    Cancelled,
    /// The data connection moved no byte for this long: 426.
    #[error("data connection stalled: no byte moved for {0:?}")]
    Stalled(Duration),
    /// The upload would go past the user's quota of this many bytes: 552, nothing kept.
    #[error("quota exceeded: {0} bytes allowed")]
    Quota(u64),
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
    /// The file moved, in the user's view (`None` for a listing).
    pub(crate) path: Option<String>,
}

/// TLS for a data connection (after `PROT P`).
#[derive(Debug, Clone)]
pub(crate) struct DataTls {
    /// This data connection's configuration: it resumes only sessions of the control
    /// connection that opened it ([`crate::tls::SessionTls::data_connection`]).
    pub(crate) config: Arc<rustls::ServerConfig>,
    /// Refuse data connections that do not resume the control connection's session.
    pub(crate) require_reuse: bool,
    /// Where the handshake is counted.
    pub(crate) observer: Arc<crate::observe::Observer>,
}

/// Everything a transfer task needs.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) setup: DataSetup,
    pub(crate) peer_ip: IpAddr,
    pub(crate) timeout: Duration,
    pub(crate) tls: Option<DataTls>,
    pub(crate) work: Work,
    pub(crate) verb: &'static str,
    pub(crate) name: String,
    /// The file moved, in the user's view (`None` for a listing).
    pub(crate) path: Option<String>,
    /// Bytes the session sent itself before it handed the transfer over.
    pub(crate) sent: u64,
}

/// Starts a transfer task.
pub(crate) fn start(plan: Plan) -> Running {
    let (sender, events) = mpsc::channel(2);
    let cancel = CancellationToken::new();
    let bytes = Arc::new(AtomicU64::new(plan.sent));
    let task_cancel = cancel.clone();
    let task_bytes = Arc::clone(&bytes);
    let (verb, name, path) = (plan.verb, plan.name.clone(), plan.path.clone());
    tokio::spawn(async move {
        let result = transfer(plan, &sender, &task_bytes, &task_cancel).await;
        let _ = sender.send(Event::Done(result)).await;
    });
    Running {
        events,
        cancel,
        bytes,
        started: std::time::Instant::now(),
        name,
        verb,
        path,
    }
}

async fn transfer(
    plan: Plan,
    events: &mpsc::Sender<Event>,
    bytes: &AtomicU64,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    let Plan {
        setup,
        peer_ip,
        timeout,
        tls,
        work,
        ..
    } = plan;
    let announced = matches!(setup, DataSetup::Ready(_));
    // The end of a download or listing goes out at once, not after the client's ACK (Nagle).
    // A plain upload sends nothing but its FIN, which close(2) sends at once anyway.
    let nodelay = tls.is_some() || !matches!(work, Work::Receive { .. });
    let opened = async {
        let tcp = data::connect(setup, peer_ip, timeout, nodelay)
            .await
            .map_err(Failure::Connect)?;
        // 150 goes out once TCP is connected and before any TLS handshake: clients such as
        // Python's ftplib start the handshake only after they have read it.
        if !announced {
            let (sent, wait) = oneshot::channel();
            let _ = events.send(Event::Connected(sent)).await;
            let _ = wait.await;
        }
        match tls {
            None => Ok(Stream::Plain(tcp)),
            Some(tls) => handshake(tcp, tls, timeout).await,
        }
    };
    let stream = tokio::select! {
        () = cancel.cancelled() => return Err(Failure::Cancelled),
        stream = opened => stream?,
    };
    // From here on the connection must move bytes: one that moves none for the data timeout
    // (a client that stops reading a download or sending an upload) is cut, so it cannot hold
    // the session and its descriptors forever.
    let moving = move_data(work, stream, events, bytes, cancel);
    tokio::pin!(moving);
    tokio::select! {
        result = &mut moving => result,
        () = stalled(bytes, timeout) => {
            // Cancel and let the transfer end as a cancelled one would (an upload keeps what
            // arrived); unless it finished meanwhile, the stall is the failure.
            cancel.cancel();
            match moving.await {
                Err(Failure::Cancelled) => Err(Failure::Stalled(timeout)),
                result => result,
            }
        }
    }
}

/// Ends when `bytes` has not moved for `timeout` (checked every quarter of it, so a stall is
/// noticed between 1 and 1.25 times the timeout after the last byte).
async fn stalled(bytes: &AtomicU64, timeout: Duration) {
    let tick = (timeout / 4).max(Duration::from_millis(10));
    let mut last = bytes.load(Ordering::Relaxed);
    let mut last_moved = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        let now = bytes.load(Ordering::Relaxed);
        if now != last {
            last = now;
            last_moved = tokio::time::Instant::now();
        } else if last_moved.elapsed() >= timeout {
            return;
        }
    }
}

/// Moves the data of `work` over an open data connection.
async fn move_data(
    work: Work,
    mut stream: Stream,
    events: &mpsc::Sender<Event>,
    bytes: &AtomicU64,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    let sent = match work {
        // An upload stops by itself on cancel, so that its partial is flushed before we answer.
        Work::Receive {
            upload,
            ascii,
            meter,
        } => {
            return receive_file(upload, ascii, meter, stream, events, bytes, cancel).await;
        }
        Work::Send {
            download,
            ascii,
            meter,
        } => {
            tokio::select! {
                () = cancel.cancelled() => return Err(Failure::Cancelled),
                sent = send_file(download, ascii, &meter, &mut stream, bytes) => sent,
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
    // For TLS this sends close_notify, which tells the client the data is complete.
    stream.shutdown().await.map_err(Failure::Network)
}

/// The server side of a TLS handshake on a data connection (RFC 4217 section 7).
async fn handshake(tcp: TcpStream, tls: DataTls, timeout: Duration) -> Result<Stream, Failure> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config);
    let accepted = tokio::time::timeout(timeout, acceptor.accept(tcp))
        .await
        .map_err(|_| Failure::Tls("handshake timed out".into()))
        .and_then(|result| result.map_err(|e| Failure::Tls(e.to_string())));
    let resumed = accepted
        .as_ref()
        .is_ok_and(|stream| stream.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed));
    tls.observer.tls_handshake(accepted.is_ok(), resumed);
    let stream = accepted?;
    if tls.require_reuse && stream.get_ref().1.handshake_kind() != Some(HandshakeKind::Resumed) {
        return Err(Failure::Tls(
            "session reuse required: the client did not resume this control connection's \
             TLS session"
                .into(),
        ));
    }
    Ok(Stream::Tls(Box::new(stream)))
}

async fn send_file(
    mut download: Download,
    ascii: bool,
    meter: &Meter,
    stream: &mut Stream,
    bytes: &AtomicU64,
) -> Result<(), Failure> {
    let offset = download.offset;
    if !ascii
        && meter.is_free()
        && let Stream::Plain(tcp) = stream
        && let Some(file) = download.local_file()
    {
        return send_zero_copy(file, offset, download.size, tcp, bytes).await;
    }
    // No bigger than the file (plus one byte to see the end in one read).
    let wanted = download.size.saturating_sub(offset).saturating_add(1);
    let size = usize::try_from(wanted).map_or(BUFFER_SIZE, |n| n.min(BUFFER_SIZE));
    let mut buffer = vec![0u8; size.min(meter.step())];
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
        meter.pace(read).await;
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
    mut meter: Meter,
    mut stream: Stream,
    events: &mpsc::Sender<Event>,
    bytes: &AtomicU64,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    // A limited upload reads a rate's step at a time; a free one grows to the full buffer.
    let largest = BUFFER_SIZE.min(meter.step());
    let mut buffer = vec![0u8; FIRST_UPLOAD_BUFFER.min(largest)];
    let mut converted = Vec::new();
    let mut pending_cr = false;
    let outcome = loop {
        if let Stream::Tls(tls) = &stream {
            // Acknowledge at once: a TLS client ends an upload with a second small write (its
            // close_notify), which its Nagle holds until our ACK of the data, and a delayed
            // ACK waits 40 ms (ftplib's small TLS uploads ran at 22 a second).
            let _ = socket2::SockRef::from(tls.get_ref().0).set_tcp_quickack(true);
        }
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
        let full = read == buffer.len();
        let chunk = if ascii {
            converted.clear();
            pending_cr = crlf_to_lf(&buffer[..read], pending_cr, &mut converted);
            &converted[..]
        } else {
            &buffer[..read]
        };
        if meter.grant(chunk.len()) < chunk.len() {
            break Err(Failure::Quota(meter.byte_limit()));
        }
        if let Err(error) = upload.write_all(chunk).await {
            break Err(Failure::Storage(error.into()));
        }
        meter.pace(read).await;
        if full && buffer.len() < largest {
            // More than a small file: move the rest socket to file with splice(2) when we can.
            if !ascii
                && meter.is_free()
                && let Stream::Plain(tcp) = &stream
                && let Some(file) = upload.local_file()
                && let Ok(pipe) = SplicePipe::new()
            {
                break receive_spliced(&pipe, tcp, file, bytes, cancel).await;
            }
            buffer.resize(largest, 0);
        }
    };
    let outcome = match outcome {
        Ok(()) => {
            let (answer, verdict) = oneshot::channel();
            let _ = events.send(Event::UploadEnded(answer)).await;
            match verdict.await {
                Ok(true) => Ok(()),
                _ => Err(Failure::Network(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the control connection closed with the upload",
                ))),
            }
        }
        Err(failure) => Err(failure),
    };
    if let Err(failure) = outcome {
        if matches!(failure, Failure::Quota(_)) {
            // What arrived can never be committed: keep nothing.
            let _ = upload.discard().await;
        } else {
            // Keep what arrived (flushed) for a resume; never publish it.
            let _ = upload.abort().await;
        }
        return Err(failure);
    }
    // Answer the client's close_notify with ours: ftplib waits for it (ssl unwrap). A plain
    // connection needs no shutdown(2): it is closed, FIN and all, before the final reply.
    if stream.is_tls() {
        let _ = stream.shutdown().await;
    }
    if pending_cr {
        if meter.grant(1) < 1 {
            let _ = upload.discard().await;
            return Err(Failure::Quota(meter.byte_limit()));
        }
        upload
            .write_all(b"\r")
            .await
            .map_err(|e| Failure::Storage(e.into()))?;
    }
    upload.commit().await.map_err(Failure::Storage)?;
    meter.commit();
    Ok(())
}

async fn send_listing(
    source: ListSource,
    format: &ListFormat,
    now: i64,
    stream: &mut Stream,
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
    let (mut entries, pattern) = match source {
        ListSource::Entries(entries) => {
            entries.iter().for_each(|e| write_entry(e, &mut out));
            (None, None)
        }
        ListSource::Stream(entries) => (Some(entries), None),
        ListSource::Matching(entries, pattern) => (Some(entries), Some(pattern)),
    };
    if let Some(entries) = &mut entries {
        while let Some(entry) = entries.next().await {
            // An entry that vanished while listing is skipped, not fatal.
            let Ok(entry) = entry else { continue };
            if pattern
                .as_deref()
                .is_some_and(|p| !glob_match(p, &entry.name, GlobRules::SERVER))
            {
                continue;
            }
            write_entry(&entry, &mut out);
            if out.len() >= LISTING_FLUSH {
                stream.write_all(&out).await.map_err(Failure::Network)?;
                bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
                out.clear();
            }
        }
    }
    stream.write_all(&out).await.map_err(Failure::Network)?;
    bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
    Ok(())
}
