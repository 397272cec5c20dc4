//! The download engine driven in-process: an abandoned download (its future dropped, as Ctrl-C
//! does) closes its data connection at once, even though the bytes are received on a blocking
//! thread, and even when that thread is stuck writing them out; a server still sending finds the
//! connection gone. A download that reaches the end closes the usual way, without a reset.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use tokio::sync::Notify;

use common::{Fake, runtime};
use ferry_client::connection::{ConnectOptions, Connection};
use ferry_client::credentials::Credentials;
use ferry_client::progress::Silent;
use ferry_client::transfer;

/// A fake server whose RETR sends for ever: `sending` is notified once the data connection is
/// up, `stopped` hears once a write failed (the client's end is gone), and `sent` counts the
/// bytes.
struct Endless {
    fake: Fake,
    sending: Arc<Notify>,
    stopped: mpsc::Receiver<()>,
    sent: Arc<AtomicU64>,
}

impl Endless {
    fn start() -> Endless {
        let (stopped_tx, stopped) = mpsc::channel();
        let sending = Arc::new(Notify::new());
        let sending_tx = sending.clone();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let fake = Fake::with_epsv(1_000_000_000_000, move |line, control, data| {
            if !line.starts_with("RETR") {
                control.write_all(b"502 not here\r\n").unwrap();
                return true;
            }
            control.write_all(b"150 endless\r\n").unwrap();
            let (mut stream, _) = data.take().unwrap().accept().unwrap();
            let (stopped_tx, sending_tx) = (stopped_tx.clone(), sending_tx.clone());
            let counter = counter.clone();
            // Sends until the client's end is gone, then says so.
            std::thread::spawn(move || {
                let chunk = vec![b'x'; 64 * 1024];
                sending_tx.notify_one();
                while stream.write_all(&chunk).is_ok() {
                    counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                let _ = stopped_tx.send(());
            });
            false
        });
        Endless {
            fake,
            sending,
            stopped,
            sent,
        }
    }

    /// Waits (bounded) until the server is sending.
    async fn until_sending(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.sending.notified())
            .await
            .expect("the server never started sending");
    }

    /// Waits (bounded) until the server's writes are blocked: its count has not moved for
    /// half a second, so the client's receive window is full.
    async fn until_blocked(&self) {
        let mut last = self.sent.load(Ordering::Relaxed);
        let mut still = 0;
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.sent.load(Ordering::Relaxed);
            still = if now == last { still + 1 } else { 0 };
            last = now;
            if still == 5 {
                return;
            }
        }
        panic!("the server's writes never blocked ({last} bytes sent)");
    }
}

/// A connected, logged-in client on `runtime`.
fn connect(runtime: &tokio::runtime::Runtime, fake: &Fake) -> Connection {
    runtime.block_on(async {
        let mut connection =
            Connection::connect("127.0.0.1", fake.addr.port(), ConnectOptions::default())
                .await
                .unwrap();
        connection
            .login(&Credentials::anonymous(), &mut |_: &str| None)
            .await
            .unwrap();
        connection
    })
}

/// Runs a download of the endless file into `target` until `when` is done, then drops it, as
/// Ctrl-C does.
fn abandon_when(
    runtime: &tokio::runtime::Runtime,
    connection: &mut Connection,
    target: &std::path::Path,
    when: impl std::future::Future<Output = ()>,
) {
    runtime.block_on(async {
        let mut silent = Silent;
        let download = transfer::download(connection, "endless.bin", target, false, &mut silent);
        tokio::select! {
            result = download => panic!("an endless download ended: {result:?}"),
            () = when => {}
        }
    });
}

#[test]
fn an_abandoned_download_closes_its_data_connection() {
    let server = Endless::start();
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("endless.bin");
    let runtime = runtime();
    let mut connection = connect(&runtime, &server.fake);
    abandon_when(&runtime, &mut connection, &target, server.until_sending());
    // Bounded wait: without the close, the receive thread would read on for ever.
    server
        .stopped
        .recv_timeout(Duration::from_secs(20))
        .expect("the data connection stayed open after the download was dropped");
    assert!(!target.exists());
    drop(connection);
    drop(server.fake.commands());
}

/// The receive thread is stuck writing into a pipe that nobody reads, the data connection's
/// receive window is full, and the download is dropped: the server must still hear at once
/// that the connection is gone. (A FIN alone does not tell it: with the window full no more
/// bytes can arrive to draw the reset. CI once saw the server left waiting; a write stalled
/// by the disk is the likely cause there.)
#[test]
fn an_abandoned_download_stuck_on_its_output_still_closes_its_data_connection() {
    let server = Endless::start();
    let work = tempfile::tempdir().unwrap();
    let fifo = work.path().join("pipe");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
    )
    .unwrap();
    let runtime = runtime();
    // The pipe's reader: open, so the download can open the pipe, and never read.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let mut connection = connect(&runtime, &server.fake);
    abandon_when(&runtime, &mut connection, &fifo, async {
        server.until_sending().await;
        server.until_blocked().await;
    });
    let stopped = server.stopped.recv_timeout(Duration::from_secs(10));
    // Unblocks the receive thread (its write fails), so the runtime can shut down.
    drop(reader);
    stopped.expect("the data connection stayed open after the download was dropped");
    drop(connection);
    drop(server.fake.commands());
}

/// A download that reached the end closes its data connection with a FIN, not a reset: the
/// server, having sent its last byte and its own FIN, reads the client's clean end.
#[test]
fn a_finished_download_closes_its_data_connection_cleanly() {
    let (closed_tx, closed) = mpsc::channel();
    let fake = Fake::with_epsv(1024 * 1024, move |line, control, data| {
        if !line.starts_with("RETR") {
            control.write_all(b"502 not here\r\n").unwrap();
            return true;
        }
        control.write_all(b"150 here\r\n").unwrap();
        let (mut stream, _) = data.take().unwrap().accept().unwrap();
        stream.write_all(&vec![b'y'; 1024 * 1024]).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut rest = [0u8; 16];
        let end = std::io::Read::read(&mut stream, &mut rest).map_err(|e| e.kind());
        closed_tx.send(end).unwrap();
        control.write_all(b"226 done\r\n").unwrap();
        true
    });
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("file.bin");
    let runtime = runtime();
    let mut connection = connect(&runtime, &fake);
    runtime.block_on(async {
        let mut silent = Silent;
        let stats = transfer::download(&mut connection, "file.bin", &target, false, &mut silent)
            .await
            .unwrap();
        assert_eq!(stats.size, 1024 * 1024);
        connection.quit().await;
    });
    assert_eq!(std::fs::read(&target).unwrap().len(), 1024 * 1024);
    assert_eq!(
        closed.recv().unwrap(),
        Ok(0),
        "the data connection was not closed cleanly"
    );
    drop(fake.commands());
}
