//! The peer servers the client's interop tests use (tests/common/peers.rs), proven with curl:
//! each one lists, takes an upload and serves a download, with the bytes checked in its folder;
//! the FTPS peers over explicit TLS with the test certificate, and refusing a clear login.
//!
//! Needs `curl` and the peers from `peers/install.sh` (which .ci/run calls); fails, never skips,
//! when one is missing.

mod common;

use common::peers::{self, Peer};
use common::{command, pattern, read, run, run_ok, tool, write};
use tokio::process::Command;

/// curl, silent but showing errors, never waiting long; with `--ssl-reqd --cacert` for an FTPS
/// peer.
fn curl(peer: &Peer) -> Command {
    let mut curl = command(tool("curl", "curl"));
    curl.args(["--silent", "--show-error", "--max-time", "60"])
        .args(["--connect-timeout", "10"]);
    if let Some(ca_file) = &peer.ca_file {
        curl.arg("--ssl-reqd").arg("--cacert").arg(ca_file);
    }
    curl
}

/// Lists a file put in the peer's folder, downloads it, uploads another into a new folder, and
/// checks the bytes on both sides.
async fn list_upload_download(peer: &Peer) {
    let served = pattern(200_000, 7);
    peer.write("from peer/served.bin", &served);
    let scratch = tempfile::tempdir().expect("scratch folder");

    let listing = run_ok(curl(peer).arg(peer.url("from%20peer/"))).await;
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        listing
            .lines()
            .any(|line| line.ends_with(" served.bin") && line.contains("200000")),
        "{:?} lists the file with its size:\n{listing}",
        peer.kind
    );

    let downloaded = scratch.path().join("downloaded.bin");
    run_ok(
        curl(peer)
            .arg("-o")
            .arg(&downloaded)
            .arg(peer.url("from%20peer/served.bin")),
    )
    .await;
    assert_eq!(
        read(&downloaded),
        served,
        "{:?}: downloaded bytes",
        peer.kind
    );

    let sent = pattern(300_001, 8);
    let local = scratch.path().join("sent.bin");
    write(&local, &sent);
    run_ok(
        curl(peer)
            .arg("--ftp-create-dirs")
            .arg("-T")
            .arg(&local)
            .arg(peer.url("up/loaded.bin")),
    )
    .await;
    assert_eq!(
        read(&peer.folder().join("up/loaded.bin")),
        sent,
        "{:?}: uploaded bytes in its folder",
        peer.kind
    );
}

/// A login without TLS is refused by an FTPS peer with `code` (so it really is one).
async fn clear_login_refused(peer: &Peer, code: &str) {
    let output = run(
        command(tool("curl", "curl"))
            .args(["--silent", "--show-error", "--max-time", "30"])
            .arg(peer.url("")),
        common::TOOL_LIMIT,
    )
    .await;
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && said.contains(code),
        "{:?} refuses a clear login with {code}: {} {said}",
        peer.kind,
        output.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_plain() {
    list_upload_download(&peers::vsftpd()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_with_tls_and_session_reuse_required() {
    let peer = peers::vsftpd_tls();
    list_upload_download(&peer).await;
    clear_login_refused(&peer, "530").await;
}

/// Python's ftplib never resumes the control connection's TLS session on data connections, so
/// vsftpd-TLS must refuse its data connection: this is what makes the peer prove a client's
/// session reuse.
const WITHOUT_REUSE: &str = r#"
import ftplib, ssl, sys
host, port, user, password, cafile = sys.argv[1:]
ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=cafile), timeout=10)
ftp.connect(host, int(port))
ftp.login(user, password)
ftp.prot_p()
try:
    ftp.nlst()
    print("listed")
except ftplib.all_errors as error:
    print(error)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_tls_refuses_data_connections_without_session_reuse() {
    let peer = peers::vsftpd_tls();
    let ca_file = peer.ca_file.clone().expect("a TLS peer has a CA file");
    let output = run_ok(
        command(tool("python3", "python3"))
            .args(["-c", WITHOUT_REUSE, "127.0.0.1"])
            .arg(peer.addr.port().to_string())
            .args([&peer.user, &peer.password])
            .arg(ca_file),
    )
    .await;
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.starts_with("522") && said.contains("session reuse required"),
        "vsftpd-TLS refuses a data connection that does not resume the session: {said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_with_tls13_lists_and_downloads() {
    let peer = peers::vsftpd_tls13();
    let served = pattern(100_000, 9);
    peer.write("served.bin", &served);
    let output = run_ok(curl(&peer).arg("-v").arg(peer.url("served.bin"))).await;
    assert_eq!(output.stdout, served, "downloaded bytes over TLS 1.3");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("SSL connection using TLSv1.3"),
        "vsftpd_tls13 speaks TLS 1.3:\n{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pure_ftpd_with_a_virtual_user() {
    list_upload_download(&peers::pure_ftpd()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyftpdlib_plain() {
    list_upload_download(&peers::pyftpdlib()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyftpdlib_with_tls() {
    let peer = peers::pyftpdlib_tls();
    list_upload_download(&peer).await;
    // "550 SSL/TLS required on the control channel."
    clear_login_refused(&peer, "550").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_are_killed_when_dropped() {
    let peer = peers::pyftpdlib();
    let addr = peer.addr;
    drop(peer);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "nothing listens on {addr} after the peer is dropped"
    );
}
