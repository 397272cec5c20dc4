//! `ferry`'s engine (the `ferry-client` library) against other FTP servers: pyftpdlib, vsftpd
//! and Pure-FTPd, each started by the shared harness (tests/common/peers.rs) on a free loopback
//! port. The same scenario runs against each: folders, uploads, listings (MLSD, or LIST parsed
//! when the server has no MLSD, as vsftpd), downloads, resume with REST, SIZE, rename, delete,
//! active mode, and mirrors both ways whose second run transfers nothing.
//!
//! A missing server fails the test with how to install it (`peers/install.sh`, which .ci/run
//! calls).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::time::Duration;

use common::peers::{self, Peer};
use ferry_client::connection::{ConnectOptions, Connection, Connector};
use ferry_client::credentials::Credentials;
use ferry_client::progress::{ProgressMode, Silent};
use ferry_client::transfer::{self, Direction};
use ferry_proto::listing::EntryKind;

fn connector(peer: &Peer, active: bool) -> Connector {
    Connector {
        host: peer.addr.ip().to_string(),
        port: peer.addr.port(),
        credentials: Credentials {
            user: peer.user.clone(),
            password: Some(peer.password.clone()),
        },
        options: ConnectOptions {
            active,
            timeout: Duration::from_secs(20),
            ..ConnectOptions::default()
        },
    }
}

async fn open(peer: &Peer, active: bool) -> Connection {
    connector(peer, active).open(|_: &str| None).await.unwrap()
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 % 251) as u8).collect()
}

/// Everything the client does, against one server. `expect_mlsd` says whether the server
/// offers MLSD (otherwise LIST is parsed).
async fn scenario(peer: &Peer, expect_mlsd: bool) {
    let local = tempfile::tempdir().unwrap();
    let base = "tree".to_string();
    let mut connection = open(peer, false).await;
    assert_eq!(connection.features().has("MLST"), expect_mlsd);

    // Folders and uploads, names with spaces included.
    connection.mkdir_all(&format!("{base}/sub")).await.unwrap();
    let big = payload(600 * 1024);
    std::fs::write(local.path().join("big.bin"), &big).unwrap();
    std::fs::write(local.path().join("a b.txt"), b"spaced name").unwrap();
    let stats = transfer::upload(
        &mut connection,
        &local.path().join("big.bin"),
        &format!("{base}/sub/big.bin"),
        &mut Silent,
    )
    .await
    .unwrap();
    assert_eq!(stats.size, big.len() as u64);
    transfer::upload(
        &mut connection,
        &local.path().join("a b.txt"),
        &format!("{base}/a b.txt"),
        &mut Silent,
    )
    .await
    .unwrap();

    // Listings, whichever way the server lists.
    let mut entries = connection.list(Some(&base)).await.unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let shown: Vec<(String, EntryKind)> = entries
        .iter()
        .map(|e| (String::from_utf8_lossy(&e.name).into_owned(), e.kind))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("a b.txt".into(), EntryKind::File),
            ("sub".into(), EntryKind::Dir)
        ]
    );
    assert_eq!(entries[0].size, 11);
    let sub = connection.list(Some(&format!("{base}/sub"))).await.unwrap();
    assert_eq!(sub.len(), 1);
    assert_eq!(sub[0].size, big.len() as u64);
    assert_eq!(
        connection
            .size(&format!("{base}/sub/big.bin"))
            .await
            .unwrap(),
        big.len() as u64
    );

    // Download, then resume from a partial whose bytes differ: REST must have been used.
    let target = local.path().join("down.bin");
    transfer::download(
        &mut connection,
        &format!("{base}/sub/big.bin"),
        &target,
        false,
        &mut Silent,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), big);
    let partial = transfer::partial_path(&target);
    std::fs::write(&partial, vec![b'Z'; 1000]).unwrap();
    let stats = transfer::download(
        &mut connection,
        &format!("{base}/sub/big.bin"),
        &target,
        true,
        &mut Silent,
    )
    .await
    .unwrap();
    assert_eq!(stats.resumed_from, 1000);
    let mut expected = vec![b'Z'; 1000];
    expected.extend_from_slice(&big[1000..]);
    assert_eq!(std::fs::read(&target).unwrap(), expected);

    // Rename and delete.
    connection
        .rename(&format!("{base}/a b.txt"), &format!("{base}/renamed.txt"))
        .await
        .unwrap();
    connection
        .delete(&format!("{base}/renamed.txt"))
        .await
        .unwrap();
    let error = connection
        .delete(&format!("{base}/renamed.txt"))
        .await
        .unwrap_err();
    assert_eq!(error.code().map(|c| c.0 / 100), Some(5), "{error}");

    // Active mode: the server connects back.
    let mut active = open(peer, true).await;
    let listed = active.list(Some(&format!("{base}/sub"))).await.unwrap();
    assert_eq!(listed.len(), 1);
    let active_copy = local.path().join("active.bin");
    transfer::download(
        &mut active,
        &format!("{base}/sub/big.bin"),
        &active_copy,
        false,
        &mut Silent,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&active_copy).unwrap(), big);
    active.quit().await;

    // Mirror down twice: the second run finds everything identical.
    let mirror_to = local.path().join("mirror");
    let connect = connector(peer, false);
    let report = transfer::mirror(
        &mut connection,
        &connect,
        Direction::Download,
        &base,
        &mirror_to,
        2,
        &ProgressMode::Silent,
    )
    .await
    .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.transferred, 1);
    assert_eq!(std::fs::read(mirror_to.join("sub/big.bin")).unwrap(), big);
    let report = transfer::mirror(
        &mut connection,
        &connect,
        Direction::Download,
        &base,
        &mirror_to,
        1,
        &ProgressMode::Silent,
    )
    .await
    .unwrap();
    assert_eq!((report.transferred, report.skipped), (0, 1));

    // Mirror the local tree up twice: the second run transfers nothing.
    let back = "back".to_string();
    for (round, expected_transferred) in [(1, 1), (2, 0)] {
        let report = transfer::mirror(
            &mut connection,
            &connect,
            Direction::Upload,
            &back,
            &mirror_to,
            2,
            &ProgressMode::Silent,
        )
        .await
        .unwrap();
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert_eq!(report.transferred, expected_transferred, "round {round}");
    }
    let round_trip = local.path().join("round.bin");
    transfer::download(
        &mut connection,
        &format!("{back}/sub/big.bin"),
        &round_trip,
        false,
        &mut Silent,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&round_trip).unwrap(), big);
    connection.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_pyftpdlib() {
    let peer = peers::pyftpdlib();
    scenario(&peer, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_vsftpd() {
    let peer = peers::vsftpd();
    scenario(&peer, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_pure_ftpd() {
    let peer = peers::pure_ftpd();
    scenario(&peer, true).await;
}
