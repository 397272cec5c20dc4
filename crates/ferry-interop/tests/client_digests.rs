//! `ferry --verify` against a server no one here wrote: ProFTPD with mod_digest (FEAT HASH).
//! A get and a mirror both ways verify every file with the algorithm the two agree on, and
//! the digest the client computes is the one ProFTPD announces.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on anything unexpected"
)]

mod common;

use std::time::Duration;

use common::peers;
use ferry_client::connection::{ConnectOptions, Connector};
use ferry_client::credentials::Credentials;
use ferry_client::progress::{ProgressMode, Silent};
use ferry_client::transfer::{self, Direction, MirrorOptions};
use ferry_client::verify::{Check, FtpDigests};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_against_proftpd_mod_digest() {
    let peer = peers::proftpd();
    let payload = ferry_testkit::test_bytes(1_500_000, 51);
    peer.write("tree/big.bin", &payload);
    peer.write("tree/sub/small.txt", b"small");
    let mut connector = Connector {
        host: peer.addr.ip().to_string(),
        port: peer.addr.port(),
        credentials: Credentials {
            user: peer.user.clone(),
            password: Some(peer.password.clone()),
        },
        options: ConnectOptions {
            timeout: Duration::from_secs(20),
            ..ConnectOptions::default()
        },
    };
    let mut connection = connector.open(|_: &str| None).await.unwrap();
    assert!(
        connection.features().has("HASH"),
        "ProFTPD without mod_digest"
    );
    let local = tempfile::tempdir().unwrap();
    let target = local.path().join("big.bin");
    transfer::download(&mut connection, "tree/big.bin", &target, false, &mut Silent)
        .await
        .unwrap();
    let mut digests = FtpDigests::default();
    let check = digests
        .check(&mut connection, "tree/big.bin", &target)
        .await
        .unwrap();
    assert!(matches!(check, Check::Verified(_)), "{check:?}");

    // A copy that differs by one byte does not verify.
    let mut changed = payload.clone();
    changed[1000] ^= 1;
    std::fs::write(&target, &changed).unwrap();
    let check = digests
        .check(&mut connection, "tree/big.bin", &target)
        .await
        .unwrap();
    assert!(matches!(check, Check::Mismatch(..)), "{check:?}");

    let options = MirrorOptions {
        verify: true,
        ..MirrorOptions::default()
    };
    let copy = local.path().join("copy");
    let report = transfer::mirror(
        &mut connection,
        &connector,
        Direction::Download,
        "tree",
        &copy,
        &options,
        &ProgressMode::Silent,
    )
    .await
    .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        (report.transferred, report.verified, report.unverified),
        (2, 2, 0)
    );
    let report = transfer::mirror(
        &mut connection,
        &connector,
        Direction::Upload,
        "back",
        &copy,
        &options,
        &ProgressMode::Silent,
    )
    .await
    .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!((report.transferred, report.verified), (2, 2));
    connection.quit().await;
}
