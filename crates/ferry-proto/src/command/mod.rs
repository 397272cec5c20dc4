//! FTP commands: RFC 959 section 4.1 in its order, then the extensions (RFC 2389 FEAT/OPTS, RFC
//! 2428 EPRT/EPSV, RFC 3659 SIZE/MDTM/REST/MLST/MLSD, RFC 4217 AUTH/PBSZ/PROT, the MFMT draft).
//!
//! [`Command::parse`] takes one line without its line ending. Path arguments stay raw bytes: names
//! that are not UTF-8 pass through untouched; [`crate::VirtualPath`] gives them meaning. This
//! module does NOT check sequencing (RNFR before RNTO, login before commands): the session does.

use std::net::{SocketAddr, SocketAddrV4};

use crate::addr;
use crate::digest::Algorithm;
use crate::reply::{Reply, ReplyCode};
use crate::time;

/// Longest verb we look at; anything longer is not a command.
const MAX_VERB_LEN: usize = 8;

/// TYPE (RFC 959 section 3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    /// `TYPE A` (or `A N`): text, converted to and from CRLF line endings.
    Ascii,
    /// `TYPE I` or `TYPE L 8`: bytes as they are.
    Image,
}

/// MODE (RFC 959 section 3.4); only stream mode is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMode {
    /// `MODE S`.
    Stream,
}

/// STRU (RFC 959 section 3.1.2); only file structure is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructureKind {
    /// `STRU F`.
    File,
}

/// Data channel protection level, `PROT` (RFC 4217 section 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtLevel {
    /// `C`: clear.
    Clear,
    /// `S`: safe (integrity only); not offered by TLS.
    Safe,
    /// `E`: confidential; not offered by TLS.
    Confidential,
    /// `P`: private (TLS).
    Private,
}

/// The argument of `EPSV` (RFC 2428 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    /// No argument: the protocol of the control connection.
    Any,
    /// `EPSV ALL`: from now on only EPSV may set up data connections.
    All,
    /// `EPSV 1` (IPv4) or `EPSV 2` (IPv6).
    Protocol(u8),
}

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// USER name.
    User(Vec<u8>),
    /// PASS password (never log it: see [`Command::for_log`]).
    Pass(Vec<u8>),
    /// ACCT account.
    Acct(Vec<u8>),
    /// CWD / XCWD path.
    Cwd(Vec<u8>),
    /// CDUP / XCUP.
    Cdup,
    /// SMNT (not implemented; parsed so it gets 502).
    Smnt,
    /// QUIT.
    Quit,
    /// REIN: back to the state just after the greeting.
    Rein,
    /// PORT h1,h2,h3,h4,p1,p2.
    Port(SocketAddrV4),
    /// PASV.
    Pasv,
    /// TYPE.
    Type(TransferType),
    /// STRU.
    Stru(StructureKind),
    /// MODE.
    Mode(TransferMode),
    /// RETR path.
    Retr(Vec<u8>),
    /// STOR path.
    Stor(Vec<u8>),
    /// STOU (optionally with a name hint).
    Stou(Option<Vec<u8>>),
    /// APPE path.
    Appe(Vec<u8>),
    /// ALLO (arguments ignored).
    Allo,
    /// REST offset (RFC 3659 stream-mode restart).
    Rest(u64),
    /// RNFR path.
    Rnfr(Vec<u8>),
    /// RNTO path.
    Rnto(Vec<u8>),
    /// ABOR.
    Abor,
    /// DELE path.
    Dele(Vec<u8>),
    /// RMD / XRMD path.
    Rmd(Vec<u8>),
    /// MKD / XMKD path.
    Mkd(Vec<u8>),
    /// PWD / XPWD.
    Pwd,
    /// LIST \[path\], with any `ls` flags removed.
    List(Option<Vec<u8>>),
    /// NLST \[path\], with any `ls` flags removed.
    Nlst(Option<Vec<u8>>),
    /// SITE subcommand.
    Site(Vec<u8>),
    /// SYST.
    Syst,
    /// STAT \[path\].
    Stat(Option<Vec<u8>>),
    /// HELP \[command\].
    Help(Option<Vec<u8>>),
    /// NOOP.
    Noop,
    /// FEAT (RFC 2389).
    Feat,
    /// OPTS command-name \[options\] (RFC 2389).
    Opts(Vec<u8>),
    /// EPRT |proto|addr|port| (RFC 2428).
    Eprt(SocketAddr),
    /// EPSV [1|2|ALL] (RFC 2428).
    Epsv(EpsvArg),
    /// SIZE path (RFC 3659).
    Size(Vec<u8>),
    /// MDTM path (RFC 3659).
    Mdtm(Vec<u8>),
    /// MFMT time path (draft-somers-ftp-mfxx): seconds since the Unix epoch, UTC.
    Mfmt(i64, Vec<u8>),
    /// MLST \[path\] (RFC 3659).
    Mlst(Option<Vec<u8>>),
    /// MLSD \[path\] (RFC 3659).
    Mlsd(Option<Vec<u8>>),
    /// AUTH mechanism (RFC 4217).
    Auth(Vec<u8>),
    /// PBSZ size (RFC 4217).
    Pbsz(u64),
    /// PROT level (RFC 4217).
    Prot(ProtLevel),
    /// CCC (RFC 4217).
    Ccc,
    /// HASH path (draft-bryan-ftpext-hash-02): the digest of a file with the session's
    /// algorithm.
    Hash(Vec<u8>),
    /// RANG start end (draft-bryan-ftp-range): the octets `start..=end` for the next command;
    /// `RANG 1 0` clears it.
    Rang(u64, u64),
    /// XCRC, XMD5, XSHA/XSHA1, XSHA256, XSHA512 path: one algorithm's digest as ProFTPD's
    /// mod_digest answers it (250 and upper-case hex).
    Xdigest(Algorithm, Vec<u8>),
}

/// Why a line is not a command we can run; [`Reply::from`] gives the reply for each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Not a command we know: 500.
    #[error("unknown command {0}")]
    Unknown(String),
    /// A command we know of but do not implement: 502.
    #[error("{0} not implemented")]
    NotImplemented(&'static str),
    /// The command needs an argument it did not get: 501.
    #[error("{0} needs an argument")]
    MissingArgument(&'static str),
    /// The argument is malformed: 501.
    #[error("bad argument to {0}")]
    BadArgument(&'static str),
    /// The argument is well formed but names something we do not implement: 504.
    #[error("{0} not implemented for that parameter")]
    UnsupportedParameter(&'static str),
}

impl From<&CommandError> for Reply {
    fn from(error: &CommandError) -> Reply {
        match error {
            CommandError::Unknown(verb) => {
                Reply::new(ReplyCode::SYNTAX_ERROR, format!("Unknown command {verb}."))
            }
            CommandError::NotImplemented(verb) => Reply::new(
                ReplyCode::NOT_IMPLEMENTED,
                format!("{verb} not implemented."),
            ),
            CommandError::MissingArgument(verb) => Reply::new(
                ReplyCode::SYNTAX_ERROR_ARGS,
                format!("{verb} needs an argument."),
            ),
            CommandError::BadArgument(verb) => Reply::new(
                ReplyCode::SYNTAX_ERROR_ARGS,
                format!("Bad argument to {verb}."),
            ),
            CommandError::UnsupportedParameter(verb) => Reply::new(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                format!("{verb} not implemented for that parameter."),
            ),
        }
    }
}

impl Command {
    /// Parses one command line (without CRLF).
    pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
        let (verb, arg) = match line.iter().position(|&b| b == b' ') {
            Some(space) => (&line[..space], Some(&line[space + 1..])),
            None => (line, None),
        };
        // An empty argument counts as none ("LIST " from some clients).
        let arg = arg.filter(|a| !a.is_empty());
        if verb.is_empty() || verb.len() > MAX_VERB_LEN
            // Letters, and digits after them (XSHA256).
            || !verb.first().is_some_and(u8::is_ascii_alphabetic)
            || !verb.iter().all(u8::is_ascii_alphanumeric)
        {
            let shown = String::from_utf8_lossy(&verb[..verb.len().min(MAX_VERB_LEN)]);
            return Err(CommandError::Unknown(sanitize_verb(&shown)));
        }
        let verb = verb.to_ascii_uppercase();
        let verb = std::str::from_utf8(&verb).unwrap_or_default();
        let owned = |name| {
            arg.map(<[u8]>::to_vec)
                .ok_or(CommandError::MissingArgument(name))
        };
        let text = |name| {
            arg.and_then(|a| std::str::from_utf8(a).ok())
                .map(str::trim)
                .ok_or(CommandError::BadArgument(name))
        };
        let command = match verb {
            "USER" => Command::User(owned("USER")?),
            // An empty password is legal (anonymous with some clients).
            "PASS" => Command::Pass(arg.map(<[u8]>::to_vec).unwrap_or_default()),
            "ACCT" => Command::Acct(owned("ACCT")?),
            "CWD" | "XCWD" => Command::Cwd(owned("CWD")?),
            "CDUP" | "XCUP" => Command::Cdup,
            "SMNT" => return Err(CommandError::NotImplemented("SMNT")),
            "QUIT" => Command::Quit,
            "REIN" => Command::Rein,
            "PORT" => {
                let text = text("PORT")?;
                Command::Port(addr::parse_port(text).ok_or(CommandError::BadArgument("PORT"))?)
            }
            "PASV" => Command::Pasv,
            "TYPE" => Command::Type(parse_type(text("TYPE")?)?),
            "STRU" => match text("STRU")?.to_ascii_uppercase().as_str() {
                "F" => Command::Stru(StructureKind::File),
                "R" | "P" => return Err(CommandError::UnsupportedParameter("STRU")),
                _ => return Err(CommandError::BadArgument("STRU")),
            },
            "MODE" => match text("MODE")?.to_ascii_uppercase().as_str() {
                "S" => Command::Mode(TransferMode::Stream),
                "B" | "C" | "Z" => return Err(CommandError::UnsupportedParameter("MODE")),
                _ => return Err(CommandError::BadArgument("MODE")),
            },
            "RETR" => Command::Retr(owned("RETR")?),
            "STOR" => Command::Stor(owned("STOR")?),
            "STOU" => Command::Stou(arg.map(<[u8]>::to_vec)),
            "APPE" => Command::Appe(owned("APPE")?),
            "ALLO" => Command::Allo,
            "REST" => Command::Rest(
                text("REST")?
                    .parse()
                    .map_err(|_| CommandError::BadArgument("REST"))?,
            ),
            "RNFR" => Command::Rnfr(owned("RNFR")?),
            "RNTO" => Command::Rnto(owned("RNTO")?),
            "ABOR" => Command::Abor,
            "DELE" => Command::Dele(owned("DELE")?),
            "RMD" | "XRMD" => Command::Rmd(owned("RMD")?),
            "MKD" | "XMKD" => Command::Mkd(owned("MKD")?),
            "PWD" | "XPWD" => Command::Pwd,
            "LIST" => Command::List(arg.and_then(strip_ls_flags)),
            "NLST" => Command::Nlst(arg.and_then(strip_ls_flags)),
            "SITE" => Command::Site(owned("SITE")?),
            "SYST" => Command::Syst,
            "STAT" => Command::Stat(arg.map(<[u8]>::to_vec)),
            "HELP" => Command::Help(arg.map(<[u8]>::to_vec)),
            "NOOP" => Command::Noop,
            "FEAT" => Command::Feat,
            "OPTS" => Command::Opts(owned("OPTS")?),
            "EPRT" => {
                let text = text("EPRT")?;
                Command::Eprt(addr::parse_eprt(text).ok_or(CommandError::BadArgument("EPRT"))?)
            }
            "EPSV" => Command::Epsv(match arg {
                None => EpsvArg::Any,
                Some(_) => match text("EPSV")?.to_ascii_uppercase().as_str() {
                    "ALL" => EpsvArg::All,
                    "1" => EpsvArg::Protocol(1),
                    "2" => EpsvArg::Protocol(2),
                    _ => return Err(CommandError::UnsupportedParameter("EPSV")),
                },
            }),
            "SIZE" => Command::Size(owned("SIZE")?),
            "MDTM" => Command::Mdtm(owned("MDTM")?),
            "MFMT" => {
                let arg = owned("MFMT")?;
                let space = arg
                    .iter()
                    .position(|&b| b == b' ')
                    .ok_or(CommandError::BadArgument("MFMT"))?;
                let stamp = std::str::from_utf8(&arg[..space])
                    .ok()
                    .and_then(time::parse_timeval)
                    .ok_or(CommandError::BadArgument("MFMT"))?;
                let path = arg[space + 1..].to_vec();
                if path.is_empty() {
                    return Err(CommandError::MissingArgument("MFMT"));
                }
                Command::Mfmt(stamp, path)
            }
            "MLST" => Command::Mlst(arg.map(<[u8]>::to_vec)),
            "MLSD" => Command::Mlsd(arg.map(<[u8]>::to_vec)),
            "AUTH" => Command::Auth(owned("AUTH")?),
            "PBSZ" => Command::Pbsz(
                text("PBSZ")?
                    .parse()
                    .map_err(|_| CommandError::BadArgument("PBSZ"))?,
            ),
            "PROT" => Command::Prot(match text("PROT")?.to_ascii_uppercase().as_str() {
                "C" => ProtLevel::Clear,
                "S" => ProtLevel::Safe,
                "E" => ProtLevel::Confidential,
                "P" => ProtLevel::Private,
                _ => return Err(CommandError::BadArgument("PROT")),
            }),
            "CCC" => Command::Ccc,
            "HASH" => Command::Hash(owned("HASH")?),
            "RANG" => {
                let text = text("RANG")?;
                let mut numbers = text.split_ascii_whitespace().map(str::parse::<u64>);
                match (numbers.next(), numbers.next(), numbers.next()) {
                    (Some(Ok(start)), Some(Ok(end)), None) => Command::Rang(start, end),
                    _ => return Err(CommandError::BadArgument("RANG")),
                }
            }
            "XCRC" => Command::Xdigest(Algorithm::Crc32, owned("XCRC")?),
            "XMD5" => Command::Xdigest(Algorithm::Md5, owned("XMD5")?),
            "XSHA" | "XSHA1" => Command::Xdigest(Algorithm::Sha1, owned("XSHA1")?),
            "XSHA256" => Command::Xdigest(Algorithm::Sha256, owned("XSHA256")?),
            "XSHA512" => Command::Xdigest(Algorithm::Sha512, owned("XSHA512")?),
            other => return Err(CommandError::Unknown(other.to_string())),
        };
        Ok(command)
    }

    /// The command's verb, in upper case, as RFC 959 names it.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Acct(_) => "ACCT",
            Command::Cwd(_) => "CWD",
            Command::Cdup => "CDUP",
            Command::Smnt => "SMNT",
            Command::Quit => "QUIT",
            Command::Rein => "REIN",
            Command::Port(_) => "PORT",
            Command::Pasv => "PASV",
            Command::Type(_) => "TYPE",
            Command::Stru(_) => "STRU",
            Command::Mode(_) => "MODE",
            Command::Retr(_) => "RETR",
            Command::Stor(_) => "STOR",
            Command::Stou(_) => "STOU",
            Command::Appe(_) => "APPE",
            Command::Allo => "ALLO",
            Command::Rest(_) => "REST",
            Command::Rnfr(_) => "RNFR",
            Command::Rnto(_) => "RNTO",
            Command::Abor => "ABOR",
            Command::Dele(_) => "DELE",
            Command::Rmd(_) => "RMD",
            Command::Mkd(_) => "MKD",
            Command::Pwd => "PWD",
            Command::List(_) => "LIST",
            Command::Nlst(_) => "NLST",
            Command::Site(_) => "SITE",
            Command::Syst => "SYST",
            Command::Stat(_) => "STAT",
            Command::Help(_) => "HELP",
            Command::Noop => "NOOP",
            Command::Feat => "FEAT",
            Command::Opts(_) => "OPTS",
            Command::Eprt(_) => "EPRT",
            Command::Epsv(_) => "EPSV",
            Command::Size(_) => "SIZE",
            Command::Mdtm(_) => "MDTM",
            Command::Mfmt(..) => "MFMT",
            Command::Mlst(_) => "MLST",
            Command::Mlsd(_) => "MLSD",
            Command::Auth(_) => "AUTH",
            Command::Pbsz(_) => "PBSZ",
            Command::Prot(_) => "PROT",
            Command::Ccc => "CCC",
            Command::Hash(_) => "HASH",
            Command::Rang(..) => "RANG",
            Command::Xdigest(algorithm, _) => match algorithm {
                Algorithm::Crc32 => "XCRC",
                Algorithm::Md5 => "XMD5",
                Algorithm::Sha1 => "XSHA1",
                Algorithm::Sha256 => "XSHA256",
                Algorithm::Sha512 => "XSHA512",
            },
        }
    }

    /// The command as a line, without its CRLF, as a client sends it: the verb in upper case,
    /// then its argument after one space (`RETR a b.txt`, `TYPE I`, `EPSV`, `PROT P`).
    ///
    /// [`Command::parse`] reads the line back as the same command, except that a LIST or NLST
    /// path starting with `-` reads as `ls` flags. Arguments are written as they are: a caller
    /// that takes names from a user must refuse CR and LF in them first.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = self.verb().as_bytes().to_vec();
        let argument: Option<std::borrow::Cow<'_, [u8]>> = match self {
            Command::User(arg)
            | Command::Pass(arg)
            | Command::Acct(arg)
            | Command::Cwd(arg)
            | Command::Retr(arg)
            | Command::Stor(arg)
            | Command::Appe(arg)
            | Command::Rnfr(arg)
            | Command::Rnto(arg)
            | Command::Dele(arg)
            | Command::Rmd(arg)
            | Command::Mkd(arg)
            | Command::Site(arg)
            | Command::Opts(arg)
            | Command::Size(arg)
            | Command::Mdtm(arg)
            | Command::Auth(arg)
            | Command::Hash(arg)
            | Command::Xdigest(_, arg) => Some(arg.as_slice().into()),
            Command::Rang(start, end) => Some(format!("{start} {end}").into_bytes().into()),
            Command::Stou(arg)
            | Command::List(arg)
            | Command::Nlst(arg)
            | Command::Stat(arg)
            | Command::Help(arg)
            | Command::Mlst(arg)
            | Command::Mlsd(arg) => arg.as_deref().map(Into::into),
            Command::Port(address) => Some(addr::format_port(*address).into_bytes().into()),
            Command::Eprt(address) => Some(addr::format_eprt(*address).into_bytes().into()),
            Command::Type(TransferType::Ascii) => Some(b"A".as_slice().into()),
            Command::Type(TransferType::Image) => Some(b"I".as_slice().into()),
            Command::Stru(StructureKind::File) => Some(b"F".as_slice().into()),
            Command::Mode(TransferMode::Stream) => Some(b"S".as_slice().into()),
            Command::Rest(offset) => Some(offset.to_string().into_bytes().into()),
            Command::Pbsz(size) => Some(size.to_string().into_bytes().into()),
            Command::Epsv(EpsvArg::Any) => None,
            Command::Epsv(EpsvArg::All) => Some(b"ALL".as_slice().into()),
            Command::Epsv(EpsvArg::Protocol(protocol)) => {
                Some(protocol.to_string().into_bytes().into())
            }
            Command::Mfmt(secs, path) => {
                let mut arg = time::format_timeval(*secs).into_bytes();
                arg.push(b' ');
                arg.extend_from_slice(path);
                Some(arg.into())
            }
            Command::Prot(level) => Some(
                match level {
                    ProtLevel::Clear => b"C",
                    ProtLevel::Safe => b"S",
                    ProtLevel::Confidential => b"E",
                    ProtLevel::Private => b"P",
                }
                .as_slice()
                .into(),
            ),
            Command::Cdup
            | Command::Smnt
            | Command::Quit
            | Command::Rein
            | Command::Pasv
            | Command::Allo
            | Command::Abor
            | Command::Pwd
            | Command::Syst
            | Command::Noop
            | Command::Feat
            | Command::Ccc => None,
        };
        if let Some(argument) = argument {
            line.push(b' ');
            line.extend_from_slice(&argument);
        }
        line
    }

    /// The raw line as it may be logged: the password of PASS is masked.
    ///
    /// Lines that only look like PASS are masked too (leading blanks, a tab or other separator
    /// instead of the space): they do not parse, but their argument is still someone's password.
    pub fn for_log(line: &[u8]) -> String {
        let start = line
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(line.len());
        let word = &line[start..];
        if word.len() >= 4
            && word[..4].eq_ignore_ascii_case(b"PASS")
            && !word.get(4).is_some_and(u8::is_ascii_alphanumeric)
        {
            return "PASS ****".to_string();
        }
        String::from_utf8_lossy(line)
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    }
}

/// True for the commands a server answers while a transfer runs (RFC 959 section 4.1.3: ABOR,
/// STAT, and NOOP and QUIT, which cost nothing): judged on the raw line, by its verb in any case,
/// before the line is parsed.
pub fn is_urgent(line: &[u8]) -> bool {
    let verb: Vec<u8> = line.iter().take(5).map(u8::to_ascii_uppercase).collect();
    let verb = verb.split(|&b| b == b' ').next().unwrap_or_default();
    matches!(verb, b"ABOR" | b"STAT" | b"NOOP" | b"QUIT")
}

fn sanitize_verb(verb: &str) -> String {
    verb.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

fn parse_type(text: &str) -> Result<TransferType, CommandError> {
    let upper = text.to_ascii_uppercase();
    let mut words = upper.split_ascii_whitespace();
    let kind = words.next().ok_or(CommandError::MissingArgument("TYPE"))?;
    let param = words.next();
    if words.next().is_some() {
        return Err(CommandError::BadArgument("TYPE"));
    }
    match (kind, param) {
        ("A", None | Some("N")) => Ok(TransferType::Ascii),
        ("I", None) | ("L", Some("8")) => Ok(TransferType::Image),
        ("A" | "E", Some("T" | "C")) | ("E", None | Some("N")) | ("L", Some(_)) => {
            Err(CommandError::UnsupportedParameter("TYPE"))
        }
        _ => Err(CommandError::BadArgument("TYPE")),
    }
}

/// Removes leading `ls` options ("-la", "-a -l") that clients put before a LIST/NLST path.
fn strip_ls_flags(arg: &[u8]) -> Option<Vec<u8>> {
    let mut rest = arg;
    while rest.first() == Some(&b'-') {
        match rest.iter().position(|&b| b == b' ') {
            Some(space) => rest = &rest[space + 1..],
            None => return None,
        }
        while rest.first() == Some(&b' ') {
            rest = &rest[1..];
        }
    }
    if rest.is_empty() {
        None
    } else {
        Some(rest.to_vec())
    }
}

#[cfg(test)]
mod tests;
