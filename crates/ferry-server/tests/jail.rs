//! The served folder is a jail: nothing a client sends reads or writes outside it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TestServer, names_in};
use ferry_server::Config;

/// A root inside a parent folder that holds a secret beside it.
fn jailed() -> (tempfile::TempDir, TestServer) {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(parent.path().join("secret.txt"), b"secret").unwrap();
    std::fs::create_dir(parent.path().join("outside")).unwrap();
    std::fs::write(root.join("inside.txt"), b"inside").unwrap();
    std::os::unix::fs::symlink(parent.path().join("secret.txt"), root.join("link-out")).unwrap();
    std::os::unix::fs::symlink(parent.path().join("outside"), root.join("dir-out")).unwrap();
    std::os::unix::fs::symlink("inside.txt", root.join("link-in")).unwrap();
    let server = TestServer::with_config(Config::for_folder(&root), "127.0.0.1:0");
    (parent, server)
}

#[test]
fn dot_dot_and_absolute_paths_stay_inside() {
    let (_parent, server) = jailed();
    let mut client = server.anonymous();
    client.expect("CWD ../../..", 250);
    assert!(client.expect("PWD", 257).text().starts_with("\"/\""));
    for path in [
        "../secret.txt",
        "/../secret.txt",
        "..\\secret.txt",
        "/etc/passwd",
        "sub/../../secret.txt",
    ] {
        client.expect(&format!("SIZE {path}"), 550);
        let _data = client.passive();
        client.expect(&format!("RETR {path}"), 550);
    }
    // Writing "above" the root lands inside it.
    assert_eq!(client.upload("STOR ../escaped.txt", b"x").code.0, 226);
    assert!(server.path("escaped.txt").exists());
}

#[test]
fn symlinks_out_of_the_root_are_refused() {
    let (parent, server) = jailed();
    let mut client = server.anonymous();
    client.expect("SIZE link-out", 550);
    let _data = client.passive();
    client.expect("RETR link-out", 550);
    client.expect("CWD dir-out", 550);
    let _data = client.passive();
    client.expect("STOR dir-out/planted.txt", 550);
    client.expect("MKD dir-out/newdir", 550);
    client.expect("DELE link-out/x", 550);
    // A link that stays inside works.
    assert_eq!(client.download("RETR link-in"), b"inside");
    // Nothing outside changed.
    assert_eq!(
        names_in(&parent.path().join("outside")),
        Vec::<String>::new()
    );
    assert_eq!(
        std::fs::read(parent.path().join("secret.txt")).unwrap(),
        b"secret"
    );
    client.expect("NOOP", 200);
}

#[test]
fn partial_files_are_reserved_names() {
    let server = TestServer::start();
    let mut client = server.anonymous();
    std::fs::write(server.path(".ferry-partial.x"), b"half").unwrap();
    client.expect("SIZE .ferry-partial.x", 553);
    client.expect("DELE .ferry-partial.x", 553);
    let listing = client.download("NLST");
    assert!(!String::from_utf8_lossy(&listing).contains("ferry-partial"));
}
