//! Transfers: RETR, STOR, APPE, STOU, LIST, NLST, MLSD, their 150 and final replies, ABOR,
//! and the transfer log line.

use std::sync::atomic::Ordering;
use std::time::Instant;

use ferry_proto::glob::{GlobRules, is_glob};
use ferry_proto::listing::EntryKind;
use ferry_proto::{ProtLevel, Reply, ReplyCode, TransferType, VirtualPath};
use ferry_storage::{ErrorKind, WriteMode};

use crate::data::{self, DataSetup};
use crate::service::{Direction, FileService, Transferred};
use crate::transfer::{self, DataTls, Event, Failure, ListFormat, ListSource, Plan, Running, Work};

use super::info::{dir_perm, file_perm};
use super::replies::{Fault, file_reply, final_reply, refuse};
use super::{ABORT_WAIT, Session, now_unix, reply};

impl Session {
    /// With `--require-tls`, the refusal of a transfer on a clear data connection.
    pub(super) fn data_protection_refusal(&self) -> Option<Reply> {
        (self.shared.config.require_tls && self.prot != ProtLevel::Private)
            .then(|| refuse(Fault::DataMustBeProtected))
    }

    pub(super) async fn start_transfer(
        &mut self,
        mut work: Work,
        verb: &'static str,
        name: String,
        path: Option<String>,
    ) -> Option<Reply> {
        let started = std::time::Instant::now();
        let Some(mut setup) = self.data.take() else {
            return Some(refuse(Fault::NoDataConnection));
        };
        // Most clients connect before they send the command: then the 150 goes out now, and
        // the transfer starts on an open connection.
        let peer_ip = self.peer.ip().to_canonical();
        // Closed after the final reply if the transfer ends here: closing a listener takes a
        // few microseconds that the client need not wait for.
        let mut spare_listener = None;
        if let DataSetup::Passive(listener) = &setup {
            match data::accept_queued(listener, peer_ip) {
                Ok(Some(stream)) => {
                    if self.send(&self.opening_reply(&name)).await.is_err() {
                        // The control connection broke; the next read ends the session.
                        return None;
                    }
                    if let DataSetup::Passive(listener) =
                        std::mem::replace(&mut setup, DataSetup::Ready(stream))
                    {
                        spare_listener = Some(listener);
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(peer = %self.peer, %error, "data connection failed");
                    return Some(refuse(Fault::DataConnectionFailed));
                }
            }
        }
        let config = &self.shared.config;
        let tls = match (self.prot, &self.tls) {
            (ProtLevel::Private, Some(tls)) => Some(DataTls {
                config: tls.data_connection(matches!(work, Work::Receive { .. })),
                require_reuse: config.require_tls_session_reuse,
                observer: std::sync::Arc::clone(&self.shared.observer),
            }),
            _ => None,
        };
        // A plain binary RETR on a connection that is open already: send what the socket takes
        // now, and if that is the whole file (as it is for small ones), finish here.
        let mut sent = 0;
        if let (
            DataSetup::Ready(tcp),
            Work::Send {
                download,
                ascii: false,
                meter,
            },
            None,
        ) = (&setup, &mut work, &tls)
            && meter.is_free()
            && let Some(file) = download.local_file()
        {
            let mut offset = download.offset;
            let result = transfer::send_now(file, &mut offset, download.size, tcp);
            sent = offset - download.offset;
            download.offset = offset;
            let result = match result {
                Ok(false) => None,
                Ok(true) => Some(Ok(())),
                Err(error) => Some(Err(Failure::Network(error))),
            };
            if let Some(result) = result {
                // The data connection closes before the final reply; the file, the listener
                // and the log line can wait until the client has its reply.
                drop(setup);
                let _ = self.send(&final_reply(&result)).await;
                drop(work);
                drop(spare_listener);
                self.log_transfer(verb, &name, path.as_deref(), sent, started, &result);
                return None;
            }
        }
        self.running = Some(transfer::start(Plan {
            setup,
            peer_ip,
            timeout: config.data_timeout,
            tls,
            work,
            verb,
            name,
            path,
            sent,
        }));
        None
    }

    /// The path a transfer command names, in the user's view; refused first when
    /// `--require-tls` wants a protected data connection and there is none.
    fn transfer_path(&self, input: &[u8]) -> Result<VirtualPath, Reply> {
        if let Some(refusal) = self.data_protection_refusal() {
            return Err(refusal);
        }
        self.view(input)
    }

    /// RETR from `offset` (REST, or RANG's first byte) to the end of the file, or to `end`
    /// (RANG's last byte plus one; a range past the end of the file stops at the end).
    pub(super) async fn retr(
        &mut self,
        files: &FileService,
        input: &[u8],
        offset: u64,
        end: Option<u64>,
    ) -> Option<Reply> {
        let view = match self.transfer_path(input) {
            Ok(view) => view,
            Err(answer) => return Some(answer),
        };
        let (mut download, meter) = match files.read(&view, offset).await {
            Ok(opened) => opened,
            Err(error) => return Some(file_reply(&error)),
        };
        if let Some(end) = end {
            download.end_at(end);
        }
        let ascii = self.transfer_type == TransferType::Ascii;
        let size = download.size;
        self.start_transfer(
            Work::Send {
                download,
                ascii,
                meter,
            },
            "RETR",
            format!("{view} ({size} bytes)"),
            Some(view.to_string()),
        )
        .await
    }

    pub(super) async fn store(
        &mut self,
        files: &FileService,
        input: &[u8],
        mode: WriteMode,
        verb: &'static str,
    ) -> Option<Reply> {
        let view = match self.transfer_path(input) {
            Ok(view) => view,
            Err(answer) => return Some(answer),
        };
        if self.data.is_none() {
            return Some(refuse(Fault::NoDataConnection));
        }
        let (upload, meter) = match files.write(&view, mode).await {
            Ok(opened) => opened,
            Err(error) if error.storage_kind() == Some(ErrorKind::WrongKind) => {
                return Some(refuse(Fault::IsAFolder));
            }
            Err(error) => return Some(file_reply(&error)),
        };
        // Show the user's view of the name (STOU picks it).
        let view = files.view_name(upload.path());
        let ascii = self.transfer_type == TransferType::Ascii;
        let work = Work::Receive {
            upload,
            ascii,
            meter,
        };
        let path = format!("/{view}");
        self.start_transfer(work, verb, view, Some(path)).await
    }

    /// MLSD, with the `perm` facts the user's rights in the folder give.
    pub(super) async fn mlsd(
        &mut self,
        files: &FileService,
        input: Option<&[u8]>,
    ) -> Option<Reply> {
        let rights = match self.view(input.unwrap_or(b"")) {
            Ok(view) => files.rights_in(&view),
            Err(answer) => return Some(answer),
        };
        let format = ListFormat::Machine {
            file_perm: file_perm(rights),
            dir_perm: dir_perm(rights, rights),
        };
        self.list(files, input, format).await
    }

    pub(super) async fn list(
        &mut self,
        files: &FileService,
        input: Option<&[u8]>,
        format: ListFormat,
    ) -> Option<Reply> {
        let view = match self.transfer_path(input.unwrap_or(b"")) {
            Ok(view) => view,
            Err(answer) => return Some(answer),
        };
        if self.data.is_none() {
            return Some(refuse(Fault::NoDataConnection));
        }
        let source = match files.stat(&view).await {
            Ok(entry) if entry.kind == EntryKind::Dir => match files.list(&view).await {
                Ok(stream) => ListSource::Stream(stream),
                Err(error) => return Some(file_reply(&error)),
            },
            // MLSD names folders only (RFC 3659 section 7.2.1).
            Ok(_) if matches!(format, ListFormat::Machine { .. }) => {
                return Some(refuse(Fault::NotAFolder));
            }
            Ok(entry) => ListSource::Entries(vec![entry]),
            // `LIST *.txt`, `NLST a?c`: a pattern in the last name, matched against its folder.
            Err(error)
                if error.storage_kind() == Some(ErrorKind::NotFound)
                    && !matches!(format, ListFormat::Machine { .. })
                    && view
                        .file_name()
                        .is_some_and(|name| is_glob(name, GlobRules::SERVER)) =>
            {
                let pattern = view.file_name().unwrap_or_default().to_vec();
                match files.list(&view.parent()).await {
                    Ok(stream) => ListSource::Matching(stream, pattern),
                    Err(error) => return Some(file_reply(&error)),
                }
            }
            Err(error) => return Some(file_reply(&error)),
        };
        let work = Work::List {
            source,
            format,
            now: now_unix(),
        };
        self.start_transfer(
            work,
            "LIST",
            String::from_utf8_lossy(input.unwrap_or(b".")).into_owned(),
            None,
        )
        .await
    }

    pub(super) async fn on_transfer_event(&mut self, event: Option<Event>) -> std::io::Result<()> {
        match event {
            Some(Event::Connected(sent)) => {
                let Some(running) = &self.running else {
                    return Ok(());
                };
                let result = self.send(&self.opening_reply(&running.name)).await;
                let _ = sent.send(());
                result
            }
            Some(Event::UploadEnded(answer)) => {
                let _ = answer.send(self.control_alive());
                Ok(())
            }
            Some(Event::Done(result)) => {
                let Some(running) = self.running.take() else {
                    return Ok(());
                };
                // The idle time counts from the end of the transfer, not from its command.
                self.last_activity = Instant::now();
                // The reply first: the client goes on while the line is logged.
                let sent = self.send(&final_reply(&result)).await;
                self.log_running(&running, &result);
                sent
            }
            None => {
                self.running = None;
                tracing::warn!(peer = %self.peer, user = self.user_name(), "transfer task ended without a result");
                self.send(&reply(
                    ReplyCode::LOCAL_ERROR,
                    "Transfer ended unexpectedly.",
                ))
                .await
            }
        }
    }

    /// The 150 that says the data connection is open.
    pub(super) fn opening_reply(&self, name: &str) -> Reply {
        let mode = match self.transfer_type {
            TransferType::Ascii => "ASCII",
            TransferType::Image => "BINARY",
        };
        reply(
            ReplyCode::FILE_STATUS_OK,
            format!("Opening {mode} mode data connection for {name}."),
        )
    }

    /// Logs a finished transfer task.
    pub(super) fn log_running(&self, running: &Running, result: &Result<(), Failure>) {
        let bytes = running.bytes.load(Ordering::Relaxed);
        let path = running.path.as_deref();
        self.log_transfer(
            running.verb,
            &running.name,
            path,
            bytes,
            running.started,
            result,
        );
    }

    /// Logs a finished transfer, and reports a file's to the file service.
    pub(super) fn log_transfer(
        &self,
        verb: &str,
        name: &str,
        path: Option<&str>,
        bytes: u64,
        started: std::time::Instant,
        result: &Result<(), Failure>,
    ) {
        let seconds = started.elapsed().as_secs_f64();
        if let (Some(path), Some(files)) = (path, self.files()) {
            let direction = if verb == "RETR" {
                Direction::Down
            } else {
                Direction::Up
            };
            let failure = result.as_ref().err().map(ToString::to_string);
            files.transferred(&Transferred {
                direction,
                path,
                bytes,
                seconds,
                failure: failure.as_deref(),
            });
        }
        match result {
            Ok(()) => tracing::info!(
                peer = %self.peer, user = self.user_name(), verb,
                name, bytes, seconds, "transfer complete"
            ),
            Err(failure) => tracing::warn!(
                peer = %self.peer, user = self.user_name(), verb,
                name, bytes, seconds, %failure, "transfer failed"
            ),
        }
    }

    /// ABOR (RFC 959 section 4.1.3): 426 for the aborted transfer, then 226.
    /// A digest (HASH) is aborted the same way: 426 for it, then 226.
    pub(super) async fn abor(&mut self) -> Reply {
        self.data = None;
        if let Some(hashing) = self.hashing.take() {
            hashing.cancel();
            let aborted = reply(ReplyCode::TRANSFER_ABORTED, "Digest aborted.");
            let _ = self.send(&aborted).await;
            return reply(ReplyCode::CLOSING_DATA, "ABOR successful.");
        }
        let Some(mut running) = self.running.take() else {
            return reply(ReplyCode::DATA_OPEN, "No transfer to abort.");
        };
        running.cancel.cancel();
        let done = tokio::time::timeout(ABORT_WAIT, async {
            while let Some(event) = running.events.recv().await {
                if let Event::Done(result) = event {
                    return Some(result);
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        match done {
            // The transfer finished before the abort took effect.
            Some(Ok(())) => {
                self.log_running(&running, &Ok(()));
                reply(
                    ReplyCode::CLOSING_DATA,
                    "Transfer complete; nothing to abort.",
                )
            }
            _ => {
                self.log_running(&running, &Err(Failure::Cancelled));
                let aborted = reply(ReplyCode::TRANSFER_ABORTED, "Transfer aborted.");
                if self.send(&aborted).await.is_err() {
                    return reply(ReplyCode::CLOSING_DATA, "ABOR successful.");
                }
                reply(ReplyCode::CLOSING_DATA, "ABOR successful.")
            }
        }
    }
}
