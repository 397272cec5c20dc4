//! `ferry get --segments N`: one file over N connections, as lftp's `pget`. The file is split
//! into N ranges; each connection asks `REST start` + `RETR`, writes its bytes at their offset
//! in the hidden partial (made at the full size first), and stops its transfer once its range
//! is in (dropping the data connection and reading the 426/226, ABOR-free: every server takes
//! that). The partial takes the target's name only when every range arrived whole.
//!
//! Falls back to one connection when the server lacks SIZE or REST STREAM (FEAT), or the file
//! is smaller than [`MIN_SEGMENT`] a range.

use std::path::Path;
use std::time::Instant;

use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::{TransferStats, download, partial_path};
use crate::ClientError;
use crate::connection::{BUFFER_SIZE, Connection, Connector};
use crate::progress::Progress;

/// The smallest range worth a connection of its own.
pub const MIN_SEGMENT: u64 = 256 * 1024;

/// Splits `size` bytes into at most `segments` ranges of at least [`MIN_SEGMENT`] (the last
/// takes the remainder); `[start, end)` each.
pub fn ranges(size: u64, segments: usize) -> Vec<(u64, u64)> {
    let most = usize::try_from(size / MIN_SEGMENT).unwrap_or(usize::MAX);
    let count = segments.clamp(1, 64).min(most.max(1)) as u64;
    let each = size / count;
    (0..count)
        .map(|index| {
            let start = index * each;
            let end = if index + 1 == count {
                size
            } else {
                start + each
            };
            (start, end)
        })
        .collect()
}

/// Downloads `remote` to `target` over `segments` connections (`connection` and more from
/// `connector`), or over `connection` alone when that is all the server or the file allows.
pub async fn download_segmented(
    connection: &mut Connection,
    connector: &Connector,
    remote: &str,
    target: &Path,
    segments: usize,
    progress: &mut dyn Progress,
) -> Result<TransferStats, ClientError> {
    let started = Instant::now();
    let size = if segments > 1 && connection.features().has("REST") {
        match connection.size(remote).await {
            Ok(size) => Some(size),
            Err(error) if error.is_server_refusal() => None,
            Err(error) => return Err(error),
        }
    } else {
        None
    };
    let plan = size.map(|size| (size, ranges(size, segments)));
    let Some((size, plan)) = plan.filter(|(_, plan)| plan.len() > 1) else {
        return download(connection, remote, target, false, progress).await;
    };
    let partial = partial_path(target);
    let file = std::fs::File::create(&partial)
        .and_then(|file| file.set_len(size).map(|()| file))
        .map_err(|source| ClientError::local(&partial, source))?;
    drop(file);
    let name = target
        .file_name()
        .map_or_else(|| remote.to_string(), |n| n.to_string_lossy().into_owned());
    progress.start(&name, Some(size), 0);
    let mut tasks = tokio::task::JoinSet::new();
    for &(start, end) in &plan[1..] {
        let mut connector = connector.clone();
        let (remote, partial) = (remote.to_string(), partial.clone());
        tasks.spawn(async move {
            let mut connection = connector.open(|_: &str| None).await?;
            let last = end == size;
            let result = fetch_range(&mut connection, &remote, &partial, (start, end), last).await;
            connection.quit().await;
            result
        });
    }
    let (start, end) = plan[0];
    let mut result = fetch_range(connection, remote, &partial, (start, end), false).await;
    progress.advance(end - start);
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.unwrap_or_else(|error| {
            Err(ClientError::network(
                "a segment",
                std::io::Error::other(error.to_string()),
            ))
        });
        match outcome {
            Ok(bytes) => progress.advance(bytes),
            Err(error) => {
                if result.is_ok() {
                    result = Err(error);
                }
            }
        }
    }
    progress.finish(result.is_ok());
    if let Err(error) = result {
        // A partial with holes cannot be continued: nothing is kept.
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(error);
    }
    tokio::fs::rename(&partial, target)
        .await
        .map_err(|source| ClientError::local(target, source))?;
    Ok(TransferStats {
        bytes: size,
        size,
        resumed_from: 0,
        elapsed: started.elapsed(),
    })
}

/// Fetches `[start, end)` of `remote` into `partial` at the same offsets; returns the bytes.
/// `last`: the range ends the file, so the transfer ends by itself.
async fn fetch_range(
    connection: &mut Connection,
    remote: &str,
    partial: &Path,
    (start, end): (u64, u64),
    last: bool,
) -> Result<u64, ClientError> {
    let mut file = tokio::fs::File::options()
        .write(true)
        .open(partial)
        .await
        .map_err(|source| ClientError::local(partial, source))?;
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|source| ClientError::local(partial, source))?;
    let (mut data, offset) = connection.retrieve(remote, start).await?;
    if offset != start {
        let _ = connection.abandon_data(data).await;
        return Err(ClientError::Protocol(format!(
            "the server did not start {remote} at byte {start} (REST)"
        )));
    }
    let want = end - start;
    let mut got = 0u64;
    let mut buf = vec![0; BUFFER_SIZE];
    let outcome: Result<(), ClientError> = async {
        while got < want {
            let room = usize::try_from(want - got).map_or(buf.len(), |left| left.min(buf.len()));
            let read = connection.read_data(&mut data, &mut buf[..room]).await?;
            if read == 0 {
                return Err(ClientError::Protocol(format!(
                    "transfer incomplete: the range from {start} ended after {got} of {want} bytes"
                )));
            }
            file.write_all(&buf[..read])
                .await
                .map_err(|source| ClientError::local(partial, source))?;
            got += read as u64;
        }
        file.flush()
            .await
            .map_err(|source| ClientError::local(partial, source))
    }
    .await;
    match outcome {
        Err(error) => Err(connection.abandon_after(data, error).await),
        // The range ends the file: the server's 226 says it all went.
        Ok(()) if last => connection.finish_data(data).await.map(|_| got),
        // Mid-file: we have what we asked for; the server's 426 (or 226) is expected.
        Ok(()) => connection.abandon_data(data).await.map(|_| got),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_file_once() {
        let size = 10 * MIN_SEGMENT + 3;
        let plan = ranges(size, 4);
        assert_eq!(plan.len(), 4);
        assert_eq!(plan[0].0, 0);
        assert_eq!(plan[3].1, size);
        for pair in plan.windows(2) {
            assert_eq!(pair[0].1, pair[1].0);
        }
        // Small files: fewer ranges, or one.
        assert_eq!(ranges(2 * MIN_SEGMENT, 8).len(), 2);
        assert_eq!(ranges(MIN_SEGMENT - 1, 4), [(0, MIN_SEGMENT - 1)]);
        assert_eq!(ranges(0, 4), [(0, 0)]);
    }
}
