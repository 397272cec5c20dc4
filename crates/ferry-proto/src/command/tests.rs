//! Parsing, logging and writing of commands.

use super::*;

fn ok(line: &str) -> Command {
    match Command::parse(line.as_bytes()) {
        Ok(command) => command,
        Err(error) => panic!("{line:?} did not parse: {error}"),
    }
}

fn code(line: &[u8]) -> u16 {
    match Command::parse(line) {
        Ok(command) => panic!("{line:?} parsed as {command:?}"),
        Err(error) => Reply::from(&error).code.0,
    }
}

#[test]
fn verbs_are_case_insensitive_and_aliases_map() {
    assert_eq!(ok("user bob"), Command::User(b"bob".to_vec()));
    assert_eq!(ok("XPWD"), Command::Pwd);
    assert_eq!(ok("xcup"), Command::Cdup);
    assert_eq!(ok("XMKD a b"), Command::Mkd(b"a b".to_vec()));
    assert_eq!(ok("XRMD d"), Command::Rmd(b"d".to_vec()));
    assert_eq!(ok("XCWD /x"), Command::Cwd(b"/x".to_vec()));
}

#[test]
fn paths_keep_spaces_and_raw_bytes() {
    assert_eq!(
        ok("RETR my file.txt"),
        Command::Retr(b"my file.txt".to_vec())
    );
    assert_eq!(
        Command::parse(b"STOR caf\xe9"),
        Ok(Command::Stor(b"caf\xe9".to_vec()))
    );
}

#[test]
fn list_flags_are_dropped() {
    assert_eq!(ok("LIST"), Command::List(None));
    assert_eq!(ok("LIST -la"), Command::List(None));
    assert_eq!(
        ok("LIST -a -l sub dir"),
        Command::List(Some(b"sub dir".to_vec()))
    );
    assert_eq!(ok("NLST -1 x"), Command::Nlst(Some(b"x".to_vec())));
    assert_eq!(ok("LIST "), Command::List(None));
}

#[test]
fn types() {
    assert_eq!(ok("TYPE A"), Command::Type(TransferType::Ascii));
    assert_eq!(ok("TYPE a n"), Command::Type(TransferType::Ascii));
    assert_eq!(ok("TYPE I"), Command::Type(TransferType::Image));
    assert_eq!(ok("TYPE L 8"), Command::Type(TransferType::Image));
    assert_eq!(code(b"TYPE E"), 504);
    assert_eq!(code(b"TYPE L 16"), 504);
    assert_eq!(code(b"TYPE X"), 501);
    assert_eq!(code(b"TYPE"), 501);
}

#[test]
fn reply_codes_for_errors() {
    assert_eq!(code(b"FOO"), 500);
    assert_eq!(code(b""), 500);
    assert_eq!(code(b"RETR"), 501);
    assert_eq!(code(b"REST abc"), 501);
    assert_eq!(code(b"PORT 1,2,3"), 501);
    assert_eq!(code(b"MODE B"), 504);
    assert_eq!(code(b"STRU R"), 504);
    assert_eq!(code(b"SMNT x"), 502);
    assert_eq!(code(b"EPSV 3"), 504);
    assert_eq!(code(b"\xff\xfe"), 500);
    assert_eq!(code(b"VERYLONGVERB"), 500);
}

#[test]
fn addresses_and_numbers() {
    assert_eq!(ok("REST 100"), Command::Rest(100));
    assert_eq!(
        ok("PORT 127,0,0,1,4,1"),
        Command::Port("127.0.0.1:1025".parse().unwrap())
    );
    assert_eq!(
        ok("EPRT |2|::1|5000|"),
        Command::Eprt("[::1]:5000".parse().unwrap())
    );
    assert_eq!(ok("EPSV"), Command::Epsv(EpsvArg::Any));
    assert_eq!(ok("EPSV all"), Command::Epsv(EpsvArg::All));
    assert_eq!(ok("EPSV 2"), Command::Epsv(EpsvArg::Protocol(2)));
    assert_eq!(
        ok("MFMT 20200102030405 a b"),
        Command::Mfmt(1577934245, b"a b".to_vec())
    );
    assert_eq!(code(b"MFMT 2020 x"), 501);
    assert_eq!(code(b"MFMT 20200102030405.1.2 x"), 501);
    assert_eq!(ok("PROT p"), Command::Prot(ProtLevel::Private));
    assert_eq!(ok("PBSZ 0"), Command::Pbsz(0));
}

#[test]
fn pass_is_masked_in_logs() {
    assert_eq!(Command::for_log(b"PASS secret"), "PASS ****");
    assert_eq!(Command::for_log(b"pass secret"), "PASS ****");
    assert_eq!(Command::for_log(b"PASSX y"), "PASSX y");
    assert_eq!(Command::for_log(b"RETR a\x07b"), "RETR a?b");
    assert_eq!(Command::for_log(b"PASS"), "PASS ****");
    // Malformed PASS lines do not parse but still carry a password.
    for line in [
        &b" PASS secret"[..],
        b"PASS\tsecret",
        b"\tpass  secret",
        b"Pass:secret",
    ] {
        assert!(Command::parse(line).is_err());
        assert_eq!(Command::for_log(line), "PASS ****", "{line:?}");
    }
}

#[test]
fn verb_round_trip() {
    for line in [
        "USER a", "PASV", "LIST", "MLSD", "STOU", "ABOR", "FEAT", "CCC",
    ] {
        assert_eq!(
            ok(line).verb(),
            &line[..4.min(line.len())].trim().to_string()
        );
    }
}

#[test]
fn urgent_commands() {
    for line in [&b"ABOR"[..], b"abor", b"STAT", b"STAT x", b"noop", b"QUIT"] {
        assert!(is_urgent(line), "{line:?}");
    }
    for line in [&b"RETR x"[..], b"ABORT", b"STATX", b"", b"LIST", b" ABOR"] {
        assert!(!is_urgent(line), "{line:?}");
    }
}

#[test]
fn lines_are_written_as_clients_send_them() {
    for (command, line) in [
        (Command::User(b"anonymous".to_vec()), "USER anonymous"),
        (Command::Pass(b"s e".to_vec()), "PASS s e"),
        (Command::Cwd(b"/a b".to_vec()), "CWD /a b"),
        (Command::Cdup, "CDUP"),
        (Command::Type(TransferType::Image), "TYPE I"),
        (Command::Type(TransferType::Ascii), "TYPE A"),
        (Command::Rest(300000), "REST 300000"),
        (Command::Retr(b"x.txt".to_vec()), "RETR x.txt"),
        (Command::List(None), "LIST"),
        (Command::Mlsd(Some(b"dir".to_vec())), "MLSD dir"),
        (Command::Stou(None), "STOU"),
        (Command::Epsv(EpsvArg::Any), "EPSV"),
        (Command::Epsv(EpsvArg::All), "EPSV ALL"),
        (Command::Epsv(EpsvArg::Protocol(2)), "EPSV 2"),
        (
            Command::Port(
                "192.168.1.2:50000"
                    .parse()
                    .unwrap_or_else(|_| unreachable!()),
            ),
            "PORT 192,168,1,2,195,80",
        ),
        (
            Command::Eprt("[::1]:2121".parse().unwrap_or_else(|_| unreachable!())),
            "EPRT |2|::1|2121|",
        ),
        (Command::Mfmt(0, b"a b".to_vec()), "MFMT 19700101000000 a b"),
        (Command::Auth(b"TLS".to_vec()), "AUTH TLS"),
        (Command::Pbsz(0), "PBSZ 0"),
        (Command::Prot(ProtLevel::Private), "PROT P"),
        (Command::Opts(b"UTF8 ON".to_vec()), "OPTS UTF8 ON"),
        (Command::Stru(StructureKind::File), "STRU F"),
        (Command::Mode(TransferMode::Stream), "MODE S"),
    ] {
        assert_eq!(String::from_utf8_lossy(&command.to_line()), line);
        assert_eq!(Command::parse(line.as_bytes()), Ok(command), "{line}");
    }
}
