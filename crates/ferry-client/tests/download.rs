//! The download engine driven in-process: an abandoned download (its future dropped, as Ctrl-C
//! does) closes its data connection at once, even though the bytes are received on a blocking
//! thread; a server still sending finds the connection gone.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use common::{Fake, answer_epsv, basic_reply};
use ferry_client::connection::{ConnectOptions, Connection};
use ferry_client::credentials::Credentials;
use ferry_client::progress::Silent;
use ferry_client::transfer;

#[test]
fn an_abandoned_download_closes_its_data_connection() {
    let (stopped_tx, stopped) = mpsc::channel();
    let (sending_tx, sending) = mpsc::channel();
    let mut data: Option<TcpListener> = None;
    let fake = Fake::start(move |line, control| {
        if let Some(reply) = basic_reply(line, &["EPSV", "SIZE"]) {
            control.write_all(reply.as_bytes()).unwrap();
            return !line.starts_with("QUIT");
        }
        match line.split(' ').next().unwrap_or("") {
            "SIZE" => control.write_all(b"213 1000000000000\r\n").unwrap(),
            "EPSV" => answer_epsv(control, &mut data),
            "RETR" => {
                control.write_all(b"150 endless\r\n").unwrap();
                let (mut stream, _) = data.take().unwrap().accept().unwrap();
                let (stopped_tx, sending_tx) = (stopped_tx.clone(), sending_tx.clone());
                // Sends until the client's end is gone, then says so.
                std::thread::spawn(move || {
                    let chunk = vec![b'x'; 64 * 1024];
                    let _ = sending_tx.send(());
                    while stream.write_all(&chunk).is_ok() {}
                    let _ = stopped_tx.send(());
                });
                return false;
            }
            _ => control.write_all(b"502 not here\r\n").unwrap(),
        }
        true
    });
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("endless.bin");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut connection =
            Connection::connect("127.0.0.1", fake.addr.port(), ConnectOptions::default())
                .await
                .unwrap();
        connection
            .login(&Credentials::anonymous(), &mut |_: &str| None)
            .await
            .unwrap();
        let mut silent = Silent;
        let download =
            transfer::download(&mut connection, "endless.bin", &target, false, &mut silent);
        tokio::pin!(download);
        // Run the download until the server is sending, then drop it.
        let sending = async {
            loop {
                if sending.try_recv().is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::select! {
            result = &mut download => panic!("an endless download ended: {result:?}"),
            () = sending => {}
        }
    });
    // Bounded wait: without the close, the receive thread would read on for ever.
    stopped
        .recv_timeout(Duration::from_secs(20))
        .expect("the data connection stayed open after the download was dropped");
    assert!(!target.exists());
    drop(fake.commands());
}
