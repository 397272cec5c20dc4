//! File bytes over SFTP with many requests in flight, as OpenSSH's `sftp` does: up to
//! [`IN_FLIGHT`] READs or WRITEs of [`CHUNK`] bytes each, so a transfer is not one round trip
//! per chunk.
//!
//! Reads: replies may come in any order and may be short; chunks are written out in order, a
//! short reply is asked again for its remainder, and the end is the server's EOF (one READ past
//! the size STAT gave confirms it). Writes: each chunk is written at its offset and counted when
//! its STATUS is OK. Errors come after the replies still in flight were collected, so the
//! session stays usable. This module opens and closes nothing (see [`super::files`]).

use std::collections::{BTreeMap, HashMap, VecDeque};

use ferry_proto::sftp::{Packet, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::SftpSession;
use super::session::{refusal, status};
use crate::ClientError;
use crate::progress::Progress;

/// Bytes asked for by one READ or sent by one WRITE (OpenSSH's default, within any server's
/// limits).
pub const CHUNK: u32 = 32 * 1024;
/// Requests in flight at once (OpenSSH's default): 2 MiB, well within the SSH window.
pub const IN_FLIGHT: usize = 64;

/// Reads the open file `handle` from `start` to the server's EOF into `out`, reporting to
/// `progress`; returns the bytes received. `size` (from STAT) saves READs past the end.
pub(super) async fn read_file<W>(
    session: &mut SftpSession,
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
    let mut pending: HashMap<u32, (u64, u32)> = HashMap::new();
    let mut again: VecDeque<(u64, u32)> = VecDeque::new();
    let mut ready: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut next = start;
    let mut written = start;
    let mut eof: Option<u64> = None;
    let mut failure: Option<ClientError> = None;
    loop {
        if failure.is_none() {
            while pending.len() < IN_FLIGHT && ready.len() < 2 * IN_FLIGHT {
                let (offset, len) = if let Some(range) = again.pop_front() {
                    range
                } else if eof.is_none()
                    && (size.is_none_or(|size| next < size) || pending.is_empty())
                {
                    next += u64::from(CHUNK);
                    (next - u64::from(CHUNK), CHUNK)
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
    session: &mut SftpSession,
    handle: &[u8],
    start: u64,
    input: &mut R,
    input_name: &std::path::Path,
    progress: &mut dyn Progress,
) -> Result<u64, ClientError>
where
    R: AsyncRead + Unpin,
{
    let mut pending: HashMap<u32, u64> = HashMap::new();
    let mut offset = start;
    let mut done = 0;
    let mut finished = false;
    let mut failure: Option<ClientError> = None;
    loop {
        while !finished && failure.is_none() && pending.len() < IN_FLIGHT {
            let mut data = vec![0; CHUNK as usize];
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
