//! `Command::parse` and `Command::for_log` on any line.
//!
//! Asserts: an error maps to 500/501/502/504 and its reply is one clean line (no text of the
//! client's can forge a reply); the verb is case-insensitive; path arguments are the line's bytes
//! unchanged; addresses, numbers and MFMT times survive format-then-parse; `for_log` prints no
//! control character and masks every line that looks like PASS, well formed or not.
#![no_main]

use ferry_proto::{Command, Reply, ReplyDecoder, addr, time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    let logged = Command::for_log(line);
    assert!(!logged.chars().any(char::is_control), "{logged:?}");
    // Anything a client may have meant as PASS, well formed or not, is masked.
    let word = line.trim_ascii_start();
    if word.len() >= 4
        && word[..4].eq_ignore_ascii_case(b"PASS")
        && !word.get(4).is_some_and(u8::is_ascii_alphanumeric)
    {
        assert_eq!(logged, "PASS ****");
    }

    let (verb, arg) = match line.iter().position(|&b| b == b' ') {
        Some(space) => (&line[..space], &line[space + 1..]),
        None => (line, &b""[..]),
    };
    let parsed = Command::parse(line);
    // The verb is case-insensitive: the same line with its verb in upper case parses the same.
    let mut upper = verb.to_ascii_uppercase();
    if line.len() > verb.len() {
        upper.push(b' ');
        upper.extend_from_slice(arg);
    }
    match (&parsed, Command::parse(&upper)) {
        (Ok(a), Ok(b)) => assert_eq!(*a, b),
        (Err(a), Err(b)) => assert_eq!(Reply::from(a).code, Reply::from(&b).code),
        (a, b) => panic!("{a:?} but upper case gives {b:?}"),
    }

    let command = match parsed {
        Ok(command) => command,
        Err(error) => {
            let reply = Reply::from(&error);
            assert!(matches!(reply.code.0, 500 | 501 | 502 | 504), "{error:?}");
            let text = reply.text();
            assert!(
                text.chars().all(|c| c == ' ' || c.is_ascii_graphic()),
                "{text:?}"
            );
            let bytes = reply.to_bytes();
            assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
            let mut decoder = ReplyDecoder::default();
            decoder.extend(&bytes);
            assert_eq!(decoder.next_reply(), Ok(Some(reply)));
            return;
        }
    };

    let verb = String::from_utf8(upper[..verb.len()].to_vec())
        .expect("verbs are ASCII letters and digits");
    let canonical = match verb.as_str() {
        "XCWD" => "CWD",
        "XCUP" => "CDUP",
        "XRMD" => "RMD",
        "XMKD" => "MKD",
        "XPWD" => "PWD",
        "XSHA" => "XSHA1",
        other => other,
    };
    assert_eq!(command.verb(), canonical);
    let reparse = |text: String| Command::parse(text.as_bytes());

    match &command {
        Command::Pass(password) => {
            assert_eq!(logged, "PASS ****");
            assert_eq!(password.as_slice(), arg);
        }
        Command::User(raw)
        | Command::Acct(raw)
        | Command::Cwd(raw)
        | Command::Retr(raw)
        | Command::Stor(raw)
        | Command::Appe(raw)
        | Command::Rnfr(raw)
        | Command::Rnto(raw)
        | Command::Dele(raw)
        | Command::Rmd(raw)
        | Command::Mkd(raw)
        | Command::Site(raw)
        | Command::Opts(raw)
        | Command::Size(raw)
        | Command::Mdtm(raw)
        | Command::Auth(raw)
        | Command::Stou(Some(raw))
        | Command::Stat(Some(raw))
        | Command::Help(Some(raw))
        | Command::Mlst(Some(raw))
        | Command::Mlsd(Some(raw))
        | Command::Hash(raw)
        | Command::Xdigest(_, raw) => {
            assert!(!raw.is_empty());
            assert_eq!(raw.as_slice(), arg);
        }
        Command::List(Some(path)) | Command::Nlst(Some(path)) => {
            // `ls` flags in front are dropped with the blanks after them; otherwise the
            // argument is the path as it is, leading blanks included.
            if arg.first() == Some(&b'-') {
                assert!(!path.is_empty() && arg.ends_with(path));
                assert!(path[0] != b'-' && path[0] != b' ');
            } else {
                assert_eq!(path.as_slice(), arg);
            }
        }
        Command::Port(address) => {
            assert_eq!(
                addr::parse_port(&addr::format_port(*address)),
                Some(*address)
            );
            assert_eq!(
                reparse(format!("PORT {}", addr::format_port(*address))),
                Ok(command)
            );
        }
        Command::Eprt(address) => {
            assert_eq!(
                addr::parse_eprt(&addr::format_eprt(*address)),
                Some(*address)
            );
            assert_eq!(
                reparse(format!("EPRT {}", addr::format_eprt(*address))),
                Ok(command)
            );
        }
        Command::Rest(offset) => assert_eq!(reparse(format!("REST {offset}")), Ok(command)),
        Command::Pbsz(size) => assert_eq!(reparse(format!("PBSZ {size}")), Ok(command)),
        Command::Rang(start, end) => {
            assert_eq!(reparse(format!("RANG {start} {end}")), Ok(command));
        }
        Command::Mfmt(stamp, path) => {
            assert!(!path.is_empty() && arg.ends_with(path));
            let mut again = format!("MFMT {} ", time::format_timeval(*stamp)).into_bytes();
            again.extend_from_slice(path);
            assert_eq!(Command::parse(&again), Ok(command));
        }
        _ => {}
    }
});
