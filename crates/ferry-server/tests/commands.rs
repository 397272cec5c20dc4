//! Reply codes as RFC 959 sections 4.2 and 5.4 give them, and the informational commands.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;

#[test]
fn error_codes() {
    let server = TestServer::start();
    let mut client = server.anonymous();
    client.expect("FROB", 500);
    client.expect("TYPE X", 501);
    client.expect("TYPE E", 504);
    client.expect("MODE B", 504);
    client.expect("STRU R", 504);
    client.expect("SMNT /", 502);
    client.expect("RETR", 501);
    client.expect("REST x", 501);
    client.expect("RNTO b", 503);
    client.expect("RETR missing.bin", 550);
    client.expect("SIZE missing.bin", 550);
    client.expect("CWD nowhere", 550);
    client.expect("DELE missing.bin", 550);
    client.expect("RMD missing", 550);
    client.expect("SITE FROB", 502);
    // Still serving after all that.
    client.expect("NOOP", 200);
}

#[test]
fn over_long_line_is_refused_and_session_goes_on() {
    let server = TestServer::start();
    let mut client = server.anonymous();
    let long = format!("RETR {}", "a".repeat(100_000));
    client.expect(&long, 500);
    client.expect("NOOP", 200);
}

#[test]
fn non_utf8_and_telnet_bytes_do_not_crash() {
    let server = TestServer::start();
    let mut client = server.anonymous();
    assert_eq!(client.cmd_bytes(b"\xff\xf4\xff\xf2NOOP").code.0, 200);
    assert_eq!(client.cmd_bytes(b"\xc3\x28\xa0").code.0, 500);
    assert_eq!(client.cmd_bytes(b"SIZE \xe9t\xe9\x00x").code.0, 553);
    client.expect("NOOP", 200);
}

#[test]
fn informational_commands() {
    let server = TestServer::start();
    let mut client = server.anonymous();
    let feat = client.expect("FEAT", 211);
    for feature in [
        "EPRT",
        "EPSV",
        "MDTM",
        "MFMT",
        "PASV",
        "REST STREAM",
        "SIZE",
        "TVFS",
        "UTF8",
    ] {
        assert!(
            feat.lines.iter().any(|l| l.trim() == feature),
            "FEAT lacks {feature}: {feat:?}"
        );
    }
    assert!(feat.lines.iter().any(|l| {
        l.trim()
            .starts_with("MLST type*;size*;modify*;perm*;unique*")
    }));
    client.expect("OPTS UTF8 ON", 200);
    client.expect("OPTS UTF-8 OFF", 200);
    client.expect("HELP", 214);
    client.expect("SITE HELP", 214);
    client.expect("STAT", 211);
    client.expect("ALLO 100", 202);
    client.expect("ACCT x", 202);
    client.expect("MODE S", 200);
    client.expect("STRU F", 200);
    client.expect("TYPE L 8", 200);
    client.expect("TYPE A N", 200);
}

#[test]
fn folders_and_names() {
    let server = TestServer::start();
    let mut client = server.anonymous();
    let made = client.expect("MKD with \"quote\"", 257);
    assert!(made.text().contains("\"/with \"\"quote\"\"\""), "{made}");
    client.expect("XMKD sub", 257);
    client.expect("CWD sub", 250);
    let pwd = client.expect("XPWD", 257);
    assert!(pwd.text().starts_with("\"/sub\""), "{pwd}");
    client.expect("XCUP", 250);
    client.expect("XCWD sub", 250);
    client.expect("CDUP", 250);
    std::fs::write(server.path("sub/f.txt"), b"12345").unwrap();
    client.expect("RMD sub", 550);
    client.expect("RNFR sub/f.txt", 350);
    client.expect("RNTO g.txt", 250);
    assert_eq!(std::fs::read(server.path("g.txt")).unwrap(), b"12345");
    client.expect("XRMD sub", 250);
    assert!(!server.path("sub").exists());
    let size = client.expect("SIZE g.txt", 213);
    assert_eq!(size.text(), "5");
    client.expect("MFMT 20200102030405 g.txt", 213);
    assert_eq!(client.expect("MDTM g.txt", 213).text(), "20200102030405");
    let mlst = client.expect("MLST g.txt", 250);
    assert!(
        mlst.lines[1].contains("type=file;size=5;modify=20200102030405;"),
        "{mlst:?}"
    );
    client.expect("DELE g.txt", 250);
    client.expect("SIZE g.txt", 550);
    client.expect("MKD /", 550);
    client.expect("RMD /", 550);
}
