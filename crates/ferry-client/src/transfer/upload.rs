//! One upload: STOR, or a resumed one (REST + STOR, or APPE when the server refuses REST).

use std::path::Path;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::TransferStats;
use crate::ClientError;
use crate::connection::{BUFFER_SIZE, Connection, StoreMode};
use crate::progress::Progress;

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
