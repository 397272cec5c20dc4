#!/usr/bin/env python3
"""Python's ftplib against ferryd, one section of the protocol per run.

Usage: ftplib_suite.py SECTION HOST PORT [local|s3]

Each section prints what it does and raises (exit status 1, with a traceback) on the first
reply or byte that is not what RFC 959 and its extensions say. The Rust test that runs it
prepares the served files first and checks them afterwards (on disk, or in the bucket of an
S3-backed ferryd); the files and bytes both sides agree on are written down in
crates/ferry-interop/tests/ftplib.rs. The last argument names ferryd's storage backend
(default local): where the README documents a different reply on S3, the suite expects that one.
"""

import ftplib
import io
import socket
import sys

TIMEOUT = 10

# The served storage: "local" (a folder) or "s3" (a bucket), from the command line.
BACKEND = "local"


class Client(ftplib.FTP):
    """ftplib.FTP that can open data connections four ways: PASV, EPSV, PORT or EPRT."""

    data_mode = "pasv"

    def makepasv(self):
        if self.data_mode == "epsv":
            host, port = ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())
            return host, port
        return super().makepasv()

    def makeport(self):
        if self.data_mode == "eprt":
            sock = socket.create_server(("127.0.0.1", 0), backlog=1)
            sock.settimeout(TIMEOUT)
            self.sendeprt("127.0.0.1", sock.getsockname()[1])
            return sock
        return super().makeport()

    def use(self, mode):
        """Selects how the next data connections are opened."""
        self.data_mode = mode
        self.set_pasv(mode in ("pasv", "epsv"))


def connect(host, port):
    ftp = Client(timeout=TIMEOUT)
    welcome = ftp.connect(host, port)
    check(welcome.startswith("220"), "greeting is 220", welcome)
    return ftp


def check(condition, what, detail=""):
    if not condition:
        raise AssertionError(f"{what}: {detail!r}")
    print(f"ok: {what}")


def expect_code(code, function, *args):
    """Runs an ftplib call that must fail with reply `code`; returns the reply text."""
    try:
        reply = function(*args)
    except ftplib.all_errors as error:
        text = str(error)
        check(text.startswith(str(code)), f"{getattr(function, '__name__', function)} {args} -> {code}", text)
        return text
    raise AssertionError(f"{args} should fail with {code}, got {reply!r}")


def expect_reply(code, command, ftp):
    reply = ftp.sendcmd(command)
    check(reply.startswith(str(code)), f"{command} -> {code}", reply)
    return reply


def retr(ftp, command, rest=None):
    chunks = []
    ftp.retrbinary(command, chunks.append, rest=rest)
    return b"".join(chunks)


def raw_transfer(ftp, command):
    """Runs a download command in the current TYPE and returns the raw bytes of the data connection."""
    with ftp.transfercmd(command) as conn:
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    ftp.voidresp()
    return b"".join(chunks)


def payload(size, seed):
    """Bytes that differ along the way, so a skipped or repeated block shows."""
    return bytes((i * 31 + seed * 7 + (i >> 8)) % 256 for i in range(size))


# --- sections -------------------------------------------------------------------------------


def section_session(host, port):
    """USER/PASS, not logged in, FEAT SYST NOOP HELP SITE STAT OPTS, reply codes, REIN, QUIT."""
    ftp = connect(host, port)
    expect_code(530, ftp.sendcmd, "PWD")
    expect_code(530, ftp.sendcmd, "CWD /")
    expect_code(530, ftp.nlst)
    expect_code(530, ftp.login, "alice", "wrong password")
    check(ftp.login("alice", "wonderland").startswith("230"), "alice logs in")
    expect_reply(257, "PWD", ftp)
    ftp.storbinary("STOR from-alice.txt", io.BytesIO(b"alice was here\n"))
    check(ftp.size("from-alice.txt") == 15, "SIZE of alice's upload")

    feat = expect_reply(211, "FEAT", ftp)
    features = {line.strip().split(" ")[0].upper() for line in feat.splitlines()[1:-1]}
    for needed in ["EPRT", "EPSV", "MDTM", "MFMT", "MLST", "PASV", "REST", "SIZE", "UTF8"]:
        check(needed in features, f"FEAT lists {needed}", feat)
    check("REST STREAM" in feat, "FEAT lists REST STREAM", feat)
    mlst = next(line for line in feat.splitlines() if line.strip().startswith("MLST"))
    for fact in ["type", "size", "modify", "perm", "unique"]:
        check(fact in mlst.lower(), f"MLST fact {fact} offered", mlst)

    acct = ftp.sendcmd("ACCT billing")
    check(acct[:3] in ("202", "230"), "ACCT after login -> 202 (not needed)", acct)
    expect_reply(215, "SYST", ftp)
    expect_reply(200, "NOOP", ftp)
    help_text = expect_reply(214, "HELP", ftp)
    for command in ["RETR", "STOR", "MLSD", "EPSV", "XMKD"]:
        check(command in help_text, f"HELP mentions {command}", help_text)
    expect_reply(214, "SITE HELP", ftp)
    status = expect_reply(211, "STAT", ftp)
    check("alice" in status, "STAT names the user", status)
    expect_reply(200, "OPTS UTF8 ON", ftp)
    expect_reply(200, "TYPE I", ftp)
    expect_reply(200, "TYPE A", ftp)
    expect_reply(200, "TYPE L 8", ftp)
    expect_reply(200, "MODE S", ftp)
    expect_reply(200, "STRU F", ftp)
    allo = ftp.sendcmd("ALLO 1000")
    check(allo[:3] in ("200", "202"), "ALLO -> 200 or 202", allo)

    # Reply codes of RFC 959 4.2 / 5.4.
    expect_code(500, ftp.sendcmd, "FROBNICATE")
    expect_code(501, ftp.sendcmd, "TYPE Q")
    expect_code(501, ftp.sendcmd, "PORT 1,2,3")
    expect_code(501, ftp.sendcmd, "EPRT |7|nowhere|1|")
    expect_code(501, ftp.sendcmd, "REST minus-one")
    expect_code(501, ftp.sendcmd, "MFMT yesterday from-alice.txt")
    expect_code(504, ftp.sendcmd, "MODE B")
    expect_code(504, ftp.sendcmd, "STRU R")
    expect_code(503, ftp.sendcmd, "RNTO somewhere")
    expect_code(550, ftp.sendcmd, "RETR missing.txt")
    expect_code(550, ftp.size, "missing.txt")
    expect_code(550, ftp.cwd, "no-such-folder")
    expect_code(550, ftp.delete, "missing.txt")
    expect_code(550, ftp.rename, "missing.txt", "other.txt")

    # A command line over the length limit gets 500 and the session goes on.
    expect_code(500, ftp.sendcmd, "NOOP " + "x" * 20_000)
    expect_reply(200, "NOOP", ftp)
    # Names that are not UTF-8 never crash anything.
    ftp.encoding = "latin-1"
    try:
        reply = ftp.sendcmd("MKD caf\xe9")
        print(f"MKD of a non-UTF-8 name -> {reply}")
    except ftplib.all_errors as error:
        check(str(error)[:1] == "5", "MKD of a non-UTF-8 name -> 5xx", str(error))
    ftp.encoding = "utf-8"
    expect_reply(200, "NOOP", ftp)

    # REIN: back to "not logged in", the control connection stays.
    expect_reply(220, "REIN", ftp)
    expect_code(530, ftp.sendcmd, "PWD")
    check(ftp.login().startswith("230"), "anonymous logs in after REIN")
    expect_reply(257, "PWD", ftp)
    check(ftp.quit().startswith("221"), "QUIT -> 221")

    # EPSV ALL: afterwards only EPSV may open data connections (RFC 2428 section 4).
    ftp = connect(host, port)
    ftp.login()
    expect_reply(200, "EPSV ALL", ftp)
    expect_code(503, ftp.sendcmd, "PASV")
    expect_code(503, ftp.sendcmd, "PORT 127,0,0,1,200,10")
    ftp.use("epsv")
    check("alice" in ftp.nlst(), "EPSV still works after EPSV ALL")
    ftp.quit()


def section_navigation(host, port):
    """PWD/CWD/CDUP, MKD/RMD and their X aliases, quotes in 257 replies."""
    ftp = connect(host, port)
    ftp.login()
    check(ftp.pwd() == "/", "PWD at the root")
    check(ftp.mkd("one") == "/one", "MKD one")
    expect_reply(257, "XMKD /one/two", ftp)
    check(ftp.mkd('say "hi"') == '/say "hi"', "MKD with quotes (doubled in the 257 reply)")
    check(ftp.mkd("ünïcödé dir") == "/ünïcödé dir", "MKD with UTF-8 and a space")
    ftp.cwd("one")
    check(ftp.pwd() == "/one", "CWD one")
    expect_reply(250, "XCWD two", ftp)
    reply = expect_reply(257, "XPWD", ftp)
    check(ftplib.parse257(reply) == "/one/two", "XPWD", reply)
    expect_reply(250, "CDUP", ftp)
    check(ftp.pwd() == "/one", "CDUP")
    expect_reply(250, "XCUP", ftp)
    check(ftp.pwd() == "/", "XCUP")
    ftp.cwd("/one/two/../..")
    check(ftp.pwd() == "/", "CWD with ..")
    ftp.cwd("../../..")
    check(ftp.pwd() == "/", "cannot climb above /")
    ftp.cwd('say "hi"')
    check(ftp.pwd() == '/say "hi"', "CWD into a name with quotes")
    ftp.cwd("/")
    expect_code(550, ftp.rmd, "one")  # not empty
    expect_code(550, ftp.cwd, "missing")
    expect_reply(250, "XRMD /one/two", ftp)
    ftp.rmd("one")
    ftp.rmd('say "hi"')
    ftp.mkd("kept/")
    check(sorted(ftp.nlst()) == ["kept", "ünïcödé dir"], "what is left", ftp.nlst())
    ftp.quit()


def section_transfers(host, port):
    """TYPE A and I, STOR RETR STOU APPE, REST, SIZE MDTM MFMT, listings, DELE, RNFR/RNTO, and every
    way of opening a data connection."""
    ftp = connect(host, port)
    ftp.login()
    binary = payload(200_000, 1)

    for mode in ["pasv", "epsv", "port", "eprt"]:
        ftp.use(mode)
        name = f"binary-{mode}.bin"
        ftp.storbinary(f"STOR {name}", io.BytesIO(binary))
        check(retr(ftp, f"RETR {name}") == binary, f"STOR then RETR over {mode.upper()}")
        check(name in ftp.nlst(), f"NLST over {mode.upper()}")
        lines = []
        ftp.retrlines("LIST", lines.append)
        check(any(line.endswith(" " + name) and "200000" in line for line in lines), f"LIST over {mode.upper()}", lines)
    ftp.use("pasv")

    # TYPE A: CRLF on the wire, LF on disk (the Rust side wrote ascii-lf.txt as "one\ntwo\nthree\n").
    ftp.voidcmd("TYPE A")
    check(raw_transfer(ftp, "RETR ascii-lf.txt") == b"one\r\ntwo\r\nthree\r\n", "TYPE A download has CRLF")
    ftp.storlines("STOR ascii-up.txt", io.BytesIO(b"alpha\nbeta\ngamma\n"))  # sent as CRLF
    ftp.voidcmd("TYPE I")
    check(retr(ftp, "RETR ascii-up.txt") == b"alpha\nbeta\ngamma\n", "TYPE A upload is stored with LF")
    check(retr(ftp, "RETR ascii-lf.txt") == b"one\ntwo\nthree\n", "TYPE I download is untouched")
    listing = raw_transfer(ftp, "LIST")
    check(listing.endswith(b"\r\n") and b"\n" not in listing.replace(b"\r\n", b""), "LIST lines end with CRLF", listing)

    # SIZE, MDTM, MFMT.
    check(ftp.size("binary-pasv.bin") == 200_000, "SIZE")
    modified = expect_reply(213, "MDTM binary-pasv.bin", ftp)
    check(len(modified.split()[1]) >= 14, "MDTM gives YYYYMMDDHHMMSS", modified)
    if BACKEND == "s3":
        # README "Storage on S3": MFMT answers 554, an object's time is when it was written.
        expect_code(554, ftp.sendcmd, "MFMT 20200102030405 binary-pasv.bin")
        check(ftp.sendcmd("MDTM binary-pasv.bin") == modified, "MDTM unchanged after MFMT on S3")
    else:
        reply = expect_reply(213, "MFMT 20200102030405 binary-pasv.bin", ftp)
        check("20200102030405" in reply, "MFMT echoes the time", reply)
        check(ftp.sendcmd("MDTM binary-pasv.bin") == "213 20200102030405", "MDTM after MFMT")

    # APPE twice: the bytes follow each other.
    ftp.storbinary("APPE appended.bin", io.BytesIO(b"first part,"))
    ftp.storbinary("APPE appended.bin", io.BytesIO(b" second part"))
    check(retr(ftp, "RETR appended.bin") == b"first part, second part", "APPE appends")

    # REST + RETR: the tail from the offset.
    check(retr(ftp, "RETR binary-pasv.bin", rest=123_456) == binary[123_456:], "REST + RETR")
    # REST + STOR: an interrupted upload completed from where it stopped.
    ftp.storbinary("STOR resumed.bin", io.BytesIO(binary[:50_000]))
    ftp.storbinary("STOR resumed.bin", io.BytesIO(binary[50_000:]), rest=50_000)
    check(retr(ftp, "RETR resumed.bin") == binary, "REST + STOR completes the file")

    # STOU: a new file with a name the server picks.
    before = set(ftp.nlst())
    with ftp.transfercmd("STOU") as conn:
        conn.sendall(b"unique bytes\n")
    ftp.voidresp()
    created = set(ftp.nlst()) - before
    check(len(created) == 1, "STOU made one new file", created)
    (unique,) = created
    check(retr(ftp, f"RETR {unique}") == b"unique bytes\n", "STOU bytes")
    ftp.rename(unique, "stou.txt")

    # Listings: LIST with ls flags, MLSD, MLST, STAT of a file.
    ftp.mkd("sub dir")
    ftp.storbinary("STOR sub dir/ünï.txt", io.BytesIO(b"x" * 7))
    for command in ["LIST -la", "LIST -la sub dir", "LIST -l /sub dir", "LIST sub dir"]:
        lines = []
        ftp.retrlines(command, lines.append)
        check(any(line.endswith(" ünï.txt") for line in lines) == ("sub" in command), command, lines)
    check(ftp.nlst("sub dir") in (["ünï.txt"], ["sub dir/ünï.txt"]), "NLST of a folder", ftp.nlst("sub dir"))
    facts = dict(ftp.mlsd("sub dir", facts=["type", "size", "modify", "perm", "unique"]))
    check(set(facts) - {".", ".."} == {"ünï.txt"}, "MLSD names", facts)
    entry = facts["ünï.txt"]
    check(entry.get("type") == "file" and entry.get("size") == "7", "MLSD type and size", entry)
    check(len(entry.get("modify", "")) >= 14 and "r" in entry.get("perm", "") and entry.get("unique"), "MLSD modify perm unique", entry)
    folders = {name: f for name, f in ftp.mlsd("/", facts=["type"]) if f.get("type") == "dir"}
    check("sub dir" in folders, "MLSD shows the folder as type=dir", folders)
    reply = expect_reply(250, "MLST sub dir/ünï.txt", ftp)
    check("type=file;" in reply.lower() and "size=7;" in reply.lower(), "MLST facts", reply)
    check(reply.splitlines()[1].startswith(" "), "MLST fact line starts with a space", reply)
    status = ftp.sendcmd("STAT sub dir")
    check(status[:3] in ("211", "212", "213") and "ünï.txt" in status, "STAT of a folder", status)

    # DELE, RNFR/RNTO.
    expect_reply(350, "RNFR stou.txt", ftp)
    expect_reply(250, "RNTO sub dir/moved.txt", ftp)
    ftp.delete("appended.bin")
    expect_code(550, ftp.delete, "appended.bin")
    ftp.delete("binary-epsv.bin")
    ftp.quit()


def section_rfc_details(host, port):
    """Reply details clients rely on less often: SIZE counts what TYPE A would send (RFC 3659
    section 4), STAT of a file is 213 and of a folder 212 (RFC 959 section 4.2)."""
    ftp = connect(host, port)
    ftp.login()
    # ascii-lf.txt is "one\ntwo\nthree\n" on disk: 14 bytes, 17 in TYPE A.
    check(ftp.size("ascii-lf.txt") == 14, "SIZE in TYPE I")
    ftp.voidcmd("TYPE A")
    sent = len(raw_transfer(ftp, "RETR ascii-lf.txt"))
    try:
        reply = ftp.sendcmd("SIZE ascii-lf.txt")
        check(reply == f"213 {sent}", "SIZE in TYPE A is what RETR sends (or 550)", reply)
    except ftplib.error_perm as error:
        check(str(error).startswith("550"), "SIZE in TYPE A refused with 550", str(error))
    ftp.voidcmd("TYPE I")
    ftp.mkd("folder")
    check(ftp.sendcmd("STAT folder").startswith("212"), "STAT of a folder -> 212")
    status = ftp.sendcmd("STAT ascii-lf.txt")
    check(status.startswith("213") and "ascii-lf.txt" in status, "STAT of a file -> 213", status)
    ftp.quit()


def section_abort(host, port):
    """ABOR while a large download is running: 426 then 226, and the session goes on."""
    ftp = connect(host, port)
    ftp.login()
    idle = ftp.sendcmd("ABOR")
    check(idle[:3] in ("225", "226"), "ABOR with no transfer -> 225/226", idle)

    # A plain ABOR line, as most clients send it.
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR big.bin")
    check(len(conn.recv(65536)) > 0, "the download started")
    # STAT and NOOP are answered while the transfer runs.
    status = expect_reply(211, "STAT", ftp)
    check("big.bin" in status, "STAT during RETR names the transfer", status)
    expect_reply(200, "NOOP", ftp)
    ftp.putcmd("ABOR")
    reply = ftp.getmultiline()  # getresp() would raise on the expected 4xx
    check(reply.startswith("426"), "plain ABOR during RETR -> 426 first", reply)
    final = ftp.getresp()
    check(final.startswith("226"), "then 226", final)
    conn.close()
    check(ftp.size("big.bin") > 0, "SIZE after ABOR")

    # ftplib.abort(), which sends the line as urgent data.
    conn = ftp.transfercmd("RETR big.bin")
    first = conn.recv(65536)
    check(len(first) > 0, "the download started")
    # ftplib sends "ABOR\r\n" as urgent data (MSG_OOB); the server must still read it.
    reply = ftp.abort()
    check(reply.startswith("426"), "ABOR during RETR -> 426 first", reply)
    final = ftp.getresp()
    check(final.startswith("226"), "then 226", final)
    conn.close()
    expect_reply(200, "NOOP", ftp)
    check(retr(ftp, "RETR small.txt") == b"small file\n", "a download after ABOR works")

    check(ftp.size("big.bin") > 0, "SIZE after the second ABOR")
    ftp.quit()


def section_ipv6(host, port):
    """Over IPv6 ftplib opens data connections with EPSV and EPRT on its own."""
    ftp = connect(host, port)
    ftp.login()
    data = payload(100_000, 6)
    for passive in (True, False):
        ftp.set_pasv(passive)
        name = "v6-passive.bin" if passive else "v6-active.bin"
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))
        check(retr(ftp, f"RETR {name}") == data, f"STOR and RETR over IPv6, passive={passive}")
        check(name in ftp.nlst(), f"NLST over IPv6, passive={passive}")
    ftp.quit()


SECTIONS = {
    "session": section_session,
    "navigation": section_navigation,
    "transfers": section_transfers,
    "rfc_details": section_rfc_details,
    "abort": section_abort,
    "ipv6": section_ipv6,
}

if __name__ == "__main__":
    if len(sys.argv) not in (4, 5) or sys.argv[1] not in SECTIONS or sys.argv[4:] not in ([], ["local"], ["s3"]):
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(SECTIONS)} HOST PORT [local|s3]")
    BACKEND = sys.argv[4] if len(sys.argv) == 5 else "local"
    SECTIONS[sys.argv[1]](sys.argv[2], int(sys.argv[3]))
    print(f"section {sys.argv[1]}: all checks passed")
