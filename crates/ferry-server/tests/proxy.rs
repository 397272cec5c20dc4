//! PROXY protocol behind a load balancer: the real client address comes from the header, and
//! limits, bans and the passive-data peer check apply to it. 127.0.0.3 plays the balancer,
//! 127.0.0.4 and 127.0.0.5 the clients behind it.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{Client, TestServer, connect_from};
use ferry_proto::{addr, proxy};
use ferry_server::{Config, User};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn balanced_server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"behind the balancer").unwrap();
    let mut config = Config::for_folder(dir.keep());
    config.proxy_protocol = true;
    config.proxy_from = vec![ip("127.0.0.3")];
    config.max_login_failures = 2;
    config.login_failure_delay = Duration::from_millis(10);
    config.users.users.insert(
        "u".into(),
        User::new(b"right", String::new(), false).unwrap(),
    );
    TestServer::with_config(config, "127.0.0.1:0")
}

/// Connects from the balancer's address, sends `header`, and reads the greeting.
fn through_balancer(server: &TestServer, header: &[u8]) -> Client {
    let mut stream = connect_from(server.addr, Some(ip("127.0.0.3")));
    stream.write_all(header).unwrap();
    Client::from_stream(stream)
}

fn v1(client: &str, server: &TestServer) -> Vec<u8> {
    proxy::encode_v1(client.parse().unwrap(), server.addr).into_bytes()
}

#[test]
fn real_client_address_is_used_for_data_connections() {
    let server = balanced_server();
    let mut client = through_balancer(&server, &v1("127.0.0.4:40000", &server));
    assert_eq!(client.greeting.code.0, 220);
    client.login("anonymous", "x");
    // The data connection comes straight from the client (127.0.0.4), not via the balancer.
    let reply = client.expect("EPSV", 229);
    let port = addr::parse_epsv_reply(&reply.text()).unwrap();
    let target = SocketAddr::new(server.addr.ip(), port);
    let mut balancer_side = connect_from(target, Some(ip("127.0.0.3")));
    balancer_side
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut data = connect_from(target, Some(ip("127.0.0.4")));
    client.expect("RETR f.txt", 150);
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"behind the balancer");
    assert_eq!(client.read_reply().code.0, 226);
    let mut stolen = Vec::new();
    let _ = balancer_side.read_to_end(&mut stolen);
    assert!(stolen.is_empty());
    // Active mode may only go back to the real client.
    client.expect("EPRT |1|127.0.0.3|50000|", 501);
    client.expect("EPRT |1|127.0.0.4|50000|", 200);
}

#[test]
fn version_2_headers_work() {
    let server = balanced_server();
    let header = proxy::encode_v2("127.0.0.4:40001".parse().unwrap(), server.addr);
    let mut client = through_balancer(&server, &header);
    assert_eq!(client.greeting.code.0, 220);
    client.login("anonymous", "x");
    let status = client.expect("STAT", 211);
    assert!(
        status
            .lines
            .iter()
            .any(|l| l.contains("Connected from 127.0.0.4")),
        "{status:?}"
    );
}

#[test]
fn balancer_connections_without_a_header_are_refused() {
    let server = balanced_server();
    let mut stream = connect_from(server.addr, Some(ip("127.0.0.3")));
    stream.write_all(b"USER anonymous\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(
        answer.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&answer)
    );
    // Direct clients (not the balancer) need no header.
    let mut direct = Client::connect(server.addr);
    assert_eq!(direct.greeting.code.0, 220);
    direct.login("anonymous", "x");
}

#[test]
fn bans_apply_to_the_real_client() {
    let server = balanced_server();
    let mut guesser = through_balancer(&server, &v1("127.0.0.4:40002", &server));
    guesser.expect("USER u", 331);
    guesser.expect("PASS a", 530);
    guesser.expect("USER u", 331);
    guesser.expect("PASS b", 421);
    let banned = through_balancer(&server, &v1("127.0.0.4:40003", &server));
    assert_eq!(banned.greeting.code.0, 421);
    // Another client behind the same balancer is not banned.
    let mut other = through_balancer(&server, &v1("127.0.0.5:40004", &server));
    assert_eq!(other.greeting.code.0, 220);
    other.login("u", "right");
}
