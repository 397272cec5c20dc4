//! ferryd over IPv6 loopback (`[::1]`): curl passive (EPSV) and active (EPRT), and Python's
//! ftplib, which uses EPSV and EPRT by itself on IPv6.
//!
//! Fails with a clear message when the machine has no `::1`.

mod common;

use common::{TestServer, command, ftplib, pattern, read, run_ok, tool, write};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_over_ipv6_passive_and_active() {
    let server = TestServer::start_with("[::1]:0", |_| {}).await;
    assert_eq!(server.host(), "::1");
    let scratch = tempfile::tempdir().expect("scratch folder");
    let data = pattern(250_000, 6);
    let local = scratch.path().join("v6.bin");
    write(&local, &data);

    for (name, active) in [("passive.bin", false), ("active.bin", true)] {
        let curl = || {
            let mut curl = command(tool("curl", "curl"));
            curl.args(["--silent", "--show-error", "--globoff", "--max-time", "60"]);
            if active {
                curl.args(["-P", "-"]);
            }
            curl
        };
        let upload = run_ok(
            curl()
                .arg("--verbose")
                .arg("-T")
                .arg(&local)
                .arg(server.url(name)),
        )
        .await;
        let expected = if active { "> EPRT |2|::1|" } else { "> EPSV" };
        assert!(
            String::from_utf8_lossy(&upload.stderr).contains(expected),
            "curl sent {expected}"
        );
        assert_eq!(read(&server.root().join(name)), data, "{name} on disk");

        let out = scratch.path().join(format!("back-{name}"));
        run_ok(curl().arg("-o").arg(&out).arg(server.url(name))).await;
        assert_eq!(read(&out), data, "{name} downloaded");

        let listing = run_ok(curl().arg("--list-only").arg(server.url(""))).await;
        assert!(String::from_utf8_lossy(&listing.stdout).contains(name));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftplib_over_ipv6_epsv_and_eprt() {
    let server = TestServer::start_with("[::1]:0", |_| {}).await;

    ftplib(&server, "ipv6").await;

    let data = read(&server.root().join("v6-passive.bin"));
    assert_eq!(data.len(), 100_000);
    assert_eq!(read(&server.root().join("v6-active.bin")), data);
}
