//! Data connections: RFC 2577 bounce and port-stealing protections, IPv6, EPSV ALL, timeouts.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::Duration;

use common::{Client, TestServer, connect_from};
use ferry_proto::addr;
use ferry_server::Config;

fn other_host() -> IpAddr {
    "127.0.0.2".parse().unwrap()
}

#[test]
fn port_to_another_host_or_privileged_port_is_refused() {
    let server = TestServer::start();
    let mut client = server.anonymous();
    client.expect("PORT 127,0,0,2,195,80", 501);
    client.expect("PORT 10,0,0,1,195,80", 501);
    client.expect("EPRT |1|127.0.0.2|50000|", 501);
    client.expect("PORT 127,0,0,1,0,21", 501);
    client.expect("EPRT |1|127.0.0.1|22|", 501);
    // No data connection was set up by the refused commands.
    client.expect("LIST", 425);
}

#[test]
fn active_mode_connects_back_to_the_client() {
    let server = TestServer::start();
    std::fs::write(server.path("a.txt"), b"active").unwrap();
    let mut client = server.anonymous();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    client.expect(&format!("EPRT |1|127.0.0.1|{port}|"), 200);
    client.expect("RETR a.txt", 150);
    let (mut data, from) = listener.accept().unwrap();
    assert_eq!(from.ip(), "127.0.0.1".parse::<IpAddr>().unwrap());
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"active");
    assert_eq!(client.read_reply().code.0, 226);
}

#[test]
fn passive_port_cannot_be_stolen_from_another_ip() {
    let server = TestServer::start();
    std::fs::write(server.path("secret.txt"), b"for the client only").unwrap();
    let mut client = server.anonymous();
    let reply = client.expect("PASV", 227);
    let target = SocketAddr::V4(addr::parse_pasv_reply(&reply.text()).unwrap());
    // The thief from 127.0.0.2 connects first; it must get nothing.
    let mut thief = connect_from(target, Some(other_host()));
    thief
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut data = connect_from(target, None);
    client.expect("RETR secret.txt", 150);
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"for the client only");
    assert_eq!(client.read_reply().code.0, 226);
    let mut stolen = Vec::new();
    let _ = thief.read_to_end(&mut stolen);
    assert!(stolen.is_empty(), "thief got {} bytes", stolen.len());
}

#[test]
fn control_from_another_ip_gets_its_own_data() {
    // 127.0.0.2 as a client host works for itself.
    let server = TestServer::start();
    std::fs::write(server.path("f.txt"), b"hi").unwrap();
    let mut client = Client::connect_from(server.addr, Some(other_host()));
    client.login("anonymous", "x");
    let reply = client.expect("EPSV", 229);
    let port = addr::parse_epsv_reply(&reply.text()).unwrap();
    let mut data = connect_from(SocketAddr::new(server.addr.ip(), port), Some(other_host()));
    client.expect("RETR f.txt", 150);
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"hi");
    assert_eq!(client.read_reply().code.0, 226);
}

#[test]
fn epsv_all_refuses_other_data_commands() {
    let server = TestServer::start();
    let mut client = server.anonymous();
    client.expect("EPSV ALL", 200);
    client.expect("PASV", 503);
    client.expect("PORT 127,0,0,1,195,80", 503);
    client.expect("EPRT |1|127.0.0.1|50000|", 503);
    assert_eq!(client.download("NLST"), b"");
}

#[test]
fn pasv_nobody_connects_to_times_out() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"x").unwrap();
    let mut config = Config::for_folder(dir.path());
    config.data_timeout = Duration::from_millis(300);
    let server = TestServer::with_config(config, "127.0.0.1:0");
    let mut client = server.anonymous();
    client.expect("EPSV", 229);
    client.send_raw(b"RETR f.txt\r\n");
    assert_eq!(client.read_reply().code.0, 425);
    client.expect("NOOP", 200);
}

#[test]
fn passive_port_range_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let probe = TcpListener::bind("127.0.0.1:0").unwrap();
    let low = probe.local_addr().unwrap().port();
    drop(probe);
    let mut config = Config::for_folder(dir.path());
    config.passive_ports = Some((low, low));
    let server = TestServer::with_config(config, "127.0.0.1:0");
    let mut client = server.anonymous();
    let reply = client.expect("EPSV", 229);
    assert_eq!(addr::parse_epsv_reply(&reply.text()), Some(low));
    assert_eq!(client.download("NLST"), b"");
}

fn ipv6_server() -> Option<TestServer> {
    if TcpListener::bind("[::1]:0").is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "IPv6 loopback [::1] is not available on this machine"
        );
        eprintln!("skipping: no IPv6 loopback here (set CI=true to make this fatal)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("six.txt"), b"over ipv6").unwrap();
    let config = Config::for_folder(dir.keep());
    Some(TestServer::with_config(config, "[::1]:0"))
}

#[test]
fn ipv6_passive_and_active() {
    let Some(server) = ipv6_server() else { return };
    let mut client = server.anonymous();
    client.expect("PASV", 425);
    client.expect("EPSV 1", 522);
    client.expect("EPSV 2", 229);
    assert_eq!(client.download("RETR six.txt"), b"over ipv6");
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    client.expect(&format!("EPRT |2|::1|{port}|"), 200);
    client.expect("RETR six.txt", 150);
    let (mut data, _) = listener.accept().unwrap();
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"over ipv6");
    assert_eq!(client.read_reply().code.0, 226);
    std::fs::remove_dir_all(&server.root).unwrap();
}

#[test]
fn passive_connection_made_after_the_command_still_gets_150_first() {
    // Most clients connect before RETR/STOR (the session takes the queued connection); this
    // one connects only after sending them, so the transfer waits for it.
    let server = TestServer::start();
    std::fs::write(server.path("late.txt"), b"late but complete").unwrap();
    let mut client = server.anonymous();
    for (command, body) in [
        ("RETR late.txt", None),
        ("STOR up.txt", Some(b"uploaded late")),
    ] {
        let reply = client.expect("EPSV", 229);
        let port = addr::parse_epsv_reply(&reply.text()).unwrap();
        client.send_raw(format!("{command}\r\n").as_bytes());
        // NOOP is answered while a transfer waits: its 200 shows the session took the command
        // and is waiting for the connection.
        client.expect("NOOP", 200);
        let mut data = connect_from(SocketAddr::new(server.addr.ip(), port), None);
        assert_eq!(client.read_reply().code.0, 150, "{command}");
        match body {
            None => {
                let mut bytes = Vec::new();
                data.read_to_end(&mut bytes).unwrap();
                assert_eq!(bytes, b"late but complete");
            }
            Some(body) => {
                std::io::Write::write_all(&mut data, body).unwrap();
                drop(data);
            }
        }
        assert_eq!(client.read_reply().code.0, 226, "{command}");
    }
    assert_eq!(
        std::fs::read(server.path("up.txt")).unwrap(),
        b"uploaded late"
    );
}
