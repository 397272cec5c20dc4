//! Who may log in: anonymous modes, the users file, read-only users and homes.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Client, TestServer};
use ferry_server::{Anonymous, Config, User};

fn config_with_users(dir: &std::path::Path, anonymous: Anonymous) -> Config {
    std::fs::create_dir_all(dir.join("alice")).unwrap();
    std::fs::write(dir.join("alice/mine.txt"), b"alice's").unwrap();
    std::fs::write(dir.join("top.txt"), b"top").unwrap();
    let mut config = Config::for_folder(dir);
    config.anonymous = anonymous;
    config.login_failure_delay = std::time::Duration::from_millis(10);
    config.users.users.insert(
        "alice".into(),
        User::new(b"wonder", "alice".into(), false).unwrap(),
    );
    config.users.users.insert(
        "reader".into(),
        User::new(b"look", String::new(), true).unwrap(),
    );
    config
}

#[test]
fn greeting_and_commands_before_login() {
    let server = TestServer::start();
    let mut client = Client::connect(server.addr);
    assert_eq!(client.greeting.code.0, 220);
    client.expect("SYST", 215);
    client.expect("FEAT", 211);
    client.expect("NOOP", 200);
    client.expect("PWD", 530);
    client.expect("LIST", 530);
    client.expect("RETR x", 530);
    client.expect("PASS nouser", 503);
    client.expect("QUIT", 221);
}

#[test]
fn users_file_logins() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        TestServer::with_config(config_with_users(dir.path(), Anonymous::Off), "127.0.0.1:0");
    let mut client = Client::connect(server.addr);
    // Same answer for a known and an unknown name.
    let known = client.expect("USER alice", 331);
    client.expect("PASS wrong", 530);
    let unknown = client.expect("USER mallory", 331);
    assert_eq!(known, unknown);
    client.expect("PASS wonder", 530);
    client.expect("USER anonymous", 331);
    client.expect("PASS x@y", 530);
    client.login("alice", "wonder");
    // alice's home is /alice; she sees it as / and cannot climb out.
    let pwd = client.expect("PWD", 257);
    assert!(pwd.text().contains("\"/\""), "{pwd}");
    client.expect("CWD ..", 250);
    client.expect("SIZE mine.txt", 213);
    client.expect("SIZE top.txt", 550);
    client.expect("SIZE ../top.txt", 550);
    client.expect("SIZE /../../top.txt", 550);
    let reply = client.upload("STOR new.txt", b"by alice");
    assert_eq!(reply.code.0, 226);
    assert_eq!(
        std::fs::read(dir.path().join("alice/new.txt")).unwrap(),
        b"by alice"
    );
    client.expect("USER reader", 503);
}

#[test]
fn read_only_user_cannot_change_anything() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        TestServer::with_config(config_with_users(dir.path(), Anonymous::Off), "127.0.0.1:0");
    let mut client = Client::connect(server.addr);
    client.login("reader", "look");
    assert_eq!(client.download("RETR top.txt"), b"top");
    let _data = client.passive();
    client.expect("STOR x.txt", 550);
    client.expect("APPE top.txt", 550);
    client.expect("DELE top.txt", 550);
    client.expect("MKD d", 550);
    client.expect("RMD alice", 550);
    client.expect("RNFR top.txt", 550);
    client.expect("MFMT 20200101000000 top.txt", 550);
    assert_eq!(std::fs::read(dir.path().join("top.txt")).unwrap(), b"top");
    assert!(!dir.path().join("x.txt").exists());
}

#[test]
fn anonymous_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::with_config(
        config_with_users(dir.path(), Anonymous::Read),
        "127.0.0.1:0",
    );
    let mut client = Client::connect(server.addr);
    client.login("ftp", "");
    assert_eq!(client.download("RETR top.txt"), b"top");
    client.expect("DELE top.txt", 550);
    assert!(dir.path().join("top.txt").exists());
}

#[test]
fn rein_logs_out() {
    let server = TestServer::start();
    let mut client = server.anonymous();
    client.expect("PWD", 257);
    client.expect("REIN", 220);
    client.expect("PWD", 530);
    client.login("anonymous", "a@b");
    client.expect("PWD", 257);
}
