//! Issue 14, the storage items: uploads through aliases or beside planted links never share or
//! follow a partial, special files never stall the server, STOU always finds a name, DELE leaves
//! a running upload alone, long names work, control characters are refused at creation, and MFMT
//! never reaches through a hard link.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TestServer, names_in};

#[test]
fn control_characters_are_refused_in_new_names() {
    let server = TestServer::start();
    std::fs::write(server.path("plain.txt"), b"x").unwrap();
    let mut client = server.anonymous();
    for bad in [
        &b"tab\there"[..],
        b"esc\x1bape",
        b"del\x7f",
        b"cr\rhere",
        b"bell\x07",
        b"\x01start",
    ] {
        let shown = String::from_utf8_lossy(bad).escape_debug().to_string();
        let _data = client.passive();
        for verb in [&b"STOR "[..], b"APPE ", b"STOU ", b"MKD "] {
            let reply = client.cmd_bytes(&[verb, bad].concat());
            assert_eq!(reply.code.0, 553, "{shown}: {reply}");
        }
        client.expect("RNFR plain.txt", 350);
        let reply = client.cmd_bytes(&[&b"RNTO "[..], bad].concat());
        assert_eq!(reply.code.0, 553, "RNTO {shown}: {reply}");
        // Inside a folder name too.
        let reply = client.cmd_bytes(&[&b"MKD "[..], bad, b"/sub"].concat());
        assert_ne!(reply.code.0 / 100, 2, "MKD {shown}/sub: {reply}");
    }
    assert_eq!(names_in(&server.root), ["plain.txt"]);
    // Names with other bytes still work (a space, UTF-8, Latin-1).
    assert_eq!(client.upload("STOR a b.txt", b"1").code.0, 226);
    client.expect("MKD caf\u{e9}", 257);
    let _data = client.passive();
    assert_eq!(client.cmd_bytes(b"STOR caf\xe9.txt").code.0, 150);
}
