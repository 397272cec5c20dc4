//! `ferry`'s engine (the `ferry-client` library) against other FTP servers: pyftpdlib, vsftpd
//! and Pure-FTPd, each started by the shared harness (tests/common/peers.rs) on a free loopback
//! port. The same scenario runs against each: folders, uploads, listings (MLSD, or LIST parsed
//! when the server has no MLSD, as vsftpd), downloads, resume with REST, SIZE, rename, delete,
//! active mode, and mirrors both ways whose second run transfers nothing. The FTPS peers
//! (vsftpd with `require_ssl_reuse=YES`, pyftpdlib's `TLS_FTPHandler`) run the same scenario over
//! explicit TLS, trusting the peer's certificate as `--ca-file` does: vsftpd refuses every data
//! connection that does not resume the control connection's TLS session, so its run proves reuse.
//!
//! A missing server fails the test with how to install it (`peers/install.sh`, which .ci/run
//! calls).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::time::Duration;

use common::peers::{self, Peer, PeerKind};
use ferry_client::connection::{ConnectOptions, Connection, Connector};
use ferry_client::credentials::Credentials;
use ferry_client::progress::{ProgressMode, Silent};
use ferry_client::tls::{TlsMode, TlsTrust};
use ferry_client::transfer::{self, Direction, MirrorOptions, NameFilter};
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
            tls: if peer.ca_file.is_some() {
                TlsMode::Explicit
            } else {
                TlsMode::Off
            },
            trust: peer
                .ca_file
                .as_ref()
                .map_or_else(TlsTrust::system, TlsTrust::ca_file),
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
/// offers MLSD (otherwise LIST is parsed); `tls13` whether a vsftpd with TLS speaks TLS 1.3.
async fn scenario(peer: &Peer, expect_mlsd: bool, tls13: bool) {
    let local = tempfile::tempdir().unwrap();
    let base = "tree".to_string();
    let mut connection = open(peer, false).await;
    assert_eq!(connection.features().has("MLST"), expect_mlsd);
    assert_eq!(connection.is_tls(), peer.ca_file.is_some());
    let version = connection
        .tls_summary()
        .map(|summary| summary[..7].to_string());
    let expected = match peer.kind {
        PeerKind::VsftpdTls if tls13 => Some("TLSv1_3"),
        PeerKind::VsftpdTls => Some("TLSv1_2"),
        PeerKind::PyftpdlibTls => Some("TLSv1_3"),
        _ => None,
    };
    assert_eq!(version.as_deref(), expected);

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
        &MirrorOptions {
            parallel: 2,
            ..MirrorOptions::default()
        },
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
        &MirrorOptions::default(),
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
            &MirrorOptions {
                parallel: 2,
                ..MirrorOptions::default()
            },
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

    // --segments 4: the same bytes over several connections (600 KiB: two ranges of 300 KiB).
    let segmented = local.path().join("segmented.bin");
    let stats = transfer::download_segmented(
        &mut connection,
        &connect,
        &format!("{back}/sub/big.bin"),
        &segmented,
        4,
        &mut Silent,
    )
    .await
    .unwrap();
    assert_eq!(stats.size, big.len() as u64);
    assert!(
        std::fs::read(&segmented).unwrap() == big,
        "segmented bytes differ"
    );

    // The mirror options against this server: a file added, one removed, an excluded one on
    // each side. --dry-run changes nothing on either side; the real run copies the new file,
    // deletes the removed one and leaves the excluded ones be.
    std::fs::write(mirror_to.join("added.txt"), b"added").unwrap();
    std::fs::write(mirror_to.join("local.tmp"), b"excluded here").unwrap();
    std::fs::remove_file(mirror_to.join("sub/big.bin")).unwrap();
    peer.write("back/theirs.tmp", b"excluded there");
    let options = MirrorOptions {
        delete: true,
        dry_run: true,
        filter: NameFilter {
            include: Vec::new(),
            exclude: vec!["*.tmp".into()],
        },
        ..MirrorOptions::default()
    };
    let before = (tree(&mirror_to), tree(&peer.folder().join("back")));
    let report = mirror_back(
        &mut connection,
        &connect,
        Direction::Upload,
        &mirror_to,
        &options,
    )
    .await;
    let actions = report.dry_run.clone().unwrap();
    assert_eq!(
        actions,
        [
            format!(
                "copy {}/added.txt -> back/added.txt (5b)",
                mirror_to.display()
            ),
            "delete back/sub/big.bin".to_string(),
        ]
    );
    assert_eq!(
        (tree(&mirror_to), tree(&peer.folder().join("back"))),
        before
    );
    let options = MirrorOptions {
        dry_run: false,
        ..options
    };
    let report = mirror_back(
        &mut connection,
        &connect,
        Direction::Upload,
        &mirror_to,
        &options,
    )
    .await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!((report.transferred, report.deleted), (1, 1));
    let served = peer.folder().join("back");
    assert_eq!(std::fs::read(served.join("added.txt")).unwrap(), b"added");
    assert!(!served.join("sub/big.bin").exists() && !served.join("local.tmp").exists());
    assert_eq!(
        std::fs::read(served.join("theirs.tmp")).unwrap(),
        b"excluded there"
    );
    // And down: the local copy loses what the server lost.
    std::fs::write(mirror_to.join("sub/stray.bin"), b"stray").unwrap();
    let report = mirror_back(
        &mut connection,
        &connect,
        Direction::Download,
        &mirror_to,
        &options,
    )
    .await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.deleted, 1);
    assert!(!mirror_to.join("sub/stray.bin").exists());
    assert!(mirror_to.join("local.tmp").exists());
    // --verify against a server without HASH or the X* commands: the file still arrives,
    // counted as unverified, not failed.
    peer.write("back/fresh.txt", b"fresh bytes");
    let options = MirrorOptions {
        verify: true,
        ..options
    };
    let report = mirror_back(
        &mut connection,
        &connect,
        Direction::Download,
        &mirror_to,
        &options,
    )
    .await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        (report.transferred, report.verified, report.unverified),
        (1, 0, 1)
    );
    assert_eq!(
        std::fs::read(mirror_to.join("fresh.txt")).unwrap(),
        b"fresh bytes"
    );
    connection.quit().await;
}

/// `transfer::mirror` between the peer's `back` folder and `local`, quietly; panics on error.
async fn mirror_back(
    connection: &mut Connection,
    connect: &Connector,
    direction: Direction,
    local: &std::path::Path,
    options: &MirrorOptions,
) -> transfer::MirrorReport {
    transfer::mirror(
        connection,
        connect,
        direction,
        "back",
        local,
        options,
        &ProgressMode::Silent,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_pyftpdlib() {
    let peer = peers::pyftpdlib();
    scenario(&peer, true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_vsftpd() {
    let peer = peers::vsftpd();
    scenario(&peer, false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_pure_ftpd() {
    let peer = peers::pure_ftpd();
    scenario(&peer, true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_vsftpd_tls() {
    let peer = peers::vsftpd_tls();
    scenario(&peer, false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_pyftpdlib_tls() {
    let peer = peers::pyftpdlib_tls();
    scenario(&peer, true, false).await;
}

/// TLS 1.3 with session reuse required: each resumed data connection takes a ticket, and vsftpd
/// (OpenSSL) sends a new one on it, which the client reads (uploads too: after its close_notify
/// it reads to the server's). The uploads that curl loses here over TLS 1.3 (peers.rs) arrive
/// whole from ferry (12 of 12 scenario runs, measured).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_vsftpd_tls13() {
    let peer = peers::vsftpd_tls13();
    scenario(&peer, false, true).await;
}

/// Every file under `root` with its bytes, by its path from there.
fn tree(root: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut found = std::collections::BTreeMap::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                found.insert(format!("{name}/"), Vec::new());
                folders.push(path);
            } else {
                found.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}
