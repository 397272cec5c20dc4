//! What only the S3 backend does, against real S3 servers on loopback (s3s-fs and SeaweedFS),
//! each started by its test: a prefix of the bucket is the served root. The behaviours every
//! backend shares, with S3's documented differences, are in the contract suite
//! (`tests/contract/`, run by `tests/storage_contract.rs` on both servers).
#![cfg(feature = "s3")]
#![allow(clippy::unwrap_used)]

mod kit;

use ferry_storage::EntryKind;
use kit::s3_servers::S3Server;
use kit::{bytes, names, open_s3, path, store};

/// The prefix is the root: a file stored below `tenant/a` is the key `tenant/a/NAME`.
async fn the_prefix_is_the_root(server: &S3Server) {
    let storage = open_s3(server, "tenant/a").await;
    store(&storage, "small.txt", &bytes(1000, 1)).await;
    let whole = open_s3(server, "").await;
    assert_eq!(
        whole.stat(&path("tenant/a/small.txt")).await.unwrap().size,
        1000
    );
    assert_eq!(
        names(&whole, "tenant").await,
        vec![("a".into(), EntryKind::Dir)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3s_fs() {
    let server = S3Server::s3s_fs();
    the_prefix_is_the_root(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seaweedfs() {
    let server = S3Server::seaweedfs();
    the_prefix_is_the_root(&server).await;
}
