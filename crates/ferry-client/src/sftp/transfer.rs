//! File bytes over SFTP with many requests in flight, as OpenSSH's `sftp` does: up to
//! [`IN_FLIGHT`] READs or WRITEs, each as long as the server's `limits@openssh.com` allows
//! (up to [`MAX_CHUNK`]; [`CHUNK`] from a server without it), so a transfer is not one round
//! trip per chunk.
//!
//! Reads: replies may come in any order and may be short; chunks are written out in order, a
//! short reply is asked again for its remainder, and the end is the server's EOF (one READ past
//! the size STAT gave confirms it). Writes: each chunk is written at its offset and counted when
//! its STATUS is OK. Errors come after the replies still in flight were collected, so the
//! session stays usable. This module opens and closes nothing (see [`super::files`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
#[cfg(test)]
use std::path::Path;

use ferry_proto::sftp::{Packet, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::SftpSession;
use super::session::{refusal, status};
use crate::ClientError;
use crate::progress::Progress;
use crate::rate::{Pacer, pace};

/// Bytes asked for by one READ or sent by one WRITE from a server that does not say its limits
/// (OpenSSH's default, within any server's limits).
pub const CHUNK: u32 = 32 * 1024;
/// The most bytes one READ or WRITE carries when the server's limits allow it: OpenSSH's
/// choice too (its largest packet, 256 KiB, less room for the header).
pub const MAX_CHUNK: u32 = 256 * 1024 - 1024;
/// Requests in flight at once (OpenSSH's default): 2 MiB, well within the SSH window.
pub const IN_FLIGHT: usize = 64;

/// What the loops below need of a session: fresh ids, sending, receiving. [`SftpSession`] in
/// use; a scripted server in the tests, which answers out of order and short.
pub(super) trait Pipe {
    /// A fresh request id.
    fn id(&mut self) -> u32;
    /// Bytes to ask for in one READ, and to send in one WRITE.
    fn chunks(&self) -> (u32, u32);
    /// Sends one request.
    fn send(&mut self, packet: &Packet) -> impl Future<Output = Result<(), ClientError>>;
    /// The next reply.
    fn receive(&mut self) -> impl Future<Output = Result<Packet, ClientError>>;
    /// `--limit-rate`, in bytes a second.
    fn limit_rate(&self) -> Option<u64> {
        None
    }
}

impl Pipe for SftpSession {
    fn id(&mut self) -> u32 {
        SftpSession::id(self)
    }

    fn chunks(&self) -> (u32, u32) {
        SftpSession::chunks(self)
    }

    async fn send(&mut self, packet: &Packet) -> Result<(), ClientError> {
        SftpSession::send(self, packet).await
    }

    async fn receive(&mut self) -> Result<Packet, ClientError> {
        SftpSession::receive(self).await
    }

    fn limit_rate(&self) -> Option<u64> {
        SftpSession::limit_rate(self)
    }
}

/// Reads the open file `handle` from `start` to the server's EOF into `out`, reporting to
/// `progress`; returns the bytes received. `size` (from STAT) saves READs past the end.
pub(super) async fn read_file<W>(
    session: &mut impl Pipe,
    handle: &[u8],
    start: u64,
    size: Option<u64>,
    out: &mut W,
    out_name: &str,
    progress: &mut dyn Progress,
) -> Result<u64, ClientError>
where
    W: AsyncWrite + Unpin,
{
    let mut pacer = session.limit_rate().map(Pacer::new);
    let mut pending: HashMap<u32, (u64, u32)> = HashMap::new();
    let mut again: VecDeque<(u64, u32)> = VecDeque::new();
    let mut ready: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut next = start;
    let mut written = start;
    let mut eof: Option<u64> = None;
    let mut failure: Option<ClientError> = None;
    let (chunk, _) = session.chunks();
    loop {
        if failure.is_none() {
            // The rest of a short reply is asked for first and always (it is what the
            // chunks waiting in `ready` wait for); new chunks only while fewer than
            // 2 x IN_FLIGHT wait, which bounds the memory a gap can hold.
            while pending.len() < IN_FLIGHT {
                let (offset, len) = if let Some(range) = again.pop_front() {
                    range
                } else if eof.is_none()
                    && ready.len() < 2 * IN_FLIGHT
                    && (size.is_none_or(|size| next < size) || pending.is_empty())
                {
                    next += u64::from(chunk);
                    (next - u64::from(chunk), chunk)
                } else {
                    break;
                };
                let id = session.id();
                let read = Packet::Read {
                    id,
                    handle: handle.to_vec(),
                    offset,
                    len,
                };
                session.send(&read).await?;
                pending.insert(id, (offset, len));
            }
        }
        if pending.is_empty() {
            break;
        }
        let reply = session.receive().await?;
        let Some((offset, len)) = reply.id().and_then(|id| pending.remove(&id)) else {
            return Err(ClientError::Protocol(
                "the SFTP server answered a READ that was not asked".into(),
            ));
        };
        match reply {
            Packet::Data { data, .. } if !data.is_empty() && data.len() <= len as usize => {
                let got = data.len() as u32;
                if got < len {
                    again.push_back((offset + u64::from(got), len - got));
                }
                ready.insert(offset, data);
            }
            Packet::Status {
                code: StatusCode::EOF,
                ..
            } => eof = Some(eof.map_or(offset, |at| at.min(offset))),
            Packet::Data { data, .. } => {
                failure.get_or_insert(ClientError::Protocol(format!(
                    "the SFTP server sent {} bytes for a READ of {len}",
                    data.len()
                )));
            }
            other => {
                failure.get_or_insert(refusal("READ", other));
            }
        }
        if failure.is_none() {
            while let Some(entry) = ready.first_entry() {
                if *entry.key() != written {
                    break;
                }
                let data = entry.remove();
                if let Err(source) = out.write_all(&data).await {
                    failure = Some(ClientError::local(out_name, source));
                    break;
                }
                written += data.len() as u64;
                progress.advance(data.len() as u64);
                pace(&mut pacer, data.len() as u64).await;
            }
        }
    }
    if let Some(error) = failure {
        return Err(error);
    }
    if !ready.is_empty() || eof.is_some_and(|end| end != written) {
        return Err(ClientError::Protocol(format!(
            "the SFTP server left a gap in the file after byte {written}"
        )));
    }
    out.flush()
        .await
        .map_err(|source| ClientError::local(out_name, source))?;
    Ok(written - start)
}

/// Writes everything `input` holds to the open file `handle` from `start`, reporting to
/// `progress`; returns the bytes written.
pub(super) async fn write_file<R>(
    session: &mut impl Pipe,
    handle: &[u8],
    start: u64,
    input: &mut R,
    input_name: &std::path::Path,
    progress: &mut dyn Progress,
) -> Result<u64, ClientError>
where
    R: AsyncRead + Unpin,
{
    let mut pacer = session.limit_rate().map(Pacer::new);
    let mut pending: HashMap<u32, u64> = HashMap::new();
    let mut offset = start;
    let mut done = 0;
    let mut finished = false;
    let mut failure: Option<ClientError> = None;
    let (_, chunk) = session.chunks();
    loop {
        while !finished && failure.is_none() && pending.len() < IN_FLIGHT {
            let mut data = vec![0; chunk as usize];
            let mut filled = 0;
            while filled < data.len() {
                match input.read(&mut data[filled..]).await {
                    Ok(0) => break,
                    Ok(read) => filled += read,
                    Err(source) => return Err(ClientError::local(input_name, source)),
                }
            }
            if filled == 0 {
                finished = true;
                break;
            }
            finished = filled < data.len();
            data.truncate(filled);
            let id = session.id();
            let write = Packet::Write {
                id,
                handle: handle.to_vec(),
                offset,
                data,
            };
            session.send(&write).await?;
            pending.insert(id, filled as u64);
            offset += filled as u64;
        }
        if pending.is_empty() {
            break;
        }
        let reply = session.receive().await?;
        let Some(len) = reply.id().and_then(|id| pending.remove(&id)) else {
            return Err(ClientError::Protocol(
                "the SFTP server answered a WRITE that was not sent".into(),
            ));
        };
        match status("WRITE", reply) {
            Ok(()) => {
                done += len;
                progress.advance(len);
                pace(&mut pacer, len).await;
            }
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(done),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::collections::VecDeque;

    use super::*;
    use crate::progress::Silent;

    /// A server holding `file` that answers the requests in flight newest first, READs with
    /// at most `most` bytes, and reports a failure for a WRITE at `fail_at`.
    struct Scripted {
        file: Vec<u8>,
        most: usize,
        fail_at: Option<u64>,
        next_id: u32,
        asked: VecDeque<Packet>,
        most_in_flight: usize,
    }

    impl Scripted {
        fn new(file: Vec<u8>, most: usize) -> Scripted {
            Scripted {
                file,
                most,
                fail_at: None,
                next_id: 0,
                asked: VecDeque::new(),
                most_in_flight: 0,
            }
        }
    }

    impl Pipe for Scripted {
        fn id(&mut self) -> u32 {
            self.next_id += 1;
            self.next_id
        }

        fn chunks(&self) -> (u32, u32) {
            (CHUNK, CHUNK)
        }

        async fn send(&mut self, packet: &Packet) -> Result<(), ClientError> {
            self.asked.push_back(packet.clone());
            self.most_in_flight = self.most_in_flight.max(self.asked.len());
            Ok(())
        }

        async fn receive(&mut self) -> Result<Packet, ClientError> {
            let status = |id, code| Packet::Status {
                id,
                code,
                message: Vec::new(),
                language: Vec::new(),
            };
            match self.asked.pop_back().ok_or(ClientError::Closed)? {
                Packet::Read {
                    id, offset, len, ..
                } => {
                    let start = offset as usize;
                    if start >= self.file.len() {
                        return Ok(status(id, StatusCode::EOF));
                    }
                    let end = self.file.len().min(start + (len as usize).min(self.most));
                    Ok(Packet::Data {
                        id,
                        data: self.file[start..end].to_vec(),
                    })
                }
                Packet::Write {
                    id, offset, data, ..
                } => {
                    if self.fail_at == Some(offset) {
                        return Ok(status(id, StatusCode::PERMISSION_DENIED));
                    }
                    let end = offset as usize + data.len();
                    if self.file.len() < end {
                        self.file.resize(end, 0);
                    }
                    self.file[offset as usize..end].copy_from_slice(&data);
                    Ok(status(id, StatusCode::OK))
                }
                other => panic!("not a READ or WRITE: {other:?}"),
            }
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn reads_out_of_order_and_short_replies_in_order() {
        let file = bytes(5 * CHUNK as usize + 1234);
        for (most, size, start) in [
            (CHUNK as usize, Some(file.len() as u64), 0),
            (1000, Some(file.len() as u64), 0),
            (CHUNK as usize, None, 0),
            (777, None, 40_000),
            // STAT said less than the file holds: read to EOF all the same.
            (CHUNK as usize, Some(10), 0),
        ] {
            let mut server = Scripted::new(file.clone(), most);
            let mut out = Vec::new();
            let got = runtime()
                .block_on(read_file(
                    &mut server,
                    b"h",
                    start,
                    size,
                    &mut out,
                    "out",
                    &mut Silent,
                ))
                .unwrap();
            assert_eq!(got, file.len() as u64 - start);
            assert!(out == file[start as usize..], "most {most}, size {size:?}");
            assert!(server.asked.is_empty() && server.most_in_flight <= IN_FLIGHT);
        }
    }

    #[test]
    fn writes_every_chunk_at_its_offset() {
        let data = bytes(3 * CHUNK as usize + 17);
        let mut server = Scripted::new(vec![9; 100], CHUNK as usize);
        let sent = runtime()
            .block_on(write_file(
                &mut server,
                b"h",
                100,
                &mut &data[..],
                Path::new("in"),
                &mut Silent,
            ))
            .unwrap();
        assert_eq!(sent, data.len() as u64);
        assert!(server.file[..100] == [9; 100] && server.file[100..] == data[..]);

        // A refused WRITE fails the upload once the others in flight were answered.
        let mut server = Scripted::new(Vec::new(), CHUNK as usize);
        server.fail_at = Some(u64::from(CHUNK));
        let error = runtime()
            .block_on(write_file(
                &mut server,
                b"h",
                0,
                &mut &data[..],
                Path::new("in"),
                &mut Silent,
            ))
            .unwrap_err();
        assert_eq!(error.to_string(), "WRITE: Permission denied");
        assert!(server.asked.is_empty());
    }
}
